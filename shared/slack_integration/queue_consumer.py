"""The SQS side of the send and reply functions: batch processing, failure decisions, DLQ, retries.

Powertools' SqsFifoPartialProcessor runs the records in order and, when one fails, skips the rest
of its message group (so a channel's notifications stay in order) while other groups go on. Each
record is one delivery with one outcome, settled where Powertools reports it (our processor's
`failure_handler`): the failure becomes a decision by `queue_policy.decide`, then
- dead-letter: the message goes to the DLQ with its error code as message attributes, its
  delivery record says so, and it is deleted from the queue (reported as a success);
- retry: it is reported as a batch item failure with the decided delay, and the skipped rest of
  its group gets the same delay, so the group resumes together. The delays are set in one
  ChangeMessageVisibilityBatch after the batch.
One bad record never fails its neighbours; nothing is deleted without being delivered or
dead-lettered.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoMessageGroupCircuitBreakerError
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.queues import ConsumerQueues, HandBack
from slack_integration.errors import INTERNAL_ERROR, INVALID_MESSAGE, ServiceError
from slack_integration.observability import logger, metrics
from slack_integration.queue_policy import Decision, Reason, RetryBudget, decide
from slack_integration.services.delivery import DeliveryFailed, RecordMeta

# Stop starting new records when less than this is left: a Slack call (5 s timeout) plus the
# DynamoDB writes must finish inside the invocation, or the lease and the visibility take over.
TIME_GUARD_SECONDS = 12.0

RecordHandler = Callable[[dict[str, Any], RecordMeta], None]
# Which records of a batch a later one makes pointless: (message id, body, enqueued ms) -> ids.
Superseded = Callable[[list[tuple[str, Any, int]]], set[str]]


class _OutOfTime(Exception):
    """Too little time left to start this record: hand it back untouched."""


class QueueConsumer:
    def __init__(
        self,
        name: str,
        handler: RecordHandler,
        queues: ConsumerQueues,
        budget: RetryBudget,
        ledger: DeliveryLedger,
        superseded: Superseded | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        self.queues = queues
        self.budget = budget
        self.ledger = ledger
        self.superseded = superseded

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        records = event.get("Records") or []
        processor = _Processor(self, context, self._superseded_in(records))
        with processor(records=records, handler=processor.run, lambda_context=context):
            processor.process()
        if processor.hand_backs:
            logger.info("Handing messages back to the queue", extra={"count": len(processor.hand_backs)})
            self.queues.hand_back(processor.hand_backs)
        return processor.response()

    def _superseded_in(self, records: list[dict[str, Any]]) -> frozenset[str]:
        if self.superseded is None or len(records) < 2:
            return frozenset()
        seen = []
        for record in records:
            try:
                body: Any = json.loads(record.get("body") or "")
            except (ValueError, RecursionError):
                body = None
            sent = (record.get("attributes") or {}).get("SentTimestamp")
            seen.append((str(record.get("messageId")), body, int(sent) if sent else int(time.time() * 1000)))
        return frozenset(self.superseded(seen))


class _Processor(SqsFifoPartialProcessor):
    """One batch: runs each record's delivery and settles each failure as it happens."""

    def __init__(self, consumer: QueueConsumer, context: LambdaContext, superseded: frozenset[str]) -> None:
        super().__init__(skip_group_on_error=True)
        self._superseded = superseded
        # A batch whose every record is handed back (a throttled channel) is a normal outcome, not
        # an invocation error: report it item by item so the delays we set are what SQS applies.
        self.raise_on_entire_batch_failure = False
        self._consumer = consumer
        self._context = context
        self._group_delays: dict[str, int] = {}
        self.hand_backs: list[HandBack] = []

    def run(self, record: SQSRecord) -> None:
        if self._context.get_remaining_time_in_millis() < TIME_GUARD_SECONDS * 1000:
            raise _OutOfTime
        meta = _meta(record, self._context, superseded=record.message_id in self._superseded)
        self._consumer.handler(_parse(record.body), meta)

    def failure_handler(self, record: SQSRecord, exception: Any) -> Any:
        error = exception[1]
        group = record.attributes.message_group_id or ""
        if isinstance(error, SQSFifoMessageGroupCircuitBreakerError):
            # Skipped behind a failed record of its group: resume with it, in order.
            return self._retry(record, exception, self._group_delays.get(group, 0))
        if isinstance(error, _OutOfTime):
            logger.info(
                "Handing back the rest of the batch: too little time left", extra={"message_id": record.message_id}
            )
            self._group_delays.setdefault(group, 0)
            return self._retry(record, exception, 0)
        failed = _as_failure(error, record, self._consumer.name)
        meta = _meta(record, self._context)
        budget = self._consumer.budget
        decision = decide(
            failed.error, receive_count=meta.receive_count, age_seconds=time.time() - meta.sent_at, budget=budget
        )
        _count(failed.error, decision)
        if decision.dead_letter:
            try:
                self._dead_letter(meta, failed, decision)
            except ServiceError as err:
                # The DLQ is unreachable: keep the message on its queue; nothing is lost.
                logger.warning("Dead-lettering failed; the message stays queued", extra={"code": err.code})
                decision = decide(err, receive_count=1, age_seconds=0, budget=budget)
            else:
                return self.success_handler(record, None)
        self._group_delays.setdefault(group, decision.delay_seconds)
        return self._retry(record, exception, decision.delay_seconds)

    def _retry(self, record: SQSRecord, exception: Any, delay: int) -> Any:
        self.hand_backs.append(HandBack(record.message_id, record.receipt_handle, delay))
        return super().failure_handler(record, exception)

    def _dead_letter(self, meta: RecordMeta, failed: DeliveryFailed, decision: Decision) -> None:
        error = failed.error
        body = json.dumps(failed.body, separators=(",", ":")) if isinstance(failed.body, dict) else str(failed.body)
        facts = failed.facts
        integration_id = facts.integration_id if facts else None
        self._consumer.queues.dead_letter(
            body,
            group_id=meta.group_id or "ungrouped",
            deduplication_id=hashlib.sha256(f"{meta.message_id}:{body}".encode()).hexdigest(),
            attributes={
                "errorCode": error.code,
                "errorKind": error.kind.value,
                "errorMessage": error.message,
                "errorDetail": error.detail or "",
                "slackError": error.slack_error or "",
                "reason": decision.reason.value,
                "sourceQueue": self._consumer.name,
                "sourceMessageId": meta.message_id,
                "receiveCount": str(meta.receive_count),
                "integrationId": integration_id or "",
            },
        )
        logger.warning(
            "Message dead-lettered",
            extra={
                "message_id": meta.message_id,
                "code": error.code,
                "reason": decision.reason.value,
                "integration_id": integration_id,
                "detail": error.detail,
            },
        )
        if facts is None:
            return
        try:
            self._consumer.ledger.dead_lettered(facts, error, sqs_message_id=meta.message_id)
        except ServiceError as record_error:
            # The DLQ holds the message and its code; only the stats miss this one.
            logger.warning("Could not record the dead-lettering", extra={"code": record_error.code})


def _as_failure(error: BaseException, record: SQSRecord, consumer: str) -> DeliveryFailed:
    if isinstance(error, DeliveryFailed):
        return error
    if isinstance(error, ServiceError):  # the body could not even be read
        return DeliveryFailed(error, record.body)
    logger.error(
        "Unexpected failure processing a message",
        extra={"message_id": record.message_id, "consumer": consumer},
        exc_info=(type(error), error, error.__traceback__),
    )
    return DeliveryFailed(INTERNAL_ERROR.error(), record.body)


def _parse(raw: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise INVALID_MESSAGE.error(detail="body: not JSON") from None
    except RecursionError:
        raise INVALID_MESSAGE.error(detail="body: nested too deeply") from None
    if not isinstance(body, dict):
        raise INVALID_MESSAGE.error(detail="body: must be a JSON object")
    return body


def _meta(record: SQSRecord, context: LambdaContext, *, superseded: bool = False) -> RecordMeta:
    attributes = record.attributes
    sent_ms = attributes.sent_timestamp
    return RecordMeta(
        message_id=record.message_id,
        receive_count=int(attributes.approximate_receive_count or 1),
        sent_at=int(sent_ms) / 1000 if sent_ms else time.time(),
        group_id=attributes.message_group_id,
        deadline=time.time() + context.get_remaining_time_in_millis() / 1000,
        superseded=superseded,
    )


def _count(error: ServiceError, decision: Decision) -> None:
    if decision.dead_letter:
        metrics.add_metric(name="MessagesDeadLettered", unit=MetricUnit.Count, value=1)
        # Per-code counts need their own dimension, hence a metric set of its own. Not
        # single_metric: it prints even with POWERTOOLS_METRICS_DISABLED (the quiet local stack).
        per_code = EphemeralMetrics()
        per_code.add_dimension(name="ErrorCode", value=error.code)
        per_code.add_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=1)
        per_code.flush_metrics()
    elif decision.reason is Reason.RATE_LIMITED:
        metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="DeliveryRetried", unit=MetricUnit.Count, value=1)
