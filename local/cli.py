"""The local stack's command line: `python -m local.stack` (what `make run` runs).

Starts the stack (local.stack.LocalStack), prints where everything runs and how to call it, and
stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import sys
import threading

from local.stack import LocalStack, StackInfo


def banner(info: StackInfo) -> str:
    slack = "the Slack emulator (demo workspace)" if info.slack_mode == "emulator" else "your Slack workspace"
    return f"""
Buster Slack messaging: local stack is up.

  HTTP API      {info.api_url}   (every route of template.yaml: JWT, but for Slack's callback and events)
  AWS (moto)    {info.aws_endpoint}   (tables, queues, secrets; region {info.region})
  Slack         {info.slack_api_url}   ({slack})
  Demo user     {info.demo_user}, connected through Add to Slack
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
  python -m local.slack_emulator uninstall --url {info.slack_api_url.removesuffix("/api/")} --team T0DEMO0001
                 # Slack tells the stack the app was uninstalled (a signed app_uninstalled event)

Queues: send {info.queues["SendQueue"]}
        reply {info.queues["ReplyQueue"]}
Ctrl-C stops everything.
"""


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
    args = parser.parse_args(argv)

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
    )
    try:
        info = stack.start()
    except OSError as err:
        print(f"cannot start the local stack: {err}", file=sys.stderr)
        stack.stop()
        return 1
    print(banner(info), flush=True)
    if args.exit_when_ready:
        stack.stop()
        return 0
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    print("Stopping...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
