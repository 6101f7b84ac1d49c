"""Bodies and answers of the dashboard-facing HTTP API (see README "HTTP API")."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,23}")


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ChannelSelection(_Wire):
    """PUT /integration/channel. Only the id is trusted; the saved name is Slack's own."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, str_strip_whitespace=True)

    channel_id: str = Field(description="Slack channel ID such as C0123456789 (not its #name)")
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
