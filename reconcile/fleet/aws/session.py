"""boto3 clients for the AWS providers (the only boto3 import, loaded on use), with errors translated.

Every call goes through :class:`Api`: throttling (``Throttling``,
``RequestLimitExceeded``, ``SlowDown``, ...) and lost connections become
``reconcile.TransientError`` carrying the API's ``Retry-After`` hint when it
gives one, so the engine retries with backoff; any other refusal becomes
:class:`AwsApiError` with the API's error code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...errors import TransientError
from .errors import AwsApiError

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
    }
)
"""Error codes AWS APIs answer when a caller goes too fast: always worth a retry later."""

SERVICES = ("ec2", "s3", "iam", "ssm", "sts")


def retry_hint(response: Mapping[str, Any]) -> float | None:
    """Seconds the API asks to wait (its ``Retry-After`` header), or ``None`` when it gives no hint."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    raw = headers.get("retry-after")
    try:
        return None if raw is None else max(0.0, float(raw))
    except ValueError:
        return None


def translate(operation: str, exc: Exception) -> Exception:
    """The error a provider should raise for ``exc``, a botocore error from ``operation``."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        if code in THROTTLING_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 503:
            return TransientError(f"{operation}: {code}: {message}", retry_after=retry_hint(exc.response))
        return AwsApiError(code, operation, message)
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return TransientError(f"{operation}: {type(exc).__name__}: {exc}")
    return exc


class _Pages:
    def __init__(self, paginator: Any, operation: str) -> None:
        self._paginator = paginator
        self._operation = operation

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        try:
            return list(self._paginator.paginate(**kwargs))
        except Exception as exc:
            raise translate(self._operation, exc) from exc


class Api:
    """One boto3 client whose calls raise ``TransientError`` or :class:`AwsApiError` instead of botocore's errors.

    ``api.describe_vpcs(...)`` calls the client's method; ``api.pages("describe_vpcs", ...)``
    returns every page of a paginated call.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                raise translate(name, exc) from exc

        return call

    def pages(self, operation: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every page of the paginated ``operation``."""
        return _Pages(self.client.get_paginator(operation), operation).paginate(**kwargs)


class Clients:
    """The clients the providers use (EC2, S3, IAM, SSM; STS for the account id), each an :class:`Api`.

    Attributes:
        region: the region the clients talk to.
        endpoint: the endpoint URL they all use (moto's server), or ``None`` for AWS itself.
    """

    def __init__(self, apis: Mapping[str, Api], region: str, endpoint: str | None) -> None:
        self._apis = dict(apis)
        self.region = region
        self.endpoint = endpoint

    @property
    def ec2(self) -> Api:
        return self._apis["ec2"]

    @property
    def s3(self) -> Api:
        return self._apis["s3"]

    @property
    def iam(self) -> Api:
        return self._apis["iam"]

    @property
    def ssm(self) -> Api:
        return self._apis["ssm"]

    @property
    def sts(self) -> Api:
        return self._apis["sts"]

    def account_id(self) -> str:
        """The id of the account the credentials belong to (moto's is ``123456789012``)."""
        return str(self.sts.get_caller_identity()["Account"])


def connect(
    region: str = "us-east-1",
    *,
    endpoint: str | None = None,
    profile: str | None = None,
    max_attempts: int = 2,
) -> Clients:
    """Clients for ``region``; with ``endpoint`` (moto's server) and no credentials anywhere, dummy ones.

    Args:
        region: the AWS region.
        endpoint: an endpoint URL for every service (``http://127.0.0.1:5000`` for moto).
        profile: a named profile of the AWS config files.
        max_attempts: attempts botocore makes itself before the error reaches the engine,
            whose retry policy then takes over (kept low so a throttled step backs off there).
    """
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=profile, region_name=region)
    options: dict[str, Any] = {
        "config": Config(retries={"total_max_attempts": max_attempts, "mode": "standard"}, connect_timeout=10),
    }
    if endpoint is not None:
        options["endpoint_url"] = endpoint
        if session.get_credentials() is None:
            options |= {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return Clients({s: Api(session.client(s, **options)) for s in SERVICES}, region, endpoint)


__all__ = ["THROTTLING_CODES", "Api", "Clients", "connect", "retry_hint", "translate"]
