"""Bodies and answers of the dashboard-facing HTTP API (see README "HTTP API")."""

# No `from __future__ import annotations` here: with it, pydantic evaluates each field's annotation
# from its string (a compile() apiece) when the class is created, ~4 ms of a cold start for this
# module's two dozen models. Every annotation below names something already defined.
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,23}")


class _Wire(BaseModel):
    # defer_build: a function builds the validators and serializers of the few models its routes
    # use, on first use, instead of all of this module's at import (every cold start paid for all).
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)


class ChannelSelection(_Wire):
    """PUT /integration/channel. Only the id is trusted; the saved name is Slack's own."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True)

    channel_id: str = Field(
        description="Slack channel ID such as C0123456789 (not its #name)",
        # Documented for clients; the validator below checks it with a message a person can act on.
        json_schema_extra={"pattern": f"^{_CHANNEL_ID.pattern}$"},
    )
    channel_name: str | None = Field(default=None, max_length=255, description="Display hint; Slack's name wins")

    @field_validator("channel_id")
    @classmethod
    def _is_a_channel_id(cls, value: str) -> str:
        # Channel IDs start with C (G for legacy private groups); D… are direct messages.
        if not _CHANNEL_ID.fullmatch(value):
            raise ValueError("must be a Slack channel ID such as C0123456789, not a #name or a DM")
        return value


class Channel(_Wire):
    id: str
    name: str
    purpose: str | None
    member_count: int | None
    is_member: bool


class ChannelList(_Wire):
    channels: list[Channel]


class NotificationChannel(_Wire):
    channel_id: str
    channel_name: str


class NotificationChannelAnswer(_Wire):
    notification_channel: NotificationChannel | None


class ChannelSetAnswer(_Wire):
    success: bool
    message: str


class CapabilityStatus(_Wire):
    """GET /integration/status: whether Buster can post now, plus the health."""

    can_send: bool
    channel_configured: bool
    integration_active: bool
    error: str | None = None
    code: str | None = None
    health_status: str | None = None
    checked_at: str | None = None
    # health "degraded": the Slack scopes the install lacks (a reconnect grants them).
    missing_scopes: list[str] | None = None
    # The connected workspace (none when nothing is connected).
    team_id: str | None = None
    team_name: str | None = None


class ThreadOriginal(_Wire):
    ts: str
    channel_id: str
    sent_at: str
    message_type: str | None = None
    preview: str | None = Field(default=None, description="The original's content as Slack shows it now")
    updates: int = Field(default=0, description="How many times it was updated in place")
    version: int | None = Field(default=None, description="The version of the update applied last")
    updated_at: str | None = None


class ThreadReply(_Wire):
    status: str  # delivered / retrying / uncertain / dead_lettered / posting
    ts: str | None = None
    threaded: bool | None = None
    first_attempt_at: str | None = None
    delivered_at: str | None = None
    preview: str | None = None
    error_code: str | None = None


class SlackThreadMessage(_Wire):
    ts: str
    user: str | None = None
    bot_id: str | None = None
    text: str


class SlackThread(_Wire):
    """The thread as Slack holds it (other people's replies too), when asked and available."""

    available: bool
    messages: list[SlackThreadMessage] = []
    retry_after: int | None = None
    error: str | None = None


class ThreadAnswer(_Wire):
    internal_message_id: str
    original: ThreadOriginal
    replies: list[ThreadReply]
    slack: SlackThread | None = None


class MessageSummary(_Wire):
    """One tracked notification in GET /messages: how it went, from our own records."""

    internal_message_id: str
    message_type: str | None = None
    channel_id: str | None = Field(default=None, description="Where it was (or is to be) posted")
    ts: str | None = Field(
        default=None, description="Slack's ts, once delivered; its thread is GET /messages/{id}/thread"
    )
    sent_at: str | None = Field(default=None, description="When Slack took it (null until delivered)")
    first_attempt_at: str | None = None
    status: str = Field(description="delivered / posting / retrying / uncertain / dead_lettered")
    preview: str | None = Field(default=None, description="Its content as Slack shows it now (after any update)")
    replies: int = Field(default=0, description="Replies delivered in its thread")
    updates: int = Field(default=0, description="Updates applied in place")
    error_code: str | None = Field(default=None, description="Why it is not delivered (retrying or dead-lettered)")
    error: str | None = Field(default=None, description="That reason, as a person can act on it")
    permalink: str | None = None


class MessageList(_Wire):
    messages: list[MessageSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for older messages; null on the last page")


class ErrorCount(_Wire):
    code: str
    count: int


class TypeBreakdown(_Wire):
    total: int
    delivered: int
    failed: int


class ReplyStats(_Wire):
    total: int
    delivered: int
    threaded: int
    unthreaded: int
    success_rate: float | None


class LatencyStats(_Wire):
    median_ms: int | None
    p95_ms: int | None


class IntegrationCounts(_Wire):
    total: int
    active: int
    configured: int
    healthy: int


class TimeBucket(_Wire):
    """The deliveries first attempted in [start, start + bucketSeconds) and how each stands now."""

    start: str
    delivered: int
    failed: int
    pending: int


class MessagingStats(_Wire):
    """GET /integration/stats and `admin stats`: the messaging KPIs over one window."""

    start: str
    end: str
    total_attempts: int
    deliveries: int
    delivered: int
    failed: int
    pending: int
    delivery_rate: float | None
    retry_rate: float | None
    common_errors: list[ErrorCount]
    messages_sent: int
    replies: ReplyStats
    threads: int
    by_message_type: dict[str, TypeBreakdown]
    latency: LatencyStats
    integrations: IntegrationCounts
    truncated: bool = False
    # Deliveries over time, for a chart: at most 48 equal buckets covering the window.
    bucket_seconds: int = 3600
    over_time: list[TimeBucket] = []


class InstallStarted(_Wire):
    """POST /integration/install: send the browser here (Slack's consent screen)."""

    url: str


class Disconnected(_Wire):
    """DELETE /integration."""

    success: bool = True
