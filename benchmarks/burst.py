"""A burst under faults (issue 17): one user's notifications through Slack's per-channel limit while
Slack fails now and then, measured against the floor that Slack itself imposes.

One fresh user (one channel, so one FIFO group) gets `messages` tracked notifications at once; the
emulator allows `per_second` posts a second in that channel and, spread over the run, answers
`faults` of the posts with a 429 + Retry-After, a 503 page, or a connection dropped before or after
it stored the post. The floor is what Slack asked for: the rate limit after the first burst, plus
the Retry-After seconds of the injected 429s (the limiter's own 429s are the rate floor itself).
Every figure comes out of the same run, side by side: wall / floor, latencies, and whether each
notification arrived once, in order, with nothing dead-lettered.

    from benchmarks.burst import burst_under_faults, render, repeat
    result = burst_under_faults(stack)            # one run
    results = repeat(stack, runs=3)               # several runs, median and spread
    lines = render(results)                       # Markdown for RESULTS.md
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local.stack import LocalStack

KINDS = ("ratelimited", "server_error", "drop_before", "drop_after")
# What an injected 429 asks for: Slack's per-channel Retry-After is a second or a few.
RETRY_AFTER_RANGE = (1, 3)
# After the last notification arrives: anything posted twice (a retry after a dropped connection,
# say) would show up by now.
LINGER_SECONDS = 3.0
POLL_SECONDS = 0.05
# Give up after this many floors, at most MAX_WAIT_SECONDS (and never sooner than MIN_WAIT_SECONDS,
# which a dropped connection's 30 s settle needs on a short run).
DEADLINE_FLOORS = 10
MIN_WAIT_SECONDS = 90.0
MAX_WAIT_SECONDS = 600.0
# A pause between two consecutive posts longer than this is a stall (at 5/s a post waits at most
# the limiter's 1 s Retry-After plus a receive); shorter ones are the rate limit at work.
STALL_SECONDS = 1.5
GOAL_RATIO = 1.5
# The delivery records' failure codes, by the stall they explain (most telling first).
_CAUSES = (
    ("SLACK_UNREACHABLE", "dropped connection"),
    ("SLACK_TIMEOUT", "dropped connection"),
    ("SLACK_UNAVAILABLE", "503 page"),
    ("DELIVERY_IN_PROGRESS", "another attempt's lease"),
    ("SLACK_RATE_LIMITED", "429"),
)


@dataclass(frozen=True)
class PlannedFault:
    kind: str
    # Armed once this many of the burst's notifications are in the channel; fires on the next post.
    at_delivered: int
    retry_after: int = 0  # ratelimited only


def plan(messages: int, faults: int, seed: int) -> list[PlannedFault]:
    """The fault schedule, deterministic from `seed`: the four kinds about a quarter each, in a
    shuffled order, evenly spread over the burst's progress (never before the first post nor
    after the last), 429s with a Retry-After of 1-3 s."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible schedule, not a secret
    faults = max(0, min(faults, messages))
    kinds = [KINDS[n % len(KINDS)] for n in range(faults)]
    rng.shuffle(kinds)
    schedule = []
    for n, kind in enumerate(kinds):
        at = int((n + 0.5) * messages / faults)
        retry_after = rng.randint(*RETRY_AFTER_RANGE) if kind == "ratelimited" else 0
        schedule.append(PlannedFault(kind, at, retry_after))
    return schedule


def burst_under_faults(
    stack: LocalStack, *, messages: int = 200, per_second: float = 5.0, faults: int = 26, seed: int = 0
) -> dict[str, Any]:
    """`messages` tracked notifications to one fresh user, all enqueued at once, through the
    stack's pollers against a `per_second` limit with `faults` faults; returns the measurements
    (see render()). Gives up after min(10 floors, 600 s) and reports what was left (`lost`,
    `missing`, `queue_left`: those stay queued and reach their unwatched channel whenever the
    consumers next run). Leaves the emulator with no limit and no armed fault, and the consumers
    as it found them."""
    info = stack.info
    emulator = stack.emulator
    assert info is not None and emulator is not None and stack.runtime is not None
    run = time.time_ns()
    user, team, channel = _fresh_user(stack, run)
    # Slack: "1 message per second per channel, short bursts allowed", burst size unsaid. As
    # throughput(): a burst of one second's worth, so the rate floor is the same formula.
    burst = max(1, int(per_second))
    schedule = plan(messages, faults, seed)
    rate_floor = max(0.0, (messages - burst) / per_second)
    planned_floor = rate_floor + sum(fault.retry_after for fault in schedule)
    budget = min(MAX_WAIT_SECONDS, max(MIN_WAIT_SECONDS, DEADLINE_FLOORS * planned_floor))

    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    from slack_integration.producer import NotificationProducer

    producer = NotificationProducer(info.queues["SendQueue"], info.queues["ReplyQueue"], sqs=sqs)
    calls_before = len(emulator.calls())
    limiter_before = emulator.post_rate_limit_stats()
    # The pollers run for the whole measurement: started now unless an earlier measurement left
    # them running (start_consumers is a no-op then), so both cases measure the same thing.
    consumers_were_running = bool(stack._pollers)
    stack.start_consumers()
    emulator.set_post_rate_limit(per_second, burst=burst)
    prefix = f"b{run}-"
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    enqueued_at: list[float] = []
    armed = 0
    try:
        started_epoch, started = time.time(), time.monotonic()
        # As fast as possible, in order; each chunk of ten is one SendMessageBatch, timed when asked.
        for start in range(0, messages, 10):
            chunk = range(start, min(messages, start + 10))
            asked = time.time()
            result = producer.send_bulk(
                {"userId": user, "internalMessageId": f"{prefix}{n}", "message": {"text": f"{prefix}{n}"}}
                for n in chunk
            )
            assert not result.rejected, result.rejected
            enqueued_at.extend(asked for _ in chunk)
        deadline = started + budget

        def arrived() -> set[int]:
            return {int(match.group(1)) for match, _ in _matches(emulator.messages(channel), pattern)}

        seen = arrived()
        while len(seen) < messages and time.monotonic() < deadline:
            # One fault armed at a time (armed faults all count their `after` calls down together,
            # and the first ready one fires), each once its share of the burst has arrived.
            if (
                armed < len(schedule)
                and len(seen) >= schedule[armed].at_delivered
                and len(_fired(emulator, calls_before, team)) == armed
            ):
                fault = schedule[armed]
                options = {"retry_after": fault.retry_after} if fault.kind == "ratelimited" else {}
                emulator.inject_fault("chat.postMessage", fault.kind, **options)
                armed += 1
            time.sleep(POLL_SECONDS)
            seen = arrived()
        drained = len(seen) >= messages
        observed_wall = time.monotonic() - started
        if drained:
            time.sleep(LINGER_SECONDS)
    finally:
        emulator.set_post_rate_limit(None)
        fired = _fired(emulator, calls_before, team)
        left_armed = _disarm(emulator, armed - len(fired))
        limiter_after = emulator.post_rate_limit_stats()
        if not consumers_were_running:
            stack.pause_delivery()

    stored = _matches(emulator.messages(channel), pattern)
    first_ts: dict[int, float] = {}
    for match, message in stored:
        first_ts.setdefault(int(match.group(1)), float(message["ts"]))
    order = list(first_ts)  # stored in ts order
    latencies = [first_ts[n] - enqueued_at[n] for n in order]
    wall = (max(first_ts.values()) - started_epoch) if drained else observed_wall
    calls = [c for c in emulator.calls()[calls_before:] if c["team_id"] == team]
    posts = [c for c in calls if c["method"] == "chat.postMessage"]
    # calls() does not keep the Retry-After header: the faults fire one at a time, in the plan's order.
    injected_retry_after = sum(fault.retry_after for fault, _ in zip(schedule, fired, strict=False))
    limiter_429s = sum(1 for c in posts if c["status"] == 429 and c["fault"] is None)
    floor = rate_floor + injected_retry_after
    records = _delivery_records(stack, user)
    dead = _dead_letters(stack, user)
    missing = sorted(set(range(messages)) - set(first_ts))
    depth = sqs.get_queue_attributes(
        QueueUrl=info.queues["SendQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return {
        "messages": messages,
        "per_second": per_second,
        "burst": burst,
        "seed": seed,
        "drained": drained,
        "gave_up_after_s": None if drained else round(budget, 1),
        "wall_s": wall,
        "rate_floor_s": rate_floor,
        "floor_s": floor,
        "ratio": wall / floor if floor else None,
        "latency_median_s": statistics.median(latencies) if latencies else None,
        "latency_p95_s": _percentile(latencies, 0.95),
        "delivered": len(first_ts),
        "lost": len(missing),
        "missing": missing[:20],
        # Still on the send queue (any user's) when the measurement ended: what a give-up left.
        "queue_left": sum(int(value) for value in depth.values()),
        "duplicates": len(stored) - len(first_ts),
        "inversions": _inversions(order),
        "order": order,
        "in_order": order == sorted(order),
        "faults_planned": dict(Counter(fault.kind for fault in schedule)),
        "faults_fired": dict(Counter(fired)),
        "faults_left_armed": left_armed,
        "faults_as_planned": fired == [fault.kind for fault in schedule[: len(fired)]],
        "injected_retry_after_s": injected_retry_after,
        # The limiter's Retry-After: whole seconds until a token is back, at least 1 (so exactly 1
        # at 1 post/s or more); calls() does not record the header.
        "limiter_429s": limiter_429s,
        "limiter_retry_after_s": limiter_429s * max(1, math.ceil(1 / per_second)),
        "limiter_stats": {k: limiter_after.get(k, 0) - limiter_before.get(k, 0) for k in limiter_after},
        "slack_calls": dict(Counter(f"{c['status']} {c['fault'] or ''}".strip() for c in posts)),
        "history_reads": sum(1 for c in calls if c["method"].startswith("conversations.")),
        "dead_lettered": len(dead),
        "dead_letter_codes": dict(Counter(dead)),
        "attempts": dict(sorted(Counter(int(record.get("attempts", 0)) for record in records).items())),
        "outcomes": dict(
            Counter(f"{o.get('outcome')} {o.get('code') or ''}".strip() for r in records for o in r.get("outcomes", []))
        ),
        "stalls": _stalls(sorted(first_ts.values()), started_epoch, records),
    }


def repeat(stack: LocalStack, runs: int = 3, *, control: bool = True, **options: Any) -> dict[str, Any]:
    """`runs` bursts one after another (seeds seed, seed+1, ...: a different fault order each),
    with the median and spread (min, max) of each figure. With `control`, each run is paired with
    the same burst without faults (which one goes first alternates), so `ratio_to_control` says
    what the faults cost apart from how fast this machine's stack posts at all."""
    seed = int(options.pop("seed", 0))
    results = []
    for n in range(runs):
        faulted: dict[str, Any] | None = None
        clean: dict[str, Any] | None = None
        for first in (n % 2 == 0, n % 2 == 1):
            if first:
                faulted = burst_under_faults(stack, seed=seed + n, **options)
            elif control:
                clean = burst_under_faults(stack, seed=seed + n, **{**options, "faults": 0})
        assert faulted is not None
        if clean is not None:
            faulted["control_wall_s"] = clean["wall_s"]
            faulted["control_drained"] = clean["drained"]
            faulted["ratio_to_control"] = faulted["wall_s"] / clean["wall_s"] if clean["wall_s"] else None
        results.append(faulted)
    return {"runs": results, "summary": summarize(results)}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median and spread (min, max) of each figure over several runs."""
    summary: dict[str, Any] = {}
    for key in (
        "wall_s",
        "floor_s",
        "ratio",
        "control_wall_s",
        "ratio_to_control",
        "latency_median_s",
        "latency_p95_s",
    ):
        values = [r[key] for r in results if r.get(key) is not None]
        if values:
            summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    for key in ("lost", "duplicates", "dead_lettered", "inversions"):
        summary[key] = {"median": statistics.median(r[key] for r in results), "max": max(r[key] for r in results)}
    summary["in_order"] = all(r["in_order"] for r in results)
    return summary


# -- setup and readings --------------------------------------------------------------------------


def _fresh_user(stack: LocalStack, run: int) -> tuple[str, str, str]:
    """A workspace, bot token, channel and Buster user of their own, as throughput() makes them."""
    from pydantic import SecretStr

    from slack_integration import dependencies
    from slack_integration.models.api import ChannelSelection

    emulator = stack.emulator
    assert stack.runtime is not None
    tag = f"{run % 10**8:08d}"
    team, token, user = f"T0BURST{tag}", f"xoxb-test-burst-{tag}-tttttttttttt", f"burst-user-{tag}"
    emulator.add_workspace(team, f"Burst {tag}", bot_user_id=f"U0BURST{tag}", bot_id=f"B0BURST{tag}")
    emulator.add_token(token, team)
    channel = emulator.add_channel(team, "burst", is_member=True)
    with stack.runtime.environment_of("SetChannelFunction"):
        services = dependencies.current()
        services.installation.connect(user, team, f"Burst {tag}", SecretStr(token))
        services.channels.set_notification_channel(user, ChannelSelection.model_validate({"channelId": channel["id"]}))
    return user, team, channel["id"]


def _matches(stored: list[dict[str, Any]], pattern: re.Pattern[str]) -> list[tuple[re.Match[str], dict[str, Any]]]:
    """The burst's top-level messages, in ts order."""
    found = []
    for message in stored:
        if message.get("thread_ts") not in (None, message["ts"]):
            continue
        match = pattern.match(message.get("text") or "")
        if match:
            found.append((match, message))
    return found


def _fired(emulator: Any, calls_before: int, team: str) -> list[str]:
    """The kinds of the faults that fired on this burst's posts, in order."""
    return [
        c["fault"]
        for c in emulator.calls()[calls_before:]
        if c["method"] == "chat.postMessage" and c["fault"] is not None and c["team_id"] == team
    ]


def _disarm(emulator: Any, count: int) -> int:
    """Take back the faults this run armed that never fired (the burst ended first), so the next
    measurement starts clean. The emulator has no public way to clear faults short of reset(),
    which would also drop every workspace, hence its state's own list under its lock."""
    if count <= 0:
        return 0
    state = emulator._state
    with state.lock:
        for _ in range(count):
            mine = [n for n, f in enumerate(state.faults) if f.method == "chat.postMessage"]
            if mine:
                del state.faults[mine[-1]]
    return count


def _delivery_records(stack: LocalStack, user: str) -> list[dict[str, Any]]:
    """The user's delivery records (one per notification): attempts, outcomes with times and codes."""
    info = stack.info
    assert info is not None
    dynamodb = boto3.client("dynamodb", endpoint_url=info.aws_endpoint, region_name=info.region)
    deserialize = TypeDeserializer().deserialize
    records: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {
        "TableName": info.tables["DeliveriesTable"],
        "FilterExpression": "userId = :user",
        "ExpressionAttributeValues": {":user": {"S": user}},
    }
    while True:
        page = dynamodb.scan(**arguments)
        records += [{k: deserialize(v) for k, v in item.items()} for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return records
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _dead_letters(stack: LocalStack, user: str) -> list[str]:
    """The error codes of this user's messages on the send DLQ. A message SQS's own redrive moved
    (after maxReceiveCount receives) carries no code. Read by walking the queue with a short
    visibility (a FIFO queue keeps returning a visible group's head), then made visible again."""
    info = stack.info
    assert info is not None
    sqs = boto3.client("sqs", endpoint_url=info.aws_endpoint, region_name=info.region)
    url = info.queues["SendDeadLetterQueue"]
    codes: list[str] = []
    handles: list[str] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            break
        for message in received:
            handles.append(message["ReceiptHandle"])
            try:
                owner = json.loads(message["Body"]).get("userId")
            except ValueError:
                owner = None
            if owner == user:
                attributes = message.get("MessageAttributes", {})
                codes.append(attributes.get("errorCode", {}).get("StringValue") or "moved by SQS redrive (no code)")
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + 10])
            ],
        )
    return codes


def _stalls(posted: list[float], started: float, records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Where the drain time went: every pause between consecutive posts (the first from the first
    enqueue) longer than STALL_SECONDS, named after the most telling failure recorded inside it;
    the remaining pauses are "flowing" (the rate limit at work)."""
    failures = sorted(
        (_epoch(o["at"]), str(o.get("code") or o.get("outcome")))
        for r in records
        for o in r.get("outcomes", [])
        if o.get("outcome") in ("failed", "uncertain")
    )
    stalls: dict[str, dict[str, float]] = {}
    previous = started
    for at in posted:
        gap = at - previous
        inside = {code for when, code in failures if previous <= when < at}
        cause = "flowing" if gap <= STALL_SECONDS else _cause(inside)
        entry = stalls.setdefault(cause, {"count": 0, "seconds": 0.0})
        entry["count"] += 1
        entry["seconds"] += gap
        previous = at
    return stalls


def _cause(codes: set[str]) -> str:
    for code, cause in _CAUSES:
        if code in codes:
            return cause
    return "no recorded failure" if not codes else ", ".join(sorted(codes))


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def _inversions(order: list[int]) -> int:
    """Pairs posted in the opposite order to their enqueueing."""
    return sum(1 for i, a in enumerate(order) for b in order[i + 1 :] if a > b)


# -- report --------------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> list[str]:
    """Markdown lines for RESULTS.md: one run (burst_under_faults) or several (repeat)."""
    runs = result.get("runs") or [result]
    first = runs[0]
    faults = sum(first["faults_planned"].values())
    mix = ", ".join(f"{kind} {first['faults_planned'].get(kind, 0)}" for kind in KINDS)
    lines = [
        f"## A burst under faults ({first['messages']} notifications to one user, {faults} faults,"
        f" {len(runs)} run{'s' if len(runs) > 1 else ''})",
        "",
        f"One user's channel (one FIFO group) gets {first['messages']} tracked notifications at once; the emulator",
        f"allows {first['per_second']:g} posts a second in it (a burst of {first['burst']}) and, spread over the run,",
        f"answers {faults} posts with a fault ({mix}; 429s ask for 1-3 s). The floor is what Slack",
        "asked for: the rate limit after the first burst plus the injected 429s' Retry-After, from the same run.",
        "",
        "| run | wall s | floor s | ratio | no-fault wall s | x no-fault | median latency s | p95 latency s"
        " | delivered | lost or left | duplicates | in order | DLQ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for n, r in enumerate(runs, 1):
        # A give-up's wall is the deadline, not a drain: no ratio to speak of.
        ratio = f"{r['ratio']:.2f}" if r["ratio"] and r["drained"] else "n/a"
        order = "yes" if r["in_order"] else f"no ({r['inversions']} inversions)"
        gave_up = "" if r["drained"] else f" (gave up after {r['gave_up_after_s']:.0f} s)"
        lines.append(
            f"| {n} (seed {r['seed']}) | {r['wall_s']:.1f}{gave_up} | {r['floor_s']:.1f} | {ratio} | "
            f"{_fmt(r.get('control_wall_s'))} | {_fmt(r.get('ratio_to_control') if r['drained'] else None, 2)} | "
            f"{_fmt(r['latency_median_s'])} | {_fmt(r['latency_p95_s'])} | {r['delivered']} | {r['lost']} | "
            f"{r['duplicates']} | {order} | {r['dead_lettered']} |"
        )
    summary = result.get("summary")
    if summary and "ratio" in summary:
        spreads = [
            f"{label} median {summary[key]['median']:.2f}, spread {summary[key]['min']:.2f}-{summary[key]['max']:.2f}"
            for key, label in (("ratio", "Ratio to the floor"), ("ratio_to_control", "ratio to the no-fault burst"))
            if key in summary
        ]
        lines += ["", "; ".join(spreads) + "."]
    stalls: Counter[str] = Counter()
    for r in runs:
        for cause, entry in r["stalls"].items():
            stalls[cause] += entry["seconds"]
    total = sum(stalls.values()) or 1.0
    lines += [
        "",
        "Where the drain time went (pauses between consecutive posts longer than "
        f"{STALL_SECONDS:g} s, by the failure inside them; all runs): "
        + ", ".join(f"{cause} {seconds:.0f} s ({seconds / total:.0%})" for cause, seconds in stalls.most_common())
        + ".",
        "",
        f"Goal: drained within {GOAL_RATIO:g}x the floor, nothing lost, nothing posted twice, in order"
        f" (met: {'yes' if all(_met(r) for r in runs) else 'no'}).",
        "",
    ]
    return lines


def _met(r: dict[str, Any]) -> bool:
    return bool(
        r["drained"]
        and r["ratio"] is not None
        and r["ratio"] <= GOAL_RATIO
        and not r["lost"]
        and not r["duplicates"]
        and r["in_order"]
        and not r["dead_lettered"]
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
