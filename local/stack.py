"""The whole product on one machine: the real handlers of template.yaml, wired as AWS would wire them.

- AWS: moto's server on loopback, with the template's tables and queues (and their redrive).
- Slack: the project's emulator seeded with the demo workspace, or a real workspace when
  SLACK_BOT_TOKEN is set (SLACK_API_URL optional).
- HTTP API: every HttpApi route of the template, on loopback, turned into API Gateway v2 events
  after verifying a local HS256 JWT the way the JWT authorizer would (401 otherwise).
- SQS: a poller per consumer, invoking it in batches of 10 like the event source mapping:
  records reported as failed stay on the queue with the visibility the handler gave them, the
  others are deleted; moto's redrive moves a message after maxReceiveCount receives.
- EventBridge: the health function on a timer.

Functions run in this one process, one invocation at a time (a lock), each with the environment
the template gives it; that keeps Lambda's "one function per container" true for the layer's
per-container caches without a process per function.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from local import dev_jwt
from local.lambda_events import LambdaContext, delete_settled, http_api_event, schedule_event, sqs_event
from local.template import (
    ROOT,
    condition_holds,
    create_queues,
    create_tables,
    environment,
    function_directory,
    http_routes,
    load_template,
    parameter_default,
    resources,
)

T = TypeVar("T")

DEMO_SEED = ROOT / "local" / "slack_emulator" / "demo_seed.json"
DEMO_USER = "user-demo-1"
DEMO_CHANNEL = "alerts"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
# The local stack's own identity provider (what the template's JwtIssuer / JwtAudience name in AWS).
LOCAL_ISSUER = "http://127.0.0.1/local-idp"
LOCAL_AUDIENCE = "buster-dashboard"


@dataclass
class StackInfo:
    """Where everything runs; also served at GET /_local/info for `make demo` (no secrets in it)."""

    api_url: str
    aws_endpoint: str
    slack_api_url: str
    slack_mode: str  # "emulator" or "slack"
    region: str
    queues: dict[str, str]
    tables: dict[str, str]
    demo_user: str
    dev_token: str
    jwt_issuer: str
    jwt_audience: str
    token_secret_prefix: str
    functions: dict[str, str] = field(default_factory=dict)


# -- functions -------------------------------------------------------------------------------


class FunctionRuntime:
    """Loads each function's app.py once, under its own module name, and invokes it like Lambda:
    with the environment the template gives it, a context carrying its timeout, one at a time."""

    def __init__(self, resolved: dict[str, str], overrides: dict[str, str]) -> None:
        self._resolved = resolved
        self._overrides = overrides
        self._lock = threading.RLock()
        self._modules: dict[str, ModuleType] = {}
        self._current: str | None = None
        functions = resources("AWS::Serverless::Function")
        globals_timeout = load_template()["Globals"]["Function"].get("Timeout", 3)
        self.timeouts = {
            name: int(res["Properties"].get("Timeout", globals_timeout)) for name, res in functions.items()
        }

    @contextlib.contextmanager
    def environment_of(self, logical: str) -> Iterator[None]:
        """Run code (an invocation, or the stack's own setup) as function `logical` would."""
        with self._lock:
            if self._current != logical:
                os.environ.update({**environment(logical, self._resolved), **self._overrides})
                from slack_integration import dependencies

                # The consumers' queue settings differ per function: rebuild what depends on them.
                dependencies.reset_consumers()
                self._current = logical
            yield

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


def _logical_by_directory() -> dict[str, str]:
    return {function_directory(name): name for name in resources("AWS::Serverless::Function")}


# -- HTTP API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    method: str
    template: str  # /messages/{internalMessageId}/thread
    pattern: re.Pattern[str]
    logical: str

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _compile_routes() -> list[_Route]:
    by_directory = _logical_by_directory()
    routes = []
    for (method, template), directory in http_routes().items():
        parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
        routes.append(_Route(method, template, re.compile(f"^{regex}$"), by_directory[directory]))
    return routes


class _ApiHandler(BaseHTTPRequestHandler):
    server: _ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Any:
        # Any other method (PATCH, TRACE, QUERY, ...) is routed like API Gateway does: no route, 404.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def do_OPTIONS(self) -> None:
        self._answer(
            204,
            {
                "access-control-allow-origin": "*",
                "access-control-allow-headers": "authorization, content-type",
                "access-control-allow-methods": "GET, PUT, OPTIONS",
            },
            b"",
        )

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        split = urlsplit(self.path)
        path = split.path
        if path == "/_local/info" and self.command == "GET":
            self._json(200, asdict(self.server.info))
            return
        route, parameters = self.server.match(self.command, path)
        if route is None:
            self._json(404, {"message": "Not Found"})
            return
        claims = self._claims()
        if claims is None:
            # API Gateway's JWT authorizer answers this itself; the function never runs.
            self._json(401, {"message": "Unauthorized"})
            return
        query = dict(parse_qsl(split.query, keep_blank_values=True)) or None
        event = http_api_event(
            method=self.command,
            route_key=route.key,
            raw_path=path,
            path_parameters=parameters or None,
            raw_query=split.query,
            query=query,
            headers={name: value for name, value in self.headers.items()},
            body=body,
            claims=claims,
            source_ip=self.client_address[0],
        )
        try:
            answer = self.server.runtime.invoke(route.logical, event)
        except Exception:
            # In AWS a crashed function is a 500 "Internal Server Error" from API Gateway.
            traceback.print_exc()
            self._json(500, {"message": "Internal Server Error"})
            return
        headers = {name.lower(): str(value) for name, value in (answer.get("headers") or {}).items()}
        text = answer.get("body") or ""
        payload = base64.b64decode(text) if answer.get("isBase64Encoded") else text.encode()
        self._answer(int(answer.get("statusCode", 200)), headers, payload)

    def _claims(self) -> dict[str, str] | None:
        authorization = self.headers.get("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = dev_jwt.verify(
                token.strip(), secret=self.server.jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE
            )
        except dev_jwt.InvalidToken:
            return None
        return dev_jwt.as_authorizer_claims(claims)

    def _json(self, status: int, body: Any) -> None:
        self._answer(status, {"content-type": "application/json"}, json.dumps(body).encode())

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: FunctionRuntime, jwt_secret: str, verbose: bool) -> None:
        super().__init__(address, _ApiHandler)
        self.runtime = runtime
        self.jwt_secret = jwt_secret
        self.verbose = verbose
        self.routes = _compile_routes()
        self.info: StackInfo

    def match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None, {}


# -- SQS and the schedule -------------------------------------------------------------------


class _Poller(threading.Thread):
    """Lambda's SQS event source mapping for one consumer (batch size 10, partial failures)."""

    def __init__(self, runtime: FunctionRuntime, logical: str, queue_url: str, sqs: Any, stop: threading.Event) -> None:
        super().__init__(name=f"poller-{logical}", daemon=True)
        self._runtime = runtime
        self._logical = logical
        self._queue_url = queue_url
        self._sqs = sqs
        self._stop_event = stop
        self._arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.batches = 0

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._poll_once()
            except Exception:
                if self._stop_event.is_set():
                    return
                traceback.print_exc()
                self._stop_event.wait(1)

    def _poll_once(self) -> None:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages or self._stop_event.is_set():
            return
        try:
            answer = self._runtime.invoke(self._logical, sqs_event(messages, self._arn))
        except Exception:
            # A failed invocation leaves the whole batch to come back after its visibility timeout.
            traceback.print_exc()
            return
        delete_settled(self._sqs, self._queue_url, messages, answer)
        self.batches += 1


class _Schedule(threading.Thread):
    def __init__(self, runtime: FunctionRuntime, logical: str, interval: float, stop: threading.Event) -> None:
        super().__init__(name=f"schedule-{logical}", daemon=True)
        self._runtime = runtime
        self._logical = logical
        self._interval = interval
        self._stop_event = stop
        self.runs = 0

    def run(self) -> None:
        rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{self._logical}Schedule"
        while not self._stop_event.wait(self._interval):
            try:
                self._runtime.invoke(self._logical, schedule_event(rule))
                self.runs += 1
            except Exception:
                traceback.print_exc()


# -- the stack -------------------------------------------------------------------------------


class LocalStack:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        api_port: int = 3000,
        aws_port: int = 5000,
        slack_port: int = 3001,
        slack_bot_token: str | None = None,
        slack_api_url: str | None = None,
        health_interval: float = 900.0,
        verbose: bool = False,
        jwt_secret: str | None = None,
        name: str = "local",
        consumers: bool = True,
        parameters: dict[str, str] | None = None,
    ) -> None:
        self._host = host
        # Suffix of every table and queue name (moto's backends are shared by all stacks of a process).
        self._name = name
        self._consumers = consumers
        # Template parameter overrides, as `sam deploy --parameter-overrides` would give them.
        self._parameters = dict(parameters or {})
        self._sqs: Any = None
        self._pollers: list[_Poller] = []
        self._delivery_stop = threading.Event()
        self._ports = {"api": api_port, "aws": aws_port, "slack": slack_port}
        self._slack_bot_token = slack_bot_token
        self._slack_api_url = slack_api_url
        self._health_interval = health_interval
        self._verbose = verbose
        self._jwt_secret = jwt_secret or os.urandom(24).hex()
        self._stop = threading.Event()
        self._saved_environ: dict[str, str] | None = None
        self._moto: Any = None
        self._emulator: Any = None
        self._api: _ApiServer | None = None
        self._threads: list[threading.Thread] = []
        self.runtime: FunctionRuntime | None = None
        self.info: StackInfo | None = None

    # lifecycle

    def start(self) -> StackInfo:
        from moto.server import ThreadedMotoServer

        self._saved_environ = dict(os.environ)
        if not self._verbose:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
        self._moto = ThreadedMotoServer(ip_address=self._host, port=self._ports["aws"], verbose=False)
        self._moto.start()
        aws_host, aws_port = self._moto.get_host_and_port()
        aws_endpoint = f"http://{aws_host}:{aws_port}"
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws_endpoint,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)

        import boto3

        tables = create_tables(boto3.client("dynamodb"), suffix=self._name)
        sqs = boto3.client("sqs")
        queues = create_queues(sqs, suffix=self._name)

        slack_mode = "slack" if self._slack_bot_token else "emulator"
        if slack_mode == "emulator":
            from local.slack_emulator import SlackEmulator

            self._emulator = SlackEmulator()
            self._emulator.load_seed(DEMO_SEED)
            slack_api_url = self._emulator.start(host=self._host, port=self._ports["slack"])
        else:
            slack_api_url = self._slack_api_url or "https://slack.com/api/"

        overrides = {
            "SLACK_API_URL": slack_api_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false" if self._verbose else "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if self._verbose else "WARNING",
            "POWERTOOLS_METRICS_NAMESPACE": str(
                load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
            ),
        }
        runtime = FunctionRuntime({**tables, **queues, **self._parameters}, overrides)
        self.runtime = runtime
        with runtime.environment_of("SetChannelFunction"):
            # Imported only now, so Powertools reads the functions' settings (log level, service).
            from slack_integration import dependencies

            dependencies.reset()
            self._connect_demo_user(slack_mode)

        self._api = _ApiServer((self._host, self._ports["api"]), runtime, self._jwt_secret, self._verbose)
        api_host, api_port = self._api.server_address[:2]
        self.info = StackInfo(
            api_url=f"http://{api_host}:{api_port}",
            aws_endpoint=aws_endpoint,
            slack_api_url=slack_api_url,
            slack_mode=slack_mode,
            region=REGION,
            queues=queues,
            tables=tables,
            demo_user=DEMO_USER,
            dev_token=dev_jwt.issue(DEMO_USER, secret=self._jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE),
            jwt_issuer=LOCAL_ISSUER,
            jwt_audience=LOCAL_AUDIENCE,
            token_secret_prefix=str(parameter_default("TokenSecretPrefix")),
            functions={route.key: route.logical for route in self._api.routes},
        )
        self._api.info = self.info
        self._spawn(
            threading.Thread(
                target=self._api.serve_forever, kwargs={"poll_interval": 0.1}, name="http-api", daemon=True
            )
        )
        self._sqs = sqs
        # The SQS event sources are Enabled only when the template's DeliveryOn condition holds.
        if self._consumers and condition_holds("DeliveryOn", self._parameters):
            self.start_consumers()
        self._spawn(_Schedule(runtime, "HealthFunction", self._health_interval, self._stop))
        return self.info

    def start_consumers(self) -> None:
        """The SQS pollers (started by start() unless `consumers=False` or DeliveryEnabled=false)."""
        assert self.runtime is not None and self.info is not None
        if self._pollers:
            return
        self._delivery_stop = threading.Event()
        for logical, queue in (("SendFunction", "SendQueue"), ("ReplyFunction", "ReplyQueue")):
            poller = _Poller(self.runtime, logical, self.info.queues[queue], self._sqs, self._delivery_stop)
            self._pollers.append(poller)
            self._spawn(poller)

    def pause_delivery(self) -> None:
        """DeliveryEnabled=false: the event source mappings stop receiving; messages wait."""
        self._delivery_stop.set()
        for poller in self._pollers:
            poller.join(timeout=10)
        self._pollers = []

    def resume_delivery(self) -> None:
        """DeliveryEnabled=true again."""
        self.start_consumers()

    def stop(self) -> None:
        """Stop every thread and server and give the process its environment back."""
        self._stop.set()
        self._delivery_stop.set()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._emulator is not None:
            self._emulator.stop()
        if self._moto is not None:
            self._moto.stop()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
        from slack_integration import dependencies

        dependencies.reset()

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def run_as(self, logical: str, work: Callable[[], T]) -> T:
        """Run `work` with function `logical`'s environment (e.g. the admin command's services)."""
        assert self.runtime is not None
        with self.runtime.environment_of(logical):
            return work()

    # internals

    def _spawn(self, thread: threading.Thread) -> None:
        thread.start()
        self._threads.append(thread)

    def _connect_demo_user(self, slack_mode: str) -> None:
        from pydantic import SecretStr

        from slack_integration import dependencies

        if slack_mode == "emulator":
            seed = json.loads(DEMO_SEED.read_text())["workspaces"][0]
            token = SecretStr(seed["tokens"][0]["token"])
        else:
            token = SecretStr(self._slack_bot_token or "")
        identity = dependencies.slack_reads().call_with_token(token, lambda client, t: client.auth_test(token=t))
        dependencies.installation_service().connect(
            DEMO_USER, str(identity["team_id"]), str(identity.get("team") or identity["team_id"]), token
        )


def banner(info: StackInfo) -> str:
    slack = "the Slack emulator (demo workspace)" if info.slack_mode == "emulator" else "your Slack workspace"
    return f"""
Buster Slack messaging: local stack is up.

  HTTP API      {info.api_url}   (every route of template.yaml, JWT required)
  AWS (moto)    {info.aws_endpoint}   (tables, queues, secrets; region {info.region})
  Slack         {info.slack_api_url}   ({slack})
  Demo user     {info.demo_user}, connected

Dev token (valid 24 h, user {info.demo_user}):
  export TOKEN={info.dev_token}

Try:
  curl -s -H "Authorization: Bearer $TOKEN" {info.api_url}/integration/channels
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{{"channelId":"C0DEMOALR01"}}' {info.api_url}/integration/channel
  curl -s -H "Authorization: Bearer $TOKEN" {info.api_url}/integration/status
  make demo      # the whole journey against this stack: send, reply, thread, stats

Queues: send {info.queues["SendQueue"]}
        reply {info.queues["ReplyQueue"]}
Ctrl-C stops everything.
"""


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m local.stack", description="Run the whole product locally.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "5000")))
    parser.add_argument("--slack-port", type=int, default=int(os.environ.get("LOCAL_SLACK_PORT", "3001")))
    parser.add_argument("--health-interval", type=float, default=900.0, help="seconds between health sweeps")
    parser.add_argument("--verbose", action="store_true", help="show the functions' logs and metrics")
    parser.add_argument("--exit-when-ready", action="store_true", help="start, print the banner, stop (a smoke test)")
    args = parser.parse_args(argv)

    stack = LocalStack(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        slack_port=args.slack_port,
        slack_bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
        slack_api_url=os.environ.get("SLACK_API_URL") or None,
        health_interval=args.health_interval,
        verbose=args.verbose,
    )
    try:
        info = stack.start()
    except OSError as err:
        print(
            f"cannot start the local stack: {err} (is another one running? see --api-port/--aws-port/--slack-port)",
            file=sys.stderr,
        )
        stack.stop()
        return 1
    print(banner(info), flush=True)
    if args.exit_when_ready:
        stack.stop()
        return 0
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    print("Stopping...", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
