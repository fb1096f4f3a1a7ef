"""The awsLambda trigger against moto in server mode and a local Lambda Invoke API.

moto (Lambda without Docker: Invoke echoes the payload; STS AssumeRole) shows
the trigger speaks the real AWS protocol, signing and endpoints included, with
``AWS_ENDPOINT_URL`` pointing at it as in production. moto cannot make a
function fail, so a small local server speaking the Lambda Invoke REST API
(``POST /2015-03-31/functions/<name>/invocations``) records what is sent and
answers with function errors, throttling and AWS error codes.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from bus.event import Event
from herald.core.errors import ConfigError, PermanentTriggerError, TemporaryTriggerError
from herald.core.refs import SecretStore
from triggers.aws_lambda import AWSLambdaTrigger, AWSLambdaTriggerRunner
from triggers.base import TriggerContext, factory

DATA = {"body": {"name": "build-42", "count": 3, "target": "deployer"}}


def event(data: Any = DATA) -> Event:
    return Event.new(source="webhook", type="webhook", subject="ci", data=data, id="evt-1")


EVENTS = {"ci": event()}


def spec(**fields: Any) -> AWSLambdaTrigger:
    base: dict[str, Any] = {
        "functionName": "hello",
        "region": "us-east-1",
        "payload": [
            {"src": {"dependencyName": "ci", "dataKey": "body.name"}, "dest": "name"},
            {
                "src": {"dependencyName": "ci", "dataKey": "body.count", "useRawData": True},
                "dest": "count",
            },
        ],
    }
    return AWSLambdaTrigger.model_validate({**base, **fields})


async def fire(
    context: TriggerContext, *, events: Mapping[str, Event] = EVENTS, **fields: Any
) -> str:
    model = spec(**fields)
    runner = AWSLambdaTriggerRunner(model, context)
    try:
        return await runner.fire(model, events)
    finally:
        await runner.close()


def context(secrets: SecretStore, allowed: frozenset[int] | None = None) -> TriggerContext:
    return TriggerContext(sensor="ci", trigger="invoke", secrets=secrets, allowed_statuses=allowed)


def write_keys(secrets: SecretStore, access: str = "AKIDSECRETS", secret: str = "s3cr3t") -> None:
    folder = secrets.secrets_dir / "aws"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "access").write_text(access + "\n")
    (folder / "secret").write_text(secret + "\n")


KEYS: dict[str, Any] = {
    "accessKey": {"name": "aws", "key": "access"},
    "secretKey": {"name": "aws", "key": "secret"},
}


# ------------------------------------------------------------------------- moto


@pytest.mark.parametrize(
    ("invocation", "status"), [("RequestResponse", 200), ("Event", 202), ("DryRun", 204)]
)
async def test_invokes_on_moto_with_each_invocation_type(
    aws_env: str, secrets: SecretStore, invocation: str, status: int
) -> None:
    outcome = await fire(context(secrets), invocationType=invocation)

    assert re.fullmatch(rf"invoked hello \({invocation}\) → {status} in [\d.]+ ms", outcome)


async def test_status_policy_on_moto(aws_env: str, secrets: SecretStore) -> None:
    with pytest.raises(PermanentTriggerError, match=r"answered 202, expected one of \[200\]"):
        await fire(context(secrets, frozenset({200})), invocationType="Event")

    outcome = await fire(context(secrets, frozenset({202})), invocationType="Event")
    assert "→ 202" in outcome


async def test_assume_role_on_moto(aws_env: str, secrets: SecretStore) -> None:
    write_keys(secrets)

    outcome = await fire(context(secrets), roleARN="arn:aws:iam::123456789012:role/invoker", **KEYS)

    assert outcome.startswith("invoked hello (RequestResponse) → 200")


# ------------------------------------------------------------------------- local Lambda API


@dataclass
class LambdaAPI:
    """A local Lambda Invoke API: records invocations, answers as scripted."""

    base: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    answers: list[web.Response] = field(default_factory=list)

    async def invoke(self, request: web.Request) -> web.Response:
        self.calls.append(
            {
                "function": request.match_info["name"],
                "type": request.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                "authorization": request.headers.get("Authorization", ""),
                "token": request.headers.get("X-Amz-Security-Token"),
                "payload": orjson.loads(await request.read()),
            }
        )
        if self.answers:
            return self.answers.pop(0)
        return web.json_response({"ok": True}, headers={"X-Amz-Executed-Version": "$LATEST"})

    def error(self, status: int, code: str, message: str, **headers: str) -> None:
        self.answers.append(
            web.json_response(
                {"Type": "User", "message": message},
                status=status,
                headers={"x-amzn-ErrorType": code, **headers},
            )
        )


@pytest.fixture
async def lambda_api(monkeypatch: pytest.MonkeyPatch, aws_env: str) -> AsyncIterator[LambdaAPI]:
    api = LambdaAPI()
    app = web.Application()
    app.router.add_post("/2015-03-31/functions/{name}/invocations", api.invoke)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    # Lambda here; everything else (STS) stays on moto.
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", api.base)
    try:
        yield api
    finally:
        await runner.cleanup()


def credential(call: Mapping[str, Any]) -> str:
    match = re.search(r"Credential=([^/]+)/", call["authorization"])
    assert match, call["authorization"]
    return match.group(1)


async def test_sends_the_payload_built_from_the_event(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    await fire(
        context(secrets),
        invocationType="Event",
        parameters=[
            {"src": {"dependencyName": "ci", "dataKey": "body.target"}, "dest": "functionName"}
        ],
    )

    [call] = lambda_api.calls
    assert call["function"] == "deployer"
    assert call["type"] == "Event"
    assert call["payload"] == {"name": "build-42", "count": 3}


async def test_an_empty_payload_is_an_empty_object(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    await fire(context(secrets), payload=[])

    assert lambda_api.calls[0]["payload"] == {}


async def test_credentials_from_secrets_sign_the_request(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    write_keys(secrets)

    await fire(context(secrets), **KEYS)

    assert credential(lambda_api.calls[0]) == "AKIDSECRETS"
    assert lambda_api.calls[0]["token"] is None


async def test_the_default_chain_is_used_without_keys(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    await fire(context(secrets))

    assert credential(lambda_api.calls[0]) == "testing"


async def test_the_assumed_role_signs_the_invocation(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    write_keys(secrets)

    await fire(context(secrets), roleARN="arn:aws:iam::123456789012:role/invoker", **KEYS)

    call = lambda_api.calls[0]
    assert credential(call) != "AKIDSECRETS"
    assert credential(call).startswith("ASIA")
    assert call["token"]


async def test_a_function_error_is_a_failure_with_the_functions_message(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    lambda_api.answers.append(
        web.json_response(
            {"errorType": "ValueError", "errorMessage": "count must be even", "trace": []},
            headers={"X-Amz-Function-Error": "Unhandled"},
        )
    )

    with pytest.raises(TemporaryTriggerError) as caught:
        await fire(context(secrets))

    assert str(caught.value) == (
        "awsLambda hello: the function failed (Unhandled): ValueError: count must be even"
    )


async def test_throttling_is_temporary_with_retry_after(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    lambda_api.error(429, "TooManyRequestsException", "Rate exceeded", **{"Retry-After": "5"})

    with pytest.raises(TemporaryTriggerError, match="429 TooManyRequestsException") as caught:
        await fire(context(secrets))

    assert caught.value.retry_after == 5.0


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "ResourceNotFoundException", PermanentTriggerError),
        (400, "InvalidRequestContentException", PermanentTriggerError),
        (403, "AccessDeniedException", PermanentTriggerError),
        (409, "ResourceConflictException", TemporaryTriggerError),
        (500, "ServiceException", TemporaryTriggerError),
        (502, "ResourceNotReadyException", TemporaryTriggerError),
    ],
)
async def test_aws_errors_are_sorted(
    lambda_api: LambdaAPI,
    secrets: SecretStore,
    status: int,
    code: str,
    error: type[Exception],
) -> None:
    lambda_api.error(status, code, "refused by the test")

    with pytest.raises(error, match=f"awsLambda hello: {status} {code}: refused by the test"):
        await fire(context(secrets))

    assert len(lambda_api.calls) == 1, "the SDK must not retry behind the sensor's back"


async def test_a_status_outside_the_policy_is_a_failure(
    lambda_api: LambdaAPI, secrets: SecretStore
) -> None:
    lambda_api.answers.append(web.Response(status=207, body=b"{}"))

    with pytest.raises(PermanentTriggerError, match=r"answered 207, expected one of \[200\]"):
        await fire(context(secrets, frozenset({200})))


async def test_an_unreachable_endpoint_is_temporary(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    with pytest.raises(TemporaryTriggerError, match="awsLambda hello"):
        await fire(context(secrets))


async def test_missing_credentials_are_permanent(
    secrets: SecretStore, monkeypatch: pytest.MonkeyPatch, aws_env: str
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(PermanentTriggerError, match="no AWS credentials"):
        await fire(context(secrets))


def test_half_a_key_pair_is_refused_when_built(secrets: SecretStore) -> None:
    model = spec(accessKey={"name": "aws", "key": "access"})

    with pytest.raises(ConfigError, match="give both accessKey and secretKey"):
        AWSLambdaTriggerRunner(model, context(secrets))


def test_the_registry_builds_the_lambda_runner(secrets: SecretStore) -> None:
    assert isinstance(factory("awsLambda")(spec(), context(secrets)), AWSLambdaTriggerRunner)
