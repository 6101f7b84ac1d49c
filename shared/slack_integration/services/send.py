"""Send: a notification into its user's notification channel, as an SQS record handler.

One record is one delivery, named by a key that says what must happen at most once:
  send|<integration>|msg|<internalMessageId>   a tracked message, however often it is enqueued
  send|<integration>|key|<idempotencyKey>      an untracked message with a producer key
  send|<integration>|key|sqs:<SQS message id>  otherwise: SQS redelivery of this one message
(each part percent-encoded, so a "|" inside an id cannot make two deliveries one). A tracked
message's mapping (where a later reply threads) is written with its delivered record. When the
delivery is dead-lettered, its DLQ body carries the key it used, so redriving it from the DLQ
continues the same delivery instead of starting a new one.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.errors import CHANNEL_NOT_SET, ServiceError
from slack_integration.models.delivery import PREVIEW_LENGTH, DeliveryFacts, thread_key
from slack_integration.models.messages import SendRequest
from slack_integration.models.slack import Post
from slack_integration.observability import logger, metrics, tracer
from slack_integration.services.delivery import (
    Delivery,
    DeliveryFailed,
    DeliveryService,
    RecordMeta,
    check_active,
    delivery_key,
    enqueued_at,
    validated,
)


class SendService:
    def __init__(self, integrations: IntegrationsRepository, delivery: DeliveryService) -> None:
        self._integrations = integrations
        self._delivery = delivery

    @tracer.capture_method(capture_response=False)
    def send(self, body: dict[str, Any], meta: RecordMeta) -> None:
        try:
            request = validated(SendRequest, body)
        except ServiceError as err:
            raise DeliveryFailed(err, body, self._refused(body, meta)) from None
        integration = self._integrations.require(request.user_id)
        internal_id = request.internal_message_id
        idempotency_key = request.idempotency_key or f"sqs:{meta.message_id}"
        if internal_id:
            key = delivery_key("send", integration.id, "msg", internal_id)
            dead_letter_body = body
        else:
            key = delivery_key("send", integration.id, "key", idempotency_key)
            dead_letter_body = {**body, "idempotencyKey": idempotency_key}
        content = request.content(enqueued_at(meta))
        facts = DeliveryFacts(
            key=key,
            integration_id=integration.id,
            user_id=integration.user_id,
            kind="send",
            internal_message_id=internal_id,
            message_type=request.message_type,
            channel_id=integration.notification_channel_id,
            thread_key=thread_key(integration.id, internal_id) if internal_id else None,
            preview=content.fallback_text()[:PREVIEW_LENGTH],
        )
        try:
            check_active(integration)
            if not integration.notification_channel_id:
                error = CHANNEL_NOT_SET.error()
                self._integrations.flag_problem(integration, error)
                raise error
            post = Post(integration.notification_channel_id, content.post_arguments(), key)
            landed = self._delivery.deliver(Delivery(facts, integration, post), meta)
        except ServiceError as err:
            raise DeliveryFailed(err, dead_letter_body, facts) from None
        if landed is not None:
            metrics.add_metric(name="MessagesSent", unit=MetricUnit.Count, value=1)
            logger.info(
                "Notification delivered",
                extra={"integration_id": integration.id, "slack_ts": landed.ts, "verified": landed.verified},
            )

    def _refused(self, body: dict[str, Any], meta: RecordMeta) -> DeliveryFacts | None:
        """The delivery record of a body refused as invalid, when it names a user we know: the
        user's stats then count it as failed (and a reply to its id learns it will never come)."""
        user_id, internal_id = body.get("userId"), body.get("internalMessageId")
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 128:
            return None
        try:
            integration = self._integrations.get_by_user(user_id)
        except ServiceError:
            return None
        if integration is None:
            return None
        if not (isinstance(internal_id, str) and 0 < len(internal_id) <= 256 and internal_id.isprintable()):
            internal_id = None
        where = ("msg", internal_id) if internal_id else ("sqs", meta.message_id)
        return DeliveryFacts(
            key=delivery_key("send", integration.id, *where),
            integration_id=integration.id,
            user_id=user_id,
            kind="send",
            internal_message_id=internal_id,
            channel_id=integration.notification_channel_id,
            thread_key=thread_key(integration.id, internal_id) if internal_id else None,
        )
