"""The Slack client factory: base URL from the environment, timeouts, and deliberate retries."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.adapters.slack_client import SlackGateway, build_web_client
from slack_integration.errors import ServiceError
from tests.conftest import BOT_TOKEN


def _gateway(slack, *, idempotent_calls: bool, timeout: float = 2.0) -> SlackGateway:
    return SlackGateway(
        dependencies.tokens(),
        lambda: build_web_client(slack.base_url, timeout, idempotent_calls=idempotent_calls),
    )


def _post(gateway: SlackGateway, channel_id: str) -> str:
    answer = gateway.call_with_token(
        SecretStr(BOT_TOKEN), lambda client, token: client.chat_postMessage(token=token, channel=channel_id, text="hi")
    )
    return str(answer["ts"])


def test_the_service_client_talks_to_slack_api_url(workspace, slack):
    client = dependencies.slack_reads().client
    assert client.base_url == slack.base_url
    assert client.token is None  # one client for every workspace; the token travels per call


def test_a_posting_client_never_resends_after_a_dropped_connection(workspace, slack):
    # Given Slack stores the message and then the connection drops before the answer
    channel = workspace.channels["general"]
    slack.inject_fault("chat.postMessage", "drop_after")
    # When the non-idempotent client posts
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack, idempotent_calls=False), channel["id"])
    # Then the failure is reported as transient and the message exists exactly once
    assert raised.value.code == "SLACK_UNREACHABLE" and raised.value.retryable
    assert len(slack.calls("chat.postMessage")) == 1
    assert [m["text"] for m in slack.messages(channel["id"])] == ["hi"]


def test_a_read_client_retries_a_dropped_connection_once(workspace, slack):
    slack.inject_fault("auth.test", "drop_before")
    gateway = _gateway(slack, idempotent_calls=True)
    answer = gateway.call_with_token(SecretStr(BOT_TOKEN), lambda client, token: client.auth_test(token=token))
    assert answer["team_id"] == workspace.team_id
    assert len(slack.calls("auth.test")) == 2


def test_the_timeout_bounds_a_slow_answer(workspace, slack):
    slack.inject_fault("auth.test", "slow", delay=1.0)
    gateway = _gateway(slack, idempotent_calls=False, timeout=0.3)
    with pytest.raises(ServiceError) as raised:
        gateway.call_with_token(SecretStr(BOT_TOKEN), lambda client, token: client.auth_test(token=token))
    assert raised.value.code == "SLACK_TIMEOUT"


def test_rate_limit_is_surfaced_with_retry_after_and_never_slept_on(workspace, slack):
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=42)
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack, idempotent_calls=True), workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_RATE_LIMITED" and raised.value.retry_after == 42
    assert len(slack.calls("chat.postMessage")) == 1


def test_rate_limited_in_an_ok_false_body_is_classified_too(workspace, slack):
    slack.inject_fault("chat.postMessage", "error", error="rate_limited")
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack, idempotent_calls=False), workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_RATE_LIMITED" and raised.value.retry_after is None


def test_an_html_error_page_is_a_transient_slack_outage(workspace, slack):
    slack.inject_fault("chat.postMessage", "server_error", status=502)
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack, idempotent_calls=False), workspace.channels["general"]["id"])
    assert raised.value.code == "SLACK_UNAVAILABLE" and raised.value.slack_error == "http_502"


def test_an_archived_channel_is_permanent_and_needs_a_new_channel(workspace, slack):
    slack.archive_channel(workspace.channels["general"]["id"])
    with pytest.raises(ServiceError) as raised:
        _post(_gateway(slack, idempotent_calls=False), workspace.channels["general"]["id"])
    assert raised.value.code == "CHANNEL_ARCHIVED"
    assert raised.value.needs_new_channel and not raised.value.retryable
