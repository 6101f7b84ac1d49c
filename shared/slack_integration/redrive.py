"""Moving dead-lettered messages back to their queue after the cause is fixed (`admin redrive`).

The DLQ bodies are written for this: a dead-lettered reply part is scoped to its user and
carries the idempotency key it used, and every delivery keeps its ledger record, so a redriven
message continues its delivery (posted at most once, even when redriven twice). Each message
keeps its FIFO group, so a user's notifications stay in order.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws

SQS_BATCH_LIMIT = 10
# While we look at a DLQ message it is hidden this long; whatever is not moved is shown again.
LOOK_SECONDS = 30


@dataclass
class RedriveReport:
    by_code: Counter[str] = field(default_factory=Counter)
    moved: int = 0
    left: int = 0
    dry_run: bool = False

    def summary(self) -> dict[str, Any]:
        return {"byCode": dict(self.by_code), "moved": self.moved, "left": self.left, "dryRun": self.dry_run}


def redrive(
    dead_letter_queue_url: str,
    queue_url: str,
    *,
    codes: set[str] | None = None,
    dry_run: bool = False,
    limit: int = 1000,
    sqs: Any = None,
) -> RedriveReport:
    """Move up to `limit` messages (only those whose errorCode is in `codes`, when given); with
    `dry_run`, only count them by error code. FIFO shows one message per group at a time, so a
    dry run counts at least one message of every group that has any."""
    client = sqs or aws.client("sqs")
    report = RedriveReport(dry_run=dry_run)
    looked: list[str] = []
    try:
        while report.moved + report.left < limit:
            messages = client.receive_message(
                QueueUrl=dead_letter_queue_url,
                MaxNumberOfMessages=SQS_BATCH_LIMIT,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["MessageGroupId"],
                VisibilityTimeout=LOOK_SECONDS,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                code = (message.get("MessageAttributes", {}).get("errorCode") or {}).get("StringValue", "UNKNOWN")
                report.by_code[code] += 1
                if dry_run or (codes and code not in codes):
                    report.left += 1
                    looked.append(message["ReceiptHandle"])
                    continue
                _move(client, message, dead_letter_queue_url, queue_url)
                report.moved += 1
    finally:
        _show_again(client, dead_letter_queue_url, looked)
    return report


def _move(client: Any, message: dict[str, Any], dead_letter_queue_url: str, queue_url: str) -> None:
    arguments: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": message["Body"]}
    if queue_url.endswith(".fifo"):
        arguments["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId") or "redriven"
        # A retried move of the same DLQ message is deduplicated by SQS itself.
        arguments["MessageDeduplicationId"] = f"redrive-{message['MessageId']}"
    try:
        client.send_message(**arguments)
        client.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
    except (BotoCoreError, ClientError) as exc:
        raise aws.unavailable(exc, "redrive") from exc


def _show_again(client: Any, queue_url: str, receipt_handles: list[str]) -> None:
    for start in range(0, len(receipt_handles), SQS_BATCH_LIMIT):
        chunk = receipt_handles[start : start + SQS_BATCH_LIMIT]
        with contextlib.suppress(BotoCoreError, ClientError):  # they show again after LOOK_SECONDS anyway
            client.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(chunk)
                ],
            )
