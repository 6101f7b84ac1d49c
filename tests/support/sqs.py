"""Lambda's SQS event source mapping, played against moto: receive a batch, build the event
Lambda would deliver (the shape of events/send.json), invoke the handler, then delete exactly the
records the handler did not report as failed. The queue itself keeps the rest, with whatever
visibility the handler gave them, as it would in AWS."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.lambda_events import LambdaContext, delete_settled, sqs_event


@dataclass
class Poll:
    event: dict[str, Any]
    response: dict[str, Any]

    @property
    def received(self) -> list[str]:
        return [record["messageId"] for record in self.event["Records"]]

    @property
    def failed(self) -> list[str]:
        return [item["itemIdentifier"] for item in self.response.get("batchItemFailures", [])]


lambda_event = sqs_event


@dataclass
class QueuePoller:
    sqs: Any
    queue_url: str
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    function_name: str
    history: list[Poll] = field(default_factory=list)
    last_event: dict[str, Any] | None = None

    @property
    def queue_arn(self) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def poll(self, *, max_messages: int = 10, remaining_ms: int = 60_000) -> Poll | None:
        """One invocation with whatever is visible now; None when the queue shows nothing."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return None
        event = lambda_event(messages, self.queue_arn)
        self.last_event = event  # kept even when the invocation dies, as SQS keeps the messages
        poll = Poll(event, self.invoke(event, remaining_ms=remaining_ms))
        delete_settled(self.sqs, self.queue_url, messages, poll.response)
        self.history.append(poll)
        return poll

    def invoke(self, event: dict[str, Any], *, remaining_ms: int = 60_000) -> dict[str, Any]:
        """Run the function on an event as Lambda would (no queue bookkeeping)."""
        return self.handler(event, LambdaContext(function_name=self.function_name, remaining_ms=remaining_ms))

    def drain(self, *, limit: int = 20) -> list[Poll]:
        """Poll until the queue shows nothing (messages handed back with a delay stay hidden)."""
        polls = []
        for _ in range(limit):
            poll = self.poll()
            if poll is None:
                break
            polls.append(poll)
        return polls


def counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dead_letters(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Everything in a DLQ: body (parsed when JSON) and message attributes as plain strings."""
    found = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            try:
                body: Any = json.loads(message["Body"])
            except ValueError:
                body = message["Body"]
            attributes = {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}
            found.append({"body": body, "attributes": attributes})
