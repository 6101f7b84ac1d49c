"""Route isolation: every route of the HTTP API answers only its verified caller, about only the
caller's own integration.

- Without a verified identity (the JWT authorizer's `sub`), every route refuses with 401
  UNAUTHENTICATED, whatever user id the body, query or headers claim.
- Two users in two workspaces (USER_ID on Acme, user-2 on Globex) each get tracked messages and
  replies through the real queues; every GET route asked by user-2 shows nothing of USER_ID's
  (Acme's team, channels, message ts, internal ids, integration id, texts), and user-2 asking for
  USER_ID's thread gets the same 404 THREAD_NOT_FOUND as for an id that never existed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.template import http_routes, public_routes
from tests.conftest import OTHER_USER, TEAM_ID, TEAM_NAME, USER_ID
from tests.support.events import HttpAnswer, http_event
from tests.support.records import get_integration_item

# The dashboard's routes, behind the JWT authorizer. Slack's own two (the OAuth callback, the
# events) are public by design: the install state and Slack's signature are their proof
# (tests/integration/test_install_flow.py and test_slack_events.py).
ROUTES = {route: directory for route, directory in http_routes().items() if route not in public_routes()}
ACME_ONLY_ID = "acme-launch-1"
GLOBEX_ONLY_ID = "globex-weekly"
SHARED_ID = "incident-9"  # the same internal id sent to both users: one thread each


def concrete(path: str, internal_message_id: str = ACME_ONLY_ID) -> str:
    filled = path.replace("{internalMessageId}", internal_message_id)
    assert "{" not in filled, f"a new path parameter in {path}: teach this test a value for it"
    return filled


def valid_body(method: str, path: str, channel_id: str) -> dict[str, Any] | None:
    """A body the route would accept, so only the missing identity can refuse it."""
    if (method, path) == ("PUT", "/integration/channel"):
        return {"channelId": channel_id}
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)
    elif value is not None:
        yield str(value)


# -- no identity, no answer ---------------------------------------------------------------------------


def test_the_template_routes_are_all_covered():
    assert set(ROUTES.values()) == {"list_channels", "set_channel", "status", "thread", "stats", "installation"}
    assert public_routes() == {("GET", "/slack/oauth/callback"), ("POST", "/slack/events")}


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_a_request_without_identity_is_refused(method, path, aws, workspace, notification_channel, invoke):
    # USER_ID has an integration, a channel and data: a route falling back to some default user
    # would have something to show.
    event = http_event(
        method, concrete(path), user_id=None, body=valid_body(method, path, workspace.channels["alerts"]["id"])
    )

    answer = invoke(ROUTES[(method, path)], method, path, event=event)

    assert answer.status == 401
    assert answer.body == {"error": answer.body["error"], "code": "UNAUTHENTICATED"}
    assert isinstance(answer.body["error"], str) and answer.body["error"]
    assert answer.headers.get("content-type") == "application/json"
    assert get_integration_item(aws)["notificationChannelId"] == notification_channel["id"]


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
@pytest.mark.parametrize(
    "claims", [{}, {"sub": ""}, {"sub": "   "}, {"username": USER_ID, "cognito:username": USER_ID}]
)
def test_an_identity_without_a_usable_subject_is_refused(method, path, claims, aws, workspace, connected, invoke):
    event = http_event(method, concrete(path), body=valid_body(method, path, workspace.channels["alerts"]["id"]))
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims

    answer = invoke(ROUTES[(method, path)], method, path, event=event)

    assert (answer.status, answer.body["code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_a_user_id_claimed_outside_the_token_is_ignored(method, path, aws, workspace, notification_channel, invoke):
    """The caller is the token's `sub` only: a user id in headers or query is not an identity."""
    event = http_event(
        method,
        concrete(path),
        user_id=None,
        query={"userId": USER_ID, "user_id": USER_ID, "sub": USER_ID},
        body=valid_body(method, path, workspace.channels["alerts"]["id"]),
    )
    event["headers"].update({"x-user-id": USER_ID, "x-amzn-oidc-identity": USER_ID, "x-forwarded-user": USER_ID})

    answer = invoke(ROUTES[(method, path)], method, path, event=event)

    assert (answer.status, answer.body["code"]) == (401, "UNAUTHENTICATED")


# -- two users, two workspaces --------------------------------------------------------------------------


# Every route is read in a row here, the Slack view of threads included.
pytestmark = pytest.mark.usefixtures("unbudgeted_thread_reads")


@pytest.fixture
def delivered(aws, slack, workspace, notification_channel, second_user, producer, consumer) -> dict[str, Any]:
    """Tracked messages and replies for both users, through the queues; returns what is Acme's."""
    producer.send(USER_ID, {"text": "Acme launch plan"}, internal_message_id=ACME_ONLY_ID, message_type="acme-launch")
    producer.send(USER_ID, {"text": "Acme incident opened"}, internal_message_id=SHARED_ID, message_type="incident")
    producer.send(OTHER_USER, {"text": "Globex weekly"}, internal_message_id=GLOBEX_ONLY_ID, message_type="weekly")
    producer.send(OTHER_USER, {"text": "Globex incident opened"}, internal_message_id=SHARED_ID)
    consumer("send").drain()
    producer.reply(ACME_ONLY_ID, {"text": "Acme launch done"})
    producer.reply(SHARED_ID, {"text": "Acme-only follow-up"}, user_id=USER_ID)
    producer.reply(GLOBEX_ONLY_ID, {"text": "Globex follow-up"})
    consumer("reply").drain()

    acme_messages = slack.messages(notification_channel["id"])
    assert len(acme_messages) == 4 and len(slack.messages(second_user["id"])) == 3
    acme_integration = get_integration_item(aws, USER_ID)
    return {
        # Looked for as substrings anywhere in an answer.
        "ids": {
            TEAM_ID,
            TEAM_NAME,
            ACME_ONLY_ID,
            "acme-launch",
            acme_integration["id"],
            "U0BUSTERBOT",
            "B0BUSTER01",
            "Acme",
            *(channel["id"] for channel in workspace.channels.values()),
            *(message["ts"] for message in acme_messages),
        },
        # Channel names are ordinary words: looked for as whole values or #mentions.
        "names": {channel["name"] for channel in workspace.channels.values()},
        "ts": [message["ts"] for message in acme_messages],
    }


def leaks(answer: HttpAnswer, acme: dict[str, Any]) -> list[str]:
    found = []
    for text in [*_strings(answer.body), *_strings(answer.headers)]:
        found += [f"{secret!r} in {text!r}" for secret in acme["ids"] if secret in text]
        found += [
            f"channel name {name!r} in {text!r}"
            for name in acme["names"]
            if text.strip().lstrip("#") == name or f"#{name}" in text
        ]
    return found


def _queries(directory: str) -> list[dict[str, str] | None]:
    """Each GET route plain and with the options that widen what it reads."""
    if directory == "thread":
        return [None, {"slack": "true"}]
    if directory == "stats":
        now = datetime.now(UTC)
        return [None, {"start": _iso(now - timedelta(days=30)), "end": _iso(now + timedelta(days=1))}]
    return [None]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def every_get_route_as(user_id: str, invoke, internal_ids: list[str]) -> list[tuple[str, HttpAnswer]]:
    answers = []
    for (method, path), directory in sorted(ROUTES.items()):
        if method != "GET":
            continue
        paths = [concrete(path, i) for i in internal_ids] if "{internalMessageId}" in path else [path]
        for route in paths:
            for query in _queries(directory):
                answer = invoke(directory, method, route, user_id=user_id, query=query)
                answers.append((f"{method} {route} {json.dumps(query) if query else ''}".strip(), answer))
    return answers


def test_user_1s_data_is_really_there(aws, delivered, invoke):
    """The control: USER_ID's own answers do show what user-2's must not."""
    answers = dict(every_get_route_as(USER_ID, invoke, [ACME_ONLY_ID, SHARED_ID]))
    assert all(answer.status == 200 for answer in answers.values()), {k: a.body for k, a in answers.items()}
    shown = json.dumps([answer.body for answer in answers.values()])
    for ts in delivered["ts"]:
        assert ts in shown
    assert any(leaks(answer, delivered) for answer in answers.values())


def test_user_2_sees_nothing_of_user_1_on_any_get_route(aws, delivered, second_user, invoke):
    answers = every_get_route_as(OTHER_USER, invoke, [GLOBEX_ONLY_ID, SHARED_ID])

    assert len(answers) >= 7
    for route, answer in answers:
        assert answer.status == 200, (route, answer.body)
        assert leaks(answer, delivered) == [], route
    # user-2's own data is what they get.
    shown = dict(answers)
    shared = next(a for r, a in answers if r.startswith(f"GET /messages/{SHARED_ID}/thread") and "slack" not in r)
    assert shared.body["original"]["channelId"] == second_user["id"]
    assert shared.body["replies"] == []  # the reply scoped to USER_ID went to USER_ID's thread only
    slack_view = next(a for r, a in answers if r.startswith(f"GET /messages/{SHARED_ID}/thread") and "slack" in r)
    assert [m["text"] for m in slack_view.body["slack"]["messages"]] == ["Globex incident opened"]
    channels = next(a for r, a in shown.items() if r.startswith("GET /integration/channels"))
    assert [c["id"] for c in channels.body["channels"]] == [second_user["id"]]


def test_user_2_cannot_read_user_1s_thread(aws, delivered, invoke):
    never_sent = invoke("thread", "GET", "/messages/never-sent/thread", user_id=OTHER_USER)
    assert never_sent.status == 404 and never_sent.body["code"] == "THREAD_NOT_FOUND"

    for query in (None, {"slack": "true"}):
        answer = invoke("thread", "GET", f"/messages/{ACME_ONLY_ID}/thread", user_id=OTHER_USER, query=query)
        # Exactly the answer for an id that does not exist: ids of other users cannot be probed.
        assert (answer.status, answer.body, answer.headers) == (404, never_sent.body, never_sent.headers)
        assert leaks(answer, delivered) == []


def test_user_2s_stats_count_only_user_2s_deliveries(aws, delivered, invoke):
    answer = invoke("stats", "GET", "/integration/stats", user_id=OTHER_USER)
    assert answer.status == 200
    assert answer.body["deliveries"] == 3  # two sends and one reply of user-2
    assert answer.body["messagesSent"] == 2
    assert answer.body["replies"]["total"] == 1
    assert answer.body["integrations"]["total"] == 1
    assert set(answer.body["byMessageType"]) <= {"weekly", "untyped"}


def test_user_2_cannot_pick_user_1s_channel(
    aws, slack, delivered, workspace, notification_channel, second_user, invoke
):
    for channel in workspace.channels.values():
        answer = invoke(
            "set_channel", "PUT", "/integration/channel", user_id=OTHER_USER, body={"channelId": channel["id"]}
        )
        assert answer.status == 409, (channel["name"], answer.body)
        assert answer.body["code"] in {"CHANNEL_NOT_FOUND", "CHANNEL_OTHER_WORKSPACE"}
        assert [leak for leak in leaks(answer, delivered) if channel["id"] not in leak] == []
    assert get_integration_item(aws, OTHER_USER)["notificationChannelId"] == second_user["id"]
    assert get_integration_item(aws, USER_ID)["notificationChannelId"] == notification_channel["id"]
