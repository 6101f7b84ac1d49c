"""Reply: a follow-up of a tracked original, as an SQS record handler: a reply in its Slack
thread, or (`operation: update`) its content replaced in place (services/update.py).

One record is one delivery into one thread. A reply scoped to a user (`userId`) goes to that
user's thread. An unscoped reply is for every user the internal id was sent to, also those whose
original is still on its way: the record fans out into one scoped reply per user, enqueued on
this same queue with deterministic deduplication ids (a retried fan-out enqueues nothing twice)
in one FIFO group per thread, and each then goes down the one-thread path; when there is exactly
one such user the record is that user's reply itself, without the hop.

A reply whose original is not delivered yet is NOT_READY (the queue waits, up to the grace
period); one whose original ended in the DLQ is dead-lettered too, with ORIGINAL_FAILED.
Delivery keys: reply|<integration>|<internalMessageId>|<idempotencyKey or sqs:<SQS message id>>.
Every scoped body carries the idempotency key it used, so a fan-out copy, a retry and a redrive
from the DLQ all continue the same delivery.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MappingsRepository, MessageMapping
from slack_integration.adapters.queues import Enqueue
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import INTEGRATION_NOT_FOUND, ORIGINAL_FAILED, ORIGINAL_NOT_DELIVERED, ServiceError
from slack_integration.formatting import escape
from slack_integration.models.delivery import PREVIEW_LENGTH, DeliveryFacts, DeliveryStatus, Landed
from slack_integration.models.integration import Integration
from slack_integration.models.messages import ReplyRequest
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
    follow_up_facts,
    validated,
)
from slack_integration.services.update import UpdateService


class ReplyService:
    def __init__(
        self,
        integrations: IntegrationsRepository,
        mappings: MappingsRepository,
        ledger: DeliveryLedger,
        delivery: DeliveryService,
        slack: SlackGateway,
        enqueue: Callable[[Sequence[Enqueue]], None],
        updates: UpdateService,
    ) -> None:
        self._integrations = integrations
        self._mappings = mappings
        self._ledger = ledger
        self._delivery = delivery
        self._slack = slack
        # Puts the fan-out's copies on this function's own queue.
        self._enqueue = enqueue
        self._updates = updates

    @tracer.capture_method(capture_response=False)
    def reply(self, body: dict[str, Any], meta: RecordMeta) -> None:
        try:
            request = validated(ReplyRequest, body)
        except ServiceError as err:
            raise DeliveryFailed(err, body) from None
        idempotency_key = request.idempotency_key or f"sqs:{meta.message_id}"
        scoped = {**body, "idempotencyKey": idempotency_key}
        if request.operation == "update":
            # Pinned before any fan-out: a copy is enqueued later than the update it copies.
            scoped["version"] = request.effective_version(round(meta.sent_at * 1000))
        if request.user_id is not None:
            self._in_thread(request, request.user_id, {**scoped, "userId": request.user_id}, meta)
            return
        try:
            users, mappings = self._recipients(request.internal_message_id)
        except ServiceError as err:
            raise DeliveryFailed(err, body) from None
        if len(users) == 1:
            [user_id] = users
            self._in_thread(request, user_id, {**scoped, "userId": user_id}, meta, mappings.get(user_id))
            return
        self._fan_out(users, scoped, idempotency_key, meta, body)

    def _recipients(self, internal_id: str) -> tuple[list[str], dict[str, MessageMapping]]:
        """Every user the internal id was sent to: its mappings (delivered, read consistently) and
        the ledger's sends of it (also those still retrying, or dead-lettered)."""
        mappings = {mapping.user_id: mapping for mapping in self._mappings.for_message(internal_id)}
        users = list(mappings)
        for send in self._ledger.sends_of(internal_id):
            if send.user_id and send.user_id not in mappings and send.user_id not in users:
                users.append(send.user_id)
        if not users:
            raise ORIGINAL_NOT_DELIVERED.error()
        return users, mappings

    def _fan_out(
        self, users: list[str], scoped: dict[str, Any], idempotency_key: str, meta: RecordMeta, body: dict[str, Any]
    ) -> None:
        copies = [
            Enqueue(
                body=json.dumps({**scoped, "userId": user_id}, separators=(",", ":")),
                group_id=thread_group(request_group=meta.group_id, user_id=user_id),
                # The same reply for the same user is the same message, however often this runs.
                deduplication_id=hashlib.sha256(f"fan-out|{idempotency_key}|{user_id}".encode()).hexdigest(),
            )
            for user_id in users
        ]
        try:
            self._enqueue(copies)
        except ServiceError as err:
            raise DeliveryFailed(err, body) from None
        metrics.add_metric(name="RepliesFannedOut", unit=MetricUnit.Count, value=len(copies))
        logger.info("Reply fanned out, one per thread", extra={"threads": len(copies)})

    def _in_thread(
        self,
        request: ReplyRequest,
        user_id: str,
        body: dict[str, Any],
        meta: RecordMeta,
        mapping: MessageMapping | None = None,
    ) -> None:
        internal_id = request.internal_message_id
        try:
            integration, mapping = self._thread_of(user_id, internal_id, mapping)
        except ServiceError as err:
            raise DeliveryFailed(err, body) from None
        if request.operation == "update":
            self._updates.update(request, integration, body, meta, mapping, self._missing_original)
            return
        facts: DeliveryFacts | None = None
        try:
            facts = follow_up_facts("reply", integration, user_id, internal_id, body["idempotencyKey"])
            check_active(integration)
            if mapping is None:
                raise self._missing_original(integration, internal_id)
            if mapping.integration_id != integration.id:
                # The user connected anew since: that thread is gone for us.
                raise INTEGRATION_NOT_FOUND.error()
            content = request.content(enqueued_at(meta))
            facts = facts.model_copy(
                update={
                    "message_type": mapping.message_type,
                    "channel_id": mapping.slack_channel_id,
                    "parent_ts": mapping.slack_message_ts,
                    "preview": content.fallback_text()[:PREVIEW_LENGTH],
                }
            )
            in_current_channel = mapping.slack_channel_id == integration.notification_channel_id
            send_key = delivery_key("send", integration.id, "msg", internal_id)
            if self._original_exists(integration, mapping, in_current_channel):
                post = Post(
                    mapping.slack_channel_id,
                    content.post_arguments(),
                    facts.key,
                    thread_ts=mapping.slack_message_ts,
                    broadcast=request.broadcast,
                )
                delivery = Delivery(
                    facts, integration, post, about_notification_channel=in_current_channel, counted_on=send_key
                )
            else:
                # The original was deleted in Slack: a reply under it would be accepted and never
                # seen. Post it top-level, saying what it continues; later replies thread under it.
                arguments = _continuing(content.post_arguments(), self._original_preview(integration, internal_id))
                post = Post(mapping.slack_channel_id, arguments, facts.key)
                delivery = Delivery(
                    facts,
                    integration,
                    post,
                    about_notification_channel=in_current_channel,
                    reanchors=mapping,
                    counted_on=send_key,
                )
                metrics.add_metric(name="RepliesReanchored", unit=MetricUnit.Count, value=1)
            landed = self._delivery.deliver(delivery, meta)
        except ServiceError as err:
            raise DeliveryFailed(err, body, facts) from None
        if landed is not None:
            _report(integration, landed)

    def _original_exists(self, integration: Integration, mapping: MessageMapping, in_current_channel: bool) -> bool:
        try:
            return self._slack.permalink(integration.id, mapping.slack_channel_id, mapping.slack_message_ts) is not None
        except ServiceError as err:
            # As a failed post would: a revoked install or a gone channel is the user's to fix.
            self._integrations.flag_problem(integration, err, about_notification_channel=in_current_channel)
            raise

    def _original_preview(self, integration: Integration, internal_id: str) -> str | None:
        send = self._ledger.get(delivery_key("send", integration.id, "msg", internal_id))
        return send.preview if send else None

    def _thread_of(
        self, user_id: str, internal_id: str, known: MessageMapping | None
    ) -> tuple[Integration, MessageMapping | None]:
        """The user's integration and the mapping of its original (None while that is not
        delivered). Both come from one BatchGetItem, the mapping keyed by the integration id this
        container expects (`id_hint`): only an integration whose id the hint missed (one made before
        ids were derived, on its first read here) costs a second read."""
        if known is not None:  # an unscoped reply read its recipients' mappings already
            return self._integrations.require(user_id), known
        hint = self._integrations.id_hint(user_id)
        integration, item = self._integrations.get_with(
            user_id, self._mappings.table, self._mappings.key(internal_id, hint)
        )
        if integration is None:
            raise INTEGRATION_NOT_FOUND.error()
        if integration.id != hint:
            return integration, self._mappings.get(internal_id, integration.id)
        return integration, self._mappings.from_item(item)

    def _missing_original(self, integration: Integration, internal_id: str) -> ServiceError:
        """Why a follow-up of an original with no mapping cannot go yet: NOT_READY while it is on
        its way, ORIGINAL_FAILED once it is in the DLQ (it can never be threaded under it)."""
        send = self._ledger.get(delivery_key("send", integration.id, "msg", internal_id))
        if send is not None and send.status is DeliveryStatus.DEAD_LETTERED:
            return ORIGINAL_FAILED.error(detail=f"original: {send.last_error_code}")
        return ORIGINAL_NOT_DELIVERED.error()


def _continuing(arguments: dict[str, Any], preview: str | None) -> dict[str, Any]:
    """A reply reposted top-level, led by a note naming the notification it continues (the
    original's text is a producer's: escaped, so it can mention or link nothing)."""
    what = f"“{escape(preview[:150])}”" if preview else "an earlier notification"
    note = f":leftwards_arrow_with_hook: Continues {what}, whose Slack message was deleted."
    reposted = {**arguments, "text": f"{note}\n{arguments['text']}"}
    if arguments.get("blocks"):
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": note, "verbatim": True}]}
        reposted["blocks"] = [context, *arguments["blocks"]][:50]
    return reposted


def thread_group(*, request_group: str | None, user_id: str) -> str:
    """A fan-out copy's FIFO group: one per thread, so the copies of successive replies to one
    thread stay in order while a thread that waits or is throttled holds back no other."""
    return "thread-" + hashlib.sha256(f"{request_group}|{user_id}".encode()).hexdigest()[:48]


def _report(integration: Integration, landed: Landed) -> None:
    metrics.add_metric(name="RepliesSent", unit=MetricUnit.Count, value=1)
    if landed.threaded:
        logger.info("Reply delivered in its thread", extra={"integration_id": integration.id, "slack_ts": landed.ts})
        return
    # Slack took the reply but not into the thread (the parent was deleted, or the ts was wrong):
    # it is in the channel top-level or hidden. Report it; posting again would duplicate it.
    metrics.add_metric(name="UnthreadedReplies", unit=MetricUnit.Count, value=1)
    logger.warning(
        "Reply did not land in its thread",
        extra={"integration_id": integration.id, "slack_ts": landed.ts, "thread_ts": landed.thread_ts},
    )
