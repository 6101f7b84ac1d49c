"""What every part of the emulator speaks: Slack's error answers, parsed API calls and their
answers, request params, and the HTTP replies the server writes.

Kept apart from methods.py so the OAuth method, the authorize page and the control endpoint can
share them without importing each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"


class SlackError(Exception):
    """An `ok: false` answer; `extra` holds fields such as missing_scope's `needed`/`provided`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


class RateLimitedError(SlackError):
    """Throttled: answered HTTP 429 with `ratelimited` and a Retry-After header, as Slack does."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ApiCall:
    """One parsed request; `parse_error` is set when the body could not be decoded."""

    method: str
    params: Mapping[str, Any]
    token: str | None
    parse_error: str | None = None
    # (client_id, client_secret) from an `Authorization: Basic` header (oauth.v2.access).
    basic_auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Params:
    """Request params that arrive either as form strings ("1", "true") or as JSON values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def text(self, name: str) -> str | None:
        """The param as a string, or None when absent or empty (Slack treats both alike)."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def flag(self, name: str, *, default: bool) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true")
        return bool(value)


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, written as is by the server."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(body).encode("utf-8"), headers=headers or {})
