"""The local Lambda runtime: each function of template.yaml, loaded from functions/*/app.py and
invoked in this process with the environment the template gives it.

Lambda runs as many invocations of a function at once as its concurrency allows. Here they all
run in one process, whose `os.environ` holds one function's environment at a time, so invocations
take the process-wide `EnvironmentLock`: invocations of the same function (of the same runtime)
run at the same time, sharing its environment; another function's (or another runtime's: tests
start two stacks in one process) wait until they are done, and are served in turn, first come
first served. Each function also has its own composition root (`dependencies.Container`), built
the first time its environment is applied and kept for the stack's life: like a warm Lambda
container, it keeps its boto3 clients, Slack clients and token cache between invocations, and the
send and reply consumers each keep their own queue settings. Concurrent invocations share it
(Lambda would give each its own container; `dependencies.current()` is process-wide, so here
there is one per function).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from functools import cache, cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any

from local.lambda_events import LambdaContext
from local.template import ROOT, environment, function_directory, load_template, resources

if TYPE_CHECKING:
    from slack_integration.config import Settings
    from slack_integration.dependencies import Container

# The account and region the local functions believe they run in (ARNs, AWS_REGION).
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"

# What starts a key's turn at the process and returns what ends it (EnvironmentLock.hold).
Activate = Callable[[], Callable[[], None]]


def _nothing() -> None:
    return None


class _Turn:
    """One key's turn at the process: who holds it (thread id -> nesting depth) and what ends it."""

    __slots__ = ("activate", "deactivate", "holders", "key")

    def __init__(self, key: Hashable, activate: Activate) -> None:
        self.key = key
        self.activate = activate
        self.deactivate: Callable[[], None] = _nothing
        self.holders: dict[int, int] = {}


class _Ticket:
    """A thread waiting for a turn of `key`; `called` once a turn of that key took it in."""

    __slots__ = ("called", "key")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.called = False


class EnvironmentLock:
    """Shared by the holders of one key, exclusive across keys, and fair.

    - Threads wait in arrival order. When the process is free, the first one's key gets a turn,
      and the turn takes in every thread waiting for that key (they run together).
    - While a key's turn lasts, a thread asking for it joins at once, unless a thread waits for
      another key ahead of it: then it waits for a later turn. So a stream of one function's
      invocations cannot starve another function: once it waits, the current turn only drains.
    - A holder may enter its key again (nested use) without waiting.
    - A thread holding a key alone may enter another key inside it (the old process-wide RLock
      allowed that): it waits for the key's other holders to leave, the outer key's turn is
      ended for the while, and started again afterwards. Two holders of one key each doing that
      would wait for each other: the second gets a RuntimeError instead.

    `activate` runs when a key's turn starts, under the lock's mutex (so every holder finds it
    done), and returns what ends the turn, which runs when the last holder leaves.
    """

    def __init__(self) -> None:
        self._mutex = threading.Condition(threading.Lock())
        # The key being held is the last turn; the ones below it were ended by a nested key.
        self._turns: list[_Turn] = []
        self._queue: deque[_Ticket] = deque()  # the waiting threads, in arrival order
        self._nesting: int | None = None  # a holder waiting for its key's other holders to leave

    @property
    def waiting(self) -> int:
        """How many threads wait for a turn (tests use it instead of sleeping)."""
        with self._mutex:
            return len(self._queue) + (self._nesting is not None)

    @contextlib.contextmanager
    def hold(self, key: Hashable, activate: Activate) -> Iterator[None]:
        me = threading.get_ident()
        with self._mutex:
            turn = self._enter(key, activate, me)
        try:
            yield
        finally:
            with self._mutex:
                self._leave(turn, me)

    def _enter(self, key: Hashable, activate: Activate, me: int) -> _Turn:
        held = self._turns[-1] if self._turns else None
        if held is not None and me in held.holders:
            if held.key == key:
                held.holders[me] += 1
                return held
            return self._nest(held, key, activate, me)
        ticket = _Ticket(key)
        self._queue.append(ticket)
        try:
            self._mutex.wait_for(lambda: self._admits(ticket))
        finally:
            self._queue.remove(ticket)
            self._mutex.notify_all()  # the others re-check once this thread releases the mutex
        if not self._turns:
            turn = _Turn(key, activate)
            turn.deactivate = activate()
            self._turns.append(turn)
            for waiting in self._queue:
                waiting.called = waiting.called or waiting.key == key
        turn = self._turns[-1]
        turn.holders[me] = 1
        return turn

    def _admits(self, ticket: _Ticket) -> bool:
        if self._nesting is not None:
            return False
        if not self._turns:
            return self._queue[0] is ticket
        # A nested turn belongs to the thread that nested it alone.
        if len(self._turns) > 1 or self._turns[0].key != ticket.key:
            return False
        if ticket.called:
            return True
        for waiting in self._queue:
            if waiting is ticket:
                return True
            if waiting.key != ticket.key:
                return False
        raise AssertionError("a waiting thread's ticket is in the queue")

    def _nest(self, held: _Turn, key: Hashable, activate: Activate, me: int) -> _Turn:
        if self._nesting is not None:
            raise RuntimeError(
                f"two holders of {held.key!r} each entered another key inside it: each would wait for the other"
            )
        self._nesting = me
        try:
            self._mutex.wait_for(lambda: len(held.holders) == 1)
        finally:
            self._nesting = None
            self._mutex.notify_all()
        held.deactivate()
        turn = _Turn(key, activate)
        turn.holders[me] = 1
        try:
            turn.deactivate = activate()
        except BaseException:
            held.deactivate = held.activate()
            raise
        self._turns.append(turn)
        return turn

    def _leave(self, turn: _Turn, me: int) -> None:
        depth = turn.holders[me] - 1
        if depth:
            turn.holders[me] = depth
            return
        del turn.holders[me]
        if turn.holders:
            self._mutex.notify_all()  # a holder may wait for the others to leave, to nest
            return
        assert self._turns[-1] is turn, "turns end in the order they started"
        self._turns.pop()
        try:
            turn.deactivate()
        finally:
            if self._turns:
                resumed = self._turns[-1]
                resumed.deactivate = resumed.activate()
            self._mutex.notify_all()


# os.environ is the process's: two stacks in one process (tests do that) must not run functions
# at the same time, or one would run with the other's tables and endpoints. One lock for every
# runtime, and the environment os.environ holds is remembered process-wide (runtime, function).
_PROCESS_LOCK = EnvironmentLock()
_APPLIED: list[tuple[int, str] | None] = [None]
_APPLIED_NAMES: set[str] = set()  # the variables it set, which the next function may not have
_RUNTIMES = itertools.count()


class FunctionRuntime:
    """Loads each function's app.py once, under its own module name, and invokes it like Lambda:
    with the environment the template gives it, a context carrying its timeout; invocations of one
    function at the same time, of different functions one after the other."""

    def __init__(self, resolved: dict[str, str], overrides: dict[str, str]) -> None:
        self._resolved = resolved
        self._overrides = overrides
        self._lock = _PROCESS_LOCK
        self._number = next(_RUNTIMES)  # not id(): a new runtime may get a dead one's id
        self._modules: dict[str, ModuleType] = {}
        self._loading = threading.Lock()  # concurrent first invocations load app.py once
        self._containers: dict[str, Container] = {}
        functions = resources("AWS::Serverless::Function")
        globals_timeout = load_template()["Globals"]["Function"].get("Timeout", 3)
        self.timeouts = {
            name: int(res["Properties"].get("Timeout", globals_timeout)) for name, res in functions.items()
        }

    @contextlib.contextmanager
    def environment_of(self, logical: str) -> Iterator[None]:
        """Run code (an invocation, or the stack's own setup) as function `logical` would: with
        its environment, and its container as `dependencies.current()`. Other threads may run as
        the same function meanwhile, never as another one."""
        with self._lock.hold((self._number, logical), lambda: self._start(logical)):
            yield

    def _start(self, logical: str) -> Callable[[], None]:
        """Function `logical`'s turn starts (under the lock's mutex, before any of its holders
        runs): its environment in os.environ, its container current. Returns what ends the turn."""
        if _APPLIED[0] != (self._number, logical):
            applied = self.environment_for(logical)
            for name in _APPLIED_NAMES - applied.keys():
                os.environ.pop(name, None)  # the previous function's own (its QUEUE_URL), not this one's
            os.environ.update(applied)
            _APPLIED_NAMES.clear()
            _APPLIED_NAMES.update(applied)
            _APPLIED[0] = (self._number, logical)
        # Imported only once an environment is applied, so Powertools reads the functions'
        # settings (log level, service) when the layer first loads.
        from slack_integration import dependencies
        from slack_integration.config import load_settings

        container = self._containers.get(logical)
        if container is None:
            container = self._containers[logical] = _shared_container_type()(load_settings())
        # One `use` for the whole turn, not one per holder: nested per holder, the first to leave
        # would put the previous container back while the others still run.
        using = dependencies.use(container)
        using.__enter__()

        def end() -> None:
            try:
                if dependencies.current() is not container:
                    # The code called dependencies.reset(), which forgot the process's boto3
                    # clients: every function's container holds stale ones. Each builds a new
                    # one on its next use.
                    self._containers = {}
            finally:
                using.__exit__(None, None, None)

        return end

    def _exclusive(self) -> contextlib.AbstractContextManager[None]:
        """A turn of its own: no function of this runtime (or any other) runs meanwhile."""
        return self._lock.hold((self._number, None), lambda: _nothing)

    def environment_for(self, logical: str) -> dict[str, str]:
        """The environment function `logical` runs with here (the template's, plus the stack's)."""
        return {**environment(logical, self._resolved), **self._overrides}

    def override(self, values: dict[str, str]) -> None:
        """More environment for every function (what the stack learns once its servers listen)."""
        with self._exclusive():
            self._overrides.update(values)
            _APPLIED[0] = None
            self._containers.clear()

    def forget_containers(self) -> None:
        """Drop every function's container (after a dependencies.reset() made outside any function's
        environment): each builds a new one the next time its environment is applied."""
        with self._exclusive():
            self._containers.clear()

    def invoke(self, logical: str, event: dict[str, Any]) -> Any:
        with self.environment_of(logical):
            module = self._module(logical)
            context = LambdaContext(
                function_name=logical,
                aws_request_id=str(uuid.uuid4()),
                invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{logical}",
                remaining_ms=self.timeouts[logical] * 1000,
            )
            try:
                return module.lambda_handler(event, context)
            finally:
                # With POWERTOOLS_METRICS_DISABLED, Powertools skips the flush but keeps every
                # value in memory; a long-running local stack would grow without end.
                from slack_integration.observability import metrics

                metrics.clear_metrics()

    def _module(self, logical: str) -> ModuleType:
        with self._loading:
            if logical not in self._modules:
                directory = function_directory(logical)
                spec = importlib.util.spec_from_file_location(
                    f"functions_{directory}_app", ROOT / "functions" / directory / "app.py"
                )
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
                self._modules[logical] = module
            return self._modules[logical]


@cache
def _shared_container_type() -> Callable[[Settings], Container]:
    """`dependencies.Container`, each of whose services is built once even when concurrent
    invocations first ask for it at the same moment. functools.cached_property has no lock since
    Python 3.12: two threads could each build, say, a TokenStore, and the function would keep two
    token caches (and SlackGateways holding either)."""
    from slack_integration.dependencies import Container

    class SharedContainer(Container):
        def __init__(self, settings: Settings) -> None:
            super().__init__(settings)
            # Re-entrant: building one service builds those it needs.
            self._building = threading.RLock()

    for name, member in vars(Container).items():
        if isinstance(member, cached_property):
            built_once = _built_once(member)
            built_once.__set_name__(SharedContainer, name)
            setattr(SharedContainer, name, built_once)
    return SharedContainer


def _built_once(service: cached_property[Any]) -> cached_property[Any]:
    name = service.attrname

    def build(container: Any) -> Any:
        with container._building:
            if name not in container.__dict__:  # else built by another thread while this one waited
                # Kept before the lock is released: cached_property keeps it only after build returns.
                container.__dict__[name] = service.func(container)
            return container.__dict__[name]

    built_once: cached_property[Any] = cached_property(build)
    built_once.__doc__ = service.__doc__
    return built_once
