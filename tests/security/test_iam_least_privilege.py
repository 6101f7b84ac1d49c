"""Least privilege, measured: every function's IAM policy in template.yaml is exactly what its real
handler uses.

Each function is driven through a representative scenario (its routes with their failure paths,
deliveries, a dead-letter and a throttled retry for the consumers, a sweep for health) on moto and
the Slack emulator. Every AWS call the handler makes is recorded with botocore's own event hooks
on the real clients (nothing is replaced), mapped to the IAM action and resource AWS would
authorize, and compared with the function's `Policies` statements:

(a) every action used is granted, on a resource naming that table / index / queue / secret prefix;
(b) every action granted is used (or is in ALLOWED_UNUSED, with the reason);
(c) no statement is wider than it needs to be: no "*" actions or resources; Secrets Manager only on
    `secret:${TokenSecretPrefix}*` (read and renew; create only for the install, delete only for
    disconnect and uninstall) and GetSecretValue on the Slack app's own secret.

Only calls made while a function's handler runs are counted: the pollers' ReceiveMessage /
DeleteMessageBatch (Lambda's event source mapping does those, with the permissions SAM adds for the
SQS event) and the tests' own setup are not the function's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from pydantic import SecretStr

from local.template import condition_holds, http_routes, load_template, parameter_default, policies, resources
from slack_integration import dependencies
from slack_integration.producer import NotificationProducer
from tests.conftest import (
    BOT_TOKEN,
    OTHER_TEAM_ID,
    OTHER_TOKEN,
    SECRET_PREFIX,
    TEAM_ID,
    USER_ID,
)
from tests.support.aws import AwsStack
from tests.support.events import HttpAnswer, LambdaContext, sample
from tests.support.functions import load_function
from tests.support.slack_app import consent, envelope, public_event, renewal_due, signed
from tests.support.sqs import QueuePoller, dead_letters

OTHER_USER = "user-2"
UNKNOWN_USER = "user-nobody"

FUNCTIONS = resources("AWS::Serverless::Function")
TEMPLATE_RESOURCES = load_template()["Resources"]

# An IAM resource as this test reasons about it:
#   ("table", <logical id>, <index name or None>), ("queue", <logical id>),
#   ("secret", <name>) for a call / ("secret", <prefix>) for a grant ending in "<prefix>*",
#   ("*",) for a wildcard, ("unknown", <what>) for a call on something the template does not declare.
Resource = tuple[Any, ...]

# Granted but legitimately not used by the scenario: {principal: {(action, resource): why}}.
# A grant nothing uses is a finding, not something to wave through: each entry says where the
# grant is exercised instead.
ALLOWED_UNUSED: dict[str, dict[tuple[str, Resource], str]] = {
    "SlackEventsFunction": {
        ("dynamodb:DeleteItem", ("table", "LifecycleTable", None)): (
            "Powertools idempotency deletes an event's in-progress record when handling fails, so "
            "Slack's retry is handled; staging that needs a broken table, which this scenario's "
            "recorder cannot name (test_slack_events.py::test_a_failure_while_handling_lets_slack_redeliver)"
        ),
    },
}

# DynamoDB has no IAM action for transactions: each item is authorized as its own operation
# (AWS docs, "Using IAM with DynamoDB transactions").
_TRANSACT_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# SQS batch operations are authorized as their single-message action.
_SQS_BATCH_ACTIONS = {
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
    "DeleteMessageBatch": "DeleteMessage",
    "SendMessageBatch": "SendMessage",
}
_SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${TokenSecretPrefix}*"
# Secrets Manager appends "-" and 6 random characters to a secret's name in its ARN.
_APP_SECRET_ARN = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SlackAppSecretName}-??????"
)
# Who may do what to the bot tokens beyond reading and renewing them.
_TOKEN_WRITERS = {
    "secretsmanager:CreateSecret": {"InstallationFunction"},
    "secretsmanager:DeleteSecret": {"InstallationFunction", "SlackEventsFunction"},
}


# -- recording ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsCall:
    principal: str  # the function (logical id) whose handler made the call
    service: str  # IAM service prefix
    operation: str
    params: dict[str, Any]


@dataclass
class Recorder:
    """botocore hooks on boto3's default session: every API call made while `principal` is set."""

    calls: list[AwsCall] = field(default_factory=list)
    principal: str | None = None
    routes: set[tuple[str, str]] = field(default_factory=set)  # (function, method) invoked over HTTP

    def remember_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # before-call sees the serialized request; the API parameters are only passed to
        # before-parameter-build, with the same request context.
        context["security_test_api_params"] = params

    def record(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.principal is None:
            return
        service = model.service_model.signing_name or model.service_model.endpoint_prefix
        params = dict(context.get("security_test_api_params") or {})
        self.calls.append(AwsCall(self.principal, service, model.name, params))

    @contextmanager
    def running(self, principal: str) -> Iterator[None]:
        """Record the calls of one invocation of `principal`, in a fresh container (cold caches, so
        a token read by the previous invocation is read again: that is what a cold start does)."""
        dependencies.reset()
        previous, self.principal = self.principal, principal
        try:
            yield
        finally:
            self.principal = previous

    def wrap(self, principal: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self.running(principal):
                return handler(*args, **kwargs)

        return recorded

    def of(self, principal: str) -> list[AwsCall]:
        return [call for call in self.calls if call.principal == principal]


@pytest.fixture
def recorder(aws: AwsStack) -> Iterator[Recorder]:
    recording = Recorder()
    session = boto3._get_default_session()
    session.events.register("before-parameter-build", recording.remember_params)
    session.events.register("before-call", recording.record)
    dependencies.reset()  # clients made from now on carry the hooks
    yield recording
    session.events.unregister("before-call", recording.record)
    session.events.unregister("before-parameter-build", recording.remember_params)


# -- calls -> IAM requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """Physical names of the test's tables and queues -> their logical ids in the template."""

    tables: dict[str, str]
    queues: dict[str, str]

    @classmethod
    def of(cls, aws: AwsStack) -> Names:
        return cls(
            tables={physical: logical for logical, physical in aws["tables"].items()},
            queues={url: logical for logical, url in aws["queues"].items()},
        )

    def table(self, name: str, index: str | None = None) -> Resource:
        return ("table", self.tables[name], index) if name in self.tables else ("unknown", f"table {name}")

    def queue(self, url: str) -> Resource:
        return ("queue", self.queues[url]) if url in self.queues else ("unknown", f"queue {url}")


def iam_requests(call: AwsCall, names: Names) -> list[tuple[str, Resource]]:
    """What IAM authorizes for one API call: (action, resource) pairs."""
    params, operation = call.params, call.operation
    if call.service == "dynamodb":
        if operation == "TransactWriteItems":
            requests = []
            for item in params["TransactItems"]:
                [(kind, body)] = item.items()
                requests.append((f"dynamodb:{_TRANSACT_WRITE_ACTIONS[kind]}", names.table(body["TableName"])))
            return requests
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", names.table(item["Get"]["TableName"])) for item in params["TransactItems"]]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", names.table(table)) for table in params["RequestItems"]]
        return [(f"dynamodb:{operation}", names.table(params["TableName"], params.get("IndexName")))]
    if call.service == "sqs":
        action = _SQS_BATCH_ACTIONS.get(operation, operation)
        return [(f"sqs:{action}", names.queue(params["QueueUrl"]))]
    if call.service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [("events:PutEvents", ("bus", bus)) for bus in sorted(buses)]
    if call.service == "secretsmanager" and ("SecretId" in params or "Name" in params):
        return [(f"secretsmanager:{operation}", ("secret", params.get("SecretId") or params["Name"]))]
    return [(f"{call.service}:{operation}", ("unknown", f"{call.service} {sorted(params)}"))]


# -- the template's grants --------------------------------------------------------------------------


class Unresolvable(ValueError):
    pass


def resolve(resource: Any) -> Resource:
    """A policy statement's Resource entry as this test reasons about it."""
    if resource == "*":
        return ("*",)
    if isinstance(resource, dict) and set(resource) == {"Fn::If"}:
        # The branch CloudFormation takes with the parameters' defaults (no restored table in use).
        condition, when_true, when_false = resource["Fn::If"]
        return resolve(when_true if condition_holds(condition) else when_false)
    if isinstance(resource, dict) and set(resource) == {"Fn::GetAtt"}:
        logical, attribute = resource["Fn::GetAtt"]
        kind = TEMPLATE_RESOURCES.get(logical, {}).get("Type")
        if attribute == "Arn" and kind == "AWS::DynamoDB::Table":
            return ("table", logical, None)
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            return ("queue", logical)
    if isinstance(resource, dict) and set(resource) == {"Fn::Sub"} and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        index = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/(\w+)", text)
        if index:
            table, name = index.groups()
            declared = TEMPLATE_RESOURCES.get(table, {}).get("Properties", {}).get("GlobalSecondaryIndexes", [])
            if name in {gsi["IndexName"] for gsi in declared}:
                return ("table", table, name)
        if text == _SECRET_ARN:
            return ("secret", parameter_default("TokenSecretPrefix"))
        if text == _APP_SECRET_ARN:
            return ("app-secret", parameter_default("SlackAppSecretName"))
        if text == "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}":
            return ("bus", parameter_default("EventBusName"))
    if resource == {"Ref": "KmsKeyArn"}:
        return ("kms-key",)  # the one key the operator named (only with UseKms)
    raise Unresolvable(f"cannot tell what this Resource names: {resource!r}")


def covers(granted: Resource, used: Resource) -> bool:
    if granted == ("*",):
        return True
    if granted[0] == "secret":
        return used[0] == "secret" and isinstance(used[1], str) and used[1].startswith(granted[1])
    if granted[0] == "app-secret":
        return used[0] == "secret" and used[1] == granted[1]
    return granted == used


@dataclass(frozen=True)
class Grant:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[Resource, ...]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(principal: str) -> list[dict[str, Any]]:
    """The policy statements of a function (its Policies) or of a managed policy."""
    resource = TEMPLATE_RESOURCES[principal]
    if resource["Type"] == "AWS::IAM::ManagedPolicy":
        # A statement under `!If [Condition, statement, !Ref AWS::NoValue]`: as deployed by default.
        chosen = []
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if set(statement) == {"Fn::If"}:
                condition, when_true, when_false = statement["Fn::If"]
                statement = when_true if condition_holds(condition) else when_false
                if statement == {"Ref": "AWS::NoValue"}:
                    continue
            chosen.append(statement)
        return chosen
    found = []
    for policy in policies(resource):
        assert isinstance(policy, dict) and set(policy) == {"Statement"}, (
            f"{principal}: only inline statements are allowed, not SAM policy templates or managed policies: {policy}"
        )
        found.extend(policy["Statement"])
    return found


def grants(principal: str) -> list[Grant]:
    return [
        Grant(
            str(statement.get("Sid")),
            tuple(_as_list(statement["Action"])),
            tuple(resolve(resource) for resource in _as_list(statement["Resource"])),
        )
        for statement in statements(principal)
        if statement.get("Effect") == "Allow"
    ]


def _show(resource: Resource) -> str:
    if resource[0] == "table":
        return f"{resource[1]}" + (f"/index/{resource[2]}" if resource[2] else "")
    return "/".join(str(part) for part in resource)


def assert_least_privilege(principal: str, recorder: Recorder, aws: AwsStack) -> None:
    names = Names.of(aws)
    calls = recorder.of(principal)
    assert calls, f"the scenario made no AWS call as {principal}: nothing was measured"
    routes = {(_logical_for(directory), method) for (method, _), directory in http_routes().items()}
    missed = {route for route in routes if route[0] == principal} - recorder.routes
    assert not missed, f"the scenario did not invoke every route of {principal}: {sorted(missed)}"
    used = {request for call in calls for request in iam_requests(call, names)}
    granted = grants(principal)

    # (a) everything used is granted, on the resource it names
    ungranted = sorted(
        f"{action} on {_show(resource)}"
        for action, resource in used
        if not any(action in grant.actions and any(covers(g, resource) for g in grant.resources) for grant in granted)
    )
    assert ungranted == [], f"{principal} needs permissions template.yaml does not grant: {ungranted}"

    # (b) everything granted is used (or explained in ALLOWED_UNUSED)
    allowed = ALLOWED_UNUSED.get(principal, {})
    unused = sorted(
        f"{grant.sid}: {action} on {_show(resource)}"
        for grant in granted
        for action in grant.actions
        for resource in grant.resources
        if (action, resource) not in allowed
        and not any(action == used_action and covers(resource, used_on) for used_action, used_on in used)
    )
    assert unused == [], f"{principal} is granted permissions its handler never uses: {unused}"


# -- (c) the statements themselves ------------------------------------------------------------------

# What a default deployment creates: the customer-managed key's policy exists only with KmsKeyArn
# (test_the_kms_key_is_used_only_as_the_queues_and_environments_need below).
PRINCIPALS = sorted(FUNCTIONS) + sorted(
    name
    for name, policy in resources("AWS::IAM::ManagedPolicy").items()
    if "Condition" not in policy or condition_holds(policy["Condition"])
)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_no_statement_is_wider_than_the_resources_it_names(principal):
    for statement in statements(principal):
        sid = statement.get("Sid")
        assert statement.get("Effect") == "Allow", (principal, sid)
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), (principal, sid)
        actions = _as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{principal}/{sid}: wildcard action {action}"
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z]+", action), f"{principal}/{sid}: {action}"
        named = [resolve(resource) for resource in _as_list(statement["Resource"])]  # raises if unnamed
        assert ("*",) not in named, f"{principal}/{sid}: Resource '*' where the resource can be named"
        secret_actions = [a for a in actions if a.startswith("secretsmanager:")]
        secret_resources = [r for r in named if r[0] in ("secret", "app-secret")]
        if secret_actions or secret_resources:
            assert len(named) == 1 and secret_actions == actions, (
                f"{principal}/{sid}: secrets in a statement of their own"
            )
            if named[0][0] == "app-secret":
                assert actions == ["secretsmanager:GetSecretValue"], f"{principal}/{sid}: {actions}"
                assert statement["Resource"] == {"Fn::Sub": _APP_SECRET_ARN}, f"{principal}/{sid}"
                continue
            assert named == [("secret", parameter_default("TokenSecretPrefix"))], f"{principal}/{sid}"
            assert statement["Resource"] == {"Fn::Sub": _SECRET_ARN}, f"{principal}/{sid}"
            for action in actions:
                allowed = {"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"}
                assert action in allowed or principal in _TOKEN_WRITERS.get(action, set()), (
                    f"{principal}/{sid}: {action} on the bot tokens"
                )


def test_the_token_prefix_cannot_reach_other_secrets():
    # `<prefix>*` stays inside the prefix only because the prefix ends with a separator.
    parameter = load_template()["Parameters"]["TokenSecretPrefix"]
    assert parameter["Default"].endswith("/")
    assert parameter["AllowedPattern"].endswith("/$")
    # ...and the tests' secrets live under the template's default prefix, so (a) checks it.
    assert parameter["Default"] == SECRET_PREFIX


# -- scenarios: one per function of the template ------------------------------------------------------


def _logical_for(directory: str) -> str:
    [logical] = [
        name for name, res in FUNCTIONS.items() if res["Properties"]["CodeUri"].strip("/") == f"functions/{directory}"
    ]
    return logical


def http(recorder: Recorder, invoke: Callable[..., HttpAnswer]) -> Callable[..., HttpAnswer]:
    """invoke(), recorded as the function behind the directory."""

    def call(directory: str, method: str, path: str, **kwargs: Any) -> HttpAnswer:
        recorder.routes.add((_logical_for(directory), method))
        with recorder.running(_logical_for(directory)):
            return invoke(directory, method, path, **kwargs)

    return call


def recorded_consumer(recorder: Recorder, poller: QueuePoller, principal: str) -> QueuePoller:
    """The poller's receive and delete calls stay unrecorded (Lambda's event source mapping
    makes them); only the handler's own calls count."""
    poller.handler = recorder.wrap(principal, poller.handler)
    return poller


def _connect_other_user() -> None:
    """user-2 connects Globex's workspace and has not chosen a channel yet."""
    dependencies.current().installation.connect(OTHER_USER, OTHER_TEAM_ID, "Globex", SecretStr(OTHER_TOKEN))


def renew_on_next_call(slack: Any, aws: AwsStack, user_id: str = USER_ID) -> None:
    """The user's token rotates and is due: the scenario's next Slack call renews it first
    (every function that reads tokens may be the one that renews)."""
    found = dependencies.current().integrations.get_by_user(user_id)
    assert found is not None
    renewal_due(slack, aws, found.id, found.team_id)


def test_list_channels_function(aws, slack, notification_channel, invoke, recorder):
    call = http(recorder, invoke)
    routes = [route for route, directory in http_routes().items() if directory == "list_channels"]
    assert routes == [("GET", "/integration/channels")]

    assert call("list_channels", "GET", "/integration/channels").status == 200
    assert call("list_channels", "GET", "/integration/channels", user_id=UNKNOWN_USER).status == 404
    assert call("list_channels", "GET", "/integration/channels", user_id=None).status == 401
    slack.inject_fault("conversations.list", "ratelimited", retry_after=7)
    assert call("list_channels", "GET", "/integration/channels").status == 503
    slack.set_token_status(BOT_TOKEN, "revoked")  # flags the integration needs_reconnect
    assert call("list_channels", "GET", "/integration/channels").body["code"] == "SLACK_TOKEN_REVOKED"
    renew_on_next_call(slack, aws)  # a reconnect with token rotation, due for renewal
    assert call("list_channels", "GET", "/integration/channels").status == 200

    assert_least_privilege("ListChannelsFunction", recorder, aws)


def test_set_channel_function(aws, slack, workspace, notification_channel, invoke, recorder):
    call = http(recorder, invoke)
    assert sorted(route for route, d in http_routes().items() if d == "set_channel") == [
        ("GET", "/integration/channel"),
        ("PUT", "/integration/channel"),
    ]
    path = "/integration/channel"

    assert call("set_channel", "GET", path).status == 200
    assert call("set_channel", "GET", path, user_id=UNKNOWN_USER).status == 404
    assert call("set_channel", "PUT", path, body={"channelId": workspace.channels["alerts"]["id"]}).status == 200
    assert call("set_channel", "PUT", path, body={"channelId": workspace.channels["private"]["id"]}).status == 409
    assert call("set_channel", "PUT", path, raw_body="{not json").status == 400
    assert call("set_channel", "PUT", path, body={"channelName": "alerts"}).status == 422
    unauthenticated = call(
        "set_channel", "PUT", path, user_id=None, body={"channelId": workspace.channels["beta"]["id"]}
    )
    assert unauthenticated.status == 401
    slack.set_token_status(BOT_TOKEN, "revoked")
    answer = call("set_channel", "PUT", path, body={"channelId": workspace.channels["general"]["id"]})
    assert answer.body["code"] == "SLACK_TOKEN_REVOKED"
    renew_on_next_call(slack, aws)
    assert call("set_channel", "PUT", path, body={"channelId": workspace.channels["general"]["id"]}).status == 200

    assert_least_privilege("SetChannelFunction", recorder, aws)


def test_status_function(aws, slack, notification_channel, invoke, recorder):
    call = http(recorder, invoke)
    assert call("status", "GET", "/integration/status").body["canSend"] is True
    assert call("status", "GET", "/integration/status", user_id=UNKNOWN_USER).body["code"] == "INTEGRATION_NOT_FOUND"
    assert call("status", "GET", "/integration/status", user_id=None).status == 401
    slack.set_token_status(BOT_TOKEN, "revoked")
    assert call("status", "GET", "/integration/status").body["code"] == "SLACK_TOKEN_REVOKED"
    slack.inject_fault("auth.test", "ratelimited", retry_after=5)
    assert call("status", "GET", "/integration/status").status == 200
    renew_on_next_call(slack, aws)
    assert call("status", "GET", "/integration/status").body["canSend"] is True

    assert_least_privilege("StatusFunction", recorder, aws)


def test_thread_function(aws, slack, notification_channel, producer, consumer, invoke, recorder):
    producer.send(USER_ID, {"text": "Deploy #7 started"}, internal_message_id="deploy-7")
    consumer("send").drain()
    producer.reply("deploy-7", {"text": "Deploy #7 finished"})
    consumer("reply").drain()
    call = http(recorder, invoke)

    renew_on_next_call(slack, aws)
    answer = call("thread", "GET", "/messages/deploy-7/thread", query={"slack": "true"})
    assert answer.status == 200 and answer.body["slack"]["available"] is True
    assert len(answer.body["replies"]) == 1
    assert call("thread", "GET", "/messages/deploy-7/thread").status == 200
    assert call("thread", "GET", "/messages/unknown/thread").body["code"] == "THREAD_NOT_FOUND"
    assert call("thread", "GET", "/messages/deploy-7/thread", user_id=UNKNOWN_USER).status == 404
    assert call("thread", "GET", "/messages/deploy-7/thread", user_id=None).status == 401
    listed = call("thread", "GET", "/messages")
    assert listed.status == 200 and listed.body["messages"][0]["replies"] == 1
    assert call("thread", "GET", "/messages", user_id=UNKNOWN_USER).status == 404

    assert_least_privilege("ThreadFunction", recorder, aws)


def test_stats_function(aws, slack, notification_channel, producer, consumer, invoke, recorder):
    producer.send(USER_ID, {"text": "hello"}, internal_message_id="stats-1")
    consumer("send").drain()
    call = http(recorder, invoke)

    assert call("stats", "GET", "/integration/stats").body["messagesSent"] == 1
    window = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}
    assert call("stats", "GET", "/integration/stats", query=window).body["deliveries"] == 0
    assert call("stats", "GET", "/integration/stats", query={"start": "yesterday"}).status == 422
    assert call("stats", "GET", "/integration/stats", user_id=UNKNOWN_USER).status == 404
    assert call("stats", "GET", "/integration/stats", user_id=None).status == 401

    assert_least_privilege("StatsFunction", recorder, aws)


def test_health_function(aws, slack, notification_channel, other_workspace, recorder):
    _connect_other_user()  # checked too: needs_new_channel
    renew_on_next_call(slack, aws)
    handler = recorder.wrap("HealthFunction", load_function("health").lambda_handler)

    summary = handler(sample("health.json"), LambdaContext("health", remaining_ms=300_000))

    assert summary["checked"] == 2 and summary["healthy"] == 1
    assert_least_privilege("HealthFunction", recorder, aws)


def test_send_function(aws, slack, notification_channel, other_workspace, producer, consumer, recorder):
    _connect_other_user()
    renew_on_next_call(slack, aws)
    send = recorded_consumer(recorder, consumer("send"), "SendFunction")
    producer.send(USER_ID, {"text": "tracked"}, internal_message_id="iam-send-1")
    producer.send(USER_ID, {"text": "untracked"})
    producer.send(OTHER_USER, {"text": "no channel chosen yet"})  # dead-lettered: CHANNEL_NOT_SET

    send.drain()

    assert len(slack.messages(notification_channel["id"])) == 2
    [dead] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert dead["attributes"]["errorCode"] == "CHANNEL_NOT_SET"

    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1)
    producer.send(USER_ID, {"text": "throttled"})
    poll = send.poll()
    assert poll is not None and len(poll.failed) == 1  # handed back with ChangeMessageVisibilityBatch

    assert_least_privilege("SendFunction", recorder, aws)


def test_reply_function(legacy_ids, aws, slack, notification_channel, second_user, producer, consumer, recorder):
    # USER_ID's integration has a random id (legacy_ids): its first follow-up reads the mapping on its own.
    for internal_id in ("iam-reply-ok", "iam-reply-dead", "iam-reply-throttled"):
        producer.send(USER_ID, {"text": f"original {internal_id}"}, internal_message_id=internal_id)
    consumer("send").drain()
    reply = recorded_consumer(recorder, consumer("reply"), "ReplyFunction")

    renew_on_next_call(slack, aws)
    producer.reply("iam-reply-ok", {"text": "to every thread"})  # Query of the mappings
    # BatchGetItem of the integration and the mapping; the random id missed: GetItem of the mapping.
    producer.reply("iam-reply-ok", {"text": "to USER_ID's thread"}, user_id=USER_ID)
    producer.update("iam-reply-ok", {"text": "changed in place"}, user_id=USER_ID)  # UpdateItem of the mapping
    reply.drain()
    assert len(slack.messages(notification_channel["id"])) == 5

    # A permanent failure: flags the channel, dead-letters the part, checks the ledger first.
    slack.inject_fault("chat.postMessage", "error", error="channel_not_found")
    producer.reply("iam-reply-dead", {"text": "lost"})
    reply.poll()
    [dead] = dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    assert dead["attributes"]["errorCode"] == "CHANNEL_NOT_FOUND"

    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=1)
    producer.reply("iam-reply-throttled", {"text": "later"})
    poll = reply.poll()
    assert poll is not None and len(poll.failed) == 1

    # Sent to two users: the reply fans out (SendMessage on its own queue).
    producer.send(USER_ID, {"text": "for both"}, internal_message_id="iam-reply-both")
    producer.send(OTHER_USER, {"text": "for both"}, internal_message_id="iam-reply-both")
    consumer("send").drain()
    producer.reply("iam-reply-both", {"text": "to both threads"})
    reply.drain()
    assert [m["text"] for m in slack.messages(second_user["id"])] == ["for both", "to both threads"]
    # No original yet: the ledger says whether it is on its way or dead-lettered (GetItem).
    producer.reply("iam-reply-early", {"text": "too early"}, user_id=USER_ID)
    early = reply.poll()
    assert early is not None and len(early.failed) == 1

    assert_least_privilege("ReplyFunction", recorder, aws)


def test_installation_function(aws, rotating_slack_app, workspace, invoke, recorder):
    slack = rotating_slack_app
    call = http(recorder, invoke)
    assert sorted(route for route, d in http_routes().items() if d == "installation") == [
        ("DELETE", "/integration"),
        ("GET", "/slack/oauth/callback"),
        ("POST", "/integration/install"),
    ]

    def finish(query: dict[str, str]) -> str:
        event = public_event("GET", "/slack/oauth/callback", query=query)
        return str(call("installation", "GET", "/slack/oauth/callback", event=event).headers["location"])

    url = call("installation", "POST", "/integration/install").body["url"]
    assert finish(consent(url, workspace.team_id)).endswith("?slack=connected")  # creates the token secret
    url = call("installation", "POST", "/integration/install").body["url"]
    assert finish(consent(url, workspace.team_id)).endswith("?slack=connected")  # replaces it
    assert "INSTALL_STATE_INVALID" in finish({"state": "forged", "code": "1"})
    renew_on_next_call(slack, aws)
    assert call("installation", "DELETE", "/integration").status == 200  # renews, revokes, deletes
    assert call("installation", "DELETE", "/integration", user_id=UNKNOWN_USER).status == 404

    assert_least_privilege("InstallationFunction", recorder, aws)


def test_slack_events_function(aws, rotating_slack_app, notification_channel, invoke, recorder):
    slack = rotating_slack_app
    call = http(recorder, invoke)
    channel = notification_channel["id"]

    def deliver(event_id: str, event: dict[str, Any]) -> int:
        request = signed(envelope(TEAM_ID, event, event_id=event_id))
        return call("slack_events", "POST", "/slack/events", event=request).status

    assert (
        call(
            "slack_events", "POST", "/slack/events", event=signed({"type": "url_verification", "challenge": "c"})
        ).status
        == 200
    )
    forged = signed(envelope(TEAM_ID, {"type": "app_uninstalled"}), secret="forged")
    assert call("slack_events", "POST", "/slack/events", event=forged).status == 401
    slack.archive_channel(TEAM_ID, channel)
    assert deliver("Ev1", {"type": "channel_archive", "channel": channel}) == 200
    assert deliver("Ev1", {"type": "channel_archive", "channel": channel}) == 200  # a redelivery
    slack.unarchive_channel(TEAM_ID, channel)
    renew_on_next_call(slack, aws)
    assert deliver("Ev2", {"type": "channel_unarchive", "channel": channel}) == 200  # checks with Slack
    assert deliver("Ev3", {"type": "channel_rename", "channel": {"id": channel, "name": "renamed"}}) == 200
    assert deliver("Ev4", {"type": "app_uninstalled"}) == 200  # deletes the token

    assert_least_privilege("SlackEventsFunction", recorder, aws)


def test_domain_events_function(aws, slack, notification_channel, producer, consumer, recorder):
    intake = recorded_consumer(recorder, consumer("domain_events"), "DomainEventsFunction")
    detail = {"userId": USER_ID, "deploymentId": "iam-1"}
    producer.publish_domain_event("buster.deployments", "Deployment Started", detail)  # SendMessage: send queue
    producer.publish_domain_event("buster.deployments", "Deployment Completed", detail)  # reply queue, twice

    intake.drain()

    assert_least_privilege("DomainEventsFunction", recorder, aws)


def test_receipts_function(aws, slack, notification_channel, producer, consumer, receipts, recorder):
    for n in range(2):
        producer.send(USER_ID, {"text": f"receipt {n}"}, internal_message_id=f"iam-receipt-{n}")
    consumer("send").drain()
    receipts.invoke = recorder.wrap("ReceiptsFunction", receipts.invoke)  # type: ignore[method-assign]

    receipts.publish()  # BatchGetItem (published?), PutEvents, BatchWriteItem (remembered)
    receipts.invoke(receipts.invocations[0])  # a redelivered batch: found, not published again

    assert len(receipts.received()) == 2
    assert_least_privilege("ReceiptsFunction", recorder, aws)


def test_message_producer_policy(aws, slack, recorder):
    """The managed policy producers attach: the producer client's send, reply and bulk send."""
    with recorder.running("MessageProducerPolicy"):
        producer = NotificationProducer(aws["queues"]["SendQueue"], aws["queues"]["ReplyQueue"])
        producer.send(USER_ID, {"text": "one"}, internal_message_id="producer-1")
        producer.reply("producer-1", {"text": "two"})
        producer.update("producer-1", {"text": "one, changed"})
        producer.publish_domain_event("buster.deployments", "Deployment Started", {"userId": USER_ID})
        result = producer.send_bulk([{"userId": USER_ID, "message": {"text": f"bulk {n}"}} for n in range(3)])
    assert len(result.accepted) == 3

    assert_least_privilege("MessageProducerPolicy", recorder, aws)


def test_calls_map_to_the_actions_iam_authorizes():
    names = Names(
        tables={"Ledger-test": "DeliveriesTable", "Maps-test": "MessageMappingsTable"}, queues={"u": "SendQueue"}
    )
    transaction = AwsCall(
        "F",
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "Maps-test"}}, {"Update": {"TableName": "Ledger-test"}}]},
    )
    assert iam_requests(transaction, names) == [
        ("dynamodb:PutItem", ("table", "MessageMappingsTable", None)),
        ("dynamodb:UpdateItem", ("table", "DeliveriesTable", None)),
    ]
    query = AwsCall("F", "dynamodb", "Query", {"TableName": "Ledger-test", "IndexName": "byThread"})
    assert iam_requests(query, names) == [("dynamodb:Query", ("table", "DeliveriesTable", "byThread"))]
    visibility = AwsCall("F", "sqs", "ChangeMessageVisibilityBatch", {"QueueUrl": "u", "Entries": []})
    assert iam_requests(visibility, names) == [("sqs:ChangeMessageVisibility", ("queue", "SendQueue"))]
    elsewhere = AwsCall("F", "dynamodb", "GetItem", {"TableName": "someone-elses"})
    assert iam_requests(elsewhere, names)[0][1][0] == "unknown"
    # A grant on a table does not cover its indexes, nor the other way round; a prefix covers its secrets.
    assert not covers(("table", "DeliveriesTable", None), ("table", "DeliveriesTable", "byThread"))
    assert not covers(("table", "DeliveriesTable", "byThread"), ("table", "DeliveriesTable", None))
    assert covers(("secret", SECRET_PREFIX), ("secret", f"{SECRET_PREFIX}abc"))
    assert not covers(("secret", SECRET_PREFIX), ("secret", "other/abc"))


SCENARIOS = {
    "ListChannelsFunction": test_list_channels_function,
    "SetChannelFunction": test_set_channel_function,
    "StatusFunction": test_status_function,
    "ThreadFunction": test_thread_function,
    "StatsFunction": test_stats_function,
    "HealthFunction": test_health_function,
    "SendFunction": test_send_function,
    "ReplyFunction": test_reply_function,
    "MessageProducerPolicy": test_message_producer_policy,
    "InstallationFunction": test_installation_function,
    "SlackEventsFunction": test_slack_events_function,
    "ReceiptsFunction": test_receipts_function,
    "DomainEventsFunction": test_domain_events_function,
}


def test_every_principal_of_the_template_has_a_measured_scenario():
    assert set(SCENARIOS) == set(PRINCIPALS)


def test_the_recorder_sees_only_the_handlers_calls(aws, slack, notification_channel, producer, consumer, recorder):
    """The harness's own SQS calls (receive, delete) are not attributed to the function."""
    producer.send(USER_ID, {"text": "hello"})
    send = recorded_consumer(recorder, consumer("send"), "SendFunction")
    send.drain()
    operations = {call.operation for call in recorder.calls}
    assert "ReceiveMessage" not in operations and "DeleteMessageBatch" not in operations
    assert {"GetItem", "UpdateItem", "GetSecretValue"} <= operations


def test_the_kms_key_is_used_only_as_the_queues_and_environments_need():
    """With KmsKeyArn (not measurable on moto, which does not enforce KMS): one managed policy,
    attached to every function, and the producers' policy, each granting only Decrypt and
    GenerateDataKey on that one key; nothing without KmsKeyArn."""
    key_use = TEMPLATE_RESOURCES["KmsKeyUsePolicy"]
    assert key_use["Condition"] == "UseKms"
    expected = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": {"Ref": "KmsKeyArn"}}
    [statement] = key_use["Properties"]["PolicyDocument"]["Statement"]
    assert {k: v for k, v in statement.items() if k != "Sid"} == expected
    for name, function in FUNCTIONS.items():
        assert {"Ref": "KmsKeyUsePolicy"} in policies(function, {"KmsKeyArn": KMS_KEY}), name
        assert {"Ref": "KmsKeyUsePolicy"} not in policies(function), name
    producer = TEMPLATE_RESOURCES["MessageProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    [conditional] = [s["Fn::If"] for s in producer if set(s) == {"Fn::If"}]
    assert conditional[0] == "UseKms" and conditional[2] == {"Ref": "AWS::NoValue"}
    assert sorted(conditional[1]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert conditional[1]["Resource"] == {"Ref": "KmsKeyArn"}


KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0c1f5e3e-7a7c-4b8e-9a51-2f4e6c9d8b10"
