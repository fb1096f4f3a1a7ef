"""The Event envelope: a CloudEvent 1.0 as Herald carries it on the bus.

The hot path carries this frozen dataclass and serialises it with orjson in the
CloudEvents structured JSON format (the ``cloudevents`` SDK is used only at the
edges, where its bindings matter; its JSON costs ~25x more per event).

Attributes follow Argo Events so that Argo users' filters keep working:
``source`` = EventSource name, ``type`` = source type (``webhook``, ``github``,
...), ``subject`` = event name, ``datacontenttype`` = ``application/json``,
``id`` stable for a redelivered input, ``time`` when received. Extension
attributes (a producer's own CloudEvent attributes, W3C ``traceparent``) ride
in ``extensions``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson

from herald.core.errors import BusError

SPECVERSION = "1.0"
JSON = "application/json"

# The context attributes CloudEvents defines; everything else is an extension.
_CORE_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "data",
        "dataschema",
        "data_base64",
    }
)
_EMPTY: Mapping[str, str] = MappingProxyType({})


def new_id() -> str:
    """A fresh event id: 32 lowercase hex characters, as Argo Events makes them."""
    return uuid.uuid4().hex


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Event:
    """One CloudEvent on the bus. ``data`` is JSON-shaped (dicts, lists, scalars).

    Events are shared: a bus may hand the same object to several consumers, so
    ``data`` is read-only by contract. Code that needs to change it works on a
    copy (a transform builds new data; parameters copy what they insert).
    """

    id: str
    source: str
    type: str
    subject: str
    data: Any
    time: datetime = field(default_factory=now)
    datacontenttype: str = JSON
    dataschema: str | None = None
    extensions: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def new(
        cls,
        *,
        source: str,
        type: str,
        subject: str,
        data: Any,
        id: str | None = None,
        extensions: Mapping[str, str] | None = None,
    ) -> Event:
        """An event received now, with a fresh id unless the input has a stable one.

        This is every source's per-message path, so it fills the slots directly:
        the generated frozen ``__init__`` costs twice as much (it goes through
        ``object.__setattr__`` by name for each field). The result is the same
        frozen event.
        """
        event = _allocate(cls)
        _set_id(event, id or new_id())
        _set_source(event, source)
        _set_type(event, type)
        _set_subject(event, subject)
        _set_data(event, data)
        _set_time(event, _utcnow(UTC))
        _set_datacontenttype(event, JSON)
        _set_dataschema(event, None)
        _set_extensions(event, MappingProxyType(dict(extensions)) if extensions else _EMPTY)
        return event

    @property
    def specversion(self) -> str:
        return SPECVERSION

    def context(self) -> dict[str, Any]:
        """The context attributes (no data) as Argo's EventContext plus extensions."""
        ctx: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "specversion": SPECVERSION,
            "type": self.type,
            "datacontenttype": self.datacontenttype,
            "subject": self.subject,
            "time": self.time,
        }
        if self.dataschema is not None:
            ctx["dataschema"] = self.dataschema
        ctx.update(self.extensions)
        return ctx

    def to_dict(self) -> dict[str, Any]:
        """The CloudEvents structured-mode JSON object (``time`` as a datetime)."""
        out = self.context()
        out["data"] = self.data
        return out

    def to_json(self) -> bytes:
        """Structured-mode CloudEvent JSON, the bytes that go on the bus."""
        try:
            return orjson.dumps(self.to_dict(), option=orjson.OPT_UTC_Z)
        except TypeError as e:
            raise BusError(f"event {self.id}: data is not JSON-serialisable: {e}") from e

    def check_storable(self) -> None:
        """Raise :class:`BusError` where :meth:`to_json` would, without building the JSON.

        Only ``data`` can fail: the context attributes are strings and a
        datetime by construction. A bus that keeps events in memory calls this
        so that it refuses exactly what a durable bus could not store, at a
        tenth of the cost of serialising the whole envelope.
        """
        try:
            orjson.dumps(self.data)
        except TypeError as e:
            raise BusError(f"event {self.id}: data is not JSON-serialisable: {e}") from e

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Event:
        """An event from a structured-mode CloudEvent object; raises ValueError when invalid."""
        missing = [k for k in ("id", "source", "type") if not obj.get(k)]
        if missing:
            raise ValueError(f"CloudEvent lacks required attribute(s): {', '.join(missing)}")
        if str(obj.get("specversion", SPECVERSION)) != SPECVERSION:
            raise ValueError(f"unsupported CloudEvents specversion {obj.get('specversion')!r}")
        raw_time = obj.get("time")
        if raw_time is None:
            when = now()
        elif isinstance(raw_time, datetime):
            when = raw_time
        else:
            when = datetime.fromisoformat(str(raw_time))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ext = {k: str(v) for k, v in obj.items() if k not in _CORE_ATTRIBUTES}
        return cls(
            id=str(obj["id"]),
            source=str(obj["source"]),
            type=str(obj["type"]),
            subject=str(obj.get("subject") or ""),
            data=obj.get("data"),
            time=when,
            datacontenttype=str(obj.get("datacontenttype") or JSON),
            dataschema=obj.get("dataschema"),
            extensions=MappingProxyType(ext) if ext else _EMPTY,
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """An event from structured-mode CloudEvent JSON; raises ValueError when invalid."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e}") from e
        if not isinstance(obj, dict):
            raise ValueError("a CloudEvent must be a JSON object")
        return cls.from_dict(obj)


# Event.new's direct slot setters (see there for why).
def _slot_setter(name: str) -> Callable[[Event, Any], None]:
    setter: Callable[[Event, Any], None] = getattr(Event, name).__set__
    return setter


_allocate = object.__new__
_utcnow = datetime.now
_set_id = _slot_setter("id")
_set_source = _slot_setter("source")
_set_type = _slot_setter("type")
_set_subject = _slot_setter("subject")
_set_data = _slot_setter("data")
_set_time = _slot_setter("time")
_set_datacontenttype = _slot_setter("datacontenttype")
_set_dataschema = _slot_setter("dataschema")
_set_extensions = _slot_setter("extensions")
