"""`make admin ARGS="list"`: the operator command against the running local stack, with nothing to copy.

    python -m local.admin [--api http://127.0.0.1:3000] <admin args...>   e.g. list, stats --user-id U,
                                                                          redrive --queue send --dry-run
    python -m local.admin --print-env       export lines for a shell: eval "$(python -m local.admin --print-env)"

It asks the stack (GET /_local/env) for the environment its functions run with (tables, queues and
their dead-letter queues, the token prefix, the Slack app's secret name, Slack's URL, moto's
endpoint and its literal "local" credentials), sets it, and runs `python -m slack_integration.admin`
with the arguments given, returning its exit code. LOCAL_API_URL says where the stack runs when
--api does not (default port 3000). No stack answering is exit 2, with what to do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import TextIO

# What a developer's shell may hold that would take boto3 elsewhere than the stack's moto (a
# profile wins over nothing, and a session token would ride along with the "local" keys).
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


class NoStack(RuntimeError):
    """No local stack answers /_local/env at the given address."""


def stack_environment(api: str, timeout: float = 5.0) -> dict[str, str]:
    url = f"{api.rstrip('/')}/_local/env"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - the local stack, on loopback
            environment = json.loads(answer.read())
    except urllib.error.HTTPError as err:
        raise NoStack(
            f"the local stack at {api} does not serve /_local/env (HTTP {err.code}); restart it with make run"
        ) from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise NoStack(f"no local stack answers at {api} ({reason}); start one with make run, or pass --api") from None
    if not isinstance(environment, dict) or not all(isinstance(v, str) for v in environment.values()):
        raise NoStack(f"{url} did not answer an environment (is that a local stack?)")
    return environment


def export_lines(environment: dict[str, str]) -> str:
    lines = [f"unset {' '.join(UNSET)}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(environment.items())]
    return "\n".join(lines) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local.admin",
        description="Run python -m slack_integration.admin against the running local stack (make run).",
        epilog="Everything after the options goes to slack_integration.admin, e.g. list, "
        "stats --user-id U, health, redrive --queue send --dry-run.",
    )
    parser.add_argument(
        "--api",
        default=os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000"),
        help="the local stack's HTTP API (default $LOCAL_API_URL or http://127.0.0.1:3000)",
    )
    parser.add_argument("--print-env", action="store_true", help="print export lines for a shell instead of running")
    parser.add_argument("admin", nargs=argparse.REMAINDER, help="the admin command and its arguments")
    return parser


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, out: TextIO | None = None, *, cli: bool = False
) -> int:
    """`cli`: this process is the command (python -m local.admin): the service's logs go to stderr."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    out = sys.stdout if out is None else out
    if not args.print_env and not args.admin:
        print(
            "usage: make admin ARGS='<command> ...' (list, stats, health, redrive, connect, disconnect)",
            file=sys.stderr,
        )
        return 2
    try:
        environment = stack_environment(args.api)
    except NoStack as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_env:
        out.write(export_lines(environment))
        return 0
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(environment)
    # Imported only now, so the layer (and Powertools) read the stack's environment as they load.
    from slack_integration import admin, dependencies
    from slack_integration.config import ConfigError, load_settings
    from slack_integration.observability import logger

    handler = logger.registered_handler
    if cli and isinstance(handler, logging.StreamHandler):
        # Standard output carries only the command's JSON lines (as python -m slack_integration.admin).
        handler.setStream(sys.stderr)
    try:
        container = dependencies.Container(load_settings())
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # Its own container, built from what the stack said (not whatever this process had before).
    with dependencies.use(container):
        return admin.main(args.admin, stdin=sys.stdin if stdin is None else stdin, out=out)


if __name__ == "__main__":
    sys.exit(main(cli=True))
