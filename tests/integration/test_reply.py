"""The reply consumer end to end: replies thread under every delivery of their original, wait for
an original still on its way, and report a reply Slack did not put in the thread."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.models.api import ChannelSelection
from tests.conftest import BOT_TOKEN, OTHER_TOKEN, OTHER_USER, TEAM_ID, USER_ID
from tests.support.records import deliveries, enqueue_raw, get_integration_item, mappings, outcomes, release_handed_back
from tests.support.sqs import counts, dead_letters


@pytest.fixture
def original(slack, notification_channel, producer, consumer):
    """deploy-42 was sent to USER_ID and delivered; returns the Slack message."""
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42")
    consumer("send").poll()
    [message] = slack.messages(notification_channel["id"])
    return message


def replies_in(slack, channel_id, parent_ts):
    return [m for m in slack.messages(channel_id) if m.get("thread_ts") == parent_ts and m["ts"] != parent_ts]


def test_a_reply_lands_in_the_thread_of_its_original(aws, slack, notification_channel, original, producer, consumer):
    producer.reply("deploy-42", {"text": "Deploy #42 finished"})

    poll = consumer("reply").poll()

    assert poll.failed == []
    [reply] = replies_in(slack, notification_channel["id"], original["ts"])
    assert reply["text"] == "Deploy #42 finished"
    assert "subtype" not in reply  # not broadcast
    [call] = slack.calls("chat.postMessage")[-1:]
    assert call["params"]["thread_ts"] == original["ts"]
    record = next(d for d in deliveries(aws) if d["kind"] == "reply")
    assert record["status"] == "delivered"
    assert record["threaded"] is True
    assert record["parentTs"] == original["ts"] and record["threadTs"] == original["ts"]
    assert record["internalMessageId"] == "deploy-42"


def test_a_broadcast_reply_is_also_shown_in_the_channel(slack, notification_channel, original, producer, consumer):
    producer.reply("deploy-42", {"text": "Rolled back!"}, broadcast=True)

    consumer("reply").poll()

    [reply] = replies_in(slack, notification_channel["id"], original["ts"])
    assert reply["subtype"] == "thread_broadcast"


def test_one_internal_id_sent_to_two_users_gets_the_reply_in_both_threads(
    aws, slack, notification_channel, second_user, producer, consumer
):
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-9")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-9")
    consumer("send").drain()
    assert len(mappings(aws)) == 2

    producer.reply("incident-9", {"text": "Incident resolved"})
    consumer("reply").drain()  # the reply, then the one copy per thread it fans out to

    for channel in (notification_channel, second_user):
        [parent, reply] = slack.messages(channel["id"])
        assert reply["text"] == "Incident resolved"
        assert reply["thread_ts"] == parent["ts"]


def test_a_reply_scoped_to_one_user_only_touches_that_thread(
    aws, slack, notification_channel, second_user, producer, consumer
):
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-9")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-9")
    consumer("send").drain()

    producer.reply("incident-9", {"text": "Globex only"}, user_id=OTHER_USER)
    consumer("reply").poll()

    assert len(slack.messages(notification_channel["id"])) == 1
    assert [m["text"] for m in slack.messages(second_user["id"])] == ["Incident opened", "Globex only"]


def test_a_reply_before_its_original_waits_then_threads(aws, slack, notification_channel, producer, consumer):
    producer.reply("deploy-43", {"text": "Deploy #43 finished"})
    reply = consumer("reply")

    early = reply.poll()

    assert early.failed == early.received  # handed back, not posted top-level, not dropped
    assert slack.calls("chat.postMessage") == []
    assert counts(aws["sqs"], reply.queue_url) == (0, 1)
    assert dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]) == []

    producer.send(USER_ID, {"text": "Deploy #43 started"}, internal_message_id="deploy-43")
    consumer("send").poll()
    release_handed_back(aws, reply)
    reply.poll()

    [parent, threaded] = slack.messages(notification_channel["id"])
    assert threaded["text"] == "Deploy #43 finished" and threaded["thread_ts"] == parent["ts"]


def test_a_reply_whose_original_never_comes_is_dead_lettered_after_the_grace_period(
    aws, slack, notification_channel, producer, consumer
):
    producer.reply("never-sent", {"text": "Orphan"})
    reply = consumer("reply", REPLY_GRACE_SECONDS="1")
    reply.poll()
    time.sleep(1.1)
    release_handed_back(aws, reply)

    last = reply.poll()

    assert last.failed == []
    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "ORIGINAL_NOT_DELIVERED"
    assert entry["attributes"]["reason"] == "grace_period_over"
    assert entry["body"]["internalMessageId"] == "never-sent"
    assert slack.calls("chat.postMessage") == []


def test_a_reply_to_an_original_deleted_in_slack_is_reposted_top_level_and_becomes_the_thread(
    aws, slack, notification_channel, original, producer, consumer, capsys, caplog
):
    # Slack accepts a reply under a deleted message and then shows it nowhere: it would be lost.
    slack.configure_workspace(TEAM_ID, unknown_thread_ts="hidden")
    slack.delete_message(notification_channel["id"], original["ts"])
    producer.reply("deploy-42", {"text": "Anyone there?"})
    capsys.readouterr()

    poll = consumer("reply").poll()

    assert poll.failed == []
    [landed] = slack.messages(notification_channel["id"])
    assert "thread_ts" not in landed  # a new top-level message, saying what it continues
    assert landed["text"].endswith("\nAnyone there?") and "Deploy #42 started" in landed["text"]
    assert "whose Slack message was deleted" in landed["text"]
    record = next(d for d in deliveries(aws) if d["kind"] == "reply")
    assert record["status"] == "delivered" and record["threaded"] is False
    assert "Reply did not land in its thread" in caplog.text
    out = capsys.readouterr().out
    assert '"UnthreadedReplies"' in out and '"RepliesReanchored"' in out
    assert len(slack.calls("chat.postMessage")) == 2  # the original and this reply: no second try
    [mapping] = mappings(aws)
    assert mapping["slackMessageTs"] == landed["ts"]  # re-anchored

    producer.reply("deploy-42", {"text": "Still here"})
    consumer("reply").poll()

    [anchor, threaded] = slack.messages(notification_channel["id"])
    assert anchor["ts"] == landed["ts"] and threaded["thread_ts"] == landed["ts"]
    assert threaded["text"] == "Still here"


def test_a_reply_to_a_deleted_original_that_had_replies_stays_in_its_thread(
    aws, slack, notification_channel, original, producer, consumer
):
    producer.reply("deploy-42", {"text": "First reply"})
    consumer("reply").poll()
    slack.delete_message(notification_channel["id"], original["ts"])  # leaves a tombstone

    producer.reply("deploy-42", {"text": "Second reply"})
    consumer("reply").poll()

    [first, second] = replies_in(slack, notification_channel["id"], original["ts"])
    assert (first["text"], second["text"]) == ("First reply", "Second reply")
    assert mappings(aws)[0]["slackMessageTs"] == original["ts"]


def test_a_redelivered_reply_posts_once(aws, slack, notification_channel, original, producer, consumer):
    producer.reply("deploy-42", {"text": "Once in the thread"})
    reply = consumer("reply")
    poll = reply.poll()
    again = json.loads(json.dumps(poll.event))
    again["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"

    assert reply.invoke(again) == {"batchItemFailures": []}
    assert len(replies_in(slack, notification_channel["id"], original["ts"])) == 1


def test_a_reply_sent_twice_with_one_idempotency_key_posts_once(aws, slack, notification_channel, original, consumer):
    body = {"internalMessageId": "deploy-42", "idempotencyKey": "finish-42", "message": {"text": "Finished"}}
    enqueue_raw(aws, body, group="deploy-42", queue="ReplyQueue")
    enqueue_raw(aws, body, group="deploy-42", queue="ReplyQueue")

    consumer("reply").drain()

    assert [m["text"] for m in replies_in(slack, notification_channel["id"], original["ts"])] == ["Finished"]


def test_a_throttled_reply_comes_back_after_retry_after(aws, slack, notification_channel, original, producer, consumer):
    producer.reply("deploy-42", {"text": "Throttled reply"})
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=2)
    reply = consumer("reply")

    poll = reply.poll()

    assert poll.failed == poll.received
    assert counts(aws["sqs"], reply.queue_url) == (0, 1)
    time.sleep(1.5)
    assert counts(aws["sqs"], reply.queue_url) == (0, 1)  # not before Retry-After
    release_handed_back(aws, reply)
    reply.poll()
    assert [m["text"] for m in replies_in(slack, notification_channel["id"], original["ts"])] == ["Throttled reply"]


def test_one_thread_failing_for_good_does_not_hold_back_or_repeat_the_others(
    aws, slack, notification_channel, second_user, producer, consumer
):
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-9")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-9")
    consumer("send").drain()
    slack.set_token_status(OTHER_TOKEN, "revoked")
    # Another worker holds the Acme thread's delivery right now, so the message must come back
    # once more for it, while the Globex thread fails for good.
    acme_key = f"reply|{get_integration_item(aws)['id']}|incident-9|resolve-9"
    aws["dynamodb"].put_item(
        TableName=aws["tables"]["DeliveriesTable"],
        Item={
            "deliveryKey": {"S": acme_key},
            "status": {"S": "posting"},
            "leaseUntil": {"N": str(time.time() + 30)},
            "lastAttemptAt": {"N": str(time.time())},
            "attempts": {"N": "1"},
        },
    )
    producer.reply("incident-9", {"text": "Resolved"}, idempotency_key="resolve-9")
    reply = consumer("reply")
    reply.poll()  # the fan-out: one scoped copy per thread, each in its own FIFO group

    first = reply.poll()
    # Acme's copy comes back (another worker holds it); Globex's fails for good, alone.
    assert len(first.received) == 2 and len(first.failed) == 1
    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    # The DLQ holds exactly the Globex part, as a body that retries only that thread.
    assert entry["attributes"]["errorCode"] == "SLACK_TOKEN_REVOKED"
    assert entry["body"]["userId"] == OTHER_USER
    assert entry["body"]["idempotencyKey"] == "resolve-9"
    assert get_integration_item(aws, OTHER_USER)["healthStatus"] == "needs_reconnect"
    globex_calls = len(slack.calls("chat.postMessage"))

    # The other worker died without posting: its lease runs out.
    aws["dynamodb"].update_item(
        TableName=aws["tables"]["DeliveriesTable"],
        Key={"deliveryKey": {"S": acme_key}},
        UpdateExpression="SET leaseUntil = :past",
        ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
    )
    release_handed_back(aws, reply)
    second = reply.poll()

    assert second.failed == []
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Incident opened", "Resolved"]
    # The Globex part was neither tried again nor dead-lettered twice.
    assert len(slack.calls("chat.postMessage")) == globex_calls + 1
    assert dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]) == []
    assert len(slack.messages(second_user["id"])) == 1

    # Globex reconnects; the operator redrives the DLQ entry: it lands in Globex's thread only, once.
    slack.set_token_status(OTHER_TOKEN, "active")
    enqueue_raw(aws, entry["body"], group="incident-9", queue="ReplyQueue")
    reply.drain()
    [parent, threaded] = slack.messages(second_user["id"])
    assert threaded["text"] == "Resolved" and threaded["thread_ts"] == parent["ts"]
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Incident opened", "Resolved"]


def test_a_reply_scoped_to_an_unknown_user_is_dead_lettered(aws, slack, original, producer, consumer):
    producer.reply("deploy-42", {"text": "Hello?"}, user_id="nobody")

    consumer("reply").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INTEGRATION_NOT_FOUND"


def test_a_reply_for_a_user_who_disconnected_is_dead_lettered(aws, slack, original, producer, consumer):
    dependencies.current().installation.disconnect(USER_ID)
    producer.reply("deploy-42", {"text": "Too late"})

    consumer("reply").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INTEGRATION_INACTIVE"
    assert len(slack.calls("chat.postMessage")) == 1  # only the original


def test_a_reply_into_an_archived_channel_is_dead_lettered(
    aws, slack, notification_channel, original, producer, consumer
):
    slack.archive_channel(notification_channel["id"])
    producer.reply("deploy-42", {"text": "Archived"})

    consumer("reply").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "CHANNEL_ARCHIVED"
    assert get_integration_item(aws)["healthStatus"] == "needs_new_channel"


def test_a_dropped_connection_on_a_reply_is_checked_in_the_thread(
    aws, slack, notification_channel, original, producer, consumer
):
    producer.reply("deploy-42", {"text": "Fragile reply"})
    slack.inject_fault("chat.postMessage", "drop_after")
    reply = consumer("reply")
    reply.poll()
    release_handed_back(aws, reply)

    reply.poll()

    assert [m["text"] for m in replies_in(slack, notification_channel["id"], original["ts"])] == ["Fragile reply"]
    assert len(slack.calls("conversations.replies")) == 1
    record = next(d for d in deliveries(aws) if d["kind"] == "reply")
    assert outcomes(record) == ["uncertain", "verified"] and record["threaded"] is True


def test_the_sample_events_deliver_and_thread(aws, slack, consumer, invoke):
    """events/send.json then events/reply.json, as `sam local invoke` would feed them."""
    from tests.support.events import sample

    slack.add_workspace("T0DEMO0001", "Buster Demo", bot_user_id="U0DEMOBOT1", bot_id="B0DEMO0001")
    slack.add_token("xoxb-test-demo-0001", "T0DEMO0001")
    slack.add_channel("T0DEMO0001", "alerts", channel_id="C0DEMO00001")
    dependencies.current().installation.connect(
        "user-demo-1", "T0DEMO0001", "Buster Demo", SecretStr("xoxb-test-demo-0001")
    )
    dependencies.current().channels.set_notification_channel(
        "user-demo-1", ChannelSelection.model_validate({"channelId": "C0DEMO00001"})
    )
    send_event, reply_event = sample("send.json"), sample("reply.json")
    now_ms = str(int(time.time() * 1000))
    for event in (send_event, reply_event):
        event["Records"][0]["attributes"]["SentTimestamp"] = now_ms

    assert consumer("send").invoke(send_event) == {"batchItemFailures": []}
    assert consumer("reply").invoke(reply_event) == {"batchItemFailures": []}

    [parent, reply] = slack.messages("C0DEMO00001")
    assert parent["text"] == "Deployment #42 started"
    assert reply["thread_ts"] == parent["ts"]
    assert BOT_TOKEN not in json.dumps(slack.calls())

    # ...and the thread and stats samples read them back for user-demo-1.
    thread = invoke("thread", "", "", event=sample("thread.json"))
    assert thread.status == 200
    assert thread.body["original"]["ts"] == parent["ts"]
    assert [r["ts"] for r in thread.body["replies"]] == [reply["ts"]]
    stats_event = sample("stats.json")
    stats_event["queryStringParameters"] = {}
    stats_event["rawQueryString"] = ""
    stats = invoke("stats", "", "", event=stats_event)
    assert stats.status == 200 and stats.body["delivered"] == 2 and stats.body["replies"]["threaded"] == 1


def test_an_unscoped_reply_also_reaches_a_user_whose_original_is_still_on_its_way(
    aws, slack, notification_channel, second_user, producer, consumer
):
    # The same id to two users; Globex's post is throttled (429, handed back).
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-7")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-7")
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1, after=1)
    send = consumer("send")
    send.poll()
    assert len(mappings(aws)) == 1
    # The reply arrives in between, unscoped.
    producer.reply("incident-7", {"text": "Incident resolved"})
    reply = consumer("reply")

    fan_out = reply.poll()
    assert fan_out.failed == []  # one copy per user is on the queue now
    acme_copy = reply.poll()
    # Acme's thread has it; Globex's copy waits for its original (handed back, not dropped).
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Incident opened", "Incident resolved"]
    assert len(acme_copy.failed) == 1
    assert dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]) == []

    release_handed_back(aws, send)
    send.drain()
    release_handed_back(aws, reply)
    reply.drain()

    [parent, threaded] = slack.messages(second_user["id"])
    assert threaded["text"] == "Incident resolved" and threaded["thread_ts"] == parent["ts"]
    assert len(replies_in(slack, notification_channel["id"], slack.messages(notification_channel["id"])[0]["ts"])) == 1
    assert sorted(d["userId"] for d in deliveries(aws) if d["kind"] == "reply" and d["status"] == "delivered") == [
        USER_ID,
        OTHER_USER,
    ]


def test_a_reply_whose_original_was_dead_lettered_ends_in_the_dlq_with_a_code(
    aws, slack, notification_channel, second_user, producer, consumer
):
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-8")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-8")
    slack.set_token_status(OTHER_TOKEN, "revoked")  # Globex's original fails for good
    consumer("send").drain()
    [dead_send] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert dead_send["attributes"]["errorCode"] == "SLACK_TOKEN_REVOKED"

    producer.reply("incident-8", {"text": "Incident resolved"})
    consumer("reply").drain()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "ORIGINAL_FAILED"
    assert entry["body"]["userId"] == OTHER_USER
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Incident opened", "Incident resolved"]
    record = next(d for d in deliveries(aws) if d["kind"] == "reply" and d["userId"] == OTHER_USER)
    assert (record["status"], record["lastErrorCode"]) == ("dead_lettered", "ORIGINAL_FAILED")


def test_a_fan_out_received_twice_enqueues_each_thread_once(
    aws, slack, notification_channel, second_user, producer, consumer
):
    producer.send(USER_ID, {"text": "Incident opened"}, internal_message_id="incident-6")
    producer.send(OTHER_USER, {"text": "Incident opened"}, internal_message_id="incident-6")
    consumer("send").drain()
    producer.reply("incident-6", {"text": "Incident resolved"})
    reply = consumer("reply")
    first = reply.poll()
    again = json.loads(json.dumps(first.event))
    again["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"

    assert reply.invoke(again) == {"batchItemFailures": []}  # the fan-out runs a second time
    reply.drain()

    for channel in (notification_channel, second_user):
        assert [m["text"] for m in slack.messages(channel["id"])] == ["Incident opened", "Incident resolved"]
    assert len(slack.calls("chat.postMessage")) == 4
