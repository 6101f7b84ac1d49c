"""Operator command line, configured from the same environment variables as the functions.

    python -m slack_integration.admin connect --user-id U --team-id T --team-name NAME --bot-token xoxb-...
    python -m slack_integration.admin disconnect --user-id U
    python -m slack_integration.admin list
    python -m slack_integration.admin stats [--start 2026-11-26T00:00:00Z] [--end ...] [--user-id U]
    python -m slack_integration.admin health [--user-id U]
    python -m slack_integration.admin redrive --queue send|reply [--code CODE ...] [--dry-run]

Each prints JSON lines (an integration per line, or one stats / health object; never a token).
Pass `--bot-token -` to read the token from standard input and keep it out of the shell history
and the process list.
Exit codes: 0 done, 1 the service refused (message on stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from pydantic import SecretStr

from slack_integration import dependencies
from slack_integration.config import ConfigError, queue_urls
from slack_integration.errors import ServiceError
from slack_integration.models.integration import Integration
from slack_integration.observability import logger


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m slack_integration.admin", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    connect = commands.add_parser("connect", help="store a bot token and create or update the user's integration")
    connect.add_argument("--user-id", required=True)
    connect.add_argument("--team-id", required=True)
    connect.add_argument("--team-name", required=True)
    connect.add_argument("--bot-token", required=True, help="xoxb-... or - to read it from stdin")
    disconnect = commands.add_parser("disconnect", help="delete the user's token and deactivate the integration")
    disconnect.add_argument("--user-id", required=True)
    commands.add_parser("list", help="print every integration")
    stats = commands.add_parser("stats", help="messaging KPIs over a window (default: the last 24 hours)")
    stats.add_argument("--start", help="ISO-8601, e.g. 2026-11-26T00:00:00Z")
    stats.add_argument("--end", help="ISO-8601; default now")
    stats.add_argument("--user-id", help="one user's integration instead of all")
    health = commands.add_parser("health", help="check integrations now (all active ones: a sweep)")
    health.add_argument("--user-id", help="check only this user's integration")
    redrive = commands.add_parser("redrive", help="move dead-lettered messages back to their queue (codes shown)")
    redrive.add_argument("--queue", choices=["send", "reply"], required=True)
    redrive.add_argument("--code", action="append", help="only messages dead-lettered with this errorCode")
    redrive.add_argument("--dry-run", action="store_true", help="count the DLQ's messages by errorCode, move none")
    redrive.add_argument("--limit", type=int, default=1000)
    return parser


def _print(integration: Integration, out: TextIO) -> None:
    out.write(json.dumps(integration.public_view(), sort_keys=True) + "\n")


def _health(user_id: str | None, out: TextIO) -> None:
    if user_id is None:
        settings = dependencies.current().settings
        result = dependencies.current().health.sweep(
            deadline=time.time() + 3600, concurrency=settings.health_concurrency, page_size=settings.health_page_size
        )
        out.write(json.dumps(result.summary(), sort_keys=True) + "\n")
        return
    integration = dependencies.current().integrations.require(user_id)
    report = dependencies.current().health.check(integration)
    answer = {
        "userId": user_id,
        "status": report.status.value,
        "checkedAt": report.checked_at,
        "throttled": report.throttled,
    }
    if report.error:
        answer |= {"code": report.error.code, "error": report.error.message}
    out.write(json.dumps(answer, sort_keys=True) + "\n")


def _redrive(args: argparse.Namespace, out: TextIO) -> None:
    from slack_integration.redrive import redrive

    urls = queue_urls(args.queue.upper(), dead_letter=True)
    assert urls.dead_letter_queue_url is not None
    report = redrive(
        urls.dead_letter_queue_url,
        urls.queue_url,
        codes=set(args.code) if args.code else None,
        dry_run=args.dry_run,
        limit=args.limit,
    )
    out.write(json.dumps(report.summary(), sort_keys=True) + "\n")


def _read_token(value: str, stdin: TextIO) -> SecretStr:
    token = stdin.readline().strip() if value == "-" else value.strip()
    if not token.startswith("xoxb-"):
        raise ValueError("--bot-token must be a Slack bot token (xoxb-...)")
    return SecretStr(token)


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    args = _parser().parse_args(argv)
    try:
        services = dependencies.current()  # validates the environment first
        if args.command == "connect":
            token = _read_token(args.bot_token, stdin)
            _print(services.installation.connect(args.user_id, args.team_id, args.team_name, token), out)
        elif args.command == "disconnect":
            _print(services.installation.disconnect(args.user_id), out)
        elif args.command == "stats":
            service = services.stats
            if args.user_id:
                stats = service.for_user(args.user_id, args.start, args.end)
            else:
                stats = service.for_everyone(args.start, args.end)
            out.write(stats.model_dump_json(by_alias=True) + "\n")
        elif args.command == "health":
            _health(args.user_id, out)
        elif args.command == "redrive":
            _redrive(args, out)
        else:
            for integration in services.integrations.scan():
                _print(integration, out)
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        print(f"error: {exc.message} ({exc.code}){detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Standard output carries only the JSON lines; the service's logs go to stderr.
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    sys.exit(main())
