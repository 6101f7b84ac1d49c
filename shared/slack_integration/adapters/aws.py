"""boto3 clients, made lazily once per container, and the translation of AWS failures.

Clients honour AWS_ENDPOINT_URL (moto in tests, the local stack), so nothing here names an
endpoint. Creating a client costs tens of milliseconds; doing it at import time would make every
cold start pay for clients the invocation may never use.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.errors import AWS_UNAVAILABLE, ServiceError
from slack_integration.observability import logger

# Standard retry mode backs off on throttling; short timeouts keep a stuck call inside the
# function's budget instead of eating it.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests switch AWS endpoints between cases)."""
    client.cache_clear()


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _exact(value: Any) -> Any:
    # DynamoDB numbers are decimals; boto3 refuses floats rather than guess their precision.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _exact(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_exact(inner) for inner in value]
    return value


def to_ddb(item: dict[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB's typed JSON (the low-level client is cheaper to create than a Table)."""
    return {key: _serializer.serialize(_exact(value)) for key, value in item.items()}


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _deserializer.deserialize(value) for key, value in item.items()}


class DynamoTable:
    """Base of the table adapters: the table's name and a DynamoDB client made on first use (a
    cold start that never touches this table never creates it; tests may pass their own)."""

    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        self._table = table_name
        self._client = dynamodb

    @property
    def _ddb(self) -> Any:
        if self._client is None:
            self._client = client("dynamodb")
        return self._client


# BatchGetItem answers what it could not read under throttling as UnprocessedKeys (botocore's
# retries do not cover those): asked again at most this many times before the call counts as failed.
_UNPROCESSED_ROUNDS = 3


def batch_get(ddb: Any, keys: dict[str, dict[str, Any]], operation: str) -> dict[str, dict[str, Any] | None]:
    """One strongly consistent item from each of several tables in one BatchGetItem: table name ->
    its key (typed), answered as table name -> the item (typed) or None when there is none."""
    found: dict[str, dict[str, Any] | None] = dict.fromkeys(keys)
    wanted = {table: {"Keys": [key], "ConsistentRead": True} for table, key in keys.items()}
    try:
        for _ in range(_UNPROCESSED_ROUNDS):
            answer = ddb.batch_get_item(RequestItems=wanted)
            for table, items in answer.get("Responses", {}).items():
                found[table] = items[0] if items else None
            wanted = answer.get("UnprocessedKeys") or {}
            if not wanted:
                return found
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(exc, operation) from exc
    logger.warning("AWS call failed", extra={"operation": operation, "aws_error": "UnprocessedKeys"})
    raise AWS_UNAVAILABLE.error()


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code"))
    return None


def unavailable(exc: BotoCoreError | ClientError, operation: str) -> ServiceError:
    """An AWS failure the caller can only retry later; logged here with its AWS error code."""
    logger.warning(
        "AWS call failed", extra={"operation": operation, "aws_error": error_code(exc) or type(exc).__name__}
    )
    return AWS_UNAVAILABLE.error()
