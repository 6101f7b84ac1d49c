"""The send consumer end to end: producer -> SQS (moto, from template.yaml) -> send function ->
Slack emulator over HTTP. Assertions are on what Slack holds, what DynamoDB holds, what the
queues hold, and what the function answered Lambda."""

from __future__ import annotations

import json
import time

import pytest
from slack_sdk import WebClient

from slack_integration import dependencies
from slack_integration.models.slack import METADATA_EVENT_TYPE, delivery_digest
from tests.conftest import BOT_TOKEN, OTHER_USER, USER_ID
from tests.support.records import (
    deliveries,
    enqueue_raw,
    get_integration_item,
    mappings,
    outcomes,
    release_handed_back,
    visibility_of,
)
from tests.support.sqs import counts, dead_letters

# -- the happy path ------------------------------------------------------------------------------


def test_tracked_send_posts_once_and_records_the_mapping(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42", message_type="deployment")
    send = consumer("send")

    poll = send.poll()

    assert poll is not None and poll.failed == []
    posted = slack.messages(notification_channel["id"])
    assert [m["text"] for m in posted] == ["Deploy #42 started"]
    # Every post carries its delivery digest, so an uncertain retry can find it.
    assert posted[0]["metadata"]["event_type"] == METADATA_EVENT_TYPE
    [mapping] = mappings(aws)
    assert mapping["internalMessageId"] == "deploy-42"
    assert mapping["slackChannelId"] == notification_channel["id"]
    assert mapping["slackMessageTs"] == posted[0]["ts"]
    assert mapping["messageType"] == "deployment"
    assert mapping["userId"] == USER_ID
    assert mapping["expiresAt"] > time.time() + 80 * 86_400
    [delivery] = deliveries(aws)
    assert delivery["status"] == "delivered"
    assert delivery["slackTs"] == posted[0]["ts"]
    assert (delivery["kind"], delivery["messageType"], delivery["userId"]) == ("send", "deployment", USER_ID)
    assert outcomes(delivery) == ["delivered"]
    assert delivery["queueMs"] >= 0
    assert counts(aws["sqs"], send.queue_url) == (0, 0)


def test_blocks_without_text_get_a_derived_fallback_text(slack, notification_channel, producer, consumer):
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Build failed"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*api* on main"}},
    ]
    producer.send(USER_ID, {"blocks": blocks})

    consumer("send").poll()

    [posted] = slack.messages(notification_channel["id"])
    assert posted["text"] == "Build failed\n*api* on main"
    assert posted["blocks"] == blocks


def test_untracked_send_writes_no_mapping(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "FYI"})

    consumer("send").poll()

    assert len(slack.messages(notification_channel["id"])) == 1
    assert mappings(aws) == []
    [delivery] = deliveries(aws)
    assert delivery["status"] == "delivered" and delivery["deliveryKey"].split("|")[2] == "key"


def test_one_batch_keeps_each_users_order(aws, slack, notification_channel, second_user, producer, consumer):
    for n in range(3):
        producer.send(USER_ID, {"text": f"acme {n}"})
        producer.send(OTHER_USER, {"text": f"globex {n}"})

    consumer("send").drain()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["acme 0", "acme 1", "acme 2"]
    assert [m["text"] for m in slack.messages(second_user["id"])] == ["globex 0", "globex 1", "globex 2"]


# -- post once -----------------------------------------------------------------------------------


def test_sqs_redelivery_of_a_delivered_message_posts_nothing(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Once"}, internal_message_id="once-1")
    send = consumer("send")
    poll = send.poll()
    # Lambda ran but SQS delivers the same message again (e.g. the delete was lost).
    again = json.loads(json.dumps(poll.event))
    again["Records"][0]["attributes"]["ApproximateReceiveCount"] = "2"

    response = send.invoke(again)

    assert response == {"batchItemFailures": []}
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Once"]
    assert len(slack.calls("chat.postMessage")) == 1
    [delivery] = deliveries(aws)
    assert outcomes(delivery) == ["delivered"]


def test_a_producer_sending_a_tracked_message_twice_posts_once(aws, slack, notification_channel, consumer):
    body = {"userId": USER_ID, "internalMessageId": "deploy-7", "message": {"text": "Deploy #7"}}
    # Two sends SQS cannot deduplicate (different dedup ids, e.g. minutes apart).
    enqueue_raw(aws, body)
    enqueue_raw(aws, body)

    consumer("send").drain()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Deploy #7"]
    assert len(mappings(aws)) == 1


def test_an_idempotency_key_makes_untracked_duplicates_post_once(aws, slack, notification_channel, consumer):
    body = {"userId": USER_ID, "idempotencyKey": "digest-2026-11-27", "message": {"text": "Daily digest"}}
    enqueue_raw(aws, body)
    enqueue_raw(aws, body)
    enqueue_raw(aws, {**body, "idempotencyKey": "digest-2026-11-28"})

    consumer("send").drain()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Daily digest", "Daily digest"]


def test_a_connection_dropped_after_slack_posted_does_not_post_twice(
    aws, slack, notification_channel, producer, consumer
):
    producer.send(USER_ID, {"text": "Fragile"}, internal_message_id="fragile-1")
    slack.inject_fault("chat.postMessage", "drop_after")
    send = consumer("send")

    first = send.poll()

    # Slack stored it, we never heard back: handed back, and slack_sdk did not silently resend.
    assert first.failed == first.received
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.messages(notification_channel["id"])) == 1
    [delivery] = deliveries(aws)
    assert delivery["status"] == "uncertain" and delivery["lastErrorCode"] == "SLACK_UNREACHABLE"
    assert mappings(aws) == []

    release_handed_back(aws, send)
    second = send.poll()

    assert second.failed == []
    posted = slack.messages(notification_channel["id"])
    assert [m["text"] for m in posted] == ["Fragile"]
    assert len(slack.calls("chat.postMessage")) == 1  # found in Slack, not posted again
    assert len(slack.calls("conversations.history")) == 1
    [mapping] = mappings(aws)
    assert mapping["slackMessageTs"] == posted[0]["ts"]
    [delivery] = deliveries(aws)
    assert delivery["status"] == "delivered" and delivery["slackTs"] == posted[0]["ts"]
    assert outcomes(delivery) == ["uncertain", "verified"]


def test_a_connection_dropped_before_slack_posted_posts_once_after_checking(
    aws, slack, notification_channel, producer, consumer
):
    producer.send(USER_ID, {"text": "Lost in transit"}, internal_message_id="transit-1")
    slack.inject_fault("chat.postMessage", "drop_before")
    send = consumer("send")
    dropped_at = time.time()
    send.poll()
    assert slack.messages(notification_channel["id"]) == []
    # Slack closed the connection: the exchange is over on its side, so the next attempt looks
    # (and posts) after a 2 s margin, not the 30 s a timeout needs; the user's queue waits that long.
    [delivery] = deliveries(aws)
    assert float(delivery["uncertainUntil"]) - dropped_at == pytest.approx(2.0, abs=1.0)
    assert 1.0 <= visibility_of(aws, send) <= 3.5

    send.poll()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Lost in transit"]
    assert len(slack.calls("conversations.history")) == 1
    [delivery] = deliveries(aws)
    assert outcomes(delivery) == ["uncertain", "delivered"]


def test_a_slack_timeout_whose_post_landed_late_is_not_posted_again(
    aws, slack, notification_channel, producer, consumer
):
    producer.send(USER_ID, {"text": "Slow lane"}, internal_message_id="slow-1")
    # Slack answers after the client's 2 s timeout, and stores the message anyway.
    slack.inject_fault("chat.postMessage", "slow", delay=2.5)
    send = consumer("send")
    timed_out_at = time.time()
    send.poll()
    [delivery] = deliveries(aws)
    assert (delivery["status"], delivery["lastErrorCode"]) == ("uncertain", "SLACK_TIMEOUT")
    # Our own timeout: Slack may still store it, so the look waits 30 s (the record's window too).
    assert float(delivery["uncertainUntil"]) - timed_out_at >= 29
    time.sleep(0.8)  # the emulator finishes storing the late post

    release_handed_back(aws, send)
    send.poll()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Slow lane"]


def test_an_attempt_that_died_mid_post_is_recovered_from_slack(aws, slack, notification_channel, consumer):
    """The function was killed after Slack stored the post and before anything was recorded: the
    ledger still says `posting` with a lease that has run out."""
    integration = get_integration_item(aws)
    key = f"send|{integration['id']}|msg|crash-1"
    posted = WebClient(base_url=slack.base_url).chat_postMessage(
        token=BOT_TOKEN,
        channel=notification_channel["id"],
        text="Crash course",
        metadata={"event_type": METADATA_EVENT_TYPE, "event_payload": {"delivery": delivery_digest(key)}},
    )
    aws["dynamodb"].put_item(
        TableName=aws["tables"]["DeliveriesTable"],
        Item={
            "deliveryKey": {"S": key},
            "status": {"S": "posting"},
            "leaseUntil": {"N": str(time.time() - 5)},
            "lastAttemptAt": {"N": str(time.time() - 70)},
            "attempts": {"N": "1"},
            "sqsMessageId": {"S": "earlier"},
        },
    )
    enqueue_raw(aws, {"userId": USER_ID, "internalMessageId": "crash-1", "message": {"text": "Crash course"}})

    consumer("send").poll()

    assert [m["ts"] for m in slack.messages(notification_channel["id"])] == [posted["ts"]]
    [mapping] = mappings(aws)
    assert mapping["slackMessageTs"] == posted["ts"]


def test_a_delivery_leased_to_another_worker_is_handed_back_untouched(aws, slack, notification_channel, consumer):
    integration = get_integration_item(aws)
    aws["dynamodb"].put_item(
        TableName=aws["tables"]["DeliveriesTable"],
        Item={
            "deliveryKey": {"S": f"send|{integration['id']}|msg|busy-1"},
            "status": {"S": "posting"},
            "leaseUntil": {"N": str(time.time() + 40)},
            "attempts": {"N": "1"},
        },
    )
    enqueue_raw(aws, {"userId": USER_ID, "internalMessageId": "busy-1", "message": {"text": "Busy"}})
    send = consumer("send")

    poll = send.poll()

    assert poll.failed == poll.received
    assert slack.calls("chat.postMessage") == []
    assert counts(aws["sqs"], send.queue_url) == (0, 1)


# -- rate limits and transient failures -----------------------------------------------------------


def test_a_429_mid_batch_hands_back_its_group_for_retry_after_and_spares_the_rest(
    aws, slack, notification_channel, second_user, producer, consumer
):
    for n in range(3):
        producer.send(USER_ID, {"text": f"acme {n}"})
    producer.send(OTHER_USER, {"text": "globex 0"})
    # The second post is throttled with Retry-After: 1.
    slack.inject_fault("chat.postMessage", "ratelimited", after=1, retry_after=1)
    send = consumer("send")

    started = time.monotonic()
    poll = send.poll()
    took = time.monotonic() - started

    assert took < 1.0  # Retry-After is honoured by the queue, never by sleeping in the function
    texts = [json.loads(r["body"])["message"]["text"] for r in poll.event["Records"]]
    failed_texts = [texts[poll.received.index(m)] for m in poll.failed]
    assert sorted(failed_texts) == ["acme 1", "acme 2"]
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["acme 0"]
    assert [m["text"] for m in slack.messages(second_user["id"])] == ["globex 0"]
    assert counts(aws["sqs"], send.queue_url) == (0, 2)
    # Both come back together after Retry-After (1 s) plus at most 1 s of jitter.
    assert 0.5 <= visibility_of(aws, send) <= 3.5
    # moto re-delivers a group whose messages expire microseconds apart out of order (real FIFO
    # does not); releasing them explicitly keeps the emulation faithful.
    release_handed_back(aws, send)
    send.drain()
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["acme 0", "acme 1", "acme 2"]
    throttled = next(d for d in deliveries(aws) if d["attempts"] == 2)
    assert outcomes(throttled) == ["failed", "delivered"]
    assert throttled["outcomes"][0]["code"] == "SLACK_RATE_LIMITED"


@pytest.mark.parametrize("error", ["rate_limited", "message_limit_exceeded"])
def test_slacks_other_throttling_errors_are_retried_too(aws, slack, notification_channel, producer, consumer, error):
    producer.send(USER_ID, {"text": "Throttled"})
    slack.inject_fault("chat.postMessage", "error", error=error)
    send = consumer("send")

    poll = send.poll()

    assert poll.failed == poll.received
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []
    release_handed_back(aws, send)
    send.poll()
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Throttled"]


@pytest.mark.parametrize("status", [503, 500])
def test_one_slack_5xx_is_retried_at_once_in_the_function(aws, slack, notification_channel, producer, consumer, status):
    producer.send(USER_ID, {"text": "Soon"}, internal_message_id="soon-1")
    slack.inject_fault("chat.postMessage", "server_error", status=status)
    send = consumer("send")

    poll = send.poll()

    # Slack answered (it did not post): the posting client asks once more a quarter second later,
    # so the user's queue is not held for a backoff through SQS.
    assert poll.failed == []
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Soon"]
    assert [c["status"] for c in slack.calls("chat.postMessage")] == [status, 200]
    assert slack.calls("conversations.history") == []
    [delivery] = deliveries(aws)
    assert delivery["status"] == "delivered"


@pytest.mark.parametrize(
    ("fault", "options", "code"),
    [
        # Twice: the posting client's own retry meets the second one.
        ("server_error", {"status": 503, "times": 2}, "SLACK_UNAVAILABLE"),
        ("server_error", {"status": 500, "times": 2}, "SLACK_UNAVAILABLE"),
        ("error", {"error": "internal_error"}, "SLACK_UNAVAILABLE"),
        ("error", {"error": "fatal_error"}, "SLACK_UNAVAILABLE"),
    ],
)
def test_slack_5xx_is_retried_with_backoff_then_delivered_once(
    aws, slack, notification_channel, producer, consumer, fault, options, code
):
    producer.send(USER_ID, {"text": "Eventually"}, internal_message_id="eventually-1")
    slack.inject_fault("chat.postMessage", fault, **options)
    send = consumer("send")

    poll = send.poll()

    assert poll.failed == poll.received
    # First retry waits 2.5-5 s (half of the 5 s step fixed, half jittered).
    assert counts(aws["sqs"], send.queue_url) == (0, 1)
    assert 2.0 <= visibility_of(aws, send) <= 5.5
    [delivery] = deliveries(aws)
    assert (delivery["status"], delivery["lastErrorCode"]) == ("retrying", code)
    send.poll()
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Eventually"]
    assert len(slack.calls("chat.postMessage")) == options.get("times", 1) + 1
    # A 5xx is an answer: Slack did not post, so no check was needed before posting again.
    assert slack.calls("conversations.history") == []


def test_retries_run_out_into_the_dlq_with_the_last_code(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Doomed"})
    slack.inject_fault("chat.postMessage", "server_error", times=5)
    send = consumer("send", MAX_RECEIVE_COUNT="2")

    send.poll()
    release_handed_back(aws, send)
    last = send.poll()

    assert last.failed == []
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "SLACK_UNAVAILABLE"
    assert entry["attributes"]["reason"] == "retries_exhausted"
    assert entry["attributes"]["receiveCount"] == "2"
    assert entry["body"]["message"] == {"text": "Doomed"}
    [delivery] = deliveries(aws)
    assert delivery["status"] == "dead_lettered"
    assert outcomes(delivery) == ["failed", "failed", "dead_lettered"]
    assert counts(aws["sqs"], send.queue_url) == (0, 0)


def test_too_little_time_left_hands_the_batch_back_unprocessed(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Later"})
    send = consumer("send")

    poll = send.poll(remaining_ms=5_000)

    assert poll.failed == poll.received
    assert slack.calls("chat.postMessage") == []
    assert counts(aws["sqs"], send.queue_url)[0] == 1  # back at once, for a fresh invocation


# -- permanent failures ---------------------------------------------------------------------------


def test_a_revoked_token_dead_letters_and_flags_reconnect(aws, slack, notification_channel, producer, consumer):
    slack.set_token_status(BOT_TOKEN, "revoked")
    producer.send(USER_ID, {"text": "Nobody home"}, internal_message_id="revoked-1")

    poll = consumer("send").poll()

    assert poll.failed == []
    assert slack.messages(notification_channel["id"]) == []
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "SLACK_TOKEN_REVOKED"
    assert entry["attributes"]["reason"] == "permanent"
    assert entry["attributes"]["slackError"] == "token_revoked"
    assert entry["body"]["internalMessageId"] == "revoked-1"
    integration = get_integration_item(aws)
    assert integration["healthStatus"] == "needs_reconnect"
    assert integration["lastErrorCode"] == "SLACK_TOKEN_REVOKED"
    assert entry["attributes"]["integrationId"] == integration["id"]
    [delivery] = deliveries(aws)
    assert delivery["status"] == "dead_lettered" and delivery["lastErrorCode"] == "SLACK_TOKEN_REVOKED"
    assert mappings(aws) == []


def test_an_archived_channel_dead_letters_and_asks_for_a_new_channel(
    aws, slack, notification_channel, producer, consumer
):
    slack.archive_channel(notification_channel["id"])
    producer.send(USER_ID, {"text": "Into the void"})

    consumer("send").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "CHANNEL_ARCHIVED"
    assert entry["attributes"]["slackError"] == "is_archived"
    assert get_integration_item(aws)["healthStatus"] == "needs_new_channel"


def test_a_deleted_channel_dead_letters_and_asks_for_a_new_channel(
    aws, slack, notification_channel, producer, consumer
):
    slack.delete_channel(notification_channel["id"])
    producer.send(USER_ID, {"text": "Gone"})

    consumer("send").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "CHANNEL_NOT_FOUND"
    assert get_integration_item(aws)["healthStatus"] == "needs_new_channel"


def test_no_notification_channel_dead_letters_with_channel_not_set(aws, slack, connected, producer, consumer):
    producer.send(USER_ID, {"text": "Where to?"})

    consumer("send").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "CHANNEL_NOT_SET"
    assert get_integration_item(aws)["healthStatus"] == "needs_new_channel"
    assert slack.calls("chat.postMessage") == []


def test_a_disconnected_integration_dead_letters_without_calling_slack(
    aws, slack, notification_channel, producer, consumer
):
    dependencies.current().installation.disconnect(USER_ID)
    producer.send(USER_ID, {"text": "Too late"})

    consumer("send").poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INTEGRATION_INACTIVE"
    assert slack.calls("chat.postMessage") == []


def test_a_mixed_batch_settles_every_record_on_its_own(aws, slack, notification_channel, producer, consumer):
    good = [producer.send(USER_ID, {"text": f"good {n}"}) for n in range(2)]
    bad = {
        enqueue_raw(aws, "{not json"): ("INVALID_MESSAGE", "body: not JSON"),
        enqueue_raw(aws, ["a", "list"]): ("INVALID_MESSAGE", "body: must be a JSON object"),
        enqueue_raw(aws, {"message": {"text": "who?"}}): ("INVALID_MESSAGE", "userId: Field required"),
        enqueue_raw(aws, {"userId": USER_ID, "internalMessageID": "typo", "message": {"text": "x"}}): (
            "INVALID_MESSAGE",
            "internalMessageID: Extra inputs are not permitted",
        ),
        enqueue_raw(
            aws,
            {
                "userId": USER_ID,
                "message": {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]},
            },
        ): ("INVALID_MESSAGE", "text attribute cannot exceed 3000 characters"),
        enqueue_raw(aws, {"userId": "nobody", "message": {"text": "hello?"}}, group="nobody"): (
            "INTEGRATION_NOT_FOUND",
            "",
        ),
    }
    good.append(producer.send(USER_ID, {"text": "good 2"}))
    send = consumer("send")

    polls = send.drain()

    assert all(poll.failed == [] for poll in polls)
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["good 0", "good 1", "good 2"]
    entries = {
        e["attributes"]["sourceMessageId"]: e for e in dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    }
    assert set(entries) == set(bad)
    for message_id, (code, detail) in bad.items():
        assert entries[message_id]["attributes"]["errorCode"] == code
        assert detail in entries[message_id]["attributes"].get("errorDetail", "")
    assert entries[next(iter(bad))]["body"] == "{not json"  # kept verbatim for the operator
    assert counts(aws["sqs"], send.queue_url) == (0, 0)


def test_a_dlq_outage_keeps_the_failed_message_on_its_queue(aws, slack, notification_channel, producer, consumer):
    producer.send(USER_ID, {"text": "Nowhere to go"})
    slack.archive_channel(notification_channel["id"])
    send = consumer("send", DEAD_LETTER_QUEUE_URL=aws["queues"]["SendDeadLetterQueue"].replace("-test", "-missing"))

    poll = send.poll()

    assert poll.failed == poll.received
    assert counts(aws["sqs"], send.queue_url) == (0, 1)


def test_redriving_a_dead_lettered_message_delivers_it_once(aws, slack, notification_channel, producer, consumer):
    """An operator fixes the cause and moves the DLQ message back: it continues the same delivery."""
    producer.send(USER_ID, {"text": "Second chance"})
    slack.set_token_status(BOT_TOKEN, "revoked")
    consumer("send").poll()
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    slack.set_token_status(BOT_TOKEN, "active")

    enqueue_raw(aws, entry["body"])
    enqueue_raw(aws, entry["body"])  # redriven twice by mistake
    consumer("send").drain()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["Second chance"]
    [delivery] = deliveries(aws)
    assert outcomes(delivery) == ["failed", "dead_lettered", "delivered"]


# -- what operators see ---------------------------------------------------------------------------


def test_metrics_count_sends_and_failures_by_code(aws, slack, notification_channel, producer, consumer, capsys):
    producer.send(USER_ID, {"text": "ok"})
    enqueue_raw(aws, {"userId": USER_ID})

    consumer("send").drain()

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"]: blob for blob in emitted for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert names["MessagesSent"]["MessagesSent"] in (1.0, [1.0])
    assert names["DeliveryFailed"]["ErrorCode"] == "INVALID_MESSAGE"
    assert "MessagesDeadLettered" in names


def test_the_sample_event_is_a_real_fifo_record(aws, slack, notification_channel, consumer):
    from tests.support.events import sample

    event = sample("send.json")
    record = event["Records"][0]
    assert record["eventSourceARN"].endswith(".fifo")
    assert record["attributes"]["MessageGroupId"] == json.loads(record["body"])["userId"]
