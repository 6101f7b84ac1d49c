"""The producer client against the template's FIFO queues (moto): what it puts on the queue, how
SQS deduplicates it, bulk sends in batches SQS accepts, and failures reported, never raised raw."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from slack_integration.errors import ServiceError
from slack_integration.models.messages import MAX_TEXT, ReplyRequest, SendRequest
from slack_integration.producer import SQS_BATCH_BYTES, SQS_BATCH_ENTRIES, NotificationProducer
from tests.conftest import USER_ID
from tests.support.aws import AwsStack
from tests.support.sqs import counts


def _receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of a FIFO queue in delivery order (deleting each batch so its group unblocks)."""
    found: list[dict[str, Any]] = []
    for _ in range(100):
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return found
        found.extend(messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    raise AssertionError("the queue never ran dry")


def _visible(aws: AwsStack, queue: str) -> int:
    visible, in_flight = counts(aws["sqs"], aws["queues"][queue])
    assert in_flight == 0
    return visible


def _record_batches(sqs: Any) -> list[list[dict[str, Any]]]:
    """The entries of every SendMessageBatch call this client makes (observed, not altered)."""
    calls: list[list[dict[str, Any]]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(list(params["Entries"]))

    sqs.meta.events.register("provide-client-params.sqs.SendMessageBatch", record)
    return calls


def _broken(url: str) -> str:
    name = url.rsplit("/", 1)[1]
    return url.replace(name, "NoSuchQueue-" + name)


# --- send ------------------------------------------------------------------------------------------


def test_send_enqueues_the_contract_body_grouped_by_user(aws, producer):
    message_id = producer.send(
        USER_ID,
        {"text": "Deploy #42 started", "blocks": [{"type": "divider"}]},
        internal_message_id="deploy-42",
        message_type="deployment",
    )

    [received] = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert received["MessageId"] == message_id
    assert received["Attributes"]["MessageGroupId"] == USER_ID
    body = json.loads(received["Body"])
    assert body == {
        "userId": USER_ID,
        "message": {"text": "Deploy #42 started", "blocks": [{"type": "divider"}]},
        "internalMessageId": "deploy-42",
        "messageType": "deployment",
    }
    assert SendRequest.model_validate(body).internal_message_id == "deploy-42"


def test_fields_left_out_are_omitted_from_the_body_not_sent_as_null(aws, producer):
    producer.send(USER_ID, {"text": "hello"})

    [received] = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert json.loads(received["Body"]) == {"userId": USER_ID, "message": {"text": "hello"}}
    assert "null" not in received["Body"]


def test_sending_the_same_tracked_message_twice_enqueues_it_once(aws, producer):
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42")
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42")

    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert len(received) == 1
    dedup = received[0]["Attributes"]["MessageDeduplicationId"]
    assert re.fullmatch(r"[0-9a-f]{64}", dedup)


def test_a_tracked_message_is_deduplicated_by_its_identity_not_its_content(aws, producer):
    producer.send(USER_ID, {"text": "first wording"}, internal_message_id="deploy-42")
    producer.send(USER_ID, {"text": "second wording"}, internal_message_id="deploy-42")
    producer.send(USER_ID, {"text": "first wording"}, internal_message_id="deploy-43")
    producer.send("user-2", {"text": "first wording"}, internal_message_id="deploy-42")

    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    sent = sorted((json.loads(m["Body"])["userId"], json.loads(m["Body"])["internalMessageId"]) for m in received)
    assert sent == [(USER_ID, "deploy-42"), (USER_ID, "deploy-43"), ("user-2", "deploy-42")]


def test_the_deduplication_id_of_a_tracked_message_is_stable(aws):
    # Two producers (two processes) agree on the id, so a retry from another container is dropped too.
    queues = aws["queues"]
    first = NotificationProducer(queues["SendQueue"], queues["ReplyQueue"], sqs=aws["sqs"])
    second = NotificationProducer(queues["SendQueue"], queues["ReplyQueue"], sqs=aws["sqs"])

    first.send(USER_ID, {"text": "x"}, internal_message_id="deploy-42")
    second.send(USER_ID, {"text": "x"}, internal_message_id="deploy-42")

    assert _visible(aws, "SendQueue") == 1


def test_two_identical_untracked_sends_are_two_notifications(aws, producer):
    producer.send(USER_ID, {"text": "Disk almost full"})
    producer.send(USER_ID, {"text": "Disk almost full"})

    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert [json.loads(m["Body"])["message"]["text"] for m in received] == ["Disk almost full"] * 2
    assert len({m["Attributes"]["MessageDeduplicationId"] for m in received}) == 2


def test_an_idempotency_key_deduplicates_untracked_sends(aws, producer):
    producer.send(USER_ID, {"text": "Disk almost full"}, idempotency_key="disk-alert-7")
    producer.send(USER_ID, {"text": "Disk almost full"}, idempotency_key="disk-alert-7")
    producer.send(USER_ID, {"text": "Disk almost full"}, idempotency_key="disk-alert-8")

    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert [json.loads(m["Body"])["idempotencyKey"] for m in received] == ["disk-alert-7", "disk-alert-8"]


def test_a_users_notifications_keep_their_order(aws, producer):
    for n in range(12):
        producer.send(USER_ID, {"text": f"step {n}"})

    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert [json.loads(m["Body"])["message"]["text"] for m in received] == [f"step {n}" for n in range(12)]


# --- reply -----------------------------------------------------------------------------------------


def test_reply_enqueues_the_contract_body_grouped_by_the_original(aws, producer):
    message_id = producer.reply("deploy-42", {"text": "Deploy #42 finished"}, user_id=USER_ID, broadcast=True)

    [received] = _receive_all(aws["sqs"], aws["queues"]["ReplyQueue"])
    assert received["MessageId"] == message_id
    assert received["Attributes"]["MessageGroupId"] == "deploy-42"
    body = json.loads(received["Body"])
    assert body == {
        "internalMessageId": "deploy-42",
        "message": {"text": "Deploy #42 finished"},
        "userId": USER_ID,
        "broadcast": True,
    }
    assert ReplyRequest.model_validate(body).broadcast is True
    assert _visible(aws, "SendQueue") == 0


def test_a_minimal_reply_body_omits_what_was_not_given(aws, producer):
    producer.reply("deploy-42", {"text": "done"})

    [received] = _receive_all(aws["sqs"], aws["queues"]["ReplyQueue"])
    assert json.loads(received["Body"]) == {
        "internalMessageId": "deploy-42",
        "message": {"text": "done"},
        "broadcast": False,
    }


def test_replies_are_deduplicated_by_their_idempotency_key_only(aws, producer):
    producer.reply("deploy-42", {"text": "50% done"})
    producer.reply("deploy-42", {"text": "50% done"})
    producer.reply("deploy-42", {"text": "finished"}, idempotency_key="finished")
    producer.reply("deploy-42", {"text": "finished"}, idempotency_key="finished")
    producer.reply("deploy-43", {"text": "finished"}, idempotency_key="finished")

    received = _receive_all(aws["sqs"], aws["queues"]["ReplyQueue"])
    texts = sorted((m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["message"]["text"]) for m in received)
    assert texts == [
        ("deploy-42", "50% done"),
        ("deploy-42", "50% done"),
        ("deploy-42", "finished"),
        ("deploy-43", "finished"),
    ]


@pytest.mark.parametrize(
    "internal_id",
    ["déploiement-42", "deploy 42", "d" * 129, "d" * 255, "日本語"],
    ids=["non_ascii", "space", "129_chars", "255_chars", "cjk"],
)
def test_a_group_id_sqs_would_refuse_is_replaced_by_a_stable_digest(aws, producer, internal_id):
    producer.reply(internal_id, {"text": "one"})
    producer.reply(internal_id, {"text": "two"})
    producer.reply(internal_id + "x", {"text": "other thread"})

    received = _receive_all(aws["sqs"], aws["queues"]["ReplyQueue"])
    groups = {json.loads(m["Body"])["message"]["text"]: m["Attributes"]["MessageGroupId"] for m in received}
    assert len(received) == 3
    assert re.fullmatch(r"[0-9a-f]{64}", groups["one"])
    assert groups["one"] == groups["two"]  # the same thread stays in one ordered group
    assert groups["other thread"] != groups["one"]
    # The body keeps the real id; only the group id is a digest.
    assert {json.loads(m["Body"])["internalMessageId"] for m in received} == {internal_id, internal_id + "x"}


def test_a_user_id_sqs_would_refuse_as_a_group_is_digested_too(aws, producer):
    producer.send("usér 1", {"text": "hi"})

    [received] = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert re.fullmatch(r"[0-9a-f]{64}", received["Attributes"]["MessageGroupId"])
    assert json.loads(received["Body"])["userId"] == "usér 1"


def test_the_longest_readable_group_id_is_used_as_is(aws, producer):
    internal_id = "deploy/" + "x" * 120 + "!"
    assert len(internal_id) == 128

    producer.reply(internal_id, {"text": "hi"})

    [received] = _receive_all(aws["sqs"], aws["queues"]["ReplyQueue"])
    assert received["Attributes"]["MessageGroupId"] == internal_id


# --- invalid messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda p: p.send(USER_ID, {"txt": "typo"}), "message.txt"),
        (lambda p: p.send(USER_ID, {"text": ""}), "message"),
        (lambda p: p.send(USER_ID, {"text": "x" * (MAX_TEXT + 1)}), "message.text"),
        (lambda p: p.send(USER_ID, {"text": "hi"}, message_type="bad\ntype"), "messageType"),
        (lambda p: p.send("user\n1", {"text": "hi"}), "userId"),
        (lambda p: p.send(USER_ID, {"blocks": [{"type": "nope"}]}), "blocks[0]"),
        (lambda p: p.reply("deploy-42", {"text": " "}), "message"),
        (lambda p: p.reply("", {"text": "hi"}), "internalMessageId"),
        (lambda p: p.reply("deploy-42", {"text": "hi"}, idempotency_key="k" * 129), "idempotencyKey"),
    ],
    ids=[
        "unknown_message_field",
        "empty_text",
        "text_too_long",
        "message_type_newline",
        "user_id_control_char",
        "unknown_block",
        "blank_reply",
        "empty_internal_id",
        "long_idempotency_key",
    ],
)
def test_an_invalid_message_is_refused_and_nothing_is_enqueued(aws, producer, call, where):
    with pytest.raises(ServiceError) as raised:
        call(producer)

    assert raised.value.code == "INVALID_MESSAGE"
    assert raised.value.detail and where in raised.value.detail
    assert _visible(aws, "SendQueue") == 0
    assert _visible(aws, "ReplyQueue") == 0


def test_an_invalid_message_detail_does_not_echo_the_message(producer):
    secret = "xoxb-test-not-a-real-token-" + "p" * 60

    with pytest.raises(ServiceError) as raised:
        producer.send(USER_ID, {"text": secret * 700})

    assert "xoxb" not in (raised.value.detail or "")
    assert "xoxb" not in raised.value.message


def test_a_message_too_big_for_sqs_is_refused_as_invalid_not_as_an_outage(aws, producer):
    # Within every per-field limit of the contract, yet over 1 MiB as a body: no queue takes it, so
    # retrying (what AWS_UNAVAILABLE asks of the caller) can never succeed.
    section = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "x" * 3000},
        "fields": [{"type": "mrkdwn", "text": "y" * 2000}] * 10,
    }
    message = {"text": "z" * MAX_TEXT, "blocks": [section] * 50}

    with pytest.raises(ServiceError) as raised:
        producer.send(USER_ID, message)

    assert raised.value.code == "INVALID_MESSAGE"
    assert _visible(aws, "SendQueue") == 0


# --- send_bulk -------------------------------------------------------------------------------------

INVALID_AT = {
    3: {"userId": USER_ID, "message": {"text": ""}},
    14: {"userId": USER_ID, "message": {"text": "hi"}, "internalMessageID": "typo"},
    27: {"message": {"text": "no user"}},
}


def _bulk_input(valid: int = 25) -> tuple[list[dict[str, Any]], list[int]]:
    entries: list[dict[str, Any]] = []
    valid_indexes: list[int] = []
    n = 0
    while len(valid_indexes) < valid or len(entries) <= max(INVALID_AT):
        index = len(entries)
        if index in INVALID_AT:
            entries.append(INVALID_AT[index])
        else:
            entries.append({"userId": USER_ID, "message": {"text": f"bulk {n}"}, "messageType": "bulk"})
            valid_indexes.append(index)
            n += 1
    return entries, valid_indexes


def test_send_bulk_accepts_the_valid_and_reports_the_invalid_by_index(aws):
    entries, valid_indexes = _bulk_input()
    assert len(entries) == 28 and len(valid_indexes) == 25
    batches = _record_batches(aws["sqs"])
    producer = NotificationProducer(aws["queues"]["SendQueue"], aws["queues"]["ReplyQueue"], sqs=aws["sqs"])

    result = producer.send_bulk(entries)

    assert result.total_accepted == 25 and result.total_rejected == 3
    assert [index for index, _ in result.accepted] == valid_indexes
    assert len({message_id for _, message_id in result.accepted}) == 25
    assert all(message_id for _, message_id in result.accepted)
    assert [rejected.index for rejected in result.rejected] == sorted(INVALID_AT)
    assert {rejected.code for rejected in result.rejected} == {"INVALID_MESSAGE"}
    assert "message" in result.rejected[0].error
    assert "internalMessageID" in result.rejected[1].error
    assert "userId" in result.rejected[2].error
    # Ten entries per call at most, and no call for the refused ones.
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert _visible(aws, "SendQueue") == 25
    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert [json.loads(m["Body"])["message"]["text"] for m in received] == [f"bulk {n}" for n in range(25)]
    ids = {message_id for _, message_id in result.accepted}
    assert {m["MessageId"] for m in received} == ids


def test_send_bulk_accepts_any_iterable_and_an_empty_one(aws, producer):
    assert producer.send_bulk([]).total_accepted == 0
    result = producer.send_bulk({"userId": USER_ID, "message": {"text": f"g{n}"}} for n in range(3))

    assert [index for index, _ in result.accepted] == [0, 1, 2]
    assert _visible(aws, "SendQueue") == 3


def test_send_bulk_deduplicates_tracked_messages_like_send(aws, producer):
    result = producer.send_bulk(
        [
            {"userId": USER_ID, "message": {"text": "a"}, "internalMessageId": "deploy-42"},
            {"userId": USER_ID, "message": {"text": "a"}, "internalMessageId": "deploy-42"},
            {"userId": USER_ID, "message": {"text": "a"}},
            {"userId": USER_ID, "message": {"text": "a"}},
        ]
    )

    assert result.total_accepted == 4
    assert _visible(aws, "SendQueue") == 3


def test_send_bulk_splits_batches_by_request_size(aws):
    big = "b" * 39_000
    batches = _record_batches(aws["sqs"])
    producer = NotificationProducer(aws["queues"]["SendQueue"], aws["queues"]["ReplyQueue"], sqs=aws["sqs"])
    entries = [{"userId": USER_ID, "message": {"text": f"{n} {big}"}} for n in range(9)]
    assert sum(len(json.dumps(entry)) for entry in entries) > SQS_BATCH_BYTES  # one batch would be refused

    result = producer.send_bulk(entries)

    assert result.total_rejected == 0
    assert [index for index, _ in result.accepted] == list(range(9))
    assert len(batches) >= 2
    for batch in batches:
        assert len(batch) <= SQS_BATCH_ENTRIES
        assert sum(len(entry["MessageBody"].encode()) for entry in batch) <= SQS_BATCH_BYTES
    received = _receive_all(aws["sqs"], aws["queues"]["SendQueue"])
    assert [json.loads(m["Body"])["message"]["text"] for m in received] == [f"{n} {big}" for n in range(9)]


def test_send_bulk_counts_bytes_not_characters(aws):
    # 39,000 three-byte characters are ~117 KB each: only two fit in one request.
    wide = "€" * 39_000
    batches = _record_batches(aws["sqs"])
    producer = NotificationProducer(aws["queues"]["SendQueue"], aws["queues"]["ReplyQueue"], sqs=aws["sqs"])

    result = producer.send_bulk([{"userId": USER_ID, "message": {"text": wide}} for _ in range(4)])

    assert result.total_accepted == 4
    for batch in batches:
        assert sum(len(entry["MessageBody"].encode()) for entry in batch) <= SQS_BATCH_BYTES


# --- SQS outage ------------------------------------------------------------------------------------


def test_send_raises_aws_unavailable_when_sqs_refuses(aws):
    producer = NotificationProducer(_broken(aws["queues"]["SendQueue"]), aws["queues"]["ReplyQueue"])

    with pytest.raises(ServiceError) as raised:
        producer.send(USER_ID, {"text": "hi"})

    assert raised.value.code == "AWS_UNAVAILABLE"
    assert raised.value.retryable


def test_reply_raises_aws_unavailable_when_sqs_refuses(aws):
    producer = NotificationProducer(aws["queues"]["SendQueue"], _broken(aws["queues"]["ReplyQueue"]))

    with pytest.raises(ServiceError) as raised:
        producer.reply("deploy-42", {"text": "hi"})

    assert raised.value.code == "AWS_UNAVAILABLE"


def test_send_bulk_reports_every_entry_rejected_when_sqs_refuses(aws):
    producer = NotificationProducer(_broken(aws["queues"]["SendQueue"]), aws["queues"]["ReplyQueue"])
    entries, valid_indexes = _bulk_input()

    result = producer.send_bulk(entries)

    assert result.accepted == []
    assert [rejected.index for rejected in result.rejected] == list(range(len(entries)))
    codes = {rejected.index: rejected.code for rejected in result.rejected}
    assert {codes[index] for index in valid_indexes} == {"AWS_UNAVAILABLE"}
    assert {codes[index] for index in INVALID_AT} == {"INVALID_MESSAGE"}
    assert all(rejected.error for rejected in result.rejected)
    assert _visible(aws, "SendQueue") == 0
