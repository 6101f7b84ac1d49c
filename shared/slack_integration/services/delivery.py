"""Posting one message to Slack exactly once: the core both the send and the reply consumers use.

A delivery is one post to one channel (or one thread) for one integration, named by a stable
key. The ledger (adapters/delivery_ledger) lets one attempt at a time post it; every post carries
the key's digest in Slack message metadata, so when an earlier attempt's outcome is unknown (the
connection broke after the request left, or the function died mid-call) this attempt first looks
for that digest in the channel and records what it finds instead of posting a second copy.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from slack_integration.adapters.delivery_ledger import Claim, DeliveryLedger, DeliveryStatus
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway, outcome_unknown
from slack_integration.errors import DELIVERY_IN_PROGRESS, DELIVERY_UNVERIFIABLE, SLACK_API_ERROR, ServiceError
from slack_integration.models.integration import Integration
from slack_integration.models.messages import SlackMessage
from slack_integration.observability import logger, metrics, tracer

METADATA_EVENT_TYPE = "buster_delivery"
# Slack's clock and ours differ a little; look this far before the first uncertain attempt.
CLOCK_SKEW_SECONDS = 60
# conversations.history / replies are throttled hard (Tier 3, or 1/min for non-Marketplace apps):
# a recovery check reads at most this many pages before handing the message to an operator.
VERIFY_MAX_PAGES = 5
VERIFY_PAGE_SIZE = 100
# After a post whose outcome is unknown, the next attempt (which first looks for it in Slack)
# waits at least this long.
UNCERTAIN_SETTLE_SECONDS = 30.0
# How much of a message's text the delivery record keeps for thread history.
PREVIEW_LENGTH = 200


@dataclass(frozen=True)
class RecordMeta:
    """What the queue tells us about the SQS message being processed."""

    message_id: str
    receive_count: int
    sent_at: float  # epoch seconds the producer enqueued it
    group_id: str | None
    deadline: float  # epoch seconds this invocation must be done by


@dataclass(frozen=True)
class Delivery:
    key: str
    integration: Integration
    channel_id: str
    message: SlackMessage
    kind: str  # "send" or "reply"
    thread_ts: str | None = None
    broadcast: bool = False
    internal_message_id: str | None = None
    message_type: str | None = None
    # A CHANNEL_UNUSABLE error flags the integration only when it concerns its current channel
    # (a reply may go to the channel an old notification was posted in).
    is_notification_channel: bool = True

    def facts(self) -> dict[str, Any]:
        """What the delivery record keeps for stats and thread history."""
        return {
            "integrationId": self.integration.id,
            "userId": self.integration.user_id,
            "kind": self.kind,
            "internalMessageId": self.internal_message_id,
            "messageType": self.message_type,
            "channelId": self.channel_id,
            "parentTs": self.thread_ts,
            # The thread history route lists a tracked message's send and replies by this key.
            "threadKey": thread_key(self.integration.id, self.internal_message_id)
            if self.internal_message_id
            else None,
            "preview": self.message.fallback_text()[:PREVIEW_LENGTH],
        }


@dataclass(frozen=True)
class Posted:
    channel_id: str
    ts: str
    thread_ts: str | None
    threaded: bool | None  # replies only: did Slack put it in the thread we asked for?
    duplicate: bool = False  # delivered before; nothing was posted now
    verified: bool = False  # an earlier, uncertain attempt was found in Slack


@dataclass
class PartFailed:
    """One failed part of a message: the error, the body to dead-letter for it (a body that,
    redriven, retries exactly this part), and what to record once it is in the DLQ."""

    error: ServiceError
    body: dict[str, Any] | str
    integration_id: str | None = None
    on_dead_lettered: Callable[[ServiceError], None] | None = None


class Undelivered(Exception):
    """Some parts of a message could not be delivered (the rest, if any, were)."""

    def __init__(self, failures: list[PartFailed]) -> None:
        super().__init__(f"{len(failures)} part(s) undelivered")
        self.failures = failures


def thread_key(integration_id: str, internal_message_id: str) -> str:
    return f"{integration_id}|{internal_message_id}"


def delivery_digest(key: str) -> str:
    """What a post carries in its metadata: identifies the delivery without revealing its ids."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class DeliveryService:
    def __init__(
        self,
        ledger: DeliveryLedger,
        integrations: IntegrationsRepository,
        posts: SlackGateway,
        reads: SlackGateway,
    ) -> None:
        self._ledger = ledger
        self._integrations = integrations
        self._posts = posts
        self._reads = reads

    @tracer.capture_method(capture_response=False)
    def deliver(
        self,
        delivery: Delivery,
        meta: RecordMeta,
        *,
        record_with: Callable[[Posted], dict[str, Any]] | None = None,
    ) -> Posted | None:
        """Post `delivery` unless it is already in Slack. Returns what Slack holds, or None when this
        SQS message already dead-lettered the delivery (a redelivery: nothing more to do).

        `record_with(posted)` gives a DynamoDB Put (the tracked message's mapping) written in the
        same transaction as the delivered record. If that write fails after Slack took the post,
        the lease runs out and the next attempt finds the post in Slack instead of posting again.
        """
        # The lease outlives this invocation by a margin; a crash leaves it to expire, not forever.
        claim = self._ledger.claim(
            delivery.key, delivery.facts(), sqs_message_id=meta.message_id, lease_until=meta.deadline + 10
        )
        if not claim.granted:
            return self._not_granted(delivery, claim)

        previous = claim.previous
        posted: Posted | None = None
        if previous is not None and previous.may_have_posted:
            since = previous.uncertain_since or previous.last_attempt_at or claim.started_at
            posted = self._find_earlier_post(delivery, since)
            if posted is None:
                logger.info("Earlier attempt did not reach Slack; posting", extra={"delivery_key": delivery.key})
        started = time.monotonic()
        if posted is None:
            posted = self._post(delivery, claim)
        post_ms = round((time.monotonic() - started) * 1000)
        self._ledger.delivered(
            delivery.key,
            channel_id=posted.channel_id,
            ts=posted.ts,
            thread_ts=posted.thread_ts,
            threaded=posted.threaded,
            post_ms=None if posted.verified else post_ms,
            queue_ms=max(0, round((time.time() - meta.sent_at) * 1000)),
            verified=posted.verified,
            together_with=record_with(posted) if record_with is not None else None,
        )
        if not posted.verified:
            metrics.add_metric(name="SlackPostMs", unit=MetricUnit.Milliseconds, value=post_ms)
        return posted

    def _not_granted(self, delivery: Delivery, claim: Claim) -> Posted | None:
        previous = claim.previous
        assert previous is not None  # a refused claim always comes with the record that refused it
        if previous.status is DeliveryStatus.DELIVERED and previous.slack_ts and previous.slack_channel_id:
            logger.info("Already delivered; not posting again", extra={"delivery_key": delivery.key})
            metrics.add_metric(name="DuplicatesSkipped", unit=MetricUnit.Count, value=1)
            return Posted(
                channel_id=previous.slack_channel_id,
                ts=previous.slack_ts,
                thread_ts=previous.thread_ts,
                threaded=previous.threaded,
                duplicate=True,
            )
        if previous.status is DeliveryStatus.DEAD_LETTERED:
            logger.info(
                "Redelivery of a dead-lettered message; dropping the copy", extra={"code": previous.last_error_code}
            )
            return None
        wait = max(1.0, (previous.lease_until or claim.started_at) - claim.started_at)
        raise DELIVERY_IN_PROGRESS.error(retry_after=wait)

    def _post(self, delivery: Delivery, claim: Claim) -> Posted:
        arguments: dict[str, Any] = {
            "channel": delivery.channel_id,
            **delivery.message.post_arguments(),
            "metadata": {
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {"delivery": delivery_digest(delivery.key)},
            },
        }
        if delivery.thread_ts:
            arguments["thread_ts"] = delivery.thread_ts
            if delivery.broadcast:
                arguments["reply_broadcast"] = True

        def post(client: WebClient, token: str) -> dict[str, Any]:
            return dict(client.chat_postMessage(token=token, **arguments).data)  # type: ignore[arg-type]

        try:
            answer = self._posts.call(delivery.integration.id, post)
        except ServiceError as err:
            self._failed(delivery, claim, err)
            raise
        return _posted(delivery, answer.get("channel") or delivery.channel_id, answer.get("ts"), answer.get("message"))

    def _failed(self, delivery: Delivery, claim: Claim, err: ServiceError) -> None:
        unknown = outcome_unknown(err)
        if unknown:
            # Give Slack time to finish a request it may still be handling before the next attempt
            # looks for it: a post stored after that look would be posted a second time.
            err.retry_after = max(err.retry_after or 0.0, UNCERTAIN_SETTLE_SECONDS)
            logger.warning(
                "Slack post outcome unknown; the next attempt checks Slack before posting",
                extra={"delivery_key": delivery.key, "code": err.code},
            )
        try:
            self._ledger.attempt_failed(delivery.key, err, outcome_unknown=unknown, since=claim.started_at)
        except ServiceError as record_error:
            # The lease then expires instead, and the next attempt checks Slack: still safe.
            logger.warning("Could not record the failed attempt", extra={"code": record_error.code})
        if err.needs_reconnect or (err.needs_new_channel and delivery.is_notification_channel):
            self._integrations.flag_problem(delivery.integration, err)

    def _find_earlier_post(self, delivery: Delivery, since: float) -> Posted | None:
        """Look in Slack for a post of this delivery made by an attempt whose outcome is unknown."""
        digest = delivery_digest(delivery.key)
        oldest = f"{max(0.0, since - CLOCK_SKEW_SECONDS):.6f}"
        try:
            found = self._reads.call(
                delivery.integration.id, lambda client, token: self._scan(client, token, delivery, oldest, digest)
            )
        except ServiceError as err:
            if err.needs_reconnect or (err.needs_new_channel and delivery.is_notification_channel):
                self._integrations.flag_problem(delivery.integration, err)
            self._release_uncertain(delivery, err, since)
            raise
        if found is None:
            self._ledger.verified_absent(delivery.key)
            return None
        logger.info(
            "Found the earlier attempt's post in Slack; not posting again", extra={"delivery_key": delivery.key}
        )
        metrics.add_metric(name="DuplicatesAverted", unit=MetricUnit.Count, value=1)
        posted = _posted(delivery, delivery.channel_id, found.get("ts"), found)
        return Posted(posted.channel_id, posted.ts, posted.thread_ts, posted.threaded, verified=True)

    def _release_uncertain(self, delivery: Delivery, err: ServiceError, since: float) -> None:
        try:
            self._ledger.attempt_failed(delivery.key, err, outcome_unknown=True, since=since)
        except ServiceError as record_error:
            logger.warning("Could not record the failed check", extra={"code": record_error.code})

    def _scan(
        self, client: WebClient, token: str, delivery: Delivery, oldest: str, digest: str
    ) -> dict[str, Any] | None:
        for message in _recent_messages(client, token, delivery, oldest):
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("delivery") == digest
            ):
                return message
        return None


def _recent_messages(client: WebClient, token: str, delivery: Delivery, oldest: str) -> Iterator[dict[str, Any]]:
    """Messages since `oldest` where the delivery would be: its thread for a reply (falling back to
    the channel when the parent is gone, since such a reply lands top-level), else the channel."""
    common: dict[str, Any] = {"token": token, "channel": delivery.channel_id, "oldest": oldest, "inclusive": True}
    common |= {"include_all_metadata": True, "limit": VERIFY_PAGE_SIZE}
    pages: Any
    if delivery.thread_ts:
        try:
            pages = client.conversations_replies(ts=delivery.thread_ts, **common)
        except SlackApiError as exc:
            if exc.response.get("error") != "thread_not_found":
                raise
            pages = client.conversations_history(**common)
    else:
        pages = client.conversations_history(**common)
    for number, page in enumerate(pages, start=1):
        yield from page.get("messages") or []
        if number >= VERIFY_MAX_PAGES and (page.get("response_metadata") or {}).get("next_cursor"):
            raise DELIVERY_UNVERIFIABLE.error()


def _posted(delivery: Delivery, channel_id: str, ts: Any, message: Any) -> Posted:
    if not isinstance(ts, str) or not ts:
        # ok:true without a ts is not an answer we can record or thread under.
        raise SLACK_API_ERROR.error(slack_error="missing_ts")
    if not delivery.thread_ts:
        return Posted(channel_id=channel_id, ts=ts, thread_ts=None, threaded=None)
    # Slack accepts a thread_ts naming no message and posts top-level (or hides it): only the
    # posted message's own thread_ts says whether the reply really is in the thread.
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else None
    return Posted(channel_id=channel_id, ts=ts, thread_ts=thread_ts, threaded=thread_ts == delivery.thread_ts)
