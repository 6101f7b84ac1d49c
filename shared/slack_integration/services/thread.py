"""GET /messages/{id}/thread: the original and every reply we sent, for its owner only.

Built from our own records (the mapping and the delivery records of the thread), not from
Slack: conversations.replies is throttled hard for many apps, so Slack's view of the thread is
an optional, cached extra that degrades to `available: false` when Slack says no, and when the
workspace's read budget is spent or reserved for delivery recovery.
"""

from __future__ import annotations

import math
import time

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MappingsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import THREAD_NOT_FOUND, ServiceError
from slack_integration.models.api import SlackThread, SlackThreadMessage, ThreadAnswer, ThreadOriginal, ThreadReply
from slack_integration.models.delivery import DeliveryRecord, DeliveryStatus, thread_key
from slack_integration.models.integration import Integration
from slack_integration.services.ttl_cache import TtlCache

# The Slack view's answer when the workspace's read budget is spent or held for delivery recovery.
READS_RESERVED = "SLACK_READS_RESERVED"


class ThreadService:
    def __init__(
        self,
        integrations: IntegrationsRepository,
        mappings: MappingsRepository,
        ledger: DeliveryLedger,
        slack: SlackGateway,
        cache_seconds: float,
        read_interval_seconds: int,
    ) -> None:
        self._integrations = integrations
        self._mappings = mappings
        self._ledger = ledger
        self._slack = slack
        self._slack_cache = TtlCache(cache_seconds)
        # Slack allows apps outside its Marketplace one conversations.replies call a minute per
        # workspace: the dashboard takes at most one per interval, and none while recovery needs it.
        self._read_interval = read_interval_seconds

    def thread(self, user_id: str, internal_message_id: str, *, include_slack: bool = False) -> ThreadAnswer:
        integration = self._integrations.require(user_id)
        # Keyed by the caller's own integration: another user's id is simply not found (404, not
        # 403, so ids of other users' messages cannot be probed).
        mapping = self._mappings.get(internal_message_id, integration.id)
        if mapping is None:
            raise THREAD_NOT_FOUND.error()
        records = self._ledger.thread(thread_key(integration.id, internal_message_id))
        send = next((r for r in records if r.kind == "send"), None)
        answer = ThreadAnswer(
            internal_message_id=internal_message_id,
            original=ThreadOriginal(
                ts=mapping.slack_message_ts,
                channel_id=mapping.slack_channel_id,
                sent_at=mapping.sent_at,
                message_type=mapping.message_type,
                preview=mapping.current_preview or (send.preview if send else None),
                updates=mapping.update_count,
                version=mapping.applied_version,
                updated_at=mapping.content_updated_at,
            ),
            replies=[_reply(record) for record in records if record.kind == "reply"],
        )
        if include_slack:
            answer.slack = self._slack_thread(integration, mapping.slack_channel_id, mapping.slack_message_ts)
        return answer

    def _slack_thread(self, integration: Integration, channel_id: str, ts: str) -> SlackThread:
        key = (integration.id, channel_id, ts)
        cached = self._slack_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        if self._read_interval and not self._integrations.take_thread_read(
            integration, now=time.time(), window_seconds=self._read_interval
        ):
            # The workspace's read budget is spent or held by delivery recovery: our records only.
            return SlackThread(available=False, retry_after=self._read_interval, error=READS_RESERVED)
        try:
            messages = self._slack.thread_replies(integration.id, channel_id, ts)
        except ServiceError as err:
            retry_after = math.ceil(err.retry_after) if err.retry_after else None
            return SlackThread(available=False, retry_after=retry_after, error=err.code)
        thread = SlackThread(
            available=True,
            messages=[
                SlackThreadMessage(
                    ts=str(m.get("ts")), user=m.get("user"), bot_id=m.get("bot_id"), text=str(m.get("text") or "")
                )
                for m in messages
                if m.get("ts")
            ],
        )
        self._slack_cache.put(key, thread)
        return thread


def _reply(record: DeliveryRecord) -> ThreadReply:
    return ThreadReply(
        status=record.status.value,
        ts=record.slack_ts,
        threaded=record.threaded,
        first_attempt_at=record.first_attempt_at,
        delivered_at=record.delivered_at,
        preview=record.preview,
        error_code=record.last_error_code if record.status is not DeliveryStatus.DELIVERED else None,
    )
