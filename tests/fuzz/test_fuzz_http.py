"""Fuzzing every HTTP route with whatever a caller can send: bodies (raw text, JSON values, near
valid channel selections, deep nesting), content types, base64 bodies as API Gateway delivers
binary payloads, path parameters, query strings and identities.

For every request: the handler never raises, never answers a 5xx, every answer other than 200 is
JSON `{"error": str, "code": str}` with a 4xx status (400, 401, 404, 409, 422; 415 for a body sent
as something else than JSON), and no answer carries a bot token.

Each test that found a bug keeps the (shrunk) failing input as an explicit example, so it fails
at once and reproducibly until the bug is fixed.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from local.template import http_routes, public_routes
from tests.conftest import BOT_TOKEN, OTHER_TOKEN, USER_ID
from tests.support.events import HttpAnswer, http_event
from tests.support.slack_app import RETURN_URL

FUZZ = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
)

ROUTES = sorted(http_routes().items())  # ((method, path template), function directory)
THREAD_ROUTE = "/messages/{internalMessageId}/thread"
# 415 UNSUPPORTED_MEDIA_TYPE: a body sent as anything but JSON (shared/slack_integration/http_api.py).
ERROR_STATUSES = {400, 401, 404, 409, 415, 422}
TRACKED_ID = "deploy-42"

# -- strategies ----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "\x00",
        "\x1f",
        "\x7f",
        "\u202e",
        "\ufeff",
        "\U0001f680",
        "\U0001f469\u200d\U0001f4bb",
        "e\u0301",
        "/",
        "%2F",
        "%2f",
        "%",
        "%zz",
        "?",
        "#",
        "&",
        "=",
        "..",
        "|",
        " ",
        "+",
        "<>",
        "{}",
        "\\",
        '"',
        TRACKED_ID,
        USER_ID,
        "xoxb-",
    ]
)
# Paths, query strings and claims arrive as UTF-8: no lone surrogates there (a JSON body can hold them).
chars = st.characters(exclude_categories=["Cs"])
text = st.lists(st.one_of(chars, _PIECES), max_size=10).map("".join)
text_with_surrogates = st.lists(st.one_of(chars, _PIECES, st.characters(categories=["Cs"])), max_size=10).map("".join)
long_text = st.builds(
    lambda unit, size: unit * size, st.sampled_from(["a", "\U0001f680", "%2F", "/"]), st.integers(200, 5000)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text_with_surrogates,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
channel_ids = st.one_of(
    st.sampled_from(["C0123456789", "G0123456789", "D0123456789", "#general", "general", "c0123456789", "C", "C1"]),
    st.from_regex(r"[CG][A-Z0-9]{2,23}", fullmatch=True),
    text,
    long_text,
)
selections = st.fixed_dictionaries(
    {},
    optional={"channelId": st.one_of(channel_ids, json_values), "channelName": st.one_of(text, long_text, json_values)},
)
deep = st.builds(
    lambda opener, depth: opener * depth, st.sampled_from(["[", '{"a":', '{"channelId":']), st.integers(1, 60_000)
)
shallow_bodies = st.one_of(
    text_with_surrogates,
    st.builds(json.dumps, json_values),
    st.builds(json.dumps, selections),
    st.builds(json.dumps, selections),
)
raw_bodies = st.one_of(shallow_bodies, deep)
# A verified identity (the JWT authorizer's `sub`), none at all, or claims of an odd shape.
identities = st.one_of(
    st.just(USER_ID),
    st.just(USER_ID),
    st.none(),
    st.sampled_from(["user-2", "", " ", "USER-1", "user-1 ", "user-1\x00"]),
    text.filter(bool),
    st.builds(lambda unit, size: unit * size, st.sampled_from(["u", "\u00e9"]), st.sampled_from([255, 256])),
)
odd_claims = st.one_of(
    st.fixed_dictionaries({}),
    st.fixed_dictionaries({"sub": json_values}),
    st.fixed_dictionaries({"sub": st.just(USER_ID), "extra": json_values}),
)


@st.composite
def iso_times(draw: st.DrawFn) -> str:
    """ISO-8601-ish times, including the ends of datetime's range and odd offsets."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
    offset = draw(
        st.one_of(
            st.none(),
            st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)),
        )
    )
    if offset is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset // timedelta(minutes=1))))
    form = draw(st.sampled_from(["iso", "z", "date", "space"]))
    if form == "date":
        return moment.date().isoformat()
    if form == "space":
        return moment.isoformat(sep=" ")
    if form == "z" and offset is None:
        return moment.isoformat() + "Z"
    return moment.isoformat()


window_values = st.one_of(
    iso_times(),
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "0001-01-01",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-01:00",
            "0001-01-01T00:00:00+01:00",
            "2026-11-27T00:00:00Z",
            "2026-11-27",
            "2026-W48-5",
            "20261127T000000Z",
            "now",
            "",
            "-1",
            "1764201600",
        ]
    ),
    text,
    long_text,
)
thread_ids = st.one_of(
    st.just(TRACKED_ID),
    st.sampled_from(["deploy-43", "a/b", "a%2Fb", "..", ".", "%2e%2e", "a?b", "a#b", "%", "run|7", " "]),
    text.filter(bool),
    long_text,
)
slack_flags = st.one_of(
    st.sampled_from(["true", "false", "True", "FALSE", "1", "0", "yes", "no", "on", "", "maybe", "\U0001f680"]), text
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/vnd.api+json",
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "application/octet-stream",
            "*/*",
            "",
            " ",
        ]
    ),
    text,
)

# -- requests ------------------------------------------------------------------------------------


def request(
    method: str,
    path: str,
    *,
    identity: Any = USER_ID,
    body: str | None = None,
    query: dict[str, str] | None = None,
    content_type: str | None = "application/json",
    base64_encoded: bool = False,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    claims: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (v2) event as the JWT authorizer would deliver this request."""
    event = http_event(method, path, user_id=USER_ID if identity is None else "placeholder", raw_body="x")
    if identity is None:
        event["requestContext"].pop("authorizer", None)
        event["headers"].pop("authorization", None)
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = identity
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    event.pop("body", None)
    event["headers"].pop("content-length", None)
    event["headers"].pop("content-type", None)
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = base64_encoded
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    if query:
        event["queryStringParameters"] = dict(query)
        event["rawQueryString"] = urlencode(query)
    if route_key:
        event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route_key}"
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def describe(event: dict[str, Any]) -> str:
    """The request in a line (pytest shows no generated arguments here, so every test notes this)."""
    body = event.get("body")
    if isinstance(body, str) and len(body) > 120:
        body = f"{body[:40]!r}... ({len(body)} characters)"
    claims = ((event["requestContext"].get("authorizer") or {}).get("jwt") or {}).get("claims")
    return ascii(
        {
            "path": event["rawPath"],
            "query": event.get("queryStringParameters"),
            "sub": claims.get("sub", "<missing>") if claims is not None else "<no authorizer>",
            "content-type": event["headers"].get("content-type", "<missing>"),
            "isBase64Encoded": event.get("isBase64Encoded"),
            "body": body,
        }
    )


def assert_clean(answer: dict[str, Any]) -> HttpAnswer:
    """The properties every answer of the API has, whatever was asked."""
    assert isinstance(answer, dict) and isinstance(answer.get("statusCode"), int), answer
    raw = answer.get("body") or ""
    headers = json.dumps(answer.get("headers") or {}) + json.dumps(answer.get("multiValueHeaders") or {})
    # The emulator's tokens (requests may carry "xoxb-" themselves, so not the bare prefix).
    for secret in (BOT_TOKEN, OTHER_TOKEN, "xoxb-test-"):
        assert secret not in raw and secret not in headers
    assert "Traceback" not in raw
    status = answer["statusCode"]
    if status == 302:  # the OAuth callback: back to the dashboard, whatever it was sent
        location = (answer.get("headers") or {}).get("Location", "")
        assert location.startswith(RETURN_URL + "?slack="), location
        return HttpAnswer.from_lambda(answer)
    assert status == 200 or status in ERROR_STATUSES, (status, raw)
    parsed = HttpAnswer.from_lambda(answer)
    if status != 200:
        assert isinstance(parsed.body, dict) and set(parsed.body) == {"error", "code"}, parsed.body
        assert isinstance(parsed.body["error"], str) and parsed.body["error"]
        assert isinstance(parsed.body["code"], str) and parsed.body["code"]
    return parsed


@pytest.fixture
def api(slack_app, notification_channel, producer, consumer, load_function):
    """USER_ID is connected with #general chosen, and has one tracked message with a reply, so
    the thread route has something to answer."""
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id=TRACKED_ID, message_type="deployment")
    consumer("send").drain()
    producer.reply(TRACKED_ID, {"text": "Deploy #42 finished"})
    consumer("reply").drain()

    def call(function: str, event: dict[str, Any]) -> HttpAnswer:
        from local.lambda_events import LambdaContext

        note(f"{function} <- {describe(event)}")
        answer = load_function(function).lambda_handler(event, LambdaContext(function_name=function))
        return assert_clean(answer)

    return call


@pytest.fixture
def load_function():
    from tests.support import functions

    return functions.load_function


def concrete_path(template: str, thread_id: str = TRACKED_ID) -> str:
    return template.replace("{internalMessageId}", thread_id)


# -- every route, any body, any identity ---------------------------------------------------------


@settings(FUZZ, max_examples=150)
@example(route=(("PUT", "/integration/channel"), "set_channel"), body="[" * 20_000, identity=USER_ID, query=None)
@given(
    route=st.sampled_from(ROUTES),
    body=st.one_of(st.none(), raw_bodies),
    identity=identities,
    query=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(["start", "end", "slack", "x"]) | text, text, max_size=3)
    ),
)
def test_any_body_on_any_route_never_fails(api, route, body, identity, query):
    (method, template), function = route
    event = request(method, concrete_path(template), identity=identity, body=body, query=query, route_key=template)
    api(function, event)


@settings(FUZZ, max_examples=40)
@given(route=st.sampled_from(ROUTES), claims=odd_claims)
def test_odd_identity_claims_are_401_or_answered(api, route, claims):
    (method, template), function = route
    answer = api(function, request(method, concrete_path(template), claims=claims, route_key=template))
    sub = claims.get("sub")
    if not (isinstance(sub, str) and sub.strip()) and (method, template) not in public_routes():
        assert answer.status in (401, 422), answer.body  # validation may speak first, never a 5xx


@settings(FUZZ, max_examples=60)
@example(body='{"channelId": "C0123456789"}', content_type="text/plain")
@example(body='{"channelId": "C0123456789"}', content_type="multipart/form-data")
@given(
    body=st.one_of(shallow_bodies, st.builds(urlencode, selections)), content_type=st.one_of(st.none(), content_types)
)
def test_any_content_type_on_put_channel_is_a_4xx_or_200(api, body, content_type):
    """A browser's fetch() with a string body sends text/plain; a form sends its own type."""
    api("set_channel", request("PUT", "/integration/channel", body=body, content_type=content_type))


@settings(FUZZ, max_examples=60)
@example(payload=b"\xff")
@given(payload=st.one_of(st.binary(max_size=64), st.builds(lambda s: json.dumps(s).encode(), selections)))
def test_base64_bodies_as_api_gateway_sends_binary_payloads(api, payload):
    """API Gateway base64-encodes a body it deems binary: whatever bytes the client sent (the
    decoded bytes may not be UTF-8)."""
    body = base64.b64encode(payload).decode()
    api("set_channel", request("PUT", "/integration/channel", body=body, base64_encoded=True))


@example(body="[" * 20_000)
@settings(FUZZ, max_examples=30)
@given(body=deep)
def test_deeply_nested_json_is_a_4xx(api, body):
    """json.loads raises RecursionError (not a JSON error) past ~10,000 levels: a 10 KB body."""
    api("set_channel", request("PUT", "/integration/channel", body=body))


# -- path parameters -----------------------------------------------------------------------------


@settings(FUZZ, max_examples=120)
@given(
    thread_id=thread_ids,
    encoding=st.sampled_from(["raw", "quoted", "quoted-keep-slash"]),
    slack=st.one_of(st.none(), slack_flags),
    identity=st.one_of(st.just(USER_ID), st.just(USER_ID), st.none(), st.just("user-2")),
)
def test_any_thread_id_and_slack_flag(api, thread_id, encoding, slack, identity):
    encoded = {
        "raw": thread_id,
        "quoted": quote(thread_id, safe=""),
        "quoted-keep-slash": quote(thread_id, safe="/"),
    }[encoding]
    event = request(
        "GET",
        f"/messages/{encoded}/thread",
        identity=identity,
        query={"slack": slack} if slack is not None else None,
        route_key=THREAD_ROUTE,
        path_parameters={"internalMessageId": thread_id},
        content_type=None,
    )
    answer = api("thread", event)
    if answer.status == 200:
        assert answer.body["internalMessageId"] == TRACKED_ID
        assert identity == USER_ID


# -- query strings -------------------------------------------------------------------------------


@settings(FUZZ, max_examples=150)
@example(start=None, end="0001-01-01T00:00:00Z", identity=USER_ID)
@example(start=None, end="9999-12-31T23:59:59-01:00", identity=USER_ID)
@example(start="0001-01-01T00:00:00+01:00", end="0001-01-01T00:00:00Z", identity=USER_ID)
@given(
    start=st.one_of(st.none(), window_values),
    end=st.one_of(st.none(), window_values),
    identity=st.one_of(st.just(USER_ID), st.just(USER_ID), st.none(), st.just("user-2")),
)
def test_any_stats_window(api, start, end, identity):
    """A window at the ends of datetime's range overflows (end - 24 h, or the shift to UTC)."""
    query = {name: value for name, value in (("start", start), ("end", end)) if value is not None}
    answer = api("stats", request("GET", "/integration/stats", identity=identity, query=query, content_type=None))
    if answer.status == 200:
        span = datetime.fromisoformat(answer.body["end"]) - datetime.fromisoformat(answer.body["start"])
        assert timedelta(0) < span <= timedelta(days=31)
    elif identity == USER_ID and answer.status == 422:
        assert answer.body["code"] in ("INVALID_WINDOW", "INVALID_REQUEST")
