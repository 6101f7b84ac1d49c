"""The local Lambda runtime: each function of template.yaml, loaded from functions/*/app.py and
invoked in this process with the environment the template gives it.

Invocations run one at a time (a lock), so `os.environ` holds one function's environment at a
time. Each function also has its own composition root (`dependencies.Container`), built the first
time its environment is applied and kept for the stack's life: like a warm Lambda container, it
keeps its boto3 clients, Slack clients and token cache between invocations, and the send and reply
consumers each keep their own queue settings.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from local.lambda_events import LambdaContext
from local.template import ROOT, environment, function_directory, load_template, resources

if TYPE_CHECKING:
    from slack_integration.dependencies import Container

# The account and region the local functions believe they run in (ARNs, AWS_REGION).
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


# os.environ is the process's: two stacks in one process (tests do that) must not run functions
# at the same time, or one would run with the other's tables and endpoints. One lock for every
# runtime, and the environment os.environ holds is remembered process-wide (runtime, function).
_PROCESS_LOCK = threading.RLock()
_APPLIED: list[tuple[int, str] | None] = [None]
_RUNTIMES = itertools.count()


class FunctionRuntime:
    """Loads each function's app.py once, under its own module name, and invokes it like Lambda:
    with the environment the template gives it, a context carrying its timeout, one at a time."""

    def __init__(self, resolved: dict[str, str], overrides: dict[str, str]) -> None:
        self._resolved = resolved
        self._overrides = overrides
        self._lock = _PROCESS_LOCK
        self._number = next(_RUNTIMES)  # not id(): a new runtime may get a dead one's id
        self._modules: dict[str, ModuleType] = {}
        self._containers: dict[str, Container] = {}
        functions = resources("AWS::Serverless::Function")
        globals_timeout = load_template()["Globals"]["Function"].get("Timeout", 3)
        self.timeouts = {
            name: int(res["Properties"].get("Timeout", globals_timeout)) for name, res in functions.items()
        }

    @contextlib.contextmanager
    def environment_of(self, logical: str) -> Iterator[None]:
        """Run code (an invocation, or the stack's own setup) as function `logical` would: with
        its environment, and its container as `dependencies.current()`."""
        with self._lock:
            if _APPLIED[0] != (self._number, logical):
                os.environ.update(self.environment_for(logical))
                _APPLIED[0] = (self._number, logical)
            # Imported only once an environment is applied, so Powertools reads the functions'
            # settings (log level, service) when the layer first loads.
            from slack_integration import dependencies
            from slack_integration.config import load_settings

            container = self._containers.get(logical)
            if container is None:
                container = self._containers[logical] = dependencies.Container(load_settings())
            with dependencies.use(container):
                try:
                    yield
                finally:
                    now = dependencies.current()
                    if now is not container:
                        # The code called dependencies.reset(), which forgot the process's boto3
                        # clients: every function's container holds stale ones. This function
                        # keeps the container the code went on with (or a new one); the others
                        # build new ones on their next use.
                        self._containers = {logical: now}

    def environment_for(self, logical: str) -> dict[str, str]:
        """The environment function `logical` runs with here (the template's, plus the stack's)."""
        return {**environment(logical, self._resolved), **self._overrides}

    def override(self, values: dict[str, str]) -> None:
        """More environment for every function (what the stack learns once its servers listen)."""
        with self._lock:
            self._overrides.update(values)
            _APPLIED[0] = None
            self._containers.clear()

    def forget_containers(self) -> None:
        """Drop every function's container (after a dependencies.reset() made outside any function's
        environment): each builds a new one the next time its environment is applied."""
        with self._lock:
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
