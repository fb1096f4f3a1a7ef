"""``herald test``: run events through sensors without a cluster, and explain every decision.

The events go through the same code as ``herald run`` (:meth:`Sensor.decide`:
filters, held state, conditions; :meth:`TriggerRunner.resolved_spec` and
:func:`triggers.params.construct_payload`: what would be sent), but nothing
fires unless ``--fire`` is given. Several events are applied in order, so
conditions over several dependencies can be tested.

Events are read from files or standard input, as JSON (one object, a list, or
JSON lines) or YAML (one or more documents). Each is one of:

- a CloudEvent (``specversion``/``id``/``source``/``type``; ``source`` is the
  EventSource name and ``subject`` the event name, as on Herald's bus);
- a test event: ``{"eventSourceName": ..., "eventName": ..., "data": {...}}``,
  or with ``body`` (and ``headers``) instead of ``data``, which are shaped as the
  EventSource's type delivers them (webhook ``{header, body}``, github
  ``{headers, body}``) when that EventSource is among the loaded manifests;
- a bare payload, with ``--as EVENTSOURCE/EVENT`` saying where it came from; it
  becomes the ``body``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson
import yaml

from bus.event import Event, new_id
from eventsources.http_server import canonical_header_key
from eventsources.spec import EVENT_SOURCE_TYPES
from herald.core.errors import ConfigError, HeraldError
from herald.loader import EventSourceManifest, LoadResult, SensorManifest
from herald.settings import Settings
from sensors.sensor import Decision, Firing, Sensor
from triggers.base import SharedHTTP, TriggerContext
from triggers.params import construct_payload


class EventInputError(HeraldError):
    """An event given to ``herald test`` cannot be read or placed."""


def source_types(result: LoadResult) -> dict[tuple[str, str], str]:
    """(EventSource name, event name) -> bus type, for every loaded EventSource."""
    out: dict[tuple[str, str], str] = {}
    for res in result.of_kind("EventSource"):
        assert isinstance(res.manifest, EventSourceManifest)
        for kind, name, _ in res.manifest.spec.events():
            out[(res.name, name)] = EVENT_SOURCE_TYPES[kind]
    return out


def _documents(text: str, origin: str) -> list[Any]:
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        pass
    else:
        return whole if isinstance(whole, list) else [whole]
    lines = [line for line in stripped.splitlines() if line.strip()]
    if lines and all(line.lstrip().startswith("{") for line in lines):
        try:
            return [orjson.loads(line) for line in lines]
        except orjson.JSONDecodeError:
            pass
    try:
        docs = [d for d in yaml.safe_load_all(stripped) if d is not None]
    except yaml.YAMLError as e:
        raise EventInputError(f"{origin}: neither JSON, JSON lines nor YAML: {e}") from None
    out: list[Any] = []
    for doc in docs:
        out.extend(doc if isinstance(doc, list) else [doc])
    return out


def _shape(kind: str, body: Any, headers: Mapping[str, Any] | None) -> dict[str, Any]:
    header_lists = {
        canonical_header_key(k): v if isinstance(v, list) else [v]
        for k, v in (headers or {}).items()
    }
    if kind == "github":
        return {"headers": header_lists, "body": body}
    if kind == "webhook":
        return {"header": header_lists, "body": body}
    return {"body": body}


def to_event(
    doc: Any,
    origin: str,
    types: Mapping[tuple[str, str], str],
    default: tuple[str, str] | None,
    headers: Mapping[str, str] | None = None,
) -> Event:
    """One event from one document (see the module docstring for the forms).

    ``headers`` (``-H``) are added to test events and bare payloads that have none.
    """
    if not isinstance(doc, dict):
        if default is None:
            raise EventInputError(
                f"{origin}: a bare payload needs --as EVENTSOURCE/EVENT to say where it came from"
            )
        es, name = default
        return Event.new(
            source=es,
            type=types.get(default, "webhook"),
            subject=name,
            data=_shape(types.get(default, "webhook"), doc, None),
        )
    if "specversion" in doc or {"id", "source", "type"} <= doc.keys():
        try:
            return Event.from_dict({"id": new_id(), **doc})
        except ValueError as e:
            raise EventInputError(f"{origin}: not a valid CloudEvent: {e}") from None
    if "eventSourceName" in doc or "eventName" in doc:
        source, subject = doc.get("eventSourceName"), doc.get("eventName")
        if not isinstance(source, str) or not isinstance(subject, str):
            raise EventInputError(f"{origin}: eventSourceName and eventName must both be set")
        kind = types.get((source, subject), str(doc.get("type") or "webhook"))
        data = (
            doc["data"]
            if "data" in doc
            else _shape(kind, doc.get("body"), doc.get("headers") or headers)
        )
        ident = doc.get("id")
        return Event.new(
            source=source,
            type=kind,
            subject=subject,
            data=data,
            id=str(ident) if ident is not None else None,
        )
    if default is None:
        raise EventInputError(
            f"{origin}: not a CloudEvent and no eventSourceName/eventName: add them, "
            "or pass --as EVENTSOURCE/EVENT to treat the document as a payload"
        )
    kind = types.get(default, "webhook")
    return Event.new(
        source=default[0], type=kind, subject=default[1], data=_shape(kind, doc, headers)
    )


def read_events(
    sources: Sequence[str],
    types: Mapping[tuple[str, str], str],
    default: tuple[str, str] | None,
    stdin: TextIO | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[Event]:
    """Every event from ``sources`` (paths, or ``-`` for standard input), in order."""
    events: list[Event] = []
    for src in sources:
        if src == "-":
            text, origin = (stdin or sys.stdin).read(), "<stdin>"
        else:
            try:
                text, origin = Path(src).read_text(encoding="utf-8"), src
            except OSError as e:
                raise EventInputError(f"{src}: {e.strerror}") from e
        for i, doc in enumerate(_documents(text, origin)):
            events.append(to_event(doc, f"{origin}#{i + 1}", types, default, headers))
    return events


# ------------------------------------------------------------------ reports


@dataclass(slots=True)
class TriggerReport:
    name: str
    outcome: str  # "fires", "waiting", "not met", "not involved"
    condition: str
    holding: list[str]
    rendered: dict[str, Any] | None = None
    payload: Any = None
    error: str | None = None
    fired: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trigger": self.name,
            "outcome": self.outcome,
            "condition": self.condition,
            "holding": self.holding,
        }
        for key in ("rendered", "payload", "error", "fired"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class EventReport:
    sensor: str
    event: Event
    decision: Decision
    triggers: list[TriggerReport] = field(default_factory=list)

    @property
    def fires(self) -> bool:
        return any(t.outcome == "fires" for t in self.triggers)

    def to_json(self) -> dict[str, Any]:
        return {
            "sensor": self.sensor,
            "event": {
                "id": self.event.id,
                "source": self.event.source,
                "subject": self.event.subject,
                "type": self.event.type,
            },
            "dependencies": [
                {
                    "dependency": dep,
                    "passed": result.passed,
                    "clauses": [
                        {
                            "clause": c.label,
                            "passed": c.passed,
                            "error": c.error,
                            "seen": c.seen,
                            "detail": c.detail,
                        }
                        for c in result.clauses
                    ],
                }
                for dep, result in self.decision.filters
            ],
            "triggers": [t.to_json() for t in self.triggers],
        }


def _render(firing: Firing) -> tuple[dict[str, Any] | None, Any, str | None]:
    try:
        spec = firing.trigger.resolved_spec(firing.events)
        rendered = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        payload_params = getattr(spec, "payload", None)
        payload = (
            construct_payload(payload_params, firing.events)
            if isinstance(payload_params, list) and payload_params
            else None
        )
    except HeraldError as e:
        return None, None, str(e)
    return rendered, payload, None


def evaluate(sensor: Sensor, events: Iterable[Event]) -> list[EventReport]:
    """Decide every event in order (held state carries over); render what would fire."""
    reports: list[EventReport] = []
    for event in events:
        decision = sensor.decide(event)
        report = EventReport(sensor.name, event, decision)
        fired = {f.trigger.name: f for f in decision.firings}
        waiting = {name: list(have) for name, _, have in decision.waiting}
        candidates = {dep for dep, _ in decision.filters}
        for trigger in sensor.triggers:
            condition = trigger.condition.text if trigger.condition else ""
            if trigger.name in fired:
                rendered, payload, error = _render(fired[trigger.name])
                report.triggers.append(
                    TriggerReport(
                        trigger.name,
                        "fires",
                        condition,
                        sorted(fired[trigger.name].events),
                        rendered,
                        payload,
                        error,
                    )
                )
            elif trigger.name in waiting:
                report.triggers.append(
                    TriggerReport(trigger.name, "waiting", condition, waiting[trigger.name])
                )
            else:
                involved = trigger.condition is not None and candidates & set(
                    trigger.condition.names
                )
                report.triggers.append(
                    TriggerReport(
                        trigger.name,
                        "not met" if involved else "not involved",
                        condition,
                        sorted(trigger.held),
                    )
                )
        reports.append(report)
    return reports


def _value(value: Any, limit: int | None = 120) -> str:
    text = orjson.dumps(value, option=orjson.OPT_UTC_Z, default=str).decode()
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def format_text(reports: Sequence[EventReport]) -> str:
    """The human-readable account of every decision, event by event."""
    by_event: dict[str, list[EventReport]] = {}
    for report in reports:
        by_event.setdefault(report.event.id, []).append(report)
    lines: list[str] = []
    for i, group in enumerate(by_event.values(), 1):
        ev = group[0].event
        lines.append(f"event {i}: {ev.source}/{ev.subject} (type {ev.type}, id {ev.id})")
        listening = [r for r in group if r.decision.filters]
        if not listening:
            lines.append("  no sensor has a dependency on this EventSource/event")
        for report in listening:
            lines.append(f"  sensor {report.sensor}")
            _format_report(report, lines)
    would = sum(1 for r in reports for t in r.triggers if t.outcome == "fires")
    lines.append(f"{would} trigger firing{'s' if would != 1 else ''} for {len(by_event)} event(s)")
    return "\n".join(lines)


def _format_report(report: EventReport, lines: list[str]) -> None:
    for dep, result in report.decision.filters:
        verdict = "matched" if result.passed else "filtered out"
        lines.append(f"    dependency {dep}: {verdict}")
        for c in result.clauses:
            mark = "ERROR" if c.error else ("pass " if c.passed else "fail ")
            seen = f" saw {_value(c.seen)}" if c.seen is not None else ""
            lines.append(f"      {mark} {c.label}:{seen} ({c.detail})")
    for t in report.triggers:
        if t.outcome == "not involved":
            continue
        word = "with" if t.outcome == "fires" else "holding"
        holding = f"; {word} {', '.join(t.holding)}" if t.holding else ""
        lines.append(f"    trigger {t.name}: {t.outcome} (conditions: {t.condition}{holding})")
        if t.error:
            lines.append(f"      cannot render: {t.error}")
        if t.rendered is not None:
            lines.append(f"      template: {_value(t.rendered, limit=None)}")
        if t.payload is not None:
            lines.append(f"      payload:  {_value(t.payload, limit=None)}")
        if t.fired:
            lines.append(f"      fired: {t.fired}")


def build_sensors(result: LoadResult, settings: Settings, http: SharedHTTP) -> list[Sensor]:
    """A Sensor for every loaded Sensor manifest (ConfigError when one cannot run)."""
    secrets = settings.secret_store()
    sensors = []
    for res in result.of_kind("Sensor"):
        assert isinstance(res.manifest, SensorManifest)
        name = res.name

        def context(trigger: str, sensor: str = name) -> TriggerContext:
            return TriggerContext(
                sensor=sensor,
                trigger=trigger,
                secrets=secrets,
                shared_http=http,
                slack_api_url=settings.slack_api_url,
            )

        try:
            sensors.append(Sensor(res.name, res.manifest.spec, context))
        except ConfigError as e:
            raise ConfigError(f"{res.origin}: {e.path}: {e.reason}") from e
    return sensors


async def fire(sensor: Sensor, reports: Sequence[EventReport]) -> None:
    """Fire for real what the reports say would fire (``--fire``)."""
    for report in reports:
        if report.sensor != sensor.name:
            continue
        for firing in report.decision.firings:
            outcome = await sensor.execute(firing.trigger, firing.events)
            for t in report.triggers:
                if t.name == firing.trigger.name:
                    t.fired = outcome
