"""EventSource manifests: Argo's seed-type examples load, and every mistake names its path."""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from eventsources.calendar import CalendarEventSource
from eventsources.github import GithubEventSource
from eventsources.kafka import KafkaEventSource
from eventsources.mqtt import MQTTEventSource
from eventsources.nats import NATSEventsSource
from eventsources.spec import (
    CONFIG_MODELS,
    EVENT_SOURCE_TYPES,
    MODELLED_TYPES,
    EventSourceSpec,
    deprecations,
    event_names,
)
from eventsources.webhook import WebhookEventSource

EXAMPLES = Path(__file__).parents[2].parent / "shared" / "testdata" / "argo-events" / "examples"
SEED_EXAMPLES = ("webhook", "github", "kafka", "nats", "mqtt", "calendar")

SECRET: dict[str, Any] = {"name": "my-secret", "key": "value"}
WEBHOOK: dict[str, Any] = {"port": "12000", "endpoint": "/example", "method": "POST"}
GITHUB: dict[str, Any] = {
    "repositories": [{"owner": "argoproj", "names": ["argo-events"]}],
    "webhook": {"port": "13000", "endpoint": "/push", "method": "POST"},
    "events": ["*"],
}
KAFKA: dict[str, Any] = {"url": "kafka:9092", "topic": "t", "partition": "0"}
NATS: dict[str, Any] = {"url": "nats://nats:4222", "subject": "foo"}
MQTT: dict[str, Any] = {"url": "tcp://mosquitto:1883", "topic": "bar", "clientId": "c1"}
CALENDAR: dict[str, Any] = {"interval": "10s"}


def _spec(data: dict[str, Any]) -> EventSourceSpec:
    return EventSourceSpec.model_validate(data)


def _errors(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every error of validating ``data`` as a spec: manifest path -> (type, message)."""
    with pytest.raises(ValidationError) as info:
        _spec(data)
    return {
        ".".join(str(p) for p in ("spec", *err["loc"])): (err["type"], err["msg"])
        for err in info.value.errors()
    }


def _load_example(name: str) -> dict[str, Any]:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo Events examples not found at {EXAMPLES} (shared testdata absent)")
    doc = yaml.safe_load((EXAMPLES / "event-sources" / f"{name}.yaml").read_text())
    assert doc["kind"] == "EventSource"
    spec: dict[str, Any] = doc["spec"]
    return spec


# --------------------------------------------------------------------------- valid manifests

VALID: list[tuple[str, dict[str, Any]]] = [
    ("webhook minimal", {"webhook": {"example": WEBHOOK}}),
    (
        "webhook with everything",
        {
            "eventBusName": "main",
            "replicas": 2,
            "template": {"serviceAccountName": "sa", "container": {"env": []}},
            "service": {"ports": [{"port": 12000, "targetPort": 12000}]},
            "webhook": {
                "example": {
                    **WEBHOOK,
                    "port": 12000,
                    "url": "https://hooks.example.com",
                    "serverCertSecret": SECRET,
                    "serverKeySecret": SECRET,
                    "authSecret": SECRET,
                    "maxPayloadSize": 2048,
                    "metadata": {"team": "a"},
                    "filter": {"expression": "body.a == 1"},
                }
            },
        },
    ),
    ("webhook GET", {"webhook": {"q": {**WEBHOOK, "method": "GET"}}}),
    (
        "github organizations with app and enterprise URLs",
        {
            "github": {
                "org": {
                    "organizations": ["argoproj"],
                    "webhook": {
                        "port": "12000",
                        "endpoint": "/org",
                        "url": "https://events.example.com",
                    },
                    "events": ["push", "pull_request"],
                    "githubApp": {"privateKey": SECRET, "appID": 1, "installationID": 2},
                    "webhookSecret": SECRET,
                    "insecure": False,
                    "active": True,
                    "contentType": "form",
                    "githubBaseURL": "https://ghe.example.com/api/v3/",
                    "githubUploadURL": "https://ghe.example.com/api/uploads/",
                    "deleteHookOnFinish": True,
                    "metadata": {"k": "v"},
                    "filter": {"expression": "body.ref == 'refs/heads/main'"},
                }
            }
        },
    ),
    ("github repositories with token", {"github": {"repo": {**GITHUB, "apiToken": SECRET}}}),
    (
        "kafka consumer group, TLS, SASL, registry, MSK",
        {
            "kafka": {
                "cg": {
                    "url": "b-1.kafka:9098,b-2.kafka:9098",
                    "topic": "orders",
                    "consumerGroup": {
                        "groupName": "g",
                        "oldest": True,
                        "rebalanceStrategy": "sticky",
                    },
                    "connectionBackoff": {
                        "duration": "10s",
                        "steps": 5,
                        "factor": 2,
                        "jitter": 0.2,
                    },
                    "tls": {"caCertSecret": SECRET},
                    "sasl": {
                        "mechanism": "SCRAM-SHA-512",
                        "userSecret": SECRET,
                        "passwordSecret": SECRET,
                    },
                    "jsonBody": True,
                    "limitEventsPerSecond": 10,
                    "version": "2.5.0",
                    "config": "consumer:\n  fetch:\n    min: 1\n",
                    "schemaRegistry": {
                        "url": "http://registry:8081",
                        "schemaId": 3,
                        "auth": {"username": SECRET, "password": SECRET},
                    },
                    "metadata": {"k": "v"},
                    "filter": {"expression": "body.x > 1"},
                },
                "msk": {
                    "url": "b-1.msk:9098",
                    "topic": "t",
                    "consumerGroup": {"groupName": "g"},
                    "awsMskIamAuth": {"region": "us-east-1"},
                },
                "partition-number": {**KAFKA, "partition": 3},
            }
        },
    ),
    (
        "nats with auth variants, queue and the jetStream extension",
        {
            "nats": {
                "basic": {
                    **NATS,
                    "auth": {"basic": {"username": SECRET, "password": SECRET}},
                    "queue": "workers",
                    "tls": {"enabled": True},
                },
                "token": {**NATS, "auth": {"token": SECRET}},
                "nkey": {**NATS, "auth": {"nkey": SECRET}},
                "creds": {**NATS, "auth": {"credential": SECRET}, "jsonBody": True},
                "js": {
                    **NATS,
                    "jetStream": {
                        "stream": "ORDERS",
                        "durable": "herald-orders",
                        "deliverPolicy": "all",
                        "ackWait": "1m",
                    },
                },
            }
        },
    ),
    (
        "mqtt with auth, TLS and the QoS extensions",
        {
            "mqtt": {
                "m": {
                    **MQTT,
                    "auth": {"username": SECRET, "password": SECRET},
                    "tls": {"caCertSecret": SECRET},
                    "jsonBody": True,
                    "qos": 1,
                    "cleanSession": False,
                    "metadata": {"a": "b"},
                }
            }
        },
    ),
    (
        "calendar schedules",
        {
            "calendar": {
                "cron": {
                    "schedule": "30 * * * *",
                    "timezone": "America/New_York",
                    "exclusionDates": ["EXDATE:20190102T150405Z,20190103T150405Z"],
                    "persistence": {
                        "catchup": {"enabled": True, "maxDuration": "5m"},
                        "configMap": {"name": "test-configmap", "createIfNotExist": True},
                    },
                },
                "ranges": {"schedule": "*/5 9-17 1,15 JAN-jun mon-FRI"},
                "tz-prefix": {"schedule": "CRON_TZ=Europe/Paris 0 8 * * 1"},
                "question": {"schedule": "0 0 ? * 0"},
            }
        },
    ),
    (
        "one EventSource mixing every seed type",
        {
            "webhook": {"a": WEBHOOK},
            "github": {"b": GITHUB},
            "kafka": {"c": KAFKA},
            "nats": {"d": NATS},
            "mqtt": {"e": MQTT},
            "calendar": {"f": CALENDAR},
        },
    ),
    (
        "same endpoint on different ports",
        {"webhook": {"a": WEBHOOK, "b": {**WEBHOOK, "port": "12001"}}},
    ),
]


@pytest.mark.parametrize(("case", "data"), VALID, ids=[c for c, _ in VALID])
def test_valid_specs_load_and_round_trip(case: str, data: dict[str, Any]) -> None:
    spec = _spec(data)
    assert list(spec.events())
    again = _spec(spec.model_dump(exclude_none=True))
    assert again == spec, case


@pytest.mark.parametrize("name", SEED_EXAMPLES)
def test_argo_seed_examples_load(name: str) -> None:
    spec = _spec(_load_example(name))
    assert {type_key for type_key, _, _ in spec.events()} == {name}


def test_argo_github_example_warns_about_its_deprecated_fields() -> None:
    spec = _spec(_load_example("github"))
    paths = [path for path, _ in deprecations(spec)]
    assert paths == ["spec.github.example-without-api-credentials.owner"]
    legacy = spec.github["example-without-api-credentials"] if spec.github else None
    assert legacy is not None
    assert [(r.owner, r.names) for r in legacy.owned_repositories] == [("argoproj", ["argo"])]


# The other Argo types' examples: tests/manifests/test_argo_compat.py.


def test_legacy_spec_type_from_the_tutorials_is_an_unknown_field() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo Events examples not found at {EXAMPLES} (shared testdata absent)")
    path = EXAMPLES / "tutorials" / "06-trigger-conditions" / "webhook-event-source.yaml"
    errors = _errors(yaml.safe_load(path.read_text())["spec"])
    assert list(errors) == ["spec.type"]
    kind, message = errors["spec.type"]
    assert kind == "extra_forbidden"
    assert "remove it" in message


def test_port_is_kept_as_a_canonical_string() -> None:
    spec = _spec({"webhook": {"a": {**WEBHOOK, "port": 8080}, "b": {**WEBHOOK, "port": "08081"}}})
    assert spec.webhook is not None
    assert [w.port for w in spec.webhook.values()] == ["8080", "8081"]
    assert spec.webhook["a"].port_number == 8080


def test_max_payload_size_defaults_to_one_mebibyte() -> None:
    spec = _spec({"webhook": {"a": WEBHOOK, "b": {**WEBHOOK, "port": 1, "maxPayloadSize": 10}}})
    assert spec.webhook is not None
    assert spec.webhook["a"].max_payload_size is None
    assert spec.webhook["a"].max_payload_size_bytes == 1048576
    assert spec.webhook["b"].max_payload_size_bytes == 10


def test_defaults_and_derived_values() -> None:
    spec = _spec(
        {
            "nats": {"js": {**NATS, "jetStream": {}}, "core": NATS},
            "mqtt": {"m": MQTT},
            "calendar": {"c": {"interval": "1m30s"}},
        }
    )
    assert spec.event_bus_name == "default"
    assert spec.nats is not None
    assert spec.mqtt is not None
    assert spec.calendar is not None
    js = spec.nats["js"].jet_stream
    assert js is not None
    assert js.ack_wait_seconds == 30
    assert spec.nats["core"].jet_stream is None
    assert spec.mqtt["m"].qos == 0
    assert spec.calendar["c"].interval_seconds == 90


def test_github_reports_whether_it_registers_hooks() -> None:
    spec = _spec(
        {
            "github": {
                "no-creds": {**GITHUB, "webhook": {**GITHUB["webhook"], "url": "https://x.io"}},
                "no-url": {**GITHUB, "apiToken": SECRET, "webhook": {"port": 1, "endpoint": "/"}},
                "both": {
                    **GITHUB,
                    "apiToken": SECRET,
                    "webhook": {"port": 2, "endpoint": "/", "url": "https://x.io"},
                },
            }
        }
    )
    assert spec.github is not None
    assert {name: g.creates_hooks for name, g in spec.github.items()} == {
        "no-creds": False,
        "no-url": False,
        "both": True,
    }


# --------------------------------------------------------------------------- mistakes


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# (case, spec, expected error path, expected error type, a fragment of the message)
MISTAKES: list[tuple[str, dict[str, Any], str, str, str]] = [
    # misspelt fields: pydantic's extra_forbidden, with a hint when one is close
    (
        "misspelt webhook field",
        {"webhook": {"a": _with(WEBHOOK, methd="POST", method=None)}},
        "spec.webhook.a.methd",
        "extra_forbidden",
        "did you mean 'method'?",
    ),
    (
        "misspelt source type",
        {"githb": {"a": GITHUB}},
        "spec.githb",
        "extra_forbidden",
        "did you mean 'github'?",
    ),
    (
        "misspelt common field",
        {"eventbusName": "x", "webhook": {"a": WEBHOOK}},
        "spec.eventbusName",
        "extra_forbidden",
        "did you mean 'eventBusName'?",
    ),
    (
        "snake_case instead of Argo's camelCase",
        {"mqtt": {"a": _with(MQTT, clientId=None, client_id="c")}},
        "spec.mqtt.a.client_id",
        "extra_forbidden",
        "did you mean 'clientId'?",
    ),
    (
        "githubBaseURL spelt by the camelCase rule",
        {"github": {"a": _with(GITHUB, githubBaseUrl="https://x.io")}},
        "spec.github.a.githubBaseUrl",
        "extra_forbidden",
        "did you mean 'githubBaseURL'?",
    ),
    (
        "misspelt field deep inside",
        {"github": {"a": _with(GITHUB, githubApp={"privateKey": SECRET, "appId": 1})}},
        "spec.github.a.githubApp.appId",
        "extra_forbidden",
        "did you mean 'appID'?",
    ),
    (
        "misspelt field in a list item",
        {"github": {"a": _with(GITHUB, repositories=[{"ownr": "o", "names": ["n"]}])}},
        "spec.github.a.repositories.0.ownr",
        "extra_forbidden",
        "did you mean 'owner'?",
    ),
    (
        "misspelt field of a shared core block",
        {"kafka": {"a": _with(KAFKA, tls={"caCertSecrets": SECRET})}},
        "spec.kafka.a.tls.caCertSecrets",
        "extra_forbidden",
        "did you mean 'caCertSecret'?",
    ),
    (
        "field far from any real one",
        {"webhook": {"a": _with(WEBHOOK, zzzzzz=1)}},
        "spec.webhook.a.zzzzzz",
        "extra_forbidden",
        "Extra inputs are not permitted",
    ),
    (
        "misplaced filter under the type instead of the event",
        {"webhook": {"a": WEBHOOK}, "filter": {"expression": "true"}},
        "spec.filter",
        "extra_forbidden",
        "Extra inputs",
    ),
    # wrong types
    (
        "port is a list",
        {"webhook": {"a": _with(WEBHOOK, port=[12000])}},
        "spec.webhook.a.port",
        "invalid_port",
        "1 to 65535",
    ),
    (
        "jsonBody is not a boolean",
        {"kafka": {"a": _with(KAFKA, jsonBody="maybe")}},
        "spec.kafka.a.jsonBody",
        "bool_parsing",
        "boolean",
    ),
    (
        "events is a string",
        {"github": {"a": _with(GITHUB, events="push")}},
        "spec.github.a.events",
        "list_type",
        "list",
    ),
    (
        "type map is a list",
        {"webhook": [WEBHOOK]},
        "spec.webhook",
        "dict_type",
        "dictionary",
    ),
    (
        "metadata values must be strings",
        {"webhook": {"a": _with(WEBHOOK, metadata={"n": 1})}},
        "spec.webhook.a.metadata.n",
        "string_type",
        "string",
    ),
    (
        "appID is not a number",
        {
            "github": {
                "a": _with(
                    GITHUB,
                    githubApp={"privateKey": SECRET, "appID": "x", "installationID": 2},
                )
            }
        },
        "spec.github.a.githubApp.appID",
        "int_parsing",
        "integer",
    ),
    # missing required fields
    (
        "webhook without endpoint",
        {"webhook": {"a": _with(WEBHOOK, endpoint=None)}},
        "spec.webhook.a.endpoint",
        "missing",
        "Field required",
    ),
    (
        "webhook without port",
        {"webhook": {"a": _with(WEBHOOK, port=None)}},
        "spec.webhook.a.port",
        "missing",
        "Field required",
    ),
    (
        "webhook without method",
        {"webhook": {"a": _with(WEBHOOK, method=None)}},
        "spec.webhook.a.method",
        "invalid_config",
        "set method: POST",
    ),
    (
        "github without events",
        {"github": {"a": _with(GITHUB, events=None)}},
        "spec.github.a.events",
        "missing",
        "Field required",
    ),
    (
        "github with empty events",
        {"github": {"a": _with(GITHUB, events=[])}},
        "spec.github.a.events",
        "too_short",
        "at least 1",
    ),
    (
        "github without webhook",
        {"github": {"a": _with(GITHUB, webhook=None)}},
        "spec.github.a.webhook",
        "missing",
        "Field required",
    ),
    (
        "github without repositories or organizations",
        {"github": {"a": _with(GITHUB, repositories=None)}},
        "spec.github.a",
        "invalid_config",
        "set repositories",
    ),
    (
        "github deprecated owner without repository",
        {"github": {"a": _with(GITHUB, repositories=None, owner="argoproj")}},
        "spec.github.a.repository",
        "invalid_config",
        "go together",
    ),
    (
        "kafka without topic",
        {"kafka": {"a": _with(KAFKA, topic=None)}},
        "spec.kafka.a.topic",
        "missing",
        "Field required",
    ),
    (
        "kafka without partition or consumer group",
        {"kafka": {"a": _with(KAFKA, partition=None)}},
        "spec.kafka.a.partition",
        "invalid_config",
        "consumerGroup",
    ),
    (
        "kafka consumer group without name",
        {"kafka": {"a": _with(KAFKA, partition=None, consumerGroup={"oldest": True})}},
        "spec.kafka.a.consumerGroup.groupName",
        "missing",
        "Field required",
    ),
    (
        "kafka MSK IAM without region",
        {"kafka": {"a": _with(KAFKA, awsMskIamAuth={})}},
        "spec.kafka.a.awsMskIamAuth.region",
        "missing",
        "Field required",
    ),
    (
        "nats without subject",
        {"nats": {"a": _with(NATS, subject=None)}},
        "spec.nats.a.subject",
        "missing",
        "Field required",
    ),
    (
        "mqtt without client id",
        {"mqtt": {"a": _with(MQTT, clientId=None)}},
        "spec.mqtt.a.clientId",
        "missing",
        "Field required",
    ),
    (
        "mqtt basic auth without password",
        {"mqtt": {"a": _with(MQTT, auth={"username": SECRET})}},
        "spec.mqtt.a.auth.password",
        "missing",
        "password",
    ),
    (
        "calendar with neither schedule nor interval",
        {"calendar": {"a": {"timezone": "UTC"}}},
        "spec.calendar.a",
        "missing",
        "set schedule",
    ),
    (
        "filter without expression",
        {"nats": {"a": _with(NATS, filter={})}},
        "spec.nats.a.filter.expression",
        "missing",
        "Field required",
    ),
    (
        "blank filter expression",
        {"nats": {"a": _with(NATS, filter={"expression": "  "})}},
        "spec.nats.a.filter.expression",
        "blank_expression",
        "remove filter",
    ),
    (
        "no events at all",
        {"eventBusName": "default"},
        "spec",
        "no_events",
        "at least one event",
    ),
    (
        "empty type maps are no events",
        {"webhook": {}, "kafka": {}},
        "spec",
        "no_events",
        "at least one event",
    ),
    # both of exclusive fields
    (
        "github repositories and organizations",
        {"github": {"a": _with(GITHUB, organizations=["argoproj"])}},
        "spec.github.a.organizations",
        "invalid_config",
        "not both",
    ),
    (
        "github deprecated owner/repository and repositories",
        {"github": {"a": _with(GITHUB, owner="o", repository="r")}},
        "spec.github.a.owner",
        "invalid_config",
        "move them into repositories",
    ),
    (
        "github apiToken and githubApp",
        {
            "github": {
                "a": _with(
                    GITHUB,
                    apiToken=SECRET,
                    githubApp={"privateKey": SECRET, "appID": 1, "installationID": 2},
                )
            }
        },
        "spec.github.a.githubApp",
        "invalid_config",
        "not both",
    ),
    (
        "github base URL without upload URL",
        {"github": {"a": _with(GITHUB, githubBaseURL="https://ghe.example.com/api/v3/")}},
        "spec.github.a.githubUploadURL",
        "invalid_config",
        "together",
    ),
    (
        "server certificate without key",
        {"webhook": {"a": _with(WEBHOOK, serverCertSecret=SECRET)}},
        "spec.webhook.a.serverKeySecret",
        "invalid_config",
        "together",
    ),
    (
        "nats auth with two methods",
        {"nats": {"a": _with(NATS, auth={"token": SECRET, "nkey": SECRET})}},
        "spec.nats.a.auth",
        "one_of",
        "token and nkey",
    ),
    (
        "nats queue with jetStream",
        {"nats": {"a": _with(NATS, queue="q", jetStream={"durable": "d"})}},
        "spec.nats.a.queue",
        "invalid_config",
        "remove queue",
    ),
    (
        "kafka TLS client cert without key",
        {"kafka": {"a": _with(KAFKA, tls={"clientCertSecret": SECRET})}},
        "spec.kafka.a.tls.clientKeySecret",
        "invalid_config",
        "together",
    ),
    (
        "kafka TLS with nothing to use",
        {"kafka": {"a": _with(KAFKA, tls={})}},
        "spec.kafka.a.tls",
        "invalid_config",
        "nothing to use",
    ),
    (
        "kafka SASL with an unknown mechanism",
        {
            "kafka": {
                "a": _with(
                    KAFKA,
                    sasl={"mechanism": "plain", "userSecret": SECRET, "passwordSecret": SECRET},
                )
            }
        },
        "spec.kafka.a.sasl.mechanism",
        "invalid_config",
        "SCRAM-SHA-256",
    ),
    # bad port
    (
        "port 0",
        {"webhook": {"a": _with(WEBHOOK, port="0")}},
        "spec.webhook.a.port",
        "invalid_port",
        "1 to 65535",
    ),
    (
        "port 70000",
        {"webhook": {"a": _with(WEBHOOK, port=70000)}},
        "spec.webhook.a.port",
        "invalid_port",
        "1 to 65535",
    ),
    (
        "port not a number",
        {"github": {"a": _with(GITHUB, webhook={"port": "http", "endpoint": "/x"})}},
        "spec.github.a.webhook.port",
        "invalid_port",
        "not a number",
    ),
    (
        "port true",
        {"webhook": {"a": _with(WEBHOOK, port=True)}},
        "spec.webhook.a.port",
        "invalid_port",
        "1 to 65535",
    ),
    # other webhook mistakes
    (
        "endpoint without leading slash",
        {"webhook": {"a": _with(WEBHOOK, endpoint="example")}},
        "spec.webhook.a.endpoint",
        "invalid_endpoint",
        "must start with '/'",
    ),
    (
        "lower-case method",
        {"webhook": {"a": _with(WEBHOOK, method="post")}},
        "spec.webhook.a.method",
        "invalid_method",
        "upper case",
    ),
    (
        "unknown method",
        {"webhook": {"a": _with(WEBHOOK, method="FETCH")}},
        "spec.webhook.a.method",
        "literal_error",
        "'GET'",
    ),
    (
        "webhook PUT, which Argo answers with 400",
        {"webhook": {"a": _with(WEBHOOK, method="PUT")}},
        "spec.webhook.a.method",
        "invalid_config",
        "POST",
    ),
    (
        "zero payload size",
        {"webhook": {"a": _with(WEBHOOK, maxPayloadSize=0)}},
        "spec.webhook.a.maxPayloadSize",
        "greater_than",
        "greater than 0",
    ),
    (
        "url without scheme",
        {"github": {"a": _with(GITHUB, webhook={**GITHUB["webhook"], "url": "example.com"})}},
        "spec.github.a.webhook.url",
        "invalid_url",
        "http(s) URL",
    ),
    (
        "github content type",
        {"github": {"a": _with(GITHUB, contentType="xml")}},
        "spec.github.a.contentType",
        "literal_error",
        "'json'",
    ),
    # bad cron, interval, time zone
    (
        "cron with six fields",
        {"calendar": {"a": {"schedule": "0 30 * * * *"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "has 6 fields",
    ),
    (
        "cron minute out of range",
        {"calendar": {"a": {"schedule": "61 * * * *"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "outside 0-59",
    ),
    (
        "cron day of week 7",
        {"calendar": {"a": {"schedule": "0 0 * * 7"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "outside 0-6",
    ),
    (
        "cron backwards range",
        {"calendar": {"a": {"schedule": "0 17-9 * * *"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "backwards",
    ),
    (
        "cron zero step",
        {"calendar": {"a": {"schedule": "*/0 * * * *"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "positive",
    ),
    (
        "cron unknown month name",
        {"calendar": {"a": {"schedule": "0 0 1 foo *"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "not a number",
    ),
    (
        "cron descriptor",
        {"calendar": {"a": {"schedule": "@hourly"}}},
        "spec.calendar.a.schedule",
        "invalid_cron",
        "descriptors",
    ),
    (
        "interval without unit",
        {"calendar": {"a": {"interval": "10"}}},
        "spec.calendar.a.interval",
        "invalid_duration",
        "not a duration",
    ),
    (
        "zero interval",
        {"calendar": {"a": {"interval": "0s"}}},
        "spec.calendar.a.interval",
        "invalid_duration",
        "longer than zero",
    ),
    (
        "unknown time zone",
        {"calendar": {"a": {"interval": "1m", "timezone": "Mars/Olympus"}}},
        "spec.calendar.a.timezone",
        "invalid_timezone",
        "IANA",
    ),
    (
        "exclusion date without EXDATE",
        {"calendar": {"a": {"interval": "1m", "exclusionDates": ["2019-01-02"]}}},
        "spec.calendar.a.exclusionDates",
        "invalid_exclusion_date",
        "EXDATE:",
    ),
    (
        "catch-up max duration",
        {"calendar": {"a": {"interval": "1m", "persistence": {"catchup": {"maxDuration": "x"}}}}},
        "spec.calendar.a.persistence.catchup.maxDuration",
        "invalid_duration",
        "not a duration",
    ),
    # other source mistakes
    (
        "kafka broker without port",
        {"kafka": {"a": _with(KAFKA, url="kafka")}},
        "spec.kafka.a.url",
        "invalid_url",
        "host:port",
    ),
    (
        "kafka partition not a number",
        {"kafka": {"a": _with(KAFKA, partition="first")}},
        "spec.kafka.a.partition",
        "invalid_partition",
        "not a number",
    ),
    (
        "kafka rebalance strategy",
        {"kafka": {"a": _with(KAFKA, consumerGroup={"groupName": "g", "rebalanceStrategy": "x"})}},
        "spec.kafka.a.consumerGroup.rebalanceStrategy",
        "literal_error",
        "'range'",
    ),
    (
        "kafka config not YAML mapping",
        {"kafka": {"a": _with(KAFKA, config="- a\n- b")}},
        "spec.kafka.a.config",
        "invalid_yaml",
        "mapping",
    ),
    (
        "mqtt url scheme",
        {"mqtt": {"a": _with(MQTT, url="mosquitto:1883")}},
        "spec.mqtt.a.url",
        "invalid_url",
        "tcp://",
    ),
    (
        "mqtt QoS 2",
        {"mqtt": {"a": _with(MQTT, qos=2)}},
        "spec.mqtt.a.qos",
        "literal_error",
        "0 or 1",
    ),
    (
        "nats jetStream deliver policy",
        {"nats": {"a": _with(NATS, jetStream={"deliverPolicy": "last"})}},
        "spec.nats.a.jetStream.deliverPolicy",
        "literal_error",
        "'all'",
    ),
    (
        "nats jetStream ack wait",
        {"nats": {"a": _with(NATS, jetStream={"ackWait": "30"})}},
        "spec.nats.a.jetStream.ackWait",
        "invalid_duration",
        "not a duration",
    ),
    (
        "nats empty queue",
        {"nats": {"a": _with(NATS, queue="")}},
        "spec.nats.a.queue",
        "blank_name",
        "queue",
    ),
    (
        "event bus name",
        {"eventBusName": "My Bus", "webhook": {"a": WEBHOOK}},
        "spec.eventBusName",
        "invalid_name",
        "Kubernetes name",
    ),
    (
        "zero replicas",
        {"replicas": 0, "webhook": {"a": WEBHOOK}},
        "spec.replicas",
        "greater_than_equal",
        "greater than or equal to 1",
    ),
    (
        "empty event name",
        {"webhook": {"": WEBHOOK}},
        "spec.webhook.",
        "blank_name",
        "must not be empty",
    ),
    # mis-cased types, duplicates
    (
        "mis-cased source type",
        {"SQS": {"a": {"queue": "q"}}, "webhook": {"a": WEBHOOK}},
        "spec.SQS",
        "extra_forbidden",
        "did you mean 'sqs'?",
    ),
    (
        "mis-cased camelCase source type",
        {"azureeventshub": {"a": {}}},
        "spec.azureeventshub",
        "extra_forbidden",
        "did you mean 'azureEventsHub'?",
    ),
    (
        "duplicate event name across types",
        {"webhook": {"same": WEBHOOK}, "calendar": {"same": CALENDAR}},
        "spec.calendar.same",
        "duplicate_event_name",
        "already used by webhook.same",
    ),
    (
        "duplicate port and endpoint in webhook",
        {"webhook": {"a": WEBHOOK, "b": _with(WEBHOOK, port=12000)}},
        "spec.webhook.b.endpoint",
        "duplicate_route",
        "port 12000 endpoint /example is already used by webhook.a",
    ),
    (
        "duplicate port and endpoint across webhook and github",
        {
            "webhook": {"hook": _with(WEBHOOK, endpoint="/push", port="13000")},
            "github": {"gh": GITHUB},
        },
        "spec.github.gh.webhook.endpoint",
        "duplicate_route",
        "already used by webhook.hook",
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


def test_mistakes_in_several_types_are_reported_together() -> None:
    errors = _errors({"sqs": {"a": {}}, "githb": {}, "webhook": {"a": _with(WEBHOOK, port="x")}})
    assert set(errors) == {
        "spec.sqs.a.region",
        "spec.sqs.a.queue",
        "spec.githb",
        "spec.webhook.a.port",
    }


def test_duplicate_route_message_names_both_events() -> None:
    errors = _errors({"webhook": {"first": WEBHOOK, "second": WEBHOOK}})
    message = errors["spec.webhook.second.endpoint"][1]
    assert "webhook.first" in message
    assert "webhook.second" in message


def test_errors_nest_under_the_enclosing_manifest_path() -> None:
    class Manifest(BaseModel):
        spec: EventSourceSpec

    cases = [
        (
            {"sqs": {"q": {"region": "eu-west-1"}}, "webhook": {"a": _with(WEBHOOK, port="x")}},
            {("spec", "sqs", "q", "queue"), ("spec", "webhook", "a", "port")},
        ),
        (
            {"githb": {}, "webhook": {"a": _with(WEBHOOK, methd="GET")}},
            {("spec", "githb"), ("spec", "webhook", "a", "methd")},
        ),
    ]
    for data, locs in cases:
        with pytest.raises(ValidationError) as info:
            Manifest.model_validate({"spec": data})
        assert {tuple(e["loc"]) for e in info.value.errors()} == locs
        assert all("did you mean" in e["msg"] for e in info.value.errors() if "githb" in e["loc"])


# --------------------------------------------------------------------------- warnings

WARNINGS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("clean spec", {"webhook": {"a": WEBHOOK}, "github": {"b": GITHUB}}, []),
    (
        "github deprecated id, owner and repository",
        {
            "github": {
                "old": _with(GITHUB, repositories=None, id=3, owner="argoproj", repository="x")
            }
        },
        ["spec.github.old.id", "spec.github.old.owner"],
    ),
    (
        "github webhook metadata and method",
        {
            "github": {
                "g": _with(GITHUB, webhook={**GITHUB["webhook"], "metadata": {}, "method": "GET"})
            }
        },
        ["spec.github.g.webhook.method"],
    ),
    (
        "github webhook metadata is not used",
        {"github": {"g": _with(GITHUB, webhook={**GITHUB["webhook"], "metadata": {"a": "b"}})}},
        ["spec.github.g.webhook.metadata"],
    ),
    (
        "calendar schedule and interval",
        {"calendar": {"c": {"schedule": "* * * * *", "interval": "10s"}}},
        ["spec.calendar.c.interval"],
    ),
    (
        "kafka partition next to a consumer group, sasl next to MSK IAM",
        {
            "kafka": {
                "k": _with(
                    KAFKA,
                    consumerGroup={"groupName": "g"},
                    awsMskIamAuth={"region": "eu-west-1"},
                    sasl={"userSecret": SECRET, "passwordSecret": SECRET},
                )
            }
        },
        ["spec.kafka.k.partition", "spec.kafka.k.sasl"],
    ),
]


@pytest.mark.parametrize(("case", "data", "paths"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_deprecated_and_ignored_fields_load_with_a_warning_at_their_path(
    case: str, data: dict[str, Any], paths: list[str]
) -> None:
    warnings = deprecations(_spec(data))
    assert [path for path, _ in warnings] == paths, case
    assert all(message for _, message in warnings)


def test_deprecated_owner_and_repository_count_as_repositories() -> None:
    spec = _spec({"github": {"g": _with(GITHUB, repositories=None, owner="o", repository="r")}})
    assert spec.github is not None
    (repo,) = spec.github["g"].owned_repositories
    assert (repo.owner, repo.names) == ("o", ["r"])
    path, message = deprecations(spec, prefix="x")[0]
    assert path == "x.github.g.owner"
    assert "repositories: [{owner: o, names: [r]}]" in message


# --------------------------------------------------------------------------- the type table

ARGO_TYPE_KEYS = {
    "minio", "calendar", "file", "resource", "webhook", "amqp", "kafka", "mqtt", "nats",
    "sns", "sqs", "pubSub", "github", "gitlab", "hdfs", "slack", "storageGrid",
    "azureEventsHub", "stripe", "emitter", "redis", "nsq", "pulsar", "generic",
    "bitbucketserver", "bitbucket", "redisStream", "azureServiceBus", "azureQueueStorage",
    "sftp", "gerrit", "mns",
}  # fmt: skip


def test_type_table_covers_every_argo_type_once() -> None:
    assert set(EVENT_SOURCE_TYPES) == ARGO_TYPE_KEYS
    assert len(MODELLED_TYPES) == len(ARGO_TYPE_KEYS) == 32
    assert MODELLED_TYPES[:6] == ("webhook", "github", "kafka", "nats", "mqtt", "calendar")
    assert EVENT_SOURCE_TYPES["pubSub"] == "pubsub"
    assert EVENT_SOURCE_TYPES["storageGrid"] == "storagegrid"


def test_every_modelled_type_is_a_spec_map_of_its_config_model() -> None:
    fields = {info.alias or name: info for name, info in EventSourceSpec.model_fields.items()}
    for key in MODELLED_TYPES:
        assert key in fields
        annotation = fields[key].annotation
        (mapping, none) = typing.get_args(annotation)
        assert none is type(None)
        assert typing.get_origin(mapping) is dict
        assert typing.get_args(mapping)[1] is CONFIG_MODELS[key]
    assert set(CONFIG_MODELS) == set(MODELLED_TYPES)
    assert CONFIG_MODELS["webhook"] is WebhookEventSource
    assert CONFIG_MODELS["github"] is GithubEventSource
    assert CONFIG_MODELS["kafka"] is KafkaEventSource
    assert CONFIG_MODELS["nats"] is NATSEventsSource
    assert CONFIG_MODELS["mqtt"] is MQTTEventSource
    assert CONFIG_MODELS["calendar"] is CalendarEventSource


def test_events_lists_every_event_with_its_type() -> None:
    spec = _spec(
        {"calendar": {"c": CALENDAR}, "webhook": {"w": WEBHOOK, "v": WEBHOOK | {"port": 1}}}
    )
    assert [(t, n) for t, n, _ in spec.events()] == [
        ("webhook", "w"),
        ("webhook", "v"),
        ("calendar", "c"),
    ]
    assert event_names(spec) == ["w", "v", "c"]


# --------------------------------------------------------------------------- schema


def _walk(schema: Any, where: str, out: list[str]) -> None:
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            if "description" not in prop:
                out.append(f"{where}.{name}")
        for key, value in schema.items():
            _walk(value, f"{where}.{key}", out)
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            _walk(value, f"{where}[{i}]", out)


def test_schema_generates_with_a_description_on_every_field() -> None:
    schema = EventSourceSpec.model_json_schema()
    assert schema["additionalProperties"] is False
    own = {k: v for k, v in schema["$defs"].items() if k not in {"SASLConfig", "BasicAuth"}}
    missing: list[str] = []
    _walk({"properties": schema["properties"], "$defs": own}, "EventSourceSpec", missing)
    assert missing == []
    for key in MODELLED_TYPES:
        assert schema["properties"][key]["description"]
    port = schema["$defs"]["WebhookContext"]["properties"]["port"]
    assert port["x-kubernetes-int-or-string"] is True
