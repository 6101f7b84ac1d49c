"""The SQS side of the send and reply functions: batch processing, failure decisions, DLQ, retries.

Powertools' SqsFifoPartialProcessor runs the records in order and, when one fails, skips the rest
of its message group (so a channel's notifications stay in order) while other groups go on. Every
failure is turned into a decision by `queue_policy.decide`; then:
- dead-letter: the message (or, for a reply to several threads, the part that failed) goes to the
  DLQ with its error code as message attributes, and is deleted from the queue;
- retry: the message is reported as a batch item failure and its visibility is set to the
  decided delay (the skipped rest of its group gets the same delay, so the group resumes together).
One bad record never fails its neighbours; nothing is deleted without being delivered or
dead-lettered.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from slack_integration.adapters.queues import ConsumerQueues, HandBack
from slack_integration.errors import INTERNAL_ERROR, INVALID_MESSAGE, ServiceError
from slack_integration.observability import logger, metrics
from slack_integration.queue_policy import Decision, Reason, RetryBudget, decide
from slack_integration.services.delivery import PartFailed, RecordMeta, Undelivered

# Stop starting new records when less than this is left: a Slack call (5 s timeout) plus the
# DynamoDB writes must finish inside the invocation, or the lease and the visibility take over.
TIME_GUARD_SECONDS = 12.0


class _HandedBack(Exception):
    pass


class _FifoProcessor(SqsFifoPartialProcessor):
    def __init__(self) -> None:
        super().__init__(skip_group_on_error=True)
        # A batch whose every record is handed back (a throttled channel) is a normal outcome, not
        # an invocation error: report it item by item so the delays we set are what SQS applies.
        self.raise_on_entire_batch_failure = False


RecordHandler = Callable[[dict[str, Any], RecordMeta], None]


@dataclass
class _Batch:
    context: LambdaContext
    delays: dict[str, int] = field(default_factory=dict)


class QueueConsumer:
    def __init__(self, name: str, handler: RecordHandler, queues: ConsumerQueues, budget: RetryBudget) -> None:
        self._name = name
        self._handler = handler
        self._queues = queues
        self._budget = budget

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        batch = _Batch(context)
        response = process_partial_response(
            event=event,
            record_handler=lambda record: self._process(record, batch),
            processor=_FifoProcessor(),
            context=context,
        )
        self._hand_back(event, response, batch)
        return dict(response)

    def _process(self, record: SQSRecord, batch: _Batch) -> None:
        meta = _meta(record, batch.context)
        if batch.context.get_remaining_time_in_millis() < TIME_GUARD_SECONDS * 1000:
            logger.info(
                "Handing back the rest of the batch: too little time left", extra={"message_id": meta.message_id}
            )
            batch.delays[meta.message_id] = 0
            raise _HandedBack
        body: dict[str, Any] | str = record.body
        try:
            body = _parse(record.body)
            self._handler(body, meta)
            return
        except Undelivered as undelivered:
            failures = undelivered.failures
        except ServiceError as err:
            failures = [PartFailed(err, body)]
        except Exception:
            logger.exception("Unexpected failure processing a message", extra={"message_id": meta.message_id})
            failures = [PartFailed(INTERNAL_ERROR.error(), body)]
        self._settle(record, meta, failures, batch)

    def _settle(self, record: SQSRecord, meta: RecordMeta, failures: list[PartFailed], batch: _Batch) -> None:
        retry_delays: list[int] = []
        for index, failure in enumerate(failures):
            decision = decide(
                failure.error,
                receive_count=meta.receive_count,
                age_seconds=time.time() - meta.sent_at,
                budget=self._budget,
            )
            _count(failure.error, decision)
            if not decision.dead_letter:
                retry_delays.append(decision.delay_seconds)
                continue
            try:
                self._dead_letter(record, meta, failure, decision, index)
            except ServiceError as err:
                # The DLQ is unreachable: keep the message on its queue; nothing is lost.
                logger.warning("Dead-lettering failed; the message stays queued", extra={"code": err.code})
                retry_delays.append(decide(err, receive_count=1, age_seconds=0, budget=self._budget).delay_seconds)
        if retry_delays:
            batch.delays[meta.message_id] = max(retry_delays)
            raise _HandedBack

    def _dead_letter(
        self, record: SQSRecord, meta: RecordMeta, failure: PartFailed, decision: Decision, index: int
    ) -> None:
        error = failure.error
        body = failure.body if isinstance(failure.body, str) else json.dumps(failure.body, separators=(",", ":"))
        attributes = {
            "errorCode": error.code,
            "errorKind": error.kind.value,
            "errorMessage": error.message,
            "errorDetail": error.detail or "",
            "slackError": error.slack_error or "",
            "reason": decision.reason.value,
            "sourceQueue": self._name,
            "sourceMessageId": meta.message_id,
            "receiveCount": str(meta.receive_count),
            "integrationId": failure.integration_id or "",
        }
        self._queues.dead_letter(
            body,
            group_id=meta.group_id or "ungrouped",
            deduplication_id=hashlib.sha256(f"{meta.message_id}:{index}:{body}".encode()).hexdigest(),
            attributes=attributes,
        )
        logger.warning(
            "Message dead-lettered",
            extra={
                "message_id": meta.message_id,
                "code": error.code,
                "reason": decision.reason.value,
                "integration_id": failure.integration_id,
                "detail": error.detail,
            },
        )
        if failure.on_dead_lettered is not None:
            try:
                failure.on_dead_lettered(error)
            except ServiceError as record_error:
                # The DLQ holds the message and its code; only the stats miss this one.
                logger.warning("Could not record the dead-lettering", extra={"code": record_error.code})

    def _hand_back(self, event: dict[str, Any], response: Any, batch: _Batch) -> None:
        failed_ids = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        if not failed_ids:
            return
        group_delay: dict[str, int] = {}
        entries: list[HandBack] = []
        for raw in event.get("Records", []):
            message_id = raw["messageId"]
            if message_id not in failed_ids:
                continue
            group = (raw.get("attributes") or {}).get("MessageGroupId") or ""
            if message_id in batch.delays:
                delay = batch.delays[message_id]
                group_delay.setdefault(group, delay)
            else:
                # Skipped behind a failed record of its group: resume with it, in order.
                delay = group_delay.get(group, 0)
            entries.append(HandBack(message_id, raw["receiptHandle"], delay))
        logger.info("Handing messages back to the queue", extra={"count": len(entries)})
        self._queues.hand_back(entries)


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


def _meta(record: SQSRecord, context: LambdaContext) -> RecordMeta:
    attributes = record.attributes
    sent_ms = attributes.sent_timestamp
    return RecordMeta(
        message_id=record.message_id,
        receive_count=int(attributes.approximate_receive_count or 1),
        sent_at=int(sent_ms) / 1000 if sent_ms else time.time(),
        group_id=attributes.message_group_id,
        deadline=time.time() + context.get_remaining_time_in_millis() / 1000,
    )


def _count(error: ServiceError, decision: Decision) -> None:
    if decision.dead_letter:
        metrics.add_metric(name="MessagesDeadLettered", unit=MetricUnit.Count, value=1)
        # Per-code counts need their own dimension, hence a metric of its own.
        with single_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="ErrorCode", value=error.code)
    elif decision.reason is Reason.RATE_LIMITED:
        metrics.add_metric(name="RateLimited", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="DeliveryRetried", unit=MetricUnit.Count, value=1)
