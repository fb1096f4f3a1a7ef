"""The slack trigger against a local server speaking Slack's ``chat.postMessage``.

The server checks the bearer token and the JSON body as Slack does, answers
with ``ok``/``ts`` or Slack's ``ok: false`` error codes, and can answer 429
once with ``Retry-After``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from bus.event import Event
from herald.core.errors import PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from triggers.base import TriggerContext, factory
from triggers.slack import SlackTrigger, SlackTriggerRunner

TOKEN = "xoxb-test-token"


@dataclass
class SlackAPI:
    """A local Slack Web API: records messages, answers like Slack."""

    base: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    rate_limit_once: int | None = None
    next_ts: int = 1000

    async def post_message(self, request: web.Request) -> web.Response:
        if self.rate_limit_once is not None:
            retry_after, self.rate_limit_once = self.rate_limit_once, None
            return web.Response(status=429, headers={"Retry-After": str(retry_after)})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if not request.content_type.startswith("application/json"):
            return web.json_response({"ok": False, "error": "invalid_form_data"})
        body = await request.json()
        channel = body.get("channel")
        if channel == "missing":
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if channel == "busy":
            return web.json_response({"ok": False, "error": "ratelimited"})
        if channel == "broken":
            return web.Response(status=500, text="upstream exploded")
        if channel == "html":
            return web.Response(status=200, text="<html>maintenance</html>")
        if not (body.get("text") or body.get("blocks") or body.get("attachments")):
            return web.json_response({"ok": False, "error": "no_text"})
        self.messages.append(body)
        self.next_ts += 1
        ts = f"{self.next_ts}.000100"
        return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": {}})


@pytest.fixture
async def slack() -> AsyncIterator[SlackAPI]:
    api = SlackAPI()
    app = web.Application()
    app.router.add_post("/api/chat.postMessage", api.post_message)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.base = f"http://127.0.0.1:{runner.addresses[0][1]}/api"
    try:
        yield api
    finally:
        await runner.cleanup()


@pytest.fixture
async def sctx(slack: SlackAPI, secrets: SecretStore) -> AsyncIterator[TriggerContext]:
    folder = secrets.secrets_dir / "slack"
    folder.mkdir(parents=True)
    (folder / "token").write_text(TOKEN + "\n")
    ctx = TriggerContext(sensor="s", trigger="notify", secrets=secrets, slack_api_url=slack.base)
    try:
        yield ctx
    finally:
        await ctx.http().close()


def event(data: Any = None, id: str = "evt-1") -> Event:
    body = data or {"body": {"text": "deploy done", "pr": 42}}
    return Event.new(source="webhook", type="webhook", subject="ci", data=body, id=id)


EVENTS = {"ci": event()}


def spec(**fields: Any) -> SlackTrigger:
    return SlackTrigger.model_validate(
        {"slackToken": {"name": "slack", "key": "token"}, "channel": "general", **fields}
    )


async def fire(context: TriggerContext, events: Mapping[str, Event] = EVENTS, **fields: Any) -> str:
    model = spec(**fields)
    return await SlackTriggerRunner(model, context).fire(model, events)


async def test_posts_text_attachments_blocks_and_sender(
    slack: SlackAPI, sctx: TriggerContext
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]
    outcome = await fire(
        sctx,
        channel="#general",
        message="deploy done",
        attachments='[{"color": "good", "text": "ok"}]',
        blocks=orjson.dumps(blocks).decode(),
        sender={"username": "herald", "icon": ":rocket:"},
    )

    assert outcome == "posted to general (ts 1001.000100)"
    assert slack.messages == [
        {
            "channel": "general",
            "text": "deploy done",
            "attachments": [{"color": "good", "text": "ok"}],
            "blocks": blocks,
            "username": "herald",
            "icon_emoji": ":rocket:",
        }
    ]


async def test_an_icon_url_is_sent_as_icon_url(slack: SlackAPI, sctx: TriggerContext) -> None:
    await fire(sctx, message="hi", sender={"icon": "https://example.com/bot.png"})

    assert slack.messages[0]["icon_url"] == "https://example.com/bot.png"
    assert "icon_emoji" not in slack.messages[0]


async def test_parameters_fill_the_message_from_the_event(
    slack: SlackAPI, sctx: TriggerContext
) -> None:
    await fire(
        sctx,
        message="PR ",
        parameters=[
            {
                "src": {"dependencyName": "ci", "dataKey": "body.pr"},
                "dest": "message",
                "operation": "append",
            },
            {"src": {"dependencyName": "ci", "value": "releases"}, "dest": "channel"},
        ],
    )

    assert slack.messages == [{"channel": "releases", "text": "PR 42"}]


async def test_messages_with_one_aggregation_key_share_a_thread(
    slack: SlackAPI, sctx: TriggerContext
) -> None:
    model = spec(
        message="update",
        thread={"messageAggregationKey": "pr-42", "broadcastMessageToChannel": True},
    )
    runner = SlackTriggerRunner(model, sctx)
    other_key = spec(message="other", thread={"messageAggregationKey": "pr-43"})
    other_channel = spec(
        channel="random", message="elsewhere", thread={"messageAggregationKey": "pr-42"}
    )

    first = await runner.fire(model, EVENTS)
    second = await runner.fire(model, EVENTS)
    third = await runner.fire(other_key, EVENTS)
    fourth = await runner.fire(other_channel, EVENTS)

    assert first == "posted to general (ts 1001.000100)"
    assert second == "posted to in thread 1001.000100 of general (ts 1002.000100)"
    assert "thread_ts" not in slack.messages[0]
    assert slack.messages[1]["thread_ts"] == "1001.000100"
    assert slack.messages[1]["reply_broadcast"] is True
    assert "thread_ts" not in slack.messages[2], third
    assert "thread_ts" not in slack.messages[3], fourth


async def test_429_is_temporary_with_retry_after_then_the_retry_posts(
    slack: SlackAPI, sctx: TriggerContext
) -> None:
    slack.rate_limit_once = 3

    with pytest.raises(TemporaryTriggerError) as caught:
        await fire(sctx, message="hi")
    outcome = await fire(sctx, message="hi")

    assert caught.value.retry_after == 3.0
    assert outcome.startswith("posted to general")
    assert len(slack.messages) == 1


@pytest.mark.parametrize(
    ("channel", "error", "match"),
    [
        ("missing", PermanentTriggerError, "failed: channel_not_found"),
        ("busy", TemporaryTriggerError, "failed: ratelimited"),
        ("broken", TemporaryTriggerError, "answered 500: upstream exploded"),
        ("html", TemporaryTriggerError, "answered 200 without JSON"),
    ],
)
async def test_slack_failures_carry_the_error_code(
    slack: SlackAPI,
    sctx: TriggerContext,
    channel: str,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        await fire(sctx, channel=channel, message="hi")


async def test_a_wrong_token_is_permanent_invalid_auth(
    slack: SlackAPI, sctx: TriggerContext
) -> None:
    (sctx.secrets.secrets_dir / "slack" / "token").write_text("xoxb-wrong")

    with pytest.raises(PermanentTriggerError, match="invalid_auth") as caught:
        await fire(sctx, message="hi")

    assert "xoxb-wrong" not in str(caught.value)


async def test_a_missing_token_secret_is_permanent(slack: SlackAPI, sctx: TriggerContext) -> None:
    model = SlackTrigger.model_validate(
        {"slackToken": {"name": "absent", "key": "token"}, "channel": "c", "message": "m"}
    )
    with pytest.raises(PermanentTriggerError, match="slackToken: secret 'absent'"):
        await SlackTriggerRunner(model, sctx).fire(model, EVENTS)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"channel": None, "message": "m"}, "slack.channel is required"),
        ({"channel": "#"}, "slack.channel is required"),
        ({}, "nothing to post"),
        ({"attachments": "{not json"}, "slack.attachments is not valid JSON"),
        ({"blocks": '{"type": "section"}'}, "slack.blocks must be a JSON array"),
    ],
)
async def test_invalid_messages_are_permanent_and_not_sent(
    slack: SlackAPI, sctx: TriggerContext, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(PermanentTriggerError, match=match):
        await fire(sctx, **fields)

    assert slack.messages == []


async def test_an_unreachable_api_is_temporary(secrets: SecretStore) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = secrets.secrets_dir / "slack"
    folder.mkdir(parents=True)
    (folder / "token").write_text(TOKEN)
    ctx = TriggerContext(
        sensor="s", trigger="t", secrets=secrets, slack_api_url=f"http://127.0.0.1:{port}/api"
    )
    try:
        with pytest.raises(TemporaryTriggerError, match=r"chat\.postMessage"):
            await fire(ctx, message="hi")
    finally:
        await ctx.http().close()


def test_the_registry_builds_the_slack_runner(sctx: TriggerContext) -> None:
    assert isinstance(factory("slack")(spec(message="m"), sctx), SlackTriggerRunner)
