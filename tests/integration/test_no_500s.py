"""No input a caller can send produces a 500 or a stack trace."""

from __future__ import annotations

import base64
import json
import random

import pytest

from tests.support.events import http_event

ODD_BODIES = [
    "",
    " ",
    "{}",
    "[]",
    "0",
    "true",
    '{"channelId": null}',
    '{"channelId": ["C0123456789"]}',
    '{"channelId": {"$ne": ""}}',
    '{"channelId": "C0123456789", "channelName": 5}',
    '{"channelId": "C\\u0000123"}',
    '{"channelId": "C' + "A" * 5000 + '"}',
    '{"channelId": "\\uff23\\uff10\\uff11\\uff12\\uff13"}',  # fullwidth look-alikes
    '{"channelId": "C0123456789"' + "}" * 50,
    '{"a":' * 200 + "1" + "}" * 200,
    "\udcff",
    "\x00\x01\x02",
]


def _assert_clean(answer) -> None:
    assert answer.status < 500 or answer.status in (502, 503), answer.body
    assert set(answer.body) == {"error", "code"} or answer.status == 200
    assert "Traceback" not in json.dumps(answer.body)


@pytest.mark.parametrize("raw_body", ODD_BODIES)
def test_odd_bodies_on_put(connected, invoke, raw_body):
    try:
        event = http_event("PUT", "/integration/channel", raw_body=raw_body)
    except UnicodeEncodeError:
        event = http_event("PUT", "/integration/channel", raw_body="x")
        event["body"] = raw_body
    answer = invoke("set_channel", "", "", event=event)
    _assert_clean(answer)
    assert answer.status in (400, 409, 422)


def test_base64_encoded_body_is_understood(connected, invoke, workspace):
    event = http_event("PUT", "/integration/channel", raw_body="x")
    event["body"] = base64.b64encode(json.dumps({"channelId": workspace.channels["alerts"]["id"]}).encode()).decode()
    event["isBase64Encoded"] = True
    assert invoke("set_channel", "", "", event=event).status == 200


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": "   "}, {"sub": 123}, {"sub": None}])
def test_malformed_identity_is_401(connected, invoke, claims):
    event = http_event("GET", "/integration/channel")
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    answer = invoke("set_channel", "", "", event=event)
    assert answer.status == 401 and answer.body["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/integration/channel"),
        ("POST", "/integration/channels"),
        ("GET", "/"),
        ("GET", "/integration/channel/../channels"),
    ],
)
def test_unrouted_requests_are_json_404s(connected, invoke, method, path):
    answer = invoke("set_channel", method, path)
    assert answer.status == 404 and answer.body["code"] == "ROUTE_NOT_FOUND"


def test_random_json_bodies_never_500(connected, invoke):
    rng = random.Random(20261127)
    leaves = [None, True, 0, -1, 1.5, "", "C0123456789", "#general", "x" * 300, "\u202e", "<!channel>"]

    def value(depth: int = 0):
        roll = rng.random()
        if depth > 3 or roll < 0.5:
            return rng.choice(leaves)
        if roll < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {
            rng.choice(["channelId", "channelName", "userId", "x"]): value(depth + 1) for _ in range(rng.randint(0, 3))
        }

    for _ in range(60):
        answer = invoke("set_channel", "PUT", "/integration/channel", body=value())
        _assert_clean(answer)
