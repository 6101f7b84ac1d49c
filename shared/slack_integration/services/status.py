"""GET /integration/status: can Buster post to the user's notification channel right now?

A live health check (services/health.py), cached for a minute per user; when Slack throttles
the check, the answer comes from the last recorded check, uncached. The cached answer is only
served while the stored integration still says what it said then (one GetItem): a disconnect,
an uninstall or an archived channel reported by Slack's events shows at once, not a minute later.
"""

from __future__ import annotations

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.errors import INTEGRATION_NOT_FOUND, ServiceError
from slack_integration.models.api import CapabilityStatus
from slack_integration.models.integration import HealthStatus, Integration
from slack_integration.services.health import HealthService
from slack_integration.services.ttl_cache import TtlCache


class StatusService:
    def __init__(self, integrations: IntegrationsRepository, health: HealthService, cache_seconds: float) -> None:
        self._integrations = integrations
        self._health = health
        self._cache = TtlCache(cache_seconds)

    def status(self, user_id: str) -> CapabilityStatus:
        integration = self._integrations.get_by_user(user_id)
        cached = self._cache.get(user_id)
        if cached is not None and integration is not None and cached[0] == _fingerprint(integration):
            return cached[1]  # type: ignore[no-any-return]
        if integration is None:
            # Not an error for this route: "nothing connected" is a status the dashboard shows.
            error = INTEGRATION_NOT_FOUND.error()
            return CapabilityStatus(
                can_send=False,
                channel_configured=False,
                integration_active=False,
                error=error.message,
                code=error.code,
            )
        report = self._health.check(integration)
        if report.throttled:
            return _status(integration, integration.health_status, integration.last_error_code, None)
        answer = _status(integration, report.status, report.error.code if report.error else None, report.error)
        answer.checked_at = report.checked_at
        answer.missing_scopes = list(report.missing_scopes) or None
        # As the integration reads once the check is recorded: the next call serves this answer.
        self._cache.put(user_id, (_fingerprint(integration, report.status, answer.code), answer))
        return answer


def _fingerprint(
    integration: Integration, status: HealthStatus | None = None, code: str | None = None
) -> tuple[object, ...]:
    return (
        integration.id,
        integration.is_active,
        integration.team_id,
        integration.notification_channel_id,
        status or integration.health_status,
        code if status is not None else integration.last_error_code,
    )


def _status(
    integration: Integration, status: HealthStatus, code: str | None, error: ServiceError | None
) -> CapabilityStatus:
    return CapabilityStatus(
        can_send=integration.is_active and bool(integration.notification_channel_id) and status.can_send,
        channel_configured=bool(integration.notification_channel_id),
        integration_active=integration.is_active,
        error=error.message if error else None,
        code=code,
        health_status=status.value,
        checked_at=integration.health_checked_at,
        team_id=integration.team_id,
        team_name=integration.team_name,
    )
