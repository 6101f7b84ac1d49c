"""The Slack gateway: base URL from the environment, timeouts, and deliberate retries per kind of
call (reads retry once; posts never), over real HTTP to the emulator."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import ServiceError
from slack_integration.models.slack import Post
from tests.conftest import BOT_TOKEN


def _gateway(slack, *, timeout: float = 2.0) -> SlackGateway:
    return SlackGateway(dependencies.current().tokens, slack.base_url, timeout)


def _post(gateway: SlackGateway, integration_id: str, channel_id: str) -> str:
    return gateway.post(integration_id, Post(channel_id, {"text": "hi"}, delivery_key="test")).ts


def test_the_service_clients_talk_to_slack_api_url(workspace, slack):
    gateway = dependencies.current().slack
    for client in (gateway.reads, gateway.posts):
        assert client.base_url == slack.base_url
        assert client.token is None  # one client for every workspace; the token travels per call


def test_a_post_is_never_resent_after_a_dropped_connection(connected, workspace, slack):
    # Given Slack stores the message and then the connection drops before the answer
    channel = workspace.channels["general"]
    slack.inject_fault("chat.postMessage", "drop_after")
    # When the gateway posts
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack), connected.id, channel["id"])
    # Then the failure is reported as transient and the message exists exactly once
    assert raised.value.code == "SLACK_UNREACHABLE" and raised.value.retryable
    assert len(slack.calls("chat.postMessage")) == 1
    assert [m["text"] for m in slack.messages(channel["id"])] == ["hi"]


def test_a_read_retries_a_dropped_connection_once(workspace, slack):
    slack.inject_fault("auth.test", "drop_before")
    identity = _gateway(slack).identify(SecretStr(BOT_TOKEN))
    assert identity.team_id == workspace.team_id
    assert len(slack.calls("auth.test")) == 2


def test_the_timeout_bounds_a_slow_answer(workspace, slack):
    slack.inject_fault("auth.test", "slow", delay=1.0)
    with pytest.raises(ServiceError) as raised:
        _gateway(slack, timeout=0.3).identify(SecretStr(BOT_TOKEN))
    assert raised.value.code == "SLACK_TIMEOUT"


def test_rate_limit_is_surfaced_with_retry_after_and_never_slept_on(connected, workspace, slack):
    slack.inject_fault("conversations.info", "ratelimited", retry_after=42)
    with pytest.raises(ServiceError) as raised:
        _gateway(slack).channel_info(connected.id, workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_RATE_LIMITED" and raised.value.retry_after == 42
    assert len(slack.calls("conversations.info")) == 1


def test_rate_limited_in_an_ok_false_body_is_classified_too(connected, workspace, slack):
    slack.inject_fault("chat.postMessage", "error", error="rate_limited")
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack), connected.id, workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_RATE_LIMITED" and raised.value.retry_after is None


def test_an_html_error_page_is_a_transient_slack_outage(connected, workspace, slack):
    slack.inject_fault("chat.postMessage", "server_error", status=502)
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack), connected.id, workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_UNAVAILABLE" and raised.value.slack_error == "http_502"


def test_an_archived_channel_is_permanent_and_needs_a_new_channel(connected, workspace, slack):
    slack.archive_channel(workspace.channels["general"]["id"])
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack), connected.id, workspace.channels["general"]["id"])
    assert raised.value.code == "CHANNEL_ARCHIVED"
    assert raised.value.needs_new_channel and not raised.value.retryable
