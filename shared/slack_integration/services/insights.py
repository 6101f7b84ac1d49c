"""What the dashboard and operators read: capability status, thread history and messaging stats.

Thread history and stats come from our own records (the delivery ledger and the mappings), not
from Slack: conversations.replies is throttled to 1 request/minute for many apps, so Slack's view
of a thread is only an optional, cached extra. Stats are computed for real from the delivery
records of the window (the PRD's were placeholders returning zeros), with bounded queries.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient

from slack_integration.adapters.delivery_ledger import DeliveryLedger, DeliveryStatus
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.mappings_repository import MappingsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import INTEGRATION_NOT_FOUND, ErrorKind, ErrorSpec, ServiceError
from slack_integration.models.api import (
    CapabilityStatus,
    ErrorCount,
    IntegrationCounts,
    LatencyStats,
    MessagingStats,
    ReplyStats,
    SlackThread,
    SlackThreadMessage,
    ThreadAnswer,
    ThreadOriginal,
    ThreadReply,
    TypeBreakdown,
)
from slack_integration.models.integration import HealthStatus, Integration
from slack_integration.services.delivery import thread_key
from slack_integration.services.health import HealthService

THREAD_NOT_FOUND = ErrorSpec(
    "THREAD_NOT_FOUND", ErrorKind.NOT_FOUND, "No message with this id was delivered to your Slack channel."
)
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
# A window's deliveries are read in full up to this many; beyond, the stats say `truncated`.
MAX_DELIVERIES_PER_WINDOW = 20_000


class _TtlCache:
    """A small per-container cache: warm invocations reuse recent answers, cold ones start empty."""

    def __init__(self, seconds: float, size: int = 1024) -> None:
        self._seconds = seconds
        self._size = size
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return hit[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (time.monotonic() + self._seconds, value)


class CapabilityService:
    """The PRD's validateMessagingCapability, from a live check cached for a minute."""

    def __init__(self, integrations: IntegrationsRepository, health: HealthService, cache_seconds: float) -> None:
        self._integrations = integrations
        self._health = health
        self._cache = _TtlCache(cache_seconds)

    def status(self, user_id: str) -> CapabilityStatus:
        cached = self._cache.get(user_id)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        integration = self._integrations.get_by_user(user_id)
        if integration is None:
            error = INTEGRATION_NOT_FOUND.error()
            return CapabilityStatus(
                can_send=False,
                channel_configured=False,
                integration_active=False,
                error=error.message,
                code=error.code,
            )
        report = self._health.check(integration)
        if report.throttled:
            # Slack throttled the live check: answer from the last recorded one, uncached.
            return _status(integration, integration.health_status, integration.last_error_code, None)
        answer = _status(integration, report.status, report.error.code if report.error else None, report.error)
        answer.checked_at = report.checked_at
        self._cache.put(user_id, answer)
        return answer


def _status(
    integration: Integration, status: HealthStatus, code: str | None, error: ServiceError | None
) -> CapabilityStatus:
    return CapabilityStatus(
        can_send=integration.is_active and bool(integration.notification_channel_id) and status is HealthStatus.HEALTHY,
        channel_configured=bool(integration.notification_channel_id),
        integration_active=integration.is_active,
        error=error.message if error else None,
        code=code,
        health_status=status.value,
        checked_at=integration.health_checked_at,
    )


class ThreadService:
    """The PRD's getMessageThread: the original and every reply we sent, for its owner only."""

    def __init__(
        self,
        integrations: IntegrationsRepository,
        mappings: MappingsRepository,
        ledger: DeliveryLedger,
        slack: SlackGateway,
        cache_seconds: float,
    ) -> None:
        self._integrations = integrations
        self._mappings = mappings
        self._ledger = ledger
        self._slack = slack
        self._slack_cache = _TtlCache(cache_seconds)

    def thread(self, user_id: str, internal_message_id: str, *, include_slack: bool = False) -> ThreadAnswer:
        integration = self._integrations.get_by_user(user_id)
        if integration is None:
            raise INTEGRATION_NOT_FOUND.error()
        # Keyed by the caller's own integration: another user's id is simply not found (404, not
        # 403, so ids of other users' messages cannot be probed).
        mapping = self._mappings.get(internal_message_id, integration.id)
        if mapping is None:
            raise THREAD_NOT_FOUND.error()
        records = self._ledger.thread(thread_key(integration.id, internal_message_id))
        send = next((r for r in records if r.get("kind") == "send"), {})
        replies = [r for r in records if r.get("kind") == "reply"]
        answer = ThreadAnswer(
            internal_message_id=internal_message_id,
            original=ThreadOriginal(
                ts=mapping.slack_message_ts,
                channel_id=mapping.slack_channel_id,
                sent_at=mapping.sent_at,
                message_type=mapping.message_type,
                preview=send.get("preview"),
            ),
            replies=[_reply(record) for record in replies],
        )
        if include_slack:
            answer.slack = self._slack_thread(integration, mapping.slack_channel_id, mapping.slack_message_ts)
        return answer

    def _slack_thread(self, integration: Integration, channel_id: str, ts: str) -> SlackThread:
        key = (integration.id, channel_id, ts)
        cached = self._slack_cache.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]

        def replies(client: WebClient, token: str) -> list[dict[str, Any]]:
            messages: list[dict[str, Any]] = []
            for page in client.conversations_replies(token=token, channel=channel_id, ts=ts, limit=200):
                messages.extend(page.get("messages") or [])
            return messages

        try:
            messages = self._slack.call(integration.id, replies)
        except ServiceError as err:
            retry_after = math.ceil(err.retry_after) if err.retry_after else None
            return SlackThread(available=False, retry_after=retry_after, error=err.code)
        thread = SlackThread(
            available=True,
            messages=[
                SlackThreadMessage(
                    ts=str(m.get("ts")), user=m.get("user"), bot_id=m.get("bot_id"), text=str(m.get("text") or "")
                )
                for m in messages
                if m.get("ts")
            ],
        )
        self._slack_cache.put(key, thread)
        return thread


def _reply(record: dict[str, Any]) -> ThreadReply:
    return ThreadReply(
        status=str(record.get("status")),
        ts=record.get("slackTs"),
        threaded=record.get("threaded"),
        first_attempt_at=record.get("firstAttemptAt"),
        delivered_at=record.get("deliveredAt"),
        preview=record.get("preview"),
        error_code=record.get("lastErrorCode") if record.get("status") != DeliveryStatus.DELIVERED else None,
    )


class StatsService:
    """The PRD's getMessagingStats and SlackDashboardService KPIs, for one user or for everyone."""

    def __init__(self, integrations: IntegrationsRepository, ledger: DeliveryLedger) -> None:
        self._integrations = integrations
        self._ledger = ledger

    def for_user(self, user_id: str, start: str | None, end: str | None) -> MessagingStats:
        window = parse_window(start, end)
        integration = self._integrations.get_by_user(user_id)
        if integration is None:
            raise INTEGRATION_NOT_FOUND.error()
        records, truncated = self._ledger.in_window(integration.id, *window, limit=MAX_DELIVERIES_PER_WINDOW)
        return compute_stats(records, [integration], window, truncated=truncated)

    def for_everyone(self, start: str | None, end: str | None) -> MessagingStats:
        """Operators only (admin command): reads every integration, one bounded query each."""
        window = parse_window(start, end)
        integrations = list(self._integrations.scan())
        records: list[dict[str, Any]] = []
        truncated = False
        for integration in integrations:
            found, more = self._ledger.in_window(integration.id, *window, limit=MAX_DELIVERIES_PER_WINDOW)
            records.extend(found)
            truncated = truncated or more
        return compute_stats(records, integrations, window, truncated=truncated)


def parse_window(start: str | None, end: str | None, *, now: datetime | None = None) -> tuple[str, str]:
    """[start, end] as the ledger's ISO strings; the last 24 hours by default, at most 31 days."""
    try:
        end_at = _parse_time(end) if end is not None else (now or datetime.now(UTC))
        start_at = _parse_time(start) if start is not None else end_at - DEFAULT_WINDOW
        window = _iso(start_at), _iso(end_at)
    except (ValueError, OverflowError):  # OverflowError: a time at the very ends of the calendar
        raise ServiceError(
            "INVALID_WINDOW",
            "`start` and `end` must be RFC 3339 times with a zone, such as 2026-11-27T00:00:00Z.",
            ErrorKind.INVALID_INPUT,
        ) from None
    if start_at >= end_at:
        raise ServiceError("INVALID_WINDOW", "`start` must be before `end`.", ErrorKind.INVALID_INPUT)
    if end_at - start_at > MAX_WINDOW:
        raise ServiceError("INVALID_WINDOW", "The window can be at most 31 days long.", ErrorKind.INVALID_INPUT)
    return window


# RFC 3339 date-time with an offset, as the API documents; fromisoformat alone takes much more.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _parse_time(value: str) -> datetime:
    if not _RFC3339.fullmatch(value):
        raise ValueError("not an RFC 3339 date-time")
    # Python takes at most microseconds: cut longer fractions instead of refusing them.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.upper().replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compute_stats(
    records: list[dict[str, Any]],
    integrations: Iterable[Integration],
    window: tuple[str, str],
    *,
    truncated: bool = False,
) -> MessagingStats:
    status = Counter(str(r.get("status")) for r in records)
    delivered = status[DeliveryStatus.DELIVERED.value]
    failed = status[DeliveryStatus.DEAD_LETTERED.value]
    errors: Counter[str] = Counter()
    for record in records:
        previous: str | None = None
        for outcome in record.get("outcomes") or []:
            code = outcome.get("code")
            # Dead-lettering after a failed attempt repeats that attempt's code: one failure.
            if code and not (outcome.get("outcome") == "dead_lettered" and code == previous):
                errors[str(code)] += 1
            previous = code
    replies = [r for r in records if r.get("kind") == "reply"]
    replies_delivered = [r for r in replies if r.get("status") == DeliveryStatus.DELIVERED]
    threaded = sum(1 for r in replies_delivered if r.get("threaded") is True)
    by_type: dict[str, TypeBreakdown] = {}
    for kind, group in _group(records, lambda r: str(r.get("messageType") or "untyped")).items():
        kind_status = Counter(str(r.get("status")) for r in group)
        by_type[kind] = TypeBreakdown(
            total=len(group),
            delivered=kind_status[DeliveryStatus.DELIVERED.value],
            failed=kind_status[DeliveryStatus.DEAD_LETTERED.value],
        )
    latencies = sorted(int(r["queueMs"]) for r in records if r.get("status") == "delivered" and "queueMs" in r)
    everyone = list(integrations)
    return MessagingStats(
        start=window[0],
        end=window[1],
        total_attempts=sum(int(r.get("attempts") or 0) for r in records),
        deliveries=len(records),
        delivered=delivered,
        failed=failed,
        pending=len(records) - delivered - failed,
        delivery_rate=_ratio(delivered, delivered + failed),
        retry_rate=_ratio(sum(1 for r in records if int(r.get("attempts") or 0) > 1), len(records)),
        common_errors=[ErrorCount(code=code, count=count) for code, count in errors.most_common(10)],
        messages_sent=sum(1 for r in records if r.get("kind") == "send" and r.get("status") == "delivered"),
        replies=ReplyStats(
            total=len(replies),
            delivered=len(replies_delivered),
            threaded=threaded,
            unthreaded=len(replies_delivered) - threaded,
            success_rate=_ratio(threaded, len(replies)),
        ),
        threads=len({r.get("threadKey") for r in replies_delivered if r.get("threadKey")}),
        by_message_type=by_type,
        latency=LatencyStats(median_ms=_percentile(latencies, 50), p95_ms=_percentile(latencies, 95)),
        integrations=IntegrationCounts(
            total=len(everyone),
            active=sum(1 for i in everyone if i.is_active),
            configured=sum(1 for i in everyone if i.is_active and i.notification_channel_id),
            healthy=sum(1 for i in everyone if i.is_active and i.is_healthy),
        ),
        truncated=truncated,
    )


def _group(records: list[dict[str, Any]], key: Any) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    return groups


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(sorted_values: list[int], percent: int) -> int | None:
    """Nearest-rank percentile (no interpolation: every answer is a latency that happened)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
