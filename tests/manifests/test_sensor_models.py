"""Sensor manifests load as Argo Events writes them, and every mistake names its field.

The models are the single source of truth for what a Sensor may say, so these
tests pin down three things a user notices: an Argo Sensor loads unchanged, a
mistake is reported at its camelCase manifest path with a message that says
what to do, and fields that do nothing are listed for the loader's warnings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from sensors.spec import (
    TRIGGER_TYPES,
    ConditionsResetByTime,
    ConditionsResetCriteria,
    DataFilter,
    EventContext,
    EventDependency,
    EventDependencyFilter,
    EventDependencyTransformer,
    ExprFilter,
    K8SResourcePolicy,
    PayloadField,
    RateLimit,
    SensorSpec,
    StatusPolicy,
    TimeFilter,
    Trigger,
    TriggerPolicy,
    TriggerTemplate,
    condition_names,
    deprecations,
)
from triggers.argo_workflow import ArgoWorkflowTrigger
from triggers.artifacts import (
    ArtifactLocation,
    FileArtifact,
    GitArtifact,
    GitCreds,
    GithubAppCreds,
    GitRemoteConfig,
    S3Artifact,
    S3Bucket,
    S3Filter,
    URLArtifact,
)
from triggers.aws_lambda import AWSLambdaTrigger
from triggers.email import EmailTrigger
from triggers.http import HTTPTrigger
from triggers.k8s import StandardK8STrigger
from triggers.kafka import KafkaTrigger, SchemaRegistryConfig
from triggers.log import LogTrigger
from triggers.nats import NATSAuth, NATSTrigger
from triggers.params import (
    PayloadParameter,
    SecureHeader,
    TriggerParameter,
    TriggerParameterSource,
    ValueFromSource,
)
from triggers.slack import SlackSender, SlackThread, SlackTrigger

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "argo-events" / "examples"

Json = dict[str, Any]


def manifest_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the manifest path a user reads: spec.triggers[0].template."""
    out = "spec"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def errors_of(spec: Json) -> dict[str, list[str]]:
    """Manifest path -> "type: message" of each error; fails when the spec is valid."""
    with pytest.raises(ValidationError) as info:
        SensorSpec.model_validate(spec)
    found: dict[str, list[str]] = {}
    for err in info.value.errors():
        found.setdefault(manifest_path(err["loc"]), []).append(f"{err['type']}: {err['msg']}")
    return found


# ----------------------------------------------------------------- a valid Sensor

WORKFLOW = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"generateName": "hello-"},
    "spec": {"entrypoint": "main", "templates": [{"name": "main", "container": {}}]},
}


def _param(dep: str = "dep-a", dest: str = "x", **src: Any) -> Json:
    return {"src": {"dependencyName": dep, **src}, "dest": dest}


def _secret() -> Json:
    return {"name": "creds", "key": "token"}


def every_trigger_type() -> Json:
    """A Sensor with one trigger of each type Herald models, using most of their fields."""
    return {
        "dependencies": [
            {
                "name": "dep-a",
                "eventSourceName": "webhook",
                "eventName": "example",
                "filters": {
                    "time": {"start": "09:00:00", "stop": "17:00:00", "timezone": "Europe/Berlin"},
                    "context": {"type": "webhook", "source": "webhook"},
                    "data": [
                        {"path": "body.action", "type": "string", "value": ["open.*"]},
                        {"path": "body.n", "type": "number", "value": ["2.5"], "comparator": ">="},
                        {"path": "body.ok", "type": "bool", "value": ["true"], "comparator": ""},
                    ],
                    "exprs": [{"expr": "a == 'x'", "fields": [{"name": "a", "path": "body.a"}]}],
                    "dataLogicalOperator": "or",
                    "exprLogicalOperator": "",
                    "script": "return true",
                    "cel": "body.action == 'opened'",
                },
                "filtersLogicalOperator": "and",
                "transform": {"jq": ".body"},
            },
            {"name": "dep_b", "eventSourceName": "github", "eventName": "repo"},
        ],
        "triggers": [
            {
                "template": {
                    "name": "http",
                    "conditions": "dep-a && !(dep_b)",
                    "conditionsReset": [
                        {"byTime": {"cron": "59 23 * * MON-FRI", "timezone": "UTC"}}
                    ],
                    "http": {
                        "url": "http://localhost:8080/hook",
                        "method": "PUT",
                        "payload": [_param(dataKey="body"), _param(dest="", value="{}")],
                        "parameters": [_param(dest="url", dataKey="body.url")],
                        "headers": {"X-A": "b"},
                        "secureHeaders": [
                            {"name": "Authorization", "valueFrom": {"secretKeyRef": _secret()}},
                            {"name": "X-C", "valueFrom": {"configMapKeyRef": _secret()}},
                        ],
                        "dynamicHeaders": [_param(dest="X-Id", contextKey="id")],
                        "basicAuth": {"username": _secret(), "password": _secret()},
                        "tls": {"caCertSecret": _secret(), "insecureSkipVerify": False},
                        "timeout": 5,
                        "host": "example.com",
                    },
                },
                "parameters": [_param(dest="http.url", dataTemplate="{{ .Input.body.url }}")],
                "policy": {"status": {"allow": [200, 201]}},
                "retryStrategy": {"steps": 3, "duration": "1s", "factor": 2, "jitter": 0.1},
                "rateLimit": {"unit": "Minute", "requestsPerUnit": 10},
                "atLeastOnce": True,
                "dlqTrigger": {"template": {"name": "http-dlq", "log": {}}, "atLeastOnce": True},
            },
            {"template": {"name": "log", "log": {"intervalSeconds": 10}}, "atLeastOnce": False},
            {
                "template": {
                    "name": "k8s",
                    "k8s": {
                        "operation": "update",
                        "source": {"resource": WORKFLOW},
                        "parameters": [_param(dest="metadata.name", useRawData=True)],
                        "patchStrategy": "application/json-patch+json",
                        "liveObject": True,
                    },
                },
                "policy": {
                    "k8s": {
                        "labels": {"workflows.argoproj.io/phase": "Succeeded"},
                        "backoff": {"duration": 1000000000, "steps": 2},
                        "errorOnBackoffTimeout": True,
                    }
                },
            },
            {
                "template": {
                    "name": "workflow",
                    "argoWorkflow": {
                        "operation": "submit-from",
                        "source": {"inline": "apiVersion: v1\nkind: Workflow\n"},
                        "args": ["--serviceaccount", "argo"],
                    },
                }
            },
            {
                "template": {
                    "name": "lambda",
                    "awsLambda": {
                        "functionName": "hello",
                        "region": "us-east-1",
                        "accessKey": _secret(),
                        "secretKey": _secret(),
                        "roleARN": "arn:aws:iam::123456789012:role/r",
                        "payload": [_param(dest="name", dataKey="body.name")],
                        "invocationType": "Event",
                    },
                }
            },
            {
                "template": {
                    "name": "slack",
                    "slack": {
                        "slackToken": _secret(),
                        "channel": "general",
                        "message": "hi",
                        "attachments": "[]",
                        "blocks": "[]",
                        "thread": {
                            "messageAggregationKey": "k",
                            "broadcastMessageToChannel": True,
                        },
                        "sender": {"username": "herald", "icon": ":robot_face:"},
                        "parameters": [_param(dest="message", dataKey="body.text")],
                    },
                }
            },
            {
                "template": {
                    "name": "kafka",
                    "kafka": {
                        "url": "localhost:9092",
                        "topic": "out",
                        "partitioningKey": "k",
                        "payload": [_param(dest="body", dataKey="body")],
                        "requiredAcks": -1,
                        "compress": True,
                        "flushFrequency": 100,
                        "tls": {"enabled": True},
                        "sasl": {"mechanism": "PLAIN", "userSecret": _secret()},
                        "version": "2.8.0",
                        "schemaRegistry": {"url": "http://r", "schemaId": 3, "auth": {}},
                        "headers": {"h": "v"},
                        "secureHeaders": [{"name": "s", "valueFrom": {"secretKeyRef": _secret()}}],
                    },
                }
            },
            {
                "template": {
                    "name": "nats",
                    "nats": {
                        "url": "nats://localhost:4222",
                        "subject": "out",
                        "payload": [],
                        "auth": {"token": _secret()},
                        "jetStream": True,
                    },
                }
            },
            {
                "template": {
                    "name": "email",
                    "email": {
                        "host": "smtp.example.com",
                        "port": 587,
                        "username": "me",
                        "smtpPassword": _secret(),
                        "from": "me@example.com",
                        "to": ["you@example.com"],
                        "subject": "s",
                        "body": "b",
                    },
                }
            },
        ],
        "template": {"serviceAccountName": "sa", "container": {"env": []}},
        "eventBusName": "bus",
        "replicas": 2,
        "revisionHistoryLimit": 3,
        "loggingFields": {"team": "a"},
    }


def test_a_sensor_with_every_modelled_trigger_type_loads() -> None:
    spec = SensorSpec.model_validate(every_trigger_type())

    assert [t.template.trigger_type for t in spec.triggers] == [
        "http",
        "log",
        "k8s",
        "argoWorkflow",
        "awsLambda",
        "slack",
        "kafka",
        "nats",
        "email",
    ]
    # The five types Herald models but cannot run yet: tests/manifests/test_argo_compat.py.
    model_only = {"custom", "openWhisk", "azureEventHubs", "azureServiceBus", "pulsar"}
    assert set(TRIGGER_TYPES) - model_only == {t.template.trigger_type for t in spec.triggers}
    for trigger in spec.triggers:
        assert isinstance(
            trigger.template.trigger_spec, TRIGGER_TYPES[trigger.template.trigger_type]
        )
    http = spec.triggers[0].template.http
    assert http is not None
    assert (http.method, http.timeout) == ("PUT", 5)
    assert http.payload is not None
    assert http.payload[1].dest == ""
    k8s = spec.triggers[2].template.k8s
    assert k8s is not None
    assert k8s.source.resource == WORKFLOW
    aws = spec.triggers[4].template.aws_lambda
    assert aws is not None
    assert aws.role_arn == "arn:aws:iam::123456789012:role/r"
    nats = spec.triggers[7].template.nats
    assert nats is not None
    assert nats.jet_stream is True
    email = spec.triggers[8].template.email
    assert email is not None
    assert email.from_ == "me@example.com"
    assert spec.dependency("dep-a").filters_logical_operator == "and"
    assert spec.triggers[0].dlq_trigger is not None
    assert spec.triggers[1].at_least_once is False
    assert spec.template == {"serviceAccountName": "sa", "container": {"env": []}}
    assert deprecations(spec) == []


def test_defaults_follow_argo_and_empty_enums_mean_the_default() -> None:
    spec = SensorSpec.model_validate(
        {
            "dependencies": [
                {
                    "name": "d",
                    "eventSourceName": "s",
                    "eventName": "e",
                    "filtersLogicalOperator": "",
                    "filters": {"dataLogicalOperator": ""},
                }
            ],
            "triggers": [
                {
                    "template": {
                        "name": "t",
                        "http": {
                            "url": "http://x",
                            "method": "",
                            "timeout": 0,
                            "payload": [{**_param("d"), "operation": ""}],
                        },
                    }
                },
                {"template": {"name": "k", "k8s": {"operation": "", "source": {"inline": "x"}}}},
                {"template": {"name": "w", "argoWorkflow": {"source": {"inline": "x"}}}},
            ],
        }
    )
    assert spec.event_bus_name == "default"
    http = spec.triggers[0].template.http
    assert http is not None
    assert (http.method, http.timeout) == ("POST", 60)
    assert http.payload is not None
    assert http.payload[0].operation == "overwrite"
    assert spec.triggers[0].at_least_once is None  # None: Herald's default, at-least-once
    assert spec.triggers[1].template.k8s is not None
    assert spec.triggers[1].template.k8s.operation == "create"
    assert spec.triggers[1].template.k8s.patch_strategy == "application/merge-patch+json"
    assert spec.triggers[2].template.argo_workflow is not None
    assert spec.triggers[2].template.argo_workflow.operation == "submit"
    dep = spec.dependencies[0]
    assert dep.filters_logical_operator == "and"
    assert dep.filters is not None
    assert dep.filters.data_logical_operator == "and"


def test_a_trigger_parameter_may_rewrite_another_parameters_dependency_name() -> None:
    # Argo's parameterization tutorial fills an inner parameter's dependencyName at
    # firing time; the placeholder is not a dependency and must not be reported.
    spec: Json = {
        "dependencies": [{"name": "dep", "eventSourceName": "s", "eventName": "e"}],
        "triggers": [
            {
                "template": {
                    "name": "t",
                    "k8s": {
                        "source": {"resource": WORKFLOW},
                        "parameters": [_param("PLACEHOLDER", dest="metadata.name")],
                    },
                },
                "parameters": [_param("dep", dest="k8s.parameters.0.src.dependencyName")],
            }
        ],
    }
    SensorSpec.model_validate(spec)
    spec["triggers"][0]["parameters"][0]["dest"] = "k8s.parameters.0.dest"
    assert "spec.triggers[0].template.k8s.parameters[0].src.dependencyName" in errors_of(spec)


# ------------------------------------------------------------ field names and aliases

# The JSON names of each model, read from Argo Events' sensor_types.go (and s3.go,
# eventsource_types.go); Herald-only fields are listed separately below.
HERALD_ONLY = {EventDependencyFilter: {"cel"}, NATSTrigger: {"jetStream"}}
ARGO_FIELDS: dict[type[BaseModel], set[str]] = {
    SensorSpec: {
        "dependencies",
        "triggers",
        "template",
        "errorOnFailedRound",
        "eventBusName",
        "replicas",
        "revisionHistoryLimit",
        "loggingFields",
    },
    EventDependency: {
        "name",
        "eventSourceName",
        "eventName",
        "filters",
        "transform",
        "filtersLogicalOperator",
    },
    EventDependencyFilter: {
        "time",
        "context",
        "data",
        "exprs",
        "dataLogicalOperator",
        "exprLogicalOperator",
        "script",
    },
    EventContext: {"id", "source", "specversion", "type", "datacontenttype", "subject", "time"},
    DataFilter: {"path", "type", "value", "comparator", "template"},
    TimeFilter: {"start", "stop", "timezone"},
    ConditionsResetByTime: {"cron", "timezone"},
    Trigger: {
        "template",
        "parameters",
        "policy",
        "retryStrategy",
        "rateLimit",
        "atLeastOnce",
        "dlqTrigger",
    },
    TriggerTemplate: {"name", "conditions", "conditionsReset", *TRIGGER_TYPES},
    TriggerParameter: {"src", "dest", "operation"},
    TriggerParameterSource: {
        "dependencyName",
        "contextKey",
        "contextTemplate",
        "dataKey",
        "dataTemplate",
        "value",
        "useRawData",
    },
    SecureHeader: {"name", "valueFrom"},
    HTTPTrigger: {
        "url",
        "payload",
        "tls",
        "method",
        "parameters",
        "timeout",
        "basicAuth",
        "headers",
        "secureHeaders",
        "dynamicHeaders",
        "host",
    },
    LogTrigger: {"intervalSeconds"},
    StandardK8STrigger: {"source", "operation", "parameters", "patchStrategy", "liveObject"},
    ArgoWorkflowTrigger: {"source", "operation", "parameters", "args"},
    AWSLambdaTrigger: {
        "functionName",
        "accessKey",
        "secretKey",
        "region",
        "payload",
        "parameters",
        "invocationType",
        "roleARN",
    },
    SlackTrigger: {
        "parameters",
        "slackToken",
        "channel",
        "message",
        "attachments",
        "blocks",
        "thread",
        "sender",
    },
    KafkaTrigger: {
        "url",
        "topic",
        "partition",
        "parameters",
        "requiredAcks",
        "compress",
        "flushFrequency",
        "tls",
        "payload",
        "partitioningKey",
        "version",
        "sasl",
        "schemaRegistry",
        "headers",
        "secureHeaders",
    },
    SchemaRegistryConfig: {"url", "schemaId", "auth"},
    NATSTrigger: {"url", "subject", "payload", "parameters", "tls", "auth"},
    NATSAuth: {"basic", "token", "nkey", "credential"},
    EmailTrigger: {
        "parameters",
        "username",
        "smtpPassword",
        "host",
        "port",
        "to",
        "from",
        "subject",
        "body",
    },
    ArtifactLocation: {"s3", "inline", "file", "url", "configmap", "git", "resource"},
    FileArtifact: {"path"},
    URLArtifact: {"path", "verifyCert"},
    GitCreds: {"username", "password"},
    GitRemoteConfig: {"name", "urls"},
    S3Bucket: {"key", "name"},
    S3Filter: {"prefix", "suffix"},
    ValueFromSource: {"secretKeyRef", "configMapKeyRef"},
    PayloadParameter: {"src", "dest", "operation"},
    SlackThread: {"messageAggregationKey", "broadcastMessageToChannel"},
    SlackSender: {"username", "icon"},
    TriggerPolicy: {"k8s", "status"},
    K8SResourcePolicy: {"labels", "backoff", "errorOnBackoffTimeout"},
    StatusPolicy: {"allow"},
    RateLimit: {"unit", "requestsPerUnit"},
    ConditionsResetCriteria: {"byTime"},
    EventDependencyTransformer: {"jq", "script"},
    ExprFilter: {"expr", "fields"},
    PayloadField: {"path", "name"},
    GitArtifact: {
        "url",
        "cloneDirectory",
        "creds",
        "sshKeySecret",
        "filePath",
        "branch",
        "tag",
        "ref",
        "remote",
        "insecureIgnoreHostKey",
        "githubApp",
    },
    GithubAppCreds: {"privateKey", "appID", "installationID"},
    S3Artifact: {
        "endpoint",
        "bucket",
        "region",
        "insecure",
        "accessKey",
        "secretKey",
        "events",
        "filter",
        "metadata",
        "caCertificate",
    },
}


@pytest.mark.parametrize("model", list(ARGO_FIELDS), ids=lambda m: m.__name__)
def test_manifest_field_names_are_argo_json_names(model: type[BaseModel]) -> None:
    spelled = {f.alias or name for name, f in model.model_fields.items()}
    assert spelled == ARGO_FIELDS[model] | HERALD_ONLY.get(model, set())


def test_every_trigger_type_key_is_a_template_field() -> None:
    fields = {f.alias: f for f in TriggerTemplate.model_fields.values()}
    for key, model in TRIGGER_TYPES.items():
        assert fields[key].annotation == model | None
    assert len(TRIGGER_TYPES) == 14


def test_python_attribute_names_are_not_accepted_in_manifests() -> None:
    spec = every_trigger_type()
    aws = spec["triggers"][4]["template"]["awsLambda"]
    aws["role_arn"] = aws.pop("roleARN")
    assert "spec.triggers[4].template.awsLambda.role_arn" in errors_of(spec)


def test_json_schema_generates_for_crds() -> None:
    schema = SensorSpec.model_json_schema(by_alias=True)
    defs = schema["$defs"]
    assert "roleARN" in defs["AWSLambdaTrigger"]["properties"]
    assert "from" in defs["EmailTrigger"]["properties"]
    assert "k8s" in defs["TriggerTemplate"]["properties"]
    assert defs["ArtifactLocation"]["properties"]["resource"][
        "x-kubernetes-preserve-unknown-fields"
    ]
    assert schema["properties"]["template"]["x-kubernetes-preserve-unknown-fields"]


# --------------------------------------------------------------- the Argo examples


def _argo_sensors() -> list[Any]:
    if not EXAMPLES.is_dir():
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=f"no {EXAMPLES}"))]
    found = []
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        for i, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if isinstance(doc, dict) and doc.get("kind") == "Sensor":
                found.append(pytest.param(doc, id=f"{path.relative_to(EXAMPLES)}#{i}"))
    return found


# Argo examples that Herald rejects on purpose: the field path reported, and a
# piece of its message. Every other example Sensor must load.
ARGO_EXAMPLES_REJECTED = {
    # Defects in the examples that Argo silently accepts (Go's JSON decoding
    # ignores unknown keys and matches key case loosely).
    "sensors/trigger-with-atleast-once-semantics.yaml#0": (
        "triggers[0].template.atLeastOnce",
        "belongs to the trigger, not to its template",
    ),
    "sensors/trigger-with-policy.yaml#0": (
        "triggers[0].template.policy",
        "belongs to the trigger, not to its template",
    ),
    "sensors/trigger-openwhisk.yaml#0": (
        "triggers[0].template.openwhisk",
        "did you mean 'openWhisk'",
    ),
    "sensors/url-sensor.yaml#0": (
        "triggers[0].template.k8s.source.url.verifycert",
        "did you mean 'verifyCert'",
    ),
    # Tutorials written for older Argo field names.
    "tutorials/03-trigger-sources/sensor-cm.yaml#0": (
        "triggers[0].template.k8s.source.configmap.namespace",
        "unknown field 'namespace'",
    ),
    "tutorials/03-trigger-sources/sensor-git.yaml#0": (
        "triggers[0].template.k8s.source.git.sshKeyPath",
        "Extra inputs are not permitted",
    ),
    "tutorials/09-http-trigger/sensor-01.yaml#0": (
        "triggers[0].template.http.serverURL",
        "unknown field 'serverURL'",
    ),
    "tutorials/09-http-trigger/sensor-02.yaml#0": (
        "triggers[0].template.http.serverURL",
        "unknown field 'serverURL'",
    ),
}


@pytest.mark.parametrize("sensor", _argo_sensors())
def test_argo_example_sensor(sensor: Json, request: pytest.FixtureRequest) -> None:
    name = request.node.callspec.id
    rejected = ARGO_EXAMPLES_REJECTED.get(name)
    if rejected is None:
        spec = SensorSpec.model_validate(sensor["spec"])
        assert spec.triggers
        assert spec.dependencies
        return
    path, message = rejected
    found = errors_of(sensor["spec"])
    assert f"spec.{path}" in found, found
    assert any(message in m for m in found[f"spec.{path}"]), found


def test_the_example_table_names_only_existing_examples() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip(f"no {EXAMPLES}")
    for name in ARGO_EXAMPLES_REJECTED:
        assert (EXAMPLES / name.split("#")[0]).is_file(), name


def test_argo_examples_with_deprecated_fields_are_listed() -> None:
    path = EXAMPLES / "sensors" / "trigger-with-policy.yaml"
    if not path.is_file():
        pytest.skip(f"no {path}")
    spec = yaml.safe_load(path.read_text())["spec"]
    trigger = spec["triggers"][0]
    trigger["policy"] = trigger["template"].pop("policy")  # repair the known defect
    paths = [p for p, _ in deprecations(SensorSpec.model_validate(spec))]
    assert paths == ["spec.errorOnFailedRound"]


# ----------------------------------------------------------------------- mistakes

Edit = Callable[[Json], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets a dotted path (list indices as numbers) of the spec."""

    def edit(spec: Json) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return edit


_DELETE = object()
HTTP = "triggers.0.template.http"
DEP = "dependencies.0"


def _both(*edits: Edit) -> Edit:
    def edit(spec: Json) -> None:
        for e in edits:
            e(spec)

    return edit


def _rename(path: str, new: str) -> Edit:
    def edit(spec: Json) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[new] = node.pop(last)

    return edit


MISTAKES: list[tuple[str, Edit, str, str]] = [
    # (case, edit of the valid sensor, manifest path reported, piece of the message)
    (
        "misspelled trigger field",
        _rename("triggers.0.retryStrategy", "retryStratgy"),
        "spec.triggers[0].retryStratgy",
        "did you mean 'retryStrategy'?",
    ),
    (
        "misspelled field of a trigger type",
        _rename(f"{HTTP}.method", "methd"),
        f"spec.{HTTP.replace('.0.', '[0].')}.methd",
        "did you mean 'method'?",
    ),
    (
        "wrong case of a dependency field",
        _rename(f"{DEP}.eventName", "eventname"),
        "spec.dependencies[0].eventname",
        "did you mean 'eventName'?",
    ),
    (
        "unknown field without a near name",
        _set("triggers.0.template.http.zzz", 1),
        "spec.triggers[0].template.http.zzz",
        "unknown field 'zzz'",
    ),
    ("wrong type", _set("replicas", "two"), "spec.replicas", "valid integer"),
    (
        "wrong type deep",
        _set(f"{HTTP}.timeout", "soon"),
        "spec.triggers[0].template.http.timeout",
        "integer",
    ),
    (
        "list expected",
        _set(f"{HTTP}.payload", {"a": 1}),
        "spec.triggers[0].template.http.payload",
        "list",
    ),
    (
        "missing required",
        _set(f"{DEP}.eventSourceName", _DELETE),
        "spec.dependencies[0].eventSourceName",
        "Field required",
    ),
    (
        "missing template name",
        _set("triggers.0.template.name", _DELETE),
        "spec.triggers[0].template.name",
        "Field required",
    ),
    (
        "missing lambda payload",
        _set("triggers.4.template.awsLambda.payload", _DELETE),
        "spec.triggers[4].template.awsLambda.payload",
        "Field required",
    ),
    (
        "parameter without dependencyName",
        _set("triggers.0.parameters.0.src", {"dataKey": "body"}),
        "spec.triggers[0].parameters[0].src.dependencyName",
        "Field required",
    ),
    (
        "parameter without dest",
        _set("triggers.0.parameters.0.dest", _DELETE),
        "spec.triggers[0].parameters[0].dest",
        "Field required",
    ),
    (
        "two trigger types in one template",
        _set("triggers.0.template.log", {}),
        "spec.triggers[0].template",
        "not 'http' and 'log'",
    ),
    (
        "no trigger type",
        _set("triggers.1.template.log", _DELETE),
        "spec.triggers[1].template",
        "needs exactly one of http, log, k8s",
    ),
    (
        "mis-cased Argo trigger type",
        _set("triggers.1.template.Pulsar", {"url": "x", "topic": "y"}),
        "spec.triggers[1].template.Pulsar",
        "did you mean 'pulsar'?",
    ),
    (
        "misspelled trigger type",
        _rename("triggers.1.template.log", "Log"),
        "spec.triggers[1].template.Log",
        "did you mean 'log'?",
    ),
    (
        "trigger field inside template",
        _set("triggers.1.template.rateLimit", {"requestsPerUnit": 1}),
        "spec.triggers[1].template.rateLimit",
        "move it out of 'template:'",
    ),
    (
        "unknown dependency in conditions",
        _set("triggers.0.template.conditions", "dep-a && dep-c"),
        "spec.triggers[0].template.conditions",
        "'dep-c' is not a dependency of this Sensor",
    ),
    (
        "misspelled dependency in conditions",
        _set("triggers.0.template.conditions", "dep-a || dep-b"),
        "spec.triggers[0].template.conditions",
        "did you mean 'dep_b'?",
    ),
    (
        "conditions syntax",
        _set("triggers.0.template.conditions", "dep-a & dep_b"),
        "spec.triggers[0].template.conditions",
        "unexpected '&' at position 6",
    ),
    (
        "unbalanced conditions",
        _set("triggers.0.template.conditions", "(dep-a || dep_b"),
        "spec.triggers[0].template.conditions",
        "is not closed",
    ),
    (
        "unknown dependency in a parameter",
        _set("triggers.0.template.http.payload.0.src.dependencyName", "dep-z"),
        "spec.triggers[0].template.http.payload[0].src.dependencyName",
        "'dep-z' is not a dependency",
    ),
    (
        "unknown dependency in a dlqTrigger parameter",
        _set("triggers.0.dlqTrigger.parameters", [_param("nope", dest="log.intervalSeconds")]),
        "spec.triggers[0].dlqTrigger.parameters[0].src.dependencyName",
        "'nope' is not a dependency",
    ),
    (
        "duplicate dependency names",
        _set("dependencies.1.name", "dep-a"),
        "spec.dependencies[1].name",
        "already used by dependencies[0]",
    ),
    (
        "duplicate trigger names",
        _set("triggers.2.template.name", "http"),
        "spec.triggers[2].template.name",
        "already used by triggers[0]",
    ),
    ("no dependencies", _set("dependencies", []), "spec.dependencies", "at least one dependency"),
    ("no triggers", _set("triggers", []), "spec.triggers", "at least one trigger"),
    (
        "bad comparator",
        _set(f"{DEP}.filters.data.1.comparator", "=>"),
        "spec.dependencies[0].filters.data[1].comparator",
        "'>='",
    ),
    (
        "ordering comparator on a string",
        _set(f"{DEP}.filters.data.0.comparator", ">"),
        "spec.dependencies[0].filters.data[0]",
        "only applies to type number",
    ),
    (
        "not a number",
        _set(f"{DEP}.filters.data.1.value", ["ten"]),
        "spec.dependencies[0].filters.data[1]",
        "'ten' is not a number",
    ),
    (
        "bad data type",
        _set(f"{DEP}.filters.data.0.type", "regex"),
        "spec.dependencies[0].filters.data[0].type",
        "'string', 'number' or 'bool'",
    ),
    (
        "bad timezone in time filter",
        _set(f"{DEP}.filters.time.timezone", "Mars/Olympus"),
        "spec.dependencies[0].filters.time.timezone",
        "unknown timezone 'Mars/Olympus'",
    ),
    (
        "bad timezone in conditionsReset",
        _set("triggers.0.template.conditionsReset.0.byTime.timezone", "Europe"),
        "spec.triggers[0].template.conditionsReset[0].byTime.timezone",
        "unknown timezone 'Europe'",
    ),
    (
        "bad clock",
        _set(f"{DEP}.filters.time.start", "25:00:00"),
        "spec.dependencies[0].filters.time.start",
        "hh:mm:ss",
    ),
    (
        "empty time window",
        _set(f"{DEP}.filters.time.stop", "09:00:00"),
        "spec.dependencies[0].filters.time",
        "window is empty",
    ),
    (
        "bad cron",
        _set("triggers.0.template.conditionsReset.0.byTime.cron", "61 * * * *"),
        "spec.triggers[0].template.conditionsReset[0].byTime.cron",
        "'61' is not a valid minute",
    ),
    (
        "cron with six fields",
        _set("triggers.0.template.conditionsReset.0.byTime.cron", "0 0 * * * *"),
        "spec.triggers[0].template.conditionsReset[0].byTime.cron",
        "has 6 fields",
    ),
    (
        "empty context filter",
        _set(f"{DEP}.filters.context", {"id": "x"}),
        "spec.dependencies[0].filters.context",
        "compares nothing",
    ),
    (
        "two transforms",
        _set(f"{DEP}.transform.script", "return event"),
        "spec.dependencies[0].transform",
        "not 'jq' and 'script'",
    ),
    (
        "bad logical operator",
        _set(f"{DEP}.filtersLogicalOperator", "xor"),
        "spec.dependencies[0].filtersLogicalOperator",
        "'and', 'or' or ''",
    ),
    (
        "dlqTrigger with its own dlqTrigger",
        _set("triggers.0.dlqTrigger.dlqTrigger", {"template": {"name": "x", "log": {}}}),
        "spec.triggers[0].dlqTrigger.dlqTrigger",
        "cannot have its own dlqTrigger",
    ),
    (
        "dlqTrigger with at-most-once",
        _set("triggers.0.atLeastOnce", False),
        "spec.triggers[0].atLeastOnce",
        "remove atLeastOnce: false",
    ),
    (
        "dlqTrigger itself at-most-once",
        _set("triggers.0.dlqTrigger.atLeastOnce", False),
        "spec.triggers[0].dlqTrigger.atLeastOnce",
        "remove atLeastOnce: false",
    ),
    (
        "rate limit of zero",
        _set("triggers.0.rateLimit.requestsPerUnit", 0),
        "spec.triggers[0].rateLimit.requestsPerUnit",
        "at least 1",
    ),
    (
        "bad rate limit unit",
        _set("triggers.0.rateLimit.unit", "Day"),
        "spec.triggers[0].rateLimit.unit",
        "'Second', 'Minute' or 'Hour'",
    ),
    (
        "status code out of range",
        _set("triggers.0.policy.status.allow", [200, 99]),
        "spec.triggers[0].policy.status.allow[1]",
        "99 is not an HTTP status code",
    ),
    (
        "k8s policy on an http trigger",
        _set("triggers.0.policy.k8s", {"labels": {"a": "b"}}),
        "spec.triggers[0].policy.k8s",
        "applies to k8s and argoWorkflow triggers",
    ),
    (
        "http method",
        _set(f"{HTTP}.method", "FETCH"),
        "spec.triggers[0].template.http.method",
        "'POST'",
    ),
    (
        "secure header from both a secret and a configmap",
        _set(
            f"{HTTP}.secureHeaders.0.valueFrom.configMapKeyRef",
            {"name": "cm", "key": "k"},
        ),
        "spec.triggers[0].template.http.secureHeaders[0].valueFrom",
        "not 'secretKeyRef' and 'configMapKeyRef'",
    ),
    (
        "two artifact locations",
        _set("triggers.2.template.k8s.source.inline", "kind: Pod"),
        "spec.triggers[2].template.k8s.source",
        "not 'inline' and 'resource'",
    ),
    (
        "liveObject with create",
        _set("triggers.2.template.k8s.operation", "create"),
        "spec.triggers[2].template.k8s",
        "liveObject only applies to operation 'update'",
    ),
    (
        "git path escaping the clone",
        _set(
            "triggers.3.template.argoWorkflow.source",
            {"git": {"url": "https://g/r.git", "cloneDirectory": "/tmp/r", "filePath": "../x"}},
        ),
        "spec.triggers[3].template.argoWorkflow.source.git.filePath",
        "'..' is not allowed",
    ),
    (
        "kafka acks",
        _set("triggers.6.template.kafka.requiredAcks", 2),
        "spec.triggers[6].template.kafka.requiredAcks",
        "use -1 (all replicas), 1 (leader) or 0 (none)",
    ),
    (
        "email port",
        _set("triggers.8.template.email.port", 70000),
        "spec.triggers[8].template.email.port",
        "65535",
    ),
    (
        "bad secret name",
        _set("triggers.5.template.slack.slackToken.name", "Not_A_Name"),
        "spec.triggers[5].template.slack.slackToken.name",
        "not a valid Kubernetes name",
    ),
    (
        "two errors at once",
        _both(_set("replicas", -1), _set("triggers.1.template.log.intervalSeconds", -1)),
        "spec.triggers[1].template.log.intervalSeconds",
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(
    ("edit", "path", "message"),
    [pytest.param(e, p, m, id=case) for case, e, p, m in MISTAKES],
)
def test_each_mistake_is_reported_at_its_manifest_path(edit: Edit, path: str, message: str) -> None:
    spec = copy.deepcopy(every_trigger_type())
    edit(spec)
    found = errors_of(spec)
    assert path in found, f"expected an error at {path}, got {found}"
    assert any(message in m for m in found[path]), found[path]


def test_all_independent_mistakes_are_reported_together() -> None:
    spec = copy.deepcopy(every_trigger_type())
    _set("replicas", -1)(spec)
    _rename(f"{HTTP}.method", "methd")(spec)
    _set("dependencies.1.eventName", _DELETE)(spec)
    assert {
        "spec.replicas",
        "spec.triggers[0].template.http.methd",
        "spec.dependencies[1].eventName",
    } <= set(errors_of(spec))


# ------------------------------------------------------------------ deprecations


def test_deprecated_and_ignored_fields_are_listed_with_their_paths() -> None:
    spec = copy.deepcopy(every_trigger_type())
    spec["errorOnFailedRound"] = True
    spec["dependencies"][0]["filters"]["context"]["id"] = "abc"
    spec["triggers"][6]["template"]["kafka"]["partition"] = 3
    kafka_dlq = copy.deepcopy(spec["triggers"][6]["template"])
    kafka_dlq["name"] = "kafka-dlq"
    spec["triggers"][0]["dlqTrigger"]["template"] = kafka_dlq

    found = dict(deprecations(SensorSpec.model_validate(spec)))

    assert list(found) == [
        "spec.errorOnFailedRound",
        "spec.dependencies[0].filters.context.id",
        "spec.triggers[0].dlqTrigger.template.kafka.partition",
        "spec.triggers[6].template.kafka.partition",
    ]
    assert "partitioningKey" in found["spec.triggers[6].template.kafka.partition"]
    assert "ignored" in found["spec.errorOnFailedRound"]


# ------------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("a", ["a"]),
        ("dep-a && dep-b", ["dep-a", "dep-b"]),
        ("(a || b-1) && !c && a", ["a", "b-1", "c"]),
        ("!!(x_y)", ["x_y"]),
    ],
)
def test_condition_names(expression: str, names: list[str]) -> None:
    assert condition_names(expression) == names


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("", "blank"),
        ("a &&", "ends too early"),
        ("a b", "unexpected 'b' at position 2"),
        ("a || (b", "not closed"),
        ("a)", "unexpected ')' at position 1"),
        ("a == b", "unexpected '=' at position 2"),
        ("(" * 100 + "a" + ")" * 100, "nested deeper"),
    ],
)
def test_condition_syntax_errors_say_what_is_allowed(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match="conditions combine dependency names") as info:
        condition_names(expression)
    assert problem in str(info.value)
