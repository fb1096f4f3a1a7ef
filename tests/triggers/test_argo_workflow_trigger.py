"""The argoWorkflow trigger against a Kubernetes API (kmock), without the argo CLI.

Each operation's effect is read back from the server: the Workflow created,
or the changes to the existing one (and the pods deleted by retry).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError
from herald.core.refs import SecretStore
from sensors.spec import K8SResourcePolicy
from tests.triggers.kube_fixture import Kube
from triggers.argo_workflow import (
    ArgoWorkflowTrigger,
    ArgoWorkflowTriggerRunner,
    SubmitOptions,
    parse_args,
)
from triggers.base import TriggerContext, factory
from triggers.kube import SENSOR_LABEL, TRIGGER_LABEL

WORKFLOWS = "argoproj.io/v1alpha1/workflows"
TEMPLATES = "argoproj.io/v1alpha1/workflowtemplates"
CLUSTER_TEMPLATES = "argoproj.io/v1alpha1/clusterworkflowtemplates"
CRON_WORKFLOWS = "argoproj.io/v1alpha1/cronworkflows"
PODS = "v1/pods"
API = "argoproj.io/v1alpha1"

PUSH = {"body": {"ref": "refs/heads/main", "after": "abc123", "workflow": "ci-run"}}


def event(data: Any = PUSH) -> Event:
    return Event.new(source="github", type="github", subject="push", data=data, id="evt-1")


EVENTS = {"push": event()}


def workflow(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Workflow",
        "metadata": meta or {"generateName": "ci-"},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "commit", "value": "none"}]},
            "templates": [{"name": "main", "container": {"image": "alpine"}}],
        },
    }


def stub(kind: str, name: str) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}}


@pytest.fixture
async def actx(kube: Kube, secrets: SecretStore) -> AsyncIterator[TriggerContext]:
    ctx = TriggerContext(
        sensor="ci", trigger="build", secrets=secrets, kubeconfig=str(kube.kubeconfig)
    )
    try:
        yield ctx
    finally:
        await ctx.http().close()


async def fire(
    context: TriggerContext, spec: Mapping[str, Any], events: Mapping[str, Event] = EVENTS
) -> str:
    model = ArgoWorkflowTrigger.model_validate(spec)
    runner = ArgoWorkflowTriggerRunner(model, context)
    try:
        return await runner.fire(model, events)
    finally:
        await runner.close()


def created_name(outcome: str) -> str:
    """The Workflow name in ``submitted Workflow default/<name>…``."""
    return outcome.split("/", 1)[1].split(" ", 1)[0].rstrip(";")


# ------------------------------------------------------------------------- submit


async def test_submit_creates_the_workflow_with_labels_args_and_parameters(
    kube: Kube, actx: TriggerContext
) -> None:
    outcome = await fire(
        actx,
        {
            "source": {"resource": workflow()},
            "parameters": [
                {
                    "src": {"dependencyName": "push", "dataKey": "body.after"},
                    "dest": "spec.arguments.parameters.0.value",
                }
            ],
            "args": [
                "-p",
                "branch=main",
                "--parameter=commit=from-args",
                "--serviceaccount",
                "ci-runner",
                "--entrypoint=build",
                "-l",
                "team=infra,tier=ci",
                "--generate-name",
                "nightly-",
            ],
        },
    )

    assert outcome.startswith("submitted Workflow default/nightly-")
    stored = kube.get(WORKFLOWS, "default", created_name(outcome))
    assert stored is not None
    labels = stored["metadata"]["labels"]
    assert labels[SENSOR_LABEL] == "ci"
    assert labels[TRIGGER_LABEL] == "build"
    assert labels["team"] == "infra"
    assert labels["tier"] == "ci"
    spec = stored["spec"]
    assert spec["serviceAccountName"] == "ci-runner"
    assert spec["entrypoint"] == "build"
    # args come after the trigger parameters, as argo submit -p after the file.
    assert spec["arguments"]["parameters"] == [
        {"name": "commit", "value": "from-args"},
        {"name": "branch", "value": "main"},
    ]


async def test_submit_with_an_event_value_in_the_workflow(kube: Kube, actx: TriggerContext) -> None:
    outcome = await fire(
        actx,
        {
            "source": {"resource": workflow(name="fixed", namespace="ci")},
            "parameters": [
                {
                    "src": {"dependencyName": "push", "dataKey": "body.after"},
                    "dest": "spec.arguments.parameters.0.value",
                }
            ],
        },
    )

    assert outcome == "submitted Workflow ci/fixed"
    stored = kube.get(WORKFLOWS, "ci", "fixed")
    assert stored is not None
    assert stored["spec"]["arguments"]["parameters"][0] == {"name": "commit", "value": "abc123"}


async def test_submit_needs_a_workflow(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="use operation submit-from"):
        await fire(actx, {"source": {"resource": stub("WorkflowTemplate", "t")}})


async def test_submit_of_an_existing_name_is_permanent(kube: Kube, actx: TriggerContext) -> None:
    kube.put(WORKFLOWS, "default", workflow(name="fixed"))

    with pytest.raises(PermanentTriggerError, match="AlreadyExists"):
        await fire(actx, {"source": {"resource": workflow(name="fixed")}})


# ------------------------------------------------------------------------- submit-from


async def test_submit_from_a_workflow_template(kube: Kube, actx: TriggerContext) -> None:
    kube.put(
        TEMPLATES,
        "default",
        {
            "apiVersion": API,
            "kind": "WorkflowTemplate",
            "metadata": {"name": "build"},
            "spec": {"entrypoint": "main", "workflowMetadata": {"labels": {"from": "template"}}},
        },
    )

    outcome = await fire(
        actx,
        {
            "operation": "submit-from",
            "source": {"resource": stub("WorkflowTemplate", "build")},
            "args": ["-p", "commit=abc"],
        },
    )

    assert outcome.endswith(" from WorkflowTemplate build")
    stored = kube.get(WORKFLOWS, "default", created_name(outcome))
    assert stored is not None
    assert stored["metadata"]["generateName"] == "build-"
    assert stored["metadata"]["labels"]["workflows.argoproj.io/workflow-template"] == "build"
    assert stored["metadata"]["labels"]["from"] == "template"
    assert stored["metadata"]["labels"][TRIGGER_LABEL] == "build"
    assert stored["spec"] == {
        "workflowTemplateRef": {"name": "build"},
        "arguments": {"parameters": [{"name": "commit", "value": "abc"}]},
    }


async def test_submit_from_a_cluster_workflow_template(kube: Kube, actx: TriggerContext) -> None:
    kube.put(CLUSTER_TEMPLATES, None, stub("ClusterWorkflowTemplate", "shared"))

    outcome = await fire(
        actx,
        {
            "operation": "submit-from",
            "source": {"resource": stub("ClusterWorkflowTemplate", "shared")},
        },
    )

    stored = kube.get(WORKFLOWS, "default", created_name(outcome))
    assert stored is not None
    assert stored["spec"]["workflowTemplateRef"] == {"name": "shared", "clusterScope": True}
    labels = stored["metadata"]["labels"]
    assert labels["workflows.argoproj.io/cluster-workflow-template"] == "shared"


async def test_submit_from_a_cron_workflow(kube: Kube, actx: TriggerContext) -> None:
    kube.put(
        CRON_WORKFLOWS,
        "default",
        {
            "apiVersion": API,
            "kind": "CronWorkflow",
            "metadata": {"name": "nightly"},
            "spec": {
                "schedule": "0 2 * * *",
                "workflowSpec": {"entrypoint": "main", "templates": [{"name": "main"}]},
            },
        },
    )
    cron_uid = kube.get(CRON_WORKFLOWS, "default", "nightly")["metadata"]["uid"]  # type: ignore[index]

    outcome = await fire(
        actx, {"operation": "submit-from", "source": {"resource": stub("CronWorkflow", "nightly")}}
    )

    stored = kube.get(WORKFLOWS, "default", created_name(outcome))
    assert stored is not None
    assert stored["spec"] == {"entrypoint": "main", "templates": [{"name": "main"}]}
    meta = stored["metadata"]
    assert meta["generateName"] == "nightly-"
    assert meta["labels"]["workflows.argoproj.io/cron-workflow"] == "nightly"
    assert "workflows.argoproj.io/scheduled-time" in meta["annotations"]
    assert meta["ownerReferences"][0]["uid"] == cron_uid
    assert meta["ownerReferences"][0]["kind"] == "CronWorkflow"


async def test_submit_from_a_missing_template_is_permanent(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="WorkflowTemplate default/absent does not"):
        await fire(
            actx,
            {
                "operation": "submit-from",
                "source": {"resource": stub("WorkflowTemplate", "absent")},
            },
        )


async def test_submit_from_another_kind_is_permanent(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="not 'Workflow'"):
        await fire(
            actx, {"operation": "submit-from", "source": {"resource": stub("Workflow", "x")}}
        )


# ------------------------------------------------------------------------- resubmit


async def test_resubmit_creates_a_new_workflow_from_the_old_one(
    kube: Kube, actx: TriggerContext
) -> None:
    old = workflow(
        name="ci-abcde",
        labels={
            "team": "infra",
            "workflows.argoproj.io/phase": "Failed",
            "workflows.argoproj.io/completed": "true",
            "workflows.argoproj.io/creator": "someone",
        },
        annotations={"note": "kept"},
    )
    old["spec"]["shutdown"] = "Terminate"
    old["status"] = {"phase": "Failed"}
    kube.put(WORKFLOWS, "default", old)

    outcome = await fire(
        actx,
        {
            "operation": "resubmit",
            "source": {"resource": stub("Workflow", "ci-abcde")},
            "args": ["-p", "commit=again"],
        },
    )

    assert outcome.startswith("resubmitted Workflow default/ci-abcde as ci-abcde-")
    new_name = outcome.rsplit(" as ", 1)[1]
    stored = kube.get(WORKFLOWS, "default", new_name)
    assert stored is not None
    labels = stored["metadata"]["labels"]
    assert labels["team"] == "infra"
    assert labels["workflows.argoproj.io/resubmitted-from-workflow"] == "ci-abcde"
    assert labels[SENSOR_LABEL] == "ci"
    assert "workflows.argoproj.io/phase" not in labels
    assert "workflows.argoproj.io/completed" not in labels
    assert "workflows.argoproj.io/creator" not in labels
    assert stored["metadata"]["annotations"] == {"note": "kept"}
    assert "shutdown" not in stored["spec"]
    assert "status" not in stored
    assert stored["spec"]["arguments"]["parameters"] == [{"name": "commit", "value": "again"}]


async def test_resubmit_of_a_missing_workflow_is_permanent(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="Workflow default/gone does not exist"):
        await fire(
            actx, {"operation": "resubmit", "source": {"resource": stub("Workflow", "gone")}}
        )


# ------------------------------------------------------------------------- retry


def failed_workflow() -> dict[str, Any]:
    wf = workflow(
        name="ci-fail",
        labels={"workflows.argoproj.io/completed": "true", "workflows.argoproj.io/phase": "Failed"},
    )
    wf["spec"]["shutdown"] = "Stop"
    wf["status"] = {
        "phase": "Failed",
        "message": "child failed",
        "finishedAt": "2026-01-01T00:00:00Z",
        "nodes": {
            "ci-fail": {
                "id": "ci-fail",
                "type": "Steps",
                "phase": "Failed",
                "finishedAt": "2026-01-01T00:00:00Z",
                "children": ["ci-fail-1", "ci-fail-2"],
            },
            "ci-fail-1": {"id": "ci-fail-1", "type": "Pod", "phase": "Succeeded"},
            "ci-fail-2": {"id": "ci-fail-2", "type": "Pod", "phase": "Failed"},
        },
    }
    return wf


def pod(name: str, node: str, workflow: str = "ci-fail") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"workflows.argoproj.io/workflow": workflow},
            "annotations": {"workflows.argoproj.io/node-id": node},
        },
    }


async def test_retry_resets_failed_nodes_and_deletes_their_pods(
    kube: Kube, actx: TriggerContext
) -> None:
    kube.put(WORKFLOWS, "default", failed_workflow())
    kube.put(PODS, "default", pod("ci-fail-ok", "ci-fail-1"))
    kube.put(PODS, "default", pod("ci-fail-bad", "ci-fail-2"))
    kube.put(PODS, "default", pod("other-bad", "ci-fail-2", workflow="other"))

    outcome = await fire(
        actx, {"operation": "retry", "source": {"resource": stub("Workflow", "ci-fail")}}
    )

    assert outcome == "retried Workflow default/ci-fail (1 failed node(s) reset, 1 pod(s) deleted)"
    stored = kube.get(WORKFLOWS, "default", "ci-fail")
    assert stored is not None
    assert stored["metadata"]["labels"]["workflows.argoproj.io/completed"] == "false"
    assert "shutdown" not in stored["spec"]
    status = stored["status"]
    assert status["phase"] == "Running"
    assert "message" not in status
    assert "finishedAt" not in status
    assert set(status["nodes"]) == {"ci-fail", "ci-fail-1"}
    assert status["nodes"]["ci-fail"]["phase"] == "Running"
    assert status["nodes"]["ci-fail"]["children"] == ["ci-fail-1"]
    assert kube.get(PODS, "default", "ci-fail-bad") is None
    assert kube.get(PODS, "default", "ci-fail-ok") is not None
    assert kube.get(PODS, "default", "other-bad") is not None


async def test_retry_rereads_after_a_conflict(kube: Kube, actx: TriggerContext) -> None:
    kube.put(WORKFLOWS, "default", failed_workflow())
    kube.api.fail("PUT", 409, "Conflict", "the object has been modified")

    await fire(actx, {"operation": "retry", "source": {"resource": stub("Workflow", "ci-fail")}})

    assert kube.get(WORKFLOWS, "default", "ci-fail")["status"]["phase"] == "Running"  # type: ignore[index]
    assert sum(1 for r in kube.api.requests if r.method.value == "PUT") == 2


async def test_retry_of_a_succeeded_workflow_is_permanent(kube: Kube, actx: TriggerContext) -> None:
    done = workflow(name="ci-ok")
    done["status"] = {"phase": "Succeeded"}
    kube.put(WORKFLOWS, "default", done)

    with pytest.raises(PermanentTriggerError, match="only a Failed or Error workflow"):
        await fire(actx, {"operation": "retry", "source": {"resource": stub("Workflow", "ci-ok")}})


# ------------------------------------------------------------------------- resume, suspend


async def test_resume_clears_suspend_and_completes_suspend_nodes(
    kube: Kube, actx: TriggerContext
) -> None:
    wf = workflow(name="ci-wait")
    wf["spec"]["suspend"] = True
    wf["status"] = {
        "phase": "Running",
        "nodes": {
            "approve": {
                "type": "Suspend",
                "phase": "Running",
                "outputs": {
                    "parameters": [{"name": "ok", "valueFrom": {"supplied": {}, "default": "yes"}}]
                },
            },
            "build": {"type": "Pod", "phase": "Succeeded"},
        },
    }
    kube.put(WORKFLOWS, "default", wf)

    outcome = await fire(
        actx, {"operation": "resume", "source": {"resource": stub("Workflow", "ci-wait")}}
    )

    assert outcome == "resumed Workflow default/ci-wait"
    stored = kube.get(WORKFLOWS, "default", "ci-wait")
    assert stored is not None
    assert "suspend" not in stored["spec"]
    approve = stored["status"]["nodes"]["approve"]
    assert approve["phase"] == "Succeeded"
    assert approve["outputs"]["parameters"] == [{"name": "ok", "value": "yes"}]
    assert "finishedAt" in approve
    assert stored["status"]["nodes"]["build"] == {"type": "Pod", "phase": "Succeeded"}


async def test_resume_of_a_running_workflow_changes_nothing(
    kube: Kube, actx: TriggerContext
) -> None:
    kube.put(WORKFLOWS, "default", workflow(name="ci-run"))

    outcome = await fire(
        actx, {"operation": "resume", "source": {"resource": stub("Workflow", "ci-run")}}
    )

    assert outcome == "nothing to resume in Workflow default/ci-run"
    assert all(r.method.value != "PUT" for r in kube.api.requests)


async def test_suspend_sets_spec_suspend(kube: Kube, actx: TriggerContext) -> None:
    kube.put(WORKFLOWS, "default", workflow(name="ci-run"))

    outcome = await fire(
        actx, {"operation": "suspend", "source": {"resource": stub("Workflow", "ci-run")}}
    )

    assert outcome == "suspended Workflow default/ci-run"
    assert kube.get(WORKFLOWS, "default", "ci-run")["spec"]["suspend"] is True  # type: ignore[index]


async def test_suspend_of_a_completed_workflow_is_permanent(
    kube: Kube, actx: TriggerContext
) -> None:
    done = workflow(name="ci-done", labels={"workflows.argoproj.io/completed": "true"})
    kube.put(WORKFLOWS, "default", done)

    with pytest.raises(PermanentTriggerError, match="has completed"):
        await fire(
            actx, {"operation": "suspend", "source": {"resource": stub("Workflow", "ci-done")}}
        )


# ------------------------------------------------------------------------- terminate, stop


@pytest.mark.parametrize(("operation", "strategy"), [("terminate", "Terminate"), ("stop", "Stop")])
async def test_terminate_and_stop_set_the_shutdown_strategy(
    kube: Kube, actx: TriggerContext, operation: str, strategy: str
) -> None:
    kube.put(WORKFLOWS, "default", workflow(name="ci-run"))

    outcome = await fire(
        actx, {"operation": operation, "source": {"resource": stub("Workflow", "ci-run")}}
    )

    assert outcome == f"{operation}: Workflow default/ci-run shutdown={strategy}"
    stored = kube.get(WORKFLOWS, "default", "ci-run")
    assert stored is not None
    assert stored["spec"]["shutdown"] == strategy
    assert stored["spec"]["entrypoint"] == "main"


async def test_the_workflow_name_can_come_from_the_event(kube: Kube, actx: TriggerContext) -> None:
    kube.put(WORKFLOWS, "default", workflow(name="ci-run"))

    await fire(
        actx,
        {
            "operation": "terminate",
            "source": {"resource": stub("Workflow", "placeholder")},
            "parameters": [
                {
                    "src": {"dependencyName": "push", "dataKey": "body.workflow"},
                    "dest": "metadata.name",
                }
            ],
        },
    )

    assert kube.get(WORKFLOWS, "default", "ci-run")["spec"]["shutdown"] == "Terminate"  # type: ignore[index]


async def test_terminate_of_a_missing_workflow_is_permanent(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="Workflow default/gone does not exist"):
        await fire(
            actx, {"operation": "terminate", "source": {"resource": stub("Workflow", "gone")}}
        )


async def test_an_operation_on_another_kind_is_permanent(actx: TriggerContext) -> None:
    with pytest.raises(PermanentTriggerError, match="acts on a Workflow, not a Rollout"):
        await fire(actx, {"operation": "suspend", "source": {"resource": stub("Rollout", "x")}})


# ------------------------------------------------------------------------- policy


async def test_policy_waits_for_the_workflow_to_succeed(kube: Kube, actx: TriggerContext) -> None:
    actx.k8s_policy = K8SResourcePolicy.model_validate(
        {
            "labels": {"workflows.argoproj.io/phase": "Succeeded"},
            "backoff": {"duration": "20ms", "steps": 200},
            "errorOnBackoffTimeout": True,
        }
    )
    firing = asyncio.create_task(
        fire(actx, {"source": {"resource": workflow(name="ci-policy")}}), name="fire"
    )
    async with asyncio.timeout(20):
        await kube.api.wait_for_requests("POST", 1)
    kube.set_labels(
        WORKFLOWS, "default", "ci-policy", **{"workflows.argoproj.io/phase": "Succeeded"}
    )

    outcome = await firing

    assert outcome.startswith("submitted Workflow default/ci-policy; labels ")
    assert "workflows.argoproj.io/phase=Succeeded reached after" in outcome


# ------------------------------------------------------------------------- args


def test_args_map_onto_submit_options() -> None:
    options = parse_args(
        ["-p=a=1", "--parameter", "b=x=y", "-l", "k=v", "--labels=k2=v2", "--entrypoint", "e"],
        "submit",
    )

    assert options == SubmitOptions(
        parameters=(("a", "1"), ("b", "x=y")),
        entrypoint="e",
        labels={"k": "v", "k2": "v2"},
    )


@pytest.mark.parametrize(
    ("args", "operation", "message"),
    [
        (["--name", "x"], "submit", "'--name' is not supported"),
        (["--watch"], "submit", "'--watch' is not supported"),
        (["workflow.yaml"], "submit", "'workflow.yaml' is not supported"),
        (["-p"], "submit", "-p needs a value"),
        (["-p", "novalue"], "submit", "takes name=value"),
        (["-l", "nolabel"], "submit-from", "takes k=v"),
        (["--serviceaccount="], "resubmit", "needs a non-empty value"),
        (["-p", "a=1"], "terminate", "args apply to the operations that create a Workflow"),
    ],
)
def test_unsupported_args_are_refused_when_the_trigger_is_built(
    actx: TriggerContext, args: list[str], operation: str, message: str
) -> None:
    spec = ArgoWorkflowTrigger.model_validate(
        {"operation": operation, "source": {"resource": workflow()}, "args": args}
    )

    with pytest.raises(ConfigError, match=message) as caught:
        ArgoWorkflowTriggerRunner(spec, actx)

    assert caught.value.path.startswith("argoWorkflow.args")


def test_the_registry_builds_the_argo_workflow_runner(actx: TriggerContext) -> None:
    spec = ArgoWorkflowTrigger.model_validate({"source": {"resource": workflow()}})
    assert isinstance(factory("argoWorkflow")(spec, actx), ArgoWorkflowTriggerRunner)
