"""POST /slack/events: Slack's signed events, verified and acted on, once each, within Slack's
3 seconds; through the real handler with real-shaped API Gateway v2 events, moto and the
emulator (whose channels change state the way the events say)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from slack_integration import dependencies
from tests.conftest import BOT_TOKEN, OTHER_USER, SECRET_PREFIX, TEAM_ID, USER_ID
from tests.support.slack_app import SIGNING_SECRET, envelope, signed
from tests.support.sqs import dead_letters

pytestmark = pytest.mark.usefixtures("slack_app")

SLACK_DEADLINE_SECONDS = 3.0


def deliver(invoke: Any, request: dict[str, Any]) -> Any:
    started = time.monotonic()
    answer = invoke("slack_events", "POST", "/slack/events", event=request)
    assert time.monotonic() - started < SLACK_DEADLINE_SECONDS, "Slack would have given up and redelivered"
    return answer


def integration(user_id: str = USER_ID) -> Any:
    found = dependencies.current().integrations.get_by_user(user_id)
    assert found is not None
    return found


def token_secrets(aws: Any) -> list[str]:
    return [
        s["Name"] for s in aws["secretsmanager"].list_secrets()["SecretList"] if s["Name"].startswith(SECRET_PREFIX)
    ]


# -- verification -------------------------------------------------------------------------------


def test_url_verification_answers_the_challenge(aws, invoke):
    answer = deliver(
        invoke,
        signed(
            {
                "token": "x",
                "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                "type": "url_verification",
            }
        ),
    )

    assert answer.status == 200 and answer.body == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.parametrize(
    "options",
    [
        {"secret": "not-the-signing-secret"},
        {"offset": -301},
        {"offset": 301},
        {"signature": "v0=" + "0" * 64},
        {"signature": "garbage"},
    ],
    ids=["forged", "stale", "future", "wrong-digest", "malformed"],
)
def test_a_request_without_a_valid_current_signature_is_refused_and_changes_nothing(
    aws, notification_channel, invoke, options
):
    if "offset" in options:  # Slack's 5-minute window, either way
        options = {"timestamp": int(time.time()) + options["offset"]}
    request = signed(envelope(TEAM_ID, {"type": "app_uninstalled"}), **options)

    answer = deliver(invoke, request)

    assert answer.status == 401 and answer.body["code"] == "SIGNATURE_INVALID"
    assert integration().is_active and len(token_secrets(aws)) == 1


def test_missing_or_non_numeric_signature_headers_are_refused(aws, notification_channel, invoke):
    unsigned = signed(envelope(TEAM_ID, {"type": "app_uninstalled"}))
    del unsigned["headers"]["x-slack-signature"]
    assert deliver(invoke, unsigned).status == 401
    odd = signed(envelope(TEAM_ID, {"type": "app_uninstalled"}))
    odd["headers"]["x-slack-request-timestamp"] = "yesterday"
    assert deliver(invoke, odd).status == 401
    assert integration().is_active


def test_a_signed_body_that_is_not_json_is_a_client_error(aws, invoke):
    answer = deliver(invoke, signed("token=x&challenge=y"))
    assert answer.status == 422 and answer.body["code"] == "INVALID_REQUEST"


def test_the_signature_covers_the_exact_body(aws, notification_channel, invoke):
    request = signed(envelope(TEAM_ID, {"type": "channel_rename", "channel": {"id": "C1", "name": "x"}}))
    request["body"] = request["body"].replace('"x"', '"y"')
    assert deliver(invoke, request).status == 401


# -- installs -----------------------------------------------------------------------------------


def test_app_uninstalled_deactivates_deletes_the_token_and_dead_letters_queued_messages(
    aws, slack, notification_channel, producer, consumer, invoke
):
    producer.send(USER_ID, {"text": "queued before the uninstall"}, internal_message_id="queued-1")
    slack.set_token_status(BOT_TOKEN, "revoked")  # what Slack does to the token on uninstall

    answer = deliver(invoke, signed(envelope(TEAM_ID, {"type": "app_uninstalled"})))

    assert answer.status == 200
    found = integration()
    assert not found.is_active and found.health_status == "needs_reconnect"
    assert found.last_error_code == "SLACK_APP_UNINSTALLED"
    assert token_secrets(aws) == []
    status = invoke("status", "GET", "/integration/status").body
    assert status["canSend"] is False and status["healthStatus"] == "needs_reconnect"
    assert status["code"] == "SLACK_APP_UNINSTALLED" and "removed from your workspace" in status["error"]
    # The queued message is not retried for an hour: dead-lettered on its first receive.
    producer.send(USER_ID, {"text": "queued after the uninstall"})
    consumer("send").drain()
    dead = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert [d["attributes"]["errorCode"] for d in dead] == ["INTEGRATION_INACTIVE", "INTEGRATION_INACTIVE"]
    assert slack.messages(notification_channel["id"]) == []


def test_tokens_revoked_for_the_bot_deactivates_but_user_tokens_alone_change_nothing(
    aws, slack, notification_channel, invoke
):
    user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0SOMEUSER"], "bot": []}}
    assert deliver(invoke, signed(envelope(TEAM_ID, user_only, event_id="Ev0USER"))).status == 200
    assert integration().is_active and len(token_secrets(aws)) == 1

    bot = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BUSTERBOT"]}}
    assert deliver(invoke, signed(envelope(TEAM_ID, bot, event_id="Ev0BOT"))).status == 200
    assert not integration().is_active and token_secrets(aws) == []


def test_an_uninstall_reaches_every_user_connected_to_that_workspace(aws, slack, notification_channel, invoke):
    from pydantic import SecretStr

    dependencies.current().installation.connect(OTHER_USER, TEAM_ID, "Acme Corp", SecretStr(BOT_TOKEN))

    deliver(invoke, signed(envelope(TEAM_ID, {"type": "app_uninstalled"})))

    assert not integration(USER_ID).is_active and not integration(OTHER_USER).is_active


def test_tokens_revoked_after_app_uninstalled_changes_nothing_more(aws, slack, notification_channel, invoke):
    deliver(invoke, signed(envelope(TEAM_ID, {"type": "app_uninstalled"}, event_id="Ev0UNINSTALL")))
    after_uninstall = integration()

    revoked = {"type": "tokens_revoked", "tokens": {"bot": ["U0BUSTERBOT"]}}
    assert deliver(invoke, signed(envelope(TEAM_ID, revoked, event_id="Ev0REVOKED"))).status == 200

    assert integration() == after_uninstall


def test_events_of_a_workspace_nobody_connected_are_acknowledged(aws, invoke):
    answer = deliver(invoke, signed(envelope("T0NOBODY01", {"type": "app_uninstalled"})))
    assert answer.status == 200 and answer.body == {"ok": True}


# -- channels -----------------------------------------------------------------------------------


def test_archiving_the_notification_channel_asks_for_a_new_one(aws, slack, notification_channel, workspace, invoke):
    other = workspace.channels["beta"]["id"]
    deliver(
        invoke, signed(envelope(TEAM_ID, {"type": "channel_archive", "channel": other, "user": "U1"}, event_id="Ev1"))
    )
    assert integration().health_status == "healthy"  # not our channel: nothing changes

    slack.archive_channel(TEAM_ID, notification_channel["id"])
    event = {"type": "channel_archive", "channel": notification_channel["id"], "user": "U1"}
    deliver(invoke, signed(envelope(TEAM_ID, event, event_id="Ev2")))

    found = integration()
    assert found.health_status == "needs_new_channel" and found.last_error_code == "CHANNEL_ARCHIVED"
    status = invoke("status", "GET", "/integration/status").body
    assert status["canSend"] is False and status["code"] == "CHANNEL_ARCHIVED"


def test_a_deleted_notification_channel_asks_for_a_new_one(aws, slack, notification_channel, invoke):
    event = {"type": "channel_deleted", "channel": notification_channel["id"]}
    deliver(invoke, signed(envelope(TEAM_ID, event)))

    found = integration()
    assert found.health_status == "needs_new_channel" and found.last_error_code == "CHANNEL_NOT_FOUND"


def test_an_unarchived_channel_is_usable_again_after_a_check(aws, slack, notification_channel, invoke):
    channel = notification_channel["id"]
    slack.archive_channel(TEAM_ID, channel)
    deliver(invoke, signed(envelope(TEAM_ID, {"type": "channel_archive", "channel": channel}, event_id="Ev1")))
    assert integration().health_status == "needs_new_channel"

    slack.unarchive_channel(TEAM_ID, channel)
    deliver(invoke, signed(envelope(TEAM_ID, {"type": "channel_unarchive", "channel": channel}, event_id="Ev2")))

    assert integration().health_status == "healthy"
    assert "conversations.info" in [call["method"] for call in slack.calls()]


def test_an_unarchive_event_is_checked_not_believed(aws, slack, notification_channel, invoke):
    channel = notification_channel["id"]
    slack.archive_channel(TEAM_ID, channel)  # still archived in Slack
    deliver(invoke, signed(envelope(TEAM_ID, {"type": "channel_unarchive", "channel": channel})))

    assert integration().health_status == "needs_new_channel"


def test_a_renamed_notification_channel_keeps_its_new_name(aws, slack, notification_channel, invoke):
    event = {
        "type": "channel_rename",
        "channel": {"id": notification_channel["id"], "name": "prod-alerts", "created": 1},
    }

    deliver(invoke, signed(envelope(TEAM_ID, event)))

    saved = invoke("set_channel", "GET", "/integration/channel").body["notificationChannel"]
    assert saved == {"channelId": notification_channel["id"], "channelName": "prod-alerts"}


def test_a_redelivered_event_changes_nothing_more(aws, slack, notification_channel, invoke):
    channel = notification_channel["id"]
    archive = envelope(TEAM_ID, {"type": "channel_archive", "channel": channel}, event_id="Ev0ARCHIVE")
    slack.archive_channel(TEAM_ID, channel)
    assert deliver(invoke, signed(archive)).status == 200
    slack.unarchive_channel(TEAM_ID, channel)
    deliver(
        invoke, signed(envelope(TEAM_ID, {"type": "channel_unarchive", "channel": channel}, event_id="Ev0UNARCHIVE"))
    )
    assert integration().health_status == "healthy"

    # Slack did not see our first answer in time and sends the archive again.
    again = deliver(invoke, signed(archive, retry_num=1))

    assert again.status == 200
    assert integration().health_status == "healthy"


def test_a_failure_while_handling_lets_slack_redeliver(aws, slack, notification_channel, invoke, monkeypatch):
    event = envelope(TEAM_ID, {"type": "app_uninstalled"}, event_id="Ev0RETRY")
    # Storage trouble mid-handling: the answer is an error, and the event is not remembered...
    monkeypatch.setenv("INTEGRATIONS_TABLE", "no-such-table")
    dependencies.reset()
    failed = deliver(invoke, signed(event))
    assert failed.status == 503 and failed.body["code"] == "AWS_UNAVAILABLE"
    monkeypatch.setenv("INTEGRATIONS_TABLE", aws["tables"]["IntegrationsTable"])
    dependencies.reset()

    # ...so Slack's retry is handled.
    assert deliver(invoke, signed(event, retry_num=1)).status == 200
    assert not integration().is_active


def test_signing_secret_never_reaches_a_log_or_a_body(aws, notification_channel, invoke, capsys, caplog):
    answer = deliver(invoke, signed(envelope(TEAM_ID, {"type": "app_uninstalled"}), secret="forged"))
    captured = capsys.readouterr()
    assert SIGNING_SECRET not in captured.out + captured.err + caplog.text + str(answer.body)
