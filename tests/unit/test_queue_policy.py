"""The consumers' failure policy: which errors are retried, after how long, and when they are
dead-lettered instead. Errors are the real specs of errors.py; jitter is made deterministic by
passing its lowest or highest value."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from slack_integration.errors import (
    AWS_UNAVAILABLE,
    CHANNEL_NOT_SET,
    DELIVERY_IN_PROGRESS,
    DELIVERY_UNVERIFIABLE,
    INTEGRATION_NOT_FOUND,
    INTERNAL_ERROR,
    INVALID_MESSAGE,
    ORIGINAL_NOT_DELIVERED,
    SLACK_API_ERROR,
    SLACK_TIMEOUT,
    SLACK_UNAVAILABLE,
    UNAUTHENTICATED,
    ErrorKind,
    ServiceError,
)
from slack_integration.http_api import STATUS_BY_KIND
from slack_integration.queue_policy import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    DEFAULT_RATE_LIMIT_DELAY,
    MAX_DELAY_SECONDS,
    WAIT_BASE_SECONDS,
    WAIT_CAP_SECONDS,
    Action,
    Decision,
    Reason,
    RetryBudget,
    decide,
)
from slack_integration.slack_errors import SLACK_ERRORS
from tests.support.template import parameter_default

# The budget the deployed consumers get: the template's defaults.
BUDGET = RetryBudget(
    max_receive_count=int(parameter_default("MaxReceiveCount")),
    reply_grace_seconds=int(parameter_default("ReplyGraceSeconds")),
)
# Room to watch the backoff grow all the way to its cap before retries run out.
ROOMY = RetryBudget(max_receive_count=1_000, reply_grace_seconds=900)


def low(lo: float, hi: float) -> float:
    return lo


def high(lo: float, hi: float) -> float:
    return hi


def _decide(
    error: ServiceError, *, receive_count: int = 1, age: float = 0, budget: RetryBudget = BUDGET, jitter=high
) -> Decision:
    return decide(error, receive_count=receive_count, age_seconds=age, budget=budget, jitter=jitter)


def test_the_template_budget_leaves_room_to_retry():
    assert BUDGET.max_receive_count > 2
    assert BUDGET.reply_grace_seconds > WAIT_CAP_SECONDS


# --- permanent errors: dead-lettered on the first receive, whatever else they carry ----------------

PERMANENT = {
    "token_revoked": SLACK_ERRORS["token_revoked"],
    "invalid_auth": SLACK_ERRORS["invalid_auth"],
    "is_archived": SLACK_ERRORS["is_archived"],
    "not_in_channel": SLACK_ERRORS["not_in_channel"],
    "channel_not_set": CHANNEL_NOT_SET,
    "invalid_message": INVALID_MESSAGE,
    "invalid_blocks": SLACK_ERRORS["invalid_blocks"],
    "msg_too_long": SLACK_ERRORS["msg_too_long"],
    "thread_not_found": SLACK_ERRORS["thread_not_found"],
    "integration_not_found": INTEGRATION_NOT_FOUND,
    "unauthenticated": UNAUTHENTICATED,
    "slack_api_error": SLACK_API_ERROR,
    "invalid_cursor": SLACK_ERRORS["invalid_cursor"],
    "delivery_unverifiable": DELIVERY_UNVERIFIABLE,
    "internal_error": INTERNAL_ERROR,
}


@pytest.mark.parametrize("spec", PERMANENT.values(), ids=PERMANENT.keys())
@pytest.mark.parametrize("receive_count", [1, 2])
def test_permanent_errors_are_dead_lettered_at_once(spec, receive_count):
    decision = _decide(spec.error(), receive_count=receive_count)

    assert decision == Decision(Action.DEAD_LETTER, Reason.PERMANENT, 0)
    assert decision.dead_letter


def test_a_permanent_error_is_not_retried_even_with_a_retry_after():
    decision = _decide(SLACK_ERRORS["is_archived"].error(retry_after=10))

    assert decision.action is Action.DEAD_LETTER and decision.reason is Reason.PERMANENT


# --- retryable errors: back on the queue ------------------------------------------------------------

RETRYABLE = {
    "ratelimited": (SLACK_ERRORS["ratelimited"], Reason.RATE_LIMITED),
    "rate_limited": (SLACK_ERRORS["rate_limited"], Reason.RATE_LIMITED),
    "message_limit_exceeded": (SLACK_ERRORS["message_limit_exceeded"], Reason.RATE_LIMITED),
    "slack_unavailable": (SLACK_UNAVAILABLE, Reason.TRANSIENT),
    "slack_timeout": (SLACK_TIMEOUT, Reason.TRANSIENT),
    "aws_unavailable": (AWS_UNAVAILABLE, Reason.TRANSIENT),
    "delivery_in_progress": (DELIVERY_IN_PROGRESS, Reason.TRANSIENT),
    "original_not_delivered": (ORIGINAL_NOT_DELIVERED, Reason.WAITING),
}


@pytest.mark.parametrize(("spec", "reason"), RETRYABLE.values(), ids=RETRYABLE.keys())
@pytest.mark.parametrize("jitter", [low, high])
def test_retryable_errors_go_back_on_the_queue_with_a_delay(spec, reason, jitter):
    decision = _decide(spec.error(), jitter=jitter)

    assert decision.action is Action.RETRY and not decision.dead_letter
    assert decision.reason is reason
    assert 1 <= decision.delay_seconds <= MAX_DELAY_SECONDS


# --- rate limits: Slack's Retry-After, plus a bounded jitter -----------------------------------------


@pytest.mark.parametrize("retry_after", [0.2, 1, 2.5, 5])
def test_a_short_retry_after_is_honoured_exactly(retry_after):
    # A channel's per-second limit: its FIFO group waits alone, so no jitter is needed.
    error = SLACK_ERRORS["ratelimited"].error(retry_after=retry_after)

    assert _decide(error, jitter=low) == _decide(error, jitter=high)
    assert _decide(error, jitter=high) == Decision(Action.RETRY, Reason.RATE_LIMITED, max(1, math.ceil(retry_after)))


@pytest.mark.parametrize("retry_after", [7, 17, 30.5, 120, 3600])
def test_rate_limit_waits_at_least_retry_after_and_at_most_five_seconds_more(retry_after):
    error = SLACK_ERRORS["ratelimited"].error(retry_after=retry_after)

    earliest = _decide(error, jitter=low)
    latest = _decide(error, jitter=high)

    assert earliest.reason is latest.reason is Reason.RATE_LIMITED
    assert earliest.delay_seconds == math.ceil(retry_after)
    assert latest.delay_seconds > earliest.delay_seconds  # the jitter really spreads a throttled batch
    assert latest.delay_seconds <= math.ceil(retry_after + 5)


def test_rate_limit_jitter_is_drawn_from_a_small_bounded_range():
    drawn: list[tuple[float, float]] = []

    def recording(lo: float, hi: float) -> float:
        drawn.append((lo, hi))
        return hi

    for retry_after in (0.5, 2, 17, 120, 10_000):
        _decide(SLACK_ERRORS["ratelimited"].error(retry_after=retry_after), jitter=recording)

    assert len(drawn) == 3  # the short waits (0.5, 2) are exact
    assert all(lo == 0 and 1 <= hi <= 5 for lo, hi in drawn)


def test_rate_limit_with_real_randomness_stays_within_bounds():
    error = SLACK_ERRORS["ratelimited"].error(retry_after=20)

    delays = {decide(error, receive_count=1, age_seconds=0, budget=BUDGET).delay_seconds for _ in range(300)}

    assert min(delays) >= 20
    assert max(delays) <= 25
    assert len(delays) > 1


def test_rate_limit_without_retry_after_waits_the_default():
    error = SLACK_ERRORS["ratelimited"].error()
    assert error.retry_after is None

    assert _decide(error, jitter=low).delay_seconds == DEFAULT_RATE_LIMIT_DELAY == 30
    assert DEFAULT_RATE_LIMIT_DELAY < _decide(error, jitter=high).delay_seconds <= DEFAULT_RATE_LIMIT_DELAY + 5


def test_a_huge_retry_after_is_capped_at_what_sqs_accepts():
    error = SLACK_ERRORS["ratelimited"].error(retry_after=10 * MAX_DELAY_SECONDS)

    decision = _decide(error, jitter=high)

    assert decision.action is Action.RETRY
    assert decision.delay_seconds == MAX_DELAY_SECONDS


def test_a_transient_error_with_retry_after_waits_exactly_that_long():
    # Another worker holds the delivery's lease for 7 more seconds: come back when it expires.
    for jitter in (low, high):
        decision = _decide(DELIVERY_IN_PROGRESS.error(retry_after=7), jitter=jitter)
        assert decision == Decision(Action.RETRY, Reason.TRANSIENT, 7)
    assert _decide(DELIVERY_IN_PROGRESS.error(retry_after=6.2)).delay_seconds == 7


# --- exponential backoff for transient trouble -----------------------------------------------------


def test_backoff_doubles_with_each_receive_up_to_its_cap():
    error = SLACK_UNAVAILABLE.error()
    longest = [_decide(error, receive_count=n, budget=ROOMY, jitter=high).delay_seconds for n in range(1, 16)]
    shortest = [_decide(error, receive_count=n, budget=ROOMY, jitter=low).delay_seconds for n in range(1, 16)]

    assert longest[0] == BACKOFF_BASE_SECONDS
    grown = [delay for delay in longest if delay < BACKOFF_CAP_SECONDS]
    assert len(grown) >= 5
    assert all(later == 2 * earlier for earlier, later in pairwise(grown))
    assert longest[-1] == BACKOFF_CAP_SECONDS
    assert longest == sorted(longest)
    # "Equal jitter": half of each step is fixed, so a retry never comes back almost at once.
    assert all(short == math.ceil(long / 2) for short, long in zip(shortest, longest, strict=True))
    assert shortest[-1] == BACKOFF_CAP_SECONDS // 2


@pytest.mark.parametrize("receive_count", [20, 64, 999])
def test_backoff_stays_at_its_cap_however_many_receives(receive_count):
    for jitter in (low, high):
        decision = _decide(AWS_UNAVAILABLE.error(), receive_count=receive_count, budget=ROOMY, jitter=jitter)
        assert decision.action is Action.RETRY
        assert BACKOFF_CAP_SECONDS // 2 <= decision.delay_seconds <= BACKOFF_CAP_SECONDS <= MAX_DELAY_SECONDS


# --- retries run out on the queue's last receive ----------------------------------------------------

EXHAUSTIBLE = {
    "slack_unavailable": SLACK_UNAVAILABLE.error(),
    "aws_unavailable": AWS_UNAVAILABLE.error(),
    "ratelimited": SLACK_ERRORS["ratelimited"].error(retry_after=3),
    "ratelimited_no_header": SLACK_ERRORS["ratelimited"].error(),
    "delivery_in_progress": DELIVERY_IN_PROGRESS.error(retry_after=7),
}


@pytest.mark.parametrize("error", EXHAUSTIBLE.values(), ids=EXHAUSTIBLE.keys())
def test_retryable_errors_are_dead_lettered_with_their_reason_on_the_last_receive(error):
    last = BUDGET.max_receive_count

    before = _decide(error, receive_count=last - 1)
    at = _decide(error, receive_count=last)
    beyond = _decide(error, receive_count=last + 3)

    assert before.action is Action.RETRY
    assert at == Decision(Action.DEAD_LETTER, Reason.RETRIES_EXHAUSTED, 0)
    assert beyond == Decision(Action.DEAD_LETTER, Reason.RETRIES_EXHAUSTED, 0)


# --- replies waiting for their original ------------------------------------------------------------


def test_a_waiting_reply_backs_off_from_the_wait_base():
    error = ORIGINAL_NOT_DELIVERED.error()

    assert _decide(error, jitter=high) == Decision(Action.RETRY, Reason.WAITING, WAIT_BASE_SECONDS)
    assert _decide(error, jitter=low).delay_seconds == math.ceil(WAIT_BASE_SECONDS / 2)
    steps = [_decide(error, receive_count=n, age=1, jitter=high).delay_seconds for n in range(1, 10)]
    assert steps == sorted(steps)
    assert steps[-1] == WAIT_CAP_SECONDS


@pytest.mark.parametrize("age", [0, 100, 600, 850, 895, 899, 899.5, 899.99])
@pytest.mark.parametrize("receive_count", [1, 3, 6, 10])
def test_a_waiting_reply_never_waits_past_the_end_of_its_grace_period(age, receive_count):
    decision = _decide(ORIGINAL_NOT_DELIVERED.error(), receive_count=receive_count, age=age, jitter=high)
    remaining = BUDGET.reply_grace_seconds - age

    assert decision.action is Action.RETRY and decision.reason is Reason.WAITING
    assert 1 <= decision.delay_seconds <= max(1, math.ceil(remaining))


def test_a_waiting_reply_looks_again_right_when_the_grace_period_ends():
    # 5 seconds left, a step of up to 120: come back in 5, not 120.
    decision = _decide(ORIGINAL_NOT_DELIVERED.error(), receive_count=8, age=BUDGET.reply_grace_seconds - 5)

    assert decision == Decision(Action.RETRY, Reason.WAITING, 5)


@pytest.mark.parametrize("past", [0, 0.001, 1, 3600])
def test_a_waiting_reply_is_dead_lettered_once_the_grace_period_is_over(past):
    decision = _decide(ORIGINAL_NOT_DELIVERED.error(), age=BUDGET.reply_grace_seconds + past)

    assert decision == Decision(Action.DEAD_LETTER, Reason.GRACE_PERIOD_OVER, 0)


def test_no_grace_period_dead_letters_a_waiting_reply_at_once():
    decision = _decide(ORIGINAL_NOT_DELIVERED.error(), budget=RetryBudget(max_receive_count=15, reply_grace_seconds=0))

    assert decision.reason is Reason.GRACE_PERIOD_OVER


@pytest.mark.parametrize("extra", [0, 1, 20])
def test_a_waiting_reply_is_dead_lettered_on_the_last_receive_even_within_its_grace(extra):
    # One receive later SQS's redrive would move it to the DLQ itself, without an error code.
    decision = _decide(ORIGINAL_NOT_DELIVERED.error(), receive_count=BUDGET.max_receive_count + extra, age=60)

    assert decision == Decision(Action.DEAD_LETTER, Reason.GRACE_PERIOD_OVER, 0)


def test_the_default_receive_budget_outlasts_the_default_grace_period():
    """With the template's defaults a waiting reply is given its whole grace period: even with
    the shortest jittered waits, the receives run out only after the grace period ended."""
    waited, receive_count = 0.0, 1
    while True:
        decision = _decide(ORIGINAL_NOT_DELIVERED.error(), receive_count=receive_count, age=waited, jitter=low)
        if decision.dead_letter:
            break
        waited += decision.delay_seconds
        receive_count += 1
    assert waited >= BUDGET.reply_grace_seconds


# --- every kind has a policy -----------------------------------------------------------------------

# What each kind means for a queued message. A new ErrorKind must be added here (and to
# http_api.STATUS_BY_KIND) before this suite passes.
EXPECTED_REASON = {
    ErrorKind.UNAUTHENTICATED: Reason.PERMANENT,
    ErrorKind.INVALID_INPUT: Reason.PERMANENT,
    ErrorKind.NOT_FOUND: Reason.PERMANENT,
    ErrorKind.RECONNECT_REQUIRED: Reason.PERMANENT,
    ErrorKind.CHANNEL_UNUSABLE: Reason.PERMANENT,
    ErrorKind.MESSAGE_REJECTED: Reason.PERMANENT,
    ErrorKind.RATE_LIMITED: Reason.RATE_LIMITED,
    ErrorKind.UPSTREAM_UNAVAILABLE: Reason.TRANSIENT,
    ErrorKind.UPSTREAM_ERROR: Reason.PERMANENT,
    ErrorKind.NOT_READY: Reason.WAITING,
    ErrorKind.INTERNAL: Reason.PERMANENT,
}


def test_every_error_kind_has_an_http_status_and_a_queue_policy():
    assert set(STATUS_BY_KIND) == set(ErrorKind)
    assert set(EXPECTED_REASON) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_gets_a_decision(kind):
    error = ServiceError("SOME_CODE", "Some message.", kind)

    first = _decide(error)
    last = _decide(error, receive_count=BUDGET.max_receive_count)

    assert first.reason is EXPECTED_REASON[kind]
    assert first.action is (Action.RETRY if error.retryable else Action.DEAD_LETTER)
    assert 0 <= first.delay_seconds <= MAX_DELAY_SECONDS
    assert last.action is Action.DEAD_LETTER
