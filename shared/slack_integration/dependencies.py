"""Builds the services from the settings, lazily and once per Lambda container.

Handlers call these at request time, not import time, so a cold start pays only for what the
invocation uses, and warm invocations reuse the boto3 clients, the WebClient and the token cache.
Each factory imports its own modules: a function imports only the services it calls (the
channel list never loads the queue consumer, the send consumer never loads the stats).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

from slack_integration.config import ConfigError, get_settings

if TYPE_CHECKING:
    from slack_integration.adapters.delivery_ledger import DeliveryLedger
    from slack_integration.adapters.integrations_repository import IntegrationsRepository
    from slack_integration.adapters.mappings_repository import MappingsRepository
    from slack_integration.adapters.slack_client import SlackGateway
    from slack_integration.adapters.token_store import TokenStore
    from slack_integration.queue_consumer import QueueConsumer
    from slack_integration.services.channels import ChannelService
    from slack_integration.services.health import HealthService
    from slack_integration.services.insights import CapabilityService, StatsService, ThreadService
    from slack_integration.services.installation import InstallationService
    from slack_integration.services.messaging import MessagingService


@cache
def integrations() -> IntegrationsRepository:
    from slack_integration.adapters.integrations_repository import IntegrationsRepository

    return IntegrationsRepository(get_settings().integrations_table)


@cache
def tokens() -> TokenStore:
    from slack_integration.adapters.token_store import TokenStore

    settings = get_settings()
    return TokenStore(settings.token_secret_prefix, settings.token_cache_seconds)


@cache
def slack_reads() -> SlackGateway:
    from slack_integration.adapters.slack_client import SlackGateway, build_web_client

    settings = get_settings()
    return SlackGateway(
        tokens(),
        lambda: build_web_client(settings.slack_api_url, settings.slack_timeout_seconds, idempotent_calls=True),
    )


@cache
def slack_posts() -> SlackGateway:
    """chat.postMessage only: no retry handlers (a resent post could be a duplicate post)."""
    from slack_integration.adapters.slack_client import SlackGateway, build_web_client

    settings = get_settings()
    return SlackGateway(
        tokens(),
        lambda: build_web_client(settings.slack_api_url, settings.slack_timeout_seconds, idempotent_calls=False),
    )


@cache
def mappings() -> MappingsRepository:
    from slack_integration.adapters.mappings_repository import MappingsRepository

    return MappingsRepository(get_settings().mappings_table)


@cache
def ledger() -> DeliveryLedger:
    from slack_integration.adapters.delivery_ledger import DeliveryLedger

    settings = get_settings()
    return DeliveryLedger(settings.deliveries_table, settings.delivery_ttl_days)


@cache
def messaging_service() -> MessagingService:
    from slack_integration.services.delivery import DeliveryService
    from slack_integration.services.messaging import MessagingService

    delivery = DeliveryService(ledger(), integrations(), slack_posts(), slack_reads())
    return MessagingService(integrations(), mappings(), ledger(), delivery, get_settings().mapping_ttl_days)


def _consumer(name: str, handler: Callable[..., None]) -> QueueConsumer:
    from slack_integration.adapters.queues import ConsumerQueues
    from slack_integration.queue_consumer import QueueConsumer
    from slack_integration.queue_policy import RetryBudget

    settings = get_settings()
    if not settings.queue_url or not settings.dead_letter_queue_url:
        raise ConfigError("Invalid configuration: QUEUE_URL and DEAD_LETTER_QUEUE_URL are required by the consumers")
    return QueueConsumer(
        name,
        handler,
        ConsumerQueues(settings.queue_url, settings.dead_letter_queue_url),
        RetryBudget(settings.max_receive_count, settings.reply_grace_seconds),
    )


@cache
def send_consumer() -> QueueConsumer:
    return _consumer("send", messaging_service().send)


@cache
def reply_consumer() -> QueueConsumer:
    return _consumer("reply", messaging_service().reply)


@cache
def health_service() -> HealthService:
    from slack_integration.services.health import HealthService

    return HealthService(integrations(), slack_reads())


@cache
def capability_service() -> CapabilityService:
    from slack_integration.services.insights import CapabilityService

    return CapabilityService(integrations(), health_service(), get_settings().status_cache_seconds)


@cache
def thread_service() -> ThreadService:
    from slack_integration.services.insights import ThreadService

    return ThreadService(integrations(), mappings(), ledger(), slack_reads(), get_settings().status_cache_seconds)


@cache
def stats_service() -> StatsService:
    from slack_integration.services.insights import StatsService

    return StatsService(integrations(), ledger())


@cache
def channel_service() -> ChannelService:
    from slack_integration.services.channels import ChannelService

    return ChannelService(integrations(), slack_reads())


@cache
def installation_service() -> InstallationService:
    from slack_integration.services.installation import InstallationService

    return InstallationService(integrations(), tokens(), slack_reads())


def reset_consumers() -> None:
    """Rebuild the consumers from the environment (tests run both functions in one process)."""
    get_settings.cache_clear()
    send_consumer.cache_clear()
    reply_consumer.cache_clear()


def reset() -> None:
    """Forget every built object (tests and the local stack change the environment between runs)."""
    from slack_integration.adapters import aws

    for built in (
        integrations,
        tokens,
        slack_reads,
        slack_posts,
        mappings,
        ledger,
        messaging_service,
        send_consumer,
        reply_consumer,
        health_service,
        capability_service,
        thread_service,
        stats_service,
        channel_service,
        installation_service,
    ):
        built.cache_clear()
    get_settings.cache_clear()
    aws.reset_clients()
