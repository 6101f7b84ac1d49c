"""The local stack keeps its state across restarts (local.persistence): a stack with a state dir
saves at stop and a new one, on other ports, goes on from there; in memory nothing is kept and
the command line says so, loudly."""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from local import cli, persistence
from local.runtime import FunctionRuntime
from local.slack_emulator import SlackEmulator
from local.stack import DEMO_SEED, DEMO_USER, LocalStack, StackInfo
from tests.support.local_stack import call, wait_until

CHANNEL = "C0DEMOALR01"
NO_MESSAGES = dict.fromkeys(persistence.COUNTED_QUEUES, 0)
_names = itertools.count()


def _name() -> str:
    # moto's backends are shared by every stack of the process: each start needs its own names.
    return f"persist{os.getpid()}n{next(_names)}"


@pytest.fixture
def stacks() -> Iterator[SimpleNamespace]:
    """start(state_dir, **options) -> (stack, info) and stop(stack); whatever is still running at
    the end of the test is stopped."""
    running: list[LocalStack] = []

    def start(state_dir: Any, **options: Any) -> tuple[LocalStack, StackInfo]:
        stack = LocalStack(api_port=0, aws_port=0, slack_port=0, name=_name(), state_dir=state_dir, **options)
        running.append(stack)
        return stack, stack.start()

    def stop(stack: LocalStack) -> dict[str, int]:
        running.remove(stack)
        return stack.stop()

    yield SimpleNamespace(start=start, stop=stop)
    for stack in reversed(running):
        stack.stop()


def aws(info: StackInfo, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=info.aws_endpoint,
        region_name=info.region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def producer(info: StackInfo) -> Any:
    from slack_integration.producer import NotificationProducer

    return NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=aws(info, "sqs"))


def posted(stack: LocalStack, text: str) -> list[dict[str, Any]]:
    return [m for m in stack.emulator.messages(CHANNEL) if m.get("text") == text]


def slack_call(info: StackInfo, method: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        info.slack_api_url + method, data=b"", headers={"authorization": f"Bearer {token}"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def tables_of(info: StackInfo) -> dict[str, list[dict[str, Any]]]:
    dynamodb = aws(info, "dynamodb")
    return {
        logical: sorted(
            dynamodb.scan(TableName=name, ConsistentRead=True)["Items"],
            key=lambda item: json.dumps(item, sort_keys=True, default=repr),
        )
        for logical, name in info.tables.items()
    }


def delivered(info: StackInfo, internal_id: str) -> dict[str, Any] | None:
    status, body = call(info, "GET", f"/messages/{internal_id}/thread")
    return body if status == 200 and body["original"].get("ts") else None


# -- a restart goes on where the stack stopped ----------------------------------------------------


def test_a_restarted_stack_goes_on_where_it_stopped(stacks, tmp_path):
    state = tmp_path / "state"
    first, info = stacks.start(state)
    assert first.restored is None
    assert call(info, "PUT", "/integration/channel", body={"channelId": CHANNEL})[0] == 200
    producer(info).send(DEMO_USER, {"text": "Before the restart"}, internal_message_id="restart-1")
    thread = wait_until(lambda: delivered(info, "restart-1"))
    [original] = wait_until(lambda: posted(first, "Before the restart"))
    # Every DynamoDB type comes back as it was.
    typed = {
        "id": {"S": "test#types"},
        "n": {"N": "12.50"},
        "b": {"B": b"\x00\xffbytes"},
        "bs": {"BS": [b"\x01", b"\x02"]},
        "ns": {"NS": ["1", "2"]},
        "ss": {"SS": ["a", "b"]},
        "m": {"M": {"nested": {"L": [{"BOOL": True}, {"NULL": True}, {"B": b"\x03"}]}}},
    }
    aws(info, "dynamodb").put_item(TableName=info.tables["LifecycleTable"], Item=typed)
    status_before = call(info, "GET", "/integration/status")[1]
    integration_id = aws(info, "dynamodb").get_item(
        TableName=info.tables["IntegrationsTable"], Key={"userId": {"S": DEMO_USER}}
    )["Item"]["id"]["S"]
    token_secret = f"{info.token_secret_prefix}{integration_id}"
    bot_token = json.loads(aws(info, "secretsmanager").get_secret_value(SecretId=token_secret)["SecretString"])
    app_secret = first._app_secret_name
    app = json.loads(aws(info, "secretsmanager").get_secret_value(SecretId=app_secret)["SecretString"])
    # The delivery's receipt is published (remembered in the lifecycle table): nothing more is written.
    wait_until(lambda: any(i["id"]["S"].startswith("receipt#") for i in tables_of(info)["LifecycleTable"]))
    tables = tables_of(info)
    channel_before = first.emulator.messages(CHANNEL)

    assert stacks.stop(first) == NO_MESSAGES
    assert first.saved_to == state / "snapshot.json" and oct(first.saved_to.stat().st_mode & 0o777) == "0o600"

    second, again = stacks.start(state)

    # Every item of every table, exactly (read before anything else runs).
    assert tables_of(again) == tables
    assert second.restored is not None and second.restored.integrations == 1
    assert second.restored.items == sum(map(len, tables.values()))
    # The dev JWT from before the restart still works; the integration, channel and mapping are there.
    status, body = call(again, "GET", "/integration/status", token=info.dev_token)
    assert status == 200
    kept = ("canSend", "channelConfigured", "integrationActive", "teamId")
    assert {k: body[k] for k in kept} == {k: status_before[k] for k in kept}
    assert body["canSend"] is True
    assert delivered(again, "restart-1")["original"] == thread["original"]
    # The emulator's channel and messages, the bot token (still a working one).
    assert second.emulator.messages(CHANNEL) == channel_before
    assert posted(second, "Before the restart") == [original]
    restored_secret = aws(again, "secretsmanager").get_secret_value(SecretId=token_secret)["SecretString"]
    assert json.loads(restored_secret) == bot_token
    assert slack_call(again, "auth.test", bot_token["botToken"])["ok"] is True
    # Nothing redone: the same app (credentials, in the emulator and the secret) at this run's
    # URLs, and no second Add to Slack for the demo user.
    restored_app = json.loads(aws(again, "secretsmanager").get_secret_value(SecretId=app_secret)["SecretString"])
    assert restored_app == app
    [registered] = second.emulator.oauth_apps()
    assert registered["client_id"] == app["clientId"]
    assert registered["events_url"] == again.slack_events_url
    assert registered["redirect_uri"] == f"{again.api_url}/slack/oauth/callback"
    assert second.emulator.calls("oauth.v2.access") == []
    assert second.emulator.verify_events_url(app["clientId"])["verified"] is True  # signed as the app expects

    # A reply enqueued after the restart threads under the original.
    producer(again).reply("restart-1", {"text": "After the restart"})
    [reply] = wait_until(lambda: posted(second, "After the restart"))
    assert reply["thread_ts"] == original["ts"]


def test_messages_queued_while_delivery_was_paused_are_delivered_after_the_restart(stacks, tmp_path):
    state = tmp_path / "state"
    first, info = stacks.start(state, parameters={"DeliveryEnabled": "false"})
    assert call(info, "PUT", "/integration/channel", body={"channelId": CHANNEL})[0] == 200
    send = producer(info)
    send.send(DEMO_USER, {"text": "queued 1"}, internal_message_id="queued-1")
    send.send(DEMO_USER, {"text": "queued 2"}, internal_message_id="queued-2")
    sqs = aws(info, "sqs")
    # One in flight at stop (received by a consumer that went away): it is counted and kept too.
    [in_flight] = sqs.receive_message(QueueUrl=info.queues["SendQueue"], VisibilityTimeout=600)["Messages"]
    sqs.send_message(
        QueueUrl=info.queues["SendDeadLetterQueue"],
        MessageBody=json.dumps({"userId": DEMO_USER, "oops": 1}),
        MessageGroupId=DEMO_USER,
        MessageDeduplicationId="dead-1",
        MessageAttributes={"errorCode": {"DataType": "String", "StringValue": "INVALID_MESSAGE"}},
    )

    queued = stacks.stop(first)

    assert queued == {**NO_MESSAGES, "SendQueue": 2, "SendDeadLetterQueue": 1}
    assert first.queued_at_stop == queued and first.unsaved_at_stop == 0
    message = cli.stop_message(queued, str(state))
    assert message.startswith(f"3 messages still queued (send 2, send dead-letter 1): kept in {cli.shown(state)}")
    assert "delivered after the next start" in message

    second, again = stacks.start(state)  # delivery on

    assert second.restored is not None
    assert (second.restored.queued, second.restored.dead_lettered) == (2, 1)
    wait_until(lambda: posted(second, "queued 1") and posted(second, "queued 2"))
    texts = [m["text"] for m in second.emulator.messages(CHANNEL) if m["text"].startswith("queued")]
    assert texts == ["queued 1", "queued 2"]  # once each, in order
    assert json.loads(in_flight["Body"])["internalMessageId"] == "queued-1"
    [dead] = aws(again, "sqs").receive_message(
        QueueUrl=again.queues["SendDeadLetterQueue"],
        MessageAttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )["Messages"]
    assert dead["MessageAttributes"]["errorCode"]["StringValue"] == "INVALID_MESSAGE"
    assert (dead["Attributes"]["MessageGroupId"], dead["Attributes"]["MessageDeduplicationId"]) == (DEMO_USER, "dead-1")
    assert dead["Attributes"]["ApproximateReceiveCount"] == "1"  # restarted at 0 by the restore
    # Nothing else left: the dead-lettered one the test just received is still in flight.
    assert stacks.stop(second) == {**NO_MESSAGES, "SendDeadLetterQueue": 1}


def test_restored_deliveries_emit_no_receipt_again_but_a_new_one_does(stacks, tmp_path, monkeypatch):
    state = tmp_path / "state"
    first, info = stacks.start(state)
    # Receipts go to the default bus; a rule of the test catches them in a queue. moto's backends
    # are the process's, so both stacks publish on this bus and the rule sees every receipt.
    sqs, events = aws(info, "sqs"), aws(info, "events")
    caught = sqs.create_queue(QueueName=f"caught-receipts-{_name()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=caught, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"catch-receipts-{_name()}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["buster.slack-messaging"]}), State="ENABLED")
    events.put_targets(Rule=rule, Targets=[{"Id": "caught", "Arn": arn}])
    receipts: list[dict[str, Any]] = []

    def receipts_for(endpoint_info: StackInfo, internal_id: str) -> list[dict[str, Any]]:
        answer = aws(endpoint_info, "sqs").receive_message(QueueUrl=caught, MaxNumberOfMessages=10)
        receipts.extend(json.loads(m["Body"])["detail"] for m in answer.get("Messages", []))
        return [r for r in receipts if r["internalMessageId"] == internal_id]

    assert call(info, "PUT", "/integration/channel", body={"channelId": CHANNEL})[0] == 200
    producer(info).send(DEMO_USER, {"text": "old delivery"}, internal_message_id="receipt-old")
    [old] = wait_until(lambda: receipts_for(info, "receipt-old"))
    assert old["outcome"] == "delivered"
    stacks.stop(first)
    # As on the day after: the receipts function's memory of what it published (a day's TTL) is
    # gone, so only the stack's skipping of the restored rows keeps their receipts from repeating.
    saved = json.loads((state / "snapshot.json").read_text())
    lifecycle = saved["tables"]["LifecycleTable"]
    saved["tables"]["LifecycleTable"] = [i for i in lifecycle if not i["id"]["S"].startswith("receipt#")]
    assert len(saved["tables"]["LifecycleTable"]) < len(lifecycle)
    (state / "snapshot.json").write_text(json.dumps(saved))

    # What the receipts function is handed after the restart.
    handed: list[str] = []
    invoke = FunctionRuntime.invoke

    def spy(self: FunctionRuntime, logical: str, event: dict[str, Any]) -> Any:
        if logical == "ReceiptsFunction":
            handed.extend(r["dynamodb"]["Keys"]["deliveryKey"]["S"] for r in event["Records"])
        return invoke(self, logical, event)

    monkeypatch.setattr(FunctionRuntime, "invoke", spy)
    second, again = stacks.start(state)
    restored_keys = {
        item["deliveryKey"]["S"]
        for item in aws(again, "dynamodb").scan(TableName=again.tables["DeliveriesTable"])["Items"]
    }
    assert restored_keys and second.restored is not None

    producer(again).send(DEMO_USER, {"text": "new delivery"}, internal_message_id="receipt-new")
    [new] = wait_until(lambda: receipts_for(again, "receipt-new"))

    assert new["outcome"] == "delivered"
    time.sleep(1.0)  # two more turns of the stream poller: a repeated receipt would show now
    assert len(receipts_for(again, "receipt-old")) == 1
    assert handed and not restored_keys & set(handed)  # the function never saw the restored rows


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """`python -m local.stack ARGS --exit-when-ready` on free ports, in this process (each run a
    stack of its own names); returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "LocalStack", lambda **options: LocalStack(name=_name(), **options))

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main([*args, "--exit-when-ready", "--api-port", "0", "--aws-port", "0", "--slack-port", "0"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_reset_starts_fresh(run_cli, tmp_path):
    state = str(tmp_path / "state")

    code, fresh, _ = run_cli("--state-dir", state)
    assert code == 0 and "started fresh" in fresh and "State saved in" in fresh
    code, restored, _ = run_cli("--state-dir", state)
    assert code == 0 and "restored (saved " in restored and "1 integration, 0 queued messages" in restored
    assert "--reset" in restored

    code, reset, _ = run_cli("--state-dir", state, "--reset")

    assert code == 0
    assert "was wiped" in reset and "started fresh" in reset and "connected through Add to Slack" in reset
    assert (tmp_path / "state" / "snapshot.json").exists()  # saved again at its stop


def test_the_state_dir_defaults_to_local_state_env_first(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "from-env"))
    code, out, _ = run_cli()
    assert code == 0 and "started fresh" in out
    assert (tmp_path / "from-env" / "snapshot.json").exists()
    assert cli.DEFAULT_STATE_DIR.name == ".local-state" and cli.DEFAULT_STATE_DIR.parent == cli.ROOT


def test_in_memory_keeps_nothing_and_says_so_at_start_and_stop(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_STATE_DIR", str(tmp_path / "state"))

    code, out, _ = run_cli("--in-memory")

    assert code == 0
    assert cli.IN_MEMORY in out
    assert "IN MEMORY: everything is lost at Ctrl-C; run without --in-memory to keep state in .local-state" in out
    assert out.rstrip().splitlines()[-2] == "IN MEMORY: nothing was kept; the next start begins fresh."
    assert not (tmp_path / "state").exists()
    assert cli.stop_message({"SendQueue": 2, "ReplyQueue": 1}, "").startswith(
        "3 messages still queued (send 2, reply 1): LOST (in memory)"
    )
    with pytest.raises(SystemExit):
        cli.main(["--in-memory", "--reset"])


def test_an_in_memory_stack_writes_nothing(stacks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stack, info = stacks.start(None, parameters={"DeliveryEnabled": "false"})
    assert info.state_dir == "" and stack.state_dir is None
    producer(info).send(DEMO_USER, {"text": "lost"}, internal_message_id="lost-1")

    assert stacks.stop(stack) == {**NO_MESSAGES, "SendQueue": 1}  # counted, and lost
    assert stack.saved_to is None
    assert list(tmp_path.iterdir()) == []


def test_an_unreadable_snapshot_stops_the_start_and_is_left_alone(stacks, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "snapshot.json").write_text("{not json")

    with pytest.raises(persistence.StateError, match="--reset"):
        stacks.start(state)

    assert (state / "snapshot.json").read_text() == "{not json"  # the failed start saved nothing


# -- the emulator's part ---------------------------------------------------------------------------


def test_the_emulator_state_survives_a_round_trip_through_json():
    emulator = SlackEmulator()
    emulator.load_seed(DEMO_SEED)
    emulator.add_oauth_app(
        "111.222", "secret", redirect_uri="http://127.0.0.1:1/cb", signing_secret="s", token_rotation=True
    )
    emulator.set_granted_scopes("111.222", ["chat:write"])
    code = emulator.issue_oauth_code("111.222", "T0DEMO0001", enterprise_install=True)
    emulator.rename_channel("T0DEMO0001", "C0DEMORND01", "banter")
    parent = emulator.add_user_message(CHANNEL, "a person")
    emulator.add_user_message(CHANNEL, "a reply", thread_ts=parent["ts"])
    emulator.delete_message(CHANNEL, parent["ts"])  # a tombstone with its thread
    emulator.set_post_rate_limit(1.0, burst=3)
    emulator.inject_fault("chat.postMessage", "error")  # a test's instrument: not kept
    snapshot = json.loads(json.dumps(emulator.snapshot()))

    restored = SlackEmulator()
    restored.restore(snapshot)

    assert restored.snapshot() == snapshot
    assert restored.messages(CHANNEL) == emulator.messages(CHANNEL)
    assert restored.channel_info("C0DEMORND01")["previous_names"] == ["random"]
    assert restored.oauth_apps() == emulator.oauth_apps()
    with restored._state.lock:
        assert restored._state.oauth.codes[code].enterprise == emulator._state.oauth.codes[code].enterprise
        assert restored._state.oauth.apps["111.222"].granted_scopes == ("chat:write",)
        assert restored._state.faults == [] and restored._state.post_rate_limit.burst == 3
    # New posts go on after the restored ones (the ts clock came back too).
    reply = restored.add_user_message(CHANNEL, "after", thread_ts=parent["ts"])
    assert reply["ts"] > parent["ts"] and reply["thread_ts"] == parent["ts"]
    with pytest.raises(ValueError):
        restored.restore({"version": 0})
    with pytest.raises(ValueError, match="turned off"):
        restored.update_oauth_app("111.222", token_rotation=False)
