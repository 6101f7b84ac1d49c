"""The whole product on one machine: the real handlers of template.yaml, wired as AWS would wire them.

- AWS: moto's server on loopback, with the template's tables and queues (and their redrive).
- Slack: the project's emulator seeded with the demo workspace, with Buster's Slack app
  registered in it (its consent page, oauth.v2.access, and signed events sent to this stack's
  /slack/events), or a real workspace when SLACK_BOT_TOKEN is set (SLACK_API_URL optional).
- HTTP API: every HttpApi route of the template, on loopback, turned into API Gateway v2 events
  after verifying a local HS256 JWT the way the JWT authorizer would (401 otherwise).
- SQS: a poller per consumer, invoking it in batches of 10 like the event source mapping, as
  many batches at once as the template's MaximumConcurrency and reserved concurrency allow (a
  FIFO queue's message group in one batch at a time): records reported as failed stay on the
  queue with the visibility the handler gave them, the others are deleted; moto's redrive moves
  a message after maxReceiveCount receives.
- EventBridge: the health function on a timer; receipts go to moto's EventBridge, whose rules
  (the template's) put Buster's domain events on the intake queue the domain events function polls.
- DynamoDB streams: the deliveries table's, read from moto and handed to the receipts function
  the way its event source mapping would (local.streams).

Functions run in this one process, each with the environment the template gives it and its own
container of the layer's services; that keeps Lambda's "one function per container" true for the
layer's per-container caches without a process per function. Invocations of one function run at
the same time (sharing its container), another function's wait for them (local.runtime: the
environment is the process's).

State: in memory (a stack of tests and benchmarks), or kept in a state directory across restarts
(`make run`: .local-state), saved at stop and restored at start by local.persistence.

This module brings the stack up and down (LocalStack, StackInfo); the pieces are local.runtime
(the functions), local.api_server (the HTTP API), local.pollers (SQS and the schedule),
local.persistence (the state directory) and local.cli (`python -m local.stack`, behind `make run`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from local import dev_jwt, moto_fixes, persistence
from local.api_server import LOCAL_AUDIENCE, LOCAL_ISSUER, ApiServer
from local.pollers import Poller, Schedule
from local.runtime import ACCOUNT_ID, REGION, FunctionRuntime
from local.streams import StreamPoller, StreamReader, stream_filters
from local.template import (
    ROOT,
    condition_holds,
    create_queues,
    create_rules,
    create_tables,
    load_template,
    parameter_default,
    sqs_concurrency,
)

# Importable from here, including names the modules above define (local.demo, tests and benchmarks use them).
__all__ = [
    "ACCOUNT_ID",
    "DEMO_CHANNEL",
    "DEMO_SEED",
    "DEMO_USER",
    "LOCAL_AUDIENCE",
    "LOCAL_ISSUER",
    "REGION",
    "FunctionRuntime",
    "LocalStack",
    "StackInfo",
]

T = TypeVar("T")

DEMO_SEED = ROOT / "local" / "slack_emulator" / "demo_seed.json"
DEMO_USER = "user-demo-1"
DEMO_CHANNEL = "alerts"


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
    # Add to Slack in a browser: this page signs in as the demo user and goes to Slack's consent.
    connect_url: str = ""
    slack_authorize_url: str = ""
    slack_events_url: str = ""
    # Where the state is kept across restarts; "" = in memory (lost at stop).
    state_dir: str = ""


class LocalStack:
    """The stack's bring-up and stop: start() runs everything and returns where it runs."""

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
        token_rotation: bool = False,
        state_dir: str | os.PathLike[str] | None = None,
        consumer_concurrency: int | None = None,
    ) -> None:
        self._host = host
        # Suffix of every table and queue name (moto's backends are shared by all stacks of a process).
        self._name = name
        self._consumers = consumers
        # Batches each SQS consumer runs at once; None: as the template deploys it (1: one at a time).
        if consumer_concurrency is not None and consumer_concurrency < 1:
            raise ValueError(f"consumer_concurrency must be at least 1, not {consumer_concurrency}")
        self._consumer_concurrency = consumer_concurrency
        # Template parameter overrides, as `sam deploy --parameter-overrides` would give them.
        self._parameters = dict(parameters or {})
        self._sqs: Any = None
        self._pollers: list[Poller] = []
        self._delivery_stop = threading.Event()
        self._ports = {"api": api_port, "aws": aws_port, "slack": slack_port}
        self._slack_bot_token = slack_bot_token
        self._slack_api_url = slack_api_url
        self._health_interval = health_interval
        self._verbose = verbose
        self._jwt_secret_given = bool(jwt_secret)
        self._jwt_secret = jwt_secret or os.urandom(24).hex()
        self._stop = threading.Event()
        self._saved_environ: dict[str, str] | None = None
        self._moto: Any = None
        self._emulator: Any = None
        self._api: ApiServer | None = None
        self._threads: list[threading.Thread] = []
        self.runtime: FunctionRuntime | None = None
        self.info: StackInfo | None = None
        self._client_id = ""
        # The emulated Slack app rotates its tokens (12-hour tokens, renewed by the functions).
        self._token_rotation = token_rotation
        # None: everything in memory. Otherwise saved at stop(), restored by start().
        self.state_dir = persistence.StateDir(state_dir) if state_dir is not None else None
        self.restored: persistence.Restored | None = None  # what start() brought back, if anything
        self.queued_at_stop: dict[str, int] = {}  # what stop() found on the queues
        self.saved_to: Path | None = None  # where stop() saved the state
        self.unsaved_at_stop = 0  # messages stop() counted but could not read into the snapshot
        self._restored_through: int | None = None  # the deliveries stream's last restored record
        self._receipts: tuple[StreamReader, persistence.Invoke] | None = None
        self._started = False

    # lifecycle

    def start(self) -> StackInfo:
        from moto.server import ThreadedMotoServer

        # moto's server does not fail on a taken port, it waits; say so at once instead.
        _ports_free(self._host, self._ports)
        moto_fixes.install()
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
        # Buster's domain events: the template's rules on moto's default bus, into the intake queue.
        create_rules(boto3.client("events"), sqs, queues, suffix=self._name)

        slack_mode = "slack" if self._slack_bot_token else "emulator"
        if slack_mode == "emulator":
            # Each stack registers its own app in its own emulator; moto's secrets are shared by
            # every stack of a process, so each keeps its app's credentials under its own name.
            self._parameters.setdefault("SlackAppSecretName", f"buster/slack/app-{self._name}")
        snapshot = self._restore(slack_mode, aws_endpoint, tables, queues)
        if slack_mode == "emulator":
            from local.slack_emulator import SlackEmulator

            self._emulator = SlackEmulator()
            if snapshot is not None and snapshot.get("slack") is not None:
                self._emulator.restore(snapshot["slack"])
            else:
                self._emulator.load_seed(DEMO_SEED)
            slack_api_url = self._emulator.start(host=self._host, port=self._ports["slack"])
        else:
            slack_api_url = self._slack_api_url or "https://slack.com/api/"

        overrides = {
            "SLACK_API_URL": slack_api_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "false" if self._verbose else "true",
            # Quiet by default: no JSON log lines unless --verbose (a failure still shows).
            "POWERTOOLS_LOG_LEVEL": "INFO" if self._verbose else "ERROR",
            "POWERTOOLS_METRICS_NAMESPACE": str(
                load_template()["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
            ),
        }
        runtime = FunctionRuntime({**tables, **queues, **self._parameters}, overrides)
        self.runtime = runtime
        self._api = ApiServer((self._host, self._ports["api"]), runtime, self._jwt_secret, self._verbose)
        api_host, api_port = self._api.server_address[:2]
        api_url = f"http://{api_host}:{api_port}"
        if slack_mode == "emulator":
            self._register_slack_app(api_url)
        with runtime.environment_of("InstallationFunction"):
            from slack_integration import dependencies

            # Clients an earlier stack of this process made would still talk to its moto. The
            # runtime sees the reset: this function goes on with a new container, the others
            # build theirs on first use.
            dependencies.reset()
            self._connect_demo_user(slack_mode, api_url)

        self.info = StackInfo(
            api_url=api_url,
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
            connect_url=f"{api_url}/_local/connect" if slack_mode == "emulator" else "",
            slack_authorize_url=self._emulator.authorize_url if self._emulator is not None else "",
            slack_events_url=f"{api_url}/slack/events" if slack_mode == "emulator" else "",
            state_dir=str(self.state_dir.path) if self.state_dir is not None else "",
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
        self._spawn(Schedule(runtime, "HealthFunction", self._health_interval, self._stop))
        if self._consumers:
            # Like the SQS pollers, an event source mapping: a stack started without consumers
            # (make bench) runs none, so nothing else takes the runtime from what it measures.
            self._spawn(self._receipts_poller(tables["DeliveriesTable"], aws_endpoint))
        self._started = True
        return self.info

    def _restore(
        self, slack_mode: str, endpoint: str, tables: dict[str, str], queues: dict[str, str]
    ) -> dict[str, Any] | None:
        """The state dir's snapshot into moto's new tables, secrets and queues (the emulator's part
        is start()'s), before anything reads them; the snapshot, or None for a fresh start."""
        snapshot = self.state_dir.load() if self.state_dir is not None else None
        if snapshot is None:
            return None
        persistence.check_mode(snapshot, slack_mode)
        self.restored = persistence.restore(
            snapshot, endpoint=endpoint, tables=tables, queues=queues, app_secret_name=self._app_secret_name
        )
        # The receipts poller starts later and reads the stream from its start: what is there now
        # is the restore's writes, whose receipts were published before the restart.
        self._restored_through = persistence.stream_end(endpoint, tables["DeliveriesTable"])
        if not self._jwt_secret_given and snapshot.get("jwtSecret"):
            self._jwt_secret = str(snapshot["jwtSecret"])  # a dev token from before stays valid
        return snapshot

    @property
    def _app_secret_name(self) -> str:
        return self._parameters.get("SlackAppSecretName") or str(parameter_default("SlackAppSecretName"))

    def _receipts_poller(self, table: str, endpoint: str) -> StreamPoller:
        """The deliveries table's stream -> the receipts function, as its event source mapping."""
        import boto3

        assert self.runtime is not None
        runtime = self.runtime
        stream_arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
        reader = StreamReader(
            boto3.client("dynamodbstreams", endpoint_url=endpoint),
            stream_arn,
            stream_filters("ReceiptsFunction", "DeliveriesStream"),
        )
        invoke: persistence.Invoke = lambda event: runtime.invoke("ReceiptsFunction", event)  # noqa: E731
        if self._restored_through is not None:
            invoke = persistence.skip_restored(invoke, self._restored_through)
        self._receipts = (reader, invoke)
        return StreamPoller(reader, invoke, self._stop)

    def start_consumers(self) -> None:
        """The SQS pollers (started by start() unless `consumers=False` or DeliveryEnabled=false)."""
        assert self.runtime is not None and self.info is not None
        if self._pollers:
            return
        self._delivery_stop = threading.Event()
        for logical, queue in (
            ("SendFunction", "SendQueue"),
            ("ReplyFunction", "ReplyQueue"),
            ("DomainEventsFunction", "DomainEventsQueue"),
        ):
            concurrency = self._consumer_concurrency or sqs_concurrency(logical, queue, self._parameters)
            poller = Poller(
                self.runtime, logical, self.info.queues[queue], self._sqs, self._delivery_stop, concurrency=concurrency
            )
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

    def stop(self) -> dict[str, int]:
        """Stop every thread and server, save the state (with a state dir) and give the process
        its environment back. Returns the messages left on the send, reply and domain events
        queues and their dead-letter queues (logical id -> count; also `queued_at_stop`): kept
        in the state dir, or lost in memory. persistence.StateError, once everything is
        stopped, if the state could not be saved."""
        self._stop.set()
        self._delivery_stop.set()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        failure: Exception | None = None
        if self._started and self.info is not None:  # not after a failed start: a partial state
            self._started = False  # must not replace the saved one
            try:
                self.queued_at_stop = persistence.queued_messages(self.info.aws_endpoint, self.info.queues)
            except Exception:
                traceback.print_exc()
            if self.state_dir is not None:
                try:
                    self._save()
                except Exception as exc:
                    failure = persistence.StateError(f"could not save the state to {self.state_dir.path}: {exc!r}")
                    failure.__cause__ = exc
        if self._emulator is not None:
            self._emulator.stop()
        if self._moto is not None:
            self._moto.stop()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
        from slack_integration import dependencies

        dependencies.reset()
        if self.runtime is not None:
            self.runtime.forget_containers()
        if failure is not None:
            raise failure
        return dict(self.queued_at_stop)

    def _save(self) -> None:
        assert self.info is not None and self.state_dir is not None
        if self._receipts is not None:
            # The event source mapping catches up first: a delivery of the last half second
            # gets its receipt now, as the restored stack will not emit it.
            reader, invoke = self._receipts
            try:
                reader.deliver(invoke)
            except Exception:
                traceback.print_exc()
        snapshot = persistence.capture(
            endpoint=self.info.aws_endpoint,
            tables=self.info.tables,
            queues=self.info.queues,
            app_secret_name=self._app_secret_name,
            token_prefix=self._parameters.get("TokenSecretPrefix") or self.info.token_secret_prefix,
            slack_mode=self.info.slack_mode,
            emulator=self._emulator,
            jwt_secret=self._jwt_secret,
        )
        self.saved_to = self.state_dir.save(snapshot)
        saved = sum(len(snapshot["queues"].get(queue, [])) for queue in self.queued_at_stop)
        self.unsaved_at_stop = max(0, sum(self.queued_at_stop.values()) - saved)

    @property
    def emulator(self) -> Any:
        """The Slack emulator this stack runs (None with a real workspace): tests and the bench
        seed it and break it on purpose."""
        return self._emulator

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

    def _register_slack_app(self, api_url: str) -> None:
        """Buster's Slack app, as an operator sets it up: registered in Slack (the emulator) with
        the stack's callback and events URLs, its credentials in Secrets Manager."""
        import boto3

        assert self.runtime is not None and self._emulator is not None
        callback = f"{api_url}/slack/oauth/callback"
        credentials = self._restored_app()
        if credentials is not None:
            # The same app as before the restart (its installs, tokens and the app secret came
            # back with it), now at this run's URLs. Rotation can be turned on, never off.
            self._emulator.update_oauth_app(
                credentials["clientId"],
                redirect_uri=callback,
                events_url=f"{api_url}/slack/events",
                **({"token_rotation": True} if self._token_rotation else {}),
            )
        else:
            credentials = {
                "clientId": f"{int.from_bytes(os.urandom(4), 'big'):010d}.{int.from_bytes(os.urandom(5), 'big'):013d}",
                "clientSecret": os.urandom(16).hex(),
                "signingSecret": os.urandom(16).hex(),
            }
            self._emulator.add_oauth_app(
                credentials["clientId"],
                credentials["clientSecret"],
                redirect_uri=callback,
                signing_secret=credentials["signingSecret"],
                events_url=f"{api_url}/slack/events",
                token_rotation=self._token_rotation,
            )
            name = self._app_secret_name
            secrets = boto3.client("secretsmanager")
            try:
                secrets.create_secret(Name=name, SecretString=json.dumps(credentials))
            except secrets.exceptions.ResourceExistsException:  # a stack of the same name ran in this process
                secrets.put_secret_value(SecretId=name, SecretString=json.dumps(credentials))
        return_path = self._parameters.get("DashboardReturnPath") or str(parameter_default("DashboardReturnPath"))
        self.runtime.override(
            {
                "SLACK_OAUTH_AUTHORIZE_URL": self._emulator.authorize_url,
                "SLACK_OAUTH_REDIRECT_URL": callback,
                # The local API serves the reference dashboard (local/dashboard) at the return path.
                "DASHBOARD_RETURN_URL": f"{api_url}{return_path}",
            }
        )
        self._client_id = credentials["clientId"]

    def _restored_app(self) -> dict[str, str] | None:
        """The app's credentials when the state dir brought back both its secret and its
        registration in the emulator (same client id), else None (register a new one)."""
        if self.restored is None or self._emulator is None:
            return None
        credentials = persistence.app_credentials(os.environ["AWS_ENDPOINT_URL"], self._app_secret_name)
        if credentials is None:
            return None
        known = {app["client_id"] for app in self._emulator.oauth_apps()}
        return credentials if credentials["clientId"] in known else None

    def _connect_demo_user(self, slack_mode: str, api_url: str) -> None:
        from pydantic import SecretStr

        from slack_integration import dependencies

        container = dependencies.current()  # InstallationFunction's: start() runs this in its environment
        if slack_mode == "emulator":
            # Add to Slack, as the demo user would: a state, Slack's consent (the emulator's, for
            # the seed's workspace), the callback's code exchange.
            from urllib.parse import parse_qs, urlsplit

            assert self._emulator is not None
            existing = container.integrations.get_by_user(DEMO_USER)
            if existing is not None and existing.is_active:
                return  # restored from the state dir, with its channel and token: nothing to redo
            seed = json.loads(DEMO_SEED.read_text())["workspaces"][0]
            host = urlsplit(api_url).netloc
            url = container.install_flow.start(DEMO_USER, host)
            state = parse_qs(urlsplit(url).query)["state"][0]
            code = self._emulator.issue_oauth_code(
                self._client_id, seed["team_id"], redirect_uri=f"{api_url}/slack/oauth/callback"
            )
            outcome = container.install_flow.finish({"code": code, "state": state}, host)
            if not outcome.endswith("slack=connected"):
                raise RuntimeError(f"the demo user's Add to Slack failed: {outcome}")
            return
        token = SecretStr(self._slack_bot_token or "")
        identity = container.slack.identify(token)
        container.installation.connect(DEMO_USER, identity.team_id, identity.team_name or identity.team_id, token)


_PORT_OPTIONS = {
    "api": "--api-port / LOCAL_API_PORT",
    "aws": "--aws-port / LOCAL_AWS_PORT",
    "slack": "--slack-port / LOCAL_SLACK_PORT",
}


def _ports_free(host: str, ports: dict[str, int]) -> None:
    """OSError naming the first port (0 = any, always free) something already listens on."""
    import socket

    for role, port in ports.items():
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                # As the servers bind: a port whose old connections wait in TIME_WAIT (a
                # `make run` just stopped) is free; only a listening socket takes it.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
            except OSError:
                raise OSError(
                    f"port {port} ({role}) on {host} is already in use: is another `make run` up? "
                    f"Stop it, or choose another port with {_PORT_OPTIONS[role]}"
                ) from None


if __name__ == "__main__":
    from local.cli import main

    sys.exit(main())
