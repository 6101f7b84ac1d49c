"""What the stack holds, read straight from moto for assertions (DynamoDB items, queue state),
and the raw queue writes a test needs to play a producer or let time pass."""

from __future__ import annotations

import json
import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from tests.support.aws import AwsStack
from tests.support.identities import USER_ID
from tests.support.sqs import QueuePoller, counts

# -- DynamoDB ------------------------------------------------------------------------------------


def _items(aws: AwsStack, table: str) -> list[dict[str, Any]]:
    items = aws["dynamodb"].scan(TableName=aws["tables"][table])["Items"]
    return [{k: TypeDeserializer().deserialize(v) for k, v in item.items()} for item in items]


def deliveries(aws: AwsStack) -> list[dict[str, Any]]:
    return _items(aws, "DeliveriesTable")


def mappings(aws: AwsStack) -> list[dict[str, Any]]:
    return _items(aws, "MessageMappingsTable")


def outcomes(delivery: dict[str, Any]) -> list[str]:
    return [entry["outcome"] for entry in delivery["outcomes"]]


def get_integration_item(aws: AwsStack, user_id: str = USER_ID) -> dict[str, Any] | None:
    item = aws["dynamodb"].get_item(TableName=aws["tables"]["IntegrationsTable"], Key={"userId": {"S": user_id}})
    raw = item.get("Item")
    return {k: TypeDeserializer().deserialize(v) for k, v in raw.items()} if raw else None


# -- queues --------------------------------------------------------------------------------------


def enqueue_raw(aws: AwsStack, body: Any, group: str = USER_ID, queue: str = "SendQueue") -> str:
    """What a producer that bypasses our client (and its validation) would put on the queue."""
    text = body if isinstance(body, str) else json.dumps(body)
    answer = aws["sqs"].send_message(
        QueueUrl=aws["queues"][queue],
        MessageBody=text,
        MessageGroupId=group,
        MessageDeduplicationId=str(time.time_ns()),
    )
    return answer["MessageId"]


def release_handed_back(aws: AwsStack, poller: QueuePoller) -> None:
    """Let time pass: make the messages handed back in the last poll visible again now."""
    last = poller.history[-1]
    for record in last.event["Records"]:
        if record["messageId"] in last.failed:
            aws["sqs"].change_message_visibility(
                QueueUrl=poller.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )


def visibility_of(aws: AwsStack, poller: QueuePoller) -> float:
    """Seconds until the in-flight messages show again, measured by polling (moto keeps real time)."""
    start = time.monotonic()
    while time.monotonic() - start < 15:
        if counts(aws["sqs"], poller.queue_url)[0] > 0:
            return time.monotonic() - start
        time.sleep(0.1)
    return float("inf")
