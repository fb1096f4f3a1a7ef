"""The ``azureEventsHub`` source config: Argo's ``AzureEventsHubEventSource`` (model only).

Events read from an Azure Event Hub. ``herald validate`` checks what Argo
checks (the namespace FQDN and hub name set, the shared access key and its
name together or neither, neither meaning Azure AD credentials); ``herald run``
refuses the type until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Metadata,
    Problem,
    SourceConfig,
    filter_field,
    metadata_field,
    raise_problems,
)
from herald.core.refs import SecretKeySelector


class AzureEventsHubEventSource(SourceConfig):
    """One Event Hubs event: namespace, hub, and credentials."""

    fqdn: str = Field(
        min_length=1,
        description="Event Hubs namespace host, e.g. my-namespace.servicebus.windows.net.",
    )
    shared_access_key_name: SecretKeySelector | None = Field(
        default=None,
        description="Secret key holding the SAS key name (with sharedAccessKey; neither: "
        "Azure AD).",
    )
    shared_access_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the SAS key (with sharedAccessKeyName)."
    )
    hub_name: str = Field(min_length=1, description="Event Hub name.")
    metadata: Metadata | None = metadata_field()
    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _keys(self) -> Self:
        if (self.shared_access_key is None) != (self.shared_access_key_name is None):
            missing = "sharedAccessKey" if self.shared_access_key is None else "sharedAccessKeyName"
            raise_problems(
                [
                    Problem(
                        (missing,),
                        "set sharedAccessKeyName and sharedAccessKey together, or neither "
                        "(Azure AD credentials)",
                        None,
                        "required",
                    )
                ],
                type(self).__name__,
            )
        return self
