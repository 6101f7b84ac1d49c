"""`make token USER=alice`: a dev JWT for any user of the running local stack (it asks the
stack, which signs with its own secret). LOCAL_API_URL says where it runs (default port 3000)."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    user = args[0] if args else ""
    if not user:
        print("usage: make token USER=<user id>", file=sys.stderr)
        return 2
    api = os.environ.get("LOCAL_API_URL", "http://127.0.0.1:3000")
    url = f"{api}/_local/token?{urllib.parse.urlencode({'user': user})}"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - the local stack, on loopback
            print(json.loads(answer.read())["token"])
    except (OSError, urllib.error.URLError) as err:
        print(f"no local stack answers at {api} ({err}); start one with make run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
