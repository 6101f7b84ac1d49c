"""GET /messages: the caller's recent tracked notifications, newest first, a page at a time.

Every message is driven for real through the queues into the emulator; the answers are checked
against what Slack received and what the deliveries table holds, and the cost of a page is
counted on the real clients (one Query of the sparse index, no Slack call)."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import OTHER_USER, USER_ID
from tests.support.records import deliveries, enqueue_raw


def listing(invoke, *, user_id: str | None = USER_ID, **query: str):
    return invoke("thread", "GET", "/messages", user_id=user_id, query=query or None)


def all_pages(invoke, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        answer = listing(invoke, **query)
        assert answer.status == 200, answer.body
        pages.append([m["internalMessageId"] for m in answer.body["messages"]])
        cursor = answer.body["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ends"


def test_tracked_sends_are_listed_newest_first_with_their_replies_and_updates(
    slack, notification_channel, producer, consumer, invoke
):
    for n in range(3):
        producer.send(
            USER_ID, {"text": f"Deploy #{n} started"}, internal_message_id=f"deploy-{n}", message_type="deploy"
        )
        consumer("send").drain()
    producer.send(USER_ID, {"text": "untracked, not listed"})
    consumer("send").drain()
    producer.reply("deploy-0", {"text": "step 1 done"}, user_id=USER_ID)
    producer.reply("deploy-0", {"text": "step 2 done"}, user_id=USER_ID)
    producer.update("deploy-1", {"text": "Deploy #1 finished"}, user_id=USER_ID, version=2)
    consumer("reply").drain()

    answer = listing(invoke)

    assert answer.status == 200
    messages = answer.body["messages"]
    assert [m["internalMessageId"] for m in messages] == ["deploy-2", "deploy-1", "deploy-0"]
    assert answer.body["nextCursor"] is None
    in_slack = {m["text"]: m for m in slack.messages(notification_channel["id"])}
    oldest = messages[2]
    assert oldest["ts"] == in_slack["Deploy #0 started"]["ts"]
    assert oldest["channelId"] == notification_channel["id"]
    assert oldest["status"] == "delivered" and oldest["sentAt"] and oldest["errorCode"] is None
    assert oldest["replies"] == 2 and oldest["updates"] == 0
    assert oldest["messageType"] == "deploy"
    updated = messages[1]
    assert updated["preview"] == "Deploy #1 finished" and updated["updates"] == 1 and updated["replies"] == 0
    assert in_slack["Deploy #1 finished"]["ts"] == updated["ts"]  # updated in place, same message


def test_pages_follow_the_cursor_without_gaps_repeats_or_an_empty_last_page(
    notification_channel, producer, consumer, invoke
):
    for n in range(7):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"m-{n}")
        consumer("send").drain()

    pages = all_pages(invoke, limit=3)

    assert pages == [["m-6", "m-5", "m-4"], ["m-3", "m-2", "m-1"], ["m-0"]]
    # A page that ends exactly at the last message says so too.
    assert all_pages(invoke, limit=7) == [[f"m-{n}" for n in range(6, -1, -1)]]


def test_a_dead_lettered_message_shows_its_reason_and_a_retrying_one_its_last_error(
    aws, slack, notification_channel, producer, consumer, invoke
):
    enqueue_raw(aws, {"userId": USER_ID, "internalMessageId": "bad-1", "message": {"text": ""}})
    consumer("send").drain()
    slack.inject_fault("chat.postMessage", "server_error", status=503, times=2)  # twice: past the in-function retry
    producer.send(USER_ID, {"text": "will retry"}, internal_message_id="retry-1")
    consumer("send").poll()

    messages = {m["internalMessageId"]: m for m in listing(invoke).body["messages"]}

    assert messages["bad-1"]["status"] == "dead_lettered"
    assert messages["bad-1"]["errorCode"] == "INVALID_MESSAGE"
    assert messages["bad-1"]["error"]  # a sentence a person can act on, not only a code
    assert messages["bad-1"]["ts"] is None and messages["bad-1"]["sentAt"] is None
    assert messages["retry-1"]["status"] == "retrying"
    assert messages["retry-1"]["errorCode"] == "SLACK_UNAVAILABLE"
    assert slack.messages(notification_channel["id"]) == []


def test_each_user_sees_only_their_own_messages_whatever_the_cursor(
    slack, notification_channel, second_user, producer, consumer, invoke
):
    for n in range(3):
        producer.send(USER_ID, {"text": f"mine {n}"}, internal_message_id=f"mine-{n}")
    producer.send(OTHER_USER, {"text": "theirs"}, internal_message_id="theirs-0")
    consumer("send").drain()

    first = listing(invoke, limit="1").body
    assert [m["internalMessageId"] for m in first["messages"]] == ["mine-2"]
    # The other user replaying my cursor only pages their own partition.
    theirs = listing(invoke, user_id=OTHER_USER, cursor=first["nextCursor"]).body["messages"]
    assert all(m["internalMessageId"].startswith("theirs") for m in theirs)
    assert [m["internalMessageId"] for m in listing(invoke, user_id=OTHER_USER).body["messages"]] == ["theirs-0"]


def test_a_page_is_one_query_of_our_records_and_no_slack_call(
    aws, slack, notification_channel, producer, consumer, invoke, aws_calls
):
    for n in range(5):
        producer.send(USER_ID, {"text": f"n{n}"}, internal_message_id=f"cost-{n}")
        producer.reply(f"cost-{n}", {"text": f"r{n}"}, user_id=USER_ID)
    consumer("send").drain()
    consumer("reply").drain()
    before = len(slack.calls())
    aws_calls.clear()

    answer = listing(invoke, limit="5")

    assert [m["replies"] for m in answer.body["messages"]] == [1] * 5
    assert len(slack.calls()) == before
    assert aws_calls == {"dynamodb.GetItem": 1, "dynamodb.Query": 1}  # the caller's integration, the page


def test_replies_are_counted_once_however_often_they_are_redelivered(
    aws, notification_channel, producer, consumer, invoke
):
    producer.send(USER_ID, {"text": "original"}, internal_message_id="once-1")
    consumer("send").drain()
    producer.reply("once-1", {"text": "r"}, user_id=USER_ID, idempotency_key="same")
    producer.reply("once-1", {"text": "r"}, user_id=USER_ID, idempotency_key="same")
    consumer("reply").drain()

    [message] = listing(invoke).body["messages"]

    assert message["replies"] == 1
    sends = [d for d in deliveries(aws) if d["kind"] == "send"]
    assert [(d["replyCount"], d["trackedFor"]) for d in sends] == [(1, d["integrationId"]) for d in sends]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(b"{}").decode(),
        base64.urlsafe_b64encode(json.dumps(["", ""]).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_cursor_this_api_did_not_give_out_is_refused(notification_channel, invoke, cursor):
    answer = listing(invoke, cursor=cursor)

    assert answer.status == 422
    assert answer.body["code"] == "INVALID_CURSOR"
    assert "nextCursor" in answer.body["error"]


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_a_limit_outside_1_to_100_is_refused(notification_channel, invoke, limit):
    answer = listing(invoke, limit=limit)

    assert answer.status == 422
    assert answer.body["code"] == "INVALID_REQUEST"
    assert "limit" in answer.body["error"]


def test_no_identity_is_401_and_no_integration_is_404(aws, invoke):
    assert listing(invoke, user_id=None).status == 401
    answer = listing(invoke)
    assert answer.status == 404 and answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_a_user_with_nothing_sent_gets_an_empty_list(notification_channel, invoke):
    assert listing(invoke).body == {"messages": [], "nextCursor": None}
