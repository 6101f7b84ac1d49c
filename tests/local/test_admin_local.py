"""`make admin`: the operator command against a running local stack, configured by the stack itself
(GET /_local/env), in this process and as the command a developer types."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time

import boto3
import pytest

from local import admin as local_admin
from local.stack import DEMO_USER
from local.template import ROOT
from tests.support.local_stack import running_stack


@pytest.fixture(scope="module")
def stack():
    # No consumers: the admin command runs in this process too, and nothing else runs functions meanwhile.
    with running_stack("admin-local", consumers=False) as started:
        yield started


def run(info, *argv: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    code = local_admin.main(["--api", info.api_url, *argv], out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def command(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'shared'}", **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_list_prints_the_demo_users_integration(stack):
    _, info = stack

    code, lines = run(info, "list")

    assert code == 0
    [integration] = [line for line in lines if line["userId"] == DEMO_USER]
    assert integration["teamId"] == "T0DEMO0001"
    assert "xoxb-" not in json.dumps(lines)


def test_stats_for_one_user(stack):
    _, info = stack

    code, [stats] = run(info, "stats", "--user-id", DEMO_USER)

    assert code == 0
    assert {"start", "end", "totalAttempts", "deliveries", "delivered"} <= stats.keys()
    assert stats["totalAttempts"] == 0  # this stack has sent nothing yet


def test_redrive_dry_run_counts_the_send_dlq(stack):
    _, info = stack
    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    sqs.send_message(
        QueueUrl=info.queues["SendDeadLetterQueue"],
        MessageBody=json.dumps({"userId": DEMO_USER, "internalMessageId": f"dlq-{time.time_ns()}"}),
        MessageGroupId=DEMO_USER,
        MessageDeduplicationId=str(time.time_ns()),
        MessageAttributes={"errorCode": {"DataType": "String", "StringValue": "CHANNEL_NOT_FOUND"}},
    )

    code, [report] = run(info, "redrive", "--queue", "send", "--dry-run")

    assert code == 0
    assert report == {"byCode": {"CHANNEL_NOT_FOUND": 1}, "moved": 0, "left": 1, "dryRun": True}
    waiting = sqs.get_queue_attributes(
        QueueUrl=info.queues["SendDeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "1"  # a dry run moves nothing


def test_the_admin_commands_own_refusals_keep_their_exit_codes(stack):
    _, info = stack
    assert run(info, "disconnect", "--user-id", "nobody-at-all")[0] == 1


def test_no_stack_is_exit_2_with_what_to_do(capsys):
    api = f"http://127.0.0.1:{free_port()}"

    assert local_admin.main(["--api", api, "list"]) == 2

    err = capsys.readouterr().err
    assert err.startswith(f"error: no local stack answers at {api}")
    assert "make run" in err and len(err.strip().splitlines()) == 1


def test_something_else_than_a_stack_is_exit_2(capsys, emulator):
    # The Slack emulator answers HTTP, but no /_local/env.
    assert local_admin.main(["--api", emulator.base_url.removesuffix("/api/"), "list"]) == 2
    assert "/_local/env" in capsys.readouterr().err


def test_no_command_is_usage(capsys):
    assert local_admin.main([]) == 2
    assert "make admin" in capsys.readouterr().err


def test_print_env_for_a_shell_then_the_layers_own_command(stack):
    """eval "$(python -m local.admin --print-env)" then python -m slack_integration.admin, as a developer would."""
    _, info = stack
    printed = command(sys.executable, "-m", "local.admin", "--api", info.api_url, "--print-env")
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN"
    assert all(line.startswith("export ") for line in lines[1:])
    assert f"export AWS_ENDPOINT_URL={info.aws_endpoint}" in lines
    assert f"export INTEGRATIONS_TABLE={info.tables['IntegrationsTable']}" in lines

    script = f'eval "$({sys.executable} -m local.admin --api {info.api_url} --print-env)" && '
    script += f"{sys.executable} -m slack_integration.admin list"
    done = command(
        "bash", "-c", script, env={"AWS_PROFILE": "no-such-profile", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    )

    assert done.returncode == 0, done.stderr
    assert DEMO_USER in done.stdout


def test_make_admin(stack):
    _, info = stack
    done = command("make", "-s", "admin", "ARGS=list", env={"LOCAL_API_URL": info.api_url})

    assert done.returncode == 0, done.stderr
    [integration] = [json.loads(line) for line in done.stdout.splitlines() if DEMO_USER in line]
    assert integration["userId"] == DEMO_USER
    missing = command("make", "-s", "admin", "ARGS=list", env={"LOCAL_API_URL": f"http://127.0.0.1:{free_port()}"})
    assert missing.returncode != 0 and "no local stack answers" in missing.stderr
