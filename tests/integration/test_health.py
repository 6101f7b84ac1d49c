"""The health sweep (EventBridge -> health function) and GET /integration/status, against the
emulator: what each integration's record says after a check, and what the dashboard is told."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.models.api import ChannelSelection
from tests.conftest import BOT_TOKEN, TEAM_ID, TEAM_NAME, USER_ID
from tests.support.events import LambdaContext, sample
from tests.support.functions import load_function
from tests.support.records import get_integration_item


def sweep(remaining_ms: int = 300_000) -> dict:
    return load_function("health").lambda_handler(
        sample("health.json"), LambdaContext("health", remaining_ms=remaining_ms)
    )


def connect_user(slack, user_id: str, *, channel: str | None = "alerts", **channel_options) -> dict:
    """Another user with a workspace of their own (a token each), through the real install path."""
    n = user_id.split("-")[-1].rjust(4, "0")
    team, token = f"T0TEAM{n}", f"xoxb-test-team-{n}-cccccccccccc"
    slack.add_workspace(team, f"Team {n}", bot_user_id=f"U0BOT{n}", bot_id=f"B0BOT{n}")
    slack.add_token(
        token,
        team,
        scopes=channel_options.pop("scopes", None)
        or ("channels:read", "chat:write", "chat:write.public", "channels:history", "channels:join"),
    )
    created = slack.add_channel(team, channel, **channel_options) if channel else None
    dependencies.current().installation.connect(user_id, team, f"Team {n}", SecretStr(token))
    if created:
        dependencies.current().channels.set_notification_channel(
            user_id, ChannelSelection.model_validate({"channelId": created["id"]})
        )
    return {"team": team, "token": token, "channel": created}


def test_a_sweep_records_each_integrations_health(aws, slack, notification_channel, capsys):
    before = get_integration_item(aws)["healthCheckedAt"]
    revoked = connect_user(slack, "user-2")
    slack.set_token_status(revoked["token"], "revoked")
    archived = connect_user(slack, "user-3")
    slack.archive_channel(archived["channel"]["id"])
    deleted = connect_user(slack, "user-4")
    slack.delete_channel(deleted["channel"]["id"])
    connect_user(slack, "user-5", channel=None)
    not_member = connect_user(slack, "user-6", scopes=("channels:read", "chat:write"))
    assert not_member["channel"]["is_member"] is False

    summary = sweep()

    expected = {
        USER_ID: ("healthy", None),
        "user-2": ("needs_reconnect", "SLACK_TOKEN_REVOKED"),
        "user-3": ("needs_new_channel", "CHANNEL_ARCHIVED"),
        "user-4": ("needs_new_channel", "CHANNEL_NOT_FOUND"),
        "user-5": ("needs_new_channel", "CHANNEL_NOT_SET"),
        "user-6": ("needs_new_channel", "NOT_IN_CHANNEL"),
    }
    for user, (status, code) in expected.items():
        item = get_integration_item(aws, user)
        assert (item["healthStatus"], item.get("lastErrorCode")) == (status, code), user
    assert get_integration_item(aws)["healthCheckedAt"] > before
    assert summary["checked"] == 6 and summary["healthy"] == 1 and summary["unhealthy"] == 5
    assert summary["complete"] is True
    output = capsys.readouterr().out
    assert '"HealthyIntegrations":[1.0]' in output and '"UnhealthyIntegrations":[5.0]' in output


def test_a_healthy_check_clears_an_old_error(aws, slack, notification_channel):
    slack.set_token_status(BOT_TOKEN, "revoked")
    sweep()
    assert get_integration_item(aws)["healthStatus"] == "needs_reconnect"
    slack.set_token_status(BOT_TOKEN, "active")

    sweep()

    item = get_integration_item(aws)
    assert item["healthStatus"] == "healthy" and "lastErrorCode" not in item


def test_slack_unavailable_marks_unreachable_after_one_quick_retry(aws, slack, notification_channel):
    slack.inject_fault("auth.test", "server_error", times=2)
    before = len(slack.calls("auth.test"))

    sweep()

    item = get_integration_item(aws)
    assert (item["healthStatus"], item["lastErrorCode"]) == ("unreachable", "SLACK_UNAVAILABLE")
    assert len(slack.calls("auth.test")) - before == 2


def test_a_throttled_check_changes_nothing_and_goes_first_next_time(aws, slack, notification_channel, monkeypatch):
    monkeypatch.setenv("HEALTH_CONCURRENCY", "1")  # so "the first check" is well defined
    dependencies.reset()
    connect_user(slack, "user-2")
    # user-2 chose its channel last, so USER_ID is the stalest: the first check, which Slack throttles.
    slack.inject_fault("auth.test", "ratelimited", retry_after=30)
    stale_before = get_integration_item(aws)

    summary = sweep()

    assert summary["throttled"] == 1 and summary["checked"] == 1
    stale = get_integration_item(aws)
    # Nothing learned, nothing recorded: still the stalest.
    assert stale["healthCheckedAt"] == stale_before["healthCheckedAt"]
    assert stale["healthCheckedAt"] < get_integration_item(aws, "user-2")["healthCheckedAt"]
    calls_before = len(slack.calls("auth.test"))
    sweep()
    first_checked = slack.calls("auth.test")[calls_before]
    assert first_checked["team_id"] == TEAM_ID
    assert get_integration_item(aws)["healthCheckedAt"] > stale["healthCheckedAt"]


def test_a_sweep_that_runs_out_of_time_is_continued_by_the_next(aws, slack, monkeypatch):
    for n in range(2, 8):
        connect_user(slack, f"user-{n}")
    monkeypatch.setenv("HEALTH_PAGE_SIZE", "2")
    monkeypatch.setenv("HEALTH_CONCURRENCY", "1")
    dependencies.reset()
    slack.inject_fault("auth.test", "slow", delay=0.3, times=100)
    connects = len(slack.calls("auth.test"))

    # 30.5 s left and a 30 s guard: the first page fits, the second does not start.
    first = sweep(remaining_ms=30_500)

    assert first["complete"] is False
    assert first["checked"] == 2
    checked_first = {c["team_id"] for c in slack.calls("auth.test")[connects:]}
    assert len(checked_first) == 2
    second = sweep()
    assert second["complete"] is True
    checked_second = [c["team_id"] for c in slack.calls("auth.test")][connects + 2 :]
    # The next run starts with the ones the first did not reach (stalest first).
    assert not set(checked_second[:4]) & checked_first
    assert {get_integration_item(aws, f"user-{n}")["healthStatus"] for n in range(2, 8)} == {"healthy"}


def test_a_disconnected_integration_is_not_swept(aws, slack, notification_channel):
    dependencies.current().installation.disconnect(USER_ID)
    before = len(slack.calls())

    summary = sweep()

    assert summary["checked"] == 0
    assert len(slack.calls()) == before
    assert get_integration_item(aws)["healthStatus"] == "needs_reconnect"


def test_a_large_fleet_is_swept_concurrently_within_bounds(aws, slack, monkeypatch):
    for n in range(2, 18):
        connect_user(slack, f"user-{n}")
    monkeypatch.setenv("HEALTH_CONCURRENCY", "8")
    dependencies.reset()
    slack.inject_fault("auth.test", "slow", delay=0.5, times=1000)
    connects = len(slack.calls("auth.test"))

    started = time.monotonic()
    summary = sweep()
    took = time.monotonic() - started

    assert summary["checked"] == 16 and summary["healthy"] == 16
    assert took < 16 * 0.5 / 2  # one at a time would take 8 s at the very least; 8 at once about 1 s
    assert len(slack.calls("auth.test")) - connects == 16


# -- GET /integration/status ------------------------------------------------------------------


def test_status_of_a_ready_user(aws, slack, notification_channel, invoke):
    answer = invoke("status", "GET", "/integration/status")

    assert answer.status == 200
    assert answer.body["canSend"] is True
    assert answer.body["channelConfigured"] is True and answer.body["integrationActive"] is True
    assert answer.body["error"] is None and answer.body["healthStatus"] == "healthy"
    assert (answer.body["teamId"], answer.body["teamName"]) == (TEAM_ID, TEAM_NAME)
    assert get_integration_item(aws)["healthStatus"] == "healthy"


def test_status_without_an_integration_says_so_with_200(aws, slack, invoke):
    answer = invoke("status", "GET", "/integration/status")

    assert answer.status == 200
    assert answer.body["canSend"] is False and answer.body["integrationActive"] is False
    assert answer.body["code"] == "INTEGRATION_NOT_FOUND"
    assert "Connect Slack" in answer.body["error"]
    assert answer.body["teamId"] is None and answer.body["teamName"] is None


def test_status_without_a_channel(aws, slack, connected, invoke):
    answer = invoke("status", "GET", "/integration/status")

    assert answer.body["canSend"] is False and answer.body["channelConfigured"] is False
    assert answer.body["code"] == "CHANNEL_NOT_SET"


def test_status_with_a_revoked_token_flags_the_integration(aws, slack, notification_channel, invoke):
    slack.set_token_status(BOT_TOKEN, "revoked")

    answer = invoke("status", "GET", "/integration/status")

    assert answer.body["canSend"] is False and answer.body["integrationActive"] is True
    assert answer.body["code"] == "SLACK_TOKEN_REVOKED"
    assert "Reconnect" in answer.body["error"]
    assert get_integration_item(aws)["healthStatus"] == "needs_reconnect"


def test_status_is_cached_briefly(aws, slack, notification_channel, invoke):
    invoke("status", "GET", "/integration/status")
    calls = len(slack.calls())

    again = invoke("status", "GET", "/integration/status")

    assert again.body["canSend"] is True
    assert len(slack.calls()) == calls


def test_status_while_slack_throttles_answers_from_the_last_check(aws, slack, notification_channel, invoke):
    slack.inject_fault("auth.test", "ratelimited")

    answer = invoke("status", "GET", "/integration/status")

    assert answer.status == 200
    assert answer.body["canSend"] is True  # set_channel recorded it healthy a moment ago
    assert answer.body["healthStatus"] == "healthy"


def test_status_needs_an_identity(aws, invoke):
    assert invoke("status", "GET", "/integration/status", user_id=None).status == 401


def test_the_status_sample_event(aws, slack, invoke):
    answer = invoke("status", "", "", event=sample("status.json"))

    assert answer.status == 200 and answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_the_admin_health_command(aws, slack, notification_channel):
    import io
    import json

    from slack_integration import admin

    out = io.StringIO()
    assert admin.main(["health", "--user-id", USER_ID], out=out) == 0
    assert json.loads(out.getvalue())["status"] == "healthy"
    out = io.StringIO()
    assert admin.main(["health"], out=out) == 0
    assert json.loads(out.getvalue())["checked"] == 1


@pytest.mark.parametrize("team_name", [TEAM_NAME])
def test_connect_makes_an_integration_sweepable(aws, slack, workspace, team_name):
    dependencies.current().installation.connect(USER_ID, TEAM_ID, team_name, SecretStr(BOT_TOKEN))

    item = get_integration_item(aws)

    assert item["sweep"] == "active" and item["healthCheckedAt"]
    dependencies.current().installation.disconnect(USER_ID)
    assert "sweep" not in get_integration_item(aws)
