"""Bot tokens: Secrets Manager behind a TTL cache, refreshed when Slack rejects a cached token."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.adapters import aws as aws_clients
from tests.conftest import BOT_TOKEN, SECRET_PREFIX, TEAM_ID, TEAM_NAME, USER_ID

ROUTE = ("list_channels", "GET", "/integration/channels")


@pytest.fixture
def secret_reads(connected):
    """Counts GetSecretValue calls made by the service's own Secrets Manager client."""
    count = {"n": 0}

    def _count(**_):
        count["n"] += 1

    aws_clients.client("secretsmanager").meta.events.register("before-call.secretsmanager.GetSecretValue", _count)
    return count


def test_token_is_stored_under_the_prefix_as_json(connected, aws):
    secret = aws["secretsmanager"].get_secret_value(SecretId=f"{SECRET_PREFIX}{connected.id}")
    assert json.loads(secret["SecretString"]) == {"botToken": BOT_TOKEN, "teamId": TEAM_ID, "botUserId": "U0BUSTERBOT"}


def test_warm_requests_read_the_secret_once(invoke, secret_reads):
    for _ in range(5):
        assert invoke(*ROUTE).status == 200
    assert secret_reads["n"] == 1


def test_cache_expires_after_its_ttl(invoke, connected, monkeypatch):
    monkeypatch.setenv("TOKEN_CACHE_SECONDS", "0")
    dependencies.reset()
    count = {"n": 0}
    aws_clients.client("secretsmanager").meta.events.register(
        "before-call.secretsmanager.GetSecretValue", lambda **_: count.__setitem__("n", count["n"] + 1)
    )
    invoke(*ROUTE)
    invoke(*ROUTE)
    assert count["n"] == 2


def test_a_reconnect_with_a_new_token_is_picked_up_despite_the_cache(invoke, connected, slack, secret_reads, aws):
    # Given a warm container that cached the old token
    assert invoke(*ROUTE).status == 200
    # When the workspace is reconnected with a new token and the old one is revoked; the
    # reconnect runs elsewhere (another container, the admin command), so our cache is stale
    new_token = "xoxb-test-acme-0002-cccccccccccc"
    slack.add_token(new_token, TEAM_ID)
    aws["secretsmanager"].put_secret_value(
        SecretId=f"{SECRET_PREFIX}{connected.id}", SecretString=json.dumps({"botToken": new_token, "teamId": TEAM_ID})
    )
    slack.set_token_status(BOT_TOKEN, "revoked")
    # Then the next request fails on the cached token, re-reads the secret and succeeds
    answer = invoke(*ROUTE)
    assert answer.status == 200
    statuses = [c["status"] for c in slack.calls("conversations.list")]
    assert len(statuses) == 3
    assert secret_reads["n"] == 2


def test_revoked_token_with_nothing_newer_fails_after_one_refresh(invoke, slack, secret_reads):
    slack.set_token_status(BOT_TOKEN, "revoked")
    answer = invoke(*ROUTE)
    assert answer.body["code"] == "SLACK_TOKEN_REVOKED"
    assert len(slack.calls("conversations.list")) == 1
    assert secret_reads["n"] == 2


def test_missing_secret_says_reconnect(invoke, connected, aws):
    aws["secretsmanager"].delete_secret(SecretId=f"{SECRET_PREFIX}{connected.id}", ForceDeleteWithoutRecovery=True)
    answer = invoke(*ROUTE)
    assert answer.status == 409
    assert answer.body["code"] == "TOKEN_MISSING"


def test_corrupt_secret_says_reconnect(invoke, connected, aws):
    aws["secretsmanager"].put_secret_value(SecretId=f"{SECRET_PREFIX}{connected.id}", SecretString="not json")
    answer = invoke(*ROUTE)
    assert answer.status == 409
    assert answer.body["code"] == "TOKEN_MISSING"


def test_token_value_is_masked_in_reprs(connected):
    token = dependencies.current().tokens.get(connected.id)
    assert isinstance(token, SecretStr)
    assert BOT_TOKEN not in repr(token) and BOT_TOKEN not in str(token)
    assert token.get_secret_value() == BOT_TOKEN


def test_reconnect_keeps_the_integration_id(connected):
    again = dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(BOT_TOKEN))
    assert again.id == connected.id
