"""The emulator's opt-in chat.postMessage rate limit: a token bucket per channel, seen through the
real `slack_sdk.WebClient` over HTTP the way a benchmark pushing many messages would see it.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from local.slack_emulator import SlackEmulator
from local.slack_emulator.state import PostRateLimit
from tests.emulator.clients import slack_error, web_client

TEAM_A, TEAM_B = "T0RATEA001", "T0RATEB001"
TOKEN_A, TOKEN_B = "xoxb-test-rate-team-a", "xoxb-test-rate-team-b"
# Slow enough that no token comes back while a test runs, so counts are exact.
NO_REFILL = 0.001
FAST = 20.0  # one token every 50 ms


@pytest.fixture
def emu(emulator: SlackEmulator) -> SlackEmulator:
    """The suite's one server (tests/conftest.py), emptied, with two teams."""
    emulator.reset()
    emulator.add_workspace(TEAM_A, "Team A")
    emulator.add_workspace(TEAM_B, "Team B")
    emulator.add_token(TOKEN_A, TEAM_A)
    emulator.add_token(TOKEN_B, TEAM_B)
    return emulator


@pytest.fixture
def ch(emu: SlackEmulator) -> SimpleNamespace:
    return SimpleNamespace(
        general=emu.add_channel(TEAM_A, "general", is_member=True)["id"],
        dev=emu.add_channel(TEAM_A, "dev", is_member=True)["id"],
        old=emu.add_channel(TEAM_A, "old", is_member=True, is_archived=True)["id"],
        other_team=emu.add_channel(TEAM_B, "general", is_member=True)["id"],
    )


def client_for(emu: SlackEmulator, token: str = TOKEN_A, **options: Any) -> WebClient:
    return web_client(emu, token, **options)


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return client_for(emu)


def post_outcome(client: WebClient, channel: str, text: str = "hi", **kwargs: Any) -> int:
    """HTTP status of one post: 200 when it went through, 429 when throttled."""
    try:
        client.chat_postMessage(channel=channel, text=text, **kwargs)
    except SlackApiError as err:
        assert err.response["error"] == "ratelimited", err.response.data
        return int(err.response.status_code)
    return 200


# -- through the HTTP API ---------------------------------------------------------------------


def test_off_by_default(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts 30 times at once without any limit set
    outcomes = [post_outcome(client, ch.general) for _ in range(30)]
    # Then every post lands and nothing is counted
    assert outcomes == [200] * 30
    assert len(emu.messages(ch.general)) == 30
    assert emu.post_rate_limit_stats() == {"accepted": 0, "throttled": 0}


def test_burst_posts_then_a_429_with_retry_after(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given 1 post every 4 seconds with bursts of 3
    emu.set_post_rate_limit(0.25, burst=3)
    # When the bot posts 3 times, then all 3 land
    for number in range(3):
        assert client.chat_postMessage(channel=ch.general, text=f"post {number}")["ok"]
    # When it posts a 4th time right away
    response = slack_error(lambda: client.chat_postMessage(channel=ch.general, text="one too many"))
    # Then Slack's 429 comes back with the whole seconds until the next token, and nothing is stored
    assert (response.status_code, response.data) == (429, {"ok": False, "error": "ratelimited"})
    assert response.headers["Retry-After"] == "4"
    assert [message["text"] for message in emu.messages(ch.general)] == ["post 0", "post 1", "post 2"]
    # And the call log shows it as a 429 that no injected fault caused
    calls = emu.calls("chat.postMessage")
    assert [(call["status"], call["fault"]) for call in calls] == [(200, None)] * 3 + [(429, None)]
    assert emu.post_rate_limit_stats() == {"accepted": 3, "throttled": 1}


def test_retry_after_is_at_least_one_second(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given a fast limit whose next token is only 50 ms away
    emu.set_post_rate_limit(FAST)
    assert client.chat_postMessage(channel=ch.general, text="hi")["ok"]
    # When the bot posts again at once, then Retry-After still says a whole second
    response = slack_error(lambda: client.chat_postMessage(channel=ch.general, text="hi"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"


def test_the_bucket_refills_over_time(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given 20 posts a second with no burst, and the one token spent
    emu.set_post_rate_limit(FAST)
    assert post_outcome(client, ch.general) == 200
    assert post_outcome(client, ch.general) == 429
    # When the bot waits past 1/20 s, then it may post again
    time.sleep(2 / FAST)
    assert post_outcome(client, ch.general) == 200
    assert emu.post_rate_limit_stats() == {"accepted": 2, "throttled": 1}


def test_the_bucket_never_holds_more_than_the_burst(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given 20 posts a second in bursts of 2, and a wait long enough to earn 6 tokens
    emu.set_post_rate_limit(FAST, burst=2)
    time.sleep(6 / FAST)
    # When the bot posts 4 times at once, then only the burst goes through
    assert [post_outcome(client, ch.general) for _ in range(4)][:3] == [200, 200, 429]


def test_channels_and_teams_have_their_own_buckets(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given one post per channel and no refill
    emu.set_post_rate_limit(NO_REFILL)
    team_a, team_b = client_for(emu, TOKEN_A), client_for(emu, TOKEN_B)
    # When #general is used up
    assert post_outcome(team_a, ch.general) == 200
    assert post_outcome(team_a, ch.general) == 429
    # Then #dev and the other team's channel still take a post each
    assert post_outcome(team_a, ch.dev) == 200
    assert post_outcome(team_b, ch.other_team) == 200
    assert post_outcome(team_a, ch.dev) == 429
    assert post_outcome(team_b, ch.other_team) == 429
    assert emu.post_rate_limit_stats() == {"accepted": 3, "throttled": 3}


def test_thread_replies_count_against_their_channel(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given bursts of 2 and no refill
    emu.set_post_rate_limit(NO_REFILL, burst=2)
    # When the bot posts a parent and two replies
    parent_ts = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    assert post_outcome(client, ch.general, "reply 1", thread_ts=parent_ts) == 200
    assert post_outcome(client, ch.general, "reply 2", thread_ts=parent_ts) == 429
    # Then the throttled reply is neither stored nor counted on the parent
    messages = emu.messages(ch.general)
    assert [message["text"] for message in messages] == ["parent", "reply 1"]
    assert messages[0]["reply_count"] == 1
    # And a top-level post to the same channel is throttled too
    assert post_outcome(client, ch.general, "top level") == 429


def test_unknown_channels_and_bad_tokens_keep_their_errors_and_use_no_token(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given one post per channel and no refill
    emu.set_post_rate_limit(NO_REFILL)
    # When the bot posts to an unknown channel, or with an unknown token, again and again
    stranger = client_for(emu, "xoxb-unknown")
    for _ in range(3):
        assert slack_error(lambda: client.chat_postMessage(channel="C0NOSUCH00", text="hi"))["error"] == (
            "channel_not_found"
        )
        assert slack_error(lambda: stranger.chat_postMessage(channel=ch.general, text="hi"))["error"] == (
            "invalid_auth"
        )
    # Then those answers are unchanged, uncounted, and #general's token is still there
    assert emu.post_rate_limit_stats() == {"accepted": 0, "throttled": 0}
    assert post_outcome(client, ch.general) == 200


def test_posts_failing_validation_still_use_a_token(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given one post per channel and no refill: Slack throttles requests, not stored messages
    emu.set_post_rate_limit(NO_REFILL)
    # When a post to a known channel fails validation, then it used the channel's token
    assert slack_error(lambda: client.api_call("chat.postMessage", json={"channel": ch.general}))["error"] == "no_text"
    assert post_outcome(client, ch.general) == 429
    # And an archived channel answers 429 once its bucket is empty
    assert slack_error(lambda: client.chat_postMessage(channel=ch.old, text="hi"))["error"] == "is_archived"
    assert slack_error(lambda: client.chat_postMessage(channel=ch.old, text="hi")).status_code == 429


def test_reset_turns_the_limit_off_and_zeroes_the_stats(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a used-up bucket
    emu.set_post_rate_limit(NO_REFILL)
    client = client_for(emu)
    assert [post_outcome(client, ch.general) for _ in range(2)] == [200, 429]
    # When the emulator is reset and seeded again
    emu.reset()
    emu.add_workspace(TEAM_A, "Team A")
    emu.add_token(TOKEN_A, TEAM_A)
    general = emu.add_channel(TEAM_A, "general", is_member=True)["id"]
    # Then posting is unlimited again and nothing has been counted
    assert [post_outcome(client, general) for _ in range(10)] == [200] * 10
    assert emu.post_rate_limit_stats() == {"accepted": 0, "throttled": 0}


def test_none_turns_the_limit_off_and_a_new_limit_refills_the_buckets(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a used-up bucket
    emu.set_post_rate_limit(NO_REFILL)
    assert [post_outcome(client, ch.general) for _ in range(2)] == [200, 429]
    # When the limit is turned off, then posts go through and are not counted; the counts stay
    emu.set_post_rate_limit(None)
    assert [post_outcome(client, ch.general) for _ in range(3)] == [200] * 3
    assert emu.post_rate_limit_stats() == {"accepted": 1, "throttled": 1}
    # When a limit is set again, then every bucket starts full
    emu.set_post_rate_limit(NO_REFILL, burst=2)
    assert [post_outcome(client, ch.general) for _ in range(3)] == [200, 200, 429]
    assert emu.post_rate_limit_stats() == {"accepted": 3, "throttled": 2}


def test_stats_count_accepted_and_throttled_posts(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given bursts of 3 and no refill
    emu.set_post_rate_limit(NO_REFILL, burst=3)
    # When the bot posts 5 times to #general and 4 times to #dev
    outcomes = [post_outcome(client, ch.general) for _ in range(5)] + [post_outcome(client, ch.dev) for _ in range(4)]
    # Then the stats agree with the answers, the call log and the stored messages
    assert outcomes.count(200) == 6 and outcomes.count(429) == 3
    assert emu.post_rate_limit_stats() == {"accepted": 6, "throttled": 3}
    assert [call["status"] for call in emu.calls("chat.postMessage")] == outcomes
    assert len(emu.messages(ch.general)) + len(emu.messages(ch.dev)) == 6


def test_concurrent_posts_never_exceed_the_bucket(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given bursts of 5 and no refill, and 50 threads each with its own client
    emu.set_post_rate_limit(NO_REFILL, burst=5)
    threads_count = 50
    clients = [client_for(emu, timeout=10) for _ in range(threads_count)]
    start = threading.Barrier(threads_count)
    outcomes: list[int] = []
    outcomes_lock = threading.Lock()

    def post(client: WebClient, number: int) -> None:
        start.wait()
        outcome = post_outcome(client, ch.general, f"post {number}")
        with outcomes_lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=post, args=(client, n)) for n, client in enumerate(clients)]
    # When they all post at the same instant
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly the burst lands and every other post is throttled
    assert sorted(outcomes) == [200] * 5 + [429] * 45
    assert len(emu.messages(ch.general)) == 5
    assert emu.post_rate_limit_stats() == {"accepted": 5, "throttled": 45}


def test_slack_sdk_rate_limit_handler_waits_and_retries(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a fast limit and a client using slack_sdk's RateLimitErrorRetryHandler
    emu.set_post_rate_limit(FAST)
    retrying = client_for(emu, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    # When the bot posts twice in a row
    started = time.monotonic()
    assert retrying.chat_postMessage(channel=ch.general, text="first")["ok"]
    assert retrying.chat_postMessage(channel=ch.general, text="second")["ok"]
    # Then the second waited out Retry-After once and both landed exactly once
    assert time.monotonic() - started >= 1
    assert [call["status"] for call in emu.calls("chat.postMessage")] == [200, 429, 200]
    assert [message["text"] for message in emu.messages(ch.general)] == ["first", "second"]


def test_set_post_rate_limit_rejects_invalid_arguments(emu: SlackEmulator) -> None:
    for per_second in (0, -1.0, float("nan"), float("inf"), 5e-324, True, "1"):
        with pytest.raises(ValueError, match="per_second"):
            emu.set_post_rate_limit(per_second)  # type: ignore[arg-type]
    for burst in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="burst"):
            emu.set_post_rate_limit(1.0, burst=burst)  # type: ignore[arg-type]
    # And a rejected setting leaves the limit off
    assert emu.post_rate_limit_stats() == {"accepted": 0, "throttled": 0}


# -- the bucket itself, on a fake clock -------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refill_and_retry_after_on_a_fake_clock() -> None:
    # Given 1 post every 4 seconds in bursts of 2
    clock = FakeClock()
    limit = PostRateLimit(clock=clock)
    limit.configure(0.25, burst=2)
    # When the burst is spent, then the next post must wait the full 4 s
    assert [limit.take("T", "C"), limit.take("T", "C"), limit.take("T", "C")] == [None, None, 4]
    # When 2.5 s pass (0.625 of a token), then Retry-After rounds the remaining 1.5 s up to 2
    clock.now += 2.5
    assert limit.take("T", "C") == 2
    # When the token is complete, then the post goes through, and the wait starts over
    clock.now += 1.5
    assert limit.take("T", "C") is None
    assert limit.take("T", "C") == 4
    # When a long time passes, then the bucket holds no more than the burst
    clock.now += 3600
    assert [limit.take("T", "C") for _ in range(3)] == [None, None, 4]
    assert limit.stats() == {"accepted": 5, "throttled": 4}
    # When it is reset, then it is off and counts nothing
    limit.reset()
    assert [limit.take("T", "C") for _ in range(5)] == [None] * 5
    assert limit.stats() == {"accepted": 0, "throttled": 0}
