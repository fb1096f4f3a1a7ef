"""Pieces every trigger spec shares: parameters, secure headers, "exactly one of".

A trigger parameter copies a value from an event (its context or its data) into
a JSON path of the trigger template or of the payload being built, as Argo
Events' ``TriggerParameter`` does. This module only models and checks them; how
they are resolved against events is the second half of this module
(:func:`resolve`, :func:`apply_parameters`, :func:`construct_payload`), used
by the sensor for template parameters and by trigger adapters for payloads.

Secure headers (HTTP and Kafka triggers) are here rather than in either trigger
module because sibling trigger modules never import each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import orjson
from pydantic import Field, ValidationError, field_validator, model_validator

from bus.event import Event
from herald.core import gotemplate
from herald.core.errors import PermanentTriggerError
from herald.core.jsonpath import MISSING, get, set_path
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


# ------------------------------------------------------------------------ resolution


@dataclass(frozen=True, slots=True)
class Resolved:
    """A parameter's value: its text, and the raw JSON value when it may be set raw."""

    text: str
    raw: Any = MISSING

    def value(self, use_raw: bool) -> Any:
        """What to write at ``dest``: the raw value if asked for and not a string.

        Objects and arrays are copied: event data is shared and read-only, and a
        later parameter may write inside what this one inserted.
        """
        if not use_raw or self.raw is MISSING:
            return self.text
        if isinstance(self.raw, dict | list):
            return orjson.loads(orjson.dumps(self.raw))
        return self.raw


def _json_text(value: Any) -> str:
    """A JSON value as gjson renders a result: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def event_json(event: Event) -> Any:
    """The whole event as a parameter without a key sees it: context and data."""
    return {"context": _context_json(event), "data": event.data}


def _context_json(event: Event) -> dict[str, Any]:
    ctx = event.context()
    ctx["time"] = event.time.isoformat().replace("+00:00", "Z")
    return ctx


def resolve(src: TriggerParameterSource, events: Mapping[str, Event]) -> Resolved | None:
    """The value of one parameter source for ``events``, as Argo's ResolveParamValue.

    Order: template (``dataTemplate``/``contextTemplate``, a Go template with
    the data or the context under ``.Input``; an error, an empty output or
    ``<no value>`` falls through), then key, then ``value`` as the fallback.
    When both data and context are named, the data ones are used (as in Argo).
    A template's result is always a string. Returns None when the dependency
    has no event and there is no ``value`` (the parameter is skipped, as in
    Argo). Raises :class:`PermanentTriggerError` when neither template nor key
    resolves and there is no fallback.
    """
    event = events.get(src.dependency_name)
    if event is None:
        return Resolved(src.value) if src.value is not None else None
    uses_data = src.data_key is not None or bool(src.data_template)
    uses_context = src.context_key is not None or bool(src.context_template)
    if not uses_data and not uses_context:
        if src.value is not None:
            return Resolved(src.value)
        whole = event_json(event)
        return Resolved(_json_text(whole), whole)
    if uses_data:
        source: Any = event.data
        key, template, where = src.data_key, src.data_template, "data"
    else:
        source = _context_json(event)
        key, template, where = src.context_key, src.context_template, "context"
    problems: list[str] = []
    if template:
        text, problem = _render(template, source, where)
        if text is not None:
            return Resolved(text)
        problems.append(problem)
    if key is not None:
        found = get(source, key)
        if found is not MISSING:
            if isinstance(found, str):
                return Resolved(found)
            return Resolved(_json_text(found), found)
        problems.append(f"{where} key {key!r} does not exist in event {event.id}")
    if src.value is not None:
        return Resolved(src.value)
    raise PermanentTriggerError(
        f"parameter from {src.dependency_name!r}: {'; '.join(problems)}, and no value is "
        "given as a fallback"
    )


def _render(template: str, source: Any, where: str) -> tuple[str | None, str]:
    """A parameter template's output, or None and why it does not count (Argo's rules)."""
    try:
        text = gotemplate.compile(template).render({"Input": source})
    except gotemplate.TemplateError as e:
        return None, f"{where}Template {template!r} failed: {e}"
    if text in ("", gotemplate.NO_VALUE):
        return None, f"{where}Template {template!r} gave {text!r}, which counts as no value"
    return text, ""


def apply_parameters(
    document: Any, parameters: Sequence[TriggerParameter], events: Mapping[str, Event]
) -> Any:
    """Apply parameters to a JSON document (a template or a resource), in order.

    ``append`` and ``prepend`` join with the text already at ``dest`` (the
    result is a string, as in Argo); ``overwrite`` replaces it.
    """
    for param in parameters:
        resolved = resolve(param.src, events)
        if resolved is None:
            continue
        value = resolved.value(bool(param.src.use_raw_data))
        if param.operation in ("append", "prepend"):
            current = get(document, param.dest) if param.dest else MISSING
            if current is not MISSING:
                existing = _json_text(current)
                value = (
                    existing + resolved.text
                    if param.operation == "append"
                    else resolved.text + existing
                )
        document = set_path(document, param.dest, value)
    return document


def construct_payload(parameters: Sequence[TriggerParameter], events: Mapping[str, Event]) -> Any:
    """A JSON body built from payload parameters, as Argo's ConstructPayload.

    An entry with an empty ``dest`` makes its value the whole body (raw JSON
    when it is JSON). Returns None when no parameter resolved.
    """
    body: Any = None
    for param in parameters:
        resolved = resolve(param.src, events)
        if resolved is None:
            continue
        if not param.dest:
            if resolved.raw is not MISSING:
                return resolved.value(True)
            try:
                return orjson.loads(resolved.text)
            except orjson.JSONDecodeError:
                return resolved.text
        body = set_path(
            body if body is not None else {},
            param.dest,
            resolved.value(bool(param.src.use_raw_data)),
        )
    return body


SpecT = TypeVar("SpecT", bound=Spec)


def apply_to_spec(
    spec: SpecT, parameters: Sequence[TriggerParameter], events: Mapping[str, Event], kind: str
) -> SpecT:
    """``spec`` with ``parameters`` applied to its own JSON, validated again.

    This is how ``<type>.parameters`` work for triggers whose spec is the
    resource (e.g. ``http.parameters`` with dest ``url``). A result that no
    longer validates is a :class:`PermanentTriggerError` naming ``kind``.
    """
    document: Any = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    document = apply_parameters(document, parameters, events)
    try:
        return type(spec).model_validate(document)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in e.errors(include_url=False)
        )
        raise PermanentTriggerError(
            f"{kind}.parameters made the {kind} spec invalid: {problems}"
        ) from e


def payload_bytes(
    parameters: Sequence[TriggerParameter] | None, events: Mapping[str, Event]
) -> bytes:
    """A message body from payload parameters: JSON, a string as it is, or empty."""
    value = construct_payload(parameters, events) if parameters else None
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode()
    try:
        return orjson.dumps(value, option=orjson.OPT_UTC_Z)
    except TypeError as e:
        raise PermanentTriggerError(f"the payload is not JSON-serialisable: {e}") from e
