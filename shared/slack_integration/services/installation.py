"""Connecting and disconnecting a user's Slack workspace.

`connect` takes a bot token (today from the operator's `admin connect`; an OAuth install would
call it with the token Slack's code exchange returns). The token is checked with auth.test
*before* anything is stored, so a mistyped or revoked token never becomes an integration that
fails later in a background job.
"""

from __future__ import annotations

import uuid

from pydantic import SecretStr

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import TEAM_MISMATCH, ServiceError
from slack_integration.models.integration import HealthStatus, Integration, utc_now
from slack_integration.observability import logger


class InstallationService:
    def __init__(self, integrations: IntegrationsRepository, tokens: TokenStore, slack: SlackGateway) -> None:
        self._integrations = integrations
        self._tokens = tokens
        self._slack = slack

    def connect(self, user_id: str, team_id: str, team_name: str, bot_token: SecretStr) -> Integration:
        identity = self._slack.identify(bot_token)
        if identity.team_id != team_id:
            raise TEAM_MISMATCH.error(detail=f"the token is for workspace {identity.team_id}, not {team_id}")
        existing = self._integrations.get_by_user(user_id)
        # Keep the id across reconnects: message mappings and the token secret are keyed by it.
        integration_id = existing.id if existing else str(uuid.uuid4())
        same_team = existing is not None and existing.team_id == team_id
        integration = Integration(
            id=integration_id,
            user_id=user_id,
            team_id=team_id,
            team_name=team_name,
            bot_user_id=identity.user_id,
            # A channel id means nothing in another workspace: keep the choice only for the same team.
            notification_channel_id=existing.notification_channel_id if same_team and existing else None,
            notification_channel_name=existing.notification_channel_name if same_team and existing else None,
            is_active=True,
            health_status=HealthStatus.UNKNOWN,
            # auth.test just vouched for the token; the sweep checks the rest in stalest-first order.
            health_checked_at=utc_now(),
            created_at=existing.created_at if existing else utc_now(),
        )
        self._tokens.put(integration_id, bot_token, team_id)
        self._integrations.put(integration)
        logger.info("Slack workspace connected", extra={"integration_id": integration_id, "team_id": team_id})
        return integration

    def disconnect(self, user_id: str) -> Integration:
        """Revoke the token at Slack, delete it, and deactivate the integration; its history
        (mappings, delivery records) is kept.

        A token Slack already refuses (revoked, expired, workspace gone) or one we no longer hold
        needs no revoking. If Slack cannot be reached, nothing is changed and the error is raised,
        so the operator can run it again: deleting first would leave a live token we can no
        longer revoke.
        """
        integration = self._integrations.require(user_id)
        self._revoke(integration)
        self._tokens.delete(integration.id)
        updated = self._integrations.deactivate(integration)
        logger.info("Slack workspace disconnected", extra={"integration_id": integration.id})
        return updated

    def _revoke(self, integration: Integration) -> None:
        try:
            token = self._tokens.get(integration.id, refresh=True)
            self._slack.revoke(token)
        except ServiceError as err:
            if not err.needs_reconnect:
                raise
            logger.info("Token already unusable at Slack; nothing to revoke", extra={"code": err.code})
        else:
            logger.info("Bot token revoked at Slack", extra={"integration_id": integration.id})
