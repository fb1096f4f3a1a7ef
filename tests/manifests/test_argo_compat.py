"""Argo Events compatibility: every Argo manifest loads, or is refused with the exact reason.

The main test runs ``herald validate``'s loader over Argo Events' own examples
(``../shared/testdata/argo-events/examples``, skipped where absent), one file
at a time (the examples are independent samples and reuse names such as
``webhook``). Every EventSource, Sensor and EventBus document must load
without an error, except the examples listed in :data:`DEFECTIVE`, which are
invalid against Argo Events' current Go types and must fail at exactly the
listed fields. RBAC, ConfigMap, Service and Pod documents are skipped with a
note. Types Herald models but cannot run yet load with a warning naming them,
and ``herald run`` refuses them before starting anything.

Table tests cover every one of Argo's 32 EventSource keys and 14 trigger keys:
a minimal spec loads, a mis-cased or misspelt key is an error that names the
right spelling, and the manifest field names are Argo's JSON names.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from bus.spec import (
    ContainerTemplate,
    EventBusSpec,
    JetStreamBus,
    JetStreamConfig,
    KafkaBus,
    KafkaBusConsumerGroup,
    NativeStrategy,
    NATSBus,
    NATSConfig,
    PersistenceStrategy,
)
from eventsources import source as source_registry
from eventsources.amqp import (
    AMQPConsumeConfig,
    AMQPEventSource,
    AMQPExchangeDeclareConfig,
    AMQPQueueBindConfig,
    AMQPQueueDeclareConfig,
)
from eventsources.azure_events_hub import AzureEventsHubEventSource
from eventsources.azure_queue_storage import AzureQueueStorageEventSource
from eventsources.azure_service_bus import AzureServiceBusEventSource
from eventsources.bitbucket import (
    BitbucketAuth,
    BitbucketBasicAuth,
    BitbucketEventSource,
    BitbucketRepository,
)
from eventsources.bitbucketserver import BitbucketServerEventSource, BitbucketServerRepository
from eventsources.emitter import EmitterEventSource
from eventsources.file import FileEventSource
from eventsources.generic import GenericEventSource
from eventsources.gerrit import GerritEventSource
from eventsources.gitlab import GitlabEventSource
from eventsources.hdfs import HDFSEventSource
from eventsources.minio import MinioEventSource, S3Bucket, S3Filter
from eventsources.mns import MNSEventSource
from eventsources.nsq import NSQEventSource
from eventsources.pubsub import PubSubEventSource
from eventsources.pulsar import PulsarEventSource
from eventsources.redis import RedisEventSource
from eventsources.redis_stream import RedisStreamEventSource
from eventsources.resource import ResourceEventSource, ResourceFilter, Selector
from eventsources.sftp import SFTPEventSource
from eventsources.slack import SlackEventSource
from eventsources.sns import SNSEventSource
from eventsources.spec import (
    CONFIG_MODELS,
    EVENT_SOURCE_TYPES,
    EventSourceSpec,
    Service,
    ServiceMetadata,
)
from eventsources.sqs import SQSEventSource
from eventsources.storage_grid import StorageGridEventSource, StorageGridFilter
from eventsources.stripe import StripeEventSource
from eventsources.watch_path import WatchPathConfig
from herald import runner
from herald.loader import LoadResult, load_paths, load_text
from herald.settings import Settings
from sensors.spec import TRIGGER_TYPES, TriggerTemplate
from triggers import base as trigger_registry
from triggers.azure_event_hubs import AzureEventHubsTrigger
from triggers.azure_service_bus import AzureServiceBusTrigger
from triggers.custom import CustomTrigger
from triggers.openwhisk import OpenWhiskTrigger
from triggers.pulsar import PulsarTrigger

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "argo-events" / "examples"
HERALD = str(Path(sys.executable).with_name("herald"))

OURS = ("EventSource", "Sensor", "EventBus")
NOT_VALID_NAME = "is not a valid Kubernetes name"
NOT_A_URL = "is not an http(s) URL"
UNKNOWN = "unknown field"
MODELLED_NOT_RUNNABLE = "is modelled but Herald cannot run it yet: herald run refuses it"

# Argo's examples that are invalid against Argo Events' current Go types (the
# v1alpha1 package at the examples' COMMIT). Argo decodes manifests with Go's
# encoding/json, which drops unknown keys and matches keys case-insensitively,
# and its CRDs preserve unknown fields, so Argo accepts these files and then
# silently ignores or misreads the fields below. Herald refuses each of them at
# exactly these paths, and nowhere else.
DEFECTIVE: dict[str, dict[str, str]] = {
    # Placeholder secret names with '_': a Secret's name is an RFC 1123 DNS
    # subdomain, so Kubernetes refuses the Deployment that mounts it.
    "event-sources/azure-events-hub.yaml": {
        "spec.azureEventsHub.example.sharedAccessKeyName.name": NOT_VALID_NAME,
        "spec.azureEventsHub.example.sharedAccessKey.name": NOT_VALID_NAME,
    },
    # Prose placeholders where StorageGridEventSource needs URLs (webhook.url
    # and apiURL are called) and a secret ref (no Secret has spaces in its name).
    "event-sources/storage-grid.yaml": {
        "spec.storageGrid.example.webhook.url": NOT_A_URL,
        "spec.storageGrid.example.apiURL": NOT_A_URL,
        "spec.storageGrid.example.authToken.name": NOT_VALID_NAME,
        "spec.storageGrid.example.authToken.key": "is not a valid key",
    },
    # StripeEventSource has no namespace field (Argo drops the key), and the
    # apiKey secret name has '_' (see azure-events-hub.yaml).
    "event-sources/stripe.yaml": {
        "spec.stripe.example.namespace": UNKNOWN,
        "spec.stripe.example.apiKey.name": NOT_VALID_NAME,
    },
    # atLeastOnce and policy are fields of Trigger, not of TriggerTemplate:
    # Argo ignores them there, so these examples silently have neither.
    "sensors/trigger-with-atleast-once-semantics.yaml": {
        "spec.triggers[0].template.atLeastOnce": "belongs to the trigger, not to its template",
    },
    "sensors/trigger-with-policy.yaml": {
        "spec.triggers[0].template.policy": "belongs to the trigger, not to its template",
    },
    # The JSON name is openWhisk; Go's case-insensitive matching hides the typo.
    "sensors/trigger-openwhisk.yaml": {
        "spec.triggers[0].template.openwhisk": "did you mean 'openWhisk'?",
    },
    # URLArtifact's JSON name is verifyCert (the same case-insensitive match).
    "sensors/url-sensor.yaml": {
        "spec.triggers[0].template.k8s.source.url.verifycert": "did you mean 'verifyCert'?",
    },
    # ArtifactLocation.configmap is a corev1.ConfigMapKeySelector (name, key,
    # optional): the ConfigMap is read from the Sensor's own namespace.
    "tutorials/03-trigger-sources/sensor-cm.yaml": {
        "spec.triggers[0].template.k8s.source.configmap.namespace": UNKNOWN,
    },
    # GitArtifact replaced sshKeyPath by sshKeySecret and has no namespace.
    "tutorials/03-trigger-sources/sensor-git.yaml": {
        "spec.triggers[0].template.k8s.source.git.sshKeyPath": UNKNOWN,
        "spec.triggers[0].template.k8s.source.git.namespace": UNKNOWN,
    },
    # spec.type predates v1.0: the type is now the key the events sit under.
    "tutorials/06-trigger-conditions/minio-event-source.yaml": {"spec.type": "spec.type"},
    "tutorials/06-trigger-conditions/webhook-event-source.yaml": {"spec.type": "spec.type"},
    "tutorials/09-http-trigger/minio-event-source.yaml": {"spec.type": "spec.type"},
    # HTTPTrigger's serverURL was renamed url, which is required.
    "tutorials/09-http-trigger/sensor-01.yaml": {
        "spec.triggers[0].template.http.serverURL": UNKNOWN,
        "spec.triggers[0].template.http.url": "required field is missing",
    },
    "tutorials/09-http-trigger/sensor-02.yaml": {
        "spec.triggers[0].template.http.serverURL": UNKNOWN,
        "spec.triggers[0].template.http.url": "required field is missing",
    },
}


def _example_files() -> list[Any]:
    if not EXAMPLES.is_dir():
        reason = f"Argo Events examples not found at {EXAMPLES} (shared testdata absent)"
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=reason))]
    files = sorted(
        p for p in EXAMPLES.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
    )
    return [pytest.param(p, id=str(p.relative_to(EXAMPLES))) for p in files]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _runnable_source(key: str) -> bool:
    return key in source_registry.REGISTRY


def _runnable_trigger(key: str) -> bool:
    return key in trigger_registry.REGISTRY


def _errors(result: LoadResult) -> dict[str, str]:
    return {p.path: p.message for p in result.errors}


def _warned(result: LoadResult, path: str) -> list[str]:
    return [p.message for p in result.problems if p.severity == "warning" and p.path == path]


def _check_not_runnable_warnings(result: LoadResult) -> None:
    """Every type that herald run refuses is named by a warning at its key, and only those."""
    for res in result.resources:
        data = res.manifest.model_dump(by_alias=True, exclude_none=True)["spec"]
        if res.kind == "EventSource":
            for key in EVENT_SOURCE_TYPES:
                if data.get(key):
                    found = [
                        m for m in _warned(result, f"spec.{key}") if MODELLED_NOT_RUNNABLE in m
                    ]
                    assert len(found) == (0 if _runnable_source(key) else 1), (res.origin, key)
        elif res.kind == "Sensor":
            for i, trigger in enumerate(data["triggers"]):
                kind = next(k for k in trigger["template"] if k in TRIGGER_TYPES)
                path = f"spec.triggers[{i}].template.{kind}"
                found = [m for m in _warned(result, path) if MODELLED_NOT_RUNNABLE in m]
                assert len(found) == (0 if _runnable_trigger(kind) else 1), (res.origin, kind)


# --------------------------------------------------------------------- Argo's examples


@pytest.mark.parametrize("path", _example_files())
def test_argo_example_loads_or_is_refused_with_the_exact_reason(path: Path) -> None:
    relative = str(path.relative_to(EXAMPLES))
    result = load_paths([path])
    docs = _documents(path)
    ours = [d for d in docs if d.get("kind") in OURS]
    errors = _errors(result)
    expected = DEFECTIVE.get(relative)
    if expected is None:
        assert errors == {}, "\n".join(str(p) for p in result.errors)
        assert len(result.resources) == len(ours)
        _check_not_runnable_warnings(result)
    else:
        assert set(errors) == set(expected), "\n".join(str(p) for p in result.errors)
        for where, fragment in expected.items():
            assert fragment in errors[where], f"{where}: {errors[where]}"
        assert result.resources == []
    # RBAC, ConfigMap, Service, Pod, Workflow...: skipped with a note, not ours.
    notes = [p.message for p in result.problems if p.severity == "note"]
    assert len(notes) == len(docs) - len(ours)
    assert all(m.startswith("skipped: ") and "is not a Herald kind" in m for m in notes)


def test_the_examples_cover_argo_and_the_defect_list_is_current() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip(f"Argo Events examples not found at {EXAMPLES} (shared testdata absent)")
    for name in DEFECTIVE:
        assert (EXAMPLES / name).is_file(), f"{name} is listed as defective but does not exist"
    kinds: dict[str, int] = {}
    source_types: set[str] = set()
    trigger_types: set[str] = set()
    for path in EXAMPLES.rglob("*.y*ml"):
        for doc in _documents(path):
            kind = str(doc.get("kind"))
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "EventSource":
                source_types |= set(doc["spec"]) & set(EVENT_SOURCE_TYPES)
            elif kind == "Sensor":
                for trigger in doc["spec"]["triggers"]:
                    trigger_types |= set(trigger["template"]) & set(TRIGGER_TYPES)
    assert kinds["EventSource"] >= 30
    assert kinds["Sensor"] >= 90
    assert kinds["EventBus"] >= 1
    # Every source type but mns has an example; openWhisk's is mis-cased (DEFECTIVE).
    assert set(EVENT_SOURCE_TYPES) - source_types == {"mns"}
    assert set(TRIGGER_TYPES) - trigger_types == {"kafka", "openWhisk", "pulsar"}


# ------------------------------------------------------------------- the type tables

SECRET: dict[str, Any] = {"name": "creds", "key": "value"}


def _hook(port: int) -> dict[str, Any]:
    return {"port": str(port), "endpoint": "/hook", "method": "POST"}


# A minimal valid config of each of Argo's 32 EventSource types.
MINIMAL_SOURCES: dict[str, dict[str, Any]] = {
    "webhook": _hook(12000),
    "github": {
        "repositories": [{"owner": "argoproj", "names": ["argo-events"]}],
        "webhook": _hook(12001),
        "events": ["*"],
    },
    "kafka": {"url": "kafka:9092", "topic": "orders", "partition": "0"},
    "nats": {"url": "nats://nats:4222", "subject": "orders"},
    "mqtt": {"url": "tcp://mqtt:1883", "topic": "orders", "clientId": "herald"},
    "calendar": {"interval": "10s"},
    "minio": {
        "endpoint": "minio:9000",
        "bucket": {"name": "input"},
        "accessKey": SECRET,
        "secretKey": SECRET,
    },
    "file": {"eventType": "CREATE", "watchPathConfig": {"directory": "/data/", "path": "x.txt"}},
    "resource": {"version": "v1", "resource": "pods", "eventTypes": ["ADD"]},
    "amqp": {
        "url": "amqp://rabbitmq:5672",
        "exchangeName": "events",
        "exchangeType": "fanout",
        "routingKey": "orders",
    },
    "sns": {
        "webhook": _hook(12002),
        "topicArn": "arn:aws:sns:eu-west-1:1:t",
        "region": "eu-west-1",
    },
    "sqs": {"region": "eu-west-1", "queue": "orders"},
    "pubSub": {"topic": "orders"},
    "gitlab": {
        "webhook": _hook(12003),
        "events": ["PushEvents"],
        "accessToken": SECRET,
        "gitlabBaseURL": "https://gitlab.com",
    },
    "hdfs": {
        "directory": "/tmp/",
        "path": "x.txt",
        "type": "CREATE",
        "addresses": ["namenode:8020"],
        "hdfsUser": "root",
    },
    "slack": {"signingSecret": SECRET, "token": SECRET, "webhook": _hook(12004)},
    "storageGrid": {
        "webhook": _hook(12005),
        "events": ["s3:ObjectCreated:*"],
        "topicArn": "arn:urn:sgws:sns::1:orders",
        "bucket": "orders",
        "authToken": SECRET,
        "apiURL": "https://grid.example.com/api/v3",
    },
    "azureEventsHub": {"fqdn": "ns.servicebus.windows.net", "hubName": "orders"},
    "stripe": {"webhook": _hook(12006)},
    "emitter": {"broker": "tcp://emitter:4000", "channelKey": "key", "channelName": "orders"},
    "redis": {"hostAddress": "redis:6379", "channels": ["orders"]},
    "nsq": {"hostAddress": "nsqlookupd:4161", "topic": "orders", "channel": "herald"},
    "pulsar": {"topics": ["orders"], "type": "exclusive", "url": "pulsar://pulsar:6650"},
    "generic": {"url": "my-source:8080", "config": "key: value"},
    "bitbucketserver": {
        "webhook": _hook(12007),
        "bitbucketserverBaseURL": "https://bitbucket.example.com/rest",
    },
    "bitbucket": {
        "webhook": _hook(12008),
        "auth": {"oauthToken": SECRET},
        "repositories": [{"owner": "me", "repositorySlug": "repo"}],
    },
    "redisStream": {"hostAddress": "redis:6379", "streams": ["orders"]},
    "azureServiceBus": {"connectionString": SECRET, "queueName": "orders"},
    "azureQueueStorage": {"connectionString": SECRET, "queueName": "orders"},
    "sftp": {"eventType": "CREATE", "watchPathConfig": {"directory": "/in/", "pathRegexp": ".*"}},
    "gerrit": {
        "webhook": _hook(12009),
        "events": ["patchset-created"],
        "auth": {"username": SECRET, "password": SECRET},
        "gerritBaseURL": "https://gerrit.example.com",
        "projects": ["argo"],
    },
    "mns": {"queue": "orders", "endpoint": "http://1.mns.cn-hangzhou.aliyuncs.com"},
}

# A minimal valid template body of each of Argo's 14 trigger types.
MINIMAL_TRIGGERS: dict[str, dict[str, Any]] = {
    "http": {"url": "https://example.com/hook"},
    "log": {},
    "k8s": {
        "operation": "create",
        "source": {"resource": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}},
    },
    "argoWorkflow": {
        "operation": "submit",
        "source": {"resource": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow"}},
    },
    "awsLambda": {"functionName": "hello", "region": "eu-west-1", "payload": []},
    "slack": {"slackToken": SECRET, "channel": "general", "message": "hi"},
    "kafka": {"url": "kafka:9092", "topic": "out", "payload": []},
    "nats": {"url": "nats://nats:4222", "subject": "out", "payload": []},
    "email": {"host": "smtp.example.com", "port": 587, "to": ["a@example.com"]},
    "custom": {"serverURL": "my-trigger:9000", "spec": {"url": "https://example.com"}},
    "openWhisk": {"host": "openwhisk:443", "actionName": "hello", "payload": []},
    "azureEventHubs": {
        "fqdn": "ns.servicebus.windows.net",
        "hubName": "out",
        "sharedAccessKeyName": SECRET,
        "sharedAccessKey": SECRET,
        "payload": [],
    },
    "azureServiceBus": {"connectionString": SECRET, "queueName": "out", "payload": []},
    "pulsar": {"url": "pulsar://pulsar:6650", "topic": "out", "payload": []},
}


def _event_source(spec: dict[str, Any], name: str = "es") -> str:
    doc = {"apiVersion": "argoproj.io/v1alpha1", "kind": "EventSource", "metadata": {"name": name}}
    return yaml.safe_dump({**doc, "spec": spec})


def _sensor(template: dict[str, Any], **trigger: Any) -> str:
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Sensor",
        "metadata": {"name": "sensor"},
        "spec": {
            "dependencies": [{"name": "dep", "eventSourceName": "es", "eventName": "example"}],
            "triggers": [{"template": {"name": "t", **template}, **trigger}],
        },
    }
    return yaml.safe_dump(doc)


def _variants(key: str) -> list[str]:
    """Mis-cased and misspelt spellings of ``key`` that a user might write."""
    out = [key.upper(), key.lower() if key.lower() != key else key.capitalize()]
    if len(key) >= 5:
        middle = len(key) // 2
        out.append(key[:middle] + key[middle + 1 :])  # one letter dropped
    return out


def test_the_tables_cover_every_argo_key() -> None:
    assert set(MINIMAL_SOURCES) == set(EVENT_SOURCE_TYPES) == set(CONFIG_MODELS)
    assert len(MINIMAL_SOURCES) == 32
    assert set(MINIMAL_TRIGGERS) == set(TRIGGER_TYPES)
    assert len(MINIMAL_TRIGGERS) == 14


@pytest.mark.parametrize("key", list(MINIMAL_SOURCES))
def test_each_event_source_type_loads_and_a_misspelt_key_names_it(key: str) -> None:
    result = load_text(_event_source({key: {"example": MINIMAL_SOURCES[key]}}), "es.yaml")
    assert _errors(result) == {}
    assert [r.kind for r in result.resources] == ["EventSource"]
    warned = [m for m in _warned(result, f"spec.{key}") if MODELLED_NOT_RUNNABLE in m]
    runs = ", ".join(k for k in EVENT_SOURCE_TYPES if _runnable_source(k))
    expected = [] if _runnable_source(key) else [
        f"event source type {key!r} {MODELLED_NOT_RUNNABLE} (it runs {runs})"
    ]  # fmt: skip
    assert warned == expected
    for wrong in _variants(key):
        errors = _errors(load_text(_event_source({wrong: {"example": {}}}), "es.yaml"))
        assert f"spec.{wrong}" in errors, (wrong, errors)
        assert f"did you mean {key!r}?" in errors[f"spec.{wrong}"], (wrong, errors)


@pytest.mark.parametrize("key", list(MINIMAL_TRIGGERS))
def test_each_trigger_type_loads_and_a_misspelt_key_names_it(key: str) -> None:
    result = load_text(_sensor({key: MINIMAL_TRIGGERS[key]}), "sensor.yaml")
    assert _errors(result) == {}
    assert [r.kind for r in result.resources] == ["Sensor"]
    path = f"spec.triggers[0].template.{key}"
    warned = [m for m in _warned(result, path) if MODELLED_NOT_RUNNABLE in m]
    runs = ", ".join(k for k in TRIGGER_TYPES if _runnable_trigger(k))
    expected = [] if _runnable_trigger(key) else [
        f"trigger type {key!r} {MODELLED_NOT_RUNNABLE} (it runs {runs})"
    ]  # fmt: skip
    assert warned == expected
    for wrong in _variants(key):
        errors = _errors(load_text(_sensor({wrong: MINIMAL_TRIGGERS[key]}), "sensor.yaml"))
        where = f"spec.triggers[0].template.{wrong}"
        assert where in errors, (wrong, errors)
        assert f"did you mean {key!r}?" in errors[where], (wrong, errors)


def test_the_openwhisk_spelling_of_argos_example_names_the_right_key() -> None:
    errors = _errors(load_text(_sensor({"openwhisk": MINIMAL_TRIGGERS["openWhisk"]}), "s.yaml"))
    assert errors == {
        "spec.triggers[0].template.openwhisk": "unknown field: did you mean 'openWhisk'? "
        "(a trigger type; key case is exact)"
    }


# Argo's JSON names (pkg/apis/events/v1alpha1) of the models of the types this part added,
# of the EventSource and trigger template fields, and of the EventBus.
ARGO_JSON_NAMES: dict[type[BaseModel], set[str]] = {
    EventSourceSpec: {"eventBusName", "template", "service", "replicas", *EVENT_SOURCE_TYPES},
    Service: {"metadata", "ports", "clusterIP"},
    ServiceMetadata: {"annotations", "labels"},
    MinioEventSource: {
        "endpoint", "bucket", "region", "insecure", "accessKey", "secretKey", "events",
        "filter", "metadata", "caCertificate",
    },
    S3Bucket: {"key", "name"},
    S3Filter: {"prefix", "suffix"},
    FileEventSource: {"eventType", "watchPathConfig", "polling", "metadata", "filter"},
    WatchPathConfig: {"directory", "path", "pathRegexp"},
    SFTPEventSource: {
        "eventType", "watchPathConfig", "username", "password", "sshKeySecret", "address",
        "metadata", "filter", "pollIntervalDuration",
    },
    ResourceEventSource: {
        "namespace", "filter", "group", "version", "resource", "eventTypes", "metadata",
    },
    ResourceFilter: {"prefix", "labels", "fields", "createdBy", "afterStart"},
    Selector: {"key", "operation", "value"},
    AMQPEventSource: {
        "url", "exchangeName", "exchangeType", "routingKey", "connectionBackoff", "jsonBody",
        "tls", "metadata", "exchangeDeclare", "queueDeclare", "queueBind", "consume", "auth",
        "urlSecret", "filter",
    },
    AMQPExchangeDeclareConfig: {"durable", "autoDelete", "internal", "noWait"},
    AMQPQueueDeclareConfig: {"name", "durable", "autoDelete", "exclusive", "noWait", "arguments"},
    AMQPQueueBindConfig: {"noWait"},
    AMQPConsumeConfig: {"consumerTag", "autoAck", "exclusive", "noLocal", "noWait"},
    SNSEventSource: {
        "webhook", "topicArn", "accessKey", "secretKey", "region", "roleARN", "metadata",
        "validateSignature", "filter", "endpoint",
    },
    SQSEventSource: {
        "accessKey", "secretKey", "region", "queue", "waitTimeSeconds", "roleARN", "jsonBody",
        "queueAccountId", "metadata", "dlq", "filter", "endpoint", "sessionToken",
    },
    PubSubEventSource: {
        "projectID", "topicProjectID", "topic", "subscriptionID", "credentialSecret",
        "deleteSubscriptionOnFinish", "jsonBody", "metadata", "filter",
    },
    GerritEventSource: {
        "webhook", "hookName", "events", "auth", "gerritBaseURL", "deleteHookOnFinish",
        "metadata", "projects", "sslVerify", "filter", "maxTries",
    },
    GitlabEventSource: {
        "webhook", "projectID", "events", "accessToken", "enableSSLVerification",
        "gitlabBaseURL", "deleteHookOnFinish", "metadata", "projects", "secretToken", "filter",
        "groups",
    },
    BitbucketEventSource: {
        "deleteHookOnFinish", "metadata", "webhook", "auth", "events", "owner", "projectKey",
        "repositorySlug", "repositories", "filter",
    },
    BitbucketRepository: {"owner", "repositorySlug"},
    BitbucketAuth: {"basic", "oauthToken"},
    BitbucketBasicAuth: {"username", "password"},
    BitbucketServerEventSource: {
        "webhook", "projectKey", "repositorySlug", "projects", "repositories", "events",
        "skipBranchRefsChangedOnOpenPR", "oneEventPerChange", "accessToken", "webhookSecret",
        "bitbucketserverBaseURL", "deleteHookOnFinish", "metadata", "filter", "tls",
        "checkInterval",
    },
    BitbucketServerRepository: {"projectKey", "repositorySlug"},
    HDFSEventSource: {
        "directory", "path", "pathRegexp", "type", "checkInterval", "addresses", "hdfsUser",
        "krbCCacheSecret", "krbKeytabSecret", "krbUsername", "krbRealm", "krbConfigConfigMap",
        "krbServicePrincipalName", "metadata", "filter",
    },
    SlackEventSource: {"signingSecret", "token", "webhook", "metadata", "filter"},
    StorageGridEventSource: {
        "webhook", "events", "filter", "topicArn", "bucket", "region", "authToken", "apiURL",
        "metadata", "tls",
    },
    StorageGridFilter: {"prefix", "suffix"},
    AzureEventsHubEventSource: {
        "fqdn", "sharedAccessKeyName", "sharedAccessKey", "hubName", "metadata", "filter",
    },
    AzureServiceBusEventSource: {
        "connectionString", "queueName", "topicName", "subscriptionName", "tls", "jsonBody",
        "metadata", "filter", "fullyQualifiedNamespace", "deferDelete",
    },
    AzureQueueStorageEventSource: {
        "storageAccountName", "connectionString", "queueName", "jsonBody", "dlq", "metadata",
        "filter", "decodeMessage", "waitTimeInSeconds",
    },
    StripeEventSource: {"webhook", "createWebhook", "apiKey", "eventFilter", "metadata"},
    EmitterEventSource: {
        "broker", "channelKey", "channelName", "username", "password", "connectionBackoff",
        "jsonBody", "tls", "metadata", "filter",
    },
    RedisEventSource: {
        "hostAddress", "password", "namespace", "db", "channels", "tls", "metadata", "filter",
        "jsonBody", "username",
    },
    RedisStreamEventSource: {
        "hostAddress", "password", "db", "streams", "maxMsgCountPerRead", "consumerGroup",
        "tls", "metadata", "filter", "username",
    },
    NSQEventSource: {
        "hostAddress", "topic", "channel", "connectionBackoff", "jsonBody", "tls", "metadata",
        "filter",
    },
    PulsarEventSource: {
        "topics", "type", "url", "tlsTrustCertsSecret", "tlsAllowInsecureConnection",
        "tlsValidateHostname", "tls", "connectionBackoff", "jsonBody", "metadata",
        "authTokenSecret", "filter", "authAthenzParams", "authAthenzSecret",
    },
    MNSEventSource: {"accessKey", "secretKey", "queue", "jsonBody", "endpoint", "filter"},
    GenericEventSource: {
        "url", "config", "insecure", "jsonBody", "metadata", "authSecret", "filter",
    },
    TriggerTemplate: {"name", "conditions", "conditionsReset", *TRIGGER_TYPES},
    CustomTrigger: {
        "serverURL", "secure", "certSecret", "serverNameOverride", "spec", "parameters",
        "payload",
    },
    OpenWhiskTrigger: {
        "host", "version", "namespace", "authToken", "actionName", "payload", "parameters",
    },
    AzureEventHubsTrigger: {
        "fqdn", "hubName", "sharedAccessKeyName", "sharedAccessKey", "payload", "parameters",
    },
    AzureServiceBusTrigger: {
        "connectionString", "queueName", "topicName", "subscriptionName", "tls", "payload",
        "parameters",
    },
    PulsarTrigger: {
        "url", "topic", "parameters", "payload", "tlsTrustCertsSecret",
        "tlsAllowInsecureConnection", "tlsValidateHostname", "tls", "authTokenSecret",
        "connectionBackoff", "authAthenzParams", "authAthenzSecret",
    },
    # The EventBus, as Argo has it (Herald adds ``embedded``, its local bus).
    EventBusSpec: {"nats", "jetstream", "jetstreamExotic", "kafka", "embedded"},
    NATSBus: {"native", "exotic"},
    NativeStrategy: {
        "replicas", "auth", "persistence", "containerTemplate", "metricsContainerTemplate",
        "nodeSelector", "tolerations", "metadata", "securityContext", "maxAge",
        "imagePullSecrets", "serviceAccountName", "priorityClassName", "priority", "affinity",
        "maxMsgs", "maxBytes", "maxSubs", "maxPayload", "raftHeartbeatTimeout",
        "raftElectionTimeout", "raftLeaseTimeout", "raftCommitTimeout",
    },
    NATSConfig: {"url", "clusterID", "auth", "accessSecret"},
    JetStreamBus: {
        "version", "replicas", "containerTemplate", "reloaderContainerTemplate",
        "metricsContainerTemplate", "persistence", "metadata", "nodeSelector", "tolerations",
        "securityContext", "imagePullSecrets", "priorityClassName", "priority", "affinity",
        "serviceAccountName", "settings", "startArgs", "streamConfig", "maxPayload",
    },
    JetStreamConfig: {"url", "accessSecret", "streamConfig", "tls"},
    KafkaBus: {"url", "topic", "version", "tls", "sasl", "consumerGroup", "partitioner"},
    KafkaBusConsumerGroup: {"groupName", "oldest", "rebalanceStrategy"},
    PersistenceStrategy: {"storageClassName", "accessMode", "volumeSize"},
    ContainerTemplate: {"resources", "imagePullPolicy", "securityContext"},
}  # fmt: skip


@pytest.mark.parametrize("model", list(ARGO_JSON_NAMES), ids=lambda m: m.__name__)
def test_manifest_field_names_are_argos_json_names(model: type[BaseModel]) -> None:
    spelled = {f.alias or name for name, f in model.model_fields.items()}
    assert spelled == ARGO_JSON_NAMES[model]
    assert all(f.description for f in model.model_fields.values()), model.__name__


def test_every_source_type_is_a_map_of_its_config_model_in_the_json_schema() -> None:
    fields = {info.alias or name: info for name, info in EventSourceSpec.model_fields.items()}
    for key, model in CONFIG_MODELS.items():
        assert fields[key].annotation == dict[str, model] | None  # type: ignore[valid-type]
    schema = EventSourceSpec.model_json_schema(by_alias=True)
    assert set(EVENT_SOURCE_TYPES) <= set(schema["properties"])
    assert "filter" in schema["$defs"]["MinioEventSource"]["properties"]
    assert schema["properties"]["template"]["x-kubernetes-preserve-unknown-fields"]


# ------------------------------------------------------------- Argo's own rules, per type


def _with(key: str, **changes: Any) -> dict[str, Any]:
    """MINIMAL_SOURCES[key] with ``changes``; a value of None removes the field."""
    merged = {**MINIMAL_SOURCES[key], **changes}
    return {k: v for k, v in merged.items() if v is not None}


def _watch(**config: Any) -> dict[str, Any]:
    return {"eventType": "CREATE", "watchPathConfig": {"directory": "/d", **config}}


_HOOK_URL = {**_hook(1), "url": "https://me.example.com"}

# (type key, config, path below spec.<key>.e, a piece of the message): one row
# per rule of Argo's validate.go files, or that its client enforces at start.
SOURCE_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    ("amqp", _with("amqp", urlSecret=SECRET), "urlSecret", "not both"),
    ("amqp", _with("amqp", url=None), "url", "set url (or urlSecret"),
    ("amqp", _with("amqp", exchangeType="fan"), "exchangeType", "fanout"),
    ("amqp", _with("amqp", auth={"username": SECRET}), "auth.password", "needs password"),
    ("amqp", _with("amqp", tls={}), "tls", "tls has nothing to use"),
    (
        "amqp",
        _with("amqp", queueDeclare={"arguments": "- a"}),
        "queueDeclare.arguments",
        "YAML mapping",
    ),
    ("sns", _with("sns", region=""), "region", "at least 1 character"),
    ("sns", _with("sns", accessKey=SECRET), "secretKey", "together"),
    ("sns", _with("sns", webhook={"endpoint": "/x"}), "webhook.port", "required field is missing"),
    ("sqs", _with("sqs", waitTimeSeconds=21), "waitTimeSeconds", "20"),
    ("pubSub", {}, "topic", "set topic"),
    ("pubSub", {"subscriptionID": "s", "topicProjectID": "p"}, "topicProjectID", "needs topic"),
    ("gitlab", _with("gitlab", events=[]), "events", "at least 1 item"),
    ("gitlab", _with("gitlab", accessToken=None), "accessToken", "required field is missing"),
    ("gitlab", _with("gitlab", gitlabBaseURL="gitlab"), "gitlabBaseURL", NOT_A_URL),
    ("hdfs", _with("hdfs", type="MODIFY"), "type", "CREATE, WRITE"),
    ("hdfs", _with("hdfs", hdfsUser=None), "hdfsUser", "krbKeytabSecret"),
    ("hdfs", _with("hdfs", krbKeytabSecret=SECRET), "krbRealm", "required with krbKeytabSecret"),
    ("hdfs", _with("hdfs", directory="tmp"), "directory", "absolute"),
    ("hdfs", _with("hdfs", checkInterval="1x"), "checkInterval", "not a duration"),
    ("hdfs", _with("hdfs", addresses=[]), "addresses", "at least 1 item"),
    ("file", _watch(), "watchPathConfig.path", "pathRegexp"),
    ("file", _watch(path="a", pathRegexp="b"), "watchPathConfig.pathRegexp", "not both"),
    ("file", _watch(pathRegexp="("), "watchPathConfig.pathRegexp", "not a regular expression"),
    ("file", _watch(path="/abs"), "watchPathConfig.path", "relative"),
    ("file", {**_watch(path="a"), "eventType": "create"}, "eventType", "upper case"),
    ("sftp", _with("sftp", eventType="WRITE"), "eventType", "CREATE or REMOVE"),
    ("sftp", _with("sftp", pollIntervalDuration="0s"), "pollIntervalDuration", "longer than zero"),
    ("slack", _with("slack", signingSecret=None), "signingSecret", "required field is missing"),
    ("storageGrid", _with("storageGrid", bucket=""), "bucket", "at least 1 character"),
    (
        "azureEventsHub",
        _with("azureEventsHub", sharedAccessKey=SECRET),
        "sharedAccessKeyName",
        "together",
    ),
    (
        "azureEventsHub",
        _with("azureEventsHub", hubName=None),
        "hubName",
        "required field is missing",
    ),
    ("stripe", _with("stripe", createWebhook=True), "apiKey", "createWebhook needs apiKey"),
    ("emitter", _with("emitter", channelKey=""), "channelKey", "at least 1 character"),
    ("emitter", _with("emitter", username=SECRET), "password", "together"),
    ("redis", _with("redis", channels=[]), "channels", "at least 1 item"),
    ("redis", _with("redis", tls={"insecureSkipVerify": False}), "tls", "nothing to use"),
    ("nsq", _with("nsq", tls={"clientCertSecret": SECRET}), "tls.clientKeySecret", "together"),
    ("pulsar", _with("pulsar", type=""), "type", "'exclusive' or 'shared'"),
    ("pulsar", _with("pulsar", type=None), "type", "required field is missing"),
    (
        "pulsar",
        _with("pulsar", authTokenSecret=SECRET, authAthenzParams={"a": "b"}),
        "authAthenzParams",
        "set one authentication",
    ),
    (
        "pulsar",
        _with("pulsar", tls={"caCertSecret": SECRET}),
        "tls.clientCertSecret",
        "client certificate",
    ),
    ("generic", _with("generic", config=None), "config", "required field is missing"),
    (
        "bitbucketserver",
        _with("bitbucketserver", bitbucketserverBaseURL=None),
        "bitbucketserverBaseURL",
        "required",
    ),
    (
        "bitbucketserver",
        _with("bitbucketserver", checkInterval="soon"),
        "checkInterval",
        "not a duration",
    ),
    (
        "bitbucketserver",
        _with("bitbucketserver", accessToken=SECRET, projects=["P"], webhook=_HOOK_URL),
        "events",
        "required to register the hooks",
    ),
    ("bitbucketserver", _with("bitbucketserver", projectKey="P"), "repositorySlug", "go together"),
    ("bitbucket", _with("bitbucket", repositories=[]), "repositories", "at least one repository"),
    ("bitbucket", _with("bitbucket", auth={}), "auth", "exactly one of basic or oauthToken"),
    ("bitbucket", _with("bitbucket", owner="me"), "repositorySlug", "go together"),
    (
        "bitbucket",
        _with("bitbucket", webhook=_HOOK_URL),
        "events",
        "required to register the hooks",
    ),
    ("redisStream", _with("redisStream", streams=None), "streams", "required field is missing"),
    ("azureServiceBus", {"queueName": "q"}, "connectionString", "fullyQualifiedNamespace"),
    (
        "azureServiceBus",
        {"connectionString": SECRET},
        "queueName",
        "topicName with subscriptionName",
    ),
    (
        "azureServiceBus",
        {"connectionString": SECRET, "topicName": "t"},
        "subscriptionName",
        "together",
    ),
    ("azureServiceBus", _with("azureServiceBus", topicName="t"), "topicName", "not both"),
    ("azureQueueStorage", {"queueName": "q"}, "connectionString", "storageAccountName"),
    ("gerrit", _with("gerrit", projects=[]), "projects", "at least 1 item"),
    ("gerrit", _with("gerrit", auth={"username": SECRET}), "auth.password", "needs password"),
    ("gerrit", _with("gerrit", webhook=_HOOK_URL), "hookName", "required to register the hook"),
    ("mns", _with("mns", endpoint=None), "endpoint", "required field is missing"),
    ("mns", _with("mns", metadata={"a": "b"}), "metadata", UNKNOWN),
    ("minio", _with("minio", accessKey=None), "accessKey", "required field is missing"),
    ("minio", _with("minio", bucket={"name": ""}), "bucket.name", "at least 1 character"),
    ("resource", _with("resource", eventTypes=["CREATE"]), "eventTypes[0]", "'ADD'"),
    ("resource", _with("resource", version=None), "version", "required field is missing"),
    (
        "resource",
        _with("resource", filter={"labels": [{"key": "a", "operation": "~"}]}),
        "filter.labels[0].operation",
        "notin",
    ),
    (
        "resource",
        _with("resource", filter={"fields": [{"key": "a", "operation": "in"}]}),
        "filter.fields[0].operation",
        "=, ==, !=",
    ),
    (
        "resource",
        _with("resource", filter={"createdBy": "yesterday"}),
        "filter.createdBy",
        "RFC 3339",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "config", "where", "fragment"),
    SOURCE_RULES,
    ids=[f"{r[0]}.{r[2]}" for r in SOURCE_RULES],
)
def test_each_source_rule_is_an_error_at_its_field(
    key: str, config: dict[str, Any], where: str, fragment: str
) -> None:
    errors = _errors(load_text(_event_source({key: {"e": config}}), "es.yaml"))
    path = f"spec.{key}.e.{where}"
    assert path in errors, errors
    assert fragment in errors[path], errors[path]


def _trigger_with(key: str, **changes: Any) -> dict[str, Any]:
    merged = {**MINIMAL_TRIGGERS[key], **changes}
    return {k: v for k, v in merged.items() if v is not None}


_CLIENT_CERT = {"clientCertSecret": SECRET, "clientKeySecret": SECRET}

# (type key, trigger body, path below spec.triggers[0].template, a piece of the message).
TRIGGER_RULES: list[tuple[str, dict[str, Any], str, str]] = [
    ("custom", _trigger_with("custom", spec=None), "custom.spec", "required field is missing"),
    ("custom", _trigger_with("custom", secure=True), "custom", "needs certSecret"),
    ("openWhisk", _trigger_with("openWhisk", payload=None), "openWhisk.payload", "required"),
    (
        "openWhisk",
        _trigger_with("openWhisk", payload=[{"src": {"dependencyName": "dep"}}]),
        "openWhisk.payload[0].dest",
        "required field is missing",
    ),
    ("openWhisk", _trigger_with("openWhisk", actionName=None), "openWhisk.actionName", "required"),
    (
        "azureEventHubs",
        _trigger_with("azureEventHubs", sharedAccessKey=None),
        "azureEventHubs.sharedAccessKey",
        "required field is missing",
    ),
    (
        "azureServiceBus",
        _trigger_with("azureServiceBus", topicName="t"),
        "azureServiceBus",
        "exactly one of queueName, topicName",
    ),
    (
        "azureServiceBus",
        _trigger_with("azureServiceBus", connectionString=None),
        "azureServiceBus.connectionString",
        "required field is missing",
    ),
    (
        "pulsar",
        _trigger_with("pulsar", authTokenSecret=SECRET, tls=_CLIENT_CERT),
        "pulsar",
        "set one authentication, not authTokenSecret and tls",
    ),
    ("pulsar", _trigger_with("pulsar", tls={"enabled": True}), "pulsar", "client certificate"),
    ("pulsar", _trigger_with("pulsar", topic=None), "pulsar.topic", "required field is missing"),
    (
        "pulsar",
        _trigger_with("pulsar", payload=[{"src": {"dependencyName": "nope"}, "dest": "x"}]),
        "pulsar.payload[0].src.dependencyName",
        "is not a dependency of this Sensor",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("key", "body", "where", "fragment"),
    TRIGGER_RULES,
    ids=[f"{r[0]}:{r[2]}" for r in TRIGGER_RULES],
)
def test_each_trigger_rule_is_an_error_at_its_field(
    key: str, body: dict[str, Any], where: str, fragment: str
) -> None:
    errors = _errors(load_text(_sensor({key: body}), "sensor.yaml"))
    path = f"spec.triggers[0].template.{where}"
    assert path in errors, errors
    assert fragment in errors[path], errors[path]


def test_status_policy_applies_to_openwhisk_but_not_to_pulsar() -> None:
    policy = {"status": {"allow": [200]}}
    openwhisk = load_text(_sensor({"openWhisk": MINIMAL_TRIGGERS["openWhisk"]}, policy=policy), "s")
    assert _errors(openwhisk) == {}
    pulsar = _errors(load_text(_sensor({"pulsar": MINIMAL_TRIGGERS["pulsar"]}, policy=policy), "s"))
    assert (
        "applies to http and awsLambda and openWhisk triggers, not to 'pulsar'"
        in (pulsar["spec.triggers[0].policy.status"])
    )


def test_http_push_types_share_the_port_and_endpoint_check() -> None:
    spec = {
        "gitlab": {"gl": _with("gitlab", webhook=_hook(13000))},
        "slack": {"sl": _with("slack", webhook=_hook(13000))},
    }
    errors = _errors(load_text(_event_source(spec), "es.yaml"))
    assert list(errors) == ["spec.slack.sl.webhook.endpoint"]
    assert "already used by gitlab.gl.webhook" in errors["spec.slack.sl.webhook.endpoint"]


def test_deprecated_and_ignored_fields_load_with_a_warning() -> None:
    spec = {
        "gitlab": {"gl": _with("gitlab", projectID="42")},
        "bitbucket": {
            "bb": _with(
                "bitbucket", repositories=None, owner="me", repositorySlug="repo", projectKey="P"
            )
        },
        "redis": {"rd": _with("redis", password=SECRET)},
        "sqs": {"q": _with("sqs", sessionToken=SECRET)},
        "azureServiceBus": {"sb": _with("azureServiceBus", fullyQualifiedNamespace="n.example")},
    }
    result = load_text(_event_source(spec), "es.yaml")
    assert _errors(result) == {}
    warnings = {p.path: p.message for p in result.problems if p.severity == "warning"}
    assert "write projects: ['42'] instead" in warnings["spec.gitlab.gl.projectID"]
    assert "[{owner: me, repositorySlug: repo}]" in warnings["spec.bitbucket.bb.owner"]
    assert "never used" in warnings["spec.bitbucket.bb.projectKey"]
    assert "Argo Events refuses password without namespace" in warnings["spec.redis.rd.namespace"]
    assert "ignored without accessKey" in warnings["spec.sqs.q.sessionToken"]
    assert (
        "ignored when connectionString is set"
        in (warnings["spec.azureServiceBus.sb.fullyQualifiedNamespace"])
    )
    # Argo deploys sqs, gitlab and bitbucket with a rolling update, the others not.
    assert "mixes types" in warnings["spec"]
    assert "rolling update (sqs, gitlab, bitbucket)" in warnings["spec"]
    assert "one pod at a time (redis, azureServiceBus)" in warnings["spec"]


def test_trigger_fields_argo_ignores_load_with_a_warning() -> None:
    body = _trigger_with("azureServiceBus", subscriptionName="s")
    result = load_text(_sensor({"azureServiceBus": body}), "sensor.yaml")
    assert _errors(result) == {}
    path = "spec.triggers[0].template.azureServiceBus.subscriptionName"
    assert len(_warned(result, path)) == 1
    assert "remove subscriptionName" in _warned(result, path)[0]


def test_an_unknown_field_inside_a_new_type_is_named() -> None:
    config = _with("azureQueueStorage", queuename="x")
    errors = _errors(load_text(_event_source({"azureQueueStorage": {"e": config}}), "es.yaml"))
    assert list(errors) == ["spec.azureQueueStorage.e.queuename"]
    assert "did you mean 'queueName'?" in errors["spec.azureQueueStorage.e.queuename"]


def test_a_type_map_without_events_is_no_event() -> None:
    with pytest.raises(ValidationError, match="needs at least one event"):
        EventSourceSpec.model_validate({"sqs": {}})


# ------------------------------------------------------- herald run refuses, up front

NOT_RUNNABLE = """\
apiVersion: argoproj.io/v1alpha1
kind: EventSource
metadata: {name: queue}
spec:
  sqs:
    orders: {region: eu-west-1, queue: orders}
---
apiVersion: argoproj.io/v1alpha1
kind: Sensor
metadata: {name: relay}
spec:
  dependencies: [{name: order, eventSourceName: queue, eventName: orders}]
  triggers:
    - template:
        name: to-pulsar
        pulsar: {url: "pulsar://pulsar:6650", topic: out, payload: []}
"""


def _refusals(manifest: Path) -> list[str]:
    triggers = ", ".join(sorted(trigger_registry.REGISTRY))
    sources = ", ".join(sorted(source_registry.REGISTRY))
    return [
        f"{manifest}#2: spec.triggers[0].template.pulsar: trigger type 'pulsar' cannot run in "
        f"this version of Herald (runnable: {triggers})",
        f"{manifest}#1: spec.sqs.orders: event source type 'sqs' cannot run in this version "
        f"of Herald (runnable: {sources})",
    ]


async def test_herald_run_refuses_types_it_cannot_run_before_starting_anything(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = tmp_path / "argo.yaml"
    manifest.write_text(NOT_RUNNABLE)
    result = load_paths([manifest])
    assert result.ok
    settings = Settings(state_dir=tmp_path / "state", secrets_dir=tmp_path / "secrets")
    with caplog.at_level(logging.ERROR, logger="herald.run"):
        code = await asyncio.wait_for(runner.run(result, settings, asyncio.Event()), 30)
    assert code == 2
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cannot run")]
    assert refused == [f"cannot run: {line}" for line in _refusals(manifest)]
    assert not (tmp_path / "state").exists()  # no bus was opened


def test_the_cli_validates_with_warnings_and_run_exits_2(tmp_path: Path) -> None:
    manifest = tmp_path / "argo.yaml"
    manifest.write_text(NOT_RUNNABLE)
    validate = subprocess.run(
        [HERALD, "validate", str(manifest)], capture_output=True, text=True, timeout=30
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    printed = validate.stdout + validate.stderr
    assert f"{manifest}#1: spec.sqs: warning: event source type 'sqs' {MODELLED_NOT_RUNNABLE}" in (
        printed
    )
    assert f"{manifest}#2: spec.triggers[0].template.pulsar: warning: trigger type 'pulsar'" in (
        printed
    )
    state = tmp_path / "state"
    run = subprocess.run(
        [HERALD, "run", str(manifest), "--state-dir", str(state), "--bus", "memory://"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    for line in _refusals(manifest):
        assert line in run.stderr, run.stderr
    assert not state.exists()
