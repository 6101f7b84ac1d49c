"""The shell side of the control endpoint (control.py): subcommands of `python -m local.slack_emulator`
that make a running emulator send events or change its state, and print its JSON answer.

    event     --team T (--type channel_archive --channel C | --json '{...}') [--client-id ID]
              [--retry-num N] [--event-id ID]      send one signed event, nothing else changes
    uninstall --team T [--client-id ID]            revoke the install's tokens, send the events
    channel   --team T --channel C archive|unarchive|delete|rename [--name N]
                                                   change the channel, send the event
    messages  --channel C                          what the channel has received
    fault     --method M --kind K [--times N] [--retry-after S] [--status H] [--error E] [--delay S]
                                                   break Slack on purpose for the next N calls of M
    latency   --method M --median-ms MS [--p95-ms MS] [--seed N]
                                                   answer M after a log-normal delay (0 = off again)

Every subcommand takes `--url` (default http://127.0.0.1:3001, the emulator's default port).
Exit status 1 when the emulator refuses the request or cannot be reached, or when an app did not
answer one of its events with a 2xx.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from local.slack_emulator.emulator import CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS

DEFAULT_URL = "http://127.0.0.1:3001"
# Longer than a few deliveries at the emulator's 5 s timeout each.
REQUEST_TIMEOUT_SECONDS = 60.0
# Events `event --type` can build from a channel id alone; others go through --json (or the
# `channel` subcommand, which fills in the rest from the emulator's state).
BUILT_EVENTS = ("channel_archive", "channel_unarchive", "channel_deleted", "app_uninstalled")
COMMANDS = ("event", "uninstall", "channel", "messages", "fault", "latency")
FAULT_KINDS = ("ratelimited", "error", "server_error", "drop_before", "drop_after", "slow")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def add_commands(subparsers: Any) -> None:
    """Register the control subcommands on the main parser's subparsers."""
    event = _command(subparsers, "event", "send one signed event to an app (state is not changed)")
    event.add_argument("--team", required=True, help="workspace (team id) the event happened in")
    kind = event.add_mutually_exclusive_group(required=True)
    kind.add_argument("--type", choices=BUILT_EVENTS, help="build this event from --channel (and --user)")
    kind.add_argument("--json", help='the inner event as a JSON object, e.g. \'{"type": "app_mention", ...}\'')
    event.add_argument("--channel", help="channel id, for --type channel_*")
    event.add_argument("--user", help="who acted, for --type channel_archive / channel_unarchive")
    event.add_argument("--client-id", help="the app to send it to (needed when several apps get events)")
    event.add_argument("--retry-num", type=int, help="send it as Slack's retry number N (http_timeout)")
    event.add_argument("--event-id", help="reuse an event id, e.g. to replay an event as its retry")

    uninstall = _command(subparsers, "uninstall", "uninstall the app: revoke its tokens, send the events")
    uninstall.add_argument("--team", required=True)
    uninstall.add_argument("--client-id", help="only this app (default: the workspace's install)")

    channel = _command(subparsers, "channel", "archive, unarchive, delete or rename a channel, send the event")
    channel.add_argument("--team", required=True)
    channel.add_argument("--channel", required=True, help="channel id")
    channel.add_argument("action", choices=("archive", "unarchive", "delete", "rename"))
    channel.add_argument("--name", help="the new name, for rename")

    messages = _command(subparsers, "messages", "print what a channel has received")
    messages.add_argument("--channel", required=True, help="channel id")

    fault = _command(subparsers, "fault", "make the next calls of a Slack method fail (see inject_fault)")
    fault.add_argument("--method", required=True, help='a Web API method such as chat.postMessage, or "*"')
    fault.add_argument("--kind", required=True, choices=FAULT_KINDS)
    fault.add_argument("--times", type=int, help="how many calls (default 1)")
    fault.add_argument("--retry-after", type=int, help="seconds, for ratelimited")
    fault.add_argument("--status", type=int, help="HTTP status to answer with")
    fault.add_argument("--error", help="Slack error string, for error (default internal_error)")
    fault.add_argument("--delay", type=float, help="seconds, for slow")

    latency = _command(subparsers, "latency", "make every call of a Slack method wait first (see set_latency)")
    latency.add_argument("--method", required=True, help='a Web API method such as chat.postMessage, or "*"')
    latency.add_argument(
        "--median-ms",
        required=True,
        type=float,
        help=f"median delay in ms, 0 = off (chat.postMessage's documented one: {CHAT_POST_MESSAGE_MEDIAN_MS:g})",
    )
    latency.add_argument(
        "--p95-ms",
        type=float,
        help=f"95th percentile in ms (default: always the median; chat.postMessage's: {CHAT_POST_MESSAGE_P95_MS:g})",
    )
    latency.add_argument("--seed", type=int, help="make the delays repeatable")


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    base = args.url.rstrip("/").removesuffix("/api")
    if args.command == "event":
        answer = _post(base, "/_emulator/events", _event_request(args, parser))
    elif args.command == "uninstall":
        answer = _post(base, "/_emulator/uninstall", _without_none(team_id=args.team, client_id=args.client_id))
    elif args.command == "channel":
        if args.action == "rename" and not args.name:
            parser.error("channel ... rename needs --name")
        request = _without_none(action=args.action, team_id=args.team, channel_id=args.channel, name=args.name)
        answer = _post(base, "/_emulator/channels", request)
    elif args.command == "fault":
        request = _without_none(
            method=args.method,
            kind=args.kind,
            times=args.times,
            retry_after=args.retry_after,
            status=args.status,
            error=args.error,
            delay=args.delay,
        )
        answer = _post(base, "/_emulator/faults", request)
    elif args.command == "latency":
        request = {"method": args.method, "median_ms": args.median_ms} | _without_none(
            p95_ms=args.p95_ms, seed=args.seed
        )
        answer = _post(base, "/_emulator/latency", request)
    else:
        url = f"{base}/_emulator/channels/{urllib.parse.quote(args.channel, safe='')}/messages"
        answer = _call(urllib.request.Request(url))  # noqa: S310  (the user's own emulator URL)
    print(json.dumps(answer, indent=2))
    return 0 if _succeeded(answer) else 1


def _command(subparsers: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help_text, description=help_text)
    command.add_argument("--url", default=DEFAULT_URL, help="the running emulator (default: %(default)s)")
    return command


def _event_request(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    if args.json is not None:
        try:
            event = json.loads(args.json)
        except ValueError:
            parser.error("--json is not valid JSON")
    elif args.type == "app_uninstalled":
        event = {"type": "app_uninstalled"}
    else:
        if not args.channel:
            parser.error(f"--type {args.type} needs --channel")
        event = {"type": args.type, "channel": args.channel}
        if args.type != "channel_deleted":  # Slack's channel_deleted carries the channel only
            event |= _without_none(user=args.user, event_ts=f"{time.time():.6f}")
    return _without_none(
        team_id=args.team, client_id=args.client_id, event=event, retry_num=args.retry_num, event_id=args.event_id
    )


def _post(base: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310  (an http URL the user gave for their own emulator)
        f"{base}{path}",
        data=json.dumps(payload).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    return _call(request)


def _call(request: urllib.request.Request) -> dict[str, Any]:
    try:
        with _OPENER.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            raw = response.read()
    except urllib.error.HTTPError as err:  # the emulator's 400s carry {"ok": false, "error": ...}
        raw = err.read()
    except (urllib.error.URLError, OSError) as err:
        return {"ok": False, "error": "emulator_unreachable", "detail": str(getattr(err, "reason", err))}
    try:
        answer = json.loads(raw.decode("utf-8"))
    except ValueError:
        return {"ok": False, "error": "not_json", "detail": raw[:200].decode("utf-8", "replace")}
    return answer if isinstance(answer, dict) else {"ok": False, "error": "not_json", "detail": str(answer)[:200]}


def _succeeded(answer: dict[str, Any]) -> bool:
    deliveries = answer.get("deliveries") or []
    delivered = all(isinstance(d.get("status"), int) and 200 <= d["status"] < 300 for d in deliveries)
    return answer.get("ok") is True and delivered


def _without_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
