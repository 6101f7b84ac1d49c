"""Add to Slack, end to end: POST /integration/install, Slack's consent screen (the emulator's,
over HTTP), GET /slack/oauth/callback, and DELETE /integration, through the real handler with
real-shaped API Gateway v2 events, moto and the emulator."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slack_integration.models.installation import PRODUCT_SCOPES
from tests.conftest import (
    BOT_TOKEN,
    OTHER_TEAM_ID,
    OTHER_USER,
    SECRET_PREFIX,
    TEAM_ID,
    TEAM_NAME,
    USER_ID,
)
from tests.support.slack_app import (
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    RETURN_URL,
    consent,
    public_event,
    quiet_client,
)

pytestmark = pytest.mark.usefixtures("slack_app")


def start(invoke: Any, user_id: str = USER_ID) -> str:
    answer = invoke("installation", "POST", "/integration/install", user_id=user_id)
    assert answer.status == 200, answer.body
    return str(answer.body["url"])


def callback(invoke: Any, query: dict[str, str]) -> str:
    answer = invoke(
        "installation", "GET", "/slack/oauth/callback", event=public_event("GET", "/slack/oauth/callback", query=query)
    )
    assert answer.status == 302, answer
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    return answer.headers["location"]


def outcome(location: str) -> dict[str, str]:
    """The dashboard URL's query; asserts the browser goes nowhere but the dashboard."""
    assert location.split("?", 1)[0] == RETURN_URL, location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def integration_item(aws: Any, user_id: str = USER_ID) -> dict[str, Any] | None:
    item = aws["dynamodb"].get_item(TableName=aws["tables"]["IntegrationsTable"], Key={"userId": {"S": user_id}})
    return item.get("Item")


def secret_names(aws: Any) -> list[str]:
    listed = aws["secretsmanager"].list_secrets()["SecretList"]
    return sorted(s["Name"] for s in listed if s["Name"].startswith(SECRET_PREFIX))


def stored_token(aws: Any, integration_id: str) -> dict[str, Any]:
    value = aws["secretsmanager"].get_secret_value(SecretId=SECRET_PREFIX + integration_id)["SecretString"]
    return dict(json.loads(value))


def token_works(slack: Any, token: str) -> bool:
    try:
        WebClient(base_url=slack.base_url, retry_handlers=[]).auth_test(token=token)
    except SlackApiError:
        return False
    return True


def test_add_to_slack_connects_the_callers_workspace(aws, slack, workspace, invoke):
    url = start(invoke)

    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert url.startswith(slack.authorize_url + "?")
    assert query["client_id"] == CLIENT_ID
    assert query["scope"].split(",") == list(PRODUCT_SCOPES)
    assert query["redirect_uri"] == REDIRECT_URI
    assert len(query["state"]) >= 40

    landed = outcome(callback(invoke, consent(url, TEAM_ID)))

    assert landed == {"slack": "connected"}
    item = integration_item(aws)
    assert item is not None
    assert item["teamId"]["S"] == TEAM_ID and item["teamName"]["S"] == TEAM_NAME
    assert item["botUserId"]["S"] == "U0BUSTERBOT" and item["isActive"]["BOOL"] is True
    token = stored_token(aws, item["id"]["S"])
    assert token["teamId"] == TEAM_ID and "refreshToken" not in token  # this app does not rotate
    assert token_works(slack, token["botToken"])
    # The dashboard can go on at once: the channel list comes through the new token.
    channels = invoke("list_channels", "GET", "/integration/channels")
    assert channels.status == 200 and any(c["name"] == "general" for c in channels.body["channels"])
    # Only the state's hash was stored, and it is spent.
    states = aws["dynamodb"].scan(TableName=aws["tables"]["LifecycleTable"])["Items"]
    assert [s["id"]["S"][:6] for s in states] == ["state#"]
    assert query["state"] not in json.dumps(states) and "usedAt" in states[0]


def test_a_state_is_good_for_one_callback_only(aws, slack, workspace, invoke):
    answer = consent(start(invoke), TEAM_ID)
    assert outcome(callback(invoke, answer)) == {"slack": "connected"}
    before = integration_item(aws)

    replayed = outcome(callback(invoke, answer))

    assert replayed == {"slack": "error", "code": "INSTALL_STATE_USED"}
    assert integration_item(aws) == before


@pytest.mark.parametrize(
    "query",
    [
        {"code": "123.456", "state": "forged-state-never-issued-by-buster"},
        {"code": "123.456"},
        {"code": "123.456", "state": "x" * 500},
        {},
    ],
    ids=["forged", "missing", "oversized", "empty"],
)
def test_a_forged_or_missing_state_stores_nothing(aws, slack, workspace, invoke, query):
    start(invoke)  # a real state exists, for someone else's attempt

    assert outcome(callback(invoke, query)) == {"slack": "error", "code": "INSTALL_STATE_INVALID"}
    assert integration_item(aws) is None and secret_names(aws) == []
    assert "oauth.v2.access" not in [call["method"] for call in slack.calls()]


def test_an_expired_state_is_refused(aws, slack, workspace, invoke, monkeypatch):
    import slack_integration.adapters.lifecycle_store as lifecycle_store

    answer = consent(start(invoke), TEAM_ID)
    later = lifecycle_store.time.time() + lifecycle_store.STATE_TTL_SECONDS + 1
    monkeypatch.setattr(lifecycle_store.time, "time", lambda: later)

    assert outcome(callback(invoke, answer)) == {"slack": "error", "code": "INSTALL_STATE_EXPIRED"}
    assert integration_item(aws) is None and secret_names(aws) == []


def test_a_cancelled_consent_stores_nothing_and_spends_the_state(aws, slack, workspace, invoke):
    answer = consent(start(invoke), TEAM_ID, decision="deny")
    assert answer["error"] == "access_denied" and "code" not in answer

    assert outcome(callback(invoke, answer)) == {"slack": "error", "code": "INSTALL_DENIED"}
    assert integration_item(aws) is None and secret_names(aws) == []
    assert outcome(callback(invoke, answer))["code"] == "INSTALL_STATE_USED"


def test_a_code_slack_refuses_stores_nothing(aws, slack, workspace, invoke):
    answer = consent(start(invoke), TEAM_ID)
    # The code was already exchanged (e.g. the callback page reloaded by another tab).
    quiet_client(slack).oauth_v2_access(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=answer["code"], redirect_uri=REDIRECT_URI
    )

    assert outcome(callback(invoke, answer)) == {"slack": "error", "code": "INSTALL_EXCHANGE_FAILED"}
    assert integration_item(aws) is None and secret_names(aws) == []


def test_a_callback_url_slack_does_not_know_is_a_failed_exchange(aws, slack, workspace, invoke, monkeypatch):
    answer = consent(start(invoke), TEAM_ID)
    monkeypatch.setenv("SLACK_OAUTH_REDIRECT_URL", "https://elsewhere.example.com/slack/oauth/callback")
    from slack_integration import dependencies

    dependencies.reset()

    assert outcome(callback(invoke, answer))["code"] == "INSTALL_EXCHANGE_FAILED"
    [exchange] = [call for call in slack.calls() if call["method"] == "oauth.v2.access"]
    assert exchange["status"] == 200 and integration_item(aws) is None


def test_an_install_short_of_the_scopes_posting_needs_is_refused_and_its_token_revoked(aws, slack, workspace, invoke):
    slack.set_granted_scopes(CLIENT_ID, ["channels:read", "channels:history"])  # no chat:write

    assert outcome(callback(invoke, consent(start(invoke), TEAM_ID))) == {
        "slack": "error",
        "code": "INSTALL_SCOPES_MISSING",
    }
    assert integration_item(aws) is None and secret_names(aws) == []
    methods = [call["method"] for call in slack.calls()]
    assert methods[-2:] == ["oauth.v2.access", "auth.revoke"]


def test_an_install_without_optional_scopes_connects_degraded(aws, slack, workspace, invoke):
    slack.set_granted_scopes(CLIENT_ID, ["channels:read", "chat:write"])

    assert outcome(callback(invoke, consent(start(invoke), TEAM_ID))) == {"slack": "connected"}
    chosen = invoke(
        "set_channel", "PUT", "/integration/channel", body={"channelId": workspace.channels["general"]["id"]}
    )
    assert chosen.status == 200
    status = invoke("status", "GET", "/integration/status").body
    assert status["canSend"] is True and status["healthStatus"] == "degraded"
    assert "channels:history" in status["missingScopes"]


def test_an_org_wide_enterprise_grid_install_is_refused(aws, slack, workspace, invoke):
    state = parse_qs(urlsplit(start(invoke)).query)["state"][0]
    code = slack.issue_oauth_code(CLIENT_ID, TEAM_ID, redirect_uri=REDIRECT_URI, enterprise_install=True)

    landed = outcome(callback(invoke, {"code": code, "state": state}))

    assert landed == {"slack": "error", "code": "ENTERPRISE_INSTALL_UNSUPPORTED"}
    assert integration_item(aws) is None and secret_names(aws) == []
    assert [call["method"] for call in slack.calls()][-1] == "auth.revoke"


def test_a_reconnect_to_the_same_workspace_keeps_the_id_and_the_channel(aws, slack, notification_channel, invoke):
    before = integration_item(aws)
    assert before is not None

    assert outcome(callback(invoke, consent(start(invoke), TEAM_ID))) == {"slack": "connected"}

    after = integration_item(aws)
    assert after is not None and after["id"] == before["id"]
    assert after["notificationChannelId"] == before["notificationChannelId"]
    token = stored_token(aws, after["id"]["S"])["botToken"]
    assert token != BOT_TOKEN and token_works(slack, token)


def test_a_reconnect_to_another_workspace_keeps_the_id_drops_the_channel_and_revokes_the_old_token(
    aws, slack, notification_channel, other_workspace, invoke
):
    before = integration_item(aws)
    assert before is not None

    assert outcome(callback(invoke, consent(start(invoke), OTHER_TEAM_ID))) == {"slack": "connected"}

    after = integration_item(aws)
    assert after is not None and after["id"] == before["id"]
    assert after["teamId"]["S"] == OTHER_TEAM_ID and "notificationChannelId" not in after
    assert not token_works(slack, BOT_TOKEN)  # nobody holds it any more: revoked


def test_each_install_lands_with_the_user_who_started_it(aws, slack, workspace, other_workspace, invoke):
    first, second = start(invoke, USER_ID), start(invoke, OTHER_USER)
    # The second user's browser comes back first, with the other workspace.
    assert outcome(callback(invoke, consent(second, OTHER_TEAM_ID))) == {"slack": "connected"}
    assert outcome(callback(invoke, consent(first, TEAM_ID))) == {"slack": "connected"}

    mine, theirs = integration_item(aws, USER_ID), integration_item(aws, OTHER_USER)
    assert mine is not None and mine["teamId"]["S"] == TEAM_ID
    assert theirs is not None and theirs["teamId"]["S"] == OTHER_TEAM_ID


def test_the_callback_never_redirects_anywhere_but_the_dashboard(aws, slack, workspace, invoke, monkeypatch):
    hostile = {"state": "x", "redirect_uri": "https://evil.example.com/", "return_to": "//evil.example.com"}
    assert outcome(callback(invoke, hostile))["code"] == "INSTALL_STATE_INVALID"
    # Storage down: still a redirect to the dashboard with a code, never a 500 page.
    answer = consent(start(invoke), TEAM_ID)
    monkeypatch.setenv("LIFECYCLE_TABLE", "no-such-table")
    from slack_integration import dependencies

    dependencies.reset()
    assert outcome(callback(invoke, answer)) == {"slack": "error", "code": "AWS_UNAVAILABLE"}


def test_starting_an_install_needs_a_signed_in_user_and_a_configured_app(aws, slack, invoke):
    assert invoke("installation", "POST", "/integration/install", user_id=None).status == 401
    aws["secretsmanager"].delete_secret(SecretId="buster/slack/app", ForceDeleteWithoutRecovery=True)
    from slack_integration import dependencies

    dependencies.reset()
    answer = invoke("installation", "POST", "/integration/install")
    assert answer.status == 502 and answer.body["code"] == "SLACK_APP_NOT_CONFIGURED"
    assert "Contact Buster support" in answer.body["error"]


def test_no_code_or_state_reaches_a_log(aws, slack, workspace, invoke, capsys, caplog):
    url = start(invoke)
    answer = consent(url, TEAM_ID)
    callback(invoke, answer)

    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert answer["code"] not in logged and answer["state"] not in logged


# -- disconnect ---------------------------------------------------------------------------------


def test_disconnect_revokes_deletes_and_deactivates_but_keeps_the_history(
    aws, slack, notification_channel, producer, consumer, invoke
):
    producer.send(USER_ID, {"text": "Deploy #9 started"}, internal_message_id="deploy-9")
    consumer("send").drain()
    assert invoke("status", "GET", "/integration/status").body["canSend"] is True  # cached now

    answer = invoke("installation", "DELETE", "/integration")

    assert answer.status == 200 and answer.body == {"success": True}
    assert not token_works(slack, BOT_TOKEN)
    assert secret_names(aws) == []
    item = integration_item(aws)
    assert item is not None and item["isActive"]["BOOL"] is False
    status = invoke("status", "GET", "/integration/status").body
    assert status["canSend"] is False and status["integrationActive"] is False
    assert status["healthStatus"] == "needs_reconnect"
    mappings = aws["dynamodb"].scan(TableName=aws["tables"]["MessageMappingsTable"])["Items"]
    deliveries = aws["dynamodb"].scan(TableName=aws["tables"]["DeliveriesTable"])["Items"]
    assert [m["internalMessageId"]["S"] for m in mappings] == ["deploy-9"] and len(deliveries) == 1
    thread = invoke("thread", "GET", "/messages/deploy-9/thread")
    assert thread.status == 200 and thread.body["original"]["ts"]


def test_disconnect_twice_is_fine_and_without_an_integration_is_404(aws, slack, notification_channel, invoke):
    assert invoke("installation", "DELETE", "/integration").status == 200
    assert invoke("installation", "DELETE", "/integration").body == {"success": True}
    missing = invoke("installation", "DELETE", "/integration", user_id=OTHER_USER)
    assert missing.status == 404 and missing.body["code"] == "INTEGRATION_NOT_FOUND"
    assert invoke("installation", "DELETE", "/integration", user_id=None).status == 401


def test_disconnect_while_slack_is_unreachable_changes_nothing(aws, slack, notification_channel, invoke):
    slack.inject_fault("auth.revoke", "server_error", times=5)

    answer = invoke("installation", "DELETE", "/integration")

    assert answer.status == 503 and answer.body["code"] == "SLACK_UNAVAILABLE"
    assert token_works(slack, BOT_TOKEN) and len(secret_names(aws)) == 1
    item = integration_item(aws)
    assert item is not None and item["isActive"]["BOOL"] is True
