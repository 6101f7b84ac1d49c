"""The fault matrix: each fault hits a batch of tracked notifications on their way to Slack, and
time is then let pass (handed-back messages released, leases expired) until the queue is empty.
For every fault: no message lost (delivered, or in the DLQ with a code until an operator
redrives it), none posted twice, and the user sees what README "Performance and reliability" says.

AWS faults are botocore stubs on the real clients (a `before-call` hook raising the service's own
error); Slack faults are the emulator's; "the process dies" is an exception no handler catches,
raised where the runtime would kill the function.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from slack_integration import dependencies
from tests.conftest import BOT_TOKEN, USER_ID
from tests.support.aws import AwsStack
from tests.support.records import deliveries, enqueue_raw, get_integration_item, mappings
from tests.support.sqs import QueuePoller, counts, dead_letters

BATCH = 10


class ProcessKilled(BaseException):
    """Not an Exception: nothing in the function may catch it, as nothing can catch a SIGKILL."""


def settle(aws: AwsStack, poller: QueuePoller, *, rounds: int = 40, pause: float = 0.0) -> None:
    """Poll until the queue is empty, letting time pass whenever only delayed messages remain:
    handed-back messages become visible, and leases of attempts that died run out."""
    for _ in range(rounds):
        visible, in_flight = counts(aws["sqs"], poller.queue_url)
        if visible + in_flight == 0:
            return
        try:
            poll = poller.poll()
        except ProcessKilled:
            poll = None  # the invocation died: Lambda retries the batch after its visibility timeout
        if poll is None or poll.failed:
            time.sleep(pause)
            _let_time_pass(aws, poller)
    raise AssertionError(f"queue not empty after {rounds} rounds: {counts(aws['sqs'], poller.queue_url)}")


def _let_time_pass(aws: AwsStack, poller: QueuePoller) -> None:
    for message in aws["sqs"].receive_message(QueueUrl=poller.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        aws["sqs"].change_message_visibility(
            QueueUrl=poller.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    events = [poll.event for poll in poller.history[-3:]] + ([poller.last_event] if poller.last_event else [])
    for event in events:
        for record in event["Records"]:
            with contextlib.suppress(ClientError):  # deleted meanwhile
                aws["sqs"].change_message_visibility(
                    QueueUrl=poller.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
    for item in deliveries(aws):
        if item.get("status") == "posting":
            aws["dynamodb"].update_item(
                TableName=aws["tables"]["DeliveriesTable"],
                Key={"deliveryKey": {"S": item["deliveryKey"]}},
                UpdateExpression="SET leaseUntil = :past",
                ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
            )


def enqueue_batch(producer, tag: str) -> list[str]:
    ids = [f"{tag}-{n}" for n in range(BATCH)]
    for internal_id in ids:
        producer.send(USER_ID, {"text": internal_id}, internal_message_id=internal_id)
    return ids


def assert_each_once(slack, channel_id: str, ids: list[str]) -> None:
    posted = [m["text"] for m in slack.messages(channel_id)]
    assert sorted(posted) == sorted(ids), "lost or duplicated"
    assert posted == ids, "out of order within the user's channel"


@pytest.fixture
def aws_fault(aws) -> Iterator[Callable[..., None]]:
    """aws_fault("dynamodb", "UpdateItem", times=2, code=...) makes the next calls fail as AWS would."""
    session = boto3._get_default_session()
    armed: list[dict[str, Any]] = []

    def hook(model, **_kwargs):
        for fault in armed:
            if (
                fault["times"] > 0
                and model.service_model.service_name == fault["service"]
                and model.name == fault["operation"]
            ):
                fault["times"] -= 1
                if fault.get("kill"):
                    raise ProcessKilled
                raise ClientError({"Error": {"Code": fault["code"], "Message": "injected"}}, model.name)

    session.events.register("before-call", hook)
    dependencies.reset()  # clients made from now on carry the hook

    def arm(service: str, operation: str, *, times: int = 1, code: str = "InternalServerError", kill: bool = False):
        armed.append({"service": service, "operation": operation, "times": times, "code": code, "kill": kill})

    yield arm
    session.events.unregister("before-call", hook)


# -- Slack faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("ratelimited", {"times": 4, "retry_after": 1}),  # a 429 burst
        ("error", {"times": 3, "error": "rate_limited"}),  # "posted too many messages"
        ("server_error", {"times": 3, "status": 503}),
        ("server_error", {"times": 2, "status": 500}),
        ("drop_before", {"times": 2}),  # connection reset before Slack handled it
        ("drop_after", {"times": 2}),  # Slack stored it, the answer never came
        ("slow", {"times": 1, "delay": 2.5}),  # slower than the client's 2 s timeout; stored late
    ],
)
def test_slack_faults_lose_nothing_and_post_nothing_twice(
    aws, slack, notification_channel, producer, consumer, kind, options
):
    ids = enqueue_batch(producer, kind)
    slack.inject_fault("chat.postMessage", kind, after=3, **options)
    send = consumer("send")

    # Time passing between attempts includes Slack finishing a late request (the product waits
    # SETTLE_AFTER_TIMEOUT_SECONDS after a timeout; 0.6 s covers the emulator's lateness).
    settle(aws, send, pause=0.6 if kind == "slow" else 0.0)
    time.sleep(0.6 if kind == "slow" else 0)

    assert_each_once(slack, notification_channel["id"], ids)
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []
    assert {m["internalMessageId"] for m in mappings(aws)} == set(ids)
    assert {d["status"] for d in deliveries(aws)} == {"delivered"}


def test_a_token_revoked_mid_batch_dead_letters_the_rest_until_the_user_reconnects(
    aws, slack, notification_channel, producer, consumer
):
    ids = enqueue_batch(producer, "revoked")
    send = consumer("send")
    send.poll(max_messages=3)  # three are delivered...
    slack.set_token_status(BOT_TOKEN, "revoked")  # ...then the app is removed from the workspace

    settle(aws, send)

    entries = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert sorted(e["body"]["internalMessageId"] for e in entries) == sorted(ids[3:])
    assert {e["attributes"]["errorCode"] for e in entries} == {"SLACK_TOKEN_REVOKED"}
    assert get_integration_item(aws)["healthStatus"] == "needs_reconnect"

    # The user reconnects (the token is valid again here); the operator redrives the DLQ.
    slack.set_token_status(BOT_TOKEN, "active")
    for entry in entries:
        enqueue_raw(aws, entry["body"])
    settle(aws, send)

    assert_each_once(slack, notification_channel["id"], ids)


# -- AWS faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "code", "times"),
    [
        ("dynamodb", "GetItem", "ProvisionedThroughputExceededException", 3),
        ("dynamodb", "UpdateItem", "ThrottlingException", 3),
        ("dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", 2),
        ("secretsmanager", "GetSecretValue", "InternalServiceError", 2),
        ("secretsmanager", "GetSecretValue", "ThrottlingException", 1),
        ("sqs", "ChangeMessageVisibilityBatch", "AWS.SimpleQueueService.Unavailable", 1),
    ],
)
def test_aws_faults_lose_nothing_and_post_nothing_twice(
    aws, slack, notification_channel, producer, consumer, aws_fault, service, operation, code, times
):
    ids = enqueue_batch(producer, f"{service}-{operation}")
    dependencies.current().tokens  # noqa: B018 - a cold token cache, so Secrets Manager is really asked
    aws_fault(service, operation, times=times, code=code)
    if operation == "ChangeMessageVisibilityBatch":
        slack.inject_fault("chat.postMessage", "ratelimited", after=2, retry_after=1)  # something to hand back
    send = consumer("send")

    settle(aws, send)

    assert_each_once(slack, notification_channel["id"], ids)
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []
    assert {m["internalMessageId"] for m in mappings(aws)} == set(ids)


def test_the_process_dying_between_slacks_answer_and_the_mapping_write_posts_once(
    aws, slack, notification_channel, producer, consumer, aws_fault
):
    """The one window where a naive consumer posts twice: Slack has the message, nothing of ours
    recorded it. The lease runs out, the next attempt finds the post by its metadata."""
    ids = enqueue_batch(producer, "killed")
    aws_fault("dynamodb", "TransactWriteItems", times=1, kill=True)
    send = consumer("send")

    settle(aws, send)

    assert_each_once(slack, notification_channel["id"], ids)
    [killed] = [d for d in deliveries(aws) if [o["outcome"] for o in d["outcomes"]] == ["verified"]]
    assert killed["slackTs"] in {m["ts"] for m in slack.messages(notification_channel["id"])}
    assert {m["internalMessageId"] for m in mappings(aws)} == set(ids)
    assert len(slack.calls("conversations.history")) == 1  # one look, not one per message


def test_replies_survive_the_same_faults(aws, slack, notification_channel, producer, consumer, aws_fault):
    ids = enqueue_batch(producer, "parent")
    settle(aws, consumer("send"))
    for internal_id in ids:
        producer.reply(internal_id, {"text": f"re {internal_id}"})
    slack.inject_fault("chat.postMessage", "drop_after", after=2, times=2)
    slack.inject_fault("chat.postMessage", "ratelimited", after=5, retry_after=1, times=2)
    aws_fault("dynamodb", "Query", times=1, code="ProvisionedThroughputExceededException")
    reply = consumer("reply")

    settle(aws, reply)

    messages = slack.messages(notification_channel["id"])
    parents = {m["text"]: m["ts"] for m in messages if "thread_ts" not in m or m["thread_ts"] == m["ts"]}
    replies = [m for m in messages if m.get("thread_ts") and m["ts"] != m["thread_ts"]]
    assert sorted(r["text"] for r in replies) == sorted(f"re {i}" for i in ids)
    assert all(r["thread_ts"] == parents[r["text"].removeprefix("re ")] for r in replies)
    assert json.dumps(dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])) == "[]"
