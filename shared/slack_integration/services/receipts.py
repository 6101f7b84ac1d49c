"""Delivery receipts: every final outcome of a notification, published on EventBridge for the
service that asked for it (README "Delivery receipts").

They are derived from the deliveries table's stream, not sent by the consumers, so the send and
reply paths make no extra AWS call: a record whose status becomes `delivered`, `dead_lettered`
or `stale` (an update dropped) is one receipt. A redelivery that finds the message delivered
writes nothing, so a duplicate makes no receipt.

Each receipt has a stable `receiptId` (the delivery and its outcome). The stream is delivered at
least once: receipts already published are remembered for a day (lifecycle table, one batch
read and one batch write per stream batch), so a redelivered stream batch publishes nothing
twice; a crash between publishing and remembering can still repeat one, hence the id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.types import TypeDeserializer

from slack_integration.adapters.event_bus import BusEvent, EventBus
from slack_integration.adapters.lifecycle_store import LifecycleStore
from slack_integration.models.delivery import DeliveryRecord, DeliveryStatus
from slack_integration.observability import logger, metrics

DELIVERED = "Slack Message Delivered"
UPDATED = "Slack Message Updated"
FAILED = "Slack Message Failed"
_FINAL = {DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTERED, DeliveryStatus.STALE}
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class Receipt:
    sequence_number: str
    receipt_id: str
    event: BusEvent


def receipt_of(stream_record: Mapping[str, Any]) -> Receipt | None:
    """The receipt a stream record stands for, or None (not a change to a final outcome)."""
    change = stream_record.get("dynamodb") or {}
    new, old = _record(change.get("NewImage")), _record(change.get("OldImage"))
    if new is None or new.status not in _FINAL or (old is not None and old.status is new.status):
        return None
    outcome = new.status.value
    receipt_id = hashlib.sha256(f"{new.key}|{outcome}|{new.slack_ts or new.last_error_code}".encode()).hexdigest()[:32]
    delivered = new.status is DeliveryStatus.DELIVERED
    detail_type = FAILED if not delivered else UPDATED if new.kind == "update" else DELIVERED
    detail = {
        "receiptId": receipt_id,
        "outcome": outcome,
        "internalMessageId": new.internal_message_id,
        "userId": new.user_id,
        "integrationId": new.integration_id,
        "operation": new.kind,
        "messageType": new.message_type,
        "channelId": new.slack_channel_id or new.channel_id,
        "ts": new.slack_ts,
        "threadTs": (new.thread_ts or new.parent_ts) if new.kind == "reply" else None,
        "permalink": new.permalink,
        "errorCode": None if delivered else new.last_error_code,
        "attempts": new.attempts,
        "latencyMs": new.queue_ms,
        "version": new.version,
    }
    at = new.delivered_at if delivered else (new.outcomes[-1].at if new.outcomes else None)
    time = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
    return Receipt(str(change.get("SequenceNumber") or ""), receipt_id, BusEvent(detail_type, detail, time))


class ReceiptService:
    def __init__(self, bus: EventBus, published: LifecycleStore) -> None:
        self._bus = bus
        self._published = published

    def publish(self, stream_records: list[dict[str, Any]]) -> list[str]:
        """Publish the receipts of a stream batch; the sequence numbers to retry from (the first
        receipt EventBridge did not take: the stream resumes there, in order)."""
        receipts = [receipt for record in stream_records if (receipt := receipt_of(record)) is not None]
        if not receipts:
            return []
        seen = self._published.already_published([r.receipt_id for r in receipts])
        fresh = [r for r in receipts if r.receipt_id not in seen]
        failed = self._bus.put([r.event for r in fresh])
        sent = [r for index, r in enumerate(fresh) if index not in set(failed)]
        self._published.remember_published([r.receipt_id for r in sent])
        metrics.add_metric(name="ReceiptsPublished", unit=MetricUnit.Count, value=len(sent))
        if len(receipts) > len(fresh):
            logger.info("Receipts already published, not again", extra={"count": len(receipts) - len(fresh)})
        if failed:
            logger.warning("EventBridge refused receipts; the stream retries them", extra={"count": len(failed)})
            return [fresh[min(failed)].sequence_number]
        return []


def _record(image: Mapping[str, Any] | None) -> DeliveryRecord | None:
    if not image:
        return None
    return DeliveryRecord.model_validate({key: _deserializer.deserialize(value) for key, value in image.items()})
