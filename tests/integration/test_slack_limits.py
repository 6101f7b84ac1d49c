"""The product under Slack's real 2026 limits, against the emulator in its realistic modes: history
needs membership, 1 history call a minute and 15 messages a page for apps outside the Slack
Marketplace, and installs short of a scope. A post whose answer was lost settles with one post
and no DLQ wherever it can be verified; where it cannot, it is kept for an operator and the
integration is not flagged."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from local.slack_emulator import DEFAULT_SCOPES
from slack_integration import dependencies
from slack_integration.models.api import ChannelSelection
from tests.conftest import TEAM_ID, TEAM_NAME, USER_ID
from tests.support.records import deliveries, get_integration_item, release_handed_back
from tests.support.sqs import dead_letters

JOIN = "channels:join"
NO_JOIN = tuple(scope for scope in DEFAULT_SCOPES if scope != JOIN)
TOKEN = "xoxb-test-limits-0001-cccccccccccc"
JOIN_TOKEN = "xoxb-test-limits-0002-dddddddddddd"


@pytest.fixture
def install(aws, slack):
    """Acme installed with a token of the given scopes; the notification channel is #alerts, which
    the bot is not a member of (it posts there with chat:write.public)."""

    def _install(scopes=DEFAULT_SCOPES, *, token: str = TOKEN, **workspace_options):
        slack.add_workspace(TEAM_ID, TEAM_NAME, bot_user_id="U0BUSTERBOT", bot_id="B0BUSTER01", **workspace_options)
        slack.add_token(token, TEAM_ID, scopes=scopes)
        channel = slack.add_channel(TEAM_ID, "alerts", is_member=False)
        dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(token))
        dependencies.current().channels.set_notification_channel(
            USER_ID, ChannelSelection.model_validate({"channelId": channel["id"]})
        )
        return channel

    return _install


def _lost_answer(aws, slack, producer, consumer, text: str = "Deploy #7 started"):
    """A tracked send whose answer is lost after Slack stored it; returns the poller, ready to retry."""
    producer.send(USER_ID, {"text": text}, internal_message_id="deploy-7")
    slack.inject_fault("chat.postMessage", "drop_after")
    send = consumer("send")
    send.poll()
    assert deliveries(aws)[0]["status"] == "uncertain"
    release_handed_back(aws, send)
    return send


def test_choosing_a_channel_the_bot_is_not_in_joins_it(aws, slack, install):
    channel = install()

    [join] = slack.calls("conversations.join")
    assert join["params"]["channel"] == channel["id"]
    history = WebClient(token=TOKEN, base_url=slack.base_url).conversations_history(channel=channel["id"])
    assert history["ok"]  # a member now: the bot can read what it posts


def test_a_lost_answer_in_a_channel_the_bot_has_not_joined_joins_and_settles_with_one_post(
    aws, slack, install, producer, consumer
):
    channel = install(NO_JOIN)  # could not join when the channel was chosen
    reader = WebClient(base_url=slack.base_url)
    with pytest.raises(SlackApiError) as refused:
        reader.conversations_history(token=TOKEN, channel=channel["id"])
    assert refused.value.response["error"] == "not_in_channel"
    # The install is renewed with channels:join (a reconnect keeps the channel of the same workspace).
    slack.add_token(JOIN_TOKEN, TEAM_ID, scopes=(*NO_JOIN, JOIN))
    dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(JOIN_TOKEN))
    send = _lost_answer(aws, slack, producer, consumer)
    reads_before = len(slack.calls("conversations.history"))

    poll = send.poll()

    assert poll.failed == []
    assert [m["text"] for m in slack.messages(channel["id"])] == ["Deploy #7 started"]  # posted once
    # not_in_channel, then conversations.join (now granted), then the read that found it.
    assert len(slack.calls("conversations.history")) - reads_before == 2
    assert len(slack.calls("conversations.join")) == 2  # refused when chosen, granted now
    assert reader.conversations_history(token=JOIN_TOKEN, channel=channel["id"])["ok"]  # a member now
    record = deliveries(aws)[0]
    assert record["status"] == "delivered" and [o["outcome"] for o in record["outcomes"]] == ["uncertain", "verified"]
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []
    assert get_integration_item(aws)["healthStatus"] == "unknown"  # as the reconnect left it: not flagged


def test_a_lost_answer_the_bot_cannot_verify_is_kept_for_an_operator_and_flags_nothing(
    aws, slack, install, producer, consumer
):
    channel = install(NO_JOIN)
    send = _lost_answer(aws, slack, producer, consumer)

    poll = send.poll()

    assert poll.failed == []
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "DELIVERY_UNVERIFIABLE"
    assert entry["attributes"]["slackError"] == "not_in_channel"
    assert len(slack.messages(channel["id"])) == 1  # not posted a second time
    assert get_integration_item(aws)["healthStatus"] == "healthy"  # the install itself is fine


def test_without_channels_history_a_lost_answer_is_unverifiable_and_health_says_why(
    aws, slack, install, producer, consumer, invoke
):
    install(tuple(scope for scope in (*DEFAULT_SCOPES, JOIN) if scope != "channels:history"))
    send = _lost_answer(aws, slack, producer, consumer)

    send.poll()

    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert (entry["attributes"]["errorCode"], entry["attributes"]["slackError"]) == (
        "DELIVERY_UNVERIFIABLE",
        "missing_scope",
    )
    assert get_integration_item(aws)["healthStatus"] == "healthy"
    status = invoke("status", "GET", "/integration/status", user_id=USER_ID)
    assert status.status == 200
    assert status.body["canSend"] is True and status.body["healthStatus"] == "degraded"
    assert status.body["code"] == "SLACK_SCOPES_MISSING" and status.body["missingScopes"] == ["channels:history"]
    assert "Reconnect Slack" in status.body["error"]


def test_a_lost_answer_in_a_busy_channel_resumes_its_search_across_the_one_a_minute_limit(
    aws, slack, install, producer, consumer
):
    channel = install(history_window_seconds=1.0, marketplace_app=False)
    send = _lost_answer(aws, slack, producer, consumer)
    # Dozens of messages land after ours, inside the window Slack could have stored it in.
    others = WebClient(token=TOKEN, base_url=slack.base_url)
    for n in range(20):
        others.chat_postMessage(channel=channel["id"], text=f"chatter {n}")

    first = send.poll()  # page 1 (15 newest: chatter), then page 2 meets the 1-a-minute limit
    assert first.failed == first.received
    calls = slack.calls("conversations.history")
    assert [call["status"] for call in calls] == [200, 429]
    assert {call["params"]["limit"] for call in calls} == {"15"}
    assert all("oldest" in call["params"] and "latest" in call["params"] for call in calls)
    record = deliveries(aws)[0]
    assert record["status"] == "uncertain" and record["lookCursor"]

    time.sleep(1.1)  # the emulator's window (Slack's minute)
    release_handed_back(aws, send)
    second = send.poll()

    assert second.failed == []
    calls = slack.calls("conversations.history")
    assert calls[-1]["params"]["cursor"] == record["lookCursor"]  # resumed, not restarted
    assert [m["text"] for m in slack.messages(channel["id"])].count("Deploy #7 started") == 1
    assert deliveries(aws)[0]["status"] == "delivered"
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []


def test_the_thread_view_takes_at_most_one_slack_read_a_minute_per_workspace(
    aws, slack, notification_channel, producer, consumer, invoke
):
    for internal_id in ("deploy-1", "deploy-2"):
        producer.send(USER_ID, {"text": internal_id}, internal_message_id=internal_id)
    consumer("send").drain()

    first = invoke("thread", "GET", "/messages/deploy-1/thread", user_id=USER_ID, query={"slack": "true"})
    second = invoke("thread", "GET", "/messages/deploy-2/thread", user_id=USER_ID, query={"slack": "true"})

    assert first.body["slack"]["available"] is True
    assert second.status == 200 and second.body["original"]["ts"]  # our records still answer
    assert second.body["slack"] == {
        "available": False,
        "messages": [],
        "retryAfter": 60,
        "error": "SLACK_READS_RESERVED",
    }
    assert len(slack.calls("conversations.replies")) == 1


def test_a_throttled_recovery_keeps_the_dashboard_off_the_shared_read_budget(
    aws, slack, notification_channel, producer, consumer, invoke
):
    producer.send(USER_ID, {"text": "Deploy #8 started"}, internal_message_id="deploy-8")
    consumer("send").poll()
    producer.reply("deploy-8", {"text": "Deploy #8 finished"})
    slack.inject_fault("chat.postMessage", "drop_after")
    reply = consumer("reply")
    reply.poll()
    release_handed_back(aws, reply)
    slack.inject_fault("conversations.replies", "ratelimited", retry_after=60)
    reply.poll()  # the search for the reply meets Slack's limit: recovery holds the budget
    assert get_integration_item(aws)["recoveryHoldUntil"] > time.time() + 60
    calls = len(slack.calls("conversations.replies"))

    view = invoke("thread", "GET", "/messages/deploy-8/thread", user_id=USER_ID, query={"slack": "true"})

    assert view.status == 200 and view.body["slack"]["error"] == "SLACK_READS_RESERVED"
    assert len(slack.calls("conversations.replies")) == calls  # the dashboard did not spend it
