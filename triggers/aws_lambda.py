"""The ``awsLambda`` trigger: invoke an AWS Lambda function.

Credentials come from secrets when given, otherwise from the AWS default chain;
the endpoint can be redirected with ``AWS_ENDPOINT_URL`` (a setting, for tests).

:class:`AWSLambdaTriggerRunner` is the adapter (aiobotocore,
``pip install 'herald[aws]'``; the http trigger is its template). Per firing
it applies ``awsLambda.parameters`` to its own spec, builds the JSON payload
from ``payload`` (``{}`` when nothing resolved) and invokes the function with
``invocationType``. What it guarantees:

- one Lambda client per trigger, made at the first firing and closed by
  :meth:`~AWSLambdaTriggerRunner.close`; with ``roleARN`` the role is assumed
  through STS (session name ``herald-<sensor>-<trigger>``) and assumed again
  before its credentials expire;
- the SDK does not retry (the trigger's ``retryStrategy`` does), so an
  invocation is never repeated behind the sensor's back, and the read timeout
  covers Lambda's longest run (15 minutes);
- success is a 2xx ``StatusCode`` (200 RequestResponse, 202 Event, 204 DryRun)
  unless ``policy.status.allow`` lists the accepted codes, as in Argo;
- a function error (``FunctionError`` in the answer, the function threw or
  timed out) is a failure carrying the function's ``errorType`` and
  ``errorMessage``; it is temporary, so ``retryStrategy`` decides how often to
  try again (Argo reports it as a success);
- throttling (429, with ``Retry-After``), 5xx, a function being updated (409),
  connection errors and timeouts are temporary; every other refusal
  (unknown function, bad payload, denied access, missing credentials) is
  permanent.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import Field

from bus.event import Event
from herald.core.errors import (
    ConfigError,
    PermanentTriggerError,
    SecretError,
    TemporaryTriggerError,
    TriggerError,
)
from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.base import TriggerContext
from triggers.params import TriggerParameter, apply_to_spec, construct_payload

InvocationType = Literal["RequestResponse", "Event", "DryRun"]


class AWSLambdaTrigger(Spec):
    """Invoke a Lambda function with a payload built from the events."""

    function_name: str = Field(min_length=1, description="Name or ARN of the function.")
    region: str = Field(min_length=1, description="AWS region, e.g. us-east-1.")
    access_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the access key id."
    )
    secret_key: SecretKeySelector | None = Field(
        default=None, description="Secret key holding the secret access key."
    )
    role_arn: str | None = Field(
        default=None, alias="roleARN", description="IAM role to assume before invoking."
    )
    payload: list[TriggerParameter] = Field(
        description="Builds the JSON payload from event values (required, may be empty)."
    )
    parameters: list[TriggerParameter] | None = Field(
        default=None, description="Applied to this awsLambda spec before each invocation."
    )
    invocation_type: InvocationType = Field(
        default="RequestResponse",
        description="RequestResponse (wait for the result), Event (asynchronous) or DryRun.",
    )


# ---------------------------------------------------------------------------- runner

READ_TIMEOUT_SECONDS = 905.0
"""Longest wait for an answer: Lambda's longest run (900 s) and a margin."""

CONNECT_TIMEOUT_SECONDS = 10.0

ROLE_REFRESH_MARGIN_SECONDS = 300.0
"""Assume the role again this long before its credentials expire."""

_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")
_TEMPORARY_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "EC2ThrottledException",
        "ThrottlingException",
        "Throttling",
        "RequestTimeout",
    }
)
_EXCERPT = 300


class AWSLambdaTriggerRunner:
    """Invokes one Lambda function per firing."""

    def __init__(self, spec: AWSLambdaTrigger, context: TriggerContext) -> None:
        if importlib.util.find_spec("aiobotocore") is None:
            raise ImportError("the awsLambda trigger needs aiobotocore: pip install 'herald[aws]'")
        if (spec.access_key is None) != (spec.secret_key is None):
            raise ConfigError(
                "give both accessKey and secretKey, or neither (the AWS default credential "
                "chain is used then)",
                path="awsLambda.accessKey" if spec.access_key is None else "awsLambda.secretKey",
            )
        self._context = context
        self._allowed = context.allowed_statuses or None
        self._stack: AsyncExitStack | None = None
        self._client: Any = None
        self._client_key: tuple[Any, ...] | None = None
        self._expires: float | None = None
        self._lock = asyncio.Lock()

    async def fire(self, spec: AWSLambdaTrigger, events: Mapping[str, Event]) -> str:
        """Invoke the function for ``events``; return e.g. ``invoked hello → 200 in 12 ms``."""
        if spec.parameters:
            spec = apply_to_spec(spec, spec.parameters, events, "awsLambda")
        value = construct_payload(spec.payload, events)
        payload = orjson.dumps(value if value is not None else {}, option=orjson.OPT_UTC_Z)
        import botocore.exceptions as aws  # type: ignore[import-untyped]

        name, kind = spec.function_name, spec.invocation_type
        started = time.perf_counter()
        try:
            client = await self._lambda(spec)
            answer = await client.invoke(FunctionName=name, InvocationType=kind, Payload=payload)
            status = int(answer.get("StatusCode") or 0)
            function_error = answer.get("FunctionError")
            # Always read the answer: it returns the connection to the pool.
            async with answer["Payload"] as body:
                result = await body.read()
        except TriggerError:
            raise
        except aws.ClientError as e:
            raise _client_error(e, name) from e
        except (aws.NoCredentialsError, aws.PartialCredentialsError) as e:
            raise PermanentTriggerError(
                f"awsLambda {name}: no AWS credentials ({e}); set accessKey/secretKey or "
                "provide credentials to the default chain"
            ) from e
        except (aws.HTTPClientError, aws.ConnectionError, OSError, TimeoutError) as e:
            raise TemporaryTriggerError(f"awsLambda {name}: {_one_line(e)}") from e
        except aws.BotoCoreError as e:
            raise PermanentTriggerError(f"awsLambda {name}: {_one_line(e)}") from e
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if function_error:
            raise TemporaryTriggerError(
                f"awsLambda {name}: the function failed ({function_error}): "
                f"{_function_message(result)}"
            )
        accepted = status in self._allowed if self._allowed else 200 <= status < 300
        if not accepted:
            expected = (
                f"one of {sorted(self._allowed)} (policy.status.allow)" if self._allowed else "2xx"
            )
            message = f"awsLambda {name} ({kind}) answered {status}, expected {expected}"
            if status >= 500:
                raise TemporaryTriggerError(message)
            raise PermanentTriggerError(message)
        return f"invoked {name} ({kind}) → {status} in {elapsed_ms:.1f} ms"

    async def close(self) -> None:
        """Close the Lambda client."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _lambda(self, spec: AWSLambdaTrigger) -> Any:
        """The Lambda client for ``spec``'s region and credentials (made or remade as needed)."""
        key = (spec.region, spec.access_key, spec.secret_key, spec.role_arn)
        if self._client is not None and key == self._client_key and not self._expiring():
            return self._client
        async with self._lock:
            if self._client is not None and key == self._client_key and not self._expiring():
                return self._client
            await self.close()
            stack = AsyncExitStack()
            try:
                self._client = await self._open(spec, stack)
            except BaseException:
                await stack.aclose()
                raise
            self._stack, self._client_key = stack, key
            return self._client

    def _expiring(self) -> bool:
        return (
            self._expires is not None and time.time() > self._expires - ROLE_REFRESH_MARGIN_SECONDS
        )

    async def _open(self, spec: AWSLambdaTrigger, stack: AsyncExitStack) -> Any:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import get_session  # type: ignore[import-untyped]

        config = AioConfig(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "total_max_attempts": 1},
        )
        options: dict[str, Any] = {"region_name": spec.region, "config": config}
        if spec.access_key is not None and spec.secret_key is not None:
            try:
                access_key = self._context.secrets.secret(spec.access_key)
                secret_key = self._context.secrets.secret(spec.secret_key)
            except SecretError as e:
                raise PermanentTriggerError(f"awsLambda: {e}") from e
            if not access_key or not secret_key:
                raise PermanentTriggerError("awsLambda: accessKey or secretKey is absent")
            options["aws_access_key_id"] = access_key.strip()
            options["aws_secret_access_key"] = secret_key.strip()
        session = get_session()
        self._expires = None
        if spec.role_arn:
            async with session.create_client("sts", **options) as sts:
                assumed = await sts.assume_role(
                    RoleArn=spec.role_arn, RoleSessionName=self._session_name()
                )
            credentials = assumed["Credentials"]
            options["aws_access_key_id"] = credentials["AccessKeyId"]
            options["aws_secret_access_key"] = credentials["SecretAccessKey"]
            options["aws_session_token"] = credentials["SessionToken"]
            expiration = credentials.get("Expiration")
            if isinstance(expiration, datetime):
                self._expires = expiration.astimezone(UTC).timestamp()
        return await stack.enter_async_context(session.create_client("lambda", **options))

    def _session_name(self) -> str:
        raw = f"herald-{self._context.sensor}-{self._context.trigger}"
        return _SESSION_NAME_CHARS.sub("-", raw)[:64]


def _client_error(error: Any, name: str) -> TriggerError:
    response = error.response or {}
    details = response.get("Error") or {}
    code = str(details.get("Code") or "")
    message = " ".join(str(details.get("Message") or "").split())[:_EXCERPT]
    meta = response.get("ResponseMetadata") or {}
    status = int(meta.get("HTTPStatusCode") or 0)
    text = f"awsLambda {name}: {status or ''} {code}".rstrip()
    if message:
        text += f": {message}"
    if status == 429 or status >= 500 or code in _TEMPORARY_CODES:
        return TemporaryTriggerError(text, retry_after=_retry_after(response))
    return PermanentTriggerError(text)


def _retry_after(response: Mapping[str, Any]) -> float | None:
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    value = headers.get("retry-after") or response.get("retryAfterSeconds")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _function_message(raw: bytes) -> str:
    """``errorType: errorMessage`` of a function's error answer, or its start."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        answer = None
    if isinstance(answer, dict) and ("errorMessage" in answer or "errorType" in answer):
        kind = answer.get("errorType") or "Error"
        text = " ".join(str(answer.get("errorMessage", "")).split())[:_EXCERPT]
        return f"{kind}: {text}" if text else str(kind)
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:_EXCERPT] or "(no details)"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:_EXCERPT] if text else type(error).__name__
