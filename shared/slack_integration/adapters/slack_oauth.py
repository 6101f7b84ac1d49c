"""The Slack calls the app makes as itself (client id + secret), not as a workspace's bot:
exchanging an install's code and refreshing a rotating token, both `oauth.v2.access`.

`slack_client.SlackGateway` makes every call on behalf of an installed workspace; this module
makes the two that create or renew those installs. The refresh is slack_sdk's own `TokenRotator`.
Neither call is retried: a code is single-use, and a refresh that reached Slack before the
connection broke may already have replaced the token we would be refreshing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackTokenRotationError

from slack_integration.adapters.slack_client import SLACK_FAILURES, build_web_client
from slack_integration.errors import INSTALL_EXCHANGE_FAILED, TOKEN_REFRESH_REFUSED, ServiceError
from slack_integration.models.installation import AppCredentials, Installed, StoredToken
from slack_integration.observability import logger
from slack_integration.slack_errors import translate

# slack_sdk logs every request's and answer's body at DEBUG; oauth.v2.access's carry the code, the
# new token and its refresh token. This client's logger never goes below INFO, whatever the
# function's log level.
_QUIET = logging.getLogger("slack_integration.slack_oauth")
_QUIET.setLevel(logging.INFO)

# What oauth.v2.access answers when the refresh token itself is no good: only a reconnect helps.
_REFRESH_REFUSALS = frozenset({"invalid_refresh_token", "invalid_grant_type", "token_revoked", "invalid_client_id"})


class SlackOAuth:
    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._web: WebClient | None = None

    @property
    def _client(self) -> WebClient:
        if self._web is None:
            self._web = build_web_client(self._base_url, self._timeout, retry_handlers=[], logger=_QUIET)
        return self._web

    def exchange(self, app: AppCredentials, code: str, redirect_uri: str) -> Installed:
        """oauth.v2.access with the code Slack's redirect brought; INSTALL_EXCHANGE_FAILED (with
        Slack's error string) when Slack refuses it, transient errors as they are."""
        try:
            answer = self._client.oauth_v2_access(
                client_id=app.client_id,
                client_secret=app.client_secret.get_secret_value(),
                code=code,
                redirect_uri=redirect_uri,
            )
        except SlackApiError as exc:
            error = translate(exc)
            if error.retryable:
                raise error from None
            slack_error = str(exc.response.get("error") or "") or None
            logger.warning("Slack refused the install's code exchange", extra={"slack_error": slack_error})
            raise INSTALL_EXCHANGE_FAILED.error(slack_error=slack_error) from None
        except SLACK_FAILURES as exc:
            raise translate(exc) from None
        return _installed(dict(answer.data) if isinstance(answer.data, dict) else {})

    def refresh(self, app: AppCredentials, current: StoredToken) -> StoredToken:
        """A new token (and refresh token) for a rotating install, through slack_sdk's
        TokenRotator; TOKEN_REFRESH_REFUSED when Slack will not renew it (reconnect needed)."""
        from slack_sdk.oauth.installation_store import Bot
        from slack_sdk.oauth.token_rotation import TokenRotator

        assert current.refresh_token is not None and current.expires_at is not None
        rotator = TokenRotator(
            client_id=app.client_id, client_secret=app.client_secret.get_secret_value(), client=self._client
        )
        bot = Bot(
            bot_token=current.bot_token.get_secret_value(),
            bot_id="",
            bot_user_id=current.bot_user_id or "",
            bot_refresh_token=current.refresh_token.get_secret_value(),
            bot_token_expires_at=current.expires_at,
            team_id=current.team_id,
            installed_at=0.0,
        )
        try:
            # minutes_before_expiration=0 would skip a token that is not expired yet: the caller
            # already decided that it is due, so ask for a rotation whatever is left.
            rotated = rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=10**6)
        except SlackTokenRotationError as exc:
            slack_error = str(exc.api_error.response.get("error") or "") or None
            error: ServiceError = translate(exc.api_error)
            if slack_error in _REFRESH_REFUSALS or error.needs_reconnect:
                logger.warning("Slack refused to refresh the bot token", extra={"slack_error": slack_error})
                raise TOKEN_REFRESH_REFUSED.error(slack_error=slack_error) from None
            raise error from None
        except SLACK_FAILURES as exc:
            raise translate(exc) from None
        if rotated is None or rotated.bot_refresh_token is None or rotated.bot_token_expires_at is None:
            # token_type was not "bot": not an answer we can store.
            raise TOKEN_REFRESH_REFUSED.error(slack_error="unexpected_token_type")
        return StoredToken(
            bot_token=SecretStr(rotated.bot_token),
            team_id=current.team_id,
            bot_user_id=current.bot_user_id,
            refresh_token=SecretStr(rotated.bot_refresh_token),
            expires_at=int(rotated.bot_token_expires_at),
        )


def _installed(answer: dict[str, Any]) -> Installed:
    team = answer.get("team") if isinstance(answer.get("team"), dict) else {}
    token = answer.get("access_token")
    if not isinstance(token, str) or not token or answer.get("token_type", "bot") != "bot":
        raise INSTALL_EXCHANGE_FAILED.error(slack_error="missing_access_token")
    refresh, expires_in = answer.get("refresh_token"), answer.get("expires_in")
    rotating = isinstance(refresh, str) and bool(refresh) and isinstance(expires_in, int)
    stored = StoredToken(
        bot_token=SecretStr(token),
        team_id=(team or {}).get("id"),
        bot_user_id=answer.get("bot_user_id"),
        refresh_token=SecretStr(str(refresh)) if rotating else None,
        expires_at=int(time.time()) + int(str(expires_in)) if rotating else None,
    )
    scopes = frozenset(s.strip() for s in str(answer.get("scope") or "").split(",") if s.strip())
    return Installed(
        team_id=(team or {}).get("id"),
        team_name=(team or {}).get("name"),
        enterprise_install=bool(answer.get("is_enterprise_install")),
        bot_user_id=answer.get("bot_user_id"),
        app_id=answer.get("app_id"),
        scopes=scopes,
        token=stored,
    )
