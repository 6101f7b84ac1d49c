"""`make bench`: speed, cost and throughput, measured side by side in one run; writes RESULTS.md.

Everything runs on loopback against the local stack (moto's server and the Slack emulator), so
the numbers compare the service with itself and with its unavoidable floor on this machine, not
with AWS. Each comparison is measured in the same run, interleaved, so a noisy machine moves
both sides together.

    python -m benchmarks.run [--quick]
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from local.lambda_events import sample, schedule_event, sqs_event
from local.runtime import FunctionRuntime
from local.stack import DEMO_SEED, DEMO_USER, LocalStack
from local.template import ROOT, function_directory, resources

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
# The cold-start floor: the unavoidable part of any function's first event, done as plainly as
# possible. Import what every function imports, create a DynamoDB client and a WebClient, make one
# DynamoDB read and one Slack call (what the lightest first event needs at the least). The product
# adds Powertools, its own layer, its models and whatever its event needs beyond that.
BASELINE = "import boto3, slack_sdk, pydantic; DynamoDB client + WebClient, one GetItem, one auth.test"
BASELINE_CODE = """
import os
import boto3, pydantic, slack_sdk.web
dynamodb = boto3.client("dynamodb")
dynamodb.get_item(TableName=os.environ["INTEGRATIONS_TABLE"], Key={"userId": {"S": "bench-floor"}})
slack = slack_sdk.web.WebClient(token=os.environ["BENCH_SLACK_TOKEN"], base_url=os.environ["SLACK_API_URL"])
assert slack.auth_test()["ok"]
"""


def _seed_token() -> str:
    """A bot token of the emulator's demo seed: the bare Slack calls are real, authenticated ones."""
    seed = json.loads((ROOT / "local" / "slack_emulator" / "demo_seed.json").read_text())
    return str(seed["workspaces"][0]["tokens"][0]["token"])


# -- helpers ---------------------------------------------------------------------------------


def _child_env(stack: LocalStack, logical: str) -> dict[str, str]:
    info = stack.info
    assert info is not None and stack.runtime is not None
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "shared")]),
        # As the stack runs it: the template's environment plus the stack's own (the Slack app).
        **stack.runtime.environment_for(logical),
        "SLACK_API_URL": info.slack_api_url,
        "AWS_ENDPOINT_URL": info.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": info.region,
        "POWERTOOLS_LOG_LEVEL": "ERROR",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


_CHILD = """
import importlib.util, json, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()
class Context:  # what Powertools reads from Lambda's context (kept here: no extra imports)
    function_name = {name!r}
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + {name!r}
    aws_request_id = "cold-start"
    log_group_name = log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 60000
answer = module.lambda_handler(json.loads(sys.stdin.read()), Context())
served = time.perf_counter()
status = answer.get("statusCode", 200) if isinstance(answer, dict) else 200
failures = len(answer.get("batchItemFailures", [])) if isinstance(answer, dict) else 0
print(json.dumps({{"import_ms": (imported - started) * 1000, "serve_ms": (served - imported) * 1000,
                   "status": status, "failures": failures}}))
"""


def _run_child(code: str, env: dict[str, str], stdin: str = "") -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", code], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise RuntimeError(f"child failed: {done.stderr[-2000:]}")
    return wall, done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _first_event(logical: str, stack: LocalStack, round_number: int) -> dict[str, Any]:
    """A real-shaped first event each function could meet (HTTP samples, SQS records, the schedule)."""
    info = stack.info
    assert info is not None
    directory = function_directory(logical)
    if directory == "send":
        event = sample("send.json")
        body = json.loads(event["Records"][0]["body"])
        body["internalMessageId"] = f"cold-{round_number}-{time.time_ns()}"
        record = event["Records"][0]
        record.update(body=json.dumps(body), messageId=f"cold-{time.time_ns()}")
        record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))
        return event
    if directory == "reply":
        event = sample("reply.json")
        record = event["Records"][0]
        record["messageId"] = f"cold-{time.time_ns()}"
        record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))
        return event
    if directory == "health":
        return schedule_event("arn:aws:events:us-east-1:123456789012:rule/bench")
    if directory == "domain_events":
        event = sample("domain_event.json")
        body = json.loads(event["Records"][0]["body"])
        body["eventId"] = f"cold-{round_number}-{time.time_ns()}"
        event["Records"][0].update(body=json.dumps(body), messageId=body["eventId"])
        return event
    if directory == "receipts":
        # A delivery never published before, so the receipt really goes out.
        event = sample("receipts.json")
        key = {"S": f"send|bench|msg|cold-{round_number}-{time.time_ns()}"}
        change = event["Records"][0]["dynamodb"]
        change["Keys"]["deliveryKey"] = change["NewImage"]["deliveryKey"] = change["OldImage"]["deliveryKey"] = key
        return event
    name = {
        "list_channels": "list_channels.json",
        "set_channel": "set_channel.json",
        "status": "status.json",
        "thread": "thread.json",
        "stats": "stats.json",
        "installation": "install.json",
        # A recorded url_verification: its signature is checked (the app secret read), then refused as stale.
        "slack_events": "slack_events.json",
    }[directory]
    event = sample(name)
    if name == "set_channel.json":
        event["body"] = json.dumps({"channelId": "C0DEMOALR01"})
    if name == "stats.json":
        event.pop("queryStringParameters", None)
        event["rawQueryString"] = ""
    return event


# -- measurements ----------------------------------------------------------------------------


def cold_start(stack: LocalStack, rounds: int) -> list[dict[str, Any]]:
    functions = sorted(resources("AWS::Serverless::Function"))
    baseline_env = {**_child_env(stack, functions[0]), "BENCH_SLACK_TOKEN": _seed_token()}
    samples: dict[str, list[float]] = {"baseline": []}
    detail: dict[str, list[dict[str, Any]]] = {}
    for round_number in range(rounds):
        # Interleaved: baseline, then every function, round after round.
        samples["baseline"].append(_run_child(BASELINE_CODE, baseline_env)[0])
        for logical in functions:
            app = str(ROOT / "functions" / function_directory(logical) / "app.py")
            event = json.dumps(_first_event(logical, stack, round_number))
            wall, output = _run_child(_CHILD.format(app=app, name=logical), _child_env(stack, logical), event)
            result = json.loads(output)
            if result["status"] >= 500 or result["failures"]:
                raise RuntimeError(f"{logical} did not serve its first event: {result}")
            samples.setdefault(logical, []).append(wall)
            detail.setdefault(logical, []).append(result)
    base = statistics.median(samples["baseline"])
    rows = [{"function": "floor (" + BASELINE + ")", "wall_ms": base, "ratio": 1.0}]
    for logical in functions:
        wall = statistics.median(samples[logical])
        rows.append(
            {
                "function": logical,
                "wall_ms": wall,
                "import_ms": statistics.median(d["import_ms"] for d in detail[logical]),
                "serve_ms": statistics.median(d["serve_ms"] for d in detail[logical]),
                "ratio": wall / base,
            }
        )
    return rows


class _Counting:
    """AWS calls counted with botocore's own events, only while a handler runs."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.active = False

    def __call__(self, model: Any, **_: Any) -> None:
        if self.active:
            self.calls[f"{model.service_model.service_name}.{model.name}"] += 1


def cost_per_message(stack: LocalStack, messages: int) -> dict[str, Any]:
    from slack_integration import dependencies
    from slack_integration.producer import NotificationProducer

    info = stack.info
    assert info is not None and stack.runtime is not None
    emulator = stack._emulator
    counting = _Counting()
    session = boto3._get_default_session()
    session.events.register("before-call", counting)
    with stack.runtime.environment_of("SendFunction"):
        dependencies.reset()  # clients made from now on carry the counter
    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    producer = NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=sqs)

    def consume(
        logical: str, queue: str, expected: int, slack_method: str = "chat.postMessage"
    ) -> tuple[int, Counter[str]]:
        before = len(emulator.calls(slack_method)) if emulator else 0
        seen = 0
        counting.calls.clear()
        while seen < expected:
            received = sqs.receive_message(
                QueueUrl=info.queues[queue],
                MaxNumberOfMessages=10,
                MessageSystemAttributeNames=["All"],
                WaitTimeSeconds=1,
            ).get("Messages", [])
            if not received:
                continue
            arn = sqs.get_queue_attributes(QueueUrl=info.queues[queue], AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            counting.active = True
            answer = stack.runtime.invoke(logical, sqs_event(received, arn))
            counting.active = False
            assert not answer["batchItemFailures"], answer
            sqs.delete_message_batch(
                QueueUrl=info.queues[queue],
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)],
            )
            seen += len(received)
        slack_calls = (len(emulator.calls(slack_method)) - before) if emulator else expected
        return slack_calls, Counter(counting.calls)

    # Warm each container first (token cache, clients): steady state is what is measured.
    warm_id = f"warm-{time.time_ns()}"
    producer.send(DEMO_USER, {"text": "warm-up"}, internal_message_id=warm_id)
    consume("SendFunction", "SendQueue", 1)
    ids = [f"cost-{time.time_ns()}-{n}" for n in range(messages)]
    for internal_id in ids:
        producer.send(DEMO_USER, {"text": f"cost {internal_id}"}, internal_message_id=internal_id)
    send_slack, send_calls = consume("SendFunction", "SendQueue", messages)
    producer.reply(warm_id, {"text": "warm-up reply"})
    consume("ReplyFunction", "ReplyQueue", 1)
    for internal_id in ids:
        producer.reply(internal_id, {"text": "reply"})
    reply_slack, reply_calls = consume("ReplyFunction", "ReplyQueue", messages)
    for internal_id in ids:
        producer.reply(internal_id, {"text": "scoped reply"}, user_id=DEMO_USER)
    scoped_slack, scoped_calls = consume("ReplyFunction", "ReplyQueue", messages)
    # An update in place of each original, one at a time (nothing to collapse).
    for internal_id in ids:
        producer.update(internal_id, {"text": "updated in place"}, user_id=DEMO_USER, version=1)
    update_slack, update_calls = consume("ReplyFunction", "ReplyQueue", messages, "chat.update")
    # The same ids to a second user: an unscoped reply now fans out (one SQS hop) into one
    # scoped reply per thread. Counted per reply, the hop and both threads included.
    second_user = _connect_second_user(stack)
    fan_ids = [f"fan-{time.time_ns()}-{n}" for n in range(messages)]
    for internal_id in fan_ids:
        for user in (DEMO_USER, second_user):
            producer.send(user, {"text": f"cost {internal_id}"}, internal_message_id=internal_id)
    consume("SendFunction", "SendQueue", 2 * messages)
    for internal_id in fan_ids:
        producer.reply(internal_id, {"text": "reply to both"})
    fan_slack, fan_calls = consume("ReplyFunction", "ReplyQueue", 3 * messages)  # the reply + 2 copies
    # The receipts function, fed the deliveries table's stream as its event source mapping would:
    # every delivery above that reached its end (delivered, dead-lettered) is a receipt to publish.
    from local.streams import StreamReader, stream_filters

    table = info.tables["DeliveriesTable"]
    stream_arn = boto3.client("dynamodb", endpoint_url=info.aws_endpoint, region_name=info.region).describe_table(
        TableName=table
    )["Table"]["LatestStreamArn"]
    reader = StreamReader(
        boto3.client("dynamodbstreams", endpoint_url=info.aws_endpoint, region_name=info.region),
        stream_arn,
        stream_filters("ReceiptsFunction", "DeliveriesStream"),
    )
    counting.calls.clear()
    counting.active = True
    runtime: FunctionRuntime = stack.runtime
    receipts = reader.deliver(lambda event: runtime.invoke("ReceiptsFunction", event))
    counting.active = False
    receipt_calls = Counter(counting.calls)
    session.events.unregister("before-call", counting)

    def per(calls: Counter[str]) -> dict[str, float]:
        return {name: count / messages for name, count in sorted(calls.items())}

    return {
        "messages": messages,
        "send": per(send_calls),
        "send_total": sum(send_calls.values()) / messages,
        "send_slack": send_slack / messages,
        "reply": per(reply_calls),
        "reply_total": sum(reply_calls.values()) / messages,
        "reply_slack": reply_slack / messages,
        "scoped": per(scoped_calls),
        "scoped_total": sum(scoped_calls.values()) / messages,
        "scoped_slack": scoped_slack / messages,
        "update": per(update_calls),
        "update_total": sum(update_calls.values()) / messages,
        "update_slack": update_slack / messages,
        "fan_out": per(fan_calls),
        "fan_out_total": sum(fan_calls.values()) / messages,
        "fan_out_slack": fan_slack / messages,
        "receipts": receipts,
        "receipt": {name: count / max(1, receipts) for name, count in sorted(receipt_calls.items())},
        "receipt_total": sum(receipt_calls.values()) / max(1, receipts),
        "receipt_slack": 0.0,
    }


def _connect_second_user(stack: LocalStack) -> str:
    """A second Buster user on the demo workspace, with the same notification channel."""
    from pydantic import SecretStr

    from slack_integration import dependencies
    from slack_integration.models.api import ChannelSelection

    assert stack.runtime is not None and stack._emulator is not None
    token = json.loads(DEMO_SEED.read_text())["workspaces"][0]["tokens"][0]["token"]
    user = "bench-second-user"
    with stack.runtime.environment_of("SetChannelFunction"):
        services = dependencies.current()
        identity = services.slack.identify(SecretStr(token))
        services.installation.connect(user, identity.team_id, identity.team_name or "demo", SecretStr(token))
        services.channels.set_notification_channel(user, ChannelSelection.model_validate({"channelId": "C0DEMOALR01"}))
    return user


def overhead(stack: LocalStack, messages: int, seed: int) -> dict[str, Any]:
    """Warm per-message time: the whole send path (one record per invocation) against a bare
    WebClient.chat_postMessage to the same emulator, interleaved, while the emulator answers
    chat.postMessage as slowly as Slack does (CHAT_POST_MESSAGE_MEDIAN_MS / _P95_MS, seeded)."""
    from slack_sdk import WebClient

    from local.slack_emulator.emulator import CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS

    info = stack.info
    emulator = stack._emulator
    assert info is not None and stack.runtime is not None and emulator is not None
    client = WebClient(base_url=info.slack_api_url, token=_seed_token())
    arn = f"arn:aws:sqs:{info.region}:123456789012:bench.fifo"
    path_ms: list[float] = []
    bare_ms: list[float] = []
    own_ms: list[float] = []  # the path's time beyond the delay the emulator applied to its post
    applied: list[float] = []

    dynamodb_ms: list[float] = []  # per path: its DynamoDB round trips (moto's server, here)
    started_calls: list[float] = []

    def last_delay() -> float:
        return float(emulator.calls("chat.postMessage")[-1].get("latency_ms") or 0.0)

    def before(**_: Any) -> None:
        started_calls.append(time.perf_counter())

    def after(**_: Any) -> None:
        dynamodb_ms[-1] += (time.perf_counter() - started_calls.pop()) * 1000

    from slack_integration.adapters import aws

    with stack.runtime.environment_of("SendFunction"):
        events = aws.client("dynamodb").meta.events
    events.register("before-call.dynamodb", before)
    events.register("after-call.dynamodb", after)
    emulator.set_latency("chat.postMessage", CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS, seed=seed)
    try:
        for n in range(messages):
            body = json.dumps(
                {"userId": DEMO_USER, "internalMessageId": f"ovh-{time.time_ns()}", "message": {"text": f"n{n}"}}
            )
            message = {
                "MessageId": f"ovh-{time.time_ns()}",
                "ReceiptHandle": "r",
                "Body": body,
                "MD5OfBody": "",
                "Attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(int(time.time() * 1000)),
                    "MessageGroupId": DEMO_USER,
                },
            }
            dynamodb_ms.append(0.0)
            started = time.perf_counter()
            answer = stack.runtime.invoke("SendFunction", sqs_event([message], arn))
            path_ms.append((time.perf_counter() - started) * 1000)
            assert not answer["batchItemFailures"]
            delay = last_delay()
            own_ms.append(path_ms[-1] - delay)
            applied.append(delay)
            started = time.perf_counter()
            client.chat_postMessage(channel="C0DEMOALR01", text=f"bare {n}")
            bare_ms.append((time.perf_counter() - started) * 1000)
            applied.append(last_delay())
    finally:
        emulator.set_latency("chat.postMessage", None)
        events.unregister("before-call.dynamodb", before)
        events.unregister("after-call.dynamodb", after)
    path, bare = statistics.median(path_ms), statistics.median(bare_ms)
    beyond = [own - ddb for own, ddb in zip(own_ms, dynamodb_ms, strict=True)]
    return {
        "messages": messages,
        "latency_median_ms": CHAT_POST_MESSAGE_MEDIAN_MS,
        "latency_p95_ms": CHAT_POST_MESSAGE_P95_MS,
        "applied_median_ms": statistics.median(applied),
        "path_ms": path,
        "bare_ms": bare,
        "own_ms": statistics.median(own_ms),
        "dynamodb_ms": statistics.median(dynamodb_ms),
        "beyond_dynamodb_ms": statistics.median(beyond),
        "ratio": path / bare,
        # What the product adds over a bare post beyond its 3 DynamoDB round trips (whose time here
        # is moto's server's, not DynamoDB's): the path less those calls, over the bare post.
        "ratio_beyond_dynamodb": statistics.median(
            (p - d) / b for p, d, b in zip(path_ms, dynamodb_ms, bare_ms, strict=True)
        ),
    }


def throughput(stack: LocalStack, messages: int, channels: int, per_second: float | None, label: str) -> dict[str, Any]:
    """N tracked messages over M users' channels through the stack's pollers, with the emulator
    enforcing `per_second` posts per channel (burst of one second's worth; None: no limit, which
    measures how fast this machine's stack posts at all). `label` names this call's workspaces."""
    from pydantic import SecretStr

    from slack_integration import dependencies
    from slack_integration.models.api import ChannelSelection
    from slack_integration.producer import NotificationProducer

    info = stack.info
    emulator = stack._emulator
    assert info is not None and emulator is not None and stack.runtime is not None
    users = []
    for n in range(channels):
        team = f"T0{label}{n:03d}"
        token, user = f"xoxb-test-{label.lower()}-{n:03d}-tttttttttttt", f"{label.lower()}-user-{n}"
        emulator.add_workspace(team, f"Bench {n}", bot_user_id=f"U0{label}{n:03d}", bot_id=f"B0{label}{n:03d}")
        emulator.add_token(token, team)
        channel = emulator.add_channel(team, "bench", is_member=True)
        with stack.runtime.environment_of("SetChannelFunction"):
            dependencies.current().installation.connect(user, team, f"Bench {n}", SecretStr(token))
            dependencies.current().channels.set_notification_channel(
                user, ChannelSelection.model_validate({"channelId": channel["id"]})
            )
        users.append((user, channel["id"]))
    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    producer = NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=sqs)
    burst = max(1, int(per_second or 1))
    emulator.set_post_rate_limit(per_second, burst=burst)
    run = time.time_ns()
    notifications = [
        {"userId": users[n % channels][0], "internalMessageId": f"tp-{run}-{n}", "message": {"text": f"m{n}"}}
        for n in range(messages)
    ]
    started = time.monotonic()
    result = producer.send_bulk(notifications)
    assert not result.rejected, result.rejected
    stack.start_consumers()
    deadline = started + 300

    def delivered() -> int:
        return sum(len([m for m in emulator.messages(channel) if m["text"].startswith("m")]) for _, channel in users)

    while delivered() < messages and time.monotonic() < deadline:
        time.sleep(0.05)
    wall = time.monotonic() - started
    time.sleep(1.0)  # anything posted twice would show up now
    total = delivered()
    stats = emulator.post_rate_limit_stats()
    emulator.set_post_rate_limit(None)
    per_channel = messages / channels
    floor = max(0.0, (per_channel - burst) / per_second) if per_second else 0.0
    return {
        "messages": messages,
        "channels": channels,
        "per_second": per_second,
        "delivered": min(total, messages),
        "duplicates": max(0, total - messages),
        "wall_s": wall,
        "floor_s": floor,
        "ratio": wall / floor if floor else None,
        "throttled": stats.get("throttled"),
    }


# -- report ----------------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"
    )


def _spread(values: list[float], digits: int = 2) -> str:
    """Median of the runs, then the spread (lowest-highest) when there is more than one run."""
    if not values:
        return "n/a"
    median = f"{statistics.median(values):.{digits}f}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def _within(values: list[float], goal: float) -> str:
    met = sum(1 for value in values if value <= goal)
    verdict = "yes" if statistics.median(values) <= goal else "no"
    return f"{verdict} ({met}/{len(values)} runs)"


def report(runs: list[dict[str, Any]], args: Any) -> str:
    """RESULTS.md from every run: each figure is the median of the runs' own ratios (each measured
    side by side within its run), with the spread (lowest-highest) beside it."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n = len(runs)
    first = runs[0]
    lines = [
        "# Benchmark results",
        "",
        f"Measured {now} on {_machine()} with `make bench`{' --quick' if args.quick else ''}: {n} run(s), each",
        "on a fresh local stack. Loopback only: moto's server and the Slack emulator, so the numbers compare",
        "the service with its own floor on this machine, not with AWS. Every ratio is measured side by side",
        "within one run (interleaved where both sides are timed); the tables give the median of the runs'",
        "ratios and, in brackets, the lowest and highest run.",
        "",
        f"## Cold start ({args.rounds} fresh processes per function per run, interleaved)",
        "",
        "A fresh process imports the handler and serves its first real-shaped event (DynamoDB and",
        "Secrets Manager on moto, Slack on the emulator), against the floor: a fresh process that does",
        f"the unavoidable part of the same work ({BASELINE}). Goal: every ratio at most 1.3.",
        "",
        "| function | wall ms | import ms | first event ms | ratio to floor | goal met |",
        "|---|---:|---:|---:|---:|---|",
    ]
    rows = [row["function"] for row in first["cold"]]
    cold_misses = []
    for index, name in enumerate(rows):
        cells = [run["cold"][index] for run in runs]
        ratios = [cell["ratio"] for cell in cells]
        wall = statistics.median(cell["wall_ms"] for cell in cells)
        imported = statistics.median(cell.get("import_ms", 0) for cell in cells)
        served = statistics.median(cell.get("serve_ms", 0) for cell in cells)
        if index == 0:
            lines.append(f"| {name} | {wall:.0f} | | | 1.00 | |")
            continue
        if statistics.median(ratios) > 1.3:
            cold_misses.append(name)
        lines.append(
            f"| {name} | {wall:.0f} | {imported:.0f} | {served:.0f} | {_spread(ratios)} | {_within(ratios, 1.3)} |"
        )
    cost = first["cost"]
    lines += [
        "",
        f"## Cost per message (steady state, {cost['messages']} messages, counted with botocore's events)",
        "",
        "The same in every run (counts, not times): from the first run.",
        "",
        "| path | AWS calls per message | by operation | Slack calls per message |",
        "|---|---:|---|---:|",
    ]
    for key, label in (
        ("send", "tracked send"),
        ("scoped", "reply, scoped (`userId`)"),
        ("update", "update in place, scoped (chat.update)"),
        ("reply", "reply, unscoped, one recipient"),
        ("fan_out", "reply, unscoped, two recipients (fan-out hop + 2 threads)"),
        ("receipt", f"delivery receipt (receipts function, {cost['receipts']} stream records in batches of 100)"),
    ):
        by_operation = ", ".join(f"{k} {v:.2f}" for k, v in cost[key].items())
        lines.append(f"| {label} | {cost[key + '_total']:.2f} | {by_operation} | {cost[key + '_slack']:.2f} |")
    lines += [
        "",
        "A scoped reply or update reads its integration and its original's mapping in one BatchGetItem",
        "(integration ids derive from the user id, so the mapping's key is known before the read; an",
        "integration made before that costs one GetItem more, once per container). The ledger claim and the",
        "transactional record are the other two calls. A reply also asks Slack for the original's permalink",
        "(chat.getPermalink, Tier 4) so that a reply under a deleted original is reposted instead of lost:",
        "that is its second Slack call. An unscoped reply learns who the id was sent to with two Queries",
        "(the delivered mappings, and the sends still on their way); with several recipients it fans out in",
        "one SendMessageBatch into one scoped reply per thread, which adds one queue pass to its latency.",
        "",
        "Goals: at most 3 DynamoDB calls per tracked send and per scoped reply, Secrets Manager 0 once warm.",
        "",
    ]
    over = [run["over"] for run in runs]
    o = over[0]
    lines += [
        f"## Overhead of the send path ({o['messages']} messages per run, warm, interleaved)",
        "",
        f"The emulator answers chat.postMessage after a log-normal delay, median {o['latency_median_ms']:.0f} ms and",
        f"p95 {o['latency_p95_ms']:.0f} ms (an assumption: Slack publishes no figure; the reasoning is at",
        "CHAT_POST_MESSAGE_MEDIAN_MS in local/slack_emulator/emulator.py), seeded, for the send path's post and the",
        "bare post alike. The send path is one SQS record per invocation of the send function; the bare post is",
        "WebClient.chat_postMessage to the same emulator. Own time is the path's time minus the delay the",
        "emulator applied to its post. Goal: at most 1.2.",
        "",
        "| applied delay (median) | send path | bare chat_postMessage | own time | of which DynamoDB calls"
        " | ratio | goal met | ratio without the DynamoDB calls |",
        "|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| {_spread([r['applied_median_ms'] for r in over], 0)} ms | {_spread([r['path_ms'] for r in over], 0)} ms"
        f" | {_spread([r['bare_ms'] for r in over], 0)} ms | {_spread([r['own_ms'] for r in over], 0)} ms"
        f" | {_spread([r['dynamodb_ms'] for r in over], 0)} ms"
        f" | {_spread([r['ratio'] for r in over])} | {_within([r['ratio'] for r in over], 1.2)}"
        f" | {_spread([r['ratio_beyond_dynamodb'] for r in over])} |",
        "",
        "The DynamoDB calls are timed with botocore's events around each call (signing, the request, moto's",
        "server, the parsing). They are the three calls of the cost table; in AWS each is a few milliseconds",
        "of network and DynamoDB, here each is moto's Python handling it (its update-expression checks alone",
        "take milliseconds per clause), so the last column says what the rest of the path adds to a post.",
        "",
    ]
    tps = [run["tp"] for run in runs]
    tp = tps[0]
    tp_ratios = [r["ratio"] for r in tps if r["ratio"]]
    lines += [
        f"## Throughput under Slack's per-channel limit ({tp['messages']} tracked messages, {tp['channels']} channels)",
        "",
        f"The emulator allows {tp['per_second']:g} posts per second per channel (a burst of one second's",
        "worth) and answers 429 + Retry-After beyond; the messages go through the local stack's pollers, which",
        "run the send function's invocations concurrently, as Lambda runs FIFO message groups in parallel. The",
        "floor is the time the limit itself imposes after the first burst. Goal: at most 1.15. Measured in the",
        "same run, first: the same load with no limit at all (what this machine's stack, moto's server and the",
        "emulator in one Python process on these CPUs, can post at all). When that is slower than the floor,",
        "the ratio to the floor says more about the stand-ins than about the product, so the last column",
        "divides by whichever of the two is longer.",
        "",
        "| delivered | duplicates | 429s answered | wall s | floor s | no limit s | ratio to floor | goal met"
        " | ratio to max(floor, no limit) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| {min(r['delivered'] for r in tps) / tp['messages']:.0%} | {max(r['duplicates'] for r in tps)} | "
        f"{_spread([float(r['throttled'] or 0) for r in tps], 0)} | {_spread([r['wall_s'] for r in tps], 1)} | "
        f"{tp['floor_s']:.1f} | {_spread([r['control_wall_s'] for r in tps], 1)} | {_spread(tp_ratios)} | "
        f"{_within(tp_ratios, 1.15) if tp_ratios else 'n/a'} | {_spread([r['against_capacity'] for r in tps])} |",
        "",
    ]
    lines += _burst_section([run["burst"] for run in runs])
    misses = []
    if cold_misses:
        misses.append(
            "- **Cold start above 1.3** for " + ", ".join(cold_misses) + ". The floor connects too (one DynamoDB "
            "read, one Slack call), so what is left above it is the product's own: Powertools, the layer's modules "
            "and models, the Secrets Manager client and read of the bot token, and any further round trip the "
            "first event needs (a send's claim and transaction, an install's state). With TracingMode=Active in "
            "Lambda, add the X-Ray SDK."
        )
    over_ratios = [r["ratio"] for r in over]
    if statistics.median(over_ratios) > 1.2:
        o_ms = statistics.median(r["own_ms"] for r in over)
        d_ms = statistics.median(r["dynamodb_ms"] for r in over)
        misses.append(
            f"- **Send path above 1.2x a bare post.** Of its own {o_ms:.0f} ms, {d_ms:.0f} ms are its three "
            "DynamoDB round trips to moto's server (the calls the cost table counts, each a few milliseconds in "
            "AWS); the rest is the function's own work around the one Slack call. Without those calls the ratio "
            f"is {statistics.median(r['ratio_beyond_dynamodb'] for r in over):.2f}."
        )
    if tp_ratios and statistics.median(tp_ratios) > 1.15:
        capacity = statistics.median(r["control_wall_s"] for r in tps)
        cycles = statistics.median(float(r["throttled"] or 0) for r in tps) / tp["channels"]
        why = (
            f"With no limit at all the same messages took {capacity:.1f} s (median) against a floor of "
            f"{tp['floor_s']:.1f} s: one Python process plays five Lambda containers, DynamoDB (moto's server) and "
            "Slack on this machine's CPUs, and is busy most of the time. "
            if capacity > 0.5 * tp["floor_s"]
            else ""
        )
        misses.append(
            f"- **Throughput above 1.15x the floor.** {why}Each channel was throttled about {cycles:.0f} times: "
            "each time it waits Slack's whole-second Retry-After (the bucket is full again by then), then the "
            "receive that brings the group back and the throttled attempt itself (its claim, its 429, its record "
            "and the hand-back). Waiting out the Retry-After inside the function would save only the receive, "
            "for a second of billed Lambda time per throttle."
        )
    if misses:
        lines += ["## Goals not met, and why", "", *misses, ""]
    return "\n".join(lines)


def _burst_section(results: list[dict[str, Any]]) -> list[str]:
    from benchmarks.burst import render, summarize

    return render({"runs": results, "summary": summarize(results)})


def measure(args: Any, run: int) -> dict[str, Any]:
    """One run of every measurement, on a fresh local stack (its own tables and queues: moto's state
    is the process's, so each run's stack has its own name)."""
    stack = LocalStack(api_port=0, aws_port=0, slack_port=0, name=f"bench{run}", consumers=False, health_interval=3600)
    stack.start()
    try:
        from benchmarks.burst import repeat
        from slack_integration import dependencies
        from slack_integration.models.api import ChannelSelection

        assert stack.runtime is not None
        with stack.runtime.environment_of("SetChannelFunction"):
            dependencies.current().channels.set_notification_channel(
                DEMO_USER, ChannelSelection.model_validate({"channelId": "C0DEMOALR01"})
            )
        # The reply and thread samples name deployment-42: deliver it once so they find a thread.
        first = sample("send.json")
        record = first["Records"][0]
        record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))
        stack.runtime.invoke("SendFunction", first)
        quick = args.quick

        def step(name: str) -> None:
            print(f"run {run + 1}/{args.runs}: {name}...", file=sys.stderr, flush=True)

        step("cold start")
        cold = cold_start(stack, args.rounds)
        step("cost per message")
        cost = cost_per_message(stack, 10 if quick else 50)
        step("overhead")
        over = overhead(stack, 20 if quick else 60, seed=run)
        step("throughput")
        sizes = (60, 3) if quick else (200, 5)
        # The same load without a limit first: how fast this machine's stack posts at all.
        control = throughput(stack, *sizes, None, "FREE")
        tp = throughput(stack, *sizes, 2.0, "LIMIT")
        tp["control_wall_s"] = control["wall_s"]
        tp["control_delivered"] = control["delivered"]
        tp["against_capacity"] = tp["wall_s"] / max(tp["floor_s"], control["wall_s"])
        step("burst under faults")
        # Paired with the same burst without faults (repeat's control), which goes first alternating.
        burst = repeat(
            stack, runs=1, seed=run, messages=40 if quick else 200, per_second=5.0, faults=6 if quick else 26
        )["runs"][0]
    finally:
        stack.stop()
    return {"cold": cold, "cost": cost, "over": over, "tp": tp, "burst": burst}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    parser.add_argument("--quick", action="store_true", help="one run, fewer rounds and messages (a smoke run)")
    parser.add_argument("--runs", type=int, default=None, help="how many runs (default 3; --quick: 1)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.rounds = 2 if args.quick else 3
    runs = [measure(args, run) for run in range(args.runs)]
    text = report(runs, args)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
