"""Bot tokens stay in Secrets Manager and in the Authorization header of Slack calls: never in an
HTTP answer (body or headers, success or failure, on any route), a dead-lettered message, a
DynamoDB item, an exception the layer raises, or a Slack request's parameters."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from local.template import http_routes
from slack_integration import dependencies
from slack_integration.errors import ServiceError
from slack_integration.models.api import ChannelSelection
from slack_integration.services.delivery import DeliveryFailed, RecordMeta
from tests.conftest import BOT_TOKEN, OTHER_TEAM_ID, OTHER_TOKEN, OTHER_USER, TEAM_ID, TEAM_NAME, USER_ID
from tests.support.aws import AwsStack
from tests.support.events import HttpAnswer
from tests.support.slack_app import API_HOST, consent
from tests.support.sqs import dead_letters

TOKENS = (BOT_TOKEN, OTHER_TOKEN)
UNKNOWN_TOKEN = "xoxb-test-nobody-0009-zzzzzzzzzzzz"  # a token Slack has never issued (invalid_auth)


def tokens_in(text: str) -> list[str]:
    """Every token (or its secret part, without the xoxb- prefix) found in `text`."""
    return [token for token in (*TOKENS, UNKNOWN_TOKEN) if token in text or token[5:] in text]


def answer_text(answer: HttpAnswer) -> str:
    return json.dumps(answer.body) + json.dumps(answer.headers)


# Every route is read in a row here, the Slack view of threads included.
pytestmark = pytest.mark.usefixtures("unbudgeted_thread_reads")


@pytest.fixture
def tracked(aws, slack, notification_channel, second_user, producer, consumer) -> None:
    """A tracked message and a reply delivered to each user."""
    for user in (USER_ID, OTHER_USER):
        producer.send(user, {"text": f"hello {user}"}, internal_message_id="secret-thread")
    consumer("send").drain()
    producer.reply("secret-thread", {"text": "follow-up"})
    consumer("reply").drain()


# -- HTTP answers -------------------------------------------------------------------------------------

# Templated paths, filled in with a thread both users have.
PATHS = {"/messages/{internalMessageId}/thread": "/messages/secret-thread/thread"}


def _requests(method: str, path: str, channel_id: str) -> list[dict[str, Any]]:
    """A route's requests: one that works for its owner, and the ones that fail (bad input,
    unknown ids, a channel of another workspace for user-2); each is sent as every kind of caller."""
    concrete = PATHS.get(path, path)
    assert "{" not in concrete, f"a new path parameter in {path}: give it a value in PATHS"
    base = {"method": method, "path": concrete}
    if method == "PUT":
        return [
            {**base, "body": {"channelId": channel_id}},
            {**base, "raw_body": "{not json"},
            {**base, "body": {"channelId": "#general"}},
            {**base, "body": {"channelId": "C0DOESNOTEXIST"}},
        ]
    variants: list[dict[str, Any]] = [base]
    if "thread" in path:
        variants += [{**base, "query": {"slack": "true"}}, {**base, "path": "/messages/never-sent/thread"}]
    if path.endswith("/stats"):
        variants += [{**base, "query": {"start": "not-a-time"}}]
    return variants


# The routes that call Slack, and the Slack method a fault is armed on (for the PUT, the fault
# answers before the channel id is even looked at).
FAULTED = [
    ("list_channels", "GET", "/integration/channels", {}, "conversations.list"),
    ("set_channel", "PUT", "/integration/channel", {"body": {"channelId": "C0ALERTS00"}}, "conversations.info"),
    ("status", "GET", "/integration/status", {}, "auth.test"),
    ("thread", "GET", "/messages/secret-thread/thread", {"query": {"slack": "true"}}, "conversations.replies"),
]
# Fault kind -> (how many calls it takes: reads are retried once on a 5xx or a dropped connection,
# whose callers it is tried for: the retried ones cost a backoff each, so one user each).
FAULTS = {
    "ratelimited": (1, (USER_ID, OTHER_USER)),
    "server_error": (2, (USER_ID,)),
    "drop_before": (2, (OTHER_USER,)),
}


def _every_answer(invoke, slack, channel_id: str, *, faults: bool) -> list[tuple[str, HttpAnswer]]:
    answers = []
    routes = sorted(http_routes().items())
    # DELETE /integration disconnects: asked last, once everything else has been answered.
    disconnect = [route for route in routes if route[0][0] == "DELETE"]
    for (method, path), directory in [route for route in routes if route not in disconnect]:
        answers += _answers_of(invoke, method, path, directory, channel_id)
    for directory, method, path, kwargs, slack_method in FAULTED if faults else []:
        for fault, (times, users) in FAULTS.items():
            for user in users:
                dependencies.reset()  # cold caches: status and Slack's view of a thread are cached
                fired_before = _fired(slack, slack_method, fault)
                slack.inject_fault(slack_method, fault, times=times)
                answer = invoke(directory, method, path, user_id=user, **kwargs)
                answers.append((f"{user} {method} {path} {kwargs} {fault}", answer))
                # Every armed fault was used here, so none is left to hit a later request.
                assert _fired(slack, slack_method, fault) - fired_before == times, (directory, fault)
    for (method, path), directory in disconnect:
        answers += _answers_of(invoke, method, path, directory, channel_id)
    return answers


def _answers_of(invoke, method: str, path: str, directory: str, channel_id: str) -> list[tuple[str, HttpAnswer]]:
    answers = []
    for request in _requests(method, path, channel_id):
        kwargs = {k: v for k, v in request.items() if k not in ("method", "path")}
        for user in (USER_ID, OTHER_USER, "user-nobody", None):
            answer = invoke(directory, request["method"], request["path"], user_id=user, **kwargs)
            answers.append((f"{user} {request}", answer))
    return answers


def _fired(slack, method: str, fault: str) -> int:
    return sum(1 for call in slack.calls(method) if call["fault"] == fault)


@pytest.mark.parametrize("token_state", ["active", "revoked", "inactive", "expired"])
def test_no_token_in_any_http_answer(token_state, aws, slack, workspace, tracked, invoke):
    for token in TOKENS:
        slack.set_token_status(token, token_state)
    dependencies.reset()

    # Slack's failures (throttled, down, unreachable) once, with working tokens.
    faults = token_state == "active"

    answers = _every_answer(invoke, slack, workspace.channels["alerts"]["id"], faults=faults)

    statuses = {answer.status for _, answer in answers}
    assert {200, 400, 401, 404, 422} <= statuses
    assert ({503} if faults else {409}) <= statuses
    for label, answer in answers:
        assert tokens_in(answer_text(answer)) == [], label


# -- dead letters and DynamoDB items --------------------------------------------------------------------


def test_no_token_in_dead_letters_or_any_table(aws, slack_app, notification_channel, second_user, producer, consumer):
    slack = slack_app
    # A third user connects through Add to Slack (install states, the token Slack issued).
    flow = dependencies.current().install_flow
    assert flow.finish(consent(flow.start("user-3", API_HOST), TEAM_ID), API_HOST).endswith("=connected")
    issued = json.loads(
        aws["secretsmanager"].get_secret_value(
            SecretId=dependencies.current().tokens.secret_name(dependencies.current().integrations.require("user-3").id)
        )["SecretString"]
    )["botToken"]
    # Deliveries and replies for both users, then each kind of failure that dead-letters.
    for user in (USER_ID, OTHER_USER):
        producer.send(user, {"text": "first"}, internal_message_id=f"dl-{user}")
    consumer("send").drain()
    slack.set_token_status(BOT_TOKEN, "revoked")
    slack.set_token_status(OTHER_TOKEN, "expired")
    for user in (USER_ID, OTHER_USER):
        producer.send(user, {"text": "after the token went bad"})
        producer.send(user, {"text": "tracked, after"}, internal_message_id=f"dl-after-{user}")
        producer.reply(f"dl-{user}", {"text": "reply after the token went bad"})
    producer.send("user-nobody", {"text": "no integration"})
    aws["sqs"].send_message(
        QueueUrl=aws["queues"]["SendQueue"], MessageBody="{not json", MessageGroupId="raw", MessageDeduplicationId="r"
    )
    consumer("send").drain()
    consumer("reply").drain()

    entries = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"]) + dead_letters(
        aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"]
    )
    codes = {entry["attributes"]["errorCode"] for entry in entries}
    assert {"SLACK_TOKEN_REVOKED", "INTEGRATION_NOT_FOUND", "INVALID_MESSAGE"} <= codes
    assert len(entries) >= 7
    for entry in entries:
        assert tokens_in(json.dumps(entry)) == [], entry["attributes"]

    items = scan_all_tables(aws)
    assert {"IntegrationsTable", "MessageMappingsTable", "DeliveriesTable", "LifecycleTable"} == set(items)
    assert all(items.values()), "every table holds items the scan could search"
    for table, found in items.items():
        text = json.dumps(found, default=str)
        assert tokens_in(text) == [] and issued not in text and issued[5:] not in text, table


def scan_all_tables(aws: AwsStack) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for logical, name in aws["tables"].items():
        items: list[dict[str, Any]] = []
        for page in aws["dynamodb"].get_paginator("scan").paginate(TableName=name):
            items.extend(page.get("Items", []))
        found[logical] = items
    return found


# -- exceptions -------------------------------------------------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def exception_text(exc: BaseException) -> str:
    """Everything an exception shows when logged or reported: message, repr and args of it and of
    every exception chained to it, and the attributes a ServiceError carries."""
    parts = []
    for current in _chain(exc):
        parts += [str(current), repr(current), *map(repr, current.args)]
        if isinstance(current, ServiceError):
            parts += [str(current.message), str(current.detail), str(current.slack_error)]
    return "\n".join(parts)


def _failures_of_the_layer(workspace, bad_token: str) -> dict[str, BaseException]:
    """What the layer raises (or reports) on every path that uses the bad token."""
    failures: dict[str, BaseException] = {}
    channel = ChannelSelection.model_validate({"channelId": workspace.channels["alerts"]["id"]})
    calls = {
        "list channels": lambda: dependencies.current().channels.list_channels(USER_ID),
        "set channel": lambda: dependencies.current().channels.set_notification_channel(USER_ID, channel),
        "connect": lambda: dependencies.current().installation.connect(
            USER_ID, TEAM_ID, TEAM_NAME, SecretStr(bad_token)
        ),
        "send": lambda: dependencies.current().send.send({"userId": USER_ID, "message": {"text": "x"}}, _meta()),
        "reply": lambda: dependencies.current().reply.reply(
            {"internalMessageId": "exc-thread", "message": {"text": "x"}}, _meta()
        ),
    }
    for name, call in calls.items():
        dependencies.reset()
        try:
            call()
        except (ServiceError, DeliveryFailed) as exc:
            failures[name] = exc
            if isinstance(exc, DeliveryFailed):
                failures[f"{name} error"] = exc.error
                failures[f"{name} body"] = ValueError(json.dumps(exc.body))
        else:
            pytest.fail(f"{name} did not fail with a bad token")
    dependencies.reset()
    integration = dependencies.current().integrations.get_by_user(USER_ID)
    report = dependencies.current().health.check(integration)
    assert report.error is not None
    failures["health check"] = report.error
    return failures


def _meta() -> RecordMeta:
    now = time.time()
    return RecordMeta(message_id=f"m-{now}", receive_count=1, sent_at=now, group_id=USER_ID, deadline=now + 60)


@pytest.mark.parametrize("token_state", ["revoked", "inactive", "expired", "unknown"])
def test_no_token_in_exceptions_for_bad_tokens(
    token_state, aws, slack, workspace, notification_channel, producer, consumer
):
    producer.send(USER_ID, {"text": "for the thread"}, internal_message_id="exc-thread")
    consumer("send").drain()
    if token_state == "unknown":
        # The stored secret now holds a token Slack never issued (invalid_auth).
        integration = dependencies.current().integrations.get_by_user(USER_ID)
        dependencies.current().tokens.put(integration.id, SecretStr(UNKNOWN_TOKEN), TEAM_ID)
        bad_token = UNKNOWN_TOKEN
    else:
        slack.set_token_status(BOT_TOKEN, token_state)
        bad_token = BOT_TOKEN

    failures = _failures_of_the_layer(workspace, bad_token)

    for name, failure in failures.items():
        assert tokens_in(exception_text(failure)) == [], name
    codes = {name: f.code for name, f in failures.items() if isinstance(f, ServiceError)}
    assert all(f.needs_reconnect for f in failures.values() if isinstance(f, ServiceError)), codes


def test_no_token_in_the_exception_of_a_connect_with_a_bad_token(aws, slack, workspace):
    slack.add_token(OTHER_TOKEN, TEAM_ID, status="revoked")
    for token in (UNKNOWN_TOKEN, OTHER_TOKEN):
        with pytest.raises(ServiceError) as failure:
            dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(token))
        assert tokens_in(exception_text(failure.value)) == []


# -- Slack requests -----------------------------------------------------------------------------------------


def test_tokens_travel_only_in_the_authorization_header(aws, slack, workspace, tracked, invoke):
    _every_answer(invoke, slack, workspace.channels["alerts"]["id"], faults=False)

    calls = slack.calls()
    assert {"auth.test", "conversations.list", "conversations.info", "chat.postMessage"} <= {c["method"] for c in calls}
    assert {call["team_id"] for call in calls} >= {TEAM_ID, OTHER_TEAM_ID}
    for call in calls:
        assert call["authorization"] == "bearer", call["method"]
        assert tokens_in(json.dumps(call["params"], default=str)) == [], call["method"]
