"""PUT and GET /integration/channel through the set_channel handler."""

from __future__ import annotations

import pytest

from tests.conftest import BOT_TOKEN, TEAM_ID, USER_ID
from tests.support.records import get_integration_item

PUT = ("set_channel", "PUT", "/integration/channel")
GET = ("set_channel", "GET", "/integration/channel")


def _choose(invoke, workspace, aws, key="alerts"):
    channel = workspace.channels[key]
    answer = invoke(*PUT, body={"channelId": channel["id"], "channelName": channel["name"]})
    assert answer.status == 200, answer.body
    return channel


def test_no_channel_chosen_yet_reads_as_null(connected, invoke):
    answer = invoke(*GET)
    assert answer.status == 200
    assert answer.body == {"notificationChannel": None}


def test_setting_a_public_channel_validates_with_slack_and_saves_it(connected, invoke, workspace, slack, aws):
    alerts = workspace.channels["alerts"]
    answer = invoke(*PUT, body={"channelId": alerts["id"], "channelName": "alerts"})
    assert answer.status == 200
    assert answer.body == {"success": True, "message": "Notification channel set to #alerts"}
    # Slack was asked about exactly that channel
    info = slack.calls("conversations.info")
    assert [c["params"]["channel"] for c in info] == [alerts["id"]]
    # DynamoDB holds the choice, and the integration is known healthy
    item = get_integration_item(aws)
    assert item["notificationChannelId"] == alerts["id"]
    assert item["notificationChannelName"] == "alerts"
    assert item["healthStatus"] == "healthy"
    # And GET reads it back
    assert invoke(*GET).body == {"notificationChannel": {"channelId": alerts["id"], "channelName": "alerts"}}


def test_saved_name_is_slacks_not_the_clients(connected, invoke, workspace, aws):
    beta = workspace.channels["beta"]
    answer = invoke(*PUT, body={"channelId": beta["id"], "channelName": "<!channel> totally-legit"})
    assert answer.status == 200
    assert answer.body["message"] == "Notification channel set to #beta"
    assert get_integration_item(aws)["notificationChannelName"] == "beta"


def test_channel_name_may_be_omitted(connected, invoke, workspace):
    answer = invoke(*PUT, body={"channelId": workspace.channels["general"]["id"]})
    assert answer.status == 200
    assert answer.body["message"] == "Notification channel set to #general"


@pytest.mark.parametrize(
    ("key", "code"),
    [("archived", "CHANNEL_ARCHIVED"), ("private", "CHANNEL_PRIVATE")],
)
def test_unusable_channels_are_refused_and_the_saved_choice_stays(connected, invoke, workspace, aws, key, code):
    saved = _choose(invoke, workspace, aws)
    channel = workspace.channels[key]
    answer = invoke(*PUT, body={"channelId": channel["id"], "channelName": channel["name"]})
    assert answer.status == 409
    assert answer.body["code"] == code
    assert answer.body["error"]
    assert get_integration_item(aws)["notificationChannelId"] == saved["id"]


def test_unknown_channel_is_refused(connected, invoke, workspace, aws):
    saved = _choose(invoke, workspace, aws)
    answer = invoke(*PUT, body={"channelId": "C0NOTTHERE1", "channelName": "ghost"})
    assert answer.status == 409
    assert answer.body["code"] == "CHANNEL_NOT_FOUND"
    assert get_integration_item(aws)["notificationChannelId"] == saved["id"]


def test_another_workspaces_channel_is_refused(connected, invoke, workspace, other_workspace, aws):
    saved = _choose(invoke, workspace, aws)
    foreign = other_workspace.channels["globex-ops"]
    answer = invoke(*PUT, body={"channelId": foreign["id"], "channelName": "globex-ops"})
    assert answer.status == 409
    assert answer.body["code"] == "CHANNEL_NOT_FOUND"
    assert get_integration_item(aws)["notificationChannelId"] == saved["id"]


def test_channel_deleted_after_listing_is_refused(connected, invoke, workspace, slack, aws):
    doomed = workspace.channels["zeta"]
    slack.delete_channel(doomed["id"])
    answer = invoke(*PUT, body={"channelId": doomed["id"]})
    assert answer.status == 409
    assert answer.body["code"] == "CHANNEL_NOT_FOUND"
    assert "notificationChannelId" not in get_integration_item(aws)


@pytest.mark.parametrize(
    ("raw_body", "status", "needle"),
    [
        ("{not json", 400, "not valid JSON"),
        ('{"channelName": "alerts"}', 422, "channelId"),
        ('{"channelId": "#alerts"}', 422, "channelId: must be a Slack channel ID such as C0123456789"),
        ('{"channelId": "D0123456789"}', 422, "not a #name or a DM"),
        ('{"channelId": 12345}', 422, "channelId"),
        ('{"channelId": ""}', 422, "channelId"),
        ('["C0123456789"]', 422, "Invalid request"),
        ('"C0123456789"', 422, "Invalid request"),
        ("null", 422, ""),
        ('{"channelId": "C0123456789", "channelName": ' + '"' + "x" * 300 + '"}', 422, "channelName"),
    ],
)
def test_bad_bodies_get_a_4xx_with_a_readable_message(connected, invoke, raw_body, status, needle, slack, aws):
    answer = invoke(*PUT, raw_body=raw_body)
    assert answer.status == status
    assert answer.body["code"] == "INVALID_REQUEST"
    assert needle in answer.body["error"]
    assert "Traceback" not in answer.body["error"]
    assert slack.calls("conversations.info") == []
    assert "notificationChannelId" not in get_integration_item(aws)


def test_missing_body_is_a_422(connected, invoke):
    answer = invoke(*PUT)
    assert answer.status == 422
    assert answer.body["code"] == "INVALID_REQUEST"


def test_no_integration_is_404_for_both_methods(aws, invoke, workspace):
    assert invoke(*GET).body["code"] == "INTEGRATION_NOT_FOUND"
    answer = invoke(*PUT, body={"channelId": workspace.channels["alerts"]["id"]})
    assert answer.status == 404
    assert answer.body["code"] == "INTEGRATION_NOT_FOUND"


def test_no_identity_is_401_for_both_methods(connected, invoke, workspace):
    assert invoke(*GET, user_id=None).status == 401
    answer = invoke(*PUT, user_id=None, body={"channelId": workspace.channels["alerts"]["id"]})
    assert answer.status == 401
    assert answer.body["code"] == "UNAUTHENTICATED"


def test_identity_comes_from_the_authorizer_not_the_body(connected, invoke, workspace, aws):
    # A second user with no integration cannot act on user-1's integration by naming it.
    answer = invoke(*PUT, user_id="intruder", body={"channelId": workspace.channels["alerts"]["id"], "userId": USER_ID})
    assert answer.status == 404
    assert "notificationChannelId" not in get_integration_item(aws)


def test_revoked_token_on_set_says_reconnect_and_keeps_the_choice(connected, invoke, workspace, slack, aws):
    saved = _choose(invoke, workspace, aws)
    slack.set_token_status(BOT_TOKEN, "revoked")
    answer = invoke(*PUT, body={"channelId": workspace.channels["beta"]["id"]})
    assert answer.status == 409
    assert answer.body["code"] == "SLACK_TOKEN_REVOKED"
    item = get_integration_item(aws)
    assert item["notificationChannelId"] == saved["id"]
    assert item["healthStatus"] == "needs_reconnect"


def test_rate_limited_validation_is_503_with_retry_after(connected, invoke, workspace, slack, aws):
    slack.inject_fault("conversations.info", "ratelimited", retry_after=12)
    answer = invoke(*PUT, body={"channelId": workspace.channels["beta"]["id"]})
    assert answer.status == 503
    assert answer.headers["retry-after"] == "12"
    assert "notificationChannelId" not in get_integration_item(aws)


def test_reading_the_saved_choice_needs_no_slack_call(connected, invoke, workspace, slack, aws):
    _choose(invoke, workspace, aws)
    slack.set_token_status(BOT_TOKEN, "revoked")
    before = len(slack.calls())
    answer = invoke(*GET)
    assert answer.status == 200
    assert answer.body["notificationChannel"]["channelName"] == "alerts"
    assert len(slack.calls()) == before


def test_a_slack_connect_channel_hosted_by_another_workspace_is_refused(connected, invoke, workspace, slack, aws):
    # Given a channel another company hosts and shares into Acme's workspace (Slack Connect)
    saved = _choose(invoke, workspace, aws)
    shared = slack.add_channel(TEAM_ID, "partner-globex", shared_from="T0GLOBEX01")
    # When the user tries to pick it, then it is refused and the saved choice stays
    answer = invoke(*PUT, body={"channelId": shared["id"]})
    assert answer.status == 409
    assert answer.body["code"] == "CHANNEL_OTHER_WORKSPACE"
    assert get_integration_item(aws)["notificationChannelId"] == saved["id"]
    # And the dropdown never offered it
    listed = invoke("list_channels", "GET", "/integration/channels")
    assert "partner-globex" not in [c["name"] for c in listed.body["channels"]]


def test_a_shared_channel_hosted_by_the_users_own_workspace_is_accepted(connected, invoke, slack):
    own = slack.add_channel(TEAM_ID, "acme-hosted")
    answer = invoke(*PUT, body={"channelId": own["id"]})
    assert answer.status == 200


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]
)
def test_a_body_that_is_not_sent_as_json_is_415_whatever_its_fields(
    aws, slack, notification_channel, workspace, invoke, content_type
):
    from tests.support.events import http_event

    event = http_event("PUT", "/integration/channel", raw_body="channelId=" + workspace.channels["alerts"]["id"])
    event["headers"]["content-type"] = content_type

    answer = invoke("set_channel", "PUT", "/integration/channel", event=event)

    assert answer.status == 415 and answer.body["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert (
        invoke("set_channel", "GET", "/integration/channel").body["notificationChannel"]["channelId"]
        == (notification_channel["id"])
    )
