"""What every EventSource config shares: the filter, metadata, warnings and error reporting.

Each source type's config (``webhook``, ``github``, ``kafka``, …) derives from
:class:`SourceConfig`, carries Argo's ``metadata`` (copied into every event) and
``filter`` (an expression over the event data, dropped events still count as
received) and reports two kinds of problem:

- errors, raised during validation with the path of the offending field
  (:func:`invalid` builds them at a path relative to the model), and
- warnings, for fields that load but are deprecated or ignored
  (:meth:`SourceConfig.manifest_warnings`), which the loader prints.

It also holds the manifest checks Argo runs on the shared TLS, SASL and basic-auth
blocks, and :func:`suggest_fields`, which adds "did you mean" hints to
unknown-field errors.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeAlias

from pydantic import BaseModel, Field, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from herald.core.model import Spec
from herald.core.suggestions import closest, field_names, model_at
from herald.core.tls import BasicAuth, SASLConfig, TLSConfig

if TYPE_CHECKING:
    from eventsources.http_server import WebhookContext

Loc: TypeAlias = tuple[str | int, ...]
"""A path inside a manifest, in manifest (camelCase) spelling, e.g. ``("webhook", "port")``."""

Note: TypeAlias = tuple[Loc, str]
"""A warning: where (relative to the model that reports it) and what to do."""

Metadata: TypeAlias = dict[str, str]

INT_OR_STRING: Final[dict[str, Any]] = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
"""JSON schema of a field written as a number or a string (Kubernetes' IntOrString)."""


class EventSourceFilter(Spec):
    """An EventSource-level filter: events for which the expression is false are dropped."""

    expression: str = Field(
        description=(
            "Boolean expression over the event data's top-level keys (body, header(s), "
            "metadata, …); CEL, or Argo's expr-lang in the subset Herald translates."
        )
    )

    @field_validator("expression")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise field_error(
                "blank_expression", "expression is empty: write one, or remove filter"
            )
        return value


def metadata_field() -> Any:
    """The ``metadata`` field every source config has (Argo's convention)."""
    return Field(
        default=None,
        description="Key/value pairs copied into every event's data as 'metadata'.",
    )


def filter_field() -> Any:
    """The ``filter`` field every source config has."""
    return Field(
        default=None,
        description="Drop events for which this expression is false.",
    )


class SourceConfig(Spec):
    """Base of the per-event config of every source type (the values of a type map)."""

    def manifest_warnings(self) -> list[Note]:
        """Fields that load but are deprecated or ignored, with what to do instead."""
        return []

    def http_route(self) -> tuple[Loc, WebhookContext] | None:
        """Where this event listens over HTTP: (path of its webhook context, the context).

        Sources served by the shared per-port HTTP server override this so that the
        EventSource can reject the same port and endpoint used twice.
        """
        return None


def field_error(kind: str, message: str) -> PydanticCustomError:
    """An error to raise from a field validator: no "Value error," prefix, a stable type."""
    return PydanticCustomError(kind, message)


class Problem(NamedTuple):
    """One thing wrong in a manifest, at a path relative to the model that finds it."""

    loc: Loc
    message: str
    value: object = None
    kind: str = "invalid_config"


def invalid(*problems: Problem, title: str = "Spec") -> ValidationError:
    """A validation error at paths relative to the model being validated.

    Raise it from a model validator to point at the field that is wrong rather than
    at the whole object; pydantic prefixes the paths of the enclosing models.
    """
    details = [
        InitErrorDetails(type=PydanticCustomError(p.kind, p.message), loc=p.loc, input=p.value)
        for p in problems
    ]
    return ValidationError.from_exception_data(title, details)


def tls_problems(tls: TLSConfig | None, loc: Loc = ("tls",)) -> list[Problem]:
    """What Argo rejects in a client TLS block: nothing to use, or half a client pair."""
    if tls is None or tls.insecure_skip_verify:
        return []
    cert, key = tls.client_cert_secret, tls.client_key_secret
    if (cert is None) != (key is None):
        missing = "clientKeySecret" if key is None else "clientCertSecret"
        return [Problem((*loc, missing), "set clientCertSecret and clientKeySecret together")]
    if tls.ca_cert_secret is None and cert is None and not tls.enabled:
        return [
            Problem(
                loc,
                "tls has nothing to use: set caCertSecret, clientCertSecret with "
                "clientKeySecret, enabled: true (system trust store) or insecureSkipVerify",
            )
        ]
    return []


def basic_auth_problems(auth: BasicAuth | None, loc: Loc) -> list[Problem]:
    """Basic auth needs both a username and a password secret."""
    if auth is None:
        return []
    out: list[Problem] = []
    for name, value in (("username", auth.username), ("password", auth.password)):
        if value is None:
            message = f"basic auth needs {name}: a {{name, key}} secret ref"
            out.append(Problem((*loc, name), message, kind="missing"))
    return out


SASL_MECHANISMS = ("PLAIN", "OAUTHBEARER", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI")


def sasl_problems(sasl: SASLConfig | None, loc: Loc = ("sasl",)) -> list[Problem]:
    """What Argo rejects in a SASL block: an unknown mechanism or a missing secret."""
    if sasl is None:
        return []
    out: list[Problem] = []
    if sasl.mechanism is not None and sasl.mechanism not in SASL_MECHANISMS:
        out.append(
            Problem(
                (*loc, "mechanism"),
                f"unknown SASL mechanism {sasl.mechanism!r}: use one of "
                + ", ".join(SASL_MECHANISMS),
                sasl.mechanism,
            )
        )
    for name, value in (("userSecret", sasl.user_secret), ("passwordSecret", sasl.password_secret)):
        if value is None:
            message = f"sasl needs {name} (userSecret and passwordSecret)"
            out.append(Problem((*loc, name), message, kind="missing"))
    return out


def raise_problems(problems: Sequence[Problem], title: str) -> None:
    """Raise all ``problems`` as one validation error; do nothing when there are none."""
    if problems:
        raise invalid(*problems, title=title)


# ---------------------------------------------------------------------------------------
# "Did you mean": hints on unknown fields (herald.core.suggestions finds the key).

_SIMILAR_ENOUGH: Final = 0.7
"""How similar (difflib's ratio, case counting) a known key must be to be suggested."""


def _details(error: Any) -> InitErrorDetails:
    """Rebuild one reported error, message and type kept, so that it can be raised again."""
    kind = PydanticCustomError(error["type"], error["msg"])
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])


def suggest_fields(
    root: type[BaseModel],
    error: ValidationError,
    *,
    extra: Sequence[InitErrorDetails] = (),
    hints: dict[str, str] | None = None,
    skip: Container[str] = (),
) -> ValidationError:
    """``error`` with a "did you mean" on each unknown field that is close to a real one.

    ``extra`` are further errors to report with them; ``hints`` maps an unknown
    top-level field of ``root`` to a fixed explanation (e.g. a legacy field);
    errors whose type is in ``skip`` are left out (they follow from ``extra``).
    """
    out: list[InitErrorDetails] = list(extra)
    changed = bool(extra)
    for err in error.errors(include_url=False):
        if err["type"] in skip:
            changed = True
            continue
        loc: Loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            hint = (hints or {}).get(loc[-1]) if len(loc) == 1 else None
            model = model_at(root, loc[:-1])
            match = (
                closest(loc[-1], field_names(model), cutoff=_SIMILAR_ENOUGH, ignore_case=False)
                if model is not None
                else None
            )
            if hint is not None or match is not None:
                message = hint or f"Extra inputs are not permitted; did you mean {match!r}?"
                out.append(
                    InitErrorDetails(
                        type=PydanticCustomError("extra_forbidden", message),
                        loc=loc,
                        input=err["input"],
                    )
                )
                changed = True
                continue
        out.append(_details(err))
    if not changed:
        return error
    return ValidationError.from_exception_data(error.title, out)
