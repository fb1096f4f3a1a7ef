"""The ``resource`` source config: Argo's ``ResourceEventSource`` (model only).

Events for Kubernetes objects being added, updated or deleted (an informer on
one group/version/resource). Argo's ``filter`` here is a resource filter
(name prefix, label and field selectors, creation time), not the
EventSource-level expression; its Python attribute is ``resource_filter``
(manifests still write ``filter:``) so that the loader's expression checks pass
it by. ``herald validate`` checks what Argo checks (version, resource and event
types set, selectors with a key and a known operator) and that ``createdBy`` is
a time; ``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from eventsources.base import (
    Metadata,
    Problem,
    SourceConfig,
    field_error,
    metadata_field,
    raise_problems,
)
from herald.core.model import Spec

ResourceEventType = Literal["ADD", "UPDATE", "DELETE"]

LABEL_OPERATORS = ("=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt")
"""Operators of Kubernetes label selectors, as Argo builds them."""

FIELD_OPERATORS = ("=", "==", "!=")
"""Operators Argo applies to field selectors (a regular expression match or its negation)."""


class Selector(Spec):
    """One condition on a label or a field: key, operation, value."""

    key: str = Field(min_length=1, description="Label name, or gjson path of a field.")
    operation: str | None = Field(
        default=None, description="Operator; empty means ==, e.g. !=, in, notin, exists."
    )
    value: str | None = Field(
        default=None,
        description="Value; comma-separated for in/notin; a regular expression for fields.",
    )


class ResourceFilter(Spec):
    """Which objects count: name prefix, labels, fields, creation time."""

    prefix: str | None = Field(default=None, description="Object names must start with this.")
    labels: list[Selector] | None = Field(
        default=None, description="Label selector conditions (all must hold)."
    )
    fields: list[Selector] | None = Field(
        default=None, description="Field conditions on the object (all must hold)."
    )
    created_by: str | None = Field(
        default=None,
        description="Only objects created before this time (RFC 3339, e.g. 2024-01-01T00:00:00Z).",
    )
    after_start: bool | None = Field(
        default=None, description="Only objects created after the source started."
    )

    @field_validator("created_by")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise field_error(
                    "invalid_time",
                    f"createdBy {value!r} is not an RFC 3339 time: write e.g. 2024-01-01T00:00:00Z",
                ) from None
        return value

    @model_validator(mode="after")
    def _operators(self) -> Self:
        problems: list[Problem] = []
        for name, selectors, allowed in (
            ("labels", self.labels, LABEL_OPERATORS),
            ("fields", self.fields, FIELD_OPERATORS),
        ):
            for i, selector in enumerate(selectors or []):
                if selector.operation and selector.operation not in allowed:
                    problems.append(
                        Problem(
                            (name, i, "operation"),
                            f"unknown {name[:-1]} operation {selector.operation!r}: use one of "
                            + ", ".join(allowed),
                            selector.operation,
                        )
                    )
        raise_problems(problems, type(self).__name__)
        return self


class ResourceEventSource(SourceConfig):
    """One resource event: which kind of object, in which namespace, on which changes."""

    namespace: str | None = Field(
        default=None, description="Namespace to watch (empty: every namespace)."
    )
    resource_filter: ResourceFilter | None = Field(
        default=None, alias="filter", description="Which objects count."
    )
    group: str | None = Field(
        default=None, description="API group, e.g. argoproj.io (empty for the core group)."
    )
    version: str = Field(min_length=1, description="API version, e.g. v1alpha1.")
    resource: str = Field(min_length=1, description="Resource (plural), e.g. workflows.")
    event_types: list[ResourceEventType] = Field(
        min_length=1, description="Changes to report: ADD, UPDATE and/or DELETE."
    )
    metadata: Metadata | None = metadata_field()
