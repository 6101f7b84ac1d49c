"""Integration health: the live check behind GET /integration/status, and the scheduled sweep.

A check asks Slack two things, as the send path would meet them: does the token still work
(auth.test: revoked, deleted workspace, wrong workspace, missing chat:write) and can the saved
channel take a post (conversations.info: gone, archived, private, another workspace's, a channel
the bot is not in without chat:write.public). The answer is recorded on the integration
(healthStatus, healthCheckedAt, lastErrorCode), which the dashboard, the stats and the alarms read.

The sweep walks the `byHealthCheck` index stalest first with a small thread pool: every
integration costs two Slack calls in its own workspace (far inside auth.test's and Tier 3's
per-workspace limits). It stops taking new pages before the function's deadline; whatever it did
not reach is still the stalest, so the next run starts there: a fleet too big for one run is
covered over several runs without any cursor to keep.
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import (
    CHANNEL_NOT_SET,
    INTEGRATION_INACTIVE,
    SCOPES_MISSING,
    SLACK_APP_UNINSTALLED,
    ErrorKind,
    ServiceError,
    health_flag,
)
from slack_integration.models.integration import HealthStatus, Integration, utc_now
from slack_integration.models.slack import Identity
from slack_integration.observability import logger
from slack_integration.services.channels import check_usable
from slack_integration.slack_errors import SLACK_ERRORS

# When auth.test does not say which scopes the token has (some proxies drop the header), assume
# the ones the install asks for, rather than report a healthy install as broken.
ASSUMED_SCOPES = frozenset({"chat:write", "chat:write.public", "channels:history", "channels:join"})
# Reading a channel's history: how a post whose answer was lost is found (instead of posted
# twice), and the thread view from Slack. In a public channel the bot is not in, it must join.
HISTORY_SCOPE = "channels:history"
JOIN_SCOPE = "channels:join"

# A sweep stops taking new pages when less than this is left (a page of checks at the Slack
# timeout, twice, must still fit).
SWEEP_TIME_GUARD_SECONDS = 30.0


@dataclass(frozen=True)
class HealthReport:
    status: HealthStatus
    checked_at: str
    error: ServiceError | None = None
    # Slack throttled the check: nothing was learned and nothing recorded.
    throttled: bool = False
    # Degraded: the scopes the install lacks.
    missing_scopes: tuple[str, ...] = ()


@dataclass
class SweepResult:
    checked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    complete: bool = True

    @property
    def healthy(self) -> int:
        """Integrations that can take a post (degraded ones too: they lack only a safety scope)."""
        return self.statuses[HealthStatus.HEALTHY.value] + self.statuses[HealthStatus.DEGRADED.value]

    @property
    def unhealthy(self) -> int:
        return self.checked - self.healthy

    def summary(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "healthy": self.healthy,
            "unhealthy": self.unhealthy,
            "byStatus": dict(self.statuses),
            "throttled": self.throttled,
            "complete": self.complete,
        }


class HealthService:
    def __init__(self, integrations: IntegrationsRepository, slack: SlackGateway) -> None:
        self._integrations = integrations
        self._slack = slack

    def check(self, integration: Integration) -> HealthReport:
        """Ask Slack, record the answer on the integration, and return it."""
        report = self._ask_slack(integration)
        if not report.throttled:
            self._record(integration, report)
        return report

    def sweep(self, *, deadline: float, concurrency: int, page_size: int) -> SweepResult:
        """Check every active integration not yet checked during this sweep, stalest first."""
        started = utc_now()
        result = SweepResult()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="health") as pool:
            for page in self._integrations.stalest(checked_before=started, page_size=page_size):
                if time.time() > deadline - SWEEP_TIME_GUARD_SECONDS:
                    result.complete = False
                    break
                for report in pool.map(self._check_quietly, page):
                    if report is None:
                        continue
                    if report.throttled:
                        result.throttled += 1
                        continue
                    result.checked += 1
                    result.statuses[report.status.value] += 1
        logger.info("Health sweep finished", extra=result.summary())
        return result

    def _check_quietly(self, integration: Integration) -> HealthReport | None:
        # One integration's surprise must not stop the sweep of the others.
        try:
            return self.check(integration)
        except Exception:
            logger.exception("Health check failed unexpectedly", extra={"integration_id": integration.id})
            return None

    def _ask_slack(self, integration: Integration) -> HealthReport:
        if not integration.is_active:
            # Say why when Slack told us (the app was uninstalled there), not just "disconnected".
            uninstalled = integration.last_error_code == SLACK_APP_UNINSTALLED.code
            return _report(
                HealthStatus.NEEDS_RECONNECT, (SLACK_APP_UNINSTALLED if uninstalled else INTEGRATION_INACTIVE).error()
            )
        try:
            identity = self._slack.auth_test(integration.id)
            problem = _identity_problem(identity, integration)
            if problem is not None:
                return _report(HealthStatus.NEEDS_RECONNECT, problem)
            if not integration.notification_channel_id:
                return _report(HealthStatus.NEEDS_NEW_CHANNEL, CHANNEL_NOT_SET.error())
            channel = self._slack.channel_info(integration.id, integration.notification_channel_id)
            check_usable(channel, integration)
            scopes = identity.scopes if identity.scopes is not None else ASSUMED_SCOPES
            is_member = bool(channel.get("is_member"))
            if not is_member and "chat:write.public" not in scopes:
                return _report(HealthStatus.NEEDS_NEW_CHANNEL, SLACK_ERRORS["not_in_channel"].error())
        except ServiceError as err:
            return _from_error(err)
        missing = _missing_scopes(scopes, is_member=is_member)
        if missing:
            error = SCOPES_MISSING.error(detail="missing: " + ", ".join(missing))
            return HealthReport(HealthStatus.DEGRADED, utc_now(), error, missing_scopes=missing)
        return _report(HealthStatus.HEALTHY)

    def _record(self, integration: Integration, report: HealthReport) -> None:
        code = report.error.code if report.error else None
        if not integration.is_active:
            return  # a disconnected integration keeps the state its disconnect gave it
        try:
            self._integrations.record_health(integration, report.status, code)
        except ServiceError as err:
            # A reconnect replaced it meanwhile (INTEGRATION_CHANGED) or AWS hiccuped: the next
            # check records it; this one's answer is still returned.
            logger.warning("Could not record health", extra={"integration_id": integration.id, "code": err.code})


def _missing_scopes(scopes: frozenset[str], *, is_member: bool) -> tuple[str, ...]:
    needed = [HISTORY_SCOPE] if is_member else [HISTORY_SCOPE, JOIN_SCOPE]
    return tuple(scope for scope in needed if scope not in scopes)


def _identity_problem(identity: Identity, integration: Integration) -> ServiceError | None:
    if identity.team_id and identity.team_id != integration.team_id:
        return SLACK_ERRORS["invalid_auth"].error(slack_error="team_mismatch")
    if identity.scopes is not None and "chat:write" not in identity.scopes:
        return SLACK_ERRORS["missing_scope"].error(slack_error="missing_scope")
    return None


def _from_error(err: ServiceError) -> HealthReport:
    if err.kind is ErrorKind.RATE_LIMITED:
        return HealthReport(HealthStatus.UNKNOWN, utc_now(), err, throttled=True)
    # The check asks about the saved notification channel, so a channel error is about it.
    flag = health_flag(err, about_notification_channel=True)
    return _report(HealthStatus.flagged(flag) if flag else HealthStatus.UNREACHABLE, err)


def _report(status: HealthStatus, error: ServiceError | None = None) -> HealthReport:
    return HealthReport(status, utc_now(), error)
