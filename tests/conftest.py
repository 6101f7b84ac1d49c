"""Shared fixtures: AWS through moto (tables from template.yaml), Slack through the project's own
emulator over real HTTP, and the Lambda handlers imported from functions/ as Lambda would load them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import SecretStr

# Before anything imports boto3 clients or Powertools: no real AWS, no tracing, a fixed region.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "slack-messaging",
        "POWERTOOLS_METRICS_NAMESPACE": "Test/SlackMessaging",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from local.slack_emulator import SlackEmulator
from slack_integration import dependencies
from slack_integration.config import load_settings
from tests.support.aws import AwsStack
from tests.support.events import HttpAnswer, LambdaContext, http_event
from tests.support.functions import load_function
from tests.support.identities import (  # re-exported: tests import them from here
    BOT_TOKEN,
    OTHER_TEAM_ID,
    OTHER_TOKEN,
    OTHER_USER,
    SECRET_PREFIX,
    TEAM_ID,
    TEAM_NAME,
    USER_ID,
)
from tests.support.slack_app import APP_SECRETS, RETURN_URL, register
from tests.support.sqs import QueuePoller
from tests.support.template import create_queues, create_rules, create_tables, function_env, table_env


@pytest.fixture(scope="session")
def emulator() -> Iterator[SlackEmulator]:
    emu = SlackEmulator()
    emu.start(host="127.0.0.1", port=0)
    yield emu
    emu.stop()


@pytest.fixture
def slack(emulator: SlackEmulator) -> SlackEmulator:
    """The emulator, emptied for this test."""
    emulator.reset()
    return emulator


@pytest.fixture(autouse=True)
def service_env(monkeypatch: pytest.MonkeyPatch, emulator: SlackEmulator) -> dict[str, str]:
    """The environment template.yaml gives the functions, pointed at moto and the emulator."""
    env = {
        **table_env(),
        "TOKEN_SECRET_PREFIX": SECRET_PREFIX,
        "SLACK_API_URL": emulator.base_url,
        "SLACK_TIMEOUT_SECONDS": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dependencies.reset()
    yield env
    dependencies.reset()


@pytest.fixture
def unbudgeted_thread_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack view of a thread without its once-a-minute budget per workspace (as for an app
    listed in the Slack Marketplace), for tests that read many threads in a row; the budget has
    tests of its own (tests/integration/test_slack_limits.py)."""
    monkeypatch.setenv("SLACK_THREAD_READ_INTERVAL", "0")


@pytest.fixture
def aws() -> Iterator[AwsStack]:
    """moto with the template's tables and queues; yields real boto3 clients for assertions."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        sqs = boto3.client("sqs")
        tables = create_tables(dynamodb)
        yield AwsStack(
            dynamodb=dynamodb,
            secretsmanager=boto3.client("secretsmanager"),
            sqs=sqs,
            tables=tables,
            queues=create_queues(sqs),
        )


@dataclass
class Workspace:
    team_id: str
    token: str
    channels: dict[str, dict[str, Any]]


@pytest.fixture
def workspace(slack: SlackEmulator) -> Workspace:
    """Acme's Slack: public channels (one archived, one private) and a bot token."""
    slack.add_workspace(TEAM_ID, TEAM_NAME, domain="acme", bot_user_id="U0BUSTERBOT", bot_id="B0BUSTER01")
    slack.add_token(BOT_TOKEN, TEAM_ID)
    channels = {
        "general": slack.add_channel(TEAM_ID, "general", is_member=True, purpose="Company-wide", num_members=42),
        "alerts": slack.add_channel(TEAM_ID, "alerts", purpose="Production alerts", num_members=7),
        "zeta": slack.add_channel(TEAM_ID, "zeta-team", num_members=3),
        "beta": slack.add_channel(TEAM_ID, "beta", is_member=True, num_members=5),
        "archived": slack.add_channel(TEAM_ID, "old-news", is_archived=True),
        "private": slack.add_channel(TEAM_ID, "secret-plans", is_private=True, is_member=True),
    }
    return Workspace(TEAM_ID, BOT_TOKEN, channels)


@pytest.fixture
def other_workspace(slack: SlackEmulator) -> Workspace:
    slack.add_workspace(OTHER_TEAM_ID, "Globex", domain="globex", bot_user_id="U0GLOBEXBT", bot_id="B0GLOBEX01")
    slack.add_token(OTHER_TOKEN, OTHER_TEAM_ID)
    channels = {"globex-ops": slack.add_channel(OTHER_TEAM_ID, "globex-ops")}
    return Workspace(OTHER_TEAM_ID, OTHER_TOKEN, channels)


@pytest.fixture
def legacy_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integrations connected from now on get random ids, as before ids were derived from the user id
    (request it before `connected`): no container can name their items from the user id alone."""
    import uuid

    from slack_integration.services import installation

    monkeypatch.setattr(installation, "integration_id_for", lambda user_id: str(uuid.uuid4()))


@pytest.fixture
def connected(aws: AwsStack, workspace: Workspace) -> Any:
    """USER_ID has connected Acme's workspace through the real install path (admin connect)."""
    from pydantic import SecretStr

    return dependencies.current().installation.connect(USER_ID, TEAM_ID, TEAM_NAME, SecretStr(BOT_TOKEN))


@pytest.fixture
def notification_channel(connected: Any, workspace: Workspace) -> dict[str, Any]:
    """USER_ID's notification channel is #general (chosen through the real set-channel path)."""
    from slack_integration.models.api import ChannelSelection

    channel = workspace.channels["general"]
    selection = ChannelSelection.model_validate({"channelId": channel["id"]})
    dependencies.current().channels.set_notification_channel(USER_ID, selection)
    return channel


@pytest.fixture
def second_user(aws: AwsStack, slack: SlackEmulator, other_workspace: Workspace) -> dict[str, Any]:
    """OTHER_USER connected Globex's workspace and picked #globex-ops (the real install and set paths)."""
    from slack_integration.models.api import ChannelSelection

    dependencies.current().installation.connect(OTHER_USER, OTHER_TEAM_ID, "Globex", SecretStr(OTHER_TOKEN))
    channel = other_workspace.channels["globex-ops"]
    dependencies.current().channels.set_notification_channel(
        OTHER_USER, ChannelSelection.model_validate({"channelId": channel["id"]})
    )
    return channel


@pytest.fixture
def slack_app(aws: AwsStack, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> SlackEmulator:
    """Buster's Slack app, registered in the emulator (consent page, oauth.v2.access, signed
    events) with its credentials secret in Secrets Manager; tokens do not rotate."""
    monkeypatch.setenv("SLACK_OAUTH_AUTHORIZE_URL", slack.authorize_url)
    monkeypatch.setenv("DASHBOARD_RETURN_URL", RETURN_URL)
    register(slack, aws["secretsmanager"])
    dependencies.reset()
    return slack


@pytest.fixture
def rotating_slack_app(aws: AwsStack, slack: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> SlackEmulator:
    """The same app with token rotation turned on (tokens expire after 12 hours)."""
    monkeypatch.setenv("SLACK_OAUTH_AUTHORIZE_URL", slack.authorize_url)
    monkeypatch.setenv("DASHBOARD_RETURN_URL", RETURN_URL)
    register(slack, aws["secretsmanager"], token_rotation=True)
    dependencies.reset()
    return slack


@pytest.fixture
def receipts(aws: AwsStack) -> Any:
    """The receipts a producer service would receive on the bus (tests/support/receipts.py)."""
    from tests.support.receipts import ReceiptsTap

    return ReceiptsTap(aws)


_CONSUMERS = {
    "send": ("SendFunction", "SendQueue"),
    "reply": ("ReplyFunction", "ReplyQueue"),
    "domain_events": ("DomainEventsFunction", "DomainEventsQueue"),
}


@pytest.fixture
def consumer(aws: AwsStack, monkeypatch: pytest.MonkeyPatch) -> Callable[..., QueuePoller]:
    """consumer("send" | "reply", **env overrides) -> a poller that feeds the function its queue
    the way Lambda's event source mapping does, with the function's own template environment."""

    def _consumer(name: str, **overrides: str) -> QueuePoller:
        """ "send" | "reply" | "domain_events" (the last one with the template's rules in place)."""
        logical, queue = _CONSUMERS[name]
        if name == "domain_events":
            create_rules(boto3.client("events"), aws["sqs"], aws["queues"])
        env = {**function_env(logical, aws["queues"]), **overrides}
        handler = load_function(name).lambda_handler
        container: dependencies.Container | None = None

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            # Each function runs in its own Lambda container with its own environment: one
            # dependencies.Container for the poller's life (its clients and token cache stay warm
            # between invocations), rebuilt only if the settings it was built from changed.
            nonlocal container
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            settings = load_settings()
            if container is None or container.settings != settings:
                container = dependencies.Container(settings)
            with dependencies.use(container):
                return handler(event, context)

        return QueuePoller(aws["sqs"], aws["queues"][queue], invoke, function_name=name)

    return _consumer


@pytest.fixture
def producer(aws: AwsStack) -> Any:
    from slack_integration.producer import NotificationProducer

    return NotificationProducer(aws["queues"]["SendQueue"], aws["queues"]["ReplyQueue"])


@pytest.fixture
def invoke() -> Callable[..., HttpAnswer]:
    """invoke(function, method, path, user_id=..., body=..., raw_body=...) -> HttpAnswer."""

    def _invoke(function: str, method: str, path: str, **kwargs: Any) -> HttpAnswer:
        event = kwargs.pop("event", None) or http_event(method, path, **kwargs)
        answer = load_function(function).lambda_handler(event, LambdaContext(function_name=function))
        return HttpAnswer.from_lambda(answer)

    return _invoke


# Every bot token the suite uses (the emulator's demo seed included). None may ever appear in
# anything a test captured: service logs, slack_sdk's and botocore's logs, stdout, stderr.
_TOKENS = (BOT_TOKEN, OTHER_TOKEN, "xoxb-demo-local-token", "xoxb-test-demo-0001", *APP_SECRETS)
# Tokens the emulator issues through oauth.v2.access (bot tokens, rotating ones, refresh tokens).
_ISSUED_TOKEN = re.compile(r"xox[a-z]\.?[\w-]*-emulated[\w.-]*|xoxe[.-][\w.-]{8,}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """Suite-wide secret scan: a test whose captured output holds a bot token fails, whatever
    it asserted itself."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.passed:
        # Each phase's report carries the earlier phases' sections too: scan only its own.
        captured = "".join(content for name, content in report.sections if report.when in name)
        leaked = [token[:9] + "…" for token in _TOKENS if token in captured or token[5:] in captured]
        leaked += [match[:9] + "…" for match in _ISSUED_TOKEN.findall(captured)]
        if leaked:
            report.outcome = "failed"
            report.longrepr = f"bot token(s) {leaked} appeared in this test's captured output"


@pytest.fixture
def aws_calls(aws: AwsStack) -> Iterator[Counter[str]]:
    """Every AWS call made from now on, by service and operation: counted with botocore's own
    event hooks on the real clients (nothing is replaced)."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_kwargs: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    session = boto3._get_default_session()
    session.events.register("before-call", count)
    dependencies.reset()  # clients made from now on carry the hook
    yield calls
    session.events.unregister("before-call", count)
