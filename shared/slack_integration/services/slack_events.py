"""POST /slack/events: what Slack tells us about installs and channels, acted on at once.

Every request is verified first (slack_sdk's SignatureVerifier: HMAC-SHA256 of the raw body with
the app's signing secret, compared in constant time, timestamps older than 5 minutes refused).
Then:

- `url_verification`: answer the challenge (Slack does this when the request URL is saved).
- `app_uninstalled`, `tokens_revoked` (bot tokens): every integration of the workspace becomes
  inactive and needs a reconnect, and its token secret is deleted. Messages already queued for
  it are dead-lettered with INTEGRATION_INACTIVE by the consumers (they check before posting).
- `channel_archive`, `channel_deleted` of a notification channel: it needs a new channel.
- `channel_unarchive`: checked again with Slack (health check), usable when the check says so.
- `channel_rename`: the stored channel name follows.

Slack redelivers an event it did not see answered in 3 seconds (X-Slack-Retry-Num). Each event
is handled once per `event_id` (Powertools idempotency, records in the lifecycle table); a retry
of an event still being handled answers 503 so Slack tries again later, once it is settled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import (
    EVENT_IN_PROGRESS,
    INVALID_REQUEST,
    SIGNATURE_INVALID,
    SLACK_APP_UNINSTALLED,
    ErrorSpec,
    ServiceError,
)
from slack_integration.models.integration import HealthStatus, Integration
from slack_integration.observability import logger
from slack_integration.services.health import HealthService
from slack_integration.services.installation import InstallationService
from slack_integration.slack_errors import SLACK_ERRORS

# Slack retries for a few minutes; an hour of memory is plenty to recognise every redelivery.
HANDLED_EVENTS_SECONDS = 3600
# What the Slack app subscribes to (slack-app-manifest.yaml); every other event is acknowledged.
HANDLED_EVENTS = frozenset(
    {"app_uninstalled", "tokens_revoked", "channel_archive", "channel_deleted", "channel_unarchive", "channel_rename"}
)


class SlackEventsService:
    def __init__(
        self,
        *,
        tokens: TokenStore,
        integrations: IntegrationsRepository,
        installation: InstallationService,
        health: HealthService,
        lifecycle_table: str,
    ) -> None:
        self._tokens = tokens
        self._integrations = integrations
        self._installation = installation
        self._health = health
        self._lifecycle_table = lifecycle_table

    def receive(self, body: str, headers: Mapping[str, str], lambda_context: Any = None) -> dict[str, Any]:
        """The answer to Slack's request; SIGNATURE_INVALID (401) before anything else is read.
        `lambda_context` bounds how long an event may stay "in progress" (the function's time left)."""
        self._verify(body, headers)
        try:
            envelope = json.loads(body)
        except ValueError:
            raise INVALID_REQUEST.error(detail="body: not JSON") from None
        if not isinstance(envelope, dict):
            raise INVALID_REQUEST.error(detail="body: not a JSON object")
        kind = envelope.get("type")
        if kind == "url_verification":
            return {"challenge": str(envelope.get("challenge") or "")}
        if kind != "event_callback" or not isinstance(envelope.get("event_id"), str):
            return {"ok": True}  # app_rate_limited and the like: nothing for us to do
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        handle, config = self._once
        if lambda_context is not None:
            config.register_lambda_context(lambda_context)
        try:
            return handle(envelope=envelope)
        except IdempotencyAlreadyInProgressError:
            raise EVENT_IN_PROGRESS.error(retry_after=60) from None

    def _verify(self, body: str, headers: Mapping[str, str]) -> None:
        from slack_sdk.signature import SignatureVerifier

        verifier = SignatureVerifier(self._tokens.app_credentials().signing_secret.get_secret_value())
        try:
            valid = verifier.is_valid_request(body, dict(headers))
        except ValueError:  # a timestamp that is not a number
            valid = False
        if not valid:
            logger.warning("Refused a request without a valid Slack signature")
            raise SIGNATURE_INVALID.error()

    @cached_property
    def _once(self) -> tuple[Callable[..., dict[str, Any]], Any]:
        """`_handle`, run once per event_id, and its idempotency config."""
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        from slack_integration.adapters import aws

        store = DynamoDBPersistenceLayer(
            table_name=self._lifecycle_table,
            key_attr="id",
            expiry_attr="expiration",
            boto3_client=aws.client("dynamodb"),
        )
        config = IdempotencyConfig(event_key_jmespath="event_id", expires_after_seconds=HANDLED_EVENTS_SECONDS)
        once = idempotent_function(data_keyword_argument="envelope", persistence_store=store, config=config)
        return once(self._handle), config

    def _handle(self, envelope: dict[str, Any]) -> dict[str, Any]:
        event = envelope.get("event") if isinstance(envelope.get("event"), dict) else {}
        team_id, kind = envelope.get("team_id"), (event or {}).get("type")
        act = self._actions.get(str(kind))
        changed = 0
        if act is not None and isinstance(team_id, str) and team_id:
            changed = act(team_id, event or {})
        logger.info(
            "Slack event handled",
            extra={"event_type": kind, "team_id": team_id, "event_id": envelope.get("event_id"), "changed": changed},
        )
        return {"ok": True}

    @cached_property
    def _actions(self) -> dict[str, Callable[[str, dict[str, Any]], int]]:
        return {
            "app_uninstalled": self._app_uninstalled,
            "tokens_revoked": self._tokens_revoked,
            "channel_archive": self._channel_gone(SLACK_ERRORS["is_archived"]),
            "channel_deleted": self._channel_gone(SLACK_ERRORS["channel_not_found"]),
            "channel_unarchive": self._channel_unarchived,
            "channel_rename": self._channel_renamed,
        }

    # -- installs --------------------------------------------------------------------------------

    def _app_uninstalled(self, team_id: str, event: dict[str, Any]) -> int:
        return self._deactivate([i for i in self._integrations.by_team(team_id) if i.is_active])

    def _tokens_revoked(self, team_id: str, event: dict[str, Any]) -> int:
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        bots = {str(bot) for bot in (tokens or {}).get("bot") or []}
        if not bots:
            return 0  # user tokens only: Buster holds none
        revoked = [
            i
            for i in self._integrations.by_team(team_id)
            if i.is_active and (i.bot_user_id in bots or not i.bot_user_id)
        ]
        return self._deactivate(revoked)

    def _deactivate(self, integrations: list[Integration]) -> int:
        for integration in integrations:
            self._installation.uninstalled(integration, SLACK_APP_UNINSTALLED)
        return len(integrations)

    # -- channels ----------------------------------------------------------------------------------

    def _using(self, team_id: str, channel_id: Any) -> list[Integration]:
        if not isinstance(channel_id, str) or not channel_id:
            return []
        return [
            i for i in self._integrations.by_team(team_id) if i.is_active and i.notification_channel_id == channel_id
        ]

    def _channel_gone(self, reason: ErrorSpec) -> Callable[[str, dict[str, Any]], int]:
        def flag(team_id: str, event: dict[str, Any]) -> int:
            affected = self._using(team_id, event.get("channel"))
            for integration in affected:
                self._integrations.record_health(integration, HealthStatus.NEEDS_NEW_CHANNEL, reason.code)
            return len(affected)

        return flag

    def _channel_unarchived(self, team_id: str, event: dict[str, Any]) -> int:
        affected = self._using(team_id, event.get("channel"))
        for integration in affected:
            report = self._health.check(integration)
            logger.info("Unarchived channel checked", extra={"integration_id": integration.id, "status": report.status})
        return len(affected)

    def _channel_renamed(self, team_id: str, event: dict[str, Any]) -> int:
        channel = event.get("channel") if isinstance(event.get("channel"), dict) else {}
        channel_id, name = (channel or {}).get("id"), (channel or {}).get("name")
        if not isinstance(name, str) or not name:
            return 0
        affected = self._using(team_id, channel_id)
        for integration in affected:
            try:
                self._integrations.rename_channel(integration, str(channel_id), name)
            except ServiceError as err:
                logger.info("Rename not applied", extra={"integration_id": integration.id, "code": err.code})
        return len(affected)
