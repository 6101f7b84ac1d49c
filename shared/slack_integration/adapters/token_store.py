"""Bot tokens in Secrets Manager: one secret per integration, named <prefix><integration id>.

This is the only module that touches the secrets. Reads go through Powertools' SecretsProvider
cache (TOKEN_CACHE_SECONDS), so a warm container asks Secrets Manager once per integration per
TTL rather than once per Slack call. `refresh=True` skips the cache: callers use it after Slack
rejected a token, because a reconnect may have stored a new one since we cached the old.

Tokens travel as pydantic `SecretStr`, whose str() and repr() are masked, so a token that
reaches a log line or an exception message by accident prints as '**********'.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from slack_integration.adapters import aws
from slack_integration.errors import AWS_UNAVAILABLE, TOKEN_MISSING
from slack_integration.observability import logger


class TokenStore:
    def __init__(self, prefix: str, max_age_seconds: int, secretsmanager: Any = None) -> None:
        self._prefix = prefix
        self._max_age = max_age_seconds
        self._client = secretsmanager
        self._provider: SecretsProvider | None = None

    def secret_name(self, integration_id: str) -> str:
        return f"{self._prefix}{integration_id}"

    @property
    def _secrets(self) -> SecretsProvider:
        if self._provider is None:
            self._provider = SecretsProvider(boto3_client=self._client or aws.client("secretsmanager"))
        return self._provider

    def get(self, integration_id: str, *, refresh: bool = False) -> SecretStr:
        """The integration's bot token; ServiceError TOKEN_MISSING when there is none to use."""
        name = self.secret_name(integration_id)
        try:
            value = self._secrets.get(name, max_age=self._max_age, transform="json", force_fetch=refresh)
        except TransformParameterError:
            logger.error("Bot token secret is not valid JSON", extra={"integration_id": integration_id})
            raise TOKEN_MISSING.error() from None
        except GetParameterError as exc:
            # Powertools wraps the boto3 error; its original is the implicit context.
            cause = exc.__context__
            if cause is not None and aws.error_code(cause) == "ResourceNotFoundException":
                raise TOKEN_MISSING.error() from None
            if isinstance(cause, (BotoCoreError, ClientError)):
                raise aws.unavailable(cause, "GetSecretValue") from None
            raise
        token = value.get("botToken") if isinstance(value, dict) else None
        if not isinstance(token, str) or not token:
            logger.error("Bot token secret has no botToken", extra={"integration_id": integration_id})
            raise TOKEN_MISSING.error()
        return SecretStr(token)

    def put(self, integration_id: str, token: SecretStr, team_id: str) -> None:
        """Create or replace the integration's token (used by the install / admin connect)."""
        name = self.secret_name(integration_id)
        try:
            self._secrets.set(name, {"botToken": token.get_secret_value(), "teamId": team_id})
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
