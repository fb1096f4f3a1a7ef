"""The ``awsLambda`` trigger's spec: invoke an AWS Lambda function.

Credentials come from secrets when given, otherwise from the AWS default chain;
the endpoint can be redirected with ``AWS_ENDPOINT_URL`` (a setting, for tests).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from herald.core.model import Spec
from herald.core.refs import SecretKeySelector
from triggers.params import TriggerParameter

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
