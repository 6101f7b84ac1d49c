"""The service's configuration: pydantic models read from the environment at cold start.

This is the only module of the layer that reads the environment. template.yaml declares every
variable; tests and the admin command set the same ones. A missing or malformed variable fails
fast with a message naming it, instead of a KeyError mid-request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(RuntimeError):
    """The environment does not describe a usable deployment (names the variables at fault)."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    integrations_table: str = Field(alias="INTEGRATIONS_TABLE", min_length=3)
    mappings_table: str = Field(alias="MESSAGE_MAPPINGS_TABLE", min_length=3)
    token_secret_prefix: str = Field(alias="TOKEN_SECRET_PREFIX", min_length=1)
    slack_api_url: str = Field(alias="SLACK_API_URL", default="https://slack.com/api/")
    # Each Slack HTTP call; an API Gateway request has 30 s in all, a page of channels ~1 s.
    slack_timeout_seconds: float = Field(alias="SLACK_TIMEOUT_SECONDS", default=5.0, gt=0, le=60)
    # How long a bot token is served from memory before Secrets Manager is asked again.
    token_cache_seconds: int = Field(alias="TOKEN_CACHE_SECONDS", default=300, ge=0, le=3600)

    # The Slack app (README "Slack app lifecycle"): its credentials secret, JSON
    # {"clientId", "clientSecret", "signingSecret"}, read through the same cache as the tokens.
    slack_app_secret_name: str = Field(alias="SLACK_APP_SECRET_NAME", default="buster/slack/app", min_length=1)
    # Install states, token refresh leases and Slack events already handled (all short-lived).
    lifecycle_table: str = Field(alias="LIFECYCLE_TABLE", min_length=3)
    oauth_authorize_url: str = Field(alias="SLACK_OAUTH_AUTHORIZE_URL", default="https://slack.com/oauth/v2/authorize")
    # Where Slack sends the installer back; empty = this API's own /slack/oauth/callback, built
    # from the host the request came to (set it for a custom domain with a base path).
    oauth_redirect_url: str | None = Field(alias="SLACK_OAUTH_REDIRECT_URL", default=None)
    # DashboardOrigin + DashboardReturnPath: the only place the OAuth callback ever redirects to.
    dashboard_return_url: str = Field(
        alias="DASHBOARD_RETURN_URL", default="https://app.example.com/settings/integrations"
    )
    # Where delivery receipts are published (README "Delivery receipts").
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", default="default", min_length=1)
    # A rotating token is refreshed when it has less than this left (slack_sdk's TokenRotator default).
    token_refresh_minutes: int = Field(alias="TOKEN_REFRESH_MINUTES", default=120, ge=1, le=600)

    # Messaging (the send and reply consumers; see README "Queue contract" and "Failure policy").
    deliveries_table: str = Field(alias="DELIVERIES_TABLE", min_length=3)
    # The queue a consumer reads and its dead-letter queue; only the consumers set them.
    queue_url: str | None = Field(alias="QUEUE_URL", default=None)
    dead_letter_queue_url: str | None = Field(alias="DEAD_LETTER_QUEUE_URL", default=None)
    # Must equal the queue's redrive maxReceiveCount: on that receive a failing message is
    # dead-lettered by us, with its error code, instead of silently by SQS one receive later.
    max_receive_count: int = Field(alias="MAX_RECEIVE_COUNT", default=10, ge=2, le=1000)
    # How long a reply waits for its original message to be delivered before it is dead-lettered.
    reply_grace_seconds: int = Field(alias="REPLY_GRACE_SECONDS", default=900, ge=0, le=43_200)
    # Tracked messages can be replied to for this long; delivery records feed stats for this long.
    # Both outlive any message's stay in a queue (14 days), so a pending reply always finds its
    # mapping and a redelivery always finds its delivery record (template MinValue 15, too).
    mapping_ttl_days: int = Field(alias="MAPPING_TTL_DAYS", default=90, ge=15, le=3650)
    delivery_ttl_days: int = Field(alias="DELIVERY_TTL_DAYS", default=30, ge=15, le=365)

    # Operations (README "Operations"): false = the dashboard routes that call Slack or change
    # anything answer 503 FEATURE_DISABLED; reads of saved data stay on.
    api_enabled: bool = Field(alias="API_ENABLED", default=True)

    # Health and insights.
    # Integrations checked at once by the sweep (each check is two Slack calls in its own workspace).
    health_concurrency: int = Field(alias="HEALTH_CONCURRENCY", default=8, ge=1, le=64)
    health_page_size: int = Field(alias="HEALTH_PAGE_SIZE", default=16, ge=1, le=100)
    # GET /integration/status and the optional Slack view of a thread are cached this long.
    status_cache_seconds: int = Field(alias="STATUS_CACHE_SECONDS", default=60, ge=0, le=3600)
    # The thread view reads conversations.replies at most once in this many seconds per workspace
    # (Slack allows apps outside its Marketplace one call a minute); 0 for a listed app.
    thread_read_interval_seconds: int = Field(alias="SLACK_THREAD_READ_INTERVAL", default=60, ge=0, le=3600)

    def consumer(self) -> ConsumerSettings:
        """What a queue consumer needs beyond the rest; ConfigError when its queues are not set."""
        if not self.queue_url or not self.dead_letter_queue_url:
            raise ConfigError(
                "Invalid configuration: QUEUE_URL and DEAD_LETTER_QUEUE_URL are required by the consumers"
            )
        return ConsumerSettings(
            queue_url=self.queue_url,
            dead_letter_queue_url=self.dead_letter_queue_url,
            max_receive_count=self.max_receive_count,
            reply_grace_seconds=self.reply_grace_seconds,
        )

    @field_validator("oauth_authorize_url", "oauth_redirect_url", "dashboard_return_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        # slack_sdk joins base_url and the method name by plain concatenation.
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"


class ConsumerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    queue_url: str
    dead_letter_queue_url: str
    max_receive_count: int
    reply_grace_seconds: int


class QueueUrls(BaseModel):
    """The queues a producer or an operator command talks to (the stack's outputs give them)."""

    model_config = ConfigDict(frozen=True)

    queue_url: str = Field(min_length=1)
    dead_letter_queue_url: str | None = None


def queue_urls(prefix: str, environ: Mapping[str, str] | None = None, *, dead_letter: bool = False) -> QueueUrls:
    """`<PREFIX>_QUEUE_URL` (and `<PREFIX>_DLQ_URL` when `dead_letter`), e.g. SEND_QUEUE_URL."""
    env = os.environ if environ is None else environ
    queue, dlq = env.get(f"{prefix}_QUEUE_URL"), env.get(f"{prefix}_DLQ_URL")
    if not queue or (dead_letter and not dlq):
        needed = f"{prefix}_QUEUE_URL and {prefix}_DLQ_URL are" if dead_letter else f"{prefix}_QUEUE_URL is"
        raise ConfigError(f"{needed} needed (the stack outputs give them)")
    return QueueUrls(queue_url=queue, dead_letter_queue_url=dlq)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment; raise ConfigError naming every bad or missing variable."""
    env = os.environ if environ is None else environ
    try:
        return Settings.model_validate({k: v for k, v in env.items() if v != ""})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            problems.append(f"{name} ({'missing' if err['type'] == 'missing' else err['msg']})")
        raise ConfigError("Invalid configuration: " + ", ".join(problems)) from None
