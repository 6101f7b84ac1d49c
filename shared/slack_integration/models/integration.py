"""The stored Slack integration: one per Buster user, created by connecting a workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from slack_integration.errors import HealthFlag


def utc_now() -> str:
    """Timestamps are stored as ISO-8601 UTC strings: sortable in DynamoDB and readable in the console."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Active integrations carry `sweep = "active"`: the sparse index `byHealthCheck` (sweep +
# healthCheckedAt) lists them stalest first, which is how the health sweep picks up where it
# stopped. Deactivating removes the attribute, and the integration from the index.
# Integration ids are derived from the user id (uuid5 in this namespace), so a function that has
# only the user id can name the user's other items (a mapping's key) in the same read as the
# integration. Integrations made before ids were derived keep their random ids (see
# IntegrationsRepository.id_hint); an id never changes once made.
_ID_NAMESPACE = uuid.UUID("6f1c2b0e-53a4-4d8e-9a61-3c7f0b2d9e15")


def integration_id_for(user_id: str) -> str:
    """The id a user's first integration gets."""
    return str(uuid.uuid5(_ID_NAMESPACE, user_id))


SWEEP_ATTRIBUTE = "sweep"
SWEEP_ACTIVE = "active"


class HealthStatus(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    NEEDS_RECONNECT = "needs_reconnect"
    NEEDS_NEW_CHANNEL = "needs_new_channel"
    UNREACHABLE = "unreachable"
    # Posts work, but the install lacks a scope exactly-once delivery or thread history rely on.
    DEGRADED = "degraded"

    @property
    def can_send(self) -> bool:
        return self in (HealthStatus.HEALTHY, HealthStatus.DEGRADED)

    @classmethod
    def flagged(cls, flag: HealthFlag) -> HealthStatus:
        return cls(flag.value)


class Integration(BaseModel):
    """A DynamoDB item of the integrations table (attribute names are the camelCase aliases)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    user_id: str
    team_id: str
    team_name: str
    # https://<domain>.slack.com/ (auth.test's url): a delivered message's permalink is built on it.
    team_url: str | None = None
    bot_user_id: str | None = None
    notification_channel_id: str | None = None
    notification_channel_name: str | None = None
    is_active: bool = True
    health_status: HealthStatus = HealthStatus.UNKNOWN
    health_checked_at: str | None = None
    last_error_code: str | None = None
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)

    def to_item(self) -> dict[str, Any]:
        # DynamoDB rejects empty strings in key attributes and we never need nulls stored.
        item = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        if self.is_active and self.health_checked_at:
            item[SWEEP_ATTRIBUTE] = SWEEP_ACTIVE
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Integration:
        return cls.model_validate(item)

    @property
    def is_healthy(self) -> bool:
        return self.health_status is HealthStatus.HEALTHY

    def public_view(self) -> dict[str, Any]:
        """What operators and the dashboard may see (there is no token here to leak, by design)."""
        return self.model_dump(by_alias=True, mode="json")
