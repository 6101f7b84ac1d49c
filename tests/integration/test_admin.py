"""The admin command: connect (auth.test first), disconnect, list; never a token in its output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import boto3
import pytest
from moto.server import ThreadedMotoServer

from slack_integration import admin
from tests.conftest import BOT_TOKEN, OTHER_TOKEN, SECRET_PREFIX, TEAM_ID, USER_ID
from tests.support.records import get_integration_item
from tests.support.template import ROOT, create_tables


def run(*argv: str, stdin: str = "") -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    sys_stderr, sys.stderr = sys.stderr, err
    try:
        code = admin.main(list(argv), stdin=io.StringIO(stdin), out=out)
    finally:
        sys.stderr = sys_stderr
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    return code, lines, err.getvalue()


CONNECT = ("connect", "--user-id", USER_ID, "--team-id", TEAM_ID, "--team-name", "Acme Corp")


def connect_globex(user_id: str, workspace) -> tuple[str, ...]:
    return (
        "connect",
        "--user-id",
        user_id,
        "--team-id",
        workspace.team_id,
        "--team-name",
        "Globex",
        "--bot-token",
        workspace.token,
    )


def test_connect_verifies_stores_and_prints_the_integration(aws, workspace, slack):
    code, lines, _ = run(*CONNECT, "--bot-token", BOT_TOKEN)
    assert code == 0
    [printed] = lines
    assert printed["userId"] == USER_ID and printed["teamId"] == TEAM_ID and printed["isActive"] is True
    assert printed["botUserId"] == "U0BUSTERBOT"
    assert BOT_TOKEN not in json.dumps(printed)
    # Slack was asked to verify the token, and both stores hold the result
    assert len(slack.calls("auth.test")) == 1
    assert get_integration_item(aws)["id"] == printed["id"]
    secret = aws["secretsmanager"].get_secret_value(SecretId=f"{SECRET_PREFIX}{printed['id']}")
    assert json.loads(secret["SecretString"])["botToken"] == BOT_TOKEN


def test_connect_reads_the_token_from_stdin(aws, workspace):
    code, lines, _ = run(*CONNECT, "--bot-token", "-", stdin=BOT_TOKEN + "\n")
    assert code == 0 and lines[0]["teamId"] == TEAM_ID


def test_a_revoked_token_is_refused_and_nothing_is_stored(aws, workspace, slack):
    slack.set_token_status(BOT_TOKEN, "revoked")
    code, lines, err = run(*CONNECT, "--bot-token", BOT_TOKEN)
    assert code == 1 and lines == []
    assert "SLACK_TOKEN_REVOKED" in err and BOT_TOKEN not in err
    assert get_integration_item(aws) is None
    assert aws["secretsmanager"].list_secrets()["SecretList"] == []


def test_a_token_of_another_workspace_is_refused(aws, workspace, other_workspace):
    code, _, err = run(*CONNECT, "--bot-token", OTHER_TOKEN)
    assert code == 1 and "TEAM_MISMATCH" in err
    assert get_integration_item(aws) is None


def test_not_a_bot_token_is_a_usage_error(aws, workspace, slack):
    code, _, err = run(*CONNECT, "--bot-token", "hunter2")
    assert code == 2 and "xoxb-" in err
    assert slack.calls() == []


def test_reconnecting_to_another_workspace_clears_the_channel_but_keeps_the_id(
    connected, aws, workspace, other_workspace, invoke
):
    invoke("set_channel", "PUT", "/integration/channel", body={"channelId": workspace.channels["alerts"]["id"]})
    code, lines, _ = run(*connect_globex(USER_ID, other_workspace))
    assert code == 0 and lines[0]["id"] == connected.id
    item = get_integration_item(aws)
    assert item["teamId"] == other_workspace.team_id and "notificationChannelId" not in item


def test_reconnecting_the_same_workspace_keeps_the_channel(connected, aws, workspace, invoke):
    invoke("set_channel", "PUT", "/integration/channel", body={"channelId": workspace.channels["alerts"]["id"]})
    assert run(*CONNECT, "--bot-token", BOT_TOKEN)[0] == 0
    assert get_integration_item(aws)["notificationChannelId"] == workspace.channels["alerts"]["id"]


def test_disconnect_deletes_the_token_and_the_next_request_says_reconnect(connected, aws, invoke):
    code, lines, _ = run("disconnect", "--user-id", USER_ID)
    assert code == 0 and lines[0]["isActive"] is False
    assert aws["secretsmanager"].list_secrets()["SecretList"] == []
    assert get_integration_item(aws)["id"] == connected.id  # history kept
    answer = invoke("list_channels", "GET", "/integration/channels")
    assert answer.status == 409 and answer.body["code"] == "INTEGRATION_INACTIVE"


def test_disconnect_of_an_unknown_user_fails_clearly(aws):
    code, _, err = run("disconnect", "--user-id", "nobody")
    assert code == 1 and "INTEGRATION_NOT_FOUND" in err


def test_list_prints_one_line_per_integration(connected, aws, other_workspace):
    run(*connect_globex("user-2", other_workspace))
    code, lines, _ = run("list")
    assert code == 0
    assert sorted(line["userId"] for line in lines) == [USER_ID, "user-2"]


def test_missing_configuration_is_named(aws, monkeypatch):
    from slack_integration import dependencies

    monkeypatch.delenv("INTEGRATIONS_TABLE")
    dependencies.reset()
    code, _, err = run("list")
    assert code == 2 and "INTEGRATIONS_TABLE" in err


@pytest.fixture
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_the_command_line_runs_as_a_module_against_aws_endpoints(moto_server, workspace, service_env):
    # Given moto served over HTTP (as the local stack does) with the template's tables
    create_tables(boto3.client("dynamodb", endpoint_url=moto_server))
    env = {**os.environ, **service_env, "AWS_ENDPOINT_URL": moto_server, "PYTHONPATH": str(ROOT / "shared")}
    # When an operator runs the documented command
    done = subprocess.run(
        [sys.executable, "-m", "slack_integration.admin", *CONNECT, "--bot-token", "-"],
        input=BOT_TOKEN,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    # Then it prints the integration as one JSON line, and never the token
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["teamId"] == TEAM_ID
    assert BOT_TOKEN not in done.stdout + done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "slack_integration.admin", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0 and json.loads(listed.stdout)["id"] == json.loads(line)["id"]
