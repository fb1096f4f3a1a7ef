"""The ``azureQueueStorage`` source config: Argo's ``AzureQueueStorageEventSource`` (model only).

Messages received from an Azure Storage queue. ``herald validate`` checks what
Argo checks (the queue name, and a connection string or the storage account
name for Azure AD); ``storageAccountName`` next to a connection string loads
with a warning (it is ignored). ``herald run`` refuses the type until it has an
adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Note,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
)
from herald.core.refs import SecretKeySelector


class AzureQueueStorageEventSource(SourceConfig):
    """One Queue Storage event: account or connection string, and the queue."""

    storage_account_name: str | None = Field(
        default=None, description="Storage account of the queue, for Azure AD credentials."
    )
    connection_string: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the connection string (else storageAccountName with "
        "Azure AD).",
    )
    queue_name: str = Field(min_length=1, description="Queue to receive from.")
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else a string).",
    )
    dlq: bool | None = Field(
        default=None,
        description="Leave messages whose body is not valid undeleted, for a dead-letter queue.",
    )
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()
    decode_message: bool | None = Field(
        default=None, description="Base64-decode messages (before jsonBody applies)."
    )
    wait_time_in_seconds: int | None = Field(
        default=None,
        ge=0,
        description="Seconds to wait after an empty receive before the next one (default 3).",
    )

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.connection_string is None and not self.storage_account_name:
            raise_problems(
                [
                    Problem(
                        ("connectionString",),
                        "set connectionString, or storageAccountName to use Azure AD",
                        None,
                        "required",
                    )
                ],
                type(self).__name__,
            )
        return self

    def manifest_warnings(self) -> list[Note]:
        """``storageAccountName`` does nothing next to a connection string."""
        if self.connection_string is not None and self.storage_account_name:
            return [
                (
                    ("storageAccountName",),
                    "ignored when connectionString is set (as in Argo): remove one",
                )
            ]
        return []
