"""The OAuth side of Slack the emulator keeps: registered apps, the codes the authorize page hands
out, and the refresh tokens of apps that rotate their tokens.

Not locked itself: EmulatorState owns one OAuthRegistry and only touches it while holding its lock.

What Slack documents and the emulator follows (docs.slack.dev/authentication/using-token-rotation,
read 2026): with rotation on, an access token (`xoxe.xoxb-1-...`) expires after `expires_in` =
43,200 s (12 h) and comes with a refresh token (`xoxe-1-...`). Refresh tokens "are designed to be
used once": each refresh answers a new refresh token, and the one used is revoked ("after a short
grace period": the emulator has none, so a code that replays a refresh token meets the strict
case). Rotation "may not be turned off once it's turned on", so an app's choice is fixed here too.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# Slack: a rotating access token "will always expire in 43,200 seconds, which is 12 hours".
DEFAULT_TOKEN_LIFETIME_SECONDS = 43_200


@dataclass(frozen=True)
class Enterprise:
    """An Enterprise Grid organization, as oauth.v2.access names it."""

    id: str
    name: str

    def to_slack(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name}


@dataclass
class OAuthApp:
    """An app Slack knows by its client id: how oauth.v2.access authenticates it, where its
    events go and how they are signed."""

    client_id: str
    client_secret: str
    app_id: str
    redirect_uri: str | None = None
    signing_secret: str | None = None
    token_rotation: bool = False
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    events_url: str | None = None
    # The legacy verification token Slack still puts in every event's `token` field; Slack tells
    # apps to check signatures instead, so it is random and never handed out.
    verification_token: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    # What the authorize page grants (None: what was requested), so tests can see an install
    # that came back with fewer scopes than the app asked for.
    granted_scopes: tuple[str, ...] | None = None

    def public(self) -> dict[str, Any]:
        """The app without its secrets (client secret, signing secret, verification token)."""
        return {
            "client_id": self.client_id,
            "app_id": self.app_id,
            "redirect_uri": self.redirect_uri,
            "token_rotation": self.token_rotation,
            "token_lifetime_seconds": self.token_lifetime_seconds,
            "events_url": self.events_url,
        }


@dataclass
class OAuthCode:
    """A temporary code Slack hands the installer's browser; exchanged once by oauth.v2.access."""

    client_id: str
    team_id: str
    scopes: tuple[str, ...]
    installer_user_id: str
    redirect_uri: str | None = None
    used: bool = False
    # Set for an org-wide install on Enterprise Grid: the exchange then answers `team: null`.
    enterprise: Enterprise | None = None


@dataclass
class RefreshToken:
    """What one refresh of a rotating install gives again: the same scopes, workspace and org."""

    token: str
    client_id: str
    team_id: str
    scopes: tuple[str, ...]
    installer_user_id: str
    enterprise: Enterprise | None = None
    revoked: bool = False


class OAuthRegistry:
    def __init__(self) -> None:
        self.apps: dict[str, OAuthApp] = {}
        self.codes: dict[str, OAuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}

    def reset(self) -> None:
        self.apps.clear()
        self.codes.clear()
        self.refresh_tokens.clear()

    def add(self, app: OAuthApp) -> OAuthApp:
        if app.client_id in self.apps:
            raise ValueError(f"OAuth app {app.client_id} already exists")
        check_app(app)
        self.apps[app.client_id] = app
        return app

    def app(self, client_id: str) -> OAuthApp:
        if client_id not in self.apps:
            raise KeyError(f"unknown OAuth app {client_id}")
        return self.apps[client_id]

    def set_events_url(self, client_id: str, url: str | None) -> None:
        app = self.app(client_id)
        check_app(dataclasses.replace(app, events_url=url))
        app.events_url = url

    def set_granted_scopes(self, client_id: str, scopes: tuple[str, ...] | None) -> None:
        self.app(client_id).granted_scopes = scopes

    def receivers(self, client_id: str | None = None) -> list[OAuthApp]:
        """Apps that get events (those with an events URL), or just `client_id`'s if it has one."""
        return [
            app
            for app in self.apps.values()
            if app.events_url is not None and (client_id is None or app.client_id == client_id)
        ]

    def revoke_refresh_tokens(self, team_id: str, client_id: str | None = None) -> int:
        """Revoke the workspace's live refresh tokens (of one app, or all); returns how many."""
        revoked = 0
        for record in self.refresh_tokens.values():
            if record.team_id == team_id and not record.revoked and client_id in (None, record.client_id):
                record.revoked = True
                revoked += 1
        return revoked


def check_app(app: OAuthApp) -> None:
    """Refuse settings Slack would not let an app have (events need a signing secret to be signed)."""
    lifetime = app.token_lifetime_seconds
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 1:
        raise ValueError(f"token_lifetime_seconds must be a positive int, got {lifetime!r}")
    if not isinstance(app.token_rotation, bool):
        raise ValueError(f"token_rotation must be a bool, got {app.token_rotation!r}")
    for name in ("redirect_uri", "events_url"):
        value = getattr(app, name)
        if value is not None and not is_web_url(value):
            raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    if app.events_url is not None and not app.signing_secret:
        raise ValueError("an app with an events_url needs a signing_secret: Slack signs every event")


def is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
