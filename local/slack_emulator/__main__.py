"""Run the emulator from a shell: `python -m local.slack_emulator --port 3001 [--seed FILE.json]`,
or steer a running one: `python -m local.slack_emulator event|uninstall|channel|messages ...`
(cli.py; `python -m local.slack_emulator COMMAND --help` for each).

Without `--seed` it loads the bundled demo workspace, so the local stack has something to list.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from local.slack_emulator import cli
from local.slack_emulator.emulator import SlackEmulator

DEMO_SEED = Path(__file__).with_name("demo_seed.json")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.slack_emulator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=3001, help="port to bind, 0 = any (default: %(default)s)")
    parser.add_argument("--seed", type=Path, default=DEMO_SEED, help="seed JSON file (default: the demo seed)")
    cli.add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (default: serve)"))
    args = parser.parse_args(argv)
    if args.command is not None:
        return cli.run(args, parser)
    return serve(args.host, args.port, args.seed)


def serve(host: str, port: int, seed: Path) -> int:
    emulator = SlackEmulator()
    try:
        emulator.load_seed(seed)
    except (OSError, ValueError, KeyError, TypeError) as err:
        print(f"cannot load seed {seed}: {err!r}", file=sys.stderr)
        return 2
    try:
        base_url = emulator.start(host=host, port=port)
    except OSError as err:
        print(f"cannot listen on {host}:{port}: {err}", file=sys.stderr)
        return 1

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(base_url, flush=True)
    print(f"OAuth authorize page: {emulator.authorize_url}", file=sys.stderr)
    if host not in _LOOPBACK:
        # The control endpoint and the authorize page have no authentication at all.
        print(f"warning: serving on {host}, not loopback: anyone who can reach it can steer it", file=sys.stderr)
    print("Slack emulator running; Ctrl-C to stop.", file=sys.stderr, flush=True)
    stop_requested.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
