"""Real-shaped Lambda events, built from the samples in events/ (the same files `sam local invoke` uses)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from local.lambda_events import LambdaContext, sample  # noqa: F401 - re-exported for the tests


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
