"""The composition root: one `Container` builds every service from one `Settings`, lazily.

Each service is a `cached_property`, so an invocation builds only what it uses and builds it
once; each property imports its own modules, so a cold start pays only for the services the
function calls (the channel list never loads the queue consumer, the send consumer never loads
the stats). A Lambda container uses one `Container` for its life (`current()`): warm
invocations reuse its boto3 clients, WebClients and token cache. Tests and the local stack, which
run several functions (each with its own environment) in one process, build one per function
and switch between them with `use()`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from slack_integration.config import Settings, load_settings

if TYPE_CHECKING:
    from slack_integration.adapters.delivery_ledger import DeliveryLedger
    from slack_integration.adapters.integrations_repository import IntegrationsRepository
    from slack_integration.adapters.lifecycle_store import LifecycleStore
    from slack_integration.adapters.mappings_repository import MappingsRepository
    from slack_integration.adapters.queues import ConsumerQueues
    from slack_integration.adapters.slack_client import SlackGateway
    from slack_integration.adapters.slack_oauth import SlackOAuth
    from slack_integration.adapters.token_rotation import TokenRefresher
    from slack_integration.adapters.token_store import TokenStore
    from slack_integration.queue_consumer import QueueConsumer, RecordHandler, Superseded
    from slack_integration.services.channels import ChannelService
    from slack_integration.services.delivery import DeliveryService
    from slack_integration.services.domain_events import DomainEventsService
    from slack_integration.services.health import HealthService
    from slack_integration.services.install_flow import InstallFlow
    from slack_integration.services.installation import InstallationService
    from slack_integration.services.messages import MessagesService
    from slack_integration.services.receipts import ReceiptService
    from slack_integration.services.reply import ReplyService
    from slack_integration.services.send import SendService
    from slack_integration.services.slack_events import SlackEventsService
    from slack_integration.services.stats import StatsService
    from slack_integration.services.status import StatusService
    from slack_integration.services.thread import ThreadService
    from slack_integration.services.update import UpdateService


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- adapters ----------------------------------------------------------------------------

    @cached_property
    def integrations(self) -> IntegrationsRepository:
        from slack_integration.adapters.integrations_repository import IntegrationsRepository

        return IntegrationsRepository(self.settings.integrations_table)

    @cached_property
    def tokens(self) -> TokenStore:
        from slack_integration.adapters.token_store import TokenStore

        return TokenStore(
            self.settings.token_secret_prefix,
            self.settings.token_cache_seconds,
            app_secret_name=self.settings.slack_app_secret_name,
            refresher=lambda: self.token_refresher,
            refresh_minutes=self.settings.token_refresh_minutes,
        )

    @cached_property
    def lifecycle(self) -> LifecycleStore:
        from slack_integration.adapters.lifecycle_store import LifecycleStore

        return LifecycleStore(self.settings.lifecycle_table)

    @cached_property
    def oauth(self) -> SlackOAuth:
        from slack_integration.adapters.slack_oauth import SlackOAuth

        return SlackOAuth(self.settings.slack_api_url, self.settings.slack_timeout_seconds)

    @cached_property
    def token_refresher(self) -> TokenRefresher:
        """Only a rotating token that is due builds this (and imports slack_sdk's oauth package)."""
        from slack_integration.adapters.token_rotation import TokenRefresher

        return TokenRefresher(self.lifecycle, self.oauth, self.settings.token_refresh_minutes)

    @cached_property
    def slack(self) -> SlackGateway:
        from slack_integration.adapters.slack_client import SlackGateway

        return SlackGateway(self.tokens, self.settings.slack_api_url, self.settings.slack_timeout_seconds)

    @cached_property
    def mappings(self) -> MappingsRepository:
        from slack_integration.adapters.mappings_repository import MappingsRepository

        return MappingsRepository(self.settings.mappings_table, self.settings.mapping_ttl_days)

    @cached_property
    def ledger(self) -> DeliveryLedger:
        from slack_integration.adapters.delivery_ledger import DeliveryLedger

        return DeliveryLedger(self.settings.deliveries_table, self.settings.delivery_ttl_days, self.mappings)

    # -- messaging ---------------------------------------------------------------------------

    @cached_property
    def delivery(self) -> DeliveryService:
        from slack_integration.services.delivery import DeliveryService

        return DeliveryService(self.ledger, self.integrations, self.slack)

    @cached_property
    def queues(self) -> ConsumerQueues:
        """The queue this function consumes, and its DLQ (ConfigError when they are not set)."""
        from slack_integration.adapters.queues import ConsumerQueues

        consumer = self.settings.consumer()
        return ConsumerQueues(consumer.queue_url, consumer.dead_letter_queue_url)

    @cached_property
    def send(self) -> SendService:
        from slack_integration.services.send import SendService

        return SendService(self.integrations, self.delivery)

    @cached_property
    def reply(self) -> ReplyService:
        from slack_integration.services.reply import ReplyService

        return ReplyService(
            self.integrations,
            self.mappings,
            self.ledger,
            self.delivery,
            self.slack,
            lambda copies: self.queues.enqueue(copies),
            self.updates,
        )

    @cached_property
    def updates(self) -> UpdateService:
        from slack_integration.services.update import UpdateService

        return UpdateService(self.integrations, self.mappings, self.ledger, self.slack)

    @cached_property
    def send_consumer(self) -> QueueConsumer:
        return self._consumer("send", self.send.send)

    @cached_property
    def reply_consumer(self) -> QueueConsumer:
        from slack_integration.services.update import superseded_updates

        return self._consumer("reply", self.reply.reply, superseded_updates)

    def _consumer(self, name: str, handler: RecordHandler, superseded: Superseded | None = None) -> QueueConsumer:
        from slack_integration.queue_consumer import QueueConsumer
        from slack_integration.queue_policy import RetryBudget

        consumer = self.settings.consumer()  # raises ConfigError naming what is missing
        budget = RetryBudget(consumer.max_receive_count, consumer.reply_grace_seconds)
        return QueueConsumer(name, handler, self.queues, budget, self.ledger, superseded)

    # -- dashboard and operations ------------------------------------------------------------

    @cached_property
    def health(self) -> HealthService:
        from slack_integration.services.health import HealthService

        return HealthService(self.integrations, self.slack)

    @cached_property
    def status(self) -> StatusService:
        from slack_integration.services.status import StatusService

        return StatusService(self.integrations, self.health, self.settings.status_cache_seconds)

    @cached_property
    def threads(self) -> ThreadService:
        from slack_integration.services.thread import ThreadService

        return ThreadService(
            self.integrations,
            self.mappings,
            self.ledger,
            self.slack,
            self.settings.status_cache_seconds,
            self.settings.thread_read_interval_seconds,
        )

    @cached_property
    def messages(self) -> MessagesService:
        from slack_integration.services.messages import MessagesService

        return MessagesService(self.integrations, self.ledger)

    @cached_property
    def stats(self) -> StatsService:
        from slack_integration.services.stats import StatsService

        return StatsService(self.integrations, self.ledger)

    @cached_property
    def channels(self) -> ChannelService:
        from slack_integration.services.channels import ChannelService

        return ChannelService(self.integrations, self.slack)

    @cached_property
    def installation(self) -> InstallationService:
        from slack_integration.services.installation import InstallationService

        return InstallationService(self.integrations, self.tokens, self.slack)

    @cached_property
    def domain_events(self) -> DomainEventsService:
        from slack_integration.producer import NotificationProducer
        from slack_integration.services.domain_events import DomainEventsService

        return DomainEventsService(NotificationProducer.from_environment())

    @cached_property
    def receipts(self) -> ReceiptService:
        from slack_integration.adapters.event_bus import EventBus
        from slack_integration.services.receipts import ReceiptService

        return ReceiptService(EventBus(self.settings.event_bus_name), self.lifecycle)

    @cached_property
    def install_flow(self) -> InstallFlow:
        from slack_integration.services.install_flow import InstallFlow

        return InstallFlow(
            lifecycle=self.lifecycle,
            tokens=self.tokens,
            oauth=self.oauth,
            slack=self.slack,
            installation=self.installation,
            authorize_url=self.settings.oauth_authorize_url,
            redirect_url=self.settings.oauth_redirect_url,
            return_url=self.settings.dashboard_return_url,
            enabled=self.settings.api_enabled,
        )

    @cached_property
    def slack_events(self) -> SlackEventsService:
        from slack_integration.services.slack_events import SlackEventsService

        return SlackEventsService(
            tokens=self.tokens,
            integrations=self.integrations,
            installation=self.installation,
            health=self.health,
            lifecycle_table=self.settings.lifecycle_table,
        )


_current: Container | None = None


def current() -> Container:
    """This process's container, built from the environment on first use (a cold start)."""
    global _current
    if _current is None:
        _current = Container(load_settings())
    return _current


@contextlib.contextmanager
def use(container: Container) -> Iterator[Container]:
    """Run with `container` as the current one (one function of several sharing a process)."""
    global _current
    previous, _current = _current, container
    try:
        yield container
    finally:
        _current = previous


def reset() -> None:
    """Forget the container and the boto3 clients (tests and the local stack change the
    environment, or AWS endpoints, between runs)."""
    global _current
    from slack_integration.adapters import aws

    _current = None
    aws.reset_clients()
