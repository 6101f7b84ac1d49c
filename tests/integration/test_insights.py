"""Thread history (GET /messages/{id}/thread), messaging stats (GET /integration/stats and
`admin stats`) and the stats arithmetic. Every answer is checked against deliveries driven for
real through the queues: what Slack (the emulator) holds and what the DeliveriesTable holds."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from slack_integration import admin
from slack_integration.errors import ServiceError
from slack_integration.models.delivery import DeliveryRecord
from slack_integration.services.stats import compute_stats, parse_window
from tests.conftest import BOT_TOKEN, OTHER_USER, USER_ID
from tests.support.records import deliveries, mappings, release_handed_back
from tests.support.sqs import dead_letters

PLUS_TWO = timezone(timedelta(hours=2))
WINDOW = ("2026-11-26T00:00:00.000Z", "2026-11-27T00:00:00.000Z")


@pytest.fixture
def deploy_42(slack, notification_channel, producer, consumer):
    """deploy-42 was sent to USER_ID (tracked, type deployment) and delivered; its Slack message."""
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id="deploy-42", message_type="deployment")
    poll = consumer("send").poll()
    assert poll is not None and poll.failed == []
    [message] = slack.messages(notification_channel["id"])
    return message


def reply_through_queue(producer, consumer, internal_id: str, text: str) -> None:
    producer.reply(internal_id, {"text": text})
    poll = consumer("reply").poll()
    assert poll is not None and poll.failed == []


def thread(invoke, internal_id: str = "deploy-42", *, user_id: str | None = USER_ID, slack: bool = False):
    query = {"slack": "true"} if slack else None
    return invoke("thread", "GET", f"/messages/{internal_id}/thread", user_id=user_id, query=query)


def stats(invoke, user_id: str | None = USER_ID, **query: str):
    return invoke("stats", "GET", "/integration/stats", user_id=user_id, query=query or None)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def nearest_rank(values: list[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[math.ceil(percent / 100 * len(ordered)) - 1]


# -- thread history ------------------------------------------------------------------------------


def test_the_thread_shows_the_original_and_its_replies_as_slack_holds_them(
    aws, slack, notification_channel, deploy_42, producer, consumer, invoke
):
    reply_through_queue(producer, consumer, "deploy-42", "Deploy #42 halfway")
    reply_through_queue(producer, consumer, "deploy-42", "Deploy #42 finished")
    channel_id = notification_channel["id"]
    [parent, *stored_replies] = slack.messages(channel_id)

    answer = thread(invoke)

    assert answer.status == 200
    body = answer.body
    assert body["internalMessageId"] == "deploy-42"
    original = body["original"]
    [mapping] = mappings(aws)
    assert original["ts"] == parent["ts"] == deploy_42["ts"]
    assert original["channelId"] == channel_id
    assert original["sentAt"] == mapping["sentAt"]
    assert abs(parse(original["sentAt"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert original["messageType"] == "deployment"
    assert original["preview"] == "Deploy #42 started"
    assert [r["ts"] for r in body["replies"]] == [m["ts"] for m in stored_replies]
    assert all(m["thread_ts"] == parent["ts"] for m in stored_replies)
    assert [r["preview"] for r in body["replies"]] == ["Deploy #42 halfway", "Deploy #42 finished"]
    assert [r["threaded"] for r in body["replies"]] == [True, True]
    assert [r["status"] for r in body["replies"]] == ["delivered", "delivered"]
    assert [r.get("errorCode") for r in body["replies"]] == [None, None]
    assert all(r["deliveredAt"] and r["firstAttemptAt"] for r in body["replies"])
    assert body.get("slack") is None  # Slack is only asked with ?slack=true
    assert slack.calls("conversations.replies") == []


def test_a_thread_without_replies_lists_none(slack, deploy_42, invoke):
    answer = thread(invoke)

    assert answer.status == 200
    assert answer.body["original"]["ts"] == deploy_42["ts"]
    assert answer.body["replies"] == []


def test_a_reply_whose_parent_was_deleted_shows_unthreaded(
    aws, slack, notification_channel, deploy_42, producer, consumer, invoke
):
    slack.delete_message(notification_channel["id"], deploy_42["ts"])
    reply_through_queue(producer, consumer, "deploy-42", "Anyone there?")
    [landed] = [m for m in slack.messages(notification_channel["id"]) if m["ts"] != deploy_42["ts"]]

    answer = thread(invoke)

    assert answer.status == 200
    [reply] = answer.body["replies"]
    assert reply["status"] == "delivered"
    assert reply["threaded"] is False
    assert reply["ts"] == landed["ts"]
    assert reply["preview"] == "Anyone there?"


def test_slacks_view_of_a_deleted_parent_is_unavailable_not_an_error(
    slack, notification_channel, deploy_42, producer, consumer, invoke
):
    slack.delete_message(notification_channel["id"], deploy_42["ts"])

    answer = thread(invoke, slack=True)

    assert answer.status == 200
    assert answer.body["slack"]["available"] is False
    assert answer.body["slack"]["messages"] == []
    assert answer.body["slack"]["error"]
    assert answer.body["original"]["ts"] == deploy_42["ts"]


def test_a_reply_reposted_for_a_deleted_parent_becomes_the_threads_original(
    slack, notification_channel, deploy_42, producer, consumer, invoke
):
    slack.delete_message(notification_channel["id"], deploy_42["ts"])
    reply_through_queue(producer, consumer, "deploy-42", "Anyone there?")

    answer = thread(invoke, slack=True)

    assert answer.status == 200
    [reply] = answer.body["replies"]
    assert reply["threaded"] is False
    assert answer.body["original"]["ts"] == reply["ts"]  # re-anchored: later replies thread here
    assert answer.body["slack"]["available"] is True
    assert [m["ts"] for m in answer.body["slack"]["messages"]] == [reply["ts"]]


def test_a_dead_lettered_reply_shows_its_error(aws, slack, deploy_42, producer, consumer, invoke):
    slack.set_token_status(BOT_TOKEN, "revoked")
    producer.reply("deploy-42", {"text": "Never arrives"})
    consumer("reply").poll()
    [entry] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "SLACK_TOKEN_REVOKED"

    answer = thread(invoke)

    assert answer.status == 200
    [reply] = answer.body["replies"]
    assert reply["status"] == "dead_lettered"
    assert reply["errorCode"] == "SLACK_TOKEN_REVOKED"
    assert reply.get("ts") is None and reply.get("deliveredAt") is None
    assert reply["preview"] == "Never arrives"


def test_another_users_message_is_not_found(aws, slack, deploy_42, second_user, producer, consumer, invoke):
    producer.send(OTHER_USER, {"text": "Globex secret"}, internal_message_id="globex-1")
    consumer("send").poll()
    assert thread(invoke, "globex-1", user_id=OTHER_USER).status == 200  # it exists, for its owner

    answer = thread(invoke, "globex-1", user_id=USER_ID)

    assert answer.status == 404
    assert answer.body["code"] == "THREAD_NOT_FOUND"
    assert "Globex secret" not in json.dumps(answer.body)
    # And the other way round: user-2 has no deploy-42.
    assert thread(invoke, "deploy-42", user_id=OTHER_USER).body["code"] == "THREAD_NOT_FOUND"


def test_an_unknown_id_is_not_found(deploy_42, invoke):
    answer = thread(invoke, "never-sent")

    assert answer.status == 404
    assert answer.body["code"] == "THREAD_NOT_FOUND"


def test_a_caller_without_an_integration_gets_integration_not_found(deploy_42, invoke):
    answer = thread(invoke, user_id="stranger")

    assert answer.status == 404
    assert answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_the_thread_needs_an_identity(deploy_42, invoke):
    answer = thread(invoke, user_id=None)

    assert answer.status == 401
    assert answer.body["code"] == "UNAUTHENTICATED"


def test_slack_true_adds_slacks_view_of_the_thread_and_caches_it(
    slack, notification_channel, deploy_42, producer, consumer, invoke
):
    reply_through_queue(producer, consumer, "deploy-42", "Deploy #42 halfway")
    reply_through_queue(producer, consumer, "deploy-42", "Deploy #42 finished")
    stored = slack.messages(notification_channel["id"])

    first = thread(invoke, slack=True)

    assert first.status == 200
    view = first.body["slack"]
    assert view["available"] is True
    assert [m["ts"] for m in view["messages"]] == [m["ts"] for m in stored]
    assert [m["text"] for m in view["messages"]] == [
        "Deploy #42 started",
        "Deploy #42 halfway",
        "Deploy #42 finished",
    ]
    assert view["messages"][0]["ts"] == deploy_42["ts"]
    assert len(slack.calls("conversations.replies")) == 1
    [call] = slack.calls("conversations.replies")
    assert call["params"]["channel"] == notification_channel["id"] and call["params"]["ts"] == deploy_42["ts"]

    second = thread(invoke, slack=True)

    assert second.status == 200
    assert second.body["slack"] == view
    assert len(slack.calls("conversations.replies")) == 1  # within the cache window: Slack not asked again
    # Our own records are still read fresh.
    assert [r["preview"] for r in second.body["replies"]] == ["Deploy #42 halfway", "Deploy #42 finished"]


def test_a_rate_limited_slack_view_still_answers_from_our_records(
    slack, notification_channel, deploy_42, producer, consumer, invoke
):
    reply_through_queue(producer, consumer, "deploy-42", "Deploy #42 finished")
    slack.inject_fault("conversations.replies", "ratelimited", retry_after=60)

    answer = thread(invoke, slack=True)

    assert answer.status == 200
    assert answer.body["slack"]["available"] is False
    assert answer.body["slack"]["retryAfter"] == 60
    assert answer.body["slack"]["error"] == "SLACK_RATE_LIMITED"
    assert answer.body["slack"]["messages"] == []
    assert answer.body["original"]["ts"] == deploy_42["ts"]
    [reply] = answer.body["replies"]
    assert reply["preview"] == "Deploy #42 finished" and reply["threaded"] is True
    assert len(slack.calls("conversations.replies")) == 1  # not retried (never slept on)
    assert "retry-after" not in answer.headers  # the answer itself is a success


# -- stats over a known mix ----------------------------------------------------------------------


@pytest.fixture
def known_mix(aws, slack, notification_channel, producer, consumer):
    """Through the queues: deploy-1..3 (tracked, deployment; deploy-2 throttled once), one untracked
    alert, one untracked report Slack refuses for good (invalid_blocks), and two replies: to deploy-1
    (threaded) and to deploy-2 after its parent was deleted (unthreaded)."""
    send = consumer("send")
    producer.send(USER_ID, {"text": "Deploy #1"}, internal_message_id="deploy-1", message_type="deployment")
    assert send.poll().failed == []

    producer.send(USER_ID, {"text": "Deploy #2"}, internal_message_id="deploy-2", message_type="deployment")
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1)
    throttled = send.poll()
    assert throttled.failed == throttled.received
    release_handed_back(aws, send)
    assert send.poll().failed == []

    producer.send(USER_ID, {"text": "Deploy #3"}, internal_message_id="deploy-3", message_type="deployment")
    producer.send(USER_ID, {"text": "CPU high"}, message_type="alert")
    for poll in send.drain():
        assert poll.failed == []

    slack.inject_fault("chat.postMessage", "error", error="invalid_blocks")
    producer.send(USER_ID, {"text": "Weekly report"}, message_type="report")
    assert send.poll().failed == []  # dead-lettered, not handed back
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INVALID_BLOCKS"

    reply_through_queue(producer, consumer, "deploy-1", "Deploy #1 done")
    deploy_2 = next(m for m in slack.messages(notification_channel["id"]) if m["text"] == "Deploy #2")
    slack.delete_message(notification_channel["id"], deploy_2["ts"])
    reply_through_queue(producer, consumer, "deploy-2", "Deploy #2 done")

    records = deliveries(aws)
    assert len(records) == 7
    return records


def test_stats_count_a_known_mix_exactly(aws, known_mix, invoke):
    answer = stats(invoke)

    assert answer.status == 200
    body = answer.body
    assert body["deliveries"] == 7
    assert body["delivered"] == 6
    assert body["failed"] == 1
    assert body["pending"] == 0
    assert body["totalAttempts"] == 8  # deploy-2 took two
    assert body["deliveryRate"] == round(6 / 7, 4)
    assert body["retryRate"] == round(1 / 7, 4)
    assert body["messagesSent"] == 4
    assert body["replies"] == {"total": 2, "delivered": 2, "threaded": 1, "unthreaded": 1, "successRate": 0.5}
    assert body["threads"] == 2
    assert body["byMessageType"] == {
        # Replies carry the type of the message they answer.
        "deployment": {"total": 5, "delivered": 5, "failed": 0},
        "alert": {"total": 1, "delivered": 1, "failed": 0},
        "report": {"total": 1, "delivered": 0, "failed": 1},
    }
    assert body["integrations"] == {"total": 1, "active": 1, "configured": 1, "healthy": 1}
    assert body["truncated"] is False


def test_stats_count_each_error_once_per_failure(known_mix, invoke):
    """One throttled attempt and one message Slack refused: one occurrence each."""
    body = stats(invoke).body

    errors = {entry["code"]: entry["count"] for entry in body["commonErrors"]}
    assert errors == {"SLACK_RATE_LIMITED": 1, "INVALID_BLOCKS": 1}


def test_stats_latency_is_the_nearest_rank_of_the_recorded_queue_times(aws, known_mix, invoke):
    queue_ms = [int(r["queueMs"]) for r in deliveries(aws) if r["status"] == "delivered"]
    assert len(queue_ms) == 6

    latency = stats(invoke).body["latency"]

    ordered = sorted(queue_ms)
    assert latency["medianMs"] == ordered[2] == nearest_rank(queue_ms, 50)  # rank ceil(0.5 * 6) = 3
    assert latency["p95Ms"] == ordered[5] == nearest_rank(queue_ms, 95)  # rank ceil(0.95 * 6) = 6


def test_stats_default_to_the_last_24_hours(known_mix, invoke):
    before = datetime.now(UTC)

    body = stats(invoke).body

    after = datetime.now(UTC)
    end, start = parse(body["end"]), parse(body["start"])
    assert before - timedelta(seconds=1) <= end <= after + timedelta(seconds=1)
    assert end - start == timedelta(hours=24)
    assert body["deliveries"] == 7


def test_stats_with_only_an_end_cover_the_24_hours_before_it(known_mix, invoke):
    end = datetime.now(UTC) + timedelta(hours=1)

    body = stats(invoke, end=iso(end)).body

    assert body["end"] == iso(end).replace("Z", ".000Z")
    assert body["start"] == iso(end - timedelta(hours=24)).replace("Z", ".000Z")
    assert body["deliveries"] == 7


def test_stats_of_a_past_window_count_nothing(known_mix, invoke):
    yesterday = datetime.now(UTC) - timedelta(days=1)
    start, end = iso(yesterday - timedelta(days=2)), iso(yesterday - timedelta(days=1))

    answer = stats(invoke, start=start, end=end)

    assert answer.status == 200
    body = answer.body
    assert (body["start"], body["end"]) == (start.replace("Z", ".000Z"), end.replace("Z", ".000Z"))
    assert (body["deliveries"], body["delivered"], body["failed"], body["pending"]) == (0, 0, 0, 0)
    assert body["totalAttempts"] == 0 and body["messagesSent"] == 0 and body["threads"] == 0
    assert body["deliveryRate"] is None and body["retryRate"] is None
    assert body["commonErrors"] == [] and body["byMessageType"] == {}
    assert body["latency"] == {"medianMs": None, "p95Ms": None}
    assert body["replies"]["total"] == 0 and body["replies"]["successRate"] is None
    assert body["integrations"]["total"] == 1  # the integration is counted, its window is empty


def test_stats_window_with_offsets_is_read_in_utc(known_mix, invoke):
    now = datetime.now(UTC)
    start = (now - timedelta(hours=2)).astimezone(PLUS_TWO)
    end = (now + timedelta(hours=1)).astimezone(PLUS_TWO)

    body = stats(invoke, start=start.isoformat(timespec="seconds"), end=end.isoformat(timespec="seconds")).body

    assert body["start"] == iso(start).replace("Z", ".000Z")
    assert body["end"] == iso(end).replace("Z", ".000Z")
    assert body["deliveries"] == 7


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ({"start": "yesterday"}, "not a time"),
        ({"end": "2026-13-01T00:00:00Z"}, "not a date"),
        ({"start": "2026-11-27T00:00:00Z", "end": "2026-11-27T00:00:00Z"}, "start == end"),
        ({"start": "2026-11-28T00:00:00Z", "end": "2026-11-27T00:00:00Z"}, "start after end"),
        ({"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:01Z"}, "31 days and a second"),
    ],
)
def test_a_bad_window_is_refused(notification_channel, invoke, query, why):
    answer = stats(invoke, **query)

    assert answer.status == 422, why
    assert answer.body["code"] == "INVALID_WINDOW"
    assert answer.body["error"]


def test_a_31_day_window_is_accepted(notification_channel, invoke):
    answer = stats(invoke, start="2026-10-01T00:00:00Z", end="2026-11-01T00:00:00Z")

    assert answer.status == 200
    assert (answer.body["start"], answer.body["end"]) == ("2026-10-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z")


def test_stats_without_an_integration_are_not_found(aws, invoke):
    answer = stats(invoke, user_id="stranger")

    assert answer.status == 404
    assert answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_stats_need_an_identity(aws, invoke):
    assert stats(invoke, user_id=None).status == 401


def test_stats_are_the_callers_own(known_mix, second_user, producer, consumer, invoke):
    producer.send(OTHER_USER, {"text": "Globex hello"}, message_type="hello")
    consumer("send").poll()

    mine = stats(invoke).body
    theirs = stats(invoke, user_id=OTHER_USER).body

    assert mine["deliveries"] == 7 and "hello" not in mine["byMessageType"]
    assert theirs["deliveries"] == 1 and theirs["byMessageType"] == {"hello": {"total": 1, "delivered": 1, "failed": 0}}
    assert theirs["integrations"]["total"] == 1


# -- admin stats ---------------------------------------------------------------------------------


def run_admin(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = admin.main(list(argv), out=out)
    return code, out.getvalue()


def test_admin_stats_aggregate_every_user(aws, slack, notification_channel, second_user, producer, consumer):
    producer.send(USER_ID, {"text": "Acme 1"}, message_type="deployment")
    producer.send(USER_ID, {"text": "Acme 2"}, message_type="deployment")
    producer.send(OTHER_USER, {"text": "Globex 1"}, message_type="alert")
    consumer("send").drain()
    assert len(deliveries(aws)) == 3

    code, out = run_admin("stats")

    assert code == 0
    [line] = out.splitlines()
    body = json.loads(line)
    assert body["deliveries"] == 3 and body["delivered"] == 3 and body["messagesSent"] == 3
    assert body["byMessageType"] == {
        "deployment": {"total": 2, "delivered": 2, "failed": 0},
        "alert": {"total": 1, "delivered": 1, "failed": 0},
    }
    assert body["integrations"] == {"total": 2, "active": 2, "configured": 2, "healthy": 2}
    assert body["deliveryRate"] == 1.0

    code, out = run_admin("stats", "--user-id", USER_ID)

    assert code == 0
    mine = json.loads(out)
    assert mine["deliveries"] == 2 and mine["byMessageType"] == {
        "deployment": {"total": 2, "delivered": 2, "failed": 0}
    }
    assert mine["integrations"]["total"] == 1


def test_admin_stats_refuse_a_bad_start(aws, notification_channel, capsys):
    code, out = run_admin("stats", "--start", "last tuesday")

    assert code == 1
    assert out == ""
    err = capsys.readouterr().err
    assert "INVALID_WINDOW" in err and "RFC 3339" in err


def test_admin_stats_for_an_unknown_user(aws, notification_channel, capsys):
    code, out = run_admin("stats", "--user-id", "stranger")

    assert code == 1 and out == ""
    assert "INTEGRATION_NOT_FOUND" in capsys.readouterr().err


# -- the arithmetic ------------------------------------------------------------------------------


def delivered(queue_ms: int, **extra: Any) -> dict[str, Any]:
    return {"status": "delivered", "kind": "send", "attempts": 1, "queueMs": queue_ms, **extra}


def stats_of(items: list[dict[str, Any]]) -> Any:
    """compute_stats over delivery records given as the table's items."""
    records = [
        DeliveryRecord.model_validate(
            {
                "deliveryKey": f"k{n}",
                **item,
                "outcomes": [{"at": "2026-11-27T00:00:00.000Z", **o} for o in item.get("outcomes", [])],
            }
        )
        for n, item in enumerate(items)
    ]
    return compute_stats(records, [], WINDOW)


def test_no_records_give_no_rates_and_no_latency():
    result = compute_stats([], [], WINDOW)

    assert (result.start, result.end) == WINDOW
    assert (result.deliveries, result.delivered, result.failed, result.pending) == (0, 0, 0, 0)
    assert result.delivery_rate is None and result.retry_rate is None
    assert result.replies.success_rate is None
    assert result.latency.median_ms is None and result.latency.p95_ms is None
    assert result.common_errors == [] and result.by_message_type == {}
    assert result.integrations.total == 0


def test_deliveries_over_time_fall_in_hourly_buckets_of_the_window():
    records = [
        DeliveryRecord.model_validate({"deliveryKey": key, "kind": "send", "status": status, "firstAttemptAt": at})
        for key, status, at in [
            ("a", "delivered", "2026-11-26T00:10:00.000Z"),
            ("b", "dead_lettered", "2026-11-26T00:50:00.000Z"),
            ("c", "retrying", "2026-11-26T05:30:00.000Z"),
            ("d", "delivered", "2026-11-26T23:59:59.999Z"),
            ("e", "stale", "2026-11-26T02:00:00.000Z"),
        ]
    ]

    result = compute_stats(records, [], WINDOW)

    assert result.bucket_seconds == 3600 and len(result.over_time) == 24
    assert result.over_time[0].start == "2026-11-26T00:00:00.000Z"
    assert (result.over_time[0].delivered, result.over_time[0].failed, result.over_time[0].pending) == (1, 1, 0)
    assert result.over_time[5].pending == 1 and result.over_time[23].delivered == 1
    assert result.over_time[23].start == "2026-11-26T23:00:00.000Z"
    assert sum(b.delivered + b.failed + b.pending for b in result.over_time) == 4  # the stale update is not counted


@pytest.mark.parametrize(
    ("window", "seconds", "buckets"),
    [
        (("2026-11-26T00:00:00Z", "2026-11-26T01:00:00Z"), 300, 12),
        (("2026-11-26T00:00:00Z", "2026-11-28T00:00:00Z"), 3600, 48),
        (("2026-11-26T00:00:00Z", "2026-11-29T00:00:00Z"), 3 * 3600, 24),
        (("2026-11-01T00:00:00Z", "2026-12-02T00:00:00Z"), 86_400, 31),
    ],
)
def test_the_chart_never_has_more_than_48_buckets(notification_channel, invoke, window, seconds, buckets):
    answer = stats(invoke, start=window[0], end=window[1])

    assert answer.status == 200
    assert answer.body["bucketSeconds"] == seconds and len(answer.body["overTime"]) == buckets


@pytest.mark.parametrize(
    ("values", "median", "p95"),
    [
        ([42], 42, 42),
        ([4, 1, 3, 2], 2, 4),  # ranks ceil(2) = 2 and ceil(3.8) = 4
        ([100, 10, 90, 20, 80, 30, 70, 40, 60, 50], 50, 100),  # ranks 5 and ceil(9.5) = 10
        (list(range(20, 0, -1)), 10, 19),  # ranks 10 and 19: no interpolation, a real value
        ([5, 5, 5, 1000], 5, 1000),
    ],
)
def test_latency_percentiles_are_nearest_rank(values, median, p95):
    result = stats_of([delivered(v) for v in values])

    assert (result.latency.median_ms, result.latency.p95_ms) == (median, p95)


def test_latency_counts_only_delivered_records():
    records = [
        delivered(10),
        delivered(20),
        {"status": "dead_lettered", "kind": "send", "attempts": 1, "queueMs": 99_999},
        {"status": "retrying", "kind": "send", "attempts": 2},
    ]

    result = stats_of(records)

    assert (result.latency.median_ms, result.latency.p95_ms) == (10, 20)
    assert (result.delivered, result.failed, result.pending) == (2, 1, 1)
    assert result.delivery_rate == round(2 / 3, 4)  # settled ones only
    assert result.retry_rate == 0.25


def test_common_errors_count_a_failure_once_even_when_it_was_then_dead_lettered():
    """The ledger appends a `failed` outcome for the attempt Slack refused and then a
    `dead_lettered` one with the same code when the message goes to the DLQ: one failure.
    A message dead-lettered without any attempt (e.g. no channel set) has only the latter."""
    refused = {
        "status": "dead_lettered",
        "kind": "send",
        "attempts": 1,
        "outcomes": [
            {"outcome": "failed", "code": "INVALID_BLOCKS"},
            {"outcome": "dead_lettered", "code": "INVALID_BLOCKS"},
        ],
    }
    never_tried = {
        "status": "dead_lettered",
        "kind": "send",
        "outcomes": [{"outcome": "dead_lettered", "code": "CHANNEL_NOT_SET"}],
    }
    throttled_twice = delivered(
        50,
        attempts=3,
        outcomes=[
            {"outcome": "failed", "code": "SLACK_RATE_LIMITED"},
            {"outcome": "failed", "code": "SLACK_RATE_LIMITED"},
            {"outcome": "delivered"},
        ],
    )

    result = stats_of([refused, never_tried, throttled_twice])

    errors = {entry.code: entry.count for entry in result.common_errors}
    assert errors == {"SLACK_RATE_LIMITED": 2, "INVALID_BLOCKS": 1, "CHANNEL_NOT_SET": 1}
    assert result.common_errors[0].code == "SLACK_RATE_LIMITED"  # most common first


def test_parse_window_defaults_and_limits():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    assert parse_window(None, None, now=now) == ("2026-11-26T12:00:00.000Z", "2026-11-27T12:00:00.000Z")
    assert parse_window("2026-11-27T00:00:00Z", "2026-11-27T01:00:00Z") == (
        "2026-11-27T00:00:00.000Z",
        "2026-11-27T01:00:00.000Z",
    )
    # A time without a zone is ambiguous: refused, as the API documents RFC 3339 times.
    with pytest.raises(ServiceError) as naive:
        parse_window("2026-11-27T00:00:00", "2026-11-27T01:00:00Z")
    assert naive.value.code == "INVALID_WINDOW"
    with pytest.raises(ServiceError):
        parse_window("", None)


def test_stats_count_messages_dead_lettered_before_delivery_as_failed(
    aws, slack, connected, producer, consumer, invoke
):
    """A bad body from a known user, and a message to a user with no channel chosen yet, end in
    the DLQ: the user's delivery rate says so instead of staying 1.0."""
    aws["sqs"].send_message(
        QueueUrl=aws["queues"]["SendQueue"],
        MessageBody=json.dumps({"userId": USER_ID, "message": {"text": ""}, "internalMessageId": "bad-1"}),
        MessageGroupId=USER_ID,
        MessageDeduplicationId="bad-body",
    )
    producer.send(USER_ID, {"text": "no channel chosen yet"})
    consumer("send").drain()

    stats = invoke("stats", "GET", "/integration/stats").body

    assert stats["failed"] == 2 and stats["delivered"] == 0 and stats["deliveryRate"] == 0.0
    assert {e["code"] for e in stats["commonErrors"]} == {"INVALID_MESSAGE", "CHANNEL_NOT_SET"}
