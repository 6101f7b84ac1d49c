"""No log line, answer body or exception message ever carries a bot token."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
from pydantic import SecretStr

from slack_integration import admin, dependencies
from slack_integration.observability import logger as service_logger
from tests.conftest import BOT_TOKEN, TEAM_ID, TEAM_NAME, USER_ID

NEW_TOKEN = "xoxb-test-acme-0003-dddddddddddd"


@pytest.fixture
def everything_logged(caplog, capsys):
    """Every logger at DEBUG (as with Lambda's application log level at DEBUG), all output kept:
    the service's rendered JSON log lines, every other logger's records, and stdout/stderr."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("slack_sdk").setLevel(logging.DEBUG)
    service_logger.setLevel("DEBUG")
    rendered = io.StringIO()
    handler = service_logger.registered_handler
    previous = handler.setStream(rendered)

    def everything() -> str:
        captured = capsys.readouterr()
        records = "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
        return rendered.getvalue() + caplog.text + records + captured.out + captured.err

    yield everything
    handler.setStream(previous)
    service_logger.setLevel("INFO")


def test_no_token_in_any_log_line_or_answer(aws, workspace, slack, invoke, everything_logged):
    answers = []
    # connect (auth.test + Secrets Manager write), list, set, failures, a stale-token refresh, disconnect
    assert (
        admin.main(
            ["connect", "--user-id", USER_ID, "--team-id", TEAM_ID, "--team-name", TEAM_NAME, "--bot-token", BOT_TOKEN],
            out=io.StringIO(),
        )
        == 0
    )
    answers.append(invoke("list_channels", "GET", "/integration/channels"))
    answers.append(
        invoke("set_channel", "PUT", "/integration/channel", body={"channelId": workspace.channels["alerts"]["id"]})
    )
    answers.append(invoke("set_channel", "PUT", "/integration/channel", raw_body="{bad"))
    slack.inject_fault("conversations.list", "drop_before")
    answers.append(invoke("list_channels", "GET", "/integration/channels"))
    slack.inject_fault("conversations.list", "ratelimited")
    answers.append(invoke("list_channels", "GET", "/integration/channels"))
    slack.add_token(NEW_TOKEN, TEAM_ID)
    dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(NEW_TOKEN))
    slack.set_token_status(BOT_TOKEN, "revoked")
    answers.append(invoke("list_channels", "GET", "/integration/channels"))
    slack.set_token_status(NEW_TOKEN, "revoked")
    answers.append(invoke("list_channels", "GET", "/integration/channels"))
    assert admin.main(["disconnect", "--user-id", USER_ID], out=io.StringIO()) == 0

    text = everything_logged()
    # The capture really holds the service's and slack_sdk's debug output...
    assert '"message":"Slack call failed"' in text
    assert "Sending a request" in text and "conversations.list" in text
    # ...and the answers cover successes and failures...
    assert {a.status for a in answers} >= {200, 400, 409, 503}
    # ...and nowhere is a token.
    for token in (BOT_TOKEN, NEW_TOKEN):
        assert token not in text
        assert token[5:] not in text  # not even without its prefix
        assert all(token not in json.dumps(a.body) for a in answers)


def test_exception_messages_and_reprs_do_not_carry_tokens(connected, slack):
    slack.set_token_status(BOT_TOKEN, "revoked")
    with pytest.raises(Exception) as raised:
        dependencies.current().channels.list_channels(USER_ID)
    rendered = str(raised.value) + repr(raised.value) + str(raised.value.__cause__) + str(raised.value.__context__)
    assert BOT_TOKEN not in rendered
    assert "SLACK_TOKEN_REVOKED" in repr(raised.value)


def test_admin_output_has_no_token(aws, workspace, capsys):
    out = io.StringIO()
    admin.main(
        ["connect", "--user-id", USER_ID, "--team-id", TEAM_ID, "--team-name", TEAM_NAME, "--bot-token", "-"],
        stdin=io.StringIO(BOT_TOKEN),
        out=out,
    )
    captured = capsys.readouterr()
    assert BOT_TOKEN not in out.getvalue() + captured.out + captured.err + str(sys.stderr)
    assert json.loads(out.getvalue())["teamId"] == TEAM_ID


def test_no_token_in_the_consumers_logs_or_dead_letters(
    aws, slack, notification_channel, producer, consumer, everything_logged
):
    from tests.support.sqs import dead_letters

    producer.send(USER_ID, {"text": "ok"}, internal_message_id="secret-1")
    producer.send(USER_ID, {"text": "dropped"}, internal_message_id="secret-2")
    send = consumer("send")
    slack.inject_fault("chat.postMessage", "drop_after", after=1)
    send.poll()
    slack.set_token_status(BOT_TOKEN, "revoked")
    producer.send(USER_ID, {"text": "revoked"})
    producer.reply("secret-1", {"text": "reply"})
    send.drain()
    consumer("reply").drain()

    text = everything_logged()
    entries = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) + dead_letters(
        aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]
    )
    assert {e["attributes"]["errorCode"] for e in entries} == {"SLACK_TOKEN_REVOKED"}
    assert '"message":"Message dead-lettered"' in text and "chat.postMessage" in text
    assert BOT_TOKEN not in text and BOT_TOKEN[5:] not in text
    assert BOT_TOKEN not in json.dumps(entries)
