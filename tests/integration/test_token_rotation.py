"""Token rotation: a rotating install's token is renewed before it expires, by whichever function
needs it first, once even when several need it at once; a refresh Slack refuses flags the
integration for reconnect. Over moto, the emulator (whose rotating tokens expire) and the real
handlers."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from slack_sdk import WebClient

from slack_integration import dependencies
from slack_integration.config import load_settings
from tests.conftest import SECRET_PREFIX, TEAM_ID, USER_ID
from tests.support.slack_app import consent, public_event
from tests.support.sqs import dead_letters

pytestmark = pytest.mark.usefixtures("rotating_slack_app")

TWELVE_HOURS = 43_200


def install(invoke: Any, team_id: str = TEAM_ID) -> str:
    url = invoke("installation", "POST", "/integration/install").body["url"]
    query = consent(url, team_id)
    answer = invoke(
        "installation", "GET", "/slack/oauth/callback", event=public_event("GET", "/slack/oauth/callback", query=query)
    )
    assert answer.headers["location"].endswith("?slack=connected"), answer.headers["location"]
    found = dependencies.current().integrations.get_by_user(USER_ID)
    assert found is not None
    return found.id


def secret(aws: Any, integration_id: str) -> dict[str, Any]:
    value = aws["secretsmanager"].get_secret_value(SecretId=SECRET_PREFIX + integration_id)["SecretString"]
    return dict(json.loads(value))


def make_due(aws: Any, integration_id: str, *, seconds_left: int = 600) -> dict[str, Any]:
    """Move the stored expiry close: the token is as it would be ~11h50 after the install."""
    value = {**secret(aws, integration_id), "expiresAt": int(time.time()) + seconds_left}
    aws["secretsmanager"].put_secret_value(SecretId=SECRET_PREFIX + integration_id, SecretString=json.dumps(value))
    dependencies.reset()  # a fresh container: nothing cached
    return value


def refreshes(slack: Any) -> list[dict[str, Any]]:
    return [
        call
        for call in slack.calls()
        if call["method"] == "oauth.v2.access" and call["params"].get("grant_type") == "refresh_token"
    ]


def test_a_rotating_install_stores_its_refresh_token_and_expiry(aws, slack, workspace, invoke):
    integration_id = install(invoke)

    stored = secret(aws, integration_id)
    assert stored["botToken"].startswith("xoxe.xoxb-") and stored["refreshToken"].startswith("xoxe-")
    assert abs(stored["expiresAt"] - (time.time() + TWELVE_HOURS)) < 60


def test_a_token_that_is_not_due_is_used_as_it_is(aws, slack, workspace, invoke):
    install(invoke)
    assert invoke("list_channels", "GET", "/integration/channels").status == 200
    assert refreshes(slack) == []


def test_a_token_close_to_expiry_is_renewed_by_the_first_function_that_reads_it(aws, slack, workspace, invoke):
    integration_id = install(invoke)
    before = make_due(aws, integration_id)

    assert invoke("list_channels", "GET", "/integration/channels").status == 200

    [refresh] = refreshes(slack)
    assert "refresh_token" not in refresh["params"] and "client_secret" not in refresh["params"]
    after = secret(aws, integration_id)
    assert after["botToken"] != before["botToken"] and after["refreshToken"] != before["refreshToken"]
    assert after["expiresAt"] > time.time() + TWELVE_HOURS - 60
    # The rest of the integration is untouched by a renewal.
    assert after["teamId"] == TEAM_ID
    assert [c["method"] for c in slack.calls()][-1] == "conversations.list"


@pytest.fixture
def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto checks a write's condition and then writes, without a lock: two threads can both
    pass. DynamoDB makes each conditional write atomic; this restores that guarantee in moto."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.Lock()
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def atomic(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, atomic)


@pytest.mark.usefixtures("atomic_conditional_writes")
def test_functions_that_need_a_renewal_at_once_renew_it_once(aws, slack, workspace, invoke):
    integration_id = install(invoke)
    make_due(aws, integration_id)
    containers = [dependencies.Container(load_settings()) for _ in range(4)]
    barrier = threading.Barrier(len(containers))
    tokens: list[str] = []

    def read(container: dependencies.Container) -> None:
        barrier.wait()
        tokens.append(container.tokens.get(integration_id).get_secret_value())

    threads = [threading.Thread(target=read, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(refreshes(slack)) == 1
    # The winner got the renewed token; the others kept the old one, which Slack honours until it
    # expires: every function could go on calling Slack.
    assert len(tokens) == 4 and secret(aws, integration_id)["botToken"] in tokens
    client = WebClient(base_url=slack.base_url, retry_handlers=[])
    for token in set(tokens):
        assert client.auth_test(token=token)["team_id"] == TEAM_ID


def test_a_function_that_finds_the_renewal_taken_keeps_the_valid_token(aws, slack, workspace, invoke):
    integration_id = install(invoke)
    before = make_due(aws, integration_id)
    dependencies.current().lifecycle.take_refresh_lease(
        integration_id, due_before=time.time()
    )  # another function is renewing

    assert invoke("list_channels", "GET", "/integration/channels").status == 200

    assert refreshes(slack) == []
    assert secret(aws, integration_id)["botToken"] == before["botToken"]


def test_an_expired_token_waits_for_the_renewal_in_progress_then_answers_503(
    aws, slack, workspace, invoke, monkeypatch
):
    import slack_integration.adapters.token_rotation as token_rotation

    monkeypatch.setattr(token_rotation, "_WAITS", (0.01, 0.01))
    integration_id = install(invoke)
    make_due(aws, integration_id, seconds_left=-5)
    dependencies.current().lifecycle.take_refresh_lease(integration_id, due_before=time.time())

    answer = invoke("list_channels", "GET", "/integration/channels")

    assert answer.status == 503 and answer.body["code"] == "TOKEN_REFRESH_IN_PROGRESS"
    assert answer.headers["retry-after"] == "5"


def test_a_refresh_slack_refuses_flags_the_integration_for_reconnect(
    aws, slack, workspace, notification_channel_after_install, invoke, producer, consumer
):
    integration_id = notification_channel_after_install
    make_due(aws, integration_id)
    slack.revoke_refresh_tokens(TEAM_ID)

    producer.send(USER_ID, {"text": "after the refresh token died"})
    consumer("send").drain()

    [dead] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert dead["attributes"]["errorCode"] == "TOKEN_REFRESH_REFUSED"
    found = dependencies.current().integrations.get_by_user(USER_ID)
    assert found is not None and found.health_status == "needs_reconnect"
    assert found.last_error_code == "TOKEN_REFRESH_REFUSED"
    answer = invoke("list_channels", "GET", "/integration/channels")
    assert answer.status == 409 and "Reconnect Slack" in answer.body["error"]


@pytest.fixture
def notification_channel_after_install(aws, slack, workspace, invoke) -> str:
    """USER_ID installed through Add to Slack (rotating) and chose #general."""
    integration_id = install(invoke)
    answer = invoke(
        "set_channel", "PUT", "/integration/channel", body={"channelId": workspace.channels["general"]["id"]}
    )
    assert answer.status == 200
    return integration_id
