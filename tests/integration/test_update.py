"""Update in place (`operation: update` on the reply queue): the original's content replaced with
chat.update, never backwards, pending updates collapsed; through the real reply consumer over
moto and the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slack_integration import dependencies
from slack_integration.redrive import redrive
from tests.conftest import OTHER_USER, USER_ID
from tests.support.records import release_handed_back
from tests.support.sqs import dead_letters

pytestmark = pytest.mark.usefixtures("unbudgeted_thread_reads")


def deploy(producer: Any, consumer: Any, internal_id: str = "deploy-50", *, user: str = USER_ID) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy #50 started*"}}]
    producer.send(user, {"text": "Deploy #50 started", "blocks": blocks}, internal_message_id=internal_id)
    consumer("send").drain()


def original(slack: Any, channel: dict[str, Any]) -> dict[str, Any]:
    [message] = [m for m in slack.messages(channel["id"]) if "thread_ts" not in m or m["thread_ts"] == m["ts"]]
    return message


def records(aws: Any, kind: str) -> list[dict[str, Any]]:
    items = aws["dynamodb"].scan(TableName=aws["tables"]["DeliveriesTable"])["Items"]
    return sorted(
        ({k: next(iter(v.values())) for k, v in item.items()} for item in items if item["kind"]["S"] == kind),
        key=lambda r: int(r.get("version", 0)),
    )


def test_an_update_replaces_the_original_in_place(aws, slack, notification_channel, producer, consumer, invoke):
    deploy(producer, consumer)
    before = original(slack, notification_channel)

    producer.update("deploy-50", {"text": "Deploy #50 succeeded"}, version=2)
    consumer("reply").drain()

    after = original(slack, notification_channel)
    assert after["ts"] == before["ts"] and after["text"] == "Deploy #50 succeeded"
    assert "blocks" not in after and after["edited"]  # the old blocks went with the old content
    assert len(slack.messages(notification_channel["id"])) == 1  # nothing posted
    [update] = records(aws, "update")
    assert update["status"] == "delivered" and update["slackTs"] == before["ts"]
    thread = invoke("thread", "GET", "/messages/deploy-50/thread").body
    assert thread["original"]["preview"] == "Deploy #50 succeeded"
    assert thread["original"]["updates"] == 1 and thread["original"]["version"] == 2
    assert thread["replies"] == []


def test_an_update_before_its_original_waits_for_it(aws, slack, notification_channel, producer, consumer):
    producer.update("deploy-50", {"text": "Deploy #50 succeeded"})
    reply = consumer("reply")
    early = reply.poll()
    assert early.failed == early.received and slack.calls("chat.update") == []

    deploy(producer, consumer)
    release_handed_back(aws, reply)
    reply.poll()

    assert original(slack, notification_channel)["text"] == "Deploy #50 succeeded"


def test_two_updates_out_of_order_never_go_backwards(aws, slack, notification_channel, producer, consumer):
    deploy(producer, consumer)
    producer.update("deploy-50", {"text": "v3: succeeded"}, version=3)
    consumer("reply").drain()
    producer.update("deploy-50", {"text": "v2: verifying"}, version=2)  # late
    consumer("reply").drain()

    assert original(slack, notification_channel)["text"] == "v3: succeeded"
    assert len(slack.calls("chat.update")) == 1
    [late, applied] = records(aws, "update")
    assert (late["version"], late["status"], late["lastErrorCode"]) == ("2", "stale", "UPDATE_STALE")
    assert applied["status"] == "delivered"


def test_times_order_updates_too(aws, slack, notification_channel, producer, consumer):
    deploy(producer, consumer)
    producer.update("deploy-50", {"text": "later"}, version="2026-12-01T10:05:00Z")
    producer.update("deploy-50", {"text": "earlier"}, version="2026-12-01T10:00:00+00:00")
    consumer("reply").drain()

    assert original(slack, notification_channel)["text"] == "later"


def test_a_stale_update_redriven_from_the_dlq_days_later_is_dropped(
    aws, slack, notification_channel, producer, consumer
):
    deploy(producer, consumer)
    slack.inject_fault("chat.update", "error", error="cant_update_message")
    producer.update("deploy-50", {"text": "v1"}, version=1)
    consumer("reply").drain()  # dead-lettered: Slack refused it for good
    producer.update("deploy-50", {"text": "v2"}, version=2)
    consumer("reply").drain()

    moved = redrive(aws["queues"]["ReplyDeadLetterQueue"], aws["queues"]["ReplyQueue"], sqs=aws["sqs"])
    consumer("reply").drain()

    assert moved.moved == 1
    assert original(slack, notification_channel)["text"] == "v2"
    [v1, v2] = records(aws, "update")
    assert (v1["status"], v1["lastErrorCode"]) == ("stale", "UPDATE_STALE") and v2["status"] == "delivered"
    assert dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]) == []


def test_five_pending_updates_collapse_into_one_slack_call(aws, slack, notification_channel, producer, consumer):
    deploy(producer, consumer)
    for version in range(1, 6):  # a flapping alert, all waiting at once
        producer.update("deploy-50", {"text": f"state {version}"}, version=version)

    consumer("reply").drain()

    [call] = slack.calls("chat.update")
    assert call["params"]["text"] == "state 5"
    assert original(slack, notification_channel)["text"] == "state 5"
    dropped = [r for r in records(aws, "update") if r["status"] == "stale"]
    assert [r["lastErrorCode"] for r in dropped] == ["UPDATE_SUPERSEDED"] * 4
    mapping = dependencies.current().mappings.get("deploy-50", dependencies.current().integrations.require(USER_ID).id)
    assert mapping is not None and mapping.update_count == 1 and mapping.applied_version == 5


def test_replies_between_updates_keep_their_order(aws, slack, notification_channel, producer, consumer):
    deploy(producer, consumer)
    producer.update("deploy-50", {"text": "running"}, version=1)
    producer.reply("deploy-50", {"text": "step 1 done"})
    producer.update("deploy-50", {"text": "succeeded"}, version=2)
    consumer("reply").drain()

    messages = slack.messages(notification_channel["id"])
    assert [m["text"] for m in messages] == ["succeeded", "step 1 done"]
    assert len(slack.calls("chat.update")) == 1  # the two updates collapsed around the reply


def test_an_update_of_an_original_deleted_in_slack_is_dead_lettered_not_retried(
    aws, slack, notification_channel, producer, consumer
):
    deploy(producer, consumer)
    slack.delete_message(notification_channel["id"], original(slack, notification_channel)["ts"])

    producer.update("deploy-50", {"text": "too late"})
    consumer("reply").drain()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "SLACK_MESSAGE_NOT_FOUND"
    assert entry["attributes"]["receiveCount"] == "1"
    [update] = records(aws, "update")
    assert update["status"] == "dead_lettered"


def test_an_unscoped_update_changes_every_users_original(
    aws, slack, notification_channel, second_user, producer, consumer
):
    deploy(producer, consumer, "incident-7")
    deploy(producer, consumer, "incident-7", user=OTHER_USER)

    producer.update("incident-7", {"text": "Incident resolved"})
    consumer("reply").drain()

    assert original(slack, notification_channel)["text"] == "Incident resolved"
    assert original(slack, second_user)["text"] == "Incident resolved"


def test_a_redelivered_update_that_was_applied_calls_slack_once(aws, slack, notification_channel, producer, consumer):
    deploy(producer, consumer)
    body = '{"internalMessageId":"deploy-50","operation":"update","message":{"text":"done"},"idempotencyKey":"u-1"}'
    for dedup in ("first", "again"):  # the same update, enqueued twice past SQS's deduplication
        aws["sqs"].send_message(
            QueueUrl=aws["queues"]["ReplyQueue"],
            MessageBody=body,
            MessageGroupId="deploy-50",
            MessageDeduplicationId=dedup,
        )
        consumer("reply").drain()

    assert len(slack.calls("chat.update")) == 1
    [update] = records(aws, "update")
    assert update["status"] == "delivered"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"operation": "update", "broadcast": True, "message": {"text": "x"}}, "broadcast"),
        ({"operation": "update", "version": "yesterday", "message": {"text": "x"}}, "version"),
        ({"operation": "update", "version": "2026-12-01T10:00:00", "message": {"text": "x"}}, "version"),
        ({"operation": "update", "version": -1, "message": {"text": "x"}}, "version"),
        ({"operation": "delete", "message": {"text": "x"}}, "operation"),
    ],
)
def test_a_malformed_update_is_dead_lettered_with_what_is_wrong(
    aws, slack, notification_channel, producer, consumer, body, problem
):
    deploy(producer, consumer)
    aws["sqs"].send_message(
        QueueUrl=aws["queues"]["ReplyQueue"],
        MessageBody=json.dumps({"internalMessageId": "deploy-50", **body}),
        MessageGroupId="deploy-50",
        MessageDeduplicationId="bad",
    )
    consumer("reply").drain()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INVALID_MESSAGE" and problem in entry["attributes"]["errorDetail"]
    assert slack.calls("chat.update") == []
