"""GET /integration/channels through the list_channels handler, moto and the Slack emulator."""

from __future__ import annotations

from tests.conftest import BOT_TOKEN, TEAM_ID, USER_ID
from tests.support.records import get_integration_item

ROUTE = ("list_channels", "GET", "/integration/channels")


def test_lists_public_unarchived_channels_sorted_by_name(connected, invoke, workspace):
    # Given a connected user whose workspace has public, archived and private channels
    # When the dashboard asks for the channel list
    answer = invoke(*ROUTE)
    # Then only public, non-archived channels come back, sorted by name, in the documented shape
    assert answer.status == 200
    names = [c["name"] for c in answer.body["channels"]]
    assert names == ["alerts", "beta", "general", "zeta-team"]
    general = next(c for c in answer.body["channels"] if c["name"] == "general")
    assert general == {
        "id": workspace.channels["general"]["id"],
        "name": "general",
        "purpose": "Company-wide",
        "memberCount": 42,
        "isMember": True,
    }
    zeta = next(c for c in answer.body["channels"] if c["name"] == "zeta-team")
    assert zeta["purpose"] is None and zeta["isMember"] is False


def test_asks_slack_for_public_unarchived_pages_of_200(connected, invoke, slack):
    invoke(*ROUTE)
    calls = slack.calls("conversations.list")
    assert len(calls) == 1
    params = calls[0]["params"]
    assert params["types"] == "public_channel"
    assert params["exclude_archived"] in ("1", "true")
    assert params["limit"] == "200"
    assert calls[0]["authorization"] == "bearer"


def test_reads_every_page_including_empty_ones(connected, invoke, slack):
    # Given 450 more channels where whole page windows are archived or private, so Slack's
    # cut-then-filter pagination returns short and empty pages before the last one
    for i in range(450):
        hidden = 200 <= i < 400
        slack.add_channel(TEAM_ID, f"chan-{i:03d}", is_archived=hidden and i % 2 == 0, is_private=hidden and i % 2 == 1)
    # When the list is requested
    answer = invoke(*ROUTE)
    # Then every page was read (one window of 200 was entirely filtered out) and nothing is missing
    assert answer.status == 200
    pages = slack.calls("conversations.list")
    assert len(pages) == 3
    assert pages[1]["params"].get("cursor") and pages[2]["params"].get("cursor")
    names = [c["name"] for c in answer.body["channels"]]
    expected = sorted(
        [f"chan-{i:03d}" for i in range(450) if not 200 <= i < 400] + ["alerts", "beta", "general", "zeta-team"]
    )
    assert names == expected
    assert len(set(c["id"] for c in answer.body["channels"])) == len(names)


def test_rate_limit_on_a_later_page_is_a_503_with_retry_after_not_a_partial_list(connected, invoke, slack):
    for i in range(300):
        slack.add_channel(TEAM_ID, f"bulk-{i:03d}")
    slack.inject_fault("conversations.list", "ratelimited", after=1, retry_after=27)
    answer = invoke(*ROUTE)
    assert answer.status == 503
    assert answer.body["code"] == "SLACK_RATE_LIMITED"
    assert answer.headers["retry-after"] == "27"
    assert "channels" not in answer.body
    # No in-process sleep-and-retry: the throttled page was asked for exactly once.
    assert [c["status"] for c in slack.calls("conversations.list")] == [200, 429]


def test_slack_server_error_is_retried_once_then_reported_as_503(connected, invoke, slack):
    slack.inject_fault("conversations.list", "server_error", status=503, times=2)
    answer = invoke(*ROUTE)
    assert answer.status == 503
    assert answer.body["code"] == "SLACK_UNAVAILABLE"
    assert len(slack.calls("conversations.list")) == 2


def test_one_transient_server_error_is_absorbed_by_the_read_retry(connected, invoke, slack):
    slack.inject_fault("conversations.list", "server_error", status=500, times=1)
    answer = invoke(*ROUTE)
    assert answer.status == 200
    assert len(answer.body["channels"]) == 4


def test_dropped_connection_is_retried_once_for_reads(connected, invoke, slack):
    slack.inject_fault("conversations.list", "drop_before", times=1)
    answer = invoke(*ROUTE)
    assert answer.status == 200
    assert len(slack.calls("conversations.list")) == 2


def test_connection_dropped_twice_is_a_503_slack_unreachable(connected, invoke, slack):
    slack.inject_fault("conversations.list", "drop_before", times=2)
    answer = invoke(*ROUTE)
    assert answer.status == 503
    assert answer.body["code"] == "SLACK_UNREACHABLE"


def test_slow_slack_times_out_as_503(connected, invoke, slack, monkeypatch):
    from slack_integration import dependencies

    monkeypatch.setenv("SLACK_TIMEOUT_SECONDS", "0.3")
    dependencies.reset()
    slack.inject_fault("conversations.list", "slow", delay=1.0)
    answer = invoke(*ROUTE)
    assert answer.status == 503
    assert answer.body["code"] == "SLACK_TIMEOUT"


def test_unrecognised_slack_error_is_a_502(connected, invoke, slack):
    slack.inject_fault("conversations.list", "error", error="invalid_cursor")
    answer = invoke(*ROUTE)
    assert answer.status == 502
    assert answer.body["code"] == "SLACK_REQUEST_REJECTED"


def test_revoked_token_says_reconnect_and_flags_the_integration(connected, invoke, slack, aws):
    slack.set_token_status(BOT_TOKEN, "revoked")
    answer = invoke(*ROUTE)
    assert answer.status == 409
    assert answer.body["code"] == "SLACK_TOKEN_REVOKED"
    assert "Reconnect Slack" in answer.body["error"]
    item = get_integration_item(aws)
    assert item["healthStatus"] == "needs_reconnect"
    assert item["lastErrorCode"] == "SLACK_TOKEN_REVOKED"


def test_inactive_account_says_reconnect(connected, invoke, slack):
    slack.set_token_status(BOT_TOKEN, "inactive")
    answer = invoke(*ROUTE)
    assert answer.status == 409
    assert answer.body["code"] == "SLACK_ACCOUNT_INACTIVE"


def test_missing_scope_says_reconnect(aws, slack, invoke):
    from pydantic import SecretStr

    from slack_integration import dependencies

    slack.add_workspace(TEAM_ID, "Acme", domain="acme", bot_user_id="U0BOT", bot_id="B0BOT")
    slack.add_token(BOT_TOKEN, TEAM_ID, scopes=("chat:write",))
    dependencies.current().installation.connect(USER_ID, TEAM_ID, "Acme", SecretStr(BOT_TOKEN))
    answer = invoke(*ROUTE)
    assert answer.status == 409
    assert answer.body["code"] == "SLACK_MISSING_SCOPE"


def test_no_integration_is_404(aws, invoke, workspace):
    answer = invoke(*ROUTE)
    assert answer.status == 404
    assert answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_no_identity_is_401(aws, invoke, workspace, connected):
    answer = invoke(*ROUTE, user_id=None)
    assert answer.status == 401
    assert answer.body == {
        "error": "Sign in again: the request carries no verified user identity.",
        "code": "UNAUTHENTICATED",
    }


def test_users_only_see_their_own_workspace(connected, invoke, other_workspace, slack):
    from pydantic import SecretStr

    from slack_integration import dependencies

    dependencies.current().installation.connect(
        "user-2", other_workspace.team_id, "Globex", SecretStr(other_workspace.token)
    )
    mine = invoke(*ROUTE)
    theirs = invoke(*ROUTE, user_id="user-2")
    assert [c["name"] for c in theirs.body["channels"]] == ["globex-ops"]
    assert "globex-ops" not in [c["name"] for c in mine.body["channels"]]


def test_unknown_route_is_a_json_404(invoke, aws):
    answer = invoke("list_channels", "GET", "/integration/nope")
    assert answer.status == 404
    assert answer.body["code"] == "ROUTE_NOT_FOUND"
