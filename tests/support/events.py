"""Real-shaped Lambda events, built from the samples in events/ (the same files `sam local invoke` uses)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from tests.support.template import ROOT

EVENTS = ROOT / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def http_event(
    method: str,
    path: str,
    *,
    user_id: str | None = "user-1",
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event as the JWT authorizer delivers it.

    user_id=None drops the authorizer block entirely (a request with no verified identity).
    """
    event = copy.deepcopy(sample("list_channels.json"))
    route = f"{method} {path}"
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if user_id is None:
        event["requestContext"].pop("authorizer", None)
        event["headers"].pop("authorization", None)
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user_id
    if query:
        from urllib.parse import urlencode

        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query)
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if text is not None:
        event["body"] = text
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(text.encode()))
    return event


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


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def from_lambda(cls, answer: dict[str, Any]) -> HttpAnswer:
        raw = answer.get("body") or ""
        return cls(
            status=answer["statusCode"],
            headers={k.lower(): v for k, v in (answer.get("headers") or {}).items()},
            body=json.loads(raw) if raw else None,
        )
