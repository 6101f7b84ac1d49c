"""The local stack's command line: `python -m local.stack` (what `make run` runs).

Starts the stack (local.stack.LocalStack), prints where everything runs and how to call it, and
stops everything on Ctrl-C or SIGTERM. The state (tables, queues, secrets, the emulator's Slack)
is kept in a state directory across restarts (--state-dir, default .local-state; --reset wipes
it), unless --in-memory; at stop it says how many messages were still queued and what becomes
of them.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from local.persistence import Restored, StateDir, StateError
from local.stack import LocalStack, StackInfo
from local.template import ROOT

DEFAULT_STATE_DIR = ROOT / ".local-state"
IN_MEMORY = (
    f"IN MEMORY: everything is lost at Ctrl-C; run without --in-memory to keep state in {DEFAULT_STATE_DIR.name}"
)
# How the stop message names the queues (local.persistence.COUNTED_QUEUES).
QUEUE_LABELS = {
    "SendQueue": "send",
    "ReplyQueue": "reply",
    "DomainEventsQueue": "domain events",
    "SendDeadLetterQueue": "send dead-letter",
    "ReplyDeadLetterQueue": "reply dead-letter",
    "DomainEventsDeadLetterQueue": "domain events dead-letter",
}


def shown(path: str | os.PathLike[str]) -> str:
    """A path as the user would type it: relative to the current directory when under it."""
    resolved = Path(path).resolve()
    try:
        return str(resolved.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(resolved)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def state_lines(info: StackInfo, restored: Restored | None) -> str:
    """The banner's words on the state: kept where, restored or fresh, or loudly in memory."""
    if not info.state_dir:
        return f"""
  !!! {IN_MEMORY} !!!
"""
    where = shown(info.state_dir)
    if restored is None:
        what = "started fresh (nothing saved there yet)"
    else:
        messages = _plural(restored.queued, "queued message")
        if restored.dead_lettered:
            messages += f", {restored.dead_lettered} dead-lettered"
        what = f"restored (saved {restored.saved_at}): {_plural(restored.integrations, 'integration')}, {messages}"
    return f"""
  State         {where}: {what}
                saved at Ctrl-C, restored at the next start; start fresh with --reset
"""


def stop_message(queued: dict[str, int], state_dir: str, *, unsaved: int = 0, error: str | None = None) -> str:
    """What stop() left: the messages still queued (kept or lost) and where the state went."""
    total = sum(queued.values())
    lines = []
    if total:
        parts = ", ".join(f"{QUEUE_LABELS.get(q, q)} {n}" for q, n in queued.items() if n)
        head = f"{_plural(total, 'message')} still queued ({parts})"
        if not state_dir:
            lines.append(f"{head}: LOST (in memory)")
        elif error is not None:
            lines.append(f"{head}: LOST, the state could not be saved")
        else:
            tail = "delivered after the next start"
            if any(n and "DeadLetter" in q for q, n in queued.items()):
                tail += " (dead-lettered ones stay in their dead-letter queues)"
            lines.append(f"{head}: kept in {shown(state_dir)}, {tail}")
            if unsaved:
                lines.append(f"  but {_plural(unsaved, 'message')} of them could not be read from moto: LOST")
    else:
        lines.append("No messages queued.")
    if not state_dir:
        lines.append("IN MEMORY: nothing was kept; the next start begins fresh.")
    elif error is not None:
        lines.append(f"NOT SAVED: {error}")
    else:
        lines.append(f"State saved in {shown(state_dir)}: restored at the next start (--reset to start fresh).")
    return "\n".join(lines)


def banner(info: StackInfo, restored: Restored | None = None) -> str:
    slack = "the Slack emulator (demo workspace)" if info.slack_mode == "emulator" else "your Slack workspace"
    return f"""
Buster Slack messaging: local stack is up.

  Dashboard     {info.api_url}/   <- open it in a browser: sign in, Add to Slack, pick a channel, see what was sent
{state_lines(info, restored)}
  HTTP API      {info.api_url}   (every route of template.yaml: JWT, but for Slack's callback and events)
  AWS (moto)    {info.aws_endpoint}   (tables, queues, secrets; region {info.region})
  Slack         {info.slack_api_url}   ({slack})
  Demo user     {info.demo_user}, {"connected before the restart" if restored else "connected through Add to Slack"}
  Add to Slack  {info.connect_url or "(with a real workspace: set up your own Slack app)"}   (open it in a browser)

Dev token (valid 24 h, user {info.demo_user}):
  export TOKEN={info.dev_token}
  (for any other user: make token USER=alice)

Try:
  curl -s -H "Authorization: Bearer $TOKEN" {info.api_url}/integration/channels
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{{"channelId":"C0DEMOALR01"}}' {info.api_url}/integration/channel
  curl -s -H "Authorization: Bearer $TOKEN" {info.api_url}/integration/status
  make demo      # the whole journey against this stack: Add to Slack, send, reply, thread, stats
  make admin ARGS="list"   # the operator command against this stack (stats, health, redrive ...)
  python -m local.slack_emulator uninstall --url {info.slack_api_url.removesuffix("/api/")} --team T0DEMO0001
                 # Slack tells the stack the app was uninstalled (a signed app_uninstalled event)

Queues: send {info.queues["SendQueue"]}
        reply {info.queues["ReplyQueue"]}
Ctrl-C stops everything{_at_stop(info)}.
"""


def _at_stop(info: StackInfo) -> str:
    return f" and saves the state in {shown(info.state_dir)}" if info.state_dir else ": IN MEMORY, nothing is kept"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m local.stack", description="Run the whole product locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "5000")))
    parser.add_argument("--slack-port", type=int, default=int(os.environ.get("LOCAL_SLACK_PORT", "3001")))
    parser.add_argument("--health-interval", type=float, default=900.0, help="seconds between health sweeps")
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs and metrics")
    parser.add_argument("--token-rotation", action="store_true", help="the emulated Slack app rotates its tokens")
    parser.add_argument("--exit-when-ready", action="store_true", help="start, print the banner, stop (a smoke test)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("LOCAL_STATE_DIR") or DEFAULT_STATE_DIR),
        help=f"where the state is kept across restarts (default: LOCAL_STATE_DIR or {shown(DEFAULT_STATE_DIR)})",
    )
    parser.add_argument("--in-memory", action="store_true", help="keep nothing: everything is lost at stop")
    parser.add_argument("--reset", action="store_true", help="wipe the state dir before starting (start fresh)")
    args = parser.parse_args(argv)
    if args.in_memory and args.reset:
        parser.error("--reset wipes the state dir, --in-memory does not use one: choose one")
    state_dir = None if args.in_memory else args.state_dir
    if args.reset and StateDir(args.state_dir).reset():
        print(f"--reset: the state in {shown(args.state_dir)} was wiped.", flush=True)

    stack = LocalStack(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        slack_port=args.slack_port,
        slack_bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
        slack_api_url=os.environ.get("SLACK_API_URL") or None,
        health_interval=args.health_interval,
        verbose=args.verbose,
        token_rotation=args.token_rotation,
        state_dir=state_dir,
    )
    try:
        info = stack.start()
    except (OSError, StateError) as err:
        print(f"cannot start the local stack: {err}", file=sys.stderr)
        stack.stop()
        return 1
    print(banner(info, stack.restored), flush=True)
    if not args.exit_when_ready:
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        while not stopped.wait(0.5):
            pass
        print("Stopping...", flush=True)
    return _stop(stack, info)


def _stop(stack: LocalStack, info: StackInfo) -> int:
    try:
        stack.stop()
    except StateError as err:
        print(stop_message(stack.queued_at_stop, info.state_dir, error=str(err)), file=sys.stderr, flush=True)
        return 1
    print(stop_message(stack.queued_at_stop, info.state_dir, unsaved=stack.unsaved_at_stop), flush=True)
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
