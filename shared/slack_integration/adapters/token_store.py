"""Secrets Manager: the bot tokens, one secret per integration named <prefix><integration id>,
and the Slack app's own credentials (SLACK_APP_SECRET_NAME).

This is the only module that touches the secrets. Reads go through Powertools' SecretsProvider
cache (TOKEN_CACHE_SECONDS), so a warm container asks Secrets Manager once per integration per
TTL rather than once per Slack call. `refresh=True` skips the cache: callers use it after Slack
rejected a token, because a reconnect may have stored a new one since we cached the old.

A rotating install's token (README "Token rotation") is renewed here, when it has less than
TOKEN_REFRESH_MINUTES left, by whichever function reads it first (`token_rotation`).

Tokens travel as pydantic `SecretStr`, whose str() and repr() are masked, so a token that
reaches a log line or an exception message by accident prints as '**********'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr, ValidationError

from slack_integration.adapters import aws
from slack_integration.errors import AWS_UNAVAILABLE, SLACK_APP_NOT_CONFIGURED, TOKEN_MISSING
from slack_integration.models.installation import AppCredentials, StoredToken
from slack_integration.observability import logger

if TYPE_CHECKING:
    from slack_integration.adapters.token_rotation import TokenRefresher


class TokenStore:
    def __init__(
        self,
        prefix: str,
        max_age_seconds: int,
        secretsmanager: Any = None,
        *,
        app_secret_name: str = "buster/slack/app",  # noqa: S107 - a secret's name, not a secret
        refresher: Callable[[], TokenRefresher] | None = None,
        refresh_minutes: int = 120,
    ) -> None:
        self._prefix = prefix
        self._max_age = max_age_seconds
        self._client = secretsmanager
        self._provider: SecretsProvider | None = None
        self._app_secret_name = app_secret_name
        # Built on first need only: most tokens never rotate, and most reads are not due.
        self._refresher = refresher
        self._refresh_minutes = refresh_minutes

    def secret_name(self, integration_id: str) -> str:
        return f"{self._prefix}{integration_id}"

    @property
    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._client or aws.client("secretsmanager"))
        return self._provider

    def get(self, integration_id: str, *, refresh: bool = False) -> SecretStr:
        """The integration's bot token, renewed first when it rotates and is due; ServiceError
        TOKEN_MISSING when there is none to use."""
        stored = self.stored(integration_id, refresh=refresh)
        if self._refresher is not None and stored.due_for_refresh(self._refresh_minutes):
            stored = self._refresher().renew(integration_id, stored, self)
        return stored.bot_token

    def stored(self, integration_id: str, *, refresh: bool = False) -> StoredToken:
        """The integration's secret as stored (token, and refresh token and expiry when it rotates)."""
        value = self._read(self.secret_name(integration_id), refresh=refresh, missing=TOKEN_MISSING.error)
        try:
            return StoredToken.model_validate(value)
        except ValidationError:
            logger.error("Bot token secret has no usable botToken", extra={"integration_id": integration_id})
            raise TOKEN_MISSING.error() from None

    def app_credentials(self) -> AppCredentials:
        """The Slack app's client id, client secret and signing secret (same cache as the tokens)."""
        value = self._read(self._app_secret_name, refresh=False, missing=SLACK_APP_NOT_CONFIGURED.error)
        try:
            return AppCredentials.model_validate(value)
        except ValidationError:
            logger.error("The Slack app secret lacks clientId, clientSecret or signingSecret")
            raise SLACK_APP_NOT_CONFIGURED.error() from None

    def _read(self, name: str, *, refresh: bool, missing: Callable[[], Exception]) -> dict[str, Any]:
        try:
            value = self._secrets.get(name, max_age=self._max_age, transform="json", force_fetch=refresh)
        except TransformParameterError:
            logger.error("Secret is not valid JSON", extra={"secret": name})
            raise missing() from None
        except GetParameterError as exc:
            # Powertools wraps the boto3 error; its original is the implicit context.
            cause = exc.__context__
            if cause is not None and aws.error_code(cause) == "ResourceNotFoundException":
                raise missing() from None
            if isinstance(cause, (BotoCoreError, ClientError)):
                raise aws.unavailable(cause, "GetSecretValue") from None
            raise
        if not isinstance(value, dict):
            logger.error("Secret is not a JSON object", extra={"secret": name})
            raise missing()
        return value

    def put(self, integration_id: str, token: SecretStr | StoredToken, team_id: str | None = None) -> None:
        """Create or replace the integration's token (the install, admin connect, a refresh)."""
        stored = token if isinstance(token, StoredToken) else StoredToken(bot_token=token, team_id=team_id)
        name = self.secret_name(integration_id)
        try:
            self._secrets.set(name, stored.to_secret())
        except Exception as exc:  # Powertools' SetSecretError wraps every boto3 failure
            raise AWS_UNAVAILABLE.error() from _without_secret(exc)
        self._secrets.clear_cache()

    def delete(self, integration_id: str) -> bool:
        """Delete the token at once (no recovery window, so a reconnect can store it again). False if none."""
        try:
            self._secrets.client.delete_secret(
                SecretId=self.secret_name(integration_id), ForceDeleteWithoutRecovery=True
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ResourceNotFoundException":
                return False
            raise aws.unavailable(exc, "DeleteSecret") from None
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "DeleteSecret") from None
        finally:
            self._secrets.clear_cache()
        return True


def _without_secret(exc: Exception) -> Exception:
    # boto3 parameter-validation errors can echo the request, SecretString included; keep only the type.
    return RuntimeError(type(exc.__cause__ or exc).__name__)
