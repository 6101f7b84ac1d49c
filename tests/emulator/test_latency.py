"""The emulator's opt-in answer time (set_latency): a log-normal delay before a Web API method runs,
seen through the real `slack_sdk.WebClient` over HTTP the way `make bench` sees it.

Latencies here are small (10 to 600 ms) so the whole file runs in a few seconds.
"""

from __future__ import annotations

import http.client
import json
import math
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient

from local.slack_emulator import SlackEmulator
from local.slack_emulator.__main__ import main as emulator_main
from local.slack_emulator.emulator import CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS
from local.slack_emulator.state import Latency
from tests.emulator.clients import slack_error, web_client

TEAM = "T0LATENCY1"
TOKEN = "xoxb-test-latency"
# A loopback call without any latency takes a few ms, but a loaded machine (CI, the suite's other
# threads) can stall one for a hundred: so "not delayed" is checked against a long delay, as under
# half of it, and "not much more than its delay" on the median call.
LONG_MS = 300.0
FAST_MS = LONG_MS / 2
OVERSHOOT_MS = 40.0


@pytest.fixture
def emu(emulator: SlackEmulator) -> SlackEmulator:
    """The suite's one server (tests/conftest.py), emptied, with one workspace."""
    emulator.reset()
    emulator.add_workspace(TEAM, "Latency")
    emulator.add_token(TOKEN, TEAM)
    return emulator


@pytest.fixture
def channel(emu: SlackEmulator) -> str:
    return str(emu.add_channel(TEAM, "general", is_member=True)["id"])


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return web_client(emu, TOKEN)


def timed_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def post(client: WebClient, channel: str, text: str = "hi") -> Callable[[], Any]:
    return lambda: client.chat_postMessage(channel=channel, text=text)


def control(emu: SlackEmulator, path: str, payload: Any) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(emu.server_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    connection.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


# -- the distribution -------------------------------------------------------------------------


def test_the_draws_have_the_configured_median_and_p95() -> None:
    # Given the documented chat.postMessage answer time
    latency = Latency()
    latency.set("chat.postMessage", CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS, seed=1)
    # When many calls draw their delay
    draws = sorted(latency.draw("chat.postMessage") or 0.0 for _ in range(20_000))
    # Then the sample's median and p95 are the configured ones, and the tail is a log-normal's
    assert statistics.median(draws) == pytest.approx(CHAT_POST_MESSAGE_MEDIAN_MS, rel=0.03)
    assert draws[int(0.95 * len(draws))] == pytest.approx(CHAT_POST_MESSAGE_P95_MS, rel=0.05)
    assert 0 < draws[0] < CHAT_POST_MESSAGE_MEDIAN_MS / 3
    assert draws[-1] > 2 * CHAT_POST_MESSAGE_P95_MS
    # And other methods draw nothing
    assert latency.draw("auth.test") is None


def test_the_documented_numbers_are_a_plausible_web_api_answer_time() -> None:
    # A median in the tens to hundreds of ms and a tail, not the emulator's 1 ms nor a timeout
    assert 50 <= CHAT_POST_MESSAGE_MEDIAN_MS < CHAT_POST_MESSAGE_P95_MS <= 1000


def test_posts_wait_their_drawn_delay_and_calls_reports_it(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given chat.postMessage answering after 20 ms at the median, 40 ms at p95
    emu.set_latency("chat.postMessage", 20, 40, seed=7)
    # When the bot posts 25 times
    walls = [timed_ms(post(client, channel, f"m{n}")) for n in range(25)]
    # Then every post landed and calls() says what delay each one got
    assert len(emu.messages(channel)) == 25
    applied = [call["latency_ms"] for call in emu.calls("chat.postMessage")]
    assert len(applied) == 25
    # And each post took at least its delay, and the typical one not much more
    assert all(wall >= delay for wall, delay in zip(walls, applied, strict=True))
    assert statistics.median(wall - delay for wall, delay in zip(walls, applied, strict=True)) < OVERSHOOT_MS
    # And the delays are spread around the configured median
    assert statistics.median(applied) == pytest.approx(20, rel=0.25)
    assert min(applied) < 17 and max(applied) > 30
    assert statistics.median(walls) >= 20 * 0.75


def test_a_fixed_delay_without_p95(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given a p95 left out: every call waits exactly the median
    emu.set_latency("chat.postMessage", 25)
    # When the bot posts three times
    walls = [timed_ms(post(client, channel)) for _ in range(3)]
    # Then each waited 25 ms and says so
    assert [call["latency_ms"] for call in emu.calls()] == [25.0, 25.0, 25.0]
    assert min(walls) >= 25
    assert emu.latency_settings() == [{"method": "chat.postMessage", "median_ms": 25.0, "p95_ms": None, "seed": None}]


# -- which calls ------------------------------------------------------------------------------


def test_other_methods_are_not_delayed(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given a long delay on chat.postMessage only
    emu.set_latency("chat.postMessage", LONG_MS)
    # When the bot calls other methods
    walls = [timed_ms(client.auth_test) for _ in range(3)] + [timed_ms(client.conversations_list)]
    # Then they answer at loopback speed, and their records carry no latency
    assert max(walls) < FAST_MS
    assert all("latency_ms" not in call for call in emu.calls())


def test_star_covers_every_method_and_a_method_of_its_own_wins(
    emu: SlackEmulator, client: WebClient, channel: str
) -> None:
    # Given 40 ms for any method, but 10 ms for chat.postMessage
    emu.set_latency("*", 40)
    emu.set_latency("chat.postMessage", 10)
    # When the bot checks its token and posts
    auth_wall = timed_ms(client.auth_test)
    post_wall = timed_ms(post(client, channel))
    # Then each got the delay meant for it
    assert [(call["method"], call["latency_ms"]) for call in emu.calls()] == [
        ("auth.test", 40.0),
        ("chat.postMessage", 10.0),
    ]
    assert auth_wall >= 40 and post_wall >= 10


def test_the_authorize_page_and_the_control_endpoint_are_never_delayed(emu: SlackEmulator) -> None:
    # Given every Web API method delayed
    emu.set_latency("*", LONG_MS)
    parts = urlsplit(emu.authorize_url)

    def authorize_page() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
        connection.request("GET", parts.path)
        connection.getresponse().read()
        connection.close()

    # When a browser opens the authorize page and a shell talks to the control endpoint
    page_wall = timed_ms(authorize_page)
    control_wall = timed_ms(lambda: control(emu, "/_emulator/latency", {"method": "auth.test", "median_ms": 0}))
    # Then both answer at once, and neither is a Web API call
    assert page_wall < FAST_MS and control_wall < FAST_MS
    assert emu.calls() == []


def test_faults_keep_their_answer_after_the_delay(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given 20 ms on chat.postMessage, a 429 for the next post and a slow fault after it
    emu.set_latency("chat.postMessage", 20)
    emu.inject_fault("chat.postMessage", "ratelimited", retry_after=3)
    emu.inject_fault("chat.postMessage", "slow", delay=0.05, after=1)
    # When the bot posts twice
    throttled_wall = timed_ms(lambda: slack_error(post(client, channel)))
    slow_wall = timed_ms(post(client, channel))
    # Then the 429 came after the delay, and the slow fault's delay added to it
    assert [(c["status"], c["fault"], c["latency_ms"]) for c in emu.calls()] == [
        (429, "ratelimited", 20.0),
        (200, "slow", 20.0),
    ]
    assert throttled_wall >= 20 and slow_wall >= 70


# -- concurrency --------------------------------------------------------------------------------


def test_concurrent_calls_overlap_instead_of_queueing(emu: SlackEmulator, channel: str) -> None:
    # Given a long delay for every post, and two clients ready to post at the same moment
    emu.set_latency("chat.postMessage", LONG_MS)
    clients = [web_client(emu, TOKEN) for _ in range(2)]
    start = threading.Barrier(2)
    walls: list[float] = []

    def post_once(client: WebClient) -> None:
        start.wait()
        walls.append(timed_ms(post(client, channel)))

    # When both post at once
    started = time.perf_counter()
    threads = [threading.Thread(target=post_once, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    total_ms = (time.perf_counter() - started) * 1000
    # Then both waited their delay side by side: about one delay in all, not two
    assert len(walls) == 2 and min(walls) >= LONG_MS
    assert total_ms < 1.5 * LONG_MS
    assert len(emu.messages(channel)) == 2


def test_a_waiting_call_holds_no_lock(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given a post that waits a long time
    emu.set_latency("chat.postMessage", 2 * LONG_MS)
    waiting = threading.Thread(target=post(client, channel))
    waiting.start()
    time.sleep(0.05)
    # When, meanwhile, a test reads the state and the bot makes another call
    read_wall = timed_ms(lambda: (emu.calls(), emu.messages(channel)))
    auth_wall = timed_ms(client.auth_test)
    waiting.join(5)
    # Then neither waited for the sleeping post, which still landed
    assert read_wall < FAST_MS and auth_wall < FAST_MS
    assert [call["method"] for call in emu.calls()] == ["auth.test", "chat.postMessage"]
    assert len(emu.messages(channel)) == 1


# -- turning it off, seeds, refusals ------------------------------------------------------------


@pytest.mark.parametrize("turn_off", ["none", "zero", "reset"])
def test_none_zero_and_reset_turn_it_off(emu: SlackEmulator, channel: str, turn_off: str) -> None:
    # Given a delay on chat.postMessage, and one for any method
    emu.set_latency("chat.postMessage", LONG_MS, 2 * LONG_MS)
    emu.set_latency("*", LONG_MS)
    # When it is turned off
    if turn_off == "reset":
        emu.reset()
        emu.add_workspace(TEAM, "Latency")
        emu.add_token(TOKEN, TEAM)
        channel = str(emu.add_channel(TEAM, "general", is_member=True)["id"])
    else:
        emu.set_latency("chat.postMessage", None if turn_off == "none" else 0)
        emu.set_latency("*", None if turn_off == "none" else 0.0)
    # Then posts answer at once again, and nothing says otherwise
    client = web_client(emu, TOKEN)
    assert timed_ms(post(client, channel)) < FAST_MS
    assert emu.latency_settings() == []
    assert "latency_ms" not in emu.calls()[-1]


def test_a_seed_repeats_the_same_delays(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    def delays(seed: int) -> list[float]:
        before = len(emu.calls())
        emu.set_latency("chat.postMessage", 10, 20, seed=seed)
        for _ in range(4):
            client.chat_postMessage(channel=channel, text="seeded")
        return [call["latency_ms"] for call in emu.calls()[before:]]

    # When the same seed is set twice, and another once
    first, again, other = delays(3), delays(3), delays(4)
    # Then the same seed gives the same delays call for call, and they vary from call to call
    assert first == again
    assert len(set(first)) == 4
    assert other != first


@pytest.mark.parametrize(
    ("method", "median_ms", "p95_ms", "seed"),
    [
        ("chat.postMessage", -1, None, None),
        ("chat.postMessage", math.nan, None, None),
        ("chat.postMessage", math.inf, None, None),
        ("chat.postMessage", 10**400, None, None),
        ("chat.postMessage", True, None, None),
        ("chat.postMessage", "20", None, None),
        ("chat.postMessage", 20, 10, None),
        ("chat.postMessage", 20, math.inf, None),
        ("chat.postMessage", 1e-300, 1e300, None),
        ("chat.postMessage", None, 30, None),
        ("chat.postMessage", 0, 30, None),
        ("chat.postMessage", 20, 30, "seven"),
        ("chat.postMessage", 20, 30, 1.5),
        ("", 20, None, None),
    ],
)
def test_invalid_arguments_are_refused(emu: SlackEmulator, method: Any, median_ms: Any, p95_ms: Any, seed: Any) -> None:
    # Given a valid setting in force
    emu.set_latency("chat.postMessage", 20, 30, seed=1)
    # When a setting that is no delay is asked for
    with pytest.raises(ValueError):
        emu.set_latency(method, median_ms, p95_ms, seed)
    # Then it is refused and the one in force stays
    assert emu.latency_settings() == [{"method": "chat.postMessage", "median_ms": 20.0, "p95_ms": 30.0, "seed": 1}]


def test_a_snapshot_does_not_keep_latency(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # Given a delay in force
    emu.set_latency("chat.postMessage", LONG_MS, seed=9)
    # When the state is saved and restored (the local stack's restart)
    snapshot = json.loads(json.dumps(emu.snapshot()))
    emu.restore(snapshot)
    # Then the snapshot holds no latency, and the restored emulator answers at once
    assert "latency" not in snapshot and "median_ms" not in json.dumps(snapshot)
    assert emu.latency_settings() == []
    assert timed_ms(post(web_client(emu, TOKEN), channel)) < FAST_MS


# -- the control endpoint and the CLI ----------------------------------------------------------


def test_the_control_endpoint_sets_and_refuses_latency(emu: SlackEmulator, client: WebClient, channel: str) -> None:
    # When a shell sets chat.postMessage's latency over HTTP
    status, answer = control(emu, "/_emulator/latency", {"method": "chat.postMessage", "median_ms": 15, "seed": 2})
    # Then it answers the settings in force, and posts wait
    assert (status, answer) == (
        200,
        {"ok": True, "latency": [{"method": "chat.postMessage", "median_ms": 15.0, "p95_ms": None, "seed": 2}]},
    )
    assert timed_ms(post(client, channel)) >= 15
    # And input that is no delay is refused with what is wrong
    status, refused = control(emu, "/_emulator/latency", {"method": "chat.postMessage", "median_ms": 20, "p95_ms": 5})
    assert status == 400 and refused["error"] == "invalid_request" and "p95_ms" in refused["detail"]
    status, missing = control(emu, "/_emulator/latency", {"method": "chat.postMessage"})
    assert status == 400 and missing["error"] == "invalid_latency"
    # And null turns it off
    status, off = control(emu, "/_emulator/latency", {"method": "chat.postMessage", "median_ms": None})
    assert (status, off) == (200, {"ok": True, "latency": []})


def test_the_cli_sets_latency(emu: SlackEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    url = ["--url", emu.server_url, "--method", "chat.postMessage"]
    # When the documented numbers are set from a shell
    median, p95 = f"{CHAT_POST_MESSAGE_MEDIAN_MS:g}", f"{CHAT_POST_MESSAGE_P95_MS:g}"
    code = emulator_main(["latency", *url, "--median-ms", median, "--p95-ms", p95, "--seed", "5"])
    # Then the emulator has them, and the CLI prints its answer
    assert code == 0
    expected = {
        "method": "chat.postMessage",
        "median_ms": CHAT_POST_MESSAGE_MEDIAN_MS,
        "p95_ms": CHAT_POST_MESSAGE_P95_MS,
        "seed": 5,
    }
    assert json.loads(capsys.readouterr().out)["latency"] == [expected] == emu.latency_settings()
    # And a refusal exits 1 with the reason
    assert emulator_main(["latency", *url, "--median-ms", "-5"]) == 1
    assert "median_ms" in json.loads(capsys.readouterr().out)["detail"]
    # And 0 turns it off
    assert emulator_main(["latency", *url, "--median-ms", "0"]) == 0
    assert emu.latency_settings() == []
