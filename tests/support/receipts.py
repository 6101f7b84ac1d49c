"""Delivery receipts as a producer service sees them: the deliveries table's stream (moto's)
fed to the receipts function the way Lambda's mapping does (local.streams), and a rule on the
bus that forwards `buster.slack-messaging` events to a queue the test reads."""

from __future__ import annotations

import json
from typing import Any

from local.lambda_events import LambdaContext
from local.streams import StreamReader, stream_filters
from tests.support.functions import load_function


class ReceiptsTap:
    def __init__(self, aws: Any) -> None:
        self._aws = aws
        import boto3

        self.events = boto3.client("events")
        sqs = aws["sqs"]
        self.queue_url = sqs.create_queue(QueueName="receipts-tap")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="receipts-tap", EventPattern=json.dumps({"source": ["buster.slack-messaging"]}))
        self.events.put_targets(Rule="receipts-tap", Targets=[{"Id": "tap", "Arn": arn}])
        table = aws["tables"]["DeliveriesTable"]
        stream_arn = aws["dynamodb"].describe_table(TableName=table)["Table"]["LatestStreamArn"]
        # botocore now sends stream calls to an account-based host moto 5.2 does not route: name
        # the regional one, which moto serves.
        streams = boto3.client("dynamodbstreams", endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com")
        self.reader = StreamReader(streams, stream_arn, stream_filters("ReceiptsFunction", "DeliveriesStream"))
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.invocations.append(event)
        handler = load_function("receipts").lambda_handler
        return dict(handler(event, LambdaContext(function_name="receipts")))

    def publish(self) -> int:
        """Feed the stream's new records to the receipts function; how many records it settled."""
        return self.reader.deliver(self.invoke)

    def received(self) -> list[dict[str, Any]]:
        """Every receipt that reached the bus so far (consumed from the tap)."""
        found = []
        while True:
            messages = (
                self._aws["sqs"].receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            )
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self._aws["sqs"].delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
