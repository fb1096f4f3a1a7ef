"""The ``sftp`` source config: Argo's ``SFTPEventSource`` (model only).

Events for files that appear in or disappear from a directory of an SFTP
server, found by polling. ``herald validate`` checks it as Argo does (an
operation name, an absolute directory, exactly one of path or pathRegexp, a
valid poll interval); ``herald run`` refuses the type until it has an adapter.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    SourceConfig,
    field_error,
    filter_field,
    metadata_field,
)
from eventsources.watch_path import WatchPathConfig, check_operations
from herald.core.durations import parse_go_duration
from herald.core.refs import SecretKeySelector

SFTP_OPERATIONS = ("CREATE", "REMOVE")
"""What comparing two directory listings can show (Argo reports nothing else)."""


class SFTPEventSource(SourceConfig):
    """One SFTP event: server, credentials, and which files of which directory."""

    event_type: str = Field(
        description="Operation to report: CREATE (a new file) or REMOVE (a file gone)."
    )
    watch_path_config: WatchPathConfig = Field(description="Directory and files to watch.")
    username: SecretKeySelector | None = Field(default=None, description="Login user name.")
    password: SecretKeySelector | None = Field(default=None, description="Login password.")
    ssh_key_secret: SecretKeySelector | None = Field(
        default=None, description="SSH private key to log in with (instead of a password)."
    )
    address: SecretKeySelector | None = Field(
        default=None, description="Server address as host:port, read from a secret."
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    poll_interval_duration: str | None = Field(
        default=None, description="How often to list the directory, e.g. 30s (default 10s)."
    )

    @field_validator("event_type")
    @classmethod
    def _operation(cls, value: str) -> str:
        check_operations(value, "eventType")
        if value not in SFTP_OPERATIONS:
            raise field_error(
                "invalid_operation",
                f"eventType {value!r} never happens on SFTP: the source compares directory "
                "listings, so it reports CREATE or REMOVE",
            )
        return value

    @field_validator("poll_interval_duration")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            seconds = parse_go_duration(value)
        except ValueError as e:
            raise field_error("invalid_duration", f"pollIntervalDuration: {e}") from None
        if seconds <= 0:
            raise field_error(
                "invalid_duration", "pollIntervalDuration must be longer than zero, e.g. 10s"
            )
        return value
