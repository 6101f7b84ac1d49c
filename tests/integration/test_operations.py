"""The rollback plan, step by step (README "Operations"): disable the API, redrive the DLQ after a
fix, disconnect (revoke) an integration, and the template settings that keep data safe."""

from __future__ import annotations

import io
import json

import pytest

from local.template import condition_holds, load_template, parameter_default, policies, resources
from slack_integration import admin, dependencies
from tests.conftest import BOT_TOKEN, SECRET_PREFIX, USER_ID
from tests.support.records import get_integration_item, mappings
from tests.support.sqs import counts, dead_letters

# -- ApiEnabled=false --------------------------------------------------------------------------


@pytest.fixture
def api_disabled(monkeypatch):
    monkeypatch.setenv("API_ENABLED", "false")
    dependencies.reset()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/integration/channels", None),
        ("PUT", "/integration/channel", {"channelId": "C0123456789"}),
        ("GET", "/integration/status", None),
    ],
)
def test_a_disabled_api_answers_503_with_a_code_for_slack_calls_and_changes(
    aws, slack, notification_channel, invoke, api_disabled, method, path, body
):
    function = {"/integration/channels": "list_channels", "/integration/channel": "set_channel"}.get(path, "status")
    calls = len(slack.calls())

    answer = invoke(function, method, path, body=body)

    assert answer.status == 503
    assert answer.body["code"] == "FEATURE_DISABLED"
    assert "paused" in answer.body["error"] and "settings are kept" in answer.body["error"]
    assert answer.headers["retry-after"] == "300"
    assert len(slack.calls()) == calls  # Slack is not called at all


def test_a_disabled_api_still_reads_saved_data(
    aws, slack, notification_channel, producer, consumer, invoke, api_disabled
):
    producer.send(USER_ID, {"text": "kept"}, internal_message_id="kept-1")
    consumer("send").poll()

    assert (
        invoke("set_channel", "GET", "/integration/channel").body["notificationChannel"]["channelId"]
        == notification_channel["id"]
    )
    assert invoke("thread", "GET", "/messages/kept-1/thread").status == 200
    assert invoke("stats", "GET", "/integration/stats").body["delivered"] == 1


def test_the_api_comes_back_when_re_enabled(aws, slack, notification_channel, invoke, monkeypatch):
    monkeypatch.setenv("API_ENABLED", "false")
    dependencies.reset()
    assert invoke("list_channels", "GET", "/integration/channels").status == 503

    monkeypatch.setenv("API_ENABLED", "true")
    dependencies.reset()

    assert invoke("list_channels", "GET", "/integration/channels").status == 200


# -- admin redrive ------------------------------------------------------------------------------


@pytest.fixture
def admin_queues(aws, monkeypatch):
    for kind in ("Send", "Reply"):
        monkeypatch.setenv(f"{kind.upper()}_QUEUE_URL", aws["queues"][f"{kind}Queue"])
        monkeypatch.setenv(f"{kind.upper()}_DLQ_URL", aws["queues"][f"{kind}DeadLetterQueue"])


def run_admin(*argv: str) -> dict:
    out = io.StringIO()
    assert admin.main(list(argv), out=out) == 0
    return json.loads(out.getvalue())


def test_redrive_shows_the_codes_first_then_delivers_each_message_once(
    aws, slack, notification_channel, producer, consumer, admin_queues
):
    slack.set_token_status(BOT_TOKEN, "revoked")
    for n in range(3):
        producer.send(USER_ID, {"text": f"held {n}"}, internal_message_id=f"held-{n}")
    send = consumer("send")
    send.drain()
    assert slack.messages(notification_channel["id"]) == []

    looked = run_admin("redrive", "--queue", "send", "--dry-run")

    assert looked["byCode"] == {"SLACK_TOKEN_REVOKED": 3} and looked["moved"] == 0
    assert counts(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])[0] == 3  # shown again at once

    slack.set_token_status(BOT_TOKEN, "active")  # the fix: the user reconnected
    moved = run_admin("redrive", "--queue", "send")
    again = run_admin("redrive", "--queue", "send")  # a second run finds nothing
    send.drain()

    assert moved["moved"] == 3 and again["moved"] == 0
    assert [m["text"] for m in slack.messages(notification_channel["id"])] == ["held 0", "held 1", "held 2"]
    assert dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) == []


def test_redrive_can_pick_one_error_code(aws, slack, notification_channel, producer, consumer, admin_queues):
    from tests.support.records import enqueue_raw

    enqueue_raw(aws, {"userId": USER_ID, "bad": True})
    slack.archive_channel(notification_channel["id"])
    producer.send(USER_ID, {"text": "archived"})
    consumer("send").drain()

    moved = run_admin("redrive", "--queue", "send", "--code", "CHANNEL_ARCHIVED")

    assert moved["moved"] == 1 and moved["byCode"] == {"INVALID_MESSAGE": 1, "CHANNEL_ARCHIVED": 1}
    [left] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert left["attributes"]["errorCode"] == "INVALID_MESSAGE"


def test_redrive_without_queue_urls_is_a_usage_error(aws, monkeypatch, capsys):
    monkeypatch.delenv("SEND_QUEUE_URL", raising=False)
    assert admin.main(["redrive", "--queue", "send"], out=io.StringIO()) == 2
    assert "SEND_QUEUE_URL" in capsys.readouterr().err


# -- admin disconnect ---------------------------------------------------------------------------


def test_disconnect_revokes_at_slack_deletes_the_token_and_keeps_history(
    aws, slack, notification_channel, producer, consumer, invoke
):
    producer.send(USER_ID, {"text": "before"}, internal_message_id="history-1")
    consumer("send").poll()
    integration_id = get_integration_item(aws)["id"]

    assert admin.main(["disconnect", "--user-id", USER_ID], out=io.StringIO()) == 0

    assert len(slack.calls("auth.revoke")) == 1
    # Slack no longer accepts the token, and we no longer hold it.
    assert slack.calls("auth.revoke")[0]["status"] == 200
    secrets = aws["secretsmanager"].list_secrets()["SecretList"]
    assert [s for s in secrets if s["Name"] == f"{SECRET_PREFIX}{integration_id}"] == []
    # History is kept; the user is told to reconnect.
    assert [m["internalMessageId"] for m in mappings(aws)] == ["history-1"]
    answer = invoke("list_channels", "GET", "/integration/channels")
    assert (answer.status, answer.body["code"]) == (409, "INTEGRATION_INACTIVE")
    assert "Reconnect Slack" in answer.body["error"]
    with pytest.raises(Exception) as revoked:
        from slack_sdk import WebClient

        WebClient(base_url=slack.base_url).auth_test(token=BOT_TOKEN)
    assert "token_revoked" in str(revoked.value)


def test_disconnect_when_slack_is_unreachable_changes_nothing(aws, slack, notification_channel, capsys):
    slack.inject_fault("auth.revoke", "server_error", times=2)

    assert admin.main(["disconnect", "--user-id", USER_ID], out=io.StringIO()) == 1

    assert "SLACK_UNAVAILABLE" in capsys.readouterr().err
    assert get_integration_item(aws)["isActive"] is True
    assert dependencies.current().tokens.get(get_integration_item(aws)["id"]).get_secret_value() == BOT_TOKEN


def test_disconnect_of_an_already_revoked_token_still_cleans_up(aws, slack, notification_channel):
    slack.set_token_status(BOT_TOKEN, "revoked")

    assert admin.main(["disconnect", "--user-id", USER_ID], out=io.StringIO()) == 0

    assert get_integration_item(aws)["isActive"] is False


# -- the template keeps data safe --------------------------------------------------------------


def test_tables_are_protected_from_deletion_and_mistakes():
    for name, table in resources("AWS::DynamoDB::Table").items():
        assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain", name
        props = table["Properties"]
        assert props["DeletionProtectionEnabled"] is True, name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_queues_keep_paused_messages_as_long_as_sqs_allows():
    queues = resources("AWS::SQS::Queue")
    assert {q["Properties"]["MessageRetentionPeriod"] for q in queues.values()} == {1_209_600}


def test_retention_never_drops_a_mapping_a_pending_reply_needs():
    parameters = load_template()["Parameters"]
    longest_wait_days = 1_209_600 / 86_400  # a message's life in its queue
    assert parameters["MappingRetentionDays"]["MinValue"] > longest_wait_days
    assert parameters["DeliveryRetentionDays"]["MinValue"] > longest_wait_days


def test_the_delivery_switch_disables_both_event_sources():
    functions = resources("AWS::Serverless::Function")
    for name in ("SendFunction", "ReplyFunction"):
        [event] = functions[name]["Properties"]["Events"].values()
        assert event["Properties"]["Enabled"] == {"Fn::If": ["DeliveryOn", True, False]}
    assert condition_holds("DeliveryOn") is True
    assert condition_holds("DeliveryOn", {"DeliveryEnabled": "false"}) is False
    assert parameter_default("DeliveryEnabled") == "true"


def test_a_restored_table_repoints_every_function_and_its_permissions():
    from local.template import _resolve, environment

    own = {name: name for name in load_template()["Resources"]}  # every resource by its logical id
    restored = {**own, "IntegrationsTableRestored": "integrations-restored-20261127"}
    functions = resources("AWS::Serverless::Function")
    for logical, function in functions.items():
        assert environment(logical, restored)["INTEGRATIONS_TABLE"] == "integrations-restored-20261127", logical
        assert environment(logical, own)["INTEGRATIONS_TABLE"] == "IntegrationsTable", logical
        for policy in policies(function):
            if not isinstance(policy, dict) or "Statement" not in policy:
                continue
            for statement in policy["Statement"]:
                if "IntegrationsTable" in json.dumps(statement["Resource"]) and "Fn::If" in statement["Resource"]:
                    chosen = _resolve(statement["Resource"], restored)
                    assert chosen["Fn::Sub"].startswith("arn:${AWS::Partition}:dynamodb:"), logical
                    assert "${IntegrationsTableRestored}" in chosen["Fn::Sub"], logical
