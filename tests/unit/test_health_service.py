"""The health check's decisions, against a small fake Slack gateway and a fake repository.

The wire (auth.test's scope header, conversations.info's fields, errors over HTTP) is covered by
tests/integration/test_health.py against the emulator; here only what the service decides from
the gateway's answers, which a fake gives exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from slack_integration.errors import ServiceError
from slack_integration.models.integration import HealthStatus, Integration
from slack_integration.models.slack import Identity
from slack_integration.services.health import HealthService
from slack_integration.slack_errors import SLACK_ERRORS

TEAM = "T0ACME0001"
INSTALL_SCOPES = {"chat:write", "chat:write.public", "channels:read", "channels:history", "channels:join"}


@dataclass
class FakeSlack:
    identity: Identity = field(
        default_factory=lambda: Identity(TEAM, "Acme", "U0BOT", "B0BOT", frozenset(INSTALL_SCOPES))
    )
    channel: dict[str, Any] = field(default_factory=lambda: {"id": "C0GENERAL1", "is_member": False})
    failure: ServiceError | None = None
    calls: list[str] = field(default_factory=list)

    def auth_test(self, integration_id: str) -> Identity:
        self.calls.append("auth_test")
        if self.failure is not None:
            raise self.failure
        return self.identity

    def channel_info(self, integration_id: str, channel_id: str) -> dict[str, Any]:
        self.calls.append("channel_info")
        return self.channel


@dataclass
class FakeIntegrations:
    recorded: list[tuple[HealthStatus, str | None]] = field(default_factory=list)

    def record_health(self, integration: Integration, status: HealthStatus, code: str | None) -> Integration:
        self.recorded.append((status, code))
        return integration


def _integration(**fields: Any) -> Integration:
    return Integration.model_validate(
        {"id": "int-1", "userId": "user-1", "teamId": TEAM, "teamName": "Acme", "notificationChannelId": "C0GENERAL1"}
        | fields
    )


def _check(slack: FakeSlack, integration: Integration | None = None) -> tuple[Any, FakeIntegrations]:
    repository = FakeIntegrations()
    report = HealthService(repository, slack).check(integration or _integration())  # type: ignore[arg-type]
    return report, repository


def test_a_working_token_and_channel_is_healthy_and_recorded():
    report, repository = _check(FakeSlack())

    assert report.status is HealthStatus.HEALTHY and report.error is None
    assert repository.recorded == [(HealthStatus.HEALTHY, None)]


def test_a_token_of_another_workspace_needs_a_reconnect():
    slack = FakeSlack(identity=Identity("T0OTHER001", None, None, None, None))

    report, repository = _check(slack)

    assert report.status is HealthStatus.NEEDS_RECONNECT
    assert (report.error.code, report.error.slack_error) == ("SLACK_INVALID_AUTH", "team_mismatch")
    assert repository.recorded == [(HealthStatus.NEEDS_RECONNECT, "SLACK_INVALID_AUTH")]
    assert slack.calls == ["auth_test"]  # the channel is not asked about


def test_a_token_without_chat_write_needs_a_reconnect():
    slack = FakeSlack(identity=Identity(TEAM, None, None, None, frozenset({"channels:read"})))

    report, _ = _check(slack)

    assert report.status is HealthStatus.NEEDS_RECONNECT and report.error.code == "SLACK_MISSING_SCOPE"


@pytest.mark.parametrize(
    ("scopes", "is_member", "status"),
    [
        (frozenset({"chat:write"}), False, HealthStatus.NEEDS_NEW_CHANNEL),  # not in it, cannot post in public
        (frozenset({"chat:write", "channels:history"}), True, HealthStatus.HEALTHY),
        (None, False, HealthStatus.HEALTHY),  # scopes unknown: the ones the install asks for are assumed
    ],
)
def test_posting_into_a_channel_the_bot_is_not_in_needs_chat_write_public(scopes, is_member, status):
    slack = FakeSlack(
        identity=Identity(TEAM, None, None, None, scopes), channel={"id": "C0GENERAL1", "is_member": is_member}
    )

    report, _ = _check(slack)

    assert report.status is status
    assert slack.identity.scopes == scopes  # what the gateway answered is not changed by the check


def test_an_archived_channel_needs_a_new_channel():
    slack = FakeSlack(channel={"id": "C0GENERAL1", "is_archived": True, "is_member": True})

    report, repository = _check(slack)

    assert report.status is HealthStatus.NEEDS_NEW_CHANNEL and repository.recorded[0][1] == "CHANNEL_ARCHIVED"


def test_a_throttled_check_learns_nothing_and_records_nothing():
    report, repository = _check(FakeSlack(failure=SLACK_ERRORS["ratelimited"].error(retry_after=30)))

    assert report.throttled and repository.recorded == []


def test_slack_down_is_unreachable_not_a_reconnect():
    report, repository = _check(FakeSlack(failure=SLACK_ERRORS["internal_error"].error()))

    assert report.status is HealthStatus.UNREACHABLE and repository.recorded == [
        (HealthStatus.UNREACHABLE, "SLACK_UNAVAILABLE")
    ]


def test_no_channel_chosen_needs_a_new_channel_without_asking_slack_about_one():
    slack = FakeSlack()

    report, _ = _check(slack, _integration(notificationChannelId=None))

    assert report.status is HealthStatus.NEEDS_NEW_CHANNEL and report.error.code == "CHANNEL_NOT_SET"
    assert slack.calls == ["auth_test"]


@pytest.mark.parametrize(
    ("missing", "is_member", "expected"),
    [
        ({"channels:history"}, True, ("channels:history",)),
        ({"channels:join"}, False, ("channels:join",)),  # not a member: it must join to read
        ({"channels:join"}, True, None),  # a member needs no join
        ({"channels:history", "channels:join"}, False, ("channels:history", "channels:join")),
    ],
)
def test_an_install_short_of_a_safety_scope_is_degraded_and_says_which(missing, is_member, expected):
    scopes = frozenset(INSTALL_SCOPES - missing)
    slack = FakeSlack(
        identity=Identity(TEAM, None, None, None, scopes), channel={"id": "C0GENERAL1", "is_member": is_member}
    )

    report, repository = _check(slack)

    if expected is None:
        assert report.status is HealthStatus.HEALTHY
        return
    assert report.status is HealthStatus.DEGRADED and report.status.can_send
    assert report.missing_scopes == expected and report.error.code == "SLACK_SCOPES_MISSING"
    assert repository.recorded == [(HealthStatus.DEGRADED, "SLACK_SCOPES_MISSING")]
