"""What the emulator's tests share: a WebClient that makes exactly one request per call, and
the answer of a call Slack refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from local.slack_emulator import SlackEmulator


def web_client(emu: SlackEmulator, token: str | None, *, timeout: int = 5, **options: Any) -> WebClient:
    """No retries unless a test asks for them, so each call is exactly one request."""
    options.setdefault("retry_handlers", [])
    return WebClient(token=token, base_url=emu.base_url, timeout=timeout, **options)


def slack_error(call: Callable[[], SlackResponse]) -> SlackResponse:
    with pytest.raises(SlackApiError) as raised:
        call()
    response: SlackResponse = raised.value.response
    return response
