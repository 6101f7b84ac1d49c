"""The shape of the `aws` fixture (tests/conftest.py): moto's boto3 clients and the template's
resources, by logical id."""

from __future__ import annotations

from typing import Any, TypedDict


class AwsStack(TypedDict):
    dynamodb: Any  # boto3 DynamoDB client
    secretsmanager: Any  # boto3 Secrets Manager client
    sqs: Any  # boto3 SQS client
    tables: dict[str, str]  # logical id (IntegrationsTable, ...) -> table name
    queues: dict[str, str]  # logical id (SendQueue, ...) -> queue URL
