"""Send and reply: the PRD's sendNotification / replyToMessage, as SQS record handlers.

- send: the user's integration and notification channel, one delivery, and for a tracked message
  the mapping a later reply threads under.
- reply: every mapping of the internal id (or the one of `userId`), one delivery per thread. A
  reply that arrives before its original is NOT_READY (the queue waits, up to a grace period).

Delivery keys name what must happen at most once:
  send|<integration>|msg|<internalMessageId>   a tracked message, however often it is enqueued
  send|<integration>|key|<idempotencyKey>      an untracked message with a producer key
  send|<integration>|key|sqs:<SQS message id>  otherwise: SQS redelivery of this one message
  reply|<integration>|<internalMessageId>|<idempotencyKey or sqs:<SQS message id>>
(each part percent-encoded, so a "|" inside an id cannot make two deliveries one).
When a part is dead-lettered, its DLQ body carries the key it used (and, for a reply, the user it
was for), so redriving it from the DLQ continues the same delivery instead of starting a new one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from slack_integration.adapters.delivery_ledger import DeliveryLedger, DeliveryStatus
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MappingsRepository, MessageMapping
from slack_integration.errors import (
    CHANNEL_NOT_SET,
    INTEGRATION_INACTIVE,
    INTEGRATION_NOT_FOUND,
    INVALID_MESSAGE,
    ORIGINAL_NOT_DELIVERED,
    ServiceError,
)
from slack_integration.models.integration import Integration, utc_now
from slack_integration.models.messages import ReplyRequest, SendRequest, validation_problems
from slack_integration.observability import logger, metrics, tracer
from slack_integration.services.delivery import (
    Delivery,
    DeliveryService,
    PartFailed,
    Posted,
    RecordMeta,
    Undelivered,
    thread_key,
)

M = TypeVar("M", SendRequest, ReplyRequest)


class MessagingService:
    def __init__(
        self,
        integrations: IntegrationsRepository,
        mappings: MappingsRepository,
        ledger: DeliveryLedger,
        delivery: DeliveryService,
        mapping_ttl_days: int,
    ) -> None:
        self._integrations = integrations
        self._mappings = mappings
        self._ledger = ledger
        self._delivery = delivery
        self._mapping_ttl_seconds = mapping_ttl_days * 86_400

    # -- send ------------------------------------------------------------------------------------

    @tracer.capture_method(capture_response=False)
    def send(self, body: dict[str, Any], meta: RecordMeta) -> None:
        request = _validated(SendRequest, body)
        integration = self._integrations.get_by_user(request.user_id)
        if integration is None:
            raise INTEGRATION_NOT_FOUND.error()
        idempotency_key = request.idempotency_key or f"sqs:{meta.message_id}"
        if request.internal_message_id:
            key = delivery_key("send", integration.id, "msg", request.internal_message_id)
        else:
            key = delivery_key("send", integration.id, "key", idempotency_key)
        retry_body = body if request.internal_message_id else {**body, "idempotencyKey": idempotency_key}
        content = request.content(_enqueued(meta))
        delivery: Delivery | None = None
        try:
            _check_active(integration)
            if not integration.notification_channel_id:
                error = CHANNEL_NOT_SET.error()
                self._integrations.flag_problem(integration, error)
                raise error
            delivery = Delivery(
                key=key,
                integration=integration,
                channel_id=integration.notification_channel_id,
                message=content,
                kind="send",
                internal_message_id=request.internal_message_id,
                message_type=request.message_type,
            )
            record_mapping = self._mapping_writer(delivery) if request.internal_message_id else None
            posted = self._delivery.deliver(delivery, meta, record_with=record_mapping)
        except ServiceError as err:
            facts = delivery.facts() if delivery else _facts(integration, "send", request.internal_message_id)
            raise Undelivered([self._failed_part(err, retry_body, key, facts, integration, meta)]) from None
        if posted is not None and not posted.duplicate:
            metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
            logger.info(
                "Notification delivered",
                extra={"integration_id": integration.id, "slack_ts": posted.ts, "verified": posted.verified},
            )

    def _mapping_writer(self, delivery: Delivery) -> Any:
        def mapping(posted: Posted) -> dict[str, Any]:
            assert delivery.internal_message_id is not None
            return self._mappings.put_request(
                MessageMapping(
                    internal_message_id=delivery.internal_message_id,
                    integration_id=delivery.integration.id,
                    user_id=delivery.integration.user_id,
                    slack_channel_id=posted.channel_id,
                    slack_message_ts=posted.ts,
                    message_type=delivery.message_type,
                    sent_at=utc_now(),
                    expires_at=int(time.time()) + self._mapping_ttl_seconds,
                )
            )

        return mapping

    # -- reply -----------------------------------------------------------------------------------

    @tracer.capture_method(capture_response=False)
    def reply(self, body: dict[str, Any], meta: RecordMeta) -> None:
        request = _validated(ReplyRequest, body)
        internal_id = request.internal_message_id
        scoped_to: Integration | None = None
        if request.user_id is not None:
            scoped_to = self._integrations.get_by_user(request.user_id)
            if scoped_to is None:
                raise INTEGRATION_NOT_FOUND.error()
            mapping = self._mappings.get(internal_id, scoped_to.id)
            targets = [mapping] if mapping else []
        else:
            targets = self._mappings.for_message(internal_id)
        if not targets:
            raise ORIGINAL_NOT_DELIVERED.error()

        idempotency_key = request.idempotency_key or f"sqs:{meta.message_id}"
        content = request.content(_enqueued(meta))
        failures: list[PartFailed] = []
        for mapping in targets:
            key = delivery_key("reply", mapping.integration_id, internal_id, idempotency_key)
            # Redriven from the DLQ, this body retries exactly this thread, as the same delivery.
            part_body = {**body, "userId": mapping.user_id, "idempotencyKey": idempotency_key}
            integration = scoped_to or self._integrations.get_by_user(mapping.user_id)
            facts = _facts(integration, "reply", internal_id) if integration else {"kind": "reply"}
            try:
                if integration is None or integration.id != mapping.integration_id:
                    # The user disconnected (or reconnected as a new integration): the thread is gone for us.
                    raise INTEGRATION_NOT_FOUND.error()
                _check_active(integration)
                delivery = Delivery(
                    key=key,
                    integration=integration,
                    channel_id=mapping.slack_channel_id,
                    message=content,
                    kind="reply",
                    thread_ts=mapping.slack_message_ts,
                    broadcast=request.broadcast,
                    internal_message_id=internal_id,
                    message_type=mapping.message_type,
                    is_notification_channel=mapping.slack_channel_id == integration.notification_channel_id,
                )
                facts = delivery.facts()
                posted = self._delivery.deliver(delivery, meta)
            except ServiceError as err:
                if not err.retryable and self._already_dead_lettered(key, meta):
                    continue  # this thread's part went to the DLQ on an earlier receive of this message
                failures.append(self._failed_part(err, part_body, key, facts, integration, meta))
                continue
            if posted is not None and not posted.duplicate:
                _report_reply(integration, posted)
        if failures:
            raise Undelivered(failures)

    # -- shared ----------------------------------------------------------------------------------

    def _already_dead_lettered(self, key: str, meta: RecordMeta) -> bool:
        record = self._ledger.get(key)
        return (
            record is not None
            and record.status is DeliveryStatus.DEAD_LETTERED
            and record.sqs_message_id == meta.message_id
        )

    def _failed_part(
        self,
        error: ServiceError,
        body: dict[str, Any],
        key: str,
        facts: dict[str, Any],
        integration: Integration | None,
        meta: RecordMeta,
    ) -> PartFailed:
        def record(final_error: ServiceError) -> None:
            self._ledger.dead_lettered(key, final_error, facts, sqs_message_id=meta.message_id)

        return PartFailed(
            error,
            body,
            integration_id=integration.id if integration else None,
            on_dead_lettered=record,
        )


def delivery_key(*parts: str) -> str:
    """Parts joined by "|", each percent-encoded: ids and keys may contain "|" themselves, and
    ("a|a", "a") must never name the same delivery as ("a", "a|a")."""
    return "|".join(quote(part, safe="") for part in parts)


def _validated(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise INVALID_MESSAGE.error(detail=validation_problems(exc)) from None
    except UnicodeError:
        # A lone surrogate in a field name, which JSON allows and UTF-8 does not.
        raise INVALID_MESSAGE.error(detail="body: text that is not valid Unicode") from None


def _enqueued(meta: RecordMeta) -> datetime:
    """Content that shows a time shows when the producer enqueued it, the same on every retry."""
    return datetime.fromtimestamp(meta.sent_at, UTC)


def _check_active(integration: Integration) -> None:
    if not integration.is_active:
        raise INTEGRATION_INACTIVE.error()


def _facts(integration: Integration, kind: str, internal_message_id: str | None) -> dict[str, Any]:
    return {
        "integrationId": integration.id,
        "userId": integration.user_id,
        "kind": kind,
        "internalMessageId": internal_message_id,
        "threadKey": thread_key(integration.id, internal_message_id) if internal_message_id else None,
    }


def _report_reply(integration: Integration, posted: Posted) -> None:
    metrics.add_metric(name="RepliesSent", unit=MetricUnit.Count, value=1)
    if posted.threaded:
        logger.info("Reply delivered in its thread", extra={"integration_id": integration.id, "slack_ts": posted.ts})
        return
    # Slack took the reply but not into the thread (the parent was deleted, or the ts was wrong):
    # it is in the channel top-level or hidden. Report it; posting again would duplicate it.
    metrics.add_metric(name="UnthreadedReplies", unit=MetricUnit.Count, value=1)
    logger.warning(
        "Reply did not land in its thread",
        extra={"integration_id": integration.id, "slack_ts": posted.ts, "thread_ts": posted.thread_ts},
    )
