"""GET /integration/stats (and `admin stats`): messaging KPIs of a time window.

Computed for real from the delivery records of the window (one record per send or reply, with
every attempt's outcome), read with bounded queries of the `byIntegration` index, never a scan.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from slack_integration.adapters.delivery_ledger import DeliveryLedger
from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.errors import INVALID_WINDOW, WINDOW_ORDER, WINDOW_TOO_LONG
from slack_integration.models.api import (
    ErrorCount,
    IntegrationCounts,
    LatencyStats,
    MessagingStats,
    ReplyStats,
    TimeBucket,
    TypeBreakdown,
)
from slack_integration.models.delivery import DeliveryRecord, DeliveryStatus
from slack_integration.models.integration import Integration

DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=31)
# A window's deliveries are read in full up to this many; beyond, the stats say `truncated`.
MAX_DELIVERIES_PER_WINDOW = 20_000


class StatsService:
    """Messaging KPIs of a window, for one user (the dashboard) or for everyone (operators)."""

    def __init__(self, integrations: IntegrationsRepository, ledger: DeliveryLedger) -> None:
        self._integrations = integrations
        self._ledger = ledger

    def for_user(self, user_id: str, start: str | None, end: str | None) -> MessagingStats:
        window = parse_window(start, end)
        integration = self._integrations.require(user_id)
        records, truncated = self._ledger.in_window(integration.id, *window, limit=MAX_DELIVERIES_PER_WINDOW)
        return compute_stats(records, [integration], window, truncated=truncated)

    def for_everyone(self, start: str | None, end: str | None) -> MessagingStats:
        """Operators only (admin command): reads every integration, one bounded query each."""
        window = parse_window(start, end)
        integrations = list(self._integrations.scan())
        records: list[DeliveryRecord] = []
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
        raise INVALID_WINDOW.error() from None
    if start_at >= end_at:
        raise WINDOW_ORDER.error()
    if end_at - start_at > MAX_WINDOW:
        raise WINDOW_TOO_LONG.error()
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
    records: list[DeliveryRecord],
    integrations: Iterable[Integration],
    window: tuple[str, str],
    *,
    truncated: bool = False,
) -> MessagingStats:
    status = Counter(r.status for r in records)
    delivered = status[DeliveryStatus.DELIVERED]
    failed = status[DeliveryStatus.DEAD_LETTERED]
    errors: Counter[str] = Counter()
    for record in records:
        previous: str | None = None
        for outcome in record.outcomes:
            # Dead-lettering after a failed attempt repeats that attempt's code: one failure.
            if outcome.code and not (outcome.outcome == "dead_lettered" and outcome.code == previous):
                errors[outcome.code] += 1
            previous = outcome.code
    replies = [r for r in records if r.kind == "reply"]
    replies_delivered = [r for r in replies if r.status is DeliveryStatus.DELIVERED]
    threaded = sum(1 for r in replies_delivered if r.threaded is True)
    by_type: dict[str, TypeBreakdown] = {}
    for kind, group in _group(records, lambda r: r.message_type or "untyped").items():
        kind_status = Counter(r.status for r in group)
        by_type[kind] = TypeBreakdown(
            total=len(group),
            delivered=kind_status[DeliveryStatus.DELIVERED],
            failed=kind_status[DeliveryStatus.DEAD_LETTERED],
        )
    latencies = sorted(r.queue_ms for r in records if r.status is DeliveryStatus.DELIVERED and r.queue_ms is not None)
    everyone = list(integrations)
    return MessagingStats(
        start=window[0],
        end=window[1],
        total_attempts=sum(r.attempts for r in records),
        deliveries=len(records),
        delivered=delivered,
        failed=failed,
        # Dropped stale updates are settled, not pending.
        pending=len(records) - delivered - failed - status[DeliveryStatus.STALE],
        delivery_rate=_ratio(delivered, delivered + failed),
        retry_rate=_ratio(sum(1 for r in records if r.attempts > 1), len(records)),
        common_errors=[ErrorCount(code=code, count=count) for code, count in errors.most_common(10)],
        messages_sent=sum(1 for r in records if r.kind == "send" and r.status is DeliveryStatus.DELIVERED),
        replies=ReplyStats(
            total=len(replies),
            delivered=len(replies_delivered),
            threaded=threaded,
            unthreaded=len(replies_delivered) - threaded,
            success_rate=_ratio(threaded, len(replies)),
        ),
        threads=len({r.thread_key for r in replies_delivered if r.thread_key}),
        by_message_type=by_type,
        latency=LatencyStats(median_ms=_percentile(latencies, 50), p95_ms=_percentile(latencies, 95)),
        integrations=IntegrationCounts(
            total=len(everyone),
            active=sum(1 for i in everyone if i.is_active),
            configured=sum(1 for i in everyone if i.is_active and i.notification_channel_id),
            healthy=sum(1 for i in everyone if i.is_active and i.is_healthy),
        ),
        truncated=truncated,
        bucket_seconds=_bucket_seconds(window),
        over_time=_over_time(records, window),
    )


# Chart buckets: the shortest of these that covers the window in at most MAX_BUCKETS.
_BUCKET_SIZES = (300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400)
MAX_BUCKETS = 48


def _bucket_seconds(window: tuple[str, str]) -> int:
    start, end = (_parse_time(moment) for moment in window)
    length = (end - start).total_seconds()
    return next((size for size in _BUCKET_SIZES if length / size <= MAX_BUCKETS), _BUCKET_SIZES[-1])


def _over_time(records: list[DeliveryRecord], window: tuple[str, str]) -> list[TimeBucket]:
    """Deliveries by when they were first attempted, in equal buckets from the window's start;
    an update dropped as stale is neither delivered, failed nor pending, and is left out."""
    start, end = (_parse_time(moment) for moment in window)
    size = _bucket_seconds(window)
    count = max(1, math.ceil((end - start).total_seconds() / size))
    buckets = [Counter[str]() for _ in range(count)]
    for record in records:
        if record.status is DeliveryStatus.STALE or not record.first_attempt_at:
            continue
        try:
            offset = (_parse_time(record.first_attempt_at) - start).total_seconds()
        except ValueError:
            continue
        index = min(count - 1, max(0, int(offset // size)))
        if record.status is DeliveryStatus.DELIVERED:
            buckets[index]["delivered"] += 1
        elif record.status is DeliveryStatus.DEAD_LETTERED:
            buckets[index]["failed"] += 1
        else:
            buckets[index]["pending"] += 1
    return [
        TimeBucket(
            start=_iso(start + timedelta(seconds=index * size)),
            delivered=bucket["delivered"],
            failed=bucket["failed"],
            pending=bucket["pending"],
        )
        for index, bucket in enumerate(buckets)
    ]


def _group(records: list[DeliveryRecord], key: Callable[[DeliveryRecord], str]) -> dict[str, list[DeliveryRecord]]:
    groups: dict[str, list[DeliveryRecord]] = {}
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
