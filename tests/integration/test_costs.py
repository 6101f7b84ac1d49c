"""AWS calls per message are a measured cost: these budgets fail when a change adds a call to the
hot path. Counted with botocore's own event hooks on the real clients (nothing is replaced)."""

from __future__ import annotations

from collections import Counter

from tests.conftest import USER_ID

BATCH = 10


def delivered_originals(producer, consumer) -> None:
    """BATCH tracked notifications of USER_ID delivered (cost-0 ...), for follow-ups to thread under."""
    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"cost-{n}")
    consumer("send").poll()


def test_a_tracked_send_costs_three_dynamodb_calls_and_one_slack_call(
    aws, slack, notification_channel, producer, consumer, aws_calls
):
    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"cost-{n}")
    send = consumer("send")
    aws_calls.clear()

    poll = send.poll()

    assert len(poll.received) == BATCH and poll.failed == []
    assert len(slack.calls("chat.postMessage")) == BATCH
    # Per message: the integration (GetItem), the ledger claim (UpdateItem), and the mapping with
    # the delivered record in one transaction. The bot token is read once per container, not per
    # message. A fully successful batch touches SQS not at all (Lambda deletes it).
    assert aws_calls == Counter(
        {
            "dynamodb.GetItem": BATCH,
            "dynamodb.UpdateItem": BATCH,
            "dynamodb.TransactWriteItems": BATCH,
            "secretsmanager.GetSecretValue": 1,
        }
    )


def test_an_untracked_send_costs_three_dynamodb_calls(aws, slack, notification_channel, producer, consumer, aws_calls):
    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"n{n}"})
    send = consumer("send")
    send.poll()  # warm: the token is cached now
    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"m{n}"})
    aws_calls.clear()

    send.poll()

    assert aws_calls == Counter({"dynamodb.GetItem": BATCH, "dynamodb.UpdateItem": 2 * BATCH})


def test_a_scoped_reply_costs_three_dynamodb_calls(aws, slack, notification_channel, producer, consumer, aws_calls):
    delivered_originals(producer, consumer)
    for n in range(BATCH):
        producer.reply(f"cost-{n}", {"text": f"reply {n}"}, user_id=USER_ID)
    reply = consumer("reply")
    aws_calls.clear()

    reply.drain()

    assert len(slack.calls("chat.postMessage")) == 2 * BATCH
    assert aws_calls == Counter(
        {
            # The user's integration and the original's mapping in one read: the mapping's key is
            # named by the integration id derived from the user id.
            "dynamodb.BatchGetItem": BATCH,
            "dynamodb.UpdateItem": BATCH,  # the ledger claim
            # The delivered record, with the reply counted on its original's send (GET /messages).
            "dynamodb.TransactWriteItems": BATCH,
            "secretsmanager.GetSecretValue": 1,  # the reply function's own cold token cache
        }
    )


def test_an_update_in_place_costs_three_dynamodb_calls(aws, slack, notification_channel, producer, consumer, aws_calls):
    delivered_originals(producer, consumer)
    for n in range(BATCH):
        producer.update(f"cost-{n}", {"text": f"now {n}"}, user_id=USER_ID, version=1)
    reply = consumer("reply")
    aws_calls.clear()

    reply.drain()

    assert [m["text"] for m in slack.messages(notification_channel["id"])] == [f"now {n}" for n in range(BATCH)]
    assert aws_calls == Counter(
        {
            "dynamodb.BatchGetItem": BATCH,  # the integration and the mapping (its applied version)
            "dynamodb.UpdateItem": BATCH,  # the ledger claim
            # The delivered record, the mapping's new version and the count on the send, together.
            "dynamodb.TransactWriteItems": BATCH,
            "secretsmanager.GetSecretValue": 1,
        }
    )


def test_an_integration_made_before_ids_were_derived_costs_one_more_read_once_per_container(
    legacy_ids, aws, slack, notification_channel, producer, consumer, aws_calls
):
    delivered_originals(producer, consumer)
    for n in range(BATCH):
        producer.reply(f"cost-{n}", {"text": f"reply {n}"}, user_id=USER_ID)
    reply = consumer("reply")
    aws_calls.clear()

    reply.drain()

    replies = [m for m in slack.messages(notification_channel["id"]) if m.get("thread_ts") not in (None, m["ts"])]
    assert len(replies) == BATCH
    # The first reply's read named the mapping under the derived id, which this integration does
    # not have: one GetItem of the right mapping. The container remembers the id from then on.
    assert aws_calls == Counter(
        {
            "dynamodb.BatchGetItem": BATCH,
            "dynamodb.GetItem": 1,
            "dynamodb.UpdateItem": BATCH,
            "dynamodb.TransactWriteItems": BATCH,
            "secretsmanager.GetSecretValue": 1,
        }
    )


def test_an_unscoped_reply_to_one_thread_costs_five_dynamodb_calls(
    aws, slack, notification_channel, producer, consumer, aws_calls
):
    delivered_originals(producer, consumer)
    for n in range(BATCH):
        producer.reply(f"cost-{n}", {"text": f"reply {n}"})
    reply = consumer("reply")
    aws_calls.clear()

    reply.drain()

    assert len(slack.calls("chat.postMessage")) == 2 * BATCH
    # One recipient: the record is that thread's reply itself (no fan-out hop). Who the id was
    # sent to costs two queries: the delivered mappings, and the sends still on their way.
    assert aws_calls == Counter(
        {
            "dynamodb.Query": 2 * BATCH,
            "dynamodb.GetItem": BATCH,  # the integration of the one recipient
            "dynamodb.UpdateItem": BATCH,
            "dynamodb.TransactWriteItems": BATCH,
            "secretsmanager.GetSecretValue": 1,
        }
    )


def test_an_unscoped_reply_to_two_threads_fans_out_with_one_sqs_call(
    aws, slack, notification_channel, second_user, producer, consumer, aws_calls
):
    from tests.conftest import OTHER_USER

    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"cost-{n}")
        producer.send(OTHER_USER, {"text": f"n{n}"}, internal_message_id=f"cost-{n}")
    consumer("send").drain()
    for n in range(BATCH):
        producer.reply(f"cost-{n}", {"text": f"reply {n}"})
    reply = consumer("reply")
    aws_calls.clear()

    reply.drain()

    assert len(slack.calls("chat.postMessage")) == 4 * BATCH
    # Per reply: 2 queries and one SendMessageBatch for the fan-out, then per thread the scoped
    # reply's 3 DynamoDB calls.
    assert aws_calls == Counter(
        {
            "dynamodb.Query": 2 * BATCH,
            "sqs.SendMessageBatch": BATCH,
            "dynamodb.BatchGetItem": 2 * BATCH,
            "dynamodb.UpdateItem": 2 * BATCH,
            "dynamodb.TransactWriteItems": 2 * BATCH,
            "secretsmanager.GetSecretValue": 2,  # one token per workspace, once per container
        }
    )


def test_a_throttled_batch_costs_one_visibility_call(aws, slack, notification_channel, producer, consumer, aws_calls):
    for n in range(BATCH):
        producer.send(USER_ID, {"text": f"n{n}"})
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1)
    send = consumer("send")
    aws_calls.clear()

    poll = send.poll()

    # The first post is throttled; the other nine wait with it (same group), unprocessed.
    assert len(poll.failed) == BATCH
    assert len(slack.calls("chat.postMessage")) == 1
    assert aws_calls["sqs.ChangeMessageVisibilityBatch"] == 1
    assert aws_calls["dynamodb.UpdateItem"] == 2  # one claim, one failed outcome
