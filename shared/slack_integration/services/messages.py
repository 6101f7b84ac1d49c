"""GET /messages: the caller's recent tracked notifications, newest first, from our records.

One Query of the deliveries table's sparse `trackedSends` index per page: it holds tracked sends
only, and each send's record carries the count of its delivered replies and updates (written in
the same transaction as each of them), so a page costs one read and no Slack call. The cursor is
the page's last position in the caller's own partition; the partition itself always comes from
the caller's integration, never from the cursor, so a cursor cannot reach another user's data.
"""

from __future__ import annotations

import base64
import binascii
import json

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.errors import INVALID_CURSOR, message_of
from slack_integration.models.api import MessageList, MessageSummary
from slack_integration.models.delivery import DeliveryRecord, DeliveryStatus

DEFAULT_PAGE = 25
MAX_PAGE = 100


class MessagesService:
    def __init__(self, integrations: IntegrationsRepository, ledger: DeliveryLedger) -> None:
        self._integrations = integrations
        self._ledger = ledger

    def recent(self, user_id: str, *, cursor: str | None = None, limit: int = DEFAULT_PAGE) -> MessageList:
        integration = self._integrations.require(user_id)
        after = _decode(cursor, integration.id) if cursor else None
        records, more = self._ledger.recent_sends(integration.id, limit=limit, after=after)
        return MessageList(
            messages=[_summary(record) for record in records if record.internal_message_id],
            next_cursor=_encode(more) if more else None,
        )


def _summary(record: DeliveryRecord) -> MessageSummary:
    failed = record.status is not DeliveryStatus.DELIVERED
    code = record.last_error_code if failed else None
    return MessageSummary(
        internal_message_id=record.internal_message_id or "",
        message_type=record.message_type,
        channel_id=record.slack_channel_id or record.channel_id,
        ts=record.slack_ts,
        sent_at=record.delivered_at,
        first_attempt_at=record.first_attempt_at,
        status=record.status.value,
        preview=record.current_preview or record.preview,
        replies=record.reply_count,
        updates=record.update_count,
        error_code=code,
        error=message_of(code),
        permalink=record.permalink,
    )


def _encode(key: dict[str, str]) -> str:
    position = [key.get("firstAttemptAt", ""), key.get("deliveryKey", "")]
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str, integration_id: str) -> dict[str, str]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise INVALID_CURSOR.error() from None
    if (
        not isinstance(position, list)
        or len(position) != 2
        or not all(isinstance(part, str) and part for part in position)
    ):
        raise INVALID_CURSOR.error()
    first_attempt_at, delivery_key = position
    return {"trackedFor": integration_id, "firstAttemptAt": first_attempt_at, "deliveryKey": delivery_key}
