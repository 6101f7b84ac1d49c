"""The local stack runs a consumer's invocations concurrently, as Lambda does: invocations of one
function overlap (sharing its environment and warm container), another function's never overlap
with them and wait their turn fairly, and each SQS poller runs as many batches at once as the
template's concurrency allows, one batch per FIFO message group at a time."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from local.pollers import Poller
from local.runtime import EnvironmentLock, FunctionRuntime
from local.stack import LocalStack
from local.template import UNLIMITED_SQS_CONCURRENCY, resources, sqs_concurrency
from slack_integration import dependencies
from tests.support.local_stack import running_stack, wait_until

TIMEOUT = 10.0


@pytest.fixture(autouse=True)
def process_environment() -> Iterator[None]:
    """The runtimes below apply their functions' environments to the process: give it back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    dependencies.reset()


def runtime(suffix: str) -> FunctionRuntime:
    """A runtime whose tables and queues are named after `suffix` (nothing is called: only the
    environment and the containers are looked at)."""
    names = {
        logical: f"{logical}-{suffix}"
        for logical in [*resources("AWS::DynamoDB::Table"), *resources("AWS::SQS::Queue")]
    }
    return FunctionRuntime(names, {"SLACK_API_URL": "http://127.0.0.1:9/api/"})


def in_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run target(0..count-1) in threads; the exceptions they raised."""
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            target(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return errors


def started(thread: threading.Thread) -> threading.Thread:
    thread.daemon = True
    thread.start()
    return thread


# -- the environment lock ------------------------------------------------------------------------------


def test_holders_of_one_key_run_together_and_its_turn_starts_and_ends_once():
    lock = EnvironmentLock()
    turns: list[str] = []

    def activate() -> Callable[[], None]:
        turns.append("start")
        return lambda: turns.append("end")

    everyone_in = threading.Barrier(5, timeout=TIMEOUT)

    def hold(_: int) -> None:
        with lock.hold("A", activate):
            everyone_in.wait()  # breaks unless all five are inside at once

    assert in_threads(5, hold) == []
    assert turns == ["start", "end"]


def test_another_key_waits_for_the_holders_and_then_has_the_process_alone():
    lock = EnvironmentLock()
    inside: list[str] = []
    release = threading.Event()

    def hold(key: str, wait: bool) -> None:
        with lock.hold(key, lambda: lambda: None):
            inside.append(key)
            if wait:
                release.wait(TIMEOUT)
            inside.remove(key)

    first = started(threading.Thread(target=hold, args=("A", True)))
    wait_until(lambda: inside == ["A"], TIMEOUT)
    other = started(threading.Thread(target=hold, args=("B", False)))
    wait_until(lambda: lock.waiting == 1, TIMEOUT)
    assert inside == ["A"]

    release.set()
    first.join(TIMEOUT)
    other.join(TIMEOUT)
    assert not other.is_alive() and inside == []


def test_once_another_key_waits_new_holders_of_the_current_key_wait_behind_it():
    """Fairness: a stream of one function's invocations cannot starve another function."""
    lock = EnvironmentLock()
    order: list[str] = []
    release = {name: threading.Event() for name in ("A1", "B")}
    both_inside = threading.Barrier(2, timeout=TIMEOUT)

    def hold(name: str) -> None:
        with lock.hold(name[0], lambda: lambda: None):
            order.append(name)
            if name in release:
                release[name].wait(TIMEOUT)
            else:
                both_inside.wait()  # A2 and A3 come in together, in one turn

    threads = [started(threading.Thread(target=hold, args=("A1",)))]
    wait_until(lambda: order == ["A1"], TIMEOUT)
    threads.append(started(threading.Thread(target=hold, args=("B",))))
    wait_until(lambda: lock.waiting == 1, TIMEOUT)
    threads += [started(threading.Thread(target=hold, args=(name,))) for name in ("A2", "A3")]
    wait_until(lambda: lock.waiting == 3, TIMEOUT)
    assert order == ["A1"]  # A is held, yet A2 and A3 wait: B asked first

    release["A1"].set()
    wait_until(lambda: order == ["A1", "B"], TIMEOUT)
    assert lock.waiting == 2
    release["B"].set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert order[:2] == ["A1", "B"] and sorted(order[2:]) == ["A2", "A3"]
    assert not any(thread.is_alive() for thread in threads)


def test_a_keys_turn_takes_in_every_thread_waiting_for_it_and_the_others_keep_their_place():
    lock = EnvironmentLock()
    order: list[str] = []
    release = threading.Event()
    together = threading.Barrier(2, timeout=TIMEOUT)

    def hold(name: str) -> None:
        with lock.hold(name[0], lambda: lambda: None):
            order.append(name)
            if name == "X":
                release.wait(TIMEOUT)
            elif name[0] == "A":
                together.wait()  # A1 and A2 in one turn, though B asked between them

    threads = [started(threading.Thread(target=hold, args=("X",)))]
    wait_until(lambda: order == ["X"], TIMEOUT)
    for n, name in enumerate(("A1", "B", "A2")):
        threads.append(started(threading.Thread(target=hold, args=(name,))))
        wait_until(lambda n=n: lock.waiting == n + 1, TIMEOUT)

    release.set()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not together.broken
    assert sorted(order[1:3]) == ["A1", "A2"] and order[3] == "B"


def test_a_holder_enters_its_key_again_without_waiting_behind_another_key():
    lock = EnvironmentLock()
    order: list[str] = []
    nested = threading.Event()

    def holder() -> None:
        with lock.hold("A", lambda: lambda: None):
            order.append("A")
            wait_until(lambda: lock.waiting == 1, TIMEOUT)  # B now waits
            with lock.hold("A", lambda: lambda: None):  # would deadlock if it queued behind B
                nested.set()
            order.append("A done")

    def other() -> None:
        with lock.hold("B", lambda: lambda: None):
            order.append("B")

    first = started(threading.Thread(target=holder))
    wait_until(lambda: order == ["A"], TIMEOUT)
    second = started(threading.Thread(target=other))
    first.join(TIMEOUT)
    second.join(TIMEOUT)
    assert nested.is_set() and order == ["A", "A done", "B"]


def test_two_holders_each_entering_another_key_inside_theirs_get_an_error_not_a_deadlock():
    lock = EnvironmentLock()
    both_inside = threading.Barrier(2, timeout=TIMEOUT)
    outcome: dict[str, str] = {}

    def hold(name: str) -> None:
        with lock.hold("A", lambda: lambda: None):
            both_inside.wait()
            if name == "second":
                wait_until(lambda: lock.waiting == 1, TIMEOUT)  # the first waits for this one to leave
            try:
                with lock.hold("B", lambda: lambda: None):
                    outcome[name] = "nested"
            except RuntimeError:
                outcome[name] = "refused"

    assert in_threads(2, lambda n: hold(["first", "second"][n])) == []
    assert outcome == {"first": "nested", "second": "refused"}


# -- the runtime's environments --------------------------------------------------------------------------


def test_concurrent_invocations_of_one_function_share_its_environment_and_container():
    functions = runtime("shared")
    everyone_in = threading.Barrier(6, timeout=TIMEOUT)
    seen: list[tuple[str, str, Any]] = []

    def invocation(_: int) -> None:
        with functions.environment_of("SendFunction"):
            everyone_in.wait()  # all six inside at once, or BrokenBarrierError
            seen.append((os.environ["QUEUE_URL"], os.environ["INTEGRATIONS_TABLE"], dependencies.current()))
            everyone_in.wait()  # nobody left (and put another container back) before all looked

    assert in_threads(6, invocation) == []
    assert {(queue, table) for queue, table, _ in seen} == {("SendQueue-shared", "IntegrationsTable-shared")}
    [container] = {id(container) for _, _, container in seen}
    with functions.environment_of("SendFunction"):
        assert id(dependencies.current()) == container  # warm: the same one next time
    with functions.environment_of("ReplyFunction"):
        assert id(dependencies.current()) != container  # each function its own


def test_different_functions_and_runtimes_never_overlap_and_each_sees_its_own_environment():
    first, second = runtime("first"), runtime("second")
    expected = {
        ("first", "SendFunction"): ("SendQueue-first", "IntegrationsTable-first"),
        ("first", "ReplyFunction"): ("ReplyQueue-first", "IntegrationsTable-first"),
        ("second", "SendFunction"): ("SendQueue-second", "IntegrationsTable-second"),
    }
    runtimes = {"first": first, "second": second}
    keys = list(expected)
    guard = threading.Lock()
    active: dict[tuple[str, str], int] = defaultdict(int)
    problems: list[str] = []
    overlapped = threading.Event()

    def invocations(n: int) -> None:
        key = keys[n % len(keys)]
        for _ in range(25):
            with runtimes[key[0]].environment_of(key[1]):
                with guard:
                    active[key] += 1
                    if active[key] > 1:
                        overlapped.set()
                    others = [other for other, count in active.items() if count and other != key]
                    if others:
                        problems.append(f"{key} ran with {others}")
                for _ in range(3):
                    seen = (os.environ["QUEUE_URL"], os.environ["INTEGRATIONS_TABLE"])
                    if seen != expected[key]:
                        problems.append(f"{key} saw {seen}")
                    time.sleep(0.0005)
                with guard:
                    active[key] -= 1

    assert in_threads(9, invocations) == []
    assert problems == []
    assert overlapped.is_set()  # same-function invocations did overlap meanwhile


def test_a_function_does_not_see_the_previous_functions_own_variables():
    functions = runtime("own")
    with functions.environment_of("ReplyFunction"):
        assert os.environ["QUEUE_URL"] == "ReplyQueue-own"
    with functions.environment_of("InstallationFunction"):
        assert "QUEUE_URL" not in os.environ
        assert os.environ["INTEGRATIONS_TABLE"] == "IntegrationsTable-own"


def test_a_nested_function_runs_with_its_own_environment_and_the_outer_one_gets_its_back():
    functions = runtime("nested")
    with functions.environment_of("SendFunction"):
        outer = dependencies.current()
        with functions.environment_of("ReplyFunction"):
            assert os.environ["QUEUE_URL"] == "ReplyQueue-nested"
            assert dependencies.current() is not outer
        assert os.environ["QUEUE_URL"] == "SendQueue-nested"
        assert dependencies.current() is outer
        with functions.environment_of("SendFunction"):  # the same function again: nothing changes
            assert dependencies.current() is outer


def test_each_service_of_a_shared_container_is_built_once_even_when_first_asked_for_at_once(monkeypatch):
    from slack_integration.adapters import token_store

    build = token_store.TokenStore.__init__

    def slow_build(self: Any, *args: Any, **kwargs: Any) -> None:
        time.sleep(0.01)  # every thread asks before the first is done
        build(self, *args, **kwargs)

    monkeypatch.setattr(token_store.TokenStore, "__init__", slow_build)
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave as often as they can: races show
    try:
        for round_ in range(10):
            stores, gateways = _first_services_at_once(runtime(f"once-{round_}"), threads=8)
            assert len({id(store) for store in stores}) == 1
            assert len({id(gateway) for gateway in gateways}) == 1  # built with the store
    finally:
        sys.setswitchinterval(switching)


def _first_services_at_once(functions: FunctionRuntime, threads: int) -> tuple[list[Any], list[Any]]:
    everyone_in = threading.Barrier(threads, timeout=TIMEOUT)
    stores: list[Any] = []
    gateways: list[Any] = []

    def invocation(_: int) -> None:
        with functions.environment_of("SendFunction"):
            everyone_in.wait()
            container = dependencies.current()
            stores.append(container.tokens)
            gateways.append(container.slack)
            everyone_in.wait()

    assert in_threads(threads, invocation) == []
    return stores, gateways


def test_a_reset_inside_a_function_gives_every_function_a_new_container():
    functions = runtime("reset")
    with functions.environment_of("ReplyFunction"):
        reply = dependencies.current()
    with functions.environment_of("SendFunction"):
        send = dependencies.current()
        dependencies.reset()
    with functions.environment_of("SendFunction"):
        assert dependencies.current() is not send
    with functions.environment_of("ReplyFunction"):
        assert dependencies.current() is not reply


# -- concurrency from the template ----------------------------------------------------------------------


def test_the_consumers_concurrency_is_the_event_sources_capped_by_the_functions_reserved_concurrency():
    consumers = [
        ("SendFunction", "SendQueue"),
        ("ReplyFunction", "ReplyQueue"),
        ("DomainEventsFunction", "DomainEventsQueue"),
    ]
    # Defaults: MaximumConcurrency 20 (send, reply), ConsumerConcurrency 20 reserved for all three.
    assert [sqs_concurrency(f, q) for f, q in consumers] == [20, 20, 20]
    assert [sqs_concurrency(f, q, {"ConsumerConcurrency": "3"}) for f, q in consumers] == [3, 3, 3]
    assert [sqs_concurrency(f, q, {"ConsumerConcurrency": "50"}) for f, q in consumers] == [20, 20, 50]
    # Unreserved: the event source's limit, or where Lambda starts without one.
    unreserved = [sqs_concurrency(f, q, {"ConsumerConcurrency": "0"}) for f, q in consumers]
    assert unreserved == [20, 20, UNLIMITED_SQS_CONCURRENCY]
    with pytest.raises(KeyError):
        sqs_concurrency("SendFunction", "ReplyQueue")


def test_the_stack_runs_its_pollers_with_the_templates_concurrency_or_the_one_it_is_given():
    with pytest.raises(ValueError, match="at least 1"):
        LocalStack(consumer_concurrency=0)
    with running_stack("concurrency", parameters={"ConsumerConcurrency": "3"}, health_interval=3600) as (local, _):
        assert _poller_concurrency(local) == {"SendFunction": 3, "ReplyFunction": 3, "DomainEventsFunction": 3}
    with running_stack("concurrency-given", consumer_concurrency=2, health_interval=3600) as (local, _):
        assert _poller_concurrency(local) == {"SendFunction": 2, "ReplyFunction": 2, "DomainEventsFunction": 2}


def _poller_concurrency(local: LocalStack) -> dict[str, int]:
    pollers = [t for t in local.threads if isinstance(t, Poller)]
    assert all(worker.is_alive() for poller in pollers for worker in poller.workers)
    return {poller.name.removeprefix("poller-"): len(poller.workers) for poller in pollers}


# -- the pollers, against moto's server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqs() -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield boto3.client(
        "sqs",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",  # moto accepts any
    )
    server.stop()


def fifo_queue(sqs: Any, name: str) -> str:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "60"}
    return sqs.create_queue(QueueName=f"{name}-{time.time_ns()}.fifo", Attributes=attributes)["QueueUrl"]


def send(sqs: Any, queue_url: str, messages: list[tuple[str, int]]) -> None:
    """(group, sequence number) pairs, in this order, ten a call."""
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(n), "MessageBody": json.dumps({"group": group, "n": seq}), "MessageGroupId": group}
            for n, (group, seq) in enumerate(messages[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


class HandlerRuntime(FunctionRuntime):
    """The runtime, environment lock and all, with the test's handler as SendFunction's code."""

    def __init__(self, handler: Callable[[list[dict[str, Any]]], None]) -> None:
        super().__init__({n: n for n in [*resources("AWS::DynamoDB::Table"), *resources("AWS::SQS::Queue")]}, {})
        self._handler = handler
        self._guard = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.invocations = 0

    def invoke(self, logical: str, event: dict[str, Any]) -> Any:
        with self.environment_of(logical):
            with self._guard:
                self.running += 1
                self.invocations += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                self._handler(event["Records"])
            finally:
                with self._guard:
                    self.running -= 1
            return {"batchItemFailures": []}


@pytest.fixture
def poller(sqs: Any) -> Iterator[Callable[..., Poller]]:
    running: list[tuple[Poller, threading.Event]] = []

    def start(runtime: FunctionRuntime, queue_url: str, concurrency: int) -> Poller:
        stop = threading.Event()
        poller = Poller(runtime, "SendFunction", queue_url, sqs, stop, concurrency=concurrency)
        poller.start()
        running.append((poller, stop))
        return poller

    yield start
    for poller, stop in running:
        stop.set()
        poller.join(TIMEOUT)


def counts(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_a_backlog_of_several_groups_is_processed_in_parallel_one_group_a_batch(sqs, poller):
    """Five users' messages, interleaved, wait on the queue. As SQS does, each batch holds one
    group's; each invocation waits until five are running: one at a time, or batches holding
    every group (moto's own way of filling them), would time out."""
    queue_url = fifo_queue(sqs, "parallel")
    send(sqs, queue_url, [(f"user-{n % 5}", n // 5) for n in range(50)])
    five_running = threading.Barrier(5, timeout=TIMEOUT)
    batches: list[list[tuple[str, int]]] = []

    def handler(records: list[dict[str, Any]]) -> None:
        batches.append(
            [(record["attributes"]["MessageGroupId"], json.loads(record["body"])["n"]) for record in records]
        )
        five_running.wait()

    functions = HandlerRuntime(handler)
    started_poller = poller(functions, queue_url, 5)

    wait_until(lambda: started_poller.batches == 5, TIMEOUT)
    assert not five_running.broken and functions.most_at_once == 5
    assert sorted(batches) == [[(f"user-{g}", n) for n in range(10)] for g in range(5)]
    wait_until(lambda: counts(sqs, queue_url) == (0, 0), TIMEOUT)


def test_one_worker_runs_one_batch_at_a_time(sqs, poller):
    queue_url = fifo_queue(sqs, "serial")
    functions = HandlerRuntime(lambda records: time.sleep(0.05))
    started_poller = poller(functions, queue_url, 1)
    for n in range(4):
        send(sqs, queue_url, [(f"user-{n}", seq) for seq in range(10)])
        wait_until(lambda n=n: functions.invocations > n, TIMEOUT)

    wait_until(lambda: counts(sqs, queue_url) == (0, 0), TIMEOUT)
    assert started_poller.batches == functions.invocations and functions.most_at_once == 1


def test_each_groups_order_is_kept_with_several_workers_under_load(sqs, poller):
    """Waves of messages over eight groups reach eight idle workers. moto's FIFO, asked by several
    receivers at the same time, gives each some of one group's messages; SQS never has a group in
    two batches at once, and neither may the poller."""
    queue_url = fifo_queue(sqs, "order")
    guard = threading.Lock()
    in_flight: set[str] = set()
    handled: dict[str, list[int]] = defaultdict(list)
    problems: list[str] = []
    parallel = threading.Event()

    def handler(records: list[dict[str, Any]]) -> None:
        if functions.running > 1:
            parallel.set()
        parallel.wait(1.0)  # until another batch runs too (once): the test is about parallel batches
        groups = {record["attributes"]["MessageGroupId"] for record in records}
        with guard:
            if in_flight & groups:
                problems.append(f"{sorted(in_flight & groups)} in two batches at once")
            in_flight.update(groups)
        for record in records:
            body = json.loads(record["body"])
            with guard:
                handled[body["group"]].append(body["n"])
            time.sleep(0.002)
        with guard:
            in_flight.difference_update(groups)

    functions = HandlerRuntime(handler)
    poller(functions, queue_url, 8)
    groups, chunk, waves = 8, 5, 3
    sent = 0
    for wave in range(waves):
        time.sleep(0.3)  # every worker idle, waiting on the queue
        for first in (0, chunk):  # each group twice: its second chunk waits for its first
            for g in range(groups):
                send(sqs, queue_url, [(f"g{g}", wave * 2 * chunk + first + n) for n in range(chunk)])
        sent += 2 * chunk * groups
        wait_until(lambda sent=sent: sum(map(len, handled.values())) >= sent, TIMEOUT)

    assert problems == []
    assert dict(handled) == {f"g{g}": list(range(waves * 2 * chunk)) for g in range(groups)}
    assert parallel.is_set() and functions.most_at_once > 1
    wait_until(lambda: counts(sqs, queue_url) == (0, 0), TIMEOUT)


def test_stopping_ends_every_worker_and_hands_back_what_a_receive_brought_meanwhile(sqs):
    queue_url = fifo_queue(sqs, "stop")
    functions = HandlerRuntime(lambda records: None)
    stop = threading.Event()
    stopped = Poller(functions, "SendFunction", queue_url, sqs, stop, concurrency=4)
    stopped.start()
    wait_until(lambda: all(worker.is_alive() for worker in stopped.workers))
    time.sleep(0.2)  # a worker is in its long poll

    stop.set()
    send(sqs, queue_url, [("late", 0)])  # the waiting receive may get it, after the stop
    stopped.join(TIMEOUT)

    assert not stopped.is_alive()
    assert len(stopped.workers) == 4 and not any(worker.is_alive() for worker in stopped.workers)
    assert functions.invocations == 0 and stopped.batches == 0
    assert counts(sqs, queue_url) == (1, 0)  # visible at once, not after the visibility timeout
