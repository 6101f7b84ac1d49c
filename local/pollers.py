"""The local event sources: a poller per SQS consumer and the health function's schedule.

Each poller plays Lambda's SQS event source mapping: batches of up to 10, and partial batch
failures honoured (records the function reports as failed stay on the queue with the visibility
it gave them, the others are deleted; moto's redrive moves a message after maxReceiveCount
receives). The schedule plays the EventBridge rule that invokes the health function on a timer.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from local.lambda_events import delete_settled, schedule_event, sqs_event
from local.runtime import ACCOUNT_ID, REGION, FunctionRuntime


class Poller(threading.Thread):
    """Lambda's SQS event source mapping for one consumer (batch size 10, partial failures)."""

    def __init__(self, runtime: FunctionRuntime, logical: str, queue_url: str, sqs: Any, stop: threading.Event) -> None:
        super().__init__(name=f"poller-{logical}", daemon=True)
        self._runtime = runtime
        self._logical = logical
        self._queue_url = queue_url
        self._sqs = sqs
        self._stop_event = stop
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.batches = 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._poll_once()
            except Exception:
                if self._stop_event.is_set():
                    return
                traceback.print_exc()
                self._stop_event.wait(1)

    def _poll_once(self) -> None:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return
        if self._stop_event.is_set():
            # Stopped while this receive waited (a pause, or the stack stopping): hand the batch
            # back at once instead of leaving it invisible for the queue's visibility timeout.
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages)
                ],
            )
            return
        try:
            answer = self._runtime.invoke(self._logical, sqs_event(messages, self._arn))
        except Exception:
            # A failed invocation leaves the whole batch to come back after its visibility timeout.
            traceback.print_exc()
            return
        delete_settled(self._sqs, self._queue_url, messages, answer)
        self.batches += 1


class Schedule(threading.Thread):
    """An EventBridge schedule rule: invokes one function every `interval` seconds until stopped."""

    def __init__(self, runtime: FunctionRuntime, logical: str, interval: float, stop: threading.Event) -> None:
        super().__init__(name=f"schedule-{logical}", daemon=True)
        self._runtime = runtime
        self._logical = logical
        self._interval = interval
        self._stop_event = stop
        self.runs = 0

    def run(self) -> None:
        rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self._logical}Schedule"
        while not self._stop_event.wait(self._interval):
            try:
                self._runtime.invoke(self._logical, schedule_event(rule))
                self.runs += 1
            except Exception:
                traceback.print_exc()
