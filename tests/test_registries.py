"""Every runnable type is a spec field, and what cannot run yet is listed, not hidden."""

from __future__ import annotations

import importlib

from eventsources import source
from eventsources.spec import EventSourceSpec
from sensors.spec import TRIGGER_TYPES, TriggerTemplate
from triggers import base


def _aliases(model: type) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}  # type: ignore[attr-defined]


def test_every_source_registry_key_is_an_event_source_spec_field() -> None:
    assert set(source.REGISTRY) <= _aliases(EventSourceSpec)


def test_every_trigger_registry_key_is_a_trigger_template_field() -> None:
    assert set(base.REGISTRY) <= _aliases(TriggerTemplate)
    assert set(base.REGISTRY) <= set(TRIGGER_TYPES)


def test_every_registered_adapter_can_be_imported() -> None:
    for registry in (source.REGISTRY, base.REGISTRY):
        for kind, target in registry.items():
            module, _, attribute = target.partition(":")
            assert callable(getattr(importlib.import_module(module), attribute)), kind


def test_the_modelled_types_without_an_adapter_are_known() -> None:
    source_fields = _aliases(EventSourceSpec) - {
        "eventBusName",
        "template",
        "service",
        "replicas",
    }
    not_runnable_sources = sorted(source_fields - set(source.REGISTRY))
    not_runnable_triggers = sorted(set(TRIGGER_TYPES) - set(base.REGISTRY))
    print("event source types modelled but not runnable:", ", ".join(not_runnable_sources))
    print("trigger types modelled but not runnable:", ", ".join(not_runnable_triggers))
    seed_sources = {"webhook", "github", "kafka", "nats", "mqtt", "calendar"}
    seed_triggers = {
        "http",
        "log",
        "k8s",
        "argoWorkflow",
        "awsLambda",
        "slack",
        "kafka",
        "nats",
        "email",
    }
    assert seed_sources <= set(source.REGISTRY)
    assert seed_triggers <= set(base.REGISTRY)
