"""Posting one message to Slack exactly once: the core both the send and the reply consumers use.

A delivery is one post to one channel (or one thread) for one integration, named by a stable
key. The ledger (adapters/delivery_ledger) lets one attempt at a time post it; every post carries
the key's digest in Slack message metadata, so when an earlier attempt's outcome is unknown (the
connection broke after the request left, or the function died mid-call) this attempt first looks
for that digest in the channel and records what it finds instead of posting a second copy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MessageMapping
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import (
    DELIVERY_IN_PROGRESS,
    INTEGRATION_INACTIVE,
    INVALID_MESSAGE,
    ErrorKind,
    ServiceError,
)
from slack_integration.models.delivery import (
    Claim,
    DeliveryFacts,
    DeliveryRecord,
    DeliveryStatus,
    Kind,
    Landed,
    permalink,
    thread_key,
)
from slack_integration.models.integration import Integration, utc_now
from slack_integration.models.messages import ReplyRequest, SendRequest, validation_problems
from slack_integration.models.slack import Post, Posted
from slack_integration.observability import logger, metrics, tracer
from slack_integration.services.recovery import EarlierPostFinder, LookCutShort
from slack_integration.slack_errors import outcome_unknown, settle_seconds

M = TypeVar("M", SendRequest, ReplyRequest)

# After a throttled search, dashboard reads of Slack's history wait this long beyond Retry-After.
RECOVERY_HOLD_SECONDS = 120
# The lease outlives the invocation by this margin; a crash leaves it to expire, not forever.
LEASE_MARGIN_SECONDS = 10


@dataclass(frozen=True)
class RecordMeta:
    """What the queue tells us about the SQS message being processed."""

    message_id: str
    receive_count: int
    sent_at: float  # epoch seconds the producer enqueued it
    group_id: str | None
    deadline: float  # epoch seconds this invocation must be done by
    # An update a newer update of the same original in the same batch makes pointless.
    superseded: bool = False


class DeliveryFailed(Exception):
    """The one delivery of an SQS record failed. Carries what the consumer needs if it is
    dead-lettered: the body to put on the DLQ (redriven, it continues this same delivery) and the
    facts of the delivery record to mark (None when it failed before it had one)."""

    def __init__(self, error: ServiceError, body: dict[str, Any] | str, facts: DeliveryFacts | None = None) -> None:
        super().__init__(error.code)
        self.error = error
        self.body = body
        self.facts = facts


@dataclass(frozen=True)
class Delivery:
    facts: DeliveryFacts
    integration: Integration
    post: Post
    # A channel error flags the integration only when it concerns its current channel (a reply
    # may go to the channel an old notification was posted in).
    about_notification_channel: bool = True
    # A reply reposted top-level because its original was deleted in Slack: the mapping it
    # replaces, so that later replies thread under the repost.
    reanchors: MessageMapping | None = None
    # A reply's: the delivery key of its original's send, which counts the reply once delivered.
    counted_on: str | None = None

    def mapping(self, landed: Landed) -> MessageMapping | None:
        """The mapping this delivery writes with its delivered record: a tracked send's (where a
        later reply threads), or a reposted reply's new anchor."""
        if self.reanchors is not None:
            return self.reanchors.model_copy(
                update={"slack_channel_id": landed.channel_id, "slack_message_ts": landed.ts, "expires_at": None}
            )
        if self.facts.kind != "send" or not self.facts.internal_message_id:
            return None
        return MessageMapping(
            internal_message_id=self.facts.internal_message_id,
            integration_id=self.integration.id,
            user_id=self.integration.user_id,
            slack_channel_id=landed.channel_id,
            slack_message_ts=landed.ts,
            message_type=self.facts.message_type,
            sent_at=utc_now(),
        )


class DeliveryService:
    def __init__(self, ledger: DeliveryLedger, integrations: IntegrationsRepository, slack: SlackGateway) -> None:
        self._ledger = ledger
        self._integrations = integrations
        self._slack = slack
        self._finder = EarlierPostFinder(slack, ledger)

    @tracer.capture_method(capture_response=False)
    def deliver(self, delivery: Delivery, meta: RecordMeta) -> Landed | None:
        """Post `delivery` unless it is already in Slack. Returns where Slack holds it (`verified`
        when an earlier attempt's post was found), or None when this SQS message already
        dead-lettered the delivery (a redelivery: nothing more to do).

        A tracked send's mapping is written in one transaction with the delivered record. If that
        write fails after Slack took the post, the lease runs out and the next attempt finds the
        post in Slack instead of posting again.
        """
        key = delivery.facts.key
        claim = self._ledger.claim(
            delivery.facts, sqs_message_id=meta.message_id, lease_until=meta.deadline + LEASE_MARGIN_SECONDS
        )
        if not claim.granted:
            return self._not_granted(delivery, claim)
        previous = claim.previous
        found: Posted | None = None
        if previous is not None and previous.may_have_posted:
            found = self._find_earlier_post(delivery, previous, claim)
        started = time.monotonic()
        posted = found or self._post(delivery, claim)
        post_ms = None if found else round((time.monotonic() - started) * 1000)
        landed = Landed(
            channel_id=posted.channel_id,
            ts=posted.ts,
            thread_ts=posted.thread_ts,
            threaded=False if delivery.reanchors else posted.in_thread(delivery.post.thread_ts),
            verified=found is not None,
            post_ms=post_ms,
            queue_ms=max(0, round((time.time() - meta.sent_at) * 1000)),
            permalink=permalink(delivery.integration.team_url, posted.channel_id, posted.ts, posted.thread_ts),
        )
        counted = [self._ledger.counted_on_send(delivery.counted_on, "reply")] if delivery.counted_on else []
        self._ledger.delivered(key, landed, mapping=delivery.mapping(landed), also=counted)
        if post_ms is not None:
            metrics.add_metric(name="SlackPostMs", unit=MetricUnit.Milliseconds, value=post_ms)
        return landed

    def _not_granted(self, delivery: Delivery, claim: Claim) -> Landed | None:
        previous = claim.previous
        assert previous is not None  # a refused claim always comes with the record that refused it
        if previous.delivered:
            logger.info("Already delivered; not posting again", extra={"delivery_key": delivery.facts.key})
            metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
            return None
        if previous.status is DeliveryStatus.DEAD_LETTERED:
            logger.info(
                "Redelivery of a dead-lettered message; dropping the copy", extra={"code": previous.last_error_code}
            )
            return None
        wait = max(1.0, (previous.lease_until or claim.started_at) - claim.started_at)
        raise DELIVERY_IN_PROGRESS.error(retry_after=wait)

    def _post(self, delivery: Delivery, claim: Claim) -> Posted:
        try:
            return self._slack.post(delivery.integration.id, delivery.post)
        except ServiceError as err:
            unknown = outcome_unknown(err)
            # If Slack stored it, it did so by the time it would have answered, plus the settle time.
            until = time.time() + settle_seconds(err) if unknown else None
            self._failed(delivery, err, outcome_unknown=unknown, since=claim.started_at, until=until)
            raise

    def _find_earlier_post(self, delivery: Delivery, previous: DeliveryRecord, claim: Claim) -> Posted | None:
        """Look in Slack for a post of this delivery made by an attempt whose outcome is unknown."""
        key = delivery.facts.key
        try:
            found = self._finder.find(delivery.integration.id, delivery.post, previous, claim.started_at)
        except LookCutShort as cut:
            # Still unknown: the record stays uncertain over the same window, resuming at the cursor.
            if cut.error.kind is ErrorKind.RATE_LIMITED:
                # Dashboard thread reads share this budget: they wait until the search goes on.
                hold = time.time() + (cut.error.retry_after or 60) + RECOVERY_HOLD_SECONDS
                self._integrations.hold_reads_for_recovery(delivery.integration, until=hold)
            since, until = previous.look_window(claim.started_at)
            self._failed(
                delivery,
                cut.error,
                outcome_unknown=True,
                since=since,
                until=until,
                look_cursor=cut.cursor,
                settle=False,
            )
            raise cut.error from None
        if found is None:
            logger.info("Earlier attempt did not reach Slack; posting", extra={"delivery_key": key})
            return None
        logger.info("Found the earlier attempt's post in Slack; not posting again", extra={"delivery_key": key})
        metrics.add_metric(name="DuplicatesAverted", unit=MetricUnit.Count, value=1)
        return found

    def _failed(
        self,
        delivery: Delivery,
        err: ServiceError,
        *,
        outcome_unknown: bool,
        since: float,
        until: float | None = None,
        look_cursor: str | None = None,
        settle: bool = True,
    ) -> None:
        if outcome_unknown and settle:
            # Give Slack time to finish a request it may still be handling before the next attempt
            # looks for it: a post stored after that look would be posted a second time.
            err.retry_after = max(err.retry_after or 0.0, settle_seconds(err))
            logger.warning(
                "Slack post outcome unknown; the next attempt checks Slack before posting",
                extra={"delivery_key": delivery.facts.key, "code": err.code},
            )
        try:
            self._ledger.attempt_failed(
                delivery.facts.key,
                err,
                outcome_unknown=outcome_unknown,
                since=since,
                until=until,
                look_cursor=look_cursor,
            )
        except ServiceError as record_error:
            # The lease then expires instead, and the next attempt checks Slack: still safe.
            logger.warning("Could not record the failed attempt", extra={"code": record_error.code})
        self._integrations.flag_problem(
            delivery.integration, err, about_notification_channel=delivery.about_notification_channel
        )


# -- what the send and reply paths share ---------------------------------------------------------


def delivery_key(*parts: str) -> str:
    """Parts joined by "|", each percent-encoded: ids and keys may contain "|" themselves, and
    ("a|a", "a") must never name the same delivery as ("a", "a|a")."""
    return "|".join(quote(part, safe="") for part in parts)


def follow_up_facts(
    kind: Kind, integration: Integration, user_id: str, internal_id: str, idempotency_key: str, **more: Any
) -> DeliveryFacts:
    """A reply's or an update's delivery: one per (original, user, idempotency key), listed with
    its original's thread."""
    return DeliveryFacts(
        key=delivery_key(kind, integration.id, internal_id, idempotency_key),
        integration_id=integration.id,
        user_id=user_id,
        kind=kind,
        internal_message_id=internal_id,
        thread_key=thread_key(integration.id, internal_id),
        **more,
    )


def validated(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise INVALID_MESSAGE.error(detail=validation_problems(exc)) from None
    except UnicodeError:
        # A lone surrogate in a field name, which JSON allows and UTF-8 does not.
        raise INVALID_MESSAGE.error(detail="body: text that is not valid Unicode") from None


def enqueued_at(meta: RecordMeta) -> datetime:
    """Content that shows a time shows when the producer enqueued it, the same on every retry."""
    return datetime.fromtimestamp(meta.sent_at, UTC)


def check_active(integration: Integration) -> None:
    if not integration.is_active:
        raise INTEGRATION_INACTIVE.error()
