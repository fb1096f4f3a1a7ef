"""The k8s trigger against a Kubernetes API (kmock) through the official client.

Every object created, updated, patched or deleted is read back from the
server. The sources other than ``resource`` are read from real places: a file,
a ConfigMap directory, a local HTTP server, an S3 bucket on moto and a local
git repository.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiobotocore.session  # type: ignore[import-untyped]
import pytest
import yaml
from aiohttp import web

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from sensors.spec import K8SResourcePolicy
from tests.triggers.kube_fixture import Kube, write_kubeconfig
from triggers.base import TriggerContext, factory
from triggers.k8s import K8sTriggerRunner, StandardK8STrigger, merge
from triggers.kube import ACTION_TIMESTAMP_LABEL, SENSOR_LABEL, TRIGGER_LABEL

ROLLOUTS = "argoproj.io/v1alpha1/rollouts"
CONFIGMAPS = "v1/configmaps"
DEPLOYMENTS = "apps/v1/deployments"
CLUSTER_TEMPLATES = "argoproj.io/v1alpha1/clusterworkflowtemplates"

RELEASE = {
    "headers": {"X-Github-Event": ["release"]},
    "body": {"action": "published", "release": {"tag_name": "v1.2.3"}, "replicas": 4},
}


def event(data: Any = RELEASE, id: str = "evt-1") -> Event:
    return Event.new(source="github", type="github", subject="release", data=data, id=id)


EVENTS = {"release": event()}


def rollout(name: str = "app", image: str = "ghcr.io/acme/app:v1.0.0") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                }
            },
        },
    }


def configmap(name: str = "settings", **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def param(dest: str, operation: str = "overwrite", **src: Any) -> dict[str, Any]:
    return {"src": {"dependencyName": "release", **src}, "dest": dest, "operation": operation}


@pytest.fixture
async def kctx(kube: Kube, secrets: SecretStore) -> AsyncIterator[TriggerContext]:
    """A trigger context pointing at the test API server."""
    ctx = TriggerContext(
        sensor="releases", trigger="deploy", secrets=secrets, kubeconfig=str(kube.kubeconfig)
    )
    try:
        yield ctx
    finally:
        await ctx.http().close()


async def fire(
    context: TriggerContext, k8s: Mapping[str, Any], events: Mapping[str, Event] = EVENTS
) -> str:
    spec = StandardK8STrigger.model_validate(k8s)
    runner = K8sTriggerRunner(spec, context)
    try:
        return await runner.fire(spec, events)
    finally:
        await runner.close()


def policy(**fields: Any) -> K8SResourcePolicy:
    return K8SResourcePolicy.model_validate(fields)


# ------------------------------------------------------------------------- create


async def test_create_adds_argo_labels_and_defaults_the_namespace(
    kube: Kube, kctx: TriggerContext
) -> None:
    outcome = await fire(kctx, {"source": {"resource": rollout()}})

    stored = kube.get(ROLLOUTS, "default", "app")
    assert stored is not None
    assert outcome == "created Rollout default/app"
    labels = stored["metadata"]["labels"]
    assert labels[SENSOR_LABEL] == "releases"
    assert labels[TRIGGER_LABEL] == "deploy"
    assert labels[ACTION_TIMESTAMP_LABEL].isdigit()
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "ghcr.io/acme/app:v1.0.0"
    )
    assert kube.api.requests[-1].headers["Authorization"] == "Bearer test-token"


async def test_create_with_generate_name_and_resource_parameters(
    kube: Kube, kctx: TriggerContext
) -> None:
    source = configmap()
    del source["metadata"]["name"]
    source["metadata"]["generateName"] = "release-"
    source["metadata"]["namespace"] = "apps"
    outcome = await fire(
        kctx,
        {
            "source": {"resource": source},
            "parameters": [
                param("data.tag", dataKey="body.release.tag_name"),
                param("metadata.labels.action", dataKey="body.action"),
            ],
        },
    )

    name = outcome.removeprefix("created ConfigMap apps/")
    assert name.startswith("release-")
    stored = kube.get(CONFIGMAPS, "apps", name)
    assert stored is not None
    assert stored["data"] == {"tag": "v1.2.3"}
    assert stored["metadata"]["labels"]["action"] == "published"
    assert stored["metadata"]["labels"][TRIGGER_LABEL] == "deploy"


async def test_the_manifest_resource_is_not_changed_between_firings(
    kube: Kube, kctx: TriggerContext
) -> None:
    spec = StandardK8STrigger.model_validate(
        {
            "source": {"resource": {**configmap(), "metadata": {"generateName": "x-"}}},
            "parameters": [param("data.tag", dataKey="body.release.tag_name")],
        }
    )
    runner = K8sTriggerRunner(spec, kctx)
    try:
        await runner.fire(spec, EVENTS)
        await runner.fire(spec, {"release": event({"body": {"release": {"tag_name": "v2"}}})})
    finally:
        await runner.close()

    assert spec.source.resource == {**configmap(), "metadata": {"generateName": "x-"}}
    tags = sorted(
        obj["data"]["tag"] for (res, _, _), obj in kube.api.objects.items() if not obj.deleted
    )
    assert tags == ["v1.2.3", "v2"]


async def test_create_of_an_existing_object_is_permanent(kube: Kube, kctx: TriggerContext) -> None:
    kube.put(CONFIGMAPS, "default", configmap(a="1"))

    with pytest.raises(PermanentTriggerError, match=r"409 AlreadyExists.*use operation update"):
        await fire(kctx, {"source": {"resource": configmap(a="2")}})

    assert kube.get(CONFIGMAPS, "default", "settings")["data"] == {"a": "1"}  # type: ignore[index]


async def test_cluster_scoped_kinds_are_created_without_namespace(
    kube: Kube, kctx: TriggerContext
) -> None:
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ClusterWorkflowTemplate",
        "metadata": {"name": "shared", "namespace": "ignored"},
        "spec": {"entrypoint": "main"},
    }

    outcome = await fire(kctx, {"source": {"resource": template}})

    assert outcome == "created ClusterWorkflowTemplate shared"
    stored = kube.get(CLUSTER_TEMPLATES, None, "shared")
    assert stored is not None
    assert "namespace" not in stored["metadata"]
    assert kube.api.requests[-1].url.path == "/apis/argoproj.io/v1alpha1/clusterworkflowtemplates"


async def test_context_namespace_overrides_the_kubeconfig(kube: Kube, secrets: SecretStore) -> None:
    ctx = TriggerContext(
        sensor="s", trigger="t", secrets=secrets, kubeconfig=str(kube.kubeconfig), namespace="ops"
    )
    try:
        await fire(ctx, {"source": {"resource": configmap()}})
    finally:
        await ctx.http().close()

    assert kube.get(CONFIGMAPS, "ops", "settings") is not None


async def test_kubeconfig_context_namespace_is_the_default(
    kube: Kube, secrets: SecretStore, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "other", kube.url, namespace="team-b")
    ctx = TriggerContext(sensor="s", trigger="t", secrets=secrets, kubeconfig=str(kubeconfig))
    try:
        await fire(ctx, {"source": {"resource": configmap()}})
    finally:
        await ctx.http().close()

    assert kube.get(CONFIGMAPS, "team-b", "settings") is not None


# ------------------------------------------------------------------------- update


async def test_update_merges_the_source_into_the_live_object(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.put(ROLLOUTS, "default", {**rollout(), "metadata": {"name": "app", "labels": {"a": "1"}}})
    change = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "app", "labels": {"b": "2"}},
        "spec": {"replicas": 0, "paused": False},
    }

    outcome = await fire(kctx, {"operation": "update", "source": {"resource": change}})

    stored = kube.get(ROLLOUTS, "default", "app")
    assert stored is not None
    assert outcome == "updated Rollout default/app"
    assert stored["metadata"]["labels"] == {"a": "1", "b": "2"}
    # Unlike Argo (mergo), zero values in the source are written.
    assert stored["spec"]["replicas"] == 0
    assert stored["spec"]["paused"] is False
    assert stored["spec"]["strategy"] == rollout()["spec"]["strategy"]
    assert kube.api.requests[-1].method.value == "PUT"


async def test_update_creates_an_absent_object_with_labels(
    kube: Kube, kctx: TriggerContext
) -> None:
    outcome = await fire(kctx, {"operation": "update", "source": {"resource": configmap(a="1")}})

    assert outcome == "created ConfigMap default/settings (update: absent)"
    stored = kube.get(CONFIGMAPS, "default", "settings")
    assert stored is not None
    assert stored["metadata"]["labels"][SENSOR_LABEL] == "releases"


async def test_update_live_object_applies_parameters_to_the_object_in_the_cluster(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.put(ROLLOUTS, "prod", rollout())
    stub = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
    stub["metadata"] = {"name": "app", "namespace": "prod"}  # type: ignore[assignment]

    outcome = await fire(
        kctx,
        {
            "operation": "update",
            "liveObject": True,
            "source": {"resource": stub},
            "parameters": [param("spec.replicas", dataKey="body.replicas", useRawData=True)],
        },
    )

    stored = kube.get(ROLLOUTS, "prod", "app")
    assert stored is not None
    assert outcome == "updated Rollout prod/app (live object)"
    assert stored["spec"]["replicas"] == 4
    assert stored["spec"]["template"] == rollout()["spec"]["template"]


async def test_update_live_object_that_does_not_exist_is_permanent(kctx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match=r"liveObject: Rollout default/app does not"):
        await fire(
            kctx,
            {"operation": "update", "liveObject": True, "source": {"resource": rollout()}},
        )


async def test_update_conflict_is_temporary(kube: Kube, kctx: TriggerContext) -> None:
    kube.put(CONFIGMAPS, "default", configmap(a="1"))
    kube.api.fail("PUT", 409, "Conflict", "the object has been modified")

    with pytest.raises(TemporaryTriggerError, match=r"409 Conflict"):
        await fire(kctx, {"operation": "update", "source": {"resource": configmap(a="2")}})


def test_merge_keeps_current_values_under_nulls_and_replaces_lists() -> None:
    current = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    change = {"a": {"y": [3], "z": None}, "b": None, "c": False}

    assert merge(current, change) == {"a": {"x": 1, "y": [3]}, "b": 1, "c": False}


# ------------------------------------------------------------------------- patch


async def test_merge_patch_changes_only_the_given_fields(kube: Kube, kctx: TriggerContext) -> None:
    kube.put(CONFIGMAPS, "default", configmap(a="1", b="2"))
    change = {**configmap(), "data": {"b": "3"}}

    outcome = await fire(kctx, {"operation": "patch", "source": {"resource": change}})

    assert outcome == "patched ConfigMap default/settings (application/merge-patch+json)"
    assert kube.get(CONFIGMAPS, "default", "settings")["data"] == {"a": "1", "b": "3"}  # type: ignore[index]
    request = kube.api.requests[-1]
    assert request.headers["Content-Type"] == "application/merge-patch+json"


async def test_strategic_merge_patch_merges_containers_by_name(
    kube: Kube, kctx: TriggerContext
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]},
                        {"name": "sidecar", "image": "proxy:1"},
                    ]
                }
            }
        },
    }
    kube.put(DEPLOYMENTS, "default", deployment)
    change = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}},
    }

    await fire(
        kctx,
        {
            "operation": "patch",
            "patchStrategy": "application/strategic-merge-patch+json",
            "source": {"resource": change},
        },
    )

    containers = kube.get(DEPLOYMENTS, "default", "web")["spec"]["template"]["spec"]["containers"]  # type: ignore[index]
    assert containers == [
        {"name": "web", "image": "web:2", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "proxy:1"},
    ]


async def test_json_patch_updates_a_rollout_image_from_the_event(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.put(ROLLOUTS, "default", rollout())
    source = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "app"},
        "patch": [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": "ghcr.io/acme/app:",
            }
        ],
    }

    outcome = await fire(
        kctx,
        {
            "operation": "patch",
            "patchStrategy": "application/json-patch+json",
            "source": {"resource": source},
            "parameters": [
                param("patch.0.value", dataKey="body.release.tag_name", operation="append")
            ],
        },
    )

    stored = kube.get(ROLLOUTS, "default", "app")
    assert stored is not None
    assert outcome == "patched Rollout default/app (application/json-patch+json)"
    container = stored["spec"]["template"]["spec"]["containers"][0]
    assert container == {
        "name": "app",
        "image": "ghcr.io/acme/app:v1.2.3",
        "ports": [{"containerPort": 8080}],
    }


async def test_json_patch_of_an_absent_object_is_permanent(kctx: TriggerContext) -> None:
    source = {**configmap(), "patch": [{"op": "add", "path": "/data/a", "value": "1"}]}
    del source["data"]

    with pytest.raises(PermanentTriggerError, match="a JSON patch cannot create it"):
        await fire(
            kctx,
            {
                "operation": "patch",
                "patchStrategy": "application/json-patch+json",
                "source": {"resource": source},
            },
        )


async def test_json_patch_needs_its_operations_in_patch(kctx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match=r"'patch', a list.*unexpected fields: data"):
        await fire(
            kctx,
            {
                "operation": "patch",
                "patchStrategy": "application/json-patch+json",
                "source": {"resource": configmap(a="1")},
            },
        )


async def test_patch_creates_an_absent_object(kube: Kube, kctx: TriggerContext) -> None:
    outcome = await fire(kctx, {"operation": "patch", "source": {"resource": configmap(a="1")}})

    assert outcome == "created ConfigMap default/settings (patch: absent)"
    stored = kube.get(CONFIGMAPS, "default", "settings")
    assert stored is not None
    assert stored["data"] == {"a": "1"}
    assert stored["metadata"]["labels"][TRIGGER_LABEL] == "deploy"


async def test_server_side_apply_sends_a_field_manager_and_creates_or_updates(
    kube: Kube, kctx: TriggerContext
) -> None:
    k8s = {"operation": "patch", "patchStrategy": "application/apply-patch+yaml"}

    await fire(kctx, {**k8s, "source": {"resource": configmap(a="1")}})
    await fire(kctx, {**k8s, "source": {"resource": configmap(b="2")}})

    assert kube.get(CONFIGMAPS, "default", "settings")["data"] == {"a": "1", "b": "2"}  # type: ignore[index]
    request = kube.api.requests[-1]
    assert request.params == {"fieldManager": "herald", "force": "true"}
    assert request.headers["Content-Type"] == "application/apply-patch+yaml"


async def test_strategic_merge_on_a_custom_resource_is_permanent_with_a_hint(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.put(ROLLOUTS, "default", rollout())
    kube.api.fail(
        "PATCH", 415, "UnsupportedMediaType", "the body of the request was in an unknown format"
    )

    with pytest.raises(PermanentTriggerError, match="custom resources take merge-patch"):
        await fire(
            kctx,
            {
                "operation": "patch",
                "patchStrategy": "application/strategic-merge-patch+json",
                "source": {"resource": rollout()},
            },
        )


# ------------------------------------------------------------------------- delete


async def test_delete_removes_the_object(kube: Kube, kctx: TriggerContext) -> None:
    kube.put(CONFIGMAPS, "default", configmap(a="1"))

    outcome = await fire(kctx, {"operation": "delete", "source": {"resource": configmap()}})

    assert outcome == "deleted ConfigMap default/settings"
    assert kube.get(CONFIGMAPS, "default", "settings") is None


async def test_delete_of_an_absent_object_succeeds_and_says_so(kctx: TriggerContext) -> None:
    outcome = await fire(kctx, {"operation": "delete", "source": {"resource": configmap()}})

    assert outcome == "nothing to delete: ConfigMap default/settings does not exist"


# ------------------------------------------------------------------------- failures


async def test_an_unserved_kind_is_permanent_and_names_the_crd(kctx: TriggerContext) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}

    with pytest.raises(PermanentTriggerError, match="install the CRD"):
        await fire(kctx, {"source": {"resource": widget}})


async def test_an_object_without_kind_is_permanent(kctx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="the object has no kind"):
        await fire(kctx, {"source": {"resource": {"apiVersion": "v1", "metadata": {}}}})


async def test_update_without_a_name_is_permanent(kctx: TriggerContext) -> None:
    source = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}}
    with pytest.raises(PermanentTriggerError, match=r"update needs metadata\.name"):
        await fire(kctx, {"operation": "update", "source": {"resource": source}})


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (500, "InternalError", TemporaryTriggerError),
        (503, "ServiceUnavailable", TemporaryTriggerError),
        (403, "Forbidden", PermanentTriggerError),
        (422, "Invalid", PermanentTriggerError),
        (400, "BadRequest", PermanentTriggerError),
    ],
)
async def test_api_answers_are_sorted_into_temporary_and_permanent(
    kube: Kube,
    kctx: TriggerContext,
    status: int,
    reason: str,
    error: type[Exception],
) -> None:
    kube.api.fail("POST", status, reason, "refused by the test")

    with pytest.raises(error, match=rf"create ConfigMap default/settings: {status} {reason}"):
        await fire(kctx, {"source": {"resource": configmap()}})


async def test_throttling_is_temporary_and_carries_retry_after(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.api.fail("POST", 429, "TooManyRequests", "slow down", retry_after=7)

    with pytest.raises(TemporaryTriggerError) as caught:
        await fire(kctx, {"source": {"resource": configmap()}})

    assert caught.value.retry_after == 7.0


async def test_403_says_what_to_grant(kube: Kube, kctx: TriggerContext) -> None:
    kube.api.fail("POST", 403, "Forbidden", "configmaps is forbidden")

    with pytest.raises(PermanentTriggerError, match="grant it in a Role"):
        await fire(kctx, {"source": {"resource": configmap()}})


async def test_an_unreachable_api_server_is_temporary(secrets: SecretStore, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{port}")
    ctx = TriggerContext(sensor="s", trigger="t", secrets=secrets, kubeconfig=str(kubeconfig))

    with pytest.raises(TemporaryTriggerError, match="connect to the Kubernetes API"):
        await fire(ctx, {"source": {"resource": configmap()}})


async def test_a_missing_kubeconfig_is_permanent(secrets: SecretStore, tmp_path: Path) -> None:
    ctx = TriggerContext(
        sensor="s", trigger="t", secrets=secrets, kubeconfig=str(tmp_path / "absent")
    )

    with pytest.raises(PermanentTriggerError, match="no usable configuration"):
        await fire(ctx, {"source": {"resource": configmap()}})


# ------------------------------------------------------------------------- policy


async def test_policy_labels_already_present_succeed_at_the_first_check(
    kube: Kube, kctx: TriggerContext
) -> None:
    kctx.k8s_policy = policy(labels={TRIGGER_LABEL: "deploy"})

    outcome = await fire(kctx, {"source": {"resource": configmap()}})

    assert outcome.endswith(f"labels {TRIGGER_LABEL}=deploy reached after 1 check(s)")


async def test_policy_waits_for_labels_a_controller_sets_later(
    kube: Kube, kctx: TriggerContext
) -> None:
    kube.put(ROLLOUTS, "default", rollout())
    kctx.k8s_policy = policy(
        labels={"rollouts.argoproj.io/phase": "Healthy"},
        backoff={"duration": "20ms", "steps": 200},
        errorOnBackoffTimeout=True,
    )
    change = {**rollout(), "spec": {"replicas": 3}}
    firing = asyncio.create_task(
        fire(kctx, {"operation": "update", "source": {"resource": change}}), name="fire"
    )
    async with asyncio.timeout(20):
        await kube.api.wait_for_requests("PUT", 1)
    kube.set_labels(ROLLOUTS, "default", "app", **{"rollouts.argoproj.io/phase": "Healthy"})

    outcome = await firing

    assert "labels rollouts.argoproj.io/phase=Healthy reached after" in outcome
    assert kube.get(ROLLOUTS, "default", "app")["spec"]["replicas"] == 3  # type: ignore[index]


async def test_policy_timeout_fails_permanently_with_error_on_backoff_timeout(
    kctx: TriggerContext,
) -> None:
    kctx.k8s_policy = policy(
        labels={"phase": "Done"},
        backoff={"duration": "1ms", "steps": 3},
        errorOnBackoffTimeout=True,
    )

    with pytest.raises(PermanentTriggerError, match=r"did not reach labels phase=Done within 3"):
        await fire(kctx, {"source": {"resource": configmap()}})


async def test_policy_timeout_is_ignored_without_error_on_backoff_timeout(
    kctx: TriggerContext,
) -> None:
    kctx.k8s_policy = policy(labels={"phase": "Done"}, backoff={"duration": "1ms", "steps": 2})

    outcome = await fire(kctx, {"source": {"resource": configmap()}})

    assert outcome.startswith("created ConfigMap default/settings; policy.k8s:")
    assert outcome.endswith("(ignored: errorOnBackoffTimeout is not set)")


def test_policy_with_delete_is_refused_when_built(kctx: TriggerContext) -> None:
    kctx.k8s_policy = policy(labels={"a": "b"})
    spec = StandardK8STrigger.model_validate(
        {"operation": "delete", "source": {"resource": configmap()}}
    )

    with pytest.raises(ConfigError, match="a deleted object has none"):
        K8sTriggerRunner(spec, kctx)


# ------------------------------------------------------------------------- sources


async def test_source_inline_yaml(kube: Kube, kctx: TriggerContext) -> None:
    inline = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inline\ndata:\n  a: '1'\n"

    await fire(kctx, {"source": {"inline": inline}})

    assert kube.get(CONFIGMAPS, "default", "inline")["data"] == {"a": "1"}  # type: ignore[index]


async def test_source_inline_that_is_not_one_object_is_permanent(kctx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="found 2 documents"):
        await fire(kctx, {"source": {"inline": "a: 1\n---\nb: 2\n"}})
    with pytest.raises(PermanentTriggerError, match="expected an object"):
        await fire(kctx, {"source": {"inline": "- a\n- b\n"}})
    with pytest.raises(PermanentTriggerError, match="not valid YAML"):
        await fire(kctx, {"source": {"inline": "a: [1\n"}})


async def test_source_file_is_read_at_every_firing(
    kube: Kube, kctx: TriggerContext, tmp_path: Path
) -> None:
    path = tmp_path / "cm.yaml"
    k8s = {"operation": "update", "source": {"file": {"path": str(path)}}}
    path.write_text(yaml.safe_dump(configmap("from-file", v="1")))
    await fire(kctx, k8s)
    path.write_text(yaml.safe_dump(configmap("from-file", v="2")))
    await fire(kctx, k8s)

    assert kube.get(CONFIGMAPS, "default", "from-file")["data"] == {"v": "2"}  # type: ignore[index]


async def test_source_file_that_is_missing_is_permanent(
    kctx: TriggerContext, tmp_path: Path
) -> None:
    with pytest.raises(PermanentTriggerError, match="does not exist"):
        await fire(kctx, {"source": {"file": {"path": str(tmp_path / "absent.yaml")}}})


async def test_source_configmap_from_the_configmaps_directory(
    kube: Kube, kctx: TriggerContext, secrets: SecretStore
) -> None:
    folder = secrets.configmaps_dir / "templates"
    folder.mkdir(parents=True)
    (folder / "cm").write_text(yaml.safe_dump(configmap("from-configmap", a="1")))

    await fire(kctx, {"source": {"configmap": {"name": "templates", "key": "cm"}}})

    assert kube.get(CONFIGMAPS, "default", "from-configmap") is not None


async def test_source_configmap_that_is_missing_is_permanent(kctx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match=r"configmap 'templates' key 'cm' not found"):
        await fire(kctx, {"source": {"configmap": {"name": "templates", "key": "cm"}}})


@pytest.fixture
async def documents() -> AsyncIterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """An HTTP server answering ``/<name>`` with the (status, body) in the returned dict."""
    served: dict[str, tuple[int, bytes]] = {}

    async def handle(request: web.Request) -> web.Response:
        status, body = served.get(request.path, (404, b"not found"))
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_get("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", served
    finally:
        await runner.cleanup()


async def test_source_url(
    kube: Kube, kctx: TriggerContext, documents: tuple[str, dict[str, tuple[int, bytes]]]
) -> None:
    base, served = documents
    served["/cm.yaml"] = (200, yaml.safe_dump(configmap("from-url", a="1")).encode())

    await fire(kctx, {"source": {"url": {"path": f"{base}/cm.yaml"}}})

    assert kube.get(CONFIGMAPS, "default", "from-url") is not None


async def test_source_url_failures_are_sorted(
    kctx: TriggerContext, documents: tuple[str, dict[str, tuple[int, bytes]]]
) -> None:
    base, served = documents
    served["/busy"] = (503, b"busy")

    with pytest.raises(TemporaryTriggerError, match="answered 503"):
        await fire(kctx, {"source": {"url": {"path": f"{base}/busy"}}})
    with pytest.raises(PermanentTriggerError, match="answered 404"):
        await fire(kctx, {"source": {"url": {"path": f"{base}/absent"}}})


async def test_source_s3_on_moto(
    kube: Kube, kctx: TriggerContext, moto_server: str, secrets: SecretStore
) -> None:
    bucket = "k8s-source-test"
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="minio",
        aws_secret_access_key="minio-secret",
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(
            Bucket=bucket,
            Key="manifests/cm.yaml",
            Body=yaml.safe_dump(configmap("from-s3", a="1")).encode(),
        )
    for key, value in {"access": "minio", "secret": "minio-secret\n"}.items():
        folder = secrets.secrets_dir / "s3-creds"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / key).write_text(value)
    s3_source = {
        "endpoint": moto_server.removeprefix("http://"),
        "insecure": True,
        "bucket": {"name": bucket, "key": "manifests/cm.yaml"},
        "accessKey": {"name": "s3-creds", "key": "access"},
        "secretKey": {"name": "s3-creds", "key": "secret"},
    }

    await fire(kctx, {"source": {"s3": s3_source}})
    with pytest.raises(PermanentTriggerError, match="NoSuchKey"):
        await fire(
            kctx,
            {"source": {"s3": {**s3_source, "bucket": {"name": bucket, "key": "absent.yaml"}}}},
        )

    assert kube.get(CONFIGMAPS, "default", "from-s3")["data"] == {"a": "1"}  # type: ignore[index]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A local git repository: main has v1 of the ConfigMap, branch next v2, tag v0 v0."""
    repo = tmp_path / "origin"
    (repo / "deploy").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    path = repo / "deploy" / "cm.yaml"
    path.write_text(yaml.safe_dump(configmap("from-git", version="0")))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v0")
    _git(repo, "tag", "-a", "v0", "-m", "v0")
    path.write_text(yaml.safe_dump(configmap("from-git", version="1")))
    (repo / "link.yaml").symlink_to("deploy/cm.yaml")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "v1")
    _git(repo, "checkout", "-q", "-b", "next")
    path.write_text(yaml.safe_dump(configmap("from-git", version="2")))
    _git(repo, "commit", "-q", "-am", "v2")
    _git(repo, "checkout", "-q", "main")
    return repo


def _git_source(repo: Path, **fields: Any) -> dict[str, Any]:
    return {
        "git": {
            "url": repo.as_uri(),
            "cloneDirectory": "/ignored",
            "filePath": "deploy/cm.yaml",
            **fields,
        }
    }


@pytest.mark.parametrize(
    ("fields", "version"),
    [({}, "1"), ({"branch": "next"}, "2"), ({"tag": "v0"}, "0"), ({"ref": "refs/heads/next"}, "2")],
)
async def test_source_git_reads_the_file_at_the_branch_tag_or_ref(
    kube: Kube,
    kctx: TriggerContext,
    repository: Path,
    fields: dict[str, str],
    version: str,
) -> None:
    await fire(kctx, {"source": _git_source(repository, **fields)})

    stored = kube.get(CONFIGMAPS, "default", "from-git")
    assert stored is not None
    assert stored["data"] == {"version": version}


async def test_source_git_failures_are_permanent_when_retrying_cannot_help(
    kctx: TriggerContext, repository: Path
) -> None:
    with pytest.raises(PermanentTriggerError, match="couldn't find remote ref"):
        await fire(kctx, {"source": _git_source(repository, branch="absent")})
    with pytest.raises(PermanentTriggerError, match=r"'deploy/absent\.yaml' does not exist"):
        await fire(
            kctx,
            {
                "source": {
                    "git": {**_git_source(repository)["git"], "filePath": "deploy/absent.yaml"}
                }
            },
        )
    with pytest.raises(PermanentTriggerError, match="symbolic link"):
        await fire(
            kctx, {"source": {"git": {**_git_source(repository)["git"], "filePath": "link.yaml"}}}
        )


async def test_source_git_sends_creds_as_a_header_not_in_the_url(
    kctx: TriggerContext, secrets: SecretStore
) -> None:
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    folder = secrets.secrets_dir / "git-creds"
    folder.mkdir(parents=True)
    (folder / "user").write_text("bot")
    (folder / "token").write_text("s3cret\n")
    creds = {"username": {"name": "git-creds", "key": "user"}}
    creds["password"] = {"name": "git-creds", "key": "token"}
    try:
        with pytest.raises(PermanentTriggerError) as caught:
            await fire(
                kctx,
                {
                    "source": {
                        "git": {
                            "url": f"http://127.0.0.1:{port}/acme/repo.git",
                            "cloneDirectory": "/ignored",
                            "filePath": "cm.yaml",
                            "creds": creds,
                        }
                    }
                },
            )
    finally:
        await runner.cleanup()

    assert seen
    assert seen[-1] == "Basic " + base64.b64encode(b"bot:s3cret").decode()
    assert "s3cret" not in str(caught.value)


def test_git_github_app_is_refused_when_built(kctx: TriggerContext) -> None:
    source = _git_source(Path("/repo"))
    source["git"]["githubApp"] = {
        "privateKey": {"name": "app", "key": "pem"},
        "appID": 1,
        "installationID": 2,
    }
    spec = StandardK8STrigger.model_validate({"source": source})

    with pytest.raises(ConfigError, match="githubApp is not supported yet"):
        K8sTriggerRunner(spec, kctx)


def test_the_registry_builds_the_k8s_runner(kctx: TriggerContext) -> None:
    spec = StandardK8STrigger.model_validate({"source": {"resource": configmap()}})
    assert isinstance(factory("k8s")(spec, kctx), K8sTriggerRunner)
