"""Builds the services from the settings, lazily and once per Lambda container.

Handlers call these at request time, not import time, so a cold start pays only for what the
invocation uses, and warm invocations reuse the boto3 clients, the WebClient and the token cache.
"""

from __future__ import annotations

from functools import cache

from slack_integration.adapters import aws
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway, build_web_client
from slack_integration.adapters.token_store import TokenStore
from slack_integration.config import get_settings
from slack_integration.services.channels import ChannelService
from slack_integration.services.installation import InstallationService


@cache
def integrations() -> IntegrationsRepository:
    return IntegrationsRepository(get_settings().integrations_table)


@cache
def tokens() -> TokenStore:
    settings = get_settings()
    return TokenStore(settings.token_secret_prefix, settings.token_cache_seconds)


@cache
def slack_reads() -> SlackGateway:
    settings = get_settings()
    return SlackGateway(
        tokens(),
        lambda: build_web_client(settings.slack_api_url, settings.slack_timeout_seconds, idempotent_calls=True),
    )


@cache
def channel_service() -> ChannelService:
    return ChannelService(integrations(), slack_reads())


@cache
def installation_service() -> InstallationService:
    return InstallationService(integrations(), tokens(), slack_reads())


def reset() -> None:
    """Forget every built object (tests and the local stack change the environment between runs)."""
    for built in (integrations, tokens, slack_reads, channel_service, installation_service):
        built.cache_clear()
    get_settings.cache_clear()
    aws.reset_clients()
