"""The ``file`` source config: Argo's ``FileEventSource`` (model only).

Events for operations on files of a local directory (inotify, or polling).
``herald validate`` checks it as Argo does (an operation name Argo knows, an
absolute directory, exactly one of path or pathRegexp); ``herald run`` refuses
the type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    SourceConfig,
    filter_field,
    metadata_field,
)
from eventsources.watch_path import WatchPathConfig, check_operations


class FileEventSource(SourceConfig):
    """One file event: which operation on which files of a directory."""

    event_type: str = Field(
        description="Operation to report: CREATE, WRITE, REMOVE, RENAME or CHMOD."
    )
    watch_path_config: WatchPathConfig = Field(description="Directory and files to watch.")
    polling: bool | None = Field(
        default=None, description="Poll the directory instead of using inotify."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @field_validator("event_type")
    @classmethod
    def _operation(cls, value: str) -> str:
        return check_operations(value, "eventType")
