"""Renewing a rotating bot token before it expires, once, whichever function needs it first.

Slack's rotating tokens last 12 hours; a refresh (oauth.v2.access, grant_type=refresh_token)
returns a new token and a new refresh token. Two functions refreshing at once would each get
their own, and the second to write its secret would overwrite the first's, so one lease in the
lifecycle table decides who refreshes:

- the winner re-reads the secret (someone may have just renewed it), refreshes, writes, and
  gives the lease back with the new token's expiry, which refuses the lease to anyone who read
  the old secret meanwhile;
- a function that loses keeps using the current token while it is still valid (a token is due
  TOKEN_REFRESH_MINUTES before it expires, so there is time), and only when it has actually
  expired waits a moment for the winner's new secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_integration.adapters.lifecycle_store import LifecycleStore
from slack_integration.adapters.slack_oauth import SlackOAuth
from slack_integration.errors import TOKEN_REFRESH_IN_PROGRESS
from slack_integration.models.installation import StoredToken
from slack_integration.observability import logger

if TYPE_CHECKING:
    from slack_integration.adapters.token_store import TokenStore

# How long a function whose token has expired waits for another function's refresh, in all.
_WAITS = (0.2, 0.4, 0.8, 1.6)


class TokenRefresher:
    def __init__(
        self,
        leases: LifecycleStore,
        oauth: SlackOAuth,
        refresh_minutes: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._leases = leases
        self._oauth = oauth
        self._minutes = refresh_minutes
        self._sleep = sleep

    def renew(self, integration_id: str, stored: StoredToken, tokens: TokenStore) -> StoredToken:
        due_before = time.time() + self._minutes * 60
        lease = self._leases.take_refresh_lease(integration_id, due_before=due_before)
        if lease is None:
            return self._while_another_renews(integration_id, stored, tokens)
        renewed: StoredToken | None = None
        try:
            current = tokens.stored(integration_id, refresh=True)
            if not current.due_for_refresh(self._minutes):
                return current  # renewed (or reconnected) since our copy was cached
            renewed = self._oauth.refresh(tokens.app_credentials(), current)
            tokens.put(integration_id, renewed)
            logger.info("Bot token renewed", extra={"integration_id": integration_id, "expires_at": renewed.expires_at})
            return renewed
        finally:
            self._leases.release_refresh_lease(
                integration_id, lease, renewed_expires_at=renewed.expires_at if renewed is not None else None
            )

    def _while_another_renews(self, integration_id: str, stored: StoredToken, tokens: TokenStore) -> StoredToken:
        if not stored.expired():
            return stored
        for delay in _WAITS:
            self._sleep(delay)
            current = tokens.stored(integration_id, refresh=True)
            if not current.expired():
                return current
        raise TOKEN_REFRESH_IN_PROGRESS.error(retry_after=5)
