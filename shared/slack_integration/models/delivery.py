"""A delivery record: one item of the deliveries table (one send, or one reply into one thread).

The same model is written by the ledger, read back by the ledger's state machine, and read by
thread history and stats, so every attribute has one name and one type. Attribute names in
DynamoDB are the camelCase aliases.

States (`status`), and what moves a record between them (adapters/delivery_ledger.py):

    (none) --claim--> posting --delivered--> delivered
    posting --attempt failed, Slack answered--> retrying --claim--> posting
    posting --attempt failed, no answer (may have posted)--> uncertain --claim--> posting
    posting (lease lapsed: the attempt died) --claim--> posting
    any but delivered --dead-lettered--> dead_lettered --claim by another SQS message--> posting
    (none) or retrying --an update older than the applied one--> stale

`uncertain_since` is the datum of "an earlier attempt may have posted": the time from which the
next attempt looks for the post in Slack (and `uncertain_until` the time by which Slack must have
stored it, if it did). They are set exactly when the status is `uncertain`, or `posting` by an
attempt that must look first; a look that finds nothing clears them. A look Slack cut short
(throttled mid-way) keeps its place in `look_cursor`, so the next one resumes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# How much of a message's text the delivery record keeps for thread history.
PREVIEW_LENGTH = 200

Kind = Literal["send", "reply", "update"]


class DeliveryStatus(StrEnum):
    POSTING = "posting"  # an attempt holds the lease and may be talking to Slack right now
    DELIVERED = "delivered"  # Slack holds the message; `slack_ts` says where
    RETRYING = "retrying"  # the last attempt failed and Slack definitely did not post it
    UNCERTAIN = "uncertain"  # the last attempt's outcome is unknown: look in Slack before posting
    DEAD_LETTERED = "dead_lettered"  # given up on; the message is in the DLQ with `last_error_code`
    STALE = "stale"  # an update older than the one applied (or superseded by a newer one): dropped


class _Item(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_item(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class Outcome(_Item):
    """One attempt's result, appended to the record's `outcomes` (the stats count these)."""

    at: str
    outcome: Literal["delivered", "verified", "failed", "uncertain", "dead_lettered", "stale"]
    code: str | None = None
    ms: int | None = None


class DeliveryFacts(_Item):
    """What a delivery is, independent of how it went: written with its first claim."""

    key: str = Field(alias="deliveryKey")
    integration_id: str | None = None
    user_id: str | None = None
    kind: Kind | None = None  # always set by the service; None only in a record it did not write
    internal_message_id: str | None = None
    message_type: str | None = None
    channel_id: str | None = None
    parent_ts: str | None = None  # a reply's thread
    # The thread history lists a tracked message's send and replies by this (index byThread).
    thread_key: str | None = None
    preview: str | None = None
    version: int | None = None  # an update's
    # A tracked send's integration: the sparse index GET /messages pages (`trackedSends`).
    tracked_for: str | None = None

    @model_validator(mode="after")
    def _list_tracked_sends(self) -> DeliveryFacts:
        if self.kind == "send" and self.internal_message_id and self.integration_id and not self.tracked_for:
            self.tracked_for = self.integration_id
        return self


class DeliveryRecord(DeliveryFacts):
    status: DeliveryStatus = DeliveryStatus.RETRYING
    attempts: int = 0
    sqs_message_id: str | None = None
    lease_until: float | None = None
    uncertain_since: float | None = None
    uncertain_until: float | None = None
    look_cursor: str | None = None
    last_attempt_at: float | None = None
    first_attempt_at: str | None = None
    expires_at: int | None = None
    slack_channel_id: str | None = None
    slack_ts: str | None = None
    thread_ts: str | None = None  # the thread Slack put a reply in (None: top-level)
    threaded: bool | None = None  # replies: did Slack put it in the thread we asked for?
    delivered_at: str | None = None
    queue_ms: int | None = None  # enqueued -> delivered
    permalink: str | None = None  # built from the workspace's URL (receipts carry it)
    last_error_code: str | None = None
    outcomes: list[Outcome] = Field(default_factory=list)
    # A tracked send's: its delivered replies and updates, and the content an update put in its place.
    reply_count: int = 0
    update_count: int = 0
    current_preview: str | None = None

    @property
    def may_have_posted(self) -> bool:
        """An earlier attempt may have reached Slack: its outcome was unknown, or it died holding
        the lease (a claim is granted over `posting` only once the lease has lapsed)."""
        return self.status in (DeliveryStatus.UNCERTAIN, DeliveryStatus.POSTING)

    def look_window(self, now: float) -> tuple[float, float]:
        """When a post of an earlier attempt can have been stored in Slack: from the first
        uncertain attempt's start to the last one's end (or, for an attempt that died, its lease)."""
        since = self.uncertain_since or self.last_attempt_at or now
        until = self.uncertain_until or self.lease_until or now
        return since, max(since, until)

    @property
    def delivered(self) -> bool:
        return self.status is DeliveryStatus.DELIVERED and bool(self.slack_ts and self.slack_channel_id)


@dataclass(frozen=True)
class Claim:
    """The answer to "may this attempt post?": granted, or why not (the record that says so)."""

    granted: bool
    previous: DeliveryRecord | None
    started_at: float


@dataclass(frozen=True)
class Landed:
    """Where Slack holds a delivered message, and how it got there."""

    channel_id: str
    ts: str
    thread_ts: str | None = None
    threaded: bool | None = None
    verified: bool = False  # found in Slack (an earlier attempt's post), not posted now
    post_ms: int | None = None
    queue_ms: int | None = None
    permalink: str | None = None


def permalink(team_url: str | None, channel_id: str, ts: str, thread_ts: str | None = None) -> str | None:
    """Slack's permalink format (what chat.getPermalink answers), built without a call."""
    if not team_url:
        return None
    link = f"{team_url.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def thread_key(integration_id: str, internal_message_id: str) -> str:
    return f"{integration_id}|{internal_message_id}"
