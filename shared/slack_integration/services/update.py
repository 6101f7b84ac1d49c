"""Update in place: a tracked original's content replaced with chat.update (`operation: update`
on the reply queue), one thread (one user's original) per record, like a reply.

An update never goes backwards. Each carries a version (the producer's, else when it was
enqueued, pinned into the body before any fan-out); the mapping remembers the version applied
last, and an update not newer than it is dropped as stale: also one redriven from the DLQ days
later. The version is written in one transaction with the delivered record, on condition that
it is still newer, so two updates can never both win.

Pending updates collapse: when a batch holds several updates of the same original (a flapping
alert, or updates that waited behind a not-yet-delivered original), only the newest calls Slack
(chat.update is Tier 3 and counts against the workspace); the others are dropped as superseded.

chat.update is idempotent, so an attempt whose outcome is unknown is simply retried; the
delivery record still makes a redelivered, already-applied update skip Slack.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MappingsRepository, MessageMapping
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import (
    DELIVERY_IN_PROGRESS,
    INTEGRATION_NOT_FOUND,
    UPDATE_STALE,
    UPDATE_SUPERSEDED,
    ServiceError,
)
from slack_integration.models.delivery import (
    PREVIEW_LENGTH,
    DeliveryFacts,
    DeliveryStatus,
    Landed,
    permalink,
)
from slack_integration.models.integration import Integration, utc_now
from slack_integration.models.messages import ReplyRequest
from slack_integration.observability import logger, metrics
from slack_integration.services.delivery import (
    LEASE_MARGIN_SECONDS,
    DeliveryFailed,
    RecordMeta,
    check_active,
    delivery_key,
    enqueued_at,
    follow_up_facts,
)

# Why an original with no mapping cannot be updated yet (not delivered, or dead-lettered).
MissingOriginal = Callable[[Integration, str], ServiceError]


class UpdateService:
    def __init__(
        self,
        integrations: IntegrationsRepository,
        mappings: MappingsRepository,
        ledger: DeliveryLedger,
        slack: SlackGateway,
    ) -> None:
        self._integrations = integrations
        self._mappings = mappings
        self._ledger = ledger
        self._slack = slack

    def update(
        self,
        request: ReplyRequest,
        integration: Integration,
        body: dict[str, Any],
        meta: RecordMeta,
        mapping: MessageMapping | None,
        missing: MissingOriginal,
    ) -> None:
        """Apply one update to one user's original, whose `mapping` the reply path read with the
        integration (None: `missing` says why, exactly as for a reply)."""
        internal_id = request.internal_message_id
        version = int(body["version"])
        facts: DeliveryFacts | None = None
        try:
            facts = follow_up_facts(
                "update", integration, integration.user_id, internal_id, body["idempotencyKey"], version=version
            )
            check_active(integration)
            if mapping is None:
                raise missing(integration, internal_id)
            if mapping.integration_id != integration.id:
                raise INTEGRATION_NOT_FOUND.error()  # the user connected anew: that message is gone for us
            content = request.content(enqueued_at(meta))
            preview = content.fallback_text()[:PREVIEW_LENGTH]
            facts = facts.model_copy(
                update={
                    "message_type": mapping.message_type,
                    "channel_id": mapping.slack_channel_id,
                    "parent_ts": mapping.slack_message_ts,
                    "preview": preview,
                }
            )
            if meta.superseded or (mapping.applied_version is not None and version <= mapping.applied_version):
                self._drop(facts, meta, superseded=meta.superseded)
                return
            arguments = content.post_arguments()
            # chat.update keeps blocks it is not given: an update without blocks removes them.
            arguments.setdefault("blocks", [])
            self._apply(facts, integration, mapping, arguments, meta)
        except ServiceError as err:
            raise DeliveryFailed(err, body, facts) from None

    def _apply(
        self,
        facts: DeliveryFacts,
        integration: Integration,
        mapping: MessageMapping,
        arguments: dict[str, Any],
        meta: RecordMeta,
    ) -> None:
        claim = self._ledger.claim(
            facts, sqs_message_id=meta.message_id, lease_until=meta.deadline + LEASE_MARGIN_SECONDS
        )
        if not claim.granted:
            previous = claim.previous
            assert previous is not None
            if previous.delivered or previous.status in (DeliveryStatus.DEAD_LETTERED, DeliveryStatus.STALE):
                metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
                return
            raise DELIVERY_IN_PROGRESS.error(retry_after=max(1.0, (previous.lease_until or 0) - claim.started_at))
        started = time.monotonic()
        try:
            self._slack.update(integration.id, mapping.slack_channel_id, mapping.slack_message_ts, arguments)
        except ServiceError as err:
            # Idempotent: whether Slack applied it or not, the next attempt may simply call again.
            self._record_failure(facts.key, err, claim.started_at)
            self._integrations.flag_problem(integration, err)
            raise
        landed = Landed(
            channel_id=mapping.slack_channel_id,
            ts=mapping.slack_message_ts,
            post_ms=round((time.monotonic() - started) * 1000),
            queue_ms=max(0, round((time.time() - meta.sent_at) * 1000)),
            permalink=permalink(integration.team_url, mapping.slack_channel_id, mapping.slack_message_ts),
        )
        assert facts.version is not None and facts.preview is not None
        applied = self._mappings.applied_update_request(mapping, facts.version, facts.preview, utc_now())
        counted = self._ledger.counted_on_send(
            delivery_key("send", integration.id, "msg", mapping.internal_message_id), "update", preview=facts.preview
        )
        self._ledger.delivered(facts.key, landed, also=[applied, counted])
        metrics.add_metric(name="MessagesUpdated", unit=MetricUnit.Count, value=1)
        logger.info(
            "Original updated in place",
            extra={"integration_id": integration.id, "slack_ts": mapping.slack_message_ts, "version": facts.version},
        )

    def _record_failure(self, key: str, err: ServiceError, since: float) -> None:
        try:
            self._ledger.attempt_failed(key, err, outcome_unknown=False, since=since)
        except ServiceError as record_error:
            logger.warning("Could not record the failed update", extra={"code": record_error.code})

    def _drop(self, facts: DeliveryFacts, meta: RecordMeta, *, superseded: bool) -> None:
        reason = (UPDATE_SUPERSEDED if superseded else UPDATE_STALE).error()
        self._ledger.dead_lettered(facts, reason, sqs_message_id=meta.message_id, status=DeliveryStatus.STALE)
        metrics.add_metric(name="UpdatesDropped", unit=MetricUnit.Count, value=1)
        logger.info("Update dropped: a newer one wins", extra={"code": reason.code, "version": facts.version})


def superseded_updates(records: Iterable[tuple[str, Any, int]]) -> set[str]:
    """The SQS message ids of the updates in a batch that a newer update of the same original
    (same internal id, same user scope) in the same batch makes pointless. `records` are
    (message id, parsed body, enqueued at in ms), in batch order; anything not a valid update is
    left alone (its own processing reports it)."""
    newest: dict[tuple[str, str | None], tuple[tuple[int, int], str]] = {}
    updates: list[tuple[tuple[str, str | None], str]] = []
    for index, (message_id, body, enqueued_ms) in enumerate(records):
        if not isinstance(body, dict) or body.get("operation") != "update":
            continue
        try:
            request = ReplyRequest.model_validate(body)
        except (ValidationError, ValueError):
            continue
        scope = (request.internal_message_id, request.user_id)
        rank = (request.effective_version(enqueued_ms), index)
        updates.append((scope, message_id))
        if scope not in newest or rank > newest[scope][0]:
            newest[scope] = (rank, message_id)
    return {message_id for scope, message_id in updates if newest[scope][1] != message_id}
