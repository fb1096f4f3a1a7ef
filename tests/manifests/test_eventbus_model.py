"""EventBus manifests: each bus kind loads, exactly one is chosen, mistakes name their path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bus.spec import BUS_KEYS, EventBusSpec, deprecations, parse_stream_config
from herald.loader import load_paths

EXAMPLES = Path(__file__).parents[2].parent / "shared" / "testdata" / "argo-events" / "examples"

SECRET: dict[str, Any] = {"name": "bus-secret", "key": "value"}


def _errors(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every error of validating ``data`` as a spec: manifest path -> (type, message)."""
    with pytest.raises(ValidationError) as info:
        EventBusSpec.model_validate(data)
    return {
        ".".join(str(p) for p in ("spec", *err["loc"])): (err["type"], err["msg"])
        for err in info.value.errors()
    }


def test_argo_native_example_loads_with_a_deprecation_warning() -> None:
    path = EXAMPLES / "eventbus" / "native.yaml"
    if not path.is_file():
        pytest.skip(f"Argo Events examples not found at {EXAMPLES} (shared testdata absent)")
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "EventBus"
    spec = EventBusSpec.model_validate(doc["spec"])
    assert spec.backend == "nats"
    assert spec.nats is not None
    assert spec.nats.native is not None
    assert spec.nats.native.auth == "token"
    ((where, message),) = deprecations(spec)
    assert where == "spec.nats"
    assert "deprecated" in message
    assert "jetstream" in message


VALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "jetstream with pod fields",
        {
            "jetstream": {
                "version": "2.10.10",
                "replicas": 3,
                "containerTemplate": {
                    "resources": {"requests": {"cpu": "10m"}},
                    "imagePullPolicy": "IfNotPresent",
                },
                "reloaderContainerTemplate": {"securityContext": {"runAsNonRoot": True}},
                "metricsContainerTemplate": {"resources": {}},
                "persistence": {
                    "storageClassName": "standard",
                    "accessMode": "ReadWriteOnce",
                    "volumeSize": "10Gi",
                },
                "metadata": {"labels": {"a": "b"}, "annotations": {"c": "d"}},
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                "securityContext": {"fsGroup": 1000},
                "imagePullSecrets": [{"name": "regcred"}],
                "priorityClassName": "high",
                "priority": 100,
                "affinity": {"podAntiAffinity": {}},
                "serviceAccountName": "bus",
                "settings": "max_file_store: 1GB\n",
                "startArgs": ["-D"],
                "streamConfig": "maxMsgs: 50000\nmaxAge: 168h\nmaxBytes: -1\nreplicas: 3\n"
                "duplicates: 300s\nretention: 0\ndiscard: 0\n",
                "maxPayload": "1MB",
            }
        },
        "jetstream",
    ),
    ("jetstream single replica", {"jetstream": {"version": "latest", "replicas": 1}}, "jetstream"),
    (
        "jetstream exotic",
        {
            "jetstreamExotic": {
                "url": "nats://nats:4222",
                "accessSecret": SECRET,
                "streamConfig": "duplicates: 10m",
                "tls": {"caCertSecret": SECRET},
            }
        },
        "jetstreamExotic",
    ),
    (
        "kafka",
        {
            "kafka": {
                "url": "kafka-0:9092,kafka-1:9092",
                "topic": "events",
                "version": "3.6.0",
                "tls": {"enabled": True},
                "sasl": {"mechanism": "PLAIN", "userSecret": SECRET, "passwordSecret": SECRET},
                "consumerGroup": {"oldest": True, "rebalanceStrategy": "roundrobin"},
                "partitioner": "hash",
            }
        },
        "kafka",
    ),
    ("embedded memory", {"embedded": {"url": "memory://"}}, "embedded"),
    (
        "embedded sqlite with a window",
        {"embedded": {"url": "sqlite:///.herald/bus.db", "duplicates": "10m"}},
        "embedded",
    ),
    (
        "nats exotic",
        {
            "nats": {
                "exotic": {
                    "url": "nats://stan:4222",
                    "clusterID": "stan",
                    "auth": "token",
                    "accessSecret": SECRET,
                }
            }
        },
        "nats",
    ),
    (
        "nats native with limits",
        {
            "nats": {
                "native": {
                    "replicas": 3,
                    "auth": "basic",
                    "persistence": {"volumeSize": 10737418240},
                    "maxAge": "72h",
                    "maxMsgs": 1000000,
                    "maxBytes": "1GB",
                    "maxSubs": 1000,
                    "maxPayload": "1MB",
                    "raftHeartbeatTimeout": "2s",
                    "raftCommitTimeout": "100ms",
                }
            }
        },
        "nats",
    ),
]


@pytest.mark.parametrize(("case", "data", "backend"), VALID, ids=[v[0] for v in VALID])
def test_each_bus_kind_loads_and_round_trips(case: str, data: dict[str, Any], backend: str) -> None:
    spec = EventBusSpec.model_validate(data)
    assert spec.backend == backend, case
    assert EventBusSpec.model_validate(spec.model_dump(exclude_none=True)) == spec
    assert (deprecations(spec) != []) == (backend == "nats")


DEDUP: list[tuple[str, dict[str, Any], float]] = [
    ("embedded default", {"embedded": {"url": "memory://"}}, 3600.0),
    ("embedded set", {"embedded": {"url": "memory://", "duplicates": "1m30s"}}, 90.0),
    ("jetstream default", {"jetstream": {"version": "2.10.10"}}, 3600.0),
    (
        "jetstream streamConfig",
        {"jetstream": {"version": "2.10.10", "streamConfig": "duplicates: 300s"}},
        300.0,
    ),
    (
        "jetstream exotic in nanoseconds",
        {"jetstreamExotic": {"url": "nats://n:4222", "streamConfig": "duplicates: 5000000000"}},
        5.0,
    ),
    ("kafka", {"kafka": {"url": "k:9092"}}, 3600.0),
]


@pytest.mark.parametrize(("case", "data", "seconds"), DEDUP, ids=[d[0] for d in DEDUP])
def test_dedup_window_in_seconds(case: str, data: dict[str, Any], seconds: float) -> None:
    assert EventBusSpec.model_validate(data).dedup_window_seconds() == seconds, case


def test_embedded_bus_exposes_its_window() -> None:
    spec = EventBusSpec.model_validate({"embedded": {"url": "sqlite:///tmp/x.db"}})
    assert spec.embedded is not None
    assert spec.embedded.duplicates == "1h"
    assert spec.embedded.duplicates_seconds == 3600.0


def test_stream_config_parses_into_its_settings() -> None:
    settings = parse_stream_config("maxAge: 72h\nretention: 1\n")
    assert settings.max_age == "72h"
    assert settings.retention == 1
    assert parse_stream_config(None).duplicates is None


# (case, spec, expected error path, expected error type, a fragment of the message)
MISTAKES: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("no bus", {}, "spec", "one_of", "choose a bus"),
    (
        "two buses",
        {"jetstream": {"version": "2.10.10"}, "embedded": {"url": "memory://"}},
        "spec.embedded",
        "one_of",
        "jetstream and embedded",
    ),
    (
        "misspelt bus",
        {"jetStream": {"version": "2.10.10"}},
        "spec.jetStream",
        "extra_forbidden",
        "Extra inputs",
    ),
    (
        "misspelt field",
        {"kafka": {"url": "k:9092", "topics": "t"}},
        "spec.kafka.topics",
        "extra_forbidden",
        "Extra inputs",
    ),
    (
        "jetstream without version",
        {"jetstream": {"replicas": 3}},
        "spec.jetstream.version",
        "missing",
        "Field required",
    ),
    (
        "jetstream with two replicas",
        {"jetstream": {"version": "2.10.10", "replicas": 2}},
        "spec.jetstream.replicas",
        "invalid_replicas",
        "1 replica or 3",
    ),
    (
        "jetstream replicas not a number",
        {"jetstream": {"version": "2.10.10", "replicas": "three"}},
        "spec.jetstream.replicas",
        "int_parsing",
        "integer",
    ),
    (
        "streamConfig not YAML",
        {"jetstream": {"version": "v", "streamConfig": "maxAge: [72h"}},
        "spec.jetstream.streamConfig",
        "invalid_yaml",
        "not valid YAML",
    ),
    (
        "streamConfig unknown key",
        {"jetstream": {"version": "v", "streamConfig": "maxage: 72h"}},
        "spec.jetstream.streamConfig.maxage",
        "extra_forbidden",
        "Extra inputs",
    ),
    (
        "streamConfig bad duration",
        {"jetstreamExotic": {"url": "nats://n:4222", "streamConfig": "duplicates: soon"}},
        "spec.jetstreamExotic.streamConfig.duplicates",
        "invalid_duration",
        "not a duration",
    ),
    (
        "streamConfig retention out of range",
        {"jetstream": {"version": "v", "streamConfig": "retention: 3"}},
        "spec.jetstream.streamConfig.retention",
        "literal_error",
        "0, 1 or 2",
    ),
    (
        "persistence volume size",
        {"jetstream": {"version": "v", "persistence": {"volumeSize": "ten gigs"}}},
        "spec.jetstream.persistence.volumeSize",
        "invalid_quantity",
        "Kubernetes quantity",
    ),
    (
        "access mode",
        {"jetstream": {"version": "v", "persistence": {"accessMode": "RWO"}}},
        "spec.jetstream.persistence.accessMode",
        "literal_error",
        "ReadWriteOnce",
    ),
    (
        "image pull policy",
        {"jetstream": {"version": "v", "containerTemplate": {"imagePullPolicy": "always"}}},
        "spec.jetstream.containerTemplate.imagePullPolicy",
        "literal_error",
        "'Always'",
    ),
    (
        "exotic without url",
        {"jetstreamExotic": {"streamConfig": "duplicates: 1m"}},
        "spec.jetstreamExotic.url",
        "missing",
        "Field required",
    ),
    (
        "kafka without url",
        {"kafka": {"topic": "t"}},
        "spec.kafka.url",
        "missing",
        "Field required",
    ),
    (
        "kafka broker without port",
        {"kafka": {"url": "kafka"}},
        "spec.kafka.url",
        "invalid_url",
        "host:port",
    ),
    (
        "kafka partitioner",
        {"kafka": {"url": "k:9092", "partitioner": "sticky"}},
        "spec.kafka.partitioner",
        "literal_error",
        "'random'",
    ),
    (
        "embedded without url",
        {"embedded": {"duplicates": "1h"}},
        "spec.embedded.url",
        "missing",
        "Field required",
    ),
    (
        "embedded url scheme",
        {"embedded": {"url": "nats://n:4222"}},
        "spec.embedded.url",
        "invalid_url",
        "memory:// or sqlite:///",
    ),
    (
        "embedded sqlite without path",
        {"embedded": {"url": "sqlite:///"}},
        "spec.embedded.url",
        "invalid_url",
        "sqlite:///path",
    ),
    (
        "embedded duplicates not a duration",
        {"embedded": {"url": "memory://", "duplicates": "3600"}},
        "spec.embedded.duplicates",
        "invalid_duration",
        "not a duration",
    ),
    (
        "embedded zero window",
        {"embedded": {"url": "memory://", "duplicates": "0s"}},
        "spec.embedded.duplicates",
        "invalid_duration",
        "longer than zero",
    ),
    (
        "nats native and exotic",
        {"nats": {"native": {}, "exotic": {"url": "nats://s:4222", "clusterID": "c"}}},
        "spec.nats",
        "one_of",
        "native or exotic",
    ),
    (
        "nats exotic without cluster id",
        {"nats": {"exotic": {"url": "nats://s:4222"}}},
        "spec.nats.exotic.clusterID",
        "missing",
        "Field required",
    ),
    (
        "nats native auth",
        {"nats": {"native": {"auth": "password"}}},
        "spec.nats.native.auth",
        "literal_error",
        "'token'",
    ),
]


@pytest.mark.parametrize(
    ("case", "data", "path", "kind", "fragment"), MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_each_mistake_is_reported_at_its_path(
    case: str, data: dict[str, Any], path: str, kind: str, fragment: str
) -> None:
    errors = _errors(data)
    assert path in errors, f"{case}: expected an error at {path}, got {errors}"
    assert errors[path][0] == kind, f"{case}: {errors[path]}"
    assert fragment in errors[path][1], f"{case}: {errors[path][1]!r}"


def test_bus_keys_are_the_spec_fields() -> None:
    fields = {info.alias or name for name, info in EventBusSpec.model_fields.items()}
    assert set(BUS_KEYS) == fields
    assert {"nats", "jetstream", "jetstreamExotic", "kafka"} < fields


def test_schema_generates_with_a_description_on_every_own_field() -> None:
    schema = EventBusSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    missing = [
        f"{name}.{prop}"
        for name, definition in schema["$defs"].items()
        if name not in {"SASLConfig", "BasicAuth"}
        for prop, value in definition.get("properties", {}).items()
        if "description" not in value
    ]
    missing += [p for p, v in schema["properties"].items() if "description" not in v]
    assert missing == []


def test_a_misspelt_key_anywhere_in_a_manifest_is_answered_with_the_key_it_meant(
    tmp_path: Path,
) -> None:
    (tmp_path / "bus.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\n"
        "kind: EventBus\n"
        "metdata: {name: default}\n"
        "spec:\n"
        "  jetstream: {version: latest, replica: 3, Persistence: {}}\n"
        "  nat: {native: {}}\n"
        "  zzz: 1\n"
    )
    problems = {p.path: p.message for p in load_paths([tmp_path]).problems}
    assert problems["metdata"] == "unknown field: did you mean 'metadata'?"
    assert problems["spec.jetstream.replica"] == "unknown field: did you mean 'replicas'?"
    assert problems["spec.jetstream.Persistence"] == "unknown field: did you mean 'persistence'?"
    assert problems["spec.nat"] == "unknown field: did you mean 'nats'?"
    assert problems["spec.zzz"].startswith("unknown field (not part of the schema")
