"""The ``slack`` trigger's spec: post a message with ``chat.postMessage``.

The API base URL is a setting (``HERALD_SLACK_API_URL``), never part of the spec.
"""

from __future__ import annotations

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import TriggerParameter


class SlackThread(Spec):
    """Group messages into one thread."""

    message_aggregation_key: str | None = Field(
        default=None,
        description="Messages with the same key go to the same thread.",
    )
    broadcast_message_to_channel: bool | None = Field(
        default=None, description="Also show threaded replies in the channel."
    )


class SlackSender(Spec):
    """How the message's author appears."""

    username: str | None = Field(default=None, description="Display name of the sender.")
    icon: str | None = Field(default=None, description="Emoji (``:robot_face:``) or image URL.")


class SlackTrigger(Spec):
    """Post a message to a Slack channel."""

    slack_token: SecretKeySelector = Field(description="Secret key holding the bot token.")
    channel: str | None = Field(default=None, description="Channel name or id.")
    message: str | None = Field(default=None, description="Message text.")
    attachments: str | None = Field(
        default=None, description="Attachments as a JSON array, as the Slack API takes them."
    )
    blocks: str | None = Field(
        default=None, description="Block Kit blocks as a JSON array, as the Slack API takes them."
    )
    thread: SlackThread | None = Field(default=None, description="Thread the messages.")
    sender: SlackSender | None = Field(default=None, description="Sender name and icon.")
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this slack spec, e.g. dest ``message``."
    )
