"""The send consumer end to end: producer -> SQS (moto) -> send function -> Slack emulator."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import USER_ID, get_integration_item
from tests.support.sqs import counts, dead_letters


def _mapping(aws: dict[str, Any], internal_id: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    answer = aws["dynamodb"].query(
        TableName=aws["tables"]["MessageMappingsTable"],
        KeyConditionExpression="internalMessageId = :id",
        ExpressionAttributeValues={":id": {"S": internal_id}},
    )
    return [{k: TypeDeserializer().deserialize(v) for k, v in item.items()} for item in answer["Items"]]


def _deliveries(aws: dict[str, Any]) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    items = aws["dynamodb"].scan(TableName=aws["tables"]["DeliveriesTable"])["Items"]
    return [{k: TypeDeserializer().deserialize(v) for k, v in item.items()} for item in items]


def test_tracked_send_posts_once_and_records_the_mapping(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42", message_type="deployment")
    send = consumer("send")

    poll = send.poll()

    assert poll is not None and poll.failed == []
    posted = slack.messages(notification_channel["id"])
    assert [m["text"] for m in posted] == ["Deploy #42 started"]
    [mapping] = _mapping(aws, "deploy-42")
    assert mapping["slackChannelId"] == notification_channel["id"]
    assert mapping["slackMessageTs"] == posted[0]["ts"]
    assert mapping["messageType"] == "deployment"
    assert mapping["userId"] == USER_ID
    [delivery] = _deliveries(aws)
    assert delivery["status"] == "delivered"
    assert delivery["slackTs"] == posted[0]["ts"]
    assert delivery["kind"] == "send"
    assert [o["outcome"] for o in delivery["outcomes"]] == ["delivered"]
    assert counts(aws["sqs"], send.queue_url) == (0, 0)

