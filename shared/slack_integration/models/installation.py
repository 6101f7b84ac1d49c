"""What the Slack app lifecycle handles: the app's credentials, a bot token as we store it, and
what Slack's code exchange (oauth.v2.access) says about a new install.

Every secret travels as pydantic `SecretStr`, masked in str() and repr(), so none reaches a log
line or an exception message by accident.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

# The bot scopes Buster asks for (README "Slack app manifest"). The first two are what posting
# needs at all; the others keep delivery exactly-once after a lost answer (history, join) and let
# a notification reach a public channel the bot was not invited to.
REQUIRED_SCOPES = ("channels:read", "chat:write")
PRODUCT_SCOPES = (*REQUIRED_SCOPES, "chat:write.public", "channels:history", "channels:join")


class AppCredentials(BaseModel):
    """The Slack app's secret (SLACK_APP_SECRET_NAME): JSON {"clientId", "clientSecret", "signingSecret"}."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    signing_secret: SecretStr


class StoredToken(BaseModel):
    """A bot token secret's JSON: `botToken` and `teamId`, plus `refreshToken` and `expiresAt`
    (epoch seconds) for an app with token rotation on."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    bot_token: SecretStr = Field(min_length=1)
    team_id: str | None = None
    refresh_token: SecretStr | None = None
    expires_at: int | None = None
    bot_user_id: str | None = None

    @property
    def rotates(self) -> bool:
        return self.refresh_token is not None and self.expires_at is not None

    def due_for_refresh(self, minutes_before_expiration: int, now: float | None = None) -> bool:
        return (
            self.rotates
            and self.expires_at is not None
            and (self.expires_at <= (now or time.time()) + minutes_before_expiration * 60)
        )

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())

    def to_secret(self) -> dict[str, Any]:
        value: dict[str, Any] = {"botToken": self.bot_token.get_secret_value()}
        if self.team_id:
            value["teamId"] = self.team_id
        if self.bot_user_id:
            value["botUserId"] = self.bot_user_id
        if self.refresh_token is not None and self.expires_at is not None:
            value["refreshToken"] = self.refresh_token.get_secret_value()
            value["expiresAt"] = self.expires_at
        return value


class Installed(BaseModel):
    """An install as oauth.v2.access answered it."""

    model_config = ConfigDict(frozen=True)

    team_id: str | None
    team_name: str | None
    enterprise_install: bool
    bot_user_id: str | None
    app_id: str | None
    scopes: frozenset[str]
    token: StoredToken

    @property
    def missing_scopes(self) -> tuple[str, ...]:
        return tuple(scope for scope in REQUIRED_SCOPES if scope not in self.scopes)
