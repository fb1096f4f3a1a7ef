"""The Sensor manifest: dependencies, filters and triggers, checked before anything runs.

Field names and nesting follow Argo Events' ``SensorSpec`` (``sensor_types.go``),
so an Argo Sensor loads unchanged. Unlike Argo, every mistake is an error with
its path, raised by :meth:`SensorSpec.model_validate` as one
:class:`pydantic.ValidationError`:

* shape errors (unknown or misplaced fields, wrong types, missing fields) come
  from the models; an unknown key gets a "did you mean" hint (``openwhisk`` →
  ``openWhisk``: key case is exact), and a trigger field written inside
  ``template:`` is told to move up;
* local rules (exactly one trigger type, time windows, timezones, cron, data
  filter comparators, ...) are validators on the model they concern;
* cross-references (unique names, the names in ``conditions`` and in parameter
  sources) are checked by :class:`SensorSpec` after the parts are valid, and
  reported at the offending field (``triggers[0].template.conditions``).

All 14 Argo trigger types are modelled (:data:`TRIGGER_TYPES`). Fields that
load but do nothing (``errorOnFailedRound``, kafka ``partition``, ...) and
trigger types that ``herald run`` has no adapter for yet (not in
:data:`triggers.base.REGISTRY`; it refuses them before starting anything) are
listed by :func:`deprecations`, which the loader prints as warnings.
"""

from __future__ import annotations

import re
import types
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from herald.core.backoff import Backoff
from herald.core.model import Spec
from herald.core.suggestions import closest, field_names, model_at
from sensors import cel
from triggers.argo_workflow import ArgoWorkflowTrigger
from triggers.aws_lambda import AWSLambdaTrigger
from triggers.azure_event_hubs import AzureEventHubsTrigger
from triggers.azure_service_bus import AzureServiceBusTrigger
from triggers.base import REGISTRY as RUNNABLE_TRIGGERS
from triggers.custom import CustomTrigger
from triggers.email import EmailTrigger
from triggers.http import HTTPTrigger
from triggers.k8s import StandardK8STrigger
from triggers.kafka import KafkaTrigger
from triggers.log import LogTrigger
from triggers.nats import NATSTrigger
from triggers.openwhisk import OpenWhiskTrigger
from triggers.params import TriggerParameter, TriggerParameterSource, exactly_one
from triggers.pulsar import PulsarTrigger
from triggers.slack import SlackTrigger

Loc = tuple[str | int, ...]

LogicalOperator = Literal["and", "or", ""]
Comparator = Literal[">=", ">", "=", "!=", "<", "<=", ""]
JSONType = Literal["string", "number", "bool"]

_OPAQUE: JsonDict = {"x-kubernetes-preserve-unknown-fields": True}

# The spec field of each of Argo's 14 trigger types and its spec model. The
# TriggerTemplate below has exactly these fields besides name and conditions.
TRIGGER_TYPES: Mapping[str, type[Spec]] = types.MappingProxyType(
    {
        "http": HTTPTrigger,
        "log": LogTrigger,
        "k8s": StandardK8STrigger,
        "argoWorkflow": ArgoWorkflowTrigger,
        "awsLambda": AWSLambdaTrigger,
        "slack": SlackTrigger,
        "kafka": KafkaTrigger,
        "nats": NATSTrigger,
        "email": EmailTrigger,
        "custom": CustomTrigger,
        "openWhisk": OpenWhiskTrigger,
        "azureEventHubs": AzureEventHubsTrigger,
        "azureServiceBus": AzureServiceBusTrigger,
        "pulsar": PulsarTrigger,
    }
)


def runnable_trigger(kind: str) -> bool:
    """Whether ``herald run`` has an adapter for trigger type ``kind``."""
    return kind in RUNNABLE_TRIGGERS


# Go's strconv.ParseBool, which Argo uses for bool data filters.
_GO_BOOLS = frozenset(
    {"1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"}
)
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")


# --------------------------------------------------------------------------- helpers


def _check_timezone(name: str) -> str:
    """An IANA zone name, or empty for UTC (as Go's ``time.LoadLocation``)."""
    if not name:
        return name
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return name


def _check_clock(text: str) -> str:
    match = _CLOCK.match(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3]) > 59:
        raise ValueError(f"{text!r} is not a time of day: write hh:mm:ss, e.g. '09:00:00'")
    return text


Clock = Annotated[str, AfterValidator(_check_clock)]
Timezone = Annotated[str, AfterValidator(_check_timezone)]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest, highest, names for lowest..)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_CRON_ITEM = re.compile(r"^(?:(\*|\?)|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


def _check_cron(expression: str) -> str:
    """A five-field cron expression as Argo's conditionsReset takes it (robfig/cron)."""
    text = expression.strip()
    for prefix in ("CRON_TZ=", "TZ="):
        if text.startswith(prefix):
            zone, _, text = text[len(prefix) :].partition(" ")
            _check_timezone(zone)
            text = text.strip()
    fields = text.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"cron {expression!r} has {len(fields)} fields: write five "
            "(minute hour day-of-month month day-of-week), e.g. '59 23 * * *'"
        )
    for value, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in value.split(","):
            match = _CRON_ITEM.match(item)
            bounds = [match[2], match[3]] if match else []
            numbers = [_cron_number(b, names) for b in bounds if b is not None]
            if (
                not match
                or any(n is None or not low <= n <= high for n in numbers)
                or (match[4] is not None and int(match[4]) == 0)
            ):
                raise ValueError(
                    f"cron {expression!r}: {item!r} is not a valid {what} "
                    f"(use *, numbers {low}-{high}, ranges a-b, lists a,b and steps */n)"
                )
    return expression


def _cron_number(text: str, names: tuple[str, ...]) -> int | None:
    if text.isdecimal():
        return int(text)
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if names is _MONTHS else 0)
    return None


class _ConditionParser:
    """Recursive descent over ``name``, ``!``, ``&&``, ``||`` and parentheses."""

    _TOKEN = re.compile(r"(&&|\|\||!|\(|\))|([A-Za-z_][A-Za-z0-9_-]*)|(\s+)|(.)")
    _MAX_DEPTH = 64

    def __init__(self, expression: str) -> None:
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        for match in self._TOKEN.finditer(expression):
            op, name, _space, bad = match.groups()
            if op:
                self.tokens.append(("op", op, match.start()))
            elif name:
                self.tokens.append(("name", name, match.start()))
            elif bad:
                raise self._error(f"unexpected {bad!r} at position {match.start()}")
        self.index = 0
        self.names: list[str] = []

    @staticmethod
    def _error(problem: str) -> ValueError:
        return ValueError(
            f"{problem}: conditions combine dependency names with &&, ||, ! and parentheses, "
            "e.g. 'dep-a && (dep-b || dep-c)'"
        )

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def parse(self) -> list[str]:
        if not self.tokens:
            raise self._error("conditions is blank")
        self._or(0)
        rest = self._peek()
        if rest is not None:
            raise self._error(f"unexpected {rest[1]!r} at position {rest[2]}")
        return self.names

    def _or(self, depth: int) -> None:
        self._and(depth)
        while (tok := self._peek()) is not None and tok[1] == "||":
            self.index += 1
            self._and(depth)

    def _and(self, depth: int) -> None:
        self._unary(depth)
        while (tok := self._peek()) is not None and tok[1] == "&&":
            self.index += 1
            self._unary(depth)

    def _unary(self, depth: int) -> None:
        if depth > self._MAX_DEPTH:
            raise self._error(f"nested deeper than {self._MAX_DEPTH} levels")
        tok = self._peek()
        if tok is None:
            raise self._error("expression ends too early")
        kind, text, position = tok
        self.index += 1
        if text == "!":
            self._unary(depth + 1)
        elif text == "(":
            self._or(depth + 1)
            close = self._peek()
            if close is None or close[1] != ")":
                raise self._error(f"'(' at position {position} is not closed")
            self.index += 1
        elif kind == "name":
            if text not in self.names:
                self.names.append(text)
        else:
            raise self._error(f"expected a dependency name at position {position}, got {text!r}")


def condition_names(expression: str) -> list[str]:
    """The dependency names a trigger's ``conditions`` uses, in order of first use.

    Raises ValueError, saying where and what is allowed, when the expression is
    not names combined with ``&&``, ``||``, ``!`` and parentheses. Names may
    contain ``-`` (``dep-a && dep-b``).
    """
    return _ConditionParser(expression).parse()


_SIMILAR_ENOUGH = 0.75
"""How similar (difflib's ratio, case ignored) a known name must be to be suggested."""


def _did_you_mean(word: str, options: Sequence[str]) -> str | None:
    return closest(word, options, cutoff=_SIMILAR_ENOUGH, ignore_case=True)


def _path(loc: Loc, root: str = "spec") -> str:
    """``("triggers", 0, "template")`` -> ``spec.triggers[0].template``."""
    out = root
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


Problem = tuple[Loc, str, str, object]  # (location, error type, message, offending input)


def _errors(title: str, problems: Sequence[Problem]) -> ValidationError:
    """One ValidationError reporting each problem at its own location."""
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)
            for loc, kind, message, value in problems
        ],
    )


# ------------------------------------------------------------- unknown-field hints

_DEFAULT_EXTRA_MSG = "Extra inputs are not permitted"


def _explain_unknown(owner: type[BaseModel], key: str) -> tuple[str, str]:
    """Error type and message for an unknown ``key`` of model ``owner``."""
    if owner is TriggerTemplate:
        trigger_fields = [f.alias or n for n, f in Trigger.model_fields.items()]
        if key in trigger_fields:
            return (
                "extra_forbidden",
                f"{_DEFAULT_EXTRA_MSG}: {key!r} belongs to the trigger, not to its template; "
                "move it out of 'template:' to sit beside it",
            )
    guess = _did_you_mean(key, field_names(owner))
    if guess is None:
        return ("extra_forbidden", f"{_DEFAULT_EXTRA_MSG}: unknown field {key!r}")
    note = " (a trigger type; key case is exact)" if guess in TRIGGER_TYPES else ""
    return ("extra_forbidden", f"{_DEFAULT_EXTRA_MSG}: did you mean {guess!r}?{note}")


class _ExplainsUnknownFields(Spec):
    """Rewrites "extra inputs" errors anywhere below this model into actionable ones."""

    @model_validator(mode="wrap")
    @classmethod
    def _explain_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        try:
            return handler(data)
        except ValidationError as e:
            errors = e.errors(include_url=False)
            changed = False
            problems: list[Problem] = []
            for err in errors:
                kind, message, loc = err["type"], err["msg"], err["loc"]
                if kind == "extra_forbidden" and message == _DEFAULT_EXTRA_MSG and loc:
                    owner = model_at(cls, loc[:-1])
                    if owner is not None and isinstance(loc[-1], str):
                        kind, message = _explain_unknown(owner, loc[-1])
                        changed = True
                problems.append((loc, kind, message, err["input"]))
            if not changed:
                raise
            raise _errors(e.title, problems) from None


# ------------------------------------------------------------------------ filters


class TimeFilter(Spec):
    """Pass events whose time falls in a daily window ``[start, stop)``."""

    start: Clock = Field(description="Window start, hh:mm:ss.")
    stop: Clock = Field(
        description="Window end, hh:mm:ss; earlier than start means the window spans midnight."
    )
    timezone: Timezone | None = Field(
        default=None, description="IANA timezone of start and stop (default UTC)."
    )

    @model_validator(mode="after")
    def _not_empty_window(self) -> TimeFilter:
        if self.start == self.stop:
            raise ValueError(
                f"start and stop are both {self.start!r}, so the window is empty: make them differ"
            )
        return self


class EventContext(Spec):
    """Pass events whose context attributes equal these (only the non-empty ones count)."""

    type: str | None = Field(default=None, description="Event type: the EventSource type.")
    subject: str | None = Field(default=None, description="Event subject: the event name.")
    source: str | None = Field(default=None, description="Event source: the EventSource name.")
    datacontenttype: str | None = Field(default=None, description="Content type of the data.")
    id: str | None = Field(default=None, description="Accepted for Argo parity; not compared.")
    specversion: str | None = Field(
        default=None, description="Accepted for Argo parity; not compared."
    )
    time: str | None = Field(default=None, description="Accepted for Argo parity; not compared.")

    @model_validator(mode="after")
    def _something_to_compare(self) -> EventContext:
        if not (self.type or self.subject or self.source or self.datacontenttype):
            raise ValueError(
                "context filter compares nothing: set type, subject, source or datacontenttype"
            )
        return self


class DataFilter(Spec):
    """Compare the value at a path of the event data with a list of values (any may match)."""

    path: str = Field(min_length=1, description="gjson path into the event data, e.g. body.action.")
    type: JSONType = Field(description="How to compare: string (regexp), number or bool.")
    value: list[str] = Field(
        min_length=1,
        description="Values to compare with; the filter passes when any matches. For type "
        "string each is a regular expression.",
    )
    comparator: Comparator = Field(
        default="",
        description="For numbers: >=, >, =, !=, <, <=; for strings: = or !=; empty means =.",
    )
    template: str | None = Field(
        default=None,
        description="Go-style template (``.Input`` is the value at path) applied before comparing.",
    )

    @model_validator(mode="after")
    def _values_fit_type(self) -> DataFilter:
        if any(v == "" for v in self.value):
            raise ValueError("value contains an empty string: remove it or write the value")
        if self.type != "number" and self.comparator not in ("", "=", "!="):
            raise ValueError(
                f"comparator {self.comparator!r} only applies to type number; "
                f"a {self.type} filter compares with '=' or '!='"
            )
        if self.type == "number":
            for v in self.value:
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"value {v!r} is not a number (type is number)") from None
        if self.type == "bool":
            for v in self.value:
                if v not in _GO_BOOLS:
                    raise ValueError(f"value {v!r} is not a bool: write 'true' or 'false'")
        return self


class PayloadField(Spec):
    """Binds a name in an expression to the value at a path of the event data."""

    path: str = Field(min_length=1, description="gjson path into the event data.")
    name: str = Field(min_length=1, description="Name used for it in the expression.")


class ExprFilter(Spec):
    """An Argo (govaluate) boolean expression over named values of the event data."""

    expr: str = Field(min_length=1, description="The expression, e.g. ``a == 'b' && c > 2``.")
    fields: list[PayloadField] = Field(
        min_length=1, description="The names the expression uses, each bound to a data path."
    )


class EventDependencyFilter(Spec):
    """Which events of a dependency count; every kind that is set must pass (see operators)."""

    time: TimeFilter | None = Field(default=None, description="Daily time window.")
    context: EventContext | None = Field(default=None, description="Context attribute equality.")
    data: list[DataFilter] | None = Field(default=None, description="Comparisons on event data.")
    exprs: list[ExprFilter] | None = Field(default=None, description="Expressions on event data.")
    data_logical_operator: LogicalOperator = Field(
        default="and", description="Combine data filters with and (default) or or."
    )
    expr_logical_operator: LogicalOperator = Field(
        default="and", description="Combine exprs filters with and (default) or or."
    )
    script: str | None = Field(
        default=None, description="Lua script over ``event`` that must return true."
    )
    cel: str | None = Field(
        default=None,
        min_length=1,
        description="Herald extension (not in Argo Events): one CEL boolean expression over the "
        "data's top-level keys, ``data`` and ``event`` (the context attributes).",
    )

    @field_validator("data_logical_operator", "expr_logical_operator")
    @classmethod
    def _empty_is_and(cls, value: LogicalOperator) -> LogicalOperator:
        return value or "and"

    @field_validator("cel")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                program = cel.compile(value)
            except cel.CelError as e:
                raise ValueError(f"not valid CEL: {e}") from None
            unknown = sorted(program.unknown_functions)
            if unknown:
                raise ValueError(
                    f"CEL function(s) {', '.join(unknown)} do not exist (check the spelling)"
                )
        return value


class EventDependencyTransformer(Spec):
    """Rewrite the event data before filtering: exactly one of jq or a Lua script."""

    jq: str | None = Field(
        default=None, description="jq program; its first output object is the new data."
    )
    script: str | None = Field(
        default=None, description="Lua script over ``event``; the table it returns is the new data."
    )

    @model_validator(mode="after")
    def _one_program(self) -> EventDependencyTransformer:
        exactly_one(self, ["jq", "script"], "transform")
        return self


class EventDependency(Spec):
    """An event a sensor waits for: one event name of one EventSource, optionally filtered."""

    name: str = Field(min_length=1, description="Unique name, used in conditions and parameters.")
    event_source_name: str = Field(min_length=1, description="Name of the EventSource.")
    event_name: str = Field(min_length=1, description="Event name: the key under the source type.")
    filters: EventDependencyFilter | None = Field(default=None, description="Event filters.")
    filters_logical_operator: LogicalOperator = Field(
        default="and", description="Combine the filter kinds with and (default) or or."
    )
    transform: EventDependencyTransformer | None = Field(
        default=None, description="Rewrite the data before filtering."
    )

    @field_validator("filters_logical_operator")
    @classmethod
    def _empty_is_and(cls, value: LogicalOperator) -> LogicalOperator:
        return value or "and"


# ----------------------------------------------------------------------- triggers


class ConditionsResetByTime(Spec):
    """Clear a trigger's partially met conditions on a cron schedule."""

    cron: Annotated[str, AfterValidator(_check_cron)] = Field(
        description="Five-field cron expression, e.g. '59 23 * * *'."
    )
    timezone: Timezone | None = Field(
        default=None, description="IANA timezone of the schedule (default UTC)."
    )


class ConditionsResetCriteria(Spec):
    """When to forget the events a trigger has collected so far."""

    by_time: ConditionsResetByTime = Field(description="Reset on a schedule.")


class TriggerTemplate(_ExplainsUnknownFields):
    """What a trigger does: its name, when it fires, and exactly one trigger type."""

    name: str = Field(min_length=1, description="Unique name of the trigger.")
    conditions: str | None = Field(
        default=None,
        description="Dependency names combined with &&, || and !; empty means all dependencies.",
    )
    conditions_reset: list[ConditionsResetCriteria] | None = Field(
        default=None, description="Schedules that clear partially met conditions."
    )
    http: HTTPTrigger | None = Field(default=None, description="Send an HTTP request.")
    log: LogTrigger | None = Field(default=None, description="Log the events.")
    k8s: StandardK8STrigger | None = Field(
        default=None,
        alias="k8s",
        description="Create, update, patch or delete a Kubernetes object.",
    )
    argo_workflow: ArgoWorkflowTrigger | None = Field(
        default=None, description="Submit or manage an Argo Workflow."
    )
    aws_lambda: AWSLambdaTrigger | None = Field(
        default=None, description="Invoke an AWS Lambda function."
    )
    slack: SlackTrigger | None = Field(default=None, description="Post a Slack message.")
    kafka: KafkaTrigger | None = Field(default=None, description="Produce a Kafka record.")
    nats: NATSTrigger | None = Field(default=None, description="Publish a NATS message.")
    email: EmailTrigger | None = Field(default=None, description="Send an email.")
    custom: CustomTrigger | None = Field(
        default=None, description="Hand a spec to a user's gRPC trigger server."
    )
    open_whisk: OpenWhiskTrigger | None = Field(
        default=None, description="Invoke an Apache OpenWhisk action."
    )
    azure_event_hubs: AzureEventHubsTrigger | None = Field(
        default=None, description="Send an event to an Azure Event Hub."
    )
    azure_service_bus: AzureServiceBusTrigger | None = Field(
        default=None, description="Send a message to an Azure Service Bus queue or topic."
    )
    pulsar: PulsarTrigger | None = Field(
        default=None, description="Produce a message on an Apache Pulsar topic."
    )

    @model_validator(mode="after")
    def _one_type(self) -> TriggerTemplate:
        exactly_one(self, _TYPE_ATTRS, "a trigger template")
        return self

    @property
    def trigger_type(self) -> str:
        """The spec field of the trigger type, e.g. ``"http"``."""
        return next(
            alias for alias, attr in _TYPE_ATTR_BY_ALIAS.items() if getattr(self, attr) is not None
        )

    @property
    def trigger_spec(self) -> Spec:
        """The spec of the trigger type that is set."""
        spec: Spec = getattr(self, _TYPE_ATTR_BY_ALIAS[self.trigger_type])
        return spec


_TYPE_ATTR_BY_ALIAS: dict[str, str] = {
    (f.alias or n): n
    for n, f in TriggerTemplate.model_fields.items()
    if (f.alias or n) in TRIGGER_TYPES
}
_TYPE_ATTRS: list[str] = list(_TYPE_ATTR_BY_ALIAS.values())


def _check_status_code(code: int) -> int:
    if not 100 <= code <= 599:
        raise ValueError(f"{code} is not an HTTP status code: use 100..599")
    return code


StatusCode = Annotated[
    int,
    AfterValidator(_check_status_code),
    WithJsonSchema({"type": "integer", "minimum": 100, "maximum": 599}),
]


class K8SResourcePolicy(Spec):
    """Decide success of a k8s/argoWorkflow trigger by polling the object's labels."""

    labels: dict[str, str] = Field(description="Labels the object must reach to count as success.")
    backoff: Backoff | None = Field(default=None, description="How long and how often to poll.")
    error_on_backoff_timeout: bool | None = Field(
        default=None, description="Fail the trigger when the labels never match."
    )


class StatusPolicy(Spec):
    """Response status codes that count as success (http, awsLambda, openWhisk triggers)."""

    allow: list[StatusCode] = Field(
        min_length=1, description="Exactly the accepted status codes, 100..599."
    )


class TriggerPolicy(Spec):
    """How to decide that a trigger succeeded."""

    k8s: K8SResourcePolicy | None = Field(
        default=None, alias="k8s", description="For k8s and argoWorkflow triggers."
    )
    status: StatusPolicy | None = Field(
        default=None, description="For http, awsLambda and openWhisk triggers."
    )


class RateLimit(Spec):
    """At most requestsPerUnit firings of this trigger per unit of time."""

    unit: Literal["Second", "Minute", "Hour"] = Field(
        default="Second", description="Second (default), Minute or Hour."
    )
    requests_per_unit: int = Field(description="Firings allowed per unit, at least 1.")

    @field_validator("requests_per_unit")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(
                f"requestsPerUnit is {value}: it must be at least 1 (remove rateLimit for no limit)"
            )
        return value


# Which policy applies to which trigger types (Argo ignores the others silently).
_POLICY_TYPES = {"k8s": ("k8s", "argoWorkflow"), "status": ("http", "awsLambda", "openWhisk")}


class Trigger(_ExplainsUnknownFields):
    """A trigger with its delivery settings: parameters, policy, retries, rate limit, DLQ."""

    template: TriggerTemplate = Field(description="What the trigger does.")
    parameters: list[TriggerParameter] | None = Field(
        default=None,
        description="Write event values into the template before firing, e.g. dest "
        "``http.url`` or ``k8s.source.resource.metadata.name``.",
    )
    policy: TriggerPolicy | None = Field(default=None, description="How success is decided.")
    retry_strategy: Backoff | None = Field(
        default=None, description="Retries on failure (default: one attempt)."
    )
    rate_limit: RateLimit | None = Field(default=None, description="Limit the firing rate.")
    at_least_once: bool | None = Field(
        default=None,
        description="Ack the bus message only after the trigger finished (success or DLQ). "
        "Absent means Herald's default, at-least-once (Argo's default is at-most-once); "
        "false acks first (at-most-once).",
    )
    dlq_trigger: Trigger | None = Field(
        default=None,
        description="Fired with the same events when this trigger finally fails; it cannot "
        "have a dlqTrigger of its own.",
    )

    @model_validator(mode="after")
    def _delivery_rules(self) -> Trigger:
        problems: list[Problem] = []
        dlq = self.dlq_trigger
        if dlq is not None:
            if dlq.dlq_trigger is not None:
                problems.append(
                    (
                        ("dlqTrigger", "dlqTrigger"),
                        "nested_dlq_trigger",
                        "a dlqTrigger cannot have its own dlqTrigger: remove the inner one",
                        dlq.dlq_trigger.template.name,
                    )
                )
            if self.at_least_once is False:
                problems.append(
                    (
                        ("atLeastOnce",),
                        "dlq_needs_at_least_once",
                        "a trigger with a dlqTrigger runs at least once: remove atLeastOnce: false",
                        False,
                    )
                )
            if dlq.at_least_once is False:
                problems.append(
                    (
                        ("dlqTrigger", "atLeastOnce"),
                        "dlq_needs_at_least_once",
                        "a dlqTrigger runs at least once: remove atLeastOnce: false",
                        False,
                    )
                )
        if self.policy is not None:
            kind = self.template.trigger_type
            for name, allowed in _POLICY_TYPES.items():
                if getattr(self.policy, name) is not None and kind not in allowed:
                    problems.append(
                        (
                            ("policy", name),
                            "policy_not_applicable",
                            f"policy.{name} applies to {' and '.join(allowed)} triggers, "
                            f"not to {kind!r}: remove it",
                            name,
                        )
                    )
        if problems:
            raise _errors("Trigger", problems)
        return self


class SensorSpec(_ExplainsUnknownFields):
    """The ``spec`` of a Sensor: what to wait for and what to do then."""

    dependencies: list[EventDependency] = Field(description="The events the sensor waits for.")
    triggers: list[Trigger] = Field(description="What the sensor does when conditions are met.")
    template: dict[str, Any] | None = Field(
        default=None,
        description="Pod template for the sensor's Deployment (Kubernetes only; ignored by "
        "herald run).",
        json_schema_extra=_OPAQUE,
    )
    event_bus_name: str = Field(default="default", description="EventBus to subscribe to.")
    replicas: int | None = Field(
        default=None, ge=0, description="Pod replicas on Kubernetes (ignored by herald run)."
    )
    revision_history_limit: int | None = Field(
        default=None, ge=0, description="Old ReplicaSets to keep on Kubernetes."
    )
    logging_fields: dict[str, str] | None = Field(
        default=None, description="Extra fields added to every log line of the sensor."
    )
    error_on_failed_round: bool | None = Field(
        default=None,
        description="Ignored: declared by Argo Events but never implemented there either. "
        "Accepted so Argo manifests load; the loader warns.",
        json_schema_extra={"deprecated": True},
    )

    @model_validator(mode="after")
    def _references(self) -> SensorSpec:
        problems = _cross_reference_problems(self)
        if problems:
            raise _errors("SensorSpec", problems)
        return self

    def dependency(self, name: str) -> EventDependency:
        """The dependency called ``name`` (KeyError if there is none)."""
        for dep in self.dependencies:
            if dep.name == name:
                return dep
        raise KeyError(name)


def _cross_reference_problems(spec: SensorSpec) -> list[Problem]:
    problems: list[Problem] = []
    if not spec.dependencies:
        problems.append(
            (
                ("dependencies",),
                "no_dependencies",
                "a Sensor needs at least one dependency: add one under dependencies",
                [],
            )
        )
    if not spec.triggers:
        problems.append(
            (("triggers",), "no_triggers", "a Sensor needs at least one trigger: add one", [])
        )
    if not spec.dependencies:
        return problems  # every name would be unknown: one error says it all

    first_dep: dict[str, int] = {}
    for i, dep in enumerate(spec.dependencies):
        if dep.name in first_dep:
            problems.append(
                (
                    ("dependencies", i, "name"),
                    "duplicate_name",
                    f"dependency name {dep.name!r} is already used by "
                    f"dependencies[{first_dep[dep.name]}]: give each dependency its own name",
                    dep.name,
                )
            )
        else:
            first_dep[dep.name] = i
    known = list(first_dep)

    first_trigger: dict[str, int] = {}
    for i, trigger in enumerate(spec.triggers):
        name = trigger.template.name
        if name in first_trigger:
            problems.append(
                (
                    ("triggers", i, "template", "name"),
                    "duplicate_name",
                    f"trigger name {name!r} is already used by triggers[{first_trigger[name]}]"
                    ": give each trigger its own name",
                    name,
                )
            )
        else:
            first_trigger[name] = i
        loc: Loc = ("triggers", i)
        current: Trigger | None = trigger
        while current is not None:
            problems += _trigger_reference_problems(current, loc, known)
            current, loc = current.dlq_trigger, (*loc, "dlqTrigger")
    return problems


def _trigger_reference_problems(trigger: Trigger, loc: Loc, known: list[str]) -> list[Problem]:
    problems: list[Problem] = []
    conditions = trigger.template.conditions
    if conditions:
        where = (*loc, "template", "conditions")
        try:
            names = condition_names(conditions)
        except ValueError as e:
            problems.append((where, "conditions_syntax", str(e), conditions))
        else:
            for name in names:
                if name not in known:
                    problems.append(
                        (where, "unknown_dependency", _unknown(name, known), conditions)
                    )
    # Trigger-level parameters rewrite the template before it is used (Argo's
    # tutorials rewrite a parameter's own dependencyName this way): a source
    # that such a parameter overwrites is not checked.
    rewritten = [p.dest for p in trigger.parameters or []]
    for where, source in _parameter_sources(trigger, loc):
        if source.dependency_name not in known and not _rewritten(where[len(loc) :], rewritten):
            problems.append(
                (
                    (*where, "dependencyName"),
                    "unknown_dependency",
                    _unknown(source.dependency_name, known),
                    source.dependency_name,
                )
            )
    return problems


def _rewritten(relative: Loc, dests: list[str]) -> bool:
    """Whether a trigger parameter's dest overwrites ``relative``'s dependencyName."""
    if not relative or relative[0] != "template":
        return False
    target = ".".join(str(part) for part in (*relative[1:], "dependencyName"))
    return any(target == d or target.startswith(d + ".") for d in dests)


def _unknown(name: str, known: list[str]) -> str:
    guess = _did_you_mean(name, known)
    hint = f"; did you mean {guess!r}?" if guess else ""
    listed = ", ".join(repr(k) for k in known) or "none"
    return f"{name!r} is not a dependency of this Sensor (dependencies: {listed}){hint}"


def _parameter_sources(trigger: Trigger, loc: Loc) -> Iterator[tuple[Loc, TriggerParameterSource]]:
    """Every parameter source in a trigger (not its dlqTrigger), with its location."""
    for name in ("template", "parameters"):
        yield from _sources_in(getattr(trigger, name), (*loc, _alias(Trigger, name)))


def _sources_in(value: object, loc: Loc) -> Iterator[tuple[Loc, TriggerParameterSource]]:
    if isinstance(value, TriggerParameterSource):
        yield loc, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _sources_in(getattr(value, name), (*loc, _alias(type(value), name)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _sources_in(item, (*loc, i))


def _alias(model: type[BaseModel], name: str) -> str:
    return model.model_fields[name].alias or name


# -------------------------------------------------------------------- deprecations

_CONTEXT_IGNORED = ("id", "specversion", "time")


def deprecations(spec: SensorSpec) -> list[tuple[str, str]]:
    """Fields that load but do nothing, as ``(manifest path, message)`` for warnings.

    Paths read like ``spec.triggers[0].template.kafka.partition``.
    """
    found: list[tuple[str, str]] = []
    if spec.error_on_failed_round is not None:
        found.append(
            (
                _path(("errorOnFailedRound",)),
                "ignored: Argo Events declares it but never acts on it, and neither does "
                "Herald; remove it",
            )
        )
    for i, dep in enumerate(spec.dependencies):
        context = dep.filters.context if dep.filters else None
        for name in _CONTEXT_IGNORED:
            if context is not None and getattr(context, name) is not None:
                found.append(
                    (
                        _path(("dependencies", i, "filters", "context", name)),
                        "ignored: the context filter compares only type, subject, source "
                        "and datacontenttype (as in Argo Events); remove it",
                    )
                )
    for i, trigger in enumerate(spec.triggers):
        loc: Loc = ("triggers", i)
        current: Trigger | None = trigger
        while current is not None:
            found += _template_warnings(current.template, (*loc, "template"))
            current, loc = current.dlq_trigger, (*loc, "dlqTrigger")
    return found


def _template_warnings(template: TriggerTemplate, loc: Loc) -> list[tuple[str, str]]:
    """Warnings about one trigger template: ignored fields, a type Herald cannot run yet."""
    found: list[tuple[str, str]] = []
    kind = template.trigger_type
    if not runnable_trigger(kind):
        runs = ", ".join(t for t in TRIGGER_TYPES if runnable_trigger(t))
        found.append(
            (
                _path((*loc, kind)),
                f"trigger type {kind!r} is modelled but Herald cannot run it yet: herald run "
                f"refuses it (it runs {runs})",
            )
        )
    kafka = template.kafka
    if kafka is not None and kafka.partition is not None:
        found.append(
            (
                _path((*loc, "kafka", "partition")),
                "deprecated and ignored (as in Argo Events): the partition follows "
                "partitioningKey; remove partition",
            )
        )
    bus = template.azure_service_bus
    if bus is not None and bus.subscription_name is not None:
        found.append(
            (
                _path((*loc, "azureServiceBus", "subscriptionName")),
                "ignored (as in Argo Events): a message is sent to queueName or topicName; "
                "remove subscriptionName",
            )
        )
    pulsar = template.pulsar
    if (
        pulsar is not None
        and pulsar.auth_athenz_secret is not None
        and not pulsar.auth_athenz_params
    ):
        found.append(
            (
                _path((*loc, "pulsar", "authAthenzSecret")),
                "ignored without authAthenzParams (as in Argo Events): set them, or remove it",
            )
        )
    return found
