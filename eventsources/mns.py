"""The ``mns`` source config: Argo's ``MNSEventSource`` (model only).

Messages of an Alibaba Cloud MNS queue. Argo's type has no ``metadata``.
``herald validate`` checks what Argo checks (queue and endpoint set) and that
the access key and secret key come together; ``herald run`` refuses the type
until it has an adapter.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from eventsources.base import (
    EventSourceFilter,
    Problem,
    SourceConfig,
    filter_field,
    raise_problems,
)
from herald.core.refs import SecretKeySelector


class MNSEventSource(SourceConfig):
    """One MNS event: endpoint, queue and credentials."""

    access_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the access key id (with secretKey)."
    )
    secret_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the access key secret (with accessKey)."
    )
    queue: str = Field(min_length=1, description="Queue to receive from.")
    json_body: bool | None = Field(
        default=None,
        description="Message bodies are JSON and go into the event as JSON (else a string).",
    )
    endpoint: str = Field(
        min_length=1, description="MNS endpoint, e.g. http://123.mns.cn-hangzhou.aliyuncs.com."
    )
    filter: EventSourceFilter | None = filter_field()

    @model_validator(mode="after")
    def _keys(self) -> Self:
        if (self.access_key is None) != (self.secret_key is None):
            missing = "secretKey" if self.secret_key is None else "accessKey"
            raise_problems(
                [
                    Problem(
                        (missing,),
                        "set accessKey and secretKey together, or neither",
                        None,
                        "required",
                    )
                ],
                type(self).__name__,
            )
        return self
