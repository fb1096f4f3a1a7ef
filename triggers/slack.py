"""The ``slack`` trigger: post a message with ``chat.postMessage``.

The API base URL is a setting (``HERALD_SLACK_API_URL``), never part of the spec.

:class:`SlackTriggerRunner` is the adapter (the http trigger is its template).
Per firing it applies ``slack.parameters`` to its own spec (Argo applies them
and then posts the unparameterised spec, so its parameters have no effect),
then posts one message through the process-wide HTTP session as JSON, with the
token from ``slackToken`` as ``Authorization: Bearer``:

- ``channel`` (a leading ``#`` is dropped, as in Argo), ``message`` as
  ``text``, ``attachments`` and ``blocks`` (JSON arrays, as Slack takes them);
  at least one of message, attachments and blocks is needed;
- ``sender.username``; ``sender.icon`` as ``icon_url`` when it is an http(s)
  URL, else as ``icon_emoji``;
- ``thread.messageAggregationKey``: the first message posted with a key (per
  channel) starts a thread, and later messages with that key reply in it
  (``thread_ts``), also shown in the channel with
  ``broadcastMessageToChannel`` (``reply_broadcast``). As in Argo the map is
  kept in memory (the :data:`MAX_THREADS` most recent keys), so a restart
  starts new threads.

Failures: HTTP 429 is temporary and honours ``Retry-After``; 5xx, timeouts
and connection errors are temporary; Slack's ``ok: false`` is a failure
carrying Slack's error code, temporary for :data:`TEMPORARY_ERRORS`
(``ratelimited``, ``internal_error``, …) and permanent otherwise
(``channel_not_found``, ``invalid_auth``, …), as are a missing token or
channel and attachments or blocks that are not JSON arrays.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
from aiohttp import hdrs
from pydantic import Field

from bus.event import Event
from herald.core.errors import PermanentTriggerError, SecretError, TemporaryTriggerError
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.base import TriggerContext
from triggers.params import TriggerParameter, apply_to_spec


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


# ---------------------------------------------------------------------------- runner

MAX_THREADS = 10_000
"""Thread keys remembered per trigger (least recently used ones are forgotten)."""

TIMEOUT_SECONDS = 30.0

TEMPORARY_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "timeout",
    }
)
"""Slack error codes that may pass: the firing is retried."""

_EXCERPT = 200


class SlackTriggerRunner:
    """Posts one Slack message per firing with ``chat.postMessage``."""

    def __init__(self, spec: SlackTrigger, context: TriggerContext) -> None:
        self._context = context
        self._url = context.slack_api_url.rstrip("/") + "/chat.postMessage"
        self._threads: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)

    async def fire(self, spec: SlackTrigger, events: Mapping[str, Event]) -> str:
        """Post the message for ``events``; return e.g. ``posted to general (ts 1.2)``."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "slack")
        channel = (spec.channel or "").removeprefix("#")
        if not channel:
            raise PermanentTriggerError("slack.channel is required")
        if not (spec.message or spec.attachments or spec.blocks):
            raise PermanentTriggerError(
                "slack: nothing to post: give at least one of message, attachments and blocks"
            )
        body: dict[str, Any] = {"channel": channel}
        if spec.message:
            body["text"] = spec.message
        if spec.attachments:
            body["attachments"] = _json_array(spec.attachments, "slack.attachments")
        if spec.blocks:
            body["blocks"] = _json_array(spec.blocks, "slack.blocks")
        if spec.sender is not None:
            if spec.sender.username:
                body["username"] = spec.sender.username
            icon = spec.sender.icon
            if icon:
                is_url = icon.startswith(("https://", "http://"))
                body["icon_url" if is_url else "icon_emoji"] = icon
        thread_key = ""
        if spec.thread is not None and spec.thread.message_aggregation_key:
            thread_key = spec.thread.message_aggregation_key
            thread_ts = self._threads.get((channel, thread_key))
            if thread_ts is not None:
                self._threads.move_to_end((channel, thread_key))
                body["thread_ts"] = thread_ts
                if spec.thread.broadcast_message_to_channel:
                    body["reply_broadcast"] = True
        ts = await self._post(body, self._token(spec), channel)
        if thread_key and "thread_ts" not in body and ts:
            self._threads[(channel, thread_key)] = ts
            while len(self._threads) > MAX_THREADS:
                self._threads.popitem(last=False)
        where = f"in thread {body['thread_ts']} of {channel}" if "thread_ts" in body else channel
        return f"posted to {where} (ts {ts or '?'})"

    async def close(self) -> None:
        """Nothing to release: the HTTP session belongs to the TriggerContext."""

    def _token(self, spec: SlackTrigger) -> str:
        try:
            token = self._context.secrets.secret(spec.slack_token)
        except SecretError as e:
            raise PermanentTriggerError(f"slack.slackToken: {e}") from e
        if not token:
            raise PermanentTriggerError("slack.slackToken: the secret is absent or empty")
        return token.strip()

    async def _post(self, body: dict[str, Any], token: str, channel: str) -> str | None:
        headers = {
            hdrs.AUTHORIZATION: f"Bearer {token}",
            hdrs.CONTENT_TYPE: "application/json; charset=utf-8",
        }
        try:
            async with self._context.http().post(
                self._url, data=orjson.dumps(body), headers=headers, timeout=self._timeout
            ) as response:
                status = response.status
                raw = await response.read()
                retry_after = _retry_after(response.headers.get(hdrs.RETRY_AFTER))
        except TimeoutError as e:
            raise TemporaryTriggerError(
                f"slack chat.postMessage: no answer within {TIMEOUT_SECONDS:.0f} s"
            ) from e
        except aiohttp.ClientConnectorCertificateError as e:
            raise PermanentTriggerError(
                f"slack chat.postMessage: TLS certificate rejected ({e.certificate_error})"
            ) from e
        except aiohttp.ClientError as e:
            raise TemporaryTriggerError(f"slack chat.postMessage: {_one_line(e)}") from e
        if status == 429:
            raise TemporaryTriggerError(
                "slack chat.postMessage: rate limited (429)", retry_after=retry_after
            )
        if status != 200:
            message = f"slack chat.postMessage answered {status}: {_excerpt(raw)}"
            if status >= 500 or status == 408:
                raise TemporaryTriggerError(message, retry_after=retry_after)
            raise PermanentTriggerError(message)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise TemporaryTriggerError(
                f"slack chat.postMessage answered 200 without JSON: {_excerpt(raw)}"
            ) from e
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            error = str(answer.get("error") if isinstance(answer, dict) else "") or "unknown"
            message = f"slack chat.postMessage to {channel} failed: {error}"
            if error in TEMPORARY_ERRORS:
                raise TemporaryTriggerError(message, retry_after=retry_after)
            raise PermanentTriggerError(message)
        ts = answer.get("ts")
        return str(ts) if ts is not None else None


def _json_array(text: str, where: str) -> list[Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise PermanentTriggerError(f"{where} is not valid JSON: {e}") from e
    if not isinstance(value, list):
        raise PermanentTriggerError(f"{where} must be a JSON array, as Slack takes it")
    return value


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdecimal():
        return float(value.strip())
    return None


def _excerpt(raw: bytes) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 1] + "…"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:_EXCERPT] if text else type(error).__name__
