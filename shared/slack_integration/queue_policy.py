"""The failure policy of the queue consumers: the one place an error becomes a queue decision.

`http_api` maps error kinds to HTTP statuses; this module maps them to "try again in N seconds"
or "dead-letter now". README "Failure policy" renders the same table for operators.

- RATE_LIMITED: back on the queue for Slack's Retry-After (ChangeMessageVisibility, never a sleep
  in the function), plus a little jitter so a throttled batch does not return all at once.
- UPSTREAM_UNAVAILABLE (5xx, timeouts, connection errors, AWS hiccups): exponential backoff.
- NOT_READY (a reply whose original is not delivered yet): backoff until the reply grace period
  ends, then dead-lettered.
- Everything else is permanent (bad body, no integration, no channel, revoked token, archived
  channel, message refused): dead-lettered at once; retrying cannot change the answer.
- A retryable failure on the queue's last receive (maxReceiveCount) is dead-lettered by us, with
  its code, rather than moved silently by SQS one receive later.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from slack_integration.errors import ErrorKind, ServiceError

# SQS refuses a visibility timeout above 12 hours.
MAX_DELAY_SECONDS = 43_200
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 900
# A reply waiting for its original checks again after 10, 20, 40 ... at most 180 seconds (so the
# default 15 receives outlast the default 15-minute grace period, even with the shortest jitter).
WAIT_BASE_SECONDS = 10
WAIT_CAP_SECONDS = 180
# Up to this Retry-After the wait is exact; longer waits (workspace-wide limits, where many
# messages return at once) get up to 10% jitter (1-5 s) so they do not all come back together.
SHORT_RETRY_AFTER = 5
# When Slack throttles without a Retry-After header.
DEFAULT_RATE_LIMIT_DELAY = 30


class Action(StrEnum):
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class Reason(StrEnum):
    PERMANENT = "permanent"
    RETRIES_EXHAUSTED = "retries_exhausted"
    GRACE_PERIOD_OVER = "grace_period_over"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    WAITING = "waiting_for_original"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    delay_seconds: int = 0

    @property
    def dead_letter(self) -> bool:
        return self.action is Action.DEAD_LETTER


@dataclass(frozen=True)
class RetryBudget:
    max_receive_count: int
    reply_grace_seconds: int


def decide(
    error: ServiceError,
    *,
    receive_count: int,
    age_seconds: float,
    budget: RetryBudget,
    jitter: Callable[[float, float], float] = random.uniform,
) -> Decision:
    """What to do with a message whose processing failed with `error` on its `receive_count`-th receive."""
    if not error.retryable:
        return Decision(Action.DEAD_LETTER, Reason.PERMANENT)
    if error.kind is ErrorKind.NOT_READY:
        remaining = budget.reply_grace_seconds - age_seconds
        # The receive budget binds too: one receive later SQS would move it without a code.
        if remaining <= 0 or receive_count >= budget.max_receive_count:
            return Decision(Action.DEAD_LETTER, Reason.GRACE_PERIOD_OVER)
        wait = _backoff(receive_count, WAIT_BASE_SECONDS, WAIT_CAP_SECONDS, jitter)
        # Look once more right when the grace period ends, not up to a whole step after it.
        return Decision(Action.RETRY, Reason.WAITING, max(1, min(wait, math.ceil(remaining))))
    if receive_count >= budget.max_receive_count:
        return Decision(Action.DEAD_LETTER, Reason.RETRIES_EXHAUSTED)
    if error.kind is ErrorKind.RATE_LIMITED:
        after = error.retry_after if error.retry_after is not None else DEFAULT_RATE_LIMIT_DELAY
        if after <= SHORT_RETRY_AFTER:
            # A channel's per-second limit: its FIFO group waits alone, so exactly Retry-After is
            # both honest and fastest (a second of jitter would halve the channel's throughput).
            return Decision(Action.RETRY, Reason.RATE_LIMITED, _clamp(max(1, math.ceil(after))))
        spread = jitter(0, min(5.0, max(1.0, after * 0.1)))
        return Decision(Action.RETRY, Reason.RATE_LIMITED, _clamp(math.ceil(after + spread)))
    if error.retry_after is not None:  # e.g. another worker's lease on the same delivery
        return Decision(Action.RETRY, Reason.TRANSIENT, _clamp(math.ceil(error.retry_after)))
    return Decision(
        Action.RETRY, Reason.TRANSIENT, _backoff(receive_count, BACKOFF_BASE_SECONDS, BACKOFF_CAP_SECONDS, jitter)
    )


def _backoff(receive_count: int, base: int, cap: int, jitter: Callable[[float, float], float]) -> int:
    """Exponential with "equal jitter": half the step fixed, half random, so retries spread out."""
    step = min(cap, base * 2 ** max(0, receive_count - 1))
    return _clamp(math.ceil(step / 2 + jitter(0, step / 2)))


def _clamp(seconds: int) -> int:
    return max(0, min(MAX_DELAY_SECONDS, seconds))
