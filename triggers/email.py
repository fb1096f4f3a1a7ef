"""The ``email`` trigger's spec: send one mail per firing over SMTP.

``from`` is a Python keyword, so the attribute is ``from_`` and the manifest
spelling ``from`` is its alias.
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import TriggerParameter


class EmailTrigger(Spec):
    """Send an email built from the events."""

    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(
        default=0, ge=0, le=65535, description="SMTP server port (0: the SMTP default)."
    )
    username: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the SMTP password."
    )
    from_: str | None = Field(default=None, alias="from", description="Sender address.")
    to: list[str] | None = Field(default=None, description="Recipient addresses.")
    subject: str | None = Field(default=None, description="Subject line.")
    body: str | None = Field(default=None, description="Message body (plain text).")
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this email spec, e.g. dest ``to.-1`` to add one."
    )
