"""What the product sends to Slack and what it keeps of Slack's answers (the Slack gateway's
values, free of slack_sdk)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Every post carries its delivery's digest in Slack message metadata under this event type, so an
# attempt whose outcome was unknown can find its post instead of posting a second copy.
METADATA_EVENT_TYPE = "buster_delivery"


def delivery_digest(key: str) -> str:
    """What a post carries in its metadata: identifies the delivery without revealing its ids."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Identity:
    """auth.test: whose token this is, and the scopes it was granted (None: Slack did not say)."""

    team_id: str
    team_name: str | None
    user_id: str | None
    bot_id: str | None
    scopes: frozenset[str] | None
    url: str | None = None  # the workspace's https://<domain>.slack.com/ (permalinks are built on it)


@dataclass(frozen=True)
class Post:
    """What to post: the message's arguments (text, blocks, ...) and where."""

    channel_id: str
    arguments: Mapping[str, Any]
    delivery_key: str
    thread_ts: str | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class Posted:
    """Where Slack put a post: its channel, ts, and (for a reply) the thread it is really in."""

    channel_id: str
    ts: str
    thread_ts: str | None

    def in_thread(self, thread_ts: str | None) -> bool | None:
        """Replies only (else None): Slack accepts a thread_ts naming no message, so only the
        posted message's own thread_ts says whether the reply really is in that thread."""
        return None if thread_ts is None else self.thread_ts == thread_ts
