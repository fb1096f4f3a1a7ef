"""The trigger examples under examples/triggers/: valid, runnable, and doing what they say.

Every example folder must pass validation on its own and use only trigger
types Herald can run. The Kubernetes and Slack examples are then run as a
sensor would run them (filters, parameters, trigger) against the test servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bus.event import Event
from herald.core.refs import SecretStore
from herald.loader import SensorManifest, load_paths
from sensors.sensor import Sensor
from tests.triggers.kube_fixture import Kube
from tests.triggers.test_slack_trigger import TOKEN, SlackAPI
from triggers.base import REGISTRY, TriggerContext

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "triggers"
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())


def test_there_is_an_example_per_trigger_type() -> None:
    assert set(FOLDERS) >= {
        "k8s",
        "argo-workflow",
        "aws-lambda",
        "slack",
        "email",
        "rollout",
        "kafka",
        "nats",
        "http",
        "log",
    }


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_example_validates_and_uses_runnable_trigger_types(folder: str) -> None:
    result = load_paths([EXAMPLES / folder])

    assert result.ok, [str(p) for p in result.problems]
    assert not result.problems, [str(p) for p in result.problems]
    sensors = result.of_kind("Sensor")
    assert sensors, f"{folder} has no Sensor"
    assert result.of_kind("EventSource"), f"{folder} has no EventSource"
    for resource in sensors:
        assert isinstance(resource.manifest, SensorManifest)
        for trigger in resource.manifest.spec.triggers:
            assert trigger.template.trigger_type in REGISTRY


def sensor_of(folder: str, context: Callable[[str], TriggerContext]) -> Sensor:
    """The example's Sensor, its triggers built with contexts from ``context``.

    Each context also gets its trigger's ``policy.k8s``, as the runner hands it
    to the k8s and argoWorkflow triggers.
    """
    result = load_paths([EXAMPLES / folder])
    [resource] = result.of_kind("Sensor")
    assert isinstance(resource.manifest, SensorManifest)
    policies = {t.template.name: t.policy.k8s for t in resource.manifest.spec.triggers if t.policy}

    def with_policy(trigger: str) -> TriggerContext:
        made = context(trigger)
        made.k8s_policy = policies.get(trigger)
        return made

    return Sensor(resource.name, resource.manifest.spec, with_policy)


async def run(sensor: Sensor, *events: Event) -> list[str]:
    """Decide for each event and fire what the sensor decided, as it would; then close."""
    outcomes = []
    try:
        for event in events:
            for firing in sensor.decide(event).firings:
                spec = firing.trigger.resolved_spec(firing.events)
                outcomes.append(await firing.trigger.adapter.fire(spec, firing.events))
    finally:
        for trigger in sensor.triggers:
            await trigger.adapter.close()
    return outcomes


def github_release(tag: str, *, action: str = "published", prerelease: bool = False) -> Event:
    data = {
        "headers": {"X-Github-Event": ["release"], "Content-Type": ["application/json"]},
        "body": {
            "action": action,
            "release": {"tag_name": tag, "prerelease": prerelease},
            "repository": {"full_name": "acme/storefront"},
        },
    }
    return Event.new(source="github-releases", type="github", subject="storefront", data=data)


STOREFRONT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "storefront"},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "web", "image": "ghcr.io/acme/storefront:v1.0.0", "ports": []},
                    {"name": "proxy", "image": "envoy:1.30"},
                ]
            }
        },
    },
}


def kube_context(kube: Kube, secrets: SecretStore) -> Callable[[str], TriggerContext]:
    def make(trigger: str) -> TriggerContext:
        return TriggerContext(
            sensor="example", trigger=trigger, secrets=secrets, kubeconfig=str(kube.kubeconfig)
        )

    return make


async def test_rollout_example_sets_the_image_from_a_published_release(
    kube: Kube, secrets: SecretStore
) -> None:
    kube.put("argoproj.io/v1alpha1/rollouts", "shop", STOREFRONT)
    sensor = sensor_of("rollout", kube_context(kube, secrets))

    outcomes = await run(
        sensor,
        github_release("v9.9.9-rc1", prerelease=True),
        github_release("v1.0.1", action="created"),
        github_release("v1.1.0"),
    )

    assert outcomes == ["patched Rollout shop/storefront (application/json-patch+json)"]
    stored = kube.get("argoproj.io/v1alpha1/rollouts", "shop", "storefront")
    assert stored is not None
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == "ghcr.io/acme/storefront:v1.1.0"
    assert containers[1] == {"name": "proxy", "image": "envoy:1.30"}


async def test_k8s_example_scales_the_named_deployment(kube: Kube, secrets: SecretStore) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}},
    }
    kube.put("apps/v1/deployments", "shop", deployment)
    sensor = sensor_of("k8s", kube_context(kube, secrets))
    data = {"body": {"deployment": "web", "namespace": "shop", "replicas": 5}}
    event = Event.new(source="scaling-requests", type="webhook", subject="scale", data=data)

    outcomes = await run(sensor, event)

    assert outcomes == ["patched Deployment shop/web (application/merge-patch+json)"]
    stored = kube.get("apps/v1/deployments", "shop", "web")
    assert stored is not None
    assert stored["spec"] == {"replicas": 5, "selector": {"matchLabels": {"app": "web"}}}


async def test_argo_workflow_example_submits_a_build(kube: Kube, secrets: SecretStore) -> None:
    sensor = sensor_of("argo-workflow", kube_context(kube, secrets))
    data = {"body": {"repository": "acme/api", "commit": "4f2c9e1"}}
    event = Event.new(source="build-requests", type="webhook", subject="build", data=data)
    # Play the workflow controller: a new Workflow is soon Running.
    kube.api.on_create = lambda obj: obj["metadata"]["labels"].update(
        {"workflows.argoproj.io/phase": "Running"}
    )

    [outcome] = await run(sensor, event)

    name, _, policy = outcome.removeprefix("submitted Workflow argo/").partition("; ")
    assert policy == "labels workflows.argoproj.io/phase=Running reached after 1 check(s)"
    stored = kube.get("argoproj.io/v1alpha1/workflows", "argo", name)
    assert stored is not None
    assert name.startswith("ci-build-")
    assert stored["spec"]["serviceAccountName"] == "ci-runner"
    assert stored["spec"]["arguments"]["parameters"] == [
        {"name": "commit", "value": "4f2c9e1"},
        {"name": "repository", "value": "acme/api"},
    ]
    assert stored["metadata"]["labels"]["triggered-by"] == "herald"


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackAPI]:
    api = SlackAPI()
    app = web.Application()
    app.router.add_post("/api/chat.postMessage", api.post_message)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.base = f"http://127.0.0.1:{runner.addresses[0][1]}/api"
    try:
        yield api
    finally:
        await runner.cleanup()


async def test_slack_example_threads_repeats_of_one_alert(
    slack_api: SlackAPI, secrets: SecretStore
) -> None:
    folder = secrets.secrets_dir / "slack"
    folder.mkdir(parents=True)
    (folder / "bot-token").write_text(TOKEN)
    contexts: list[TriggerContext] = []

    def make(trigger: str) -> TriggerContext:
        contexts.append(
            TriggerContext(
                sensor="alerts", trigger=trigger, secrets=secrets, slack_api_url=slack_api.base
            )
        )
        return contexts[-1]

    sensor = sensor_of("slack", make)

    def alert(**body: Any) -> Event:
        return Event.new(source="alert-hooks", type="webhook", subject="alert", data={"body": body})

    try:
        await run(
            sensor,
            alert(alert="disk-full", host="db-1", severity="critical"),
            alert(alert="disk-full", host="db-2", severity="critical"),
            alert(alert="disk-full", host="db-3", severity="warning"),
        )
    finally:
        for ctx in contexts:
            await ctx.http().close()

    assert [m["text"] for m in slack_api.messages] == [
        "disk-full alert on db-1",
        "disk-full alert on db-2",
    ]
    first, second = slack_api.messages
    assert first["channel"] == "ops"
    assert first["icon_emoji"] == ":rotating_light:"
    assert "thread_ts" not in first
    assert second["thread_ts"] == "1001.000100"
    assert second["reply_broadcast"] is True
