"""A local stack (local.stack.LocalStack) for tests that use it as a developer would, over HTTP:
started on free ports, stopped afterwards, the process's environment given back."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from local.stack import LocalStack, StackInfo


@contextlib.contextmanager
def running_stack(name: str, **options: Any) -> Iterator[tuple[LocalStack, StackInfo]]:
    """`name` suffixes its tables and queues (moto's backends are shared by a process's stacks)."""
    saved = dict(os.environ)
    local = LocalStack(api_port=0, aws_port=0, slack_port=0, name=name, **options)
    info = local.start()
    try:
        yield local, info
    finally:
        local.stop()
    assert dict(os.environ) == saved  # the process gets its environment back


def call(info: StackInfo, method: str, path: str, *, token: str | None = "dev", body: Any = None) -> tuple[int, Any]:
    """One HTTP API call: `token` "dev" is the stack's dev token, None sends none."""
    request = urllib.request.Request(
        info.api_url + path, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    if token == "dev":
        token = info.dev_token
    if token:
        request.add_header("authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_until(check: Any, timeout: float = 20.0) -> Any:
    """`check()`'s first truthy value, polled every 0.1 s; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")
