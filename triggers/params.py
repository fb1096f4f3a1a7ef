"""Pieces every trigger spec shares: parameters, secure headers, "exactly one of".

A trigger parameter copies a value from an event (its context or its data) into
a JSON path of the trigger template or of the payload being built, as Argo
Events' ``TriggerParameter`` does. This module only models and checks them; how
they are resolved against events lives with the sensor runtime.

Secure headers (HTTP and Kafka triggers) are here rather than in either trigger
module because sibling trigger modules never import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from herald.core.model import Spec
from herald.core.refs import ConfigMapKeySelector, SecretKeySelector

ParameterOperation = Literal["overwrite", "append", "prepend", ""]


def exactly_one(model: Spec, fields: Sequence[str], what: str) -> None:
    """Raise ValueError unless exactly one of ``fields`` (attribute names) is set.

    Messages name the fields by their manifest spelling (the alias), so that the
    user sees what to change in the YAML.
    """
    info = type(model).model_fields
    spelled = [info[name].alias or name for name in fields]
    chosen = [
        alias
        for name, alias in zip(fields, spelled, strict=True)
        if getattr(model, name) is not None
    ]
    if len(chosen) == 1:
        return
    options = ", ".join(spelled)
    if not chosen:
        raise ValueError(f"{what} needs exactly one of {options}; none is set")
    found = " and ".join(repr(c) for c in chosen)
    raise ValueError(f"{what} needs exactly one of {options}, not {found}: keep one")


class TriggerParameterSource(Spec):
    """Where a parameter's value comes from: one dependency's event, or a literal fallback."""

    dependency_name: str = Field(
        min_length=1,
        description="Name of the dependency whose latest event supplies the value.",
    )
    context_key: str | None = Field(
        default=None,
        description="gjson path into the event's context (id, source, type, subject, time, ...).",
    )
    context_template: str | None = Field(
        default=None,
        description="Go-style template over the event context (``.Input``); "
        "tried before contextKey.",
    )
    data_key: str | None = Field(
        default=None, description="gjson path into the event data, e.g. ``body.action``."
    )
    data_template: str | None = Field(
        default=None,
        description="Go-style template over the event data (``.Input``); tried before dataKey.",
    )
    value: str | None = Field(
        default=None,
        description="Literal value: used when no key or template is given, "
        "or when they yield nothing.",
    )
    use_raw_data: bool | None = Field(
        default=None,
        description="Insert JSON objects, numbers and booleans as they are instead of as strings.",
    )


class TriggerParameter(Spec):
    """Copies one value from an event into a JSON path of the trigger template or payload."""

    src: TriggerParameterSource = Field(description="Where the value comes from.")
    dest: str = Field(
        min_length=1,
        description="sjson path to write to, e.g. ``spec.arguments.parameters.0.value``.",
    )
    operation: ParameterOperation = Field(
        default="overwrite",
        description="How to combine with the value already at dest: overwrite (empty means "
        "overwrite), append (existing + new) or prepend (new + existing).",
    )

    @field_validator("operation")
    @classmethod
    def _empty_is_overwrite(cls, value: ParameterOperation) -> ParameterOperation:
        return value or "overwrite"


class PayloadParameter(TriggerParameter):
    """A parameter building an HTTP body; an empty dest makes the value the whole body."""

    dest: str = Field(
        default="",
        description="sjson path in the body being built; empty means the value is the whole body.",
    )


class ValueFromSource(Spec):
    """A value read from a Secret or a ConfigMap key (exactly one)."""

    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="Key of a Secret holding the value."
    )
    config_map_key_ref: ConfigMapKeySelector | None = Field(
        default=None, description="Key of a ConfigMap holding the value."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ValueFromSource:
        exactly_one(self, ["secret_key_ref", "config_map_key_ref"], "valueFrom")
        return self


class SecureHeader(Spec):
    """A request or message header whose value is kept in a Secret or ConfigMap."""

    name: str = Field(min_length=1, description="Header name.")
    value_from: ValueFromSource = Field(description="Where the header value is read from.")
