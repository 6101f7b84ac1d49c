"""Add to Slack: the OAuth v2 install, from the dashboard's button back to the dashboard.

1. `start` (POST /integration/install, JWT): a state bound to the caller, single use, 10 minutes
   (lifecycle table), and Slack's authorize URL with our client id, scopes and redirect URI
   (slack_sdk's AuthorizeUrlGenerator).
2. Slack shows its consent screen and redirects the browser to GET /slack/oauth/callback with
   `code` and `state` (or `error=access_denied`).
3. `finish` redeems the state (that is the proof of who started it: the route has no JWT),
   exchanges the code (oauth.v2.access), refuses org-wide Enterprise Grid installs and installs
   short of the scopes posting needs, saves the token and the integration, and answers where to
   send the browser: always the dashboard's return URL, with `?slack=connected` or
   `?slack=error&code=<CODE>`. Nothing is stored when it fails, and a token Slack issued for an
   install we refuse is revoked at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlencode

from slack_integration.adapters.lifecycle_store import LifecycleStore
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.adapters.slack_oauth import SlackOAuth
from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import (
    ENTERPRISE_INSTALL_UNSUPPORTED,
    FEATURE_DISABLED,
    INSTALL_DENIED,
    INSTALL_EXCHANGE_FAILED,
    INSTALL_SCOPES_MISSING,
    INSTALL_STATE_INVALID,
    INTERNAL_ERROR,
    ServiceError,
)
from slack_integration.models.installation import PRODUCT_SCOPES, Installed
from slack_integration.observability import logger
from slack_integration.services.installation import InstallationService

CALLBACK_PATH = "/slack/oauth/callback"
# Slack's states are ours to shape; anything longer than this is not one we issued.
_MAX_STATE_LENGTH = 128


class InstallFlow:
    def __init__(
        self,
        *,
        lifecycle: LifecycleStore,
        tokens: TokenStore,
        oauth: SlackOAuth,
        slack: SlackGateway,
        installation: InstallationService,
        authorize_url: str,
        redirect_url: str | None,
        return_url: str,
        enabled: bool = True,
    ) -> None:
        self._lifecycle = lifecycle
        self._tokens = tokens
        self._oauth = oauth
        self._slack = slack
        self._installation = installation
        self._authorize_url = authorize_url
        self._redirect_url = redirect_url
        self._return_url = return_url
        self._enabled = enabled

    def redirect_uri(self, api_host: str) -> str:
        """The callback URL Slack must send the browser to (and that the exchange must repeat)."""
        return self._redirect_url or f"https://{api_host}{CALLBACK_PATH}"

    def start(self, user_id: str, api_host: str) -> str:
        from slack_sdk.oauth import AuthorizeUrlGenerator

        app = self._tokens.app_credentials()
        state = self._lifecycle.issue_state(user_id)
        generator = AuthorizeUrlGenerator(
            client_id=app.client_id,
            # The generator pastes redirect_uri into the query as it is: encode it here.
            redirect_uri=quote(self.redirect_uri(api_host), safe=""),
            scopes=list(PRODUCT_SCOPES),
            authorization_url=self._authorize_url,
        )
        logger.info("Add to Slack started", extra={"user_id": user_id})
        return generator.generate(state)

    def finish(self, query: Mapping[str, str], api_host: str) -> str:
        """Where to send the browser; never raises (a browser is waiting, not an API client)."""
        try:
            user_id, installed = self._complete(query, api_host)
        except ServiceError as err:
            logger.warning("Add to Slack failed", extra={"code": err.code, "slack_error": err.slack_error})
            return self._back(slack="error", code=err.code)
        except Exception:
            logger.exception("Add to Slack failed unexpectedly")
            return self._back(slack="error", code=INTERNAL_ERROR.code)
        logger.info("Add to Slack finished", extra={"user_id": user_id, "team_id": installed.team_id})
        return self._back(slack="connected")

    def _complete(self, query: Mapping[str, str], api_host: str) -> tuple[str, Installed]:
        if not self._enabled:
            raise FEATURE_DISABLED.error()
        state = query.get("state") or ""
        if not state or len(state) > _MAX_STATE_LENGTH:
            raise INSTALL_STATE_INVALID.error()
        # Redeemed first, even when the user cancelled: a state is good for one answer from Slack.
        user_id = self._lifecycle.redeem_state(state)
        if query.get("error"):
            denied = query["error"] == "access_denied"
            raise (INSTALL_DENIED if denied else INSTALL_EXCHANGE_FAILED).error(slack_error=query["error"][:64])
        code = query.get("code")
        if not code:
            raise INSTALL_EXCHANGE_FAILED.error(slack_error="missing_code")
        installed = self._oauth.exchange(self._tokens.app_credentials(), code, self.redirect_uri(api_host))
        if installed.enterprise_install or not installed.team_id:
            self._revoke(installed)
            raise ENTERPRISE_INSTALL_UNSUPPORTED.error()
        if installed.missing_scopes:
            self._revoke(installed)
            raise INSTALL_SCOPES_MISSING.error(detail="missing: " + ", ".join(installed.missing_scopes))
        self._installation.install(user_id, installed)
        return user_id, installed

    def _revoke(self, installed: Installed) -> None:
        try:
            self._slack.revoke(installed.token.bot_token)
        except ServiceError as err:
            logger.warning("Could not revoke the refused install's token", extra={"code": err.code})

    def _back(self, **outcome: str) -> str:
        separator = "&" if "?" in self._return_url else "?"
        return f"{self._return_url}{separator}{urlencode(outcome)}"
