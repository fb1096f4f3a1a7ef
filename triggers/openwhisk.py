"""The ``openWhisk`` trigger config: Argo's ``OpenWhiskTrigger`` (model only).

Invokes an Apache OpenWhisk action with a JSON payload built from the events.
``herald validate`` checks what Argo checks (host and action name set, a
``payload`` list whose parameters each name a destination); ``herald run``
refuses the type until it has an adapter. The key is ``openWhisk``: Argo's own
example spells it ``openwhisk``, which Go's case-insensitive decoding accepts
and Herald refuses with a "did you mean".
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import TriggerParameter


class OpenWhiskTrigger(Spec):
    """Invoke an OpenWhisk action with a payload built from the events."""

    host: str = Field(min_length=1, description="OpenWhisk API host, e.g. openwhisk:443.")
    version: str | None = Field(default=None, description="API version (default v1).")
    namespace: str | None = Field(default=None, description="Namespace of the action (default _).")
    auth_token: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the API key (user:password)."
    )
    action_name: str = Field(min_length=1, description="Action to invoke.")
    payload: list[TriggerParameter] = Field(
        description="Builds the JSON payload from event values (required, may be empty)."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this openWhisk spec before each invocation."
    )
