"""SQS calls of the consumers: dead-lettering with an error code, handing messages back with the
visibility the failure policy chose, and enqueueing the scoped replies an unscoped one fans out to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws
from slack_integration.errors import AWS_UNAVAILABLE
from slack_integration.observability import logger

SQS_BATCH_LIMIT = 10
# Characters SQS refuses in a message or attribute value (it accepts #x9 #xA #xD #x20-#xD7FF
# #xE000-#xFFFD #x10000-#x10FFFF); details quoting a producer's field names could hold them, and SQS
# would refuse the whole dead-lettering. Written as the few refused ranges: the negated set of the
# accepted ones matches the same characters but takes ~10 ms of every consumer's cold start to compile.
_NOT_SQS_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _sqs_text(value: str) -> str:
    return _NOT_SQS_TEXT.sub("?", value)


@dataclass(frozen=True)
class HandBack:
    message_id: str
    receipt_handle: str
    delay_seconds: int


@dataclass(frozen=True)
class Enqueue:
    body: str
    group_id: str
    deduplication_id: str


class ConsumerQueues:
    def __init__(self, queue_url: str, dead_letter_queue_url: str, sqs: Any = None) -> None:
        self.queue_url = queue_url
        self.dead_letter_queue_url = dead_letter_queue_url
        self._client = sqs

    @property
    def _sqs(self) -> Any:
        if self._client is None:
            self._client = aws.client("sqs")
        return self._client

    def dead_letter(self, body: str, *, group_id: str, deduplication_id: str, attributes: dict[str, str]) -> None:
        """Put a message on the DLQ with why it is there; raises AWS_UNAVAILABLE if SQS refuses, so
        the caller keeps the message on its queue instead of losing it."""
        arguments: dict[str, Any] = {
            "QueueUrl": self.dead_letter_queue_url,
            "MessageBody": body,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": _sqs_text(value[:1024])}
                for name, value in attributes.items()
                if value
            },
        }
        if self.dead_letter_queue_url.endswith(".fifo"):
            arguments["MessageGroupId"] = group_id
            arguments["MessageDeduplicationId"] = deduplication_id
        try:
            self._sqs.send_message(**arguments)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "SendMessage dead-letter queue") from exc

    def enqueue(self, messages: Sequence[Enqueue]) -> None:
        """Put messages on the consumer's own queue (FIFO: group and deduplication id as given);
        raises AWS_UNAVAILABLE unless every one was taken, so the caller retries the lot (the
        deduplication ids make a second enqueue of the same message a no-op)."""
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            chunk = messages[start : start + SQS_BATCH_LIMIT]
            entries: list[dict[str, Any]] = []
            for index, message in enumerate(chunk):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": message.body}
                if self.queue_url.endswith(".fifo"):
                    entry |= {"MessageGroupId": message.group_id, "MessageDeduplicationId": message.deduplication_id}
                entries.append(entry)
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise aws.unavailable(exc, "SendMessageBatch") from exc
            if answer.get("Failed"):
                logger.warning(
                    "SQS refused part of a batch", extra={"codes": [f.get("Code") for f in answer["Failed"]]}
                )
                raise AWS_UNAVAILABLE.error()

    def hand_back(self, entries: Sequence[HandBack]) -> None:
        """Set each failed message's visibility (when it may be received again). Best effort: a
        message we could not change comes back after the queue's own visibility timeout."""
        for start in range(0, len(entries), SQS_BATCH_LIMIT):
            chunk = entries[start : start + SQS_BATCH_LIMIT]
            try:
                answer = self._sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": entry.receipt_handle,
                            "VisibilityTimeout": entry.delay_seconds,
                        }
                        for index, entry in enumerate(chunk)
                    ],
                )
                failed = answer.get("Failed", [])
            except (BotoCoreError, ClientError) as exc:
                logger.warning(
                    "Could not set retry delays", extra={"aws_error": aws.error_code(exc) or type(exc).__name__}
                )
                continue
            for failure in failed:
                logger.warning(
                    "Could not set a retry delay",
                    extra={"message_id": chunk[int(failure["Id"])].message_id, "aws_error": failure.get("Code")},
                )
