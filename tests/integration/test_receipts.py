"""Delivery receipts: every final outcome (delivered, updated, dead-lettered, dropped as stale) is
one EventBridge event, derived from the deliveries table's stream (moto's) by the receipts
function; none for a duplicate, once per outcome when the stream redelivers."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import BOT_TOKEN, USER_ID


def by_type(receipts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for receipt in receipts:
        assert receipt["source"] == "buster.slack-messaging"
        grouped.setdefault(receipt["detail-type"], []).append(receipt["detail"])
    return grouped


def test_a_delivered_notification_and_its_reply_each_get_a_receipt(
    aws, slack, notification_channel, producer, consumer, receipts
):
    producer.send(USER_ID, {"text": "Deploy #60 started"}, internal_message_id="deploy-60", message_type="deployment")
    consumer("send").drain()
    producer.reply("deploy-60", {"text": "Deploy #60 finished"})
    consumer("reply").drain()

    receipts.publish()

    [send, reply] = by_type(receipts.received())["Slack Message Delivered"]
    [parent, threaded] = slack.messages(notification_channel["id"])
    assert send["operation"] == "send" and send["internalMessageId"] == "deploy-60"
    assert send["userId"] == USER_ID and send["channelId"] == notification_channel["id"]
    assert send["ts"] == parent["ts"] and send["messageType"] == "deployment" and send["errorCode"] is None
    assert send["permalink"] == (
        f"https://acme.slack.com/archives/{notification_channel['id']}/p{parent['ts'].replace('.', '')}"
    )
    assert send["attempts"] == 1 and isinstance(send["latencyMs"], int) and send["receiptId"]
    assert reply["operation"] == "reply" and reply["ts"] == threaded["ts"] and reply["threadTs"] == parent["ts"]
    assert reply["permalink"].endswith(f"?thread_ts={parent['ts']}&cid={notification_channel['id']}")


def test_an_update_and_a_stale_update_get_their_receipts(
    aws, slack, notification_channel, producer, consumer, receipts
):
    producer.send(USER_ID, {"text": "Alert"}, internal_message_id="alert-1")
    consumer("send").drain()
    producer.update("alert-1", {"text": "Alert resolved"}, version=2)
    consumer("reply").drain()
    producer.update("alert-1", {"text": "Alert firing"}, version=1)  # late
    consumer("reply").drain()

    receipts.publish()

    got = by_type(receipts.received())
    [updated] = got["Slack Message Updated"]
    assert updated["operation"] == "update" and updated["version"] == 2 and updated["ts"]
    [stale] = got["Slack Message Failed"]
    assert (stale["outcome"], stale["errorCode"], stale["version"]) == ("stale", "UPDATE_STALE", 1)


def test_a_dead_lettered_notification_gets_a_failed_receipt_with_its_code(
    aws, slack, notification_channel, producer, consumer, receipts
):
    slack.set_token_status(BOT_TOKEN, "revoked")
    producer.send(USER_ID, {"text": "never delivered"}, internal_message_id="lost-1")
    consumer("send").drain()

    receipts.publish()

    [failed] = by_type(receipts.received())["Slack Message Failed"]
    assert failed["outcome"] == "dead_lettered" and failed["errorCode"] == "SLACK_TOKEN_REVOKED"
    assert failed["ts"] is None and failed["internalMessageId"] == "lost-1"


def test_a_duplicate_makes_no_receipt(aws, slack, notification_channel, producer, consumer, receipts):
    producer.send(USER_ID, {"text": "once"}, internal_message_id="dup-1")
    consumer("send").drain()
    # The same tracked message again, past SQS's deduplication: the ledger skips it.
    aws["sqs"].send_message(
        QueueUrl=aws["queues"]["SendQueue"],
        MessageBody=json.dumps({"userId": USER_ID, "message": {"text": "once"}, "internalMessageId": "dup-1"}),
        MessageGroupId=USER_ID,
        MessageDeduplicationId="again",
    )
    consumer("send").drain()

    receipts.publish()

    assert len(slack.messages(notification_channel["id"])) == 1
    assert [r["detail"]["internalMessageId"] for r in receipts.received()] == ["dup-1"]


def test_retrying_attempts_make_no_receipt_until_the_outcome_is_final(
    aws, slack, notification_channel, producer, consumer, receipts
):
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1)
    producer.send(USER_ID, {"text": "later"}, internal_message_id="slow-1")
    consumer("send").poll()  # throttled: retrying

    receipts.publish()

    assert receipts.received() == []


def test_a_redelivered_stream_batch_publishes_each_receipt_once(
    aws, slack, notification_channel, producer, consumer, receipts
):
    for n in range(3):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"batch-{n}")
    consumer("send").drain()
    receipts.publish()
    first = receipts.received()

    # Lambda hands the same stream batch to the function again (a timeout, a retry).
    receipts.invoke(receipts.invocations[0])

    assert len(first) == 3 and receipts.received() == []
    assert len({r["detail"]["receiptId"] for r in first}) == 3


def test_receipts_eventbridge_does_not_take_are_retried_in_order_and_none_is_lost(
    aws, slack, notification_channel, producer, consumer, receipts, monkeypatch
):
    from slack_integration import dependencies

    for n in range(3):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"refused-{n}")
    consumer("send").drain()
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")  # EventBridge refuses every entry
    dependencies.reset()

    assert receipts.publish() == 0  # the mapping keeps its place at the first record
    assert receipts.received() == []

    monkeypatch.setenv("EVENT_BUS_NAME", "default")
    dependencies.reset()
    assert receipts.publish() == 3
    assert sorted(r["detail"]["internalMessageId"] for r in receipts.received()) == [
        "refused-0",
        "refused-1",
        "refused-2",
    ]
