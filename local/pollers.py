"""The local event sources: a poller per SQS consumer and the health function's schedule.

Each poller plays Lambda's SQS event source mapping: `concurrency` batches of up to 10 at once
(the template's MaximumConcurrency, capped by the function's reserved concurrency), and partial
batch failures honoured (records the function reports as failed stay on the queue with the
visibility it gave them, the others are deleted; moto's redrive moves a message after
maxReceiveCount receives). A FIFO queue's message group is never in two batches at once: SQS holds
a group's messages back while some are in flight, so the group's order is kept. The schedule
plays the EventBridge rule that invokes the health function on a timer.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any
from urllib.parse import urlsplit

from local.lambda_events import delete_settled, schedule_event, sqs_event
from local.runtime import ACCOUNT_ID, REGION, FunctionRuntime

# While some of its batches are in flight, a poller asks again at once when one settles (its
# message groups are free again), else this often (messages of other groups may have come).
BUSY_POLL_SECONDS = 0.1


class Poller(threading.Thread):
    """Lambda's SQS event source mapping for one consumer: `concurrency` workers, each receiving a
    batch (up to 10), invoking the function with it and deleting what it settled."""

    def __init__(
        self,
        runtime: FunctionRuntime,
        logical: str,
        queue_url: str,
        sqs: Any,
        stop: threading.Event,
        concurrency: int = 1,
    ) -> None:
        super().__init__(name=f"poller-{logical}", daemon=True)
        self._runtime = runtime
        self._logical = logical
        self._queue_url = queue_url
        self._sqs = sqs
        self._stop_event = stop
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        _fill_batches_one_group_first(queue_url, sqs.meta.region_name)
        self.concurrency = concurrency
        self.batches = 0  # batches invoked and settled, all workers together
        # moto's ReceiveMessage is not atomic: two at once on a FIFO queue can both take messages
        # of one group (each checks the groups in flight before the other marks its own), and
        # deletes change the in-flight set under it. SQS serves receives atomically; here one of
        # the poller's SQS calls at a time stands in for that.
        self._sqs_calls = threading.Lock()
        # One worker at a time receives (the others wait for their turn, or work).
        self._receiving = threading.Lock()
        self._settled = threading.Condition()
        self._in_flight = 0  # batches received and not yet settled
        self._finished = 0  # batches done with, settled or not
        self.workers = [
            threading.Thread(target=self._work, name=f"{self.name}-{n}", daemon=True) for n in range(concurrency)
        ]

    def run(self) -> None:
        for worker in self.workers:
            worker.start()
        for worker in self.workers:
            worker.join()

    def _work(self) -> None:
        while not self._stop_event.is_set():
            try:
                messages = self._receive()
                if messages:
                    self._process(messages)
            except Exception:
                if self._stop_event.is_set():
                    return
                traceback.print_exc()
                self._stop_event.wait(1)

    def _receive(self) -> list[dict[str, Any]]:
        """A batch for this worker, or [] (nothing to take now, or stopping)."""
        with self._receiving:
            if self._stop_event.is_set():
                return []
            with self._settled:
                busy, finished = self._in_flight > 0, self._finished
            with self._sqs_calls:
                # Long polling only when nothing is in flight: moto's long poll spins (on the
                # GIL every other thread of the stack needs) while the visible messages all
                # belong to groups in flight, and it would hold the SQS calls of the batches
                # that free them.
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=0 if busy else 1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
                if messages and self._stop_event.is_set():
                    # Stopped while this receive waited (a pause, or the stack stopping): hand
                    # the batch back at once instead of leaving it invisible for the queue's
                    # visibility timeout.
                    self._sqs.change_message_visibility_batch(
                        QueueUrl=self._queue_url,
                        Entries=[
                            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                            for n, m in enumerate(messages)
                        ],
                    )
                    return []
            with self._settled:
                if messages:
                    self._in_flight += 1
                elif busy:
                    self._settled.wait_for(lambda: self._finished != finished, timeout=BUSY_POLL_SECONDS)
            return messages

    def _process(self, messages: list[dict[str, Any]]) -> None:
        settled = False
        try:
            try:
                answer = self._runtime.invoke(self._logical, sqs_event(messages, self._arn))
            except Exception:
                # A failed invocation leaves the whole batch to come back after its visibility timeout.
                traceback.print_exc()
                return
            with self._sqs_calls:
                delete_settled(self._sqs, self._queue_url, messages, answer)
            settled = True
        finally:
            with self._settled:
                self._in_flight -= 1
                self._finished += 1
                if settled:
                    self.batches += 1
                self._settled.notify_all()


def _fill_batches_one_group_first(queue_url: str, region: str) -> None:
    """SQS fills a FIFO queue's batch with as many messages of one group as it can, then others;
    moto takes the first ten visible messages whatever their group. A backlog of interleaved
    groups (five users' notifications) would come from moto as batches holding every group, and
    one batch in flight would hold all of them back: the event source could only ever run one
    batch at a time. So the queue a poller reads (in moto in this process: the local stack's)
    lists its visible messages one group after another, each group in its order, the group of
    the oldest message first."""
    from moto.sqs.models import Queue, sqs_backends

    account, name = urlsplit(queue_url).path.strip("/").split("/")[-2:]
    queue = sqs_backends[account][region].queues.get(name)
    if queue is None or not queue.fifo_queue:
        return
    if not getattr(Queue, "lists_groups_first", False):
        visible = Queue.messages

        def messages(self: Queue) -> list[Any]:
            found = visible.fget(self)  # type: ignore[attr-defined]
            if not self.__dict__.get("groups_first"):
                return found  # type: ignore[no-any-return]
            first_seen: dict[str | None, int] = {}
            for message in found:
                first_seen.setdefault(message.group_id, len(first_seen))
            return sorted(found, key=lambda message: first_seen[message.group_id])

        Queue.messages = property(messages)  # type: ignore[assignment,method-assign]
        Queue.lists_groups_first = True  # type: ignore[attr-defined]
    queue.groups_first = True  # type: ignore[attr-defined]


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
