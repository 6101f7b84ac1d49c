"""The producer client Buster's services use to enqueue notifications and replies.

It validates every message against the queue contract before anything is sent (a bad message is
refused at the producer, where the caller can still fix it, not dead-lettered later), and fills in
the FIFO fields:
- MessageGroupId: the user (send) or the original's internal id (reply), so each user's
  notifications and each thread's replies are delivered in order.
- MessageDeduplicationId: for a tracked message or one with an idempotency key, derived from that
  identity, so a producer retry within SQS's 5-minute window is dropped by SQS itself (the
  delivery ledger catches later duplicates). Otherwise a fresh id per call: two identical
  notifications sent on purpose are two notifications, while boto3's own retries of one call
  reuse the id and stay one.

    producer = NotificationProducer.from_environment()  # SEND_QUEUE_URL, REPLY_QUEUE_URL
    producer.send("user-1", {"text": "Deploy #42 started"}, internal_message_id="deploy-42")
    producer.reply("deploy-42", {"text": "Deploy #42 finished"})
    result = producer.send_bulk([{"userId": "user-1", "message": {"text": "hi"}}, ...])
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from slack_integration.adapters import aws
from slack_integration.errors import AWS_UNAVAILABLE, INVALID_MESSAGE, ServiceError
from slack_integration.models.messages import ReplyRequest, SendRequest, validation_problems
from slack_integration.observability import logger

SQS_BATCH_ENTRIES = 10
# SQS's limit for one SendMessageBatch request (all bodies together).
SQS_BATCH_BYTES = 256 * 1024
# One message body; SQS's classic limit (also what every SDK and moto accept everywhere).
SQS_MESSAGE_BYTES = 256 * 1024
# SQS group ids: 1-128 characters, ASCII letters, digits and punctuation only.
_GROUP_ID = re.compile(r"[\x21-\x7e]{1,128}")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Rejected:
    index: int  # position in the input
    code: str
    error: str


@dataclass
class BulkResult:
    accepted: list[tuple[int, str]] = field(default_factory=list)  # (index, SQS message id)
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def total_accepted(self) -> int:
        return len(self.accepted)

    @property
    def total_rejected(self) -> int:
        return len(self.rejected)


class NotificationProducer:
    def __init__(
        self,
        send_queue_url: str,
        reply_queue_url: str,
        sqs: Any = None,
        *,
        event_bus: str = "default",
        events: Any = None,
    ) -> None:
        self._send_queue_url = send_queue_url
        self._reply_queue_url = reply_queue_url
        self._client = sqs
        self._event_bus = event_bus
        self._events = events

    @classmethod
    def from_environment(cls) -> NotificationProducer:
        from slack_integration.config import queue_urls

        return cls(queue_urls("SEND").queue_url, queue_urls("REPLY").queue_url)

    @property
    def _sqs(self) -> Any:
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client

    def send(
        self,
        user_id: str,
        message: Mapping[str, Any] | None = None,
        *,
        template: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
        internal_message_id: str | None = None,
        message_type: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Enqueue one notification (a `message`, a `template` {name, variables} or an `event`
        {type, data}); returns the SQS message id. Raises ServiceError INVALID_MESSAGE (with
        `detail`) for a bad message, AWS_UNAVAILABLE if SQS refuses."""
        body = {
            "userId": user_id,
            **_content(message, template, event),
            "internalMessageId": internal_message_id,
            "messageType": message_type,
            "idempotencyKey": idempotency_key,
        }
        entry = _send_entry(_validate(SendRequest, body))
        return self._send_one(self._send_queue_url, entry)

    def reply(
        self,
        internal_message_id: str,
        message: Mapping[str, Any] | None = None,
        *,
        template: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        broadcast: bool = False,
        idempotency_key: str | None = None,
    ) -> str:
        """Enqueue a reply in the thread(s) of `internal_message_id` (only `user_id`'s when given)."""
        body = {
            "internalMessageId": internal_message_id,
            **_content(message, template, event),
            "userId": user_id,
            "broadcast": broadcast,
            "idempotencyKey": idempotency_key,
        }
        entry = _reply_entry(_validate(ReplyRequest, body))
        return self._send_one(self._reply_queue_url, entry)

    def update(
        self,
        internal_message_id: str,
        message: Mapping[str, Any] | None = None,
        *,
        template: Mapping[str, Any] | None = None,
        event: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        version: int | str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Enqueue an update in place of `internal_message_id`'s original (only `user_id`'s when
        given): its content becomes this one, unless a newer `version` was applied (an integer,
        or an RFC 3339 time; absent = when it is enqueued). Ordered with its replies."""
        body = {
            "internalMessageId": internal_message_id,
            "operation": "update",
            **_content(message, template, event),
            "userId": user_id,
            "version": version,
            "idempotencyKey": idempotency_key,
        }
        entry = _reply_entry(_validate(ReplyRequest, body))
        return self._send_one(self._reply_queue_url, entry)

    def publish_domain_event(self, source: str, detail_type: str, detail: Mapping[str, Any]) -> str:
        """Put one of Buster's domain events (README "Domain events") on the bus; the template's
        rules turn it into notifications. Returns EventBridge's event id."""
        events = self._events or aws.client("events")
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(dict(detail)),
            "EventBusName": self._event_bus,
        }
        try:
            answer = events.put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "PutEvents") from exc
        [result] = answer["Entries"]
        if result.get("ErrorCode"):
            logger.warning("EventBridge refused the event", extra={"aws_error": result["ErrorCode"]})
            raise AWS_UNAVAILABLE.error()
        return str(result["EventId"])

    def send_bulk(self, notifications: Iterable[Mapping[str, Any]]) -> BulkResult:
        """Bulk sending, the SQS way: every body (send queue contract) is
        validated first; the valid ones go out in SendMessageBatch calls of up to ten; each
        refused message is reported with its index and a code, and never stops the others."""
        result = BulkResult()
        entries: list[tuple[int, dict[str, Any]]] = []
        for index, raw in enumerate(notifications):
            try:
                if not isinstance(raw, Mapping):
                    raise INVALID_MESSAGE.error(detail="body: must be an object")
                entries.append((index, _send_entry(_validate(SendRequest, dict(raw)))))
            except ServiceError as err:
                result.rejected.append(Rejected(index, err.code, err.detail or err.message))
        for chunk in _chunks(entries):
            self._send_batch(self._send_queue_url, chunk, result)
        result.rejected.sort(key=lambda rejected: rejected.index)
        return result

    def _send_one(self, queue_url: str, entry: dict[str, Any]) -> str:
        try:
            answer = self._sqs.send_message(QueueUrl=queue_url, **entry)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "SendMessage") from exc
        return str(answer["MessageId"])

    def _send_batch(self, queue_url: str, chunk: list[tuple[int, dict[str, Any]]], result: BulkResult) -> None:
        try:
            answer = self._sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(index), **entry} for index, entry in chunk]
            )
        except (BotoCoreError, ClientError) as exc:
            error = aws.unavailable(exc, "SendMessageBatch")
            result.rejected.extend(Rejected(index, error.code, error.message) for index, _ in chunk)
            return
        result.accepted.extend((int(ok["Id"]), str(ok["MessageId"])) for ok in answer.get("Successful", []))
        for failed in answer.get("Failed", []):
            code = "SQS_" + str(failed.get("Code", "ERROR"))
            result.rejected.append(Rejected(int(failed["Id"]), code, str(failed.get("Message") or code)))
        result.accepted.sort()


def _validate(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate({key: value for key, value in body.items() if value is not None})
    except ValidationError as exc:
        raise INVALID_MESSAGE.error(detail=validation_problems(exc)) from None
    except UnicodeError:
        raise INVALID_MESSAGE.error(detail="body: text that is not valid Unicode") from None


def _content(
    message: Mapping[str, Any] | None, template: Mapping[str, Any] | None, event: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "message": dict(message) if message is not None else None,
        "template": dict(template) if template is not None else None,
        "event": dict(event) if event is not None else None,
    }


def _body(request: BaseModel) -> str:
    # A reply's `operation` is said only when it is not the default (the body stays as before).
    omit = {"operation"} if getattr(request, "operation", None) == "reply" else set()
    body = json.dumps(request.model_dump(by_alias=True, exclude_none=True, exclude=omit), separators=(",", ":"))
    size = len(body.encode())
    if size > SQS_MESSAGE_BYTES:
        # Within every Block Kit limit a message can still outgrow SQS: refuse it as the
        # caller's to fix, not as an outage to retry.
        raise INVALID_MESSAGE.error(detail=f"message: {size} bytes; a queue message holds at most {SQS_MESSAGE_BYTES}")
    return body


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _send_entry(request: SendRequest) -> dict[str, Any]:
    if request.internal_message_id:
        dedup = _digest("send", request.user_id, "msg", request.internal_message_id)
    elif request.idempotency_key:
        dedup = _digest("send", request.user_id, "key", request.idempotency_key)
    else:
        dedup = uuid.uuid4().hex
    return {"MessageBody": _body(request), "MessageGroupId": _group(request.user_id), "MessageDeduplicationId": dedup}


def _reply_entry(request: ReplyRequest) -> dict[str, Any]:
    if request.idempotency_key:
        dedup = _digest(request.operation, request.internal_message_id, request.user_id or "", request.idempotency_key)
    else:
        dedup = uuid.uuid4().hex
    return {
        "MessageBody": _body(request),
        "MessageGroupId": _group(request.internal_message_id),
        "MessageDeduplicationId": dedup,
    }


def _group(value: str) -> str:
    """The value itself when SQS accepts it as a group id (readable in the console), else its digest."""
    return value if _GROUP_ID.fullmatch(value) else _digest("group", value)


def _chunks(entries: list[tuple[int, dict[str, Any]]]) -> Iterable[list[tuple[int, dict[str, Any]]]]:
    """Batches of at most ten entries and at most SQS's request size."""
    chunk: list[tuple[int, dict[str, Any]]] = []
    size = 0
    for index, entry in entries:
        entry_size = len(entry["MessageBody"].encode())
        if chunk and (len(chunk) == SQS_BATCH_ENTRIES or size + entry_size > SQS_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((index, entry))
        size += entry_size
    if chunk:
        yield chunk
