"""Lambda events and contexts shaped like AWS's, for the tests and the local stack.

The shapes come from the samples in events/ (the files `sam local invoke` takes), so a handler
meets locally exactly what API Gateway, SQS and EventBridge hand it in AWS.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from local.template import ROOT

EVENTS = ROOT / "events"


@cache
def _sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one of the events/ samples."""
    return copy.deepcopy(_sample(name))


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the Lambda context object."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/27/[$LATEST]0000"
    remaining_ms: int = 15_000
    extra: dict[str, Any] = field(default_factory=dict)

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The SQS event Lambda builds from messages received with all attributes (FIFO included)."""
    template = _sample("send.json")["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            md5OfBody=message["MD5OfBody"],
            eventSourceARN=queue_arn,
            attributes=dict(message.get("Attributes", {})),
            messageAttributes={
                name: {
                    "stringValue": value.get("StringValue"),
                    "dataType": value["DataType"],
                    "stringListValues": [],
                    "binaryListValues": [],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
        )
        records.append(record)
    return {"Records": records}


def delete_settled(sqs: Any, queue_url: str, messages: list[dict[str, Any]], answer: dict[str, Any] | None) -> int:
    """What Lambda's event source mapping does after an invocation with ReportBatchItemFailures:
    delete every record the function did not report as failed; the rest stay, with whatever
    visibility the function gave them. Returns how many were deleted."""
    failed = {item["itemIdentifier"] for item in (answer or {}).get("batchItemFailures", [])}
    done = [
        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
        for index, message in enumerate(messages)
        if message["MessageId"] not in failed
    ]
    if done:
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=done)
    return len(done)


def http_api_event(
    *,
    method: str,
    route_key: str,
    raw_path: str,
    path_parameters: dict[str, str] | None,
    raw_query: str,
    query: dict[str, str] | None,
    headers: dict[str, str],
    body: str | None,
    claims: dict[str, str] | None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the JWT authorizer delivers it."""
    event = sample("get_channel.json")
    now = datetime.now(UTC)
    event.update(
        routeKey=route_key,
        rawPath=raw_path,
        rawQueryString=raw_query,
        headers={name.lower(): value for name, value in headers.items()},
        isBase64Encoded=False,
    )
    event.pop("body", None)
    event.pop("pathParameters", None)
    event.pop("queryStringParameters", None)
    if body:
        event["body"] = body
    if path_parameters:
        event["pathParameters"] = path_parameters
    if query:
        event["queryStringParameters"] = query
    context = event["requestContext"]
    context.update(
        routeKey=route_key,
        requestId=str(uuid.uuid4()),
        time=now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        timeEpoch=int(now.timestamp() * 1000),
    )
    context["http"].update(method=method, path=raw_path, sourceIp=source_ip)
    if claims is None:
        context.pop("authorizer", None)
    else:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def schedule_event(rule_arn: str) -> dict[str, Any]:
    """EventBridge's Scheduled Event, as the health function receives it."""
    event = sample("health.json")
    event.update(id=str(uuid.uuid4()), time=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), resources=[rule_arn])
    return event
