"""Connecting and disconnecting a user's Slack workspace.

Two ways in, one way to save: `install` takes what Slack's code exchange returned (Add to
Slack, services/install_flow.py), `connect` a bot token an operator pasted (`admin connect`),
checked with auth.test *before* anything is stored, so a mistyped or revoked token never becomes
an integration that fails later in a background job. Both keep the integration id across
reconnects (mappings, delivery records and the token secret are keyed by it), and keep the
notification channel only when the workspace is the same.
"""

from __future__ import annotations

from pydantic import SecretStr

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import TEAM_MISMATCH, ErrorSpec, ServiceError
from slack_integration.models.installation import Installed, StoredToken
from slack_integration.models.integration import HealthStatus, Integration, integration_id_for, utc_now
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
        token = StoredToken(bot_token=bot_token, team_id=team_id, bot_user_id=identity.user_id)
        return self._save(user_id, team_id, team_name, identity.user_id, token, identity.url)

    def install(self, user_id: str, installed: Installed) -> Integration:
        """Save an install Slack's code exchange vouched for (team, bot user, token)."""
        assert installed.team_id is not None
        team_name = installed.team_name or installed.team_id
        return self._save(
            user_id, installed.team_id, team_name, installed.bot_user_id, installed.token, self._url_of(installed)
        )

    def _url_of(self, installed: Installed) -> str | None:
        """The workspace's URL (auth.test; oauth.v2.access does not give it), for permalinks.
        Best effort: the install does not fail for it."""
        try:
            return self._slack.identify(installed.token.bot_token).url
        except ServiceError as err:
            logger.warning("Could not read the workspace's URL", extra={"code": err.code})
            return None

    def _save(
        self,
        user_id: str,
        team_id: str,
        team_name: str,
        bot_user_id: str | None,
        token: StoredToken,
        team_url: str | None,
    ) -> Integration:
        existing = self._integrations.get_by_user(user_id)
        integration_id = existing.id if existing else integration_id_for(user_id)
        same_team = existing is not None and existing.team_id == team_id
        if existing is not None and existing.is_active and not same_team:
            # Another workspace's token is about to be overwritten: revoke it rather than leave
            # a live token nobody holds any more.
            self._revoke_quietly(existing)
        integration = Integration(
            id=integration_id,
            user_id=user_id,
            team_id=team_id,
            team_name=team_name,
            team_url=team_url,
            bot_user_id=bot_user_id,
            # A channel id means nothing in another workspace: keep the choice only for the same team.
            notification_channel_id=existing.notification_channel_id if same_team and existing else None,
            notification_channel_name=existing.notification_channel_name if same_team and existing else None,
            is_active=True,
            health_status=HealthStatus.UNKNOWN,
            # Slack just vouched for the token; the sweep checks the rest in stalest-first order.
            health_checked_at=utc_now(),
            created_at=existing.created_at if existing else utc_now(),
        )
        self._tokens.put(integration_id, token)
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

    def uninstalled(self, integration: Integration, reason: ErrorSpec) -> Integration:
        """Slack says the app is gone from the workspace (or its bot token revoked): forget the
        token (Slack already voided it) and deactivate, recording why for the status route."""
        self._tokens.delete(integration.id)
        updated = self._integrations.deactivate(integration, reason.code)
        logger.info("Slack install removed in Slack", extra={"integration_id": integration.id, "code": reason.code})
        return updated

    def _revoke_quietly(self, integration: Integration) -> None:
        try:
            self._revoke(integration)
        except ServiceError as err:
            logger.warning("Could not revoke the previous workspace's token", extra={"code": err.code})

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
