"""The local HTTP API: every HttpApi route of template.yaml, served on loopback like API Gateway.

A request to a known route must carry a local HS256 JWT, verified the way the template's JWT
authorizer would (401 otherwise, and the function never runs); it then becomes an API Gateway v2
event for the route's function, whose answer becomes the HTTP response. Slack's own two routes
(the OAuth callback, the events) are public, as in the template.

The stack's own loopback routes: POST /_local/notify (a producer for the dashboard's "try it"
panel: a tracked notification, or a reply, for the signed-in user), GET /_local/info (the stack's
StackInfo, for `make demo`),
GET /_local/token (a dev JWT for any user, for `make token`), GET /_local/env (the environment the
operator command needs, for `make admin`) and GET /_local/connect (Add to Slack as the demo user,
or `?user=ID`: it asks POST /integration/install for Slack's URL and goes there).

The dashboard's static files (local/dashboard/) are served at /dashboard/<file>; its index.html
also answers GET / and the return page the OAuth callback sends the browser back to
(DashboardReturnPath), where the dashboard reads ?slack=connected or ?slack=error&code=CODE.

HTTP itself is werkzeug's server with API Gateway's framing rules instead of a dev server's: a
malformed, negative or ambiguous Content-Length is 400, a body over 10 MiB is 413, a chunked body
is read like any other, and a client that stops sending mid-body gets 400 after READ_TIMEOUT
seconds (every socket read has that timeout) without holding up anyone else. Connections are
kept alive between requests, and shutdown() closes them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import ipaddress
import json
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.datastructures import Headers
from werkzeug.exceptions import NotFound
from werkzeug.security import safe_join
from werkzeug.serving import DechunkedInput, ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from local import dev_jwt
from local.lambda_events import http_api_event
from local.runtime import FunctionRuntime
from local.template import function_directory, http_routes, parameter_default, public_routes, resources

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from local.stack import StackInfo

RETURN_PATH = str(parameter_default("DashboardReturnPath"))

# The local stack's own identity provider (what the template's JwtIssuer / JwtAudience name in AWS).
LOCAL_ISSUER = "http://127.0.0.1/local-idp"
LOCAL_AUDIENCE = "buster-dashboard"

# The reference dashboard's static files (index.html, app.js, style.css, ...).
DASHBOARD = Path(__file__).resolve().parent / "dashboard"
DASHBOARD_PREFIX = "/dashboard/"
# What a careful dashboard sends with every file: nothing inline, nothing from elsewhere, no framing.
DASHBOARD_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# Pinned, so a file's type never depends on the machine's mime.types (with nosniff, a wrong one breaks it).
# (werkzeug adds "; charset=utf-8" to the text ones.)
CONTENT_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
}

# API Gateway HTTP API's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
# Every read from a client's socket (request line, headers, body, the next request on a kept-alive
# connection) waits at most this long; a body may take BODY_SECONDS in all.
READ_TIMEOUT = 5.0
BODY_SECONDS = 30.0

# The operator command (python -m slack_integration.admin) runs with the environment of this
# function (the Globals: every table, the token prefix, the Slack app's secret name, Slack's URL),
# plus the queues its redrive needs, plus the stack's AWS endpoint.
ADMIN_LIKE = "HealthFunction"
ADMIN_QUEUES = {
    "SEND_QUEUE_URL": "SendQueue",
    "SEND_DLQ_URL": "SendDeadLetterQueue",
    "REPLY_QUEUE_URL": "ReplyQueue",
    "REPLY_DLQ_URL": "ReplyDeadLetterQueue",
}
# Names of values /_local/env never serves (a bot token, a password, a key); *_NAME and *_PREFIX
# name where a secret is kept, not the secret.
_SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|CREDENTIALS?|PRIVATE_KEY|ACCESS_KEY)$")

# What the handler puts in the WSGI environ: the request target and headers exactly as received.
RAW_TARGET = "local.raw_target"
RAW_HEADERS = "local.raw_headers"
# Framing is the connection's business, never the app's or a function's.
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # /messages/{internalMessageId}/thread
    pattern: re.Pattern[str]
    logical: str
    public: bool = False

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def compile_routes() -> list[Route]:
    by_directory = {function_directory(name): name for name in resources("AWS::Serverless::Function")}
    routes = []
    public = public_routes()
    for (method, template), directory in http_routes().items():
        parts = re.split(r"\{(\w+)\}", template)  # literal, name, literal, name, ...
        regex = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)" for index, part in enumerate(parts))
        routes.append(
            Route(method, template, re.compile(f"^{regex}$"), by_directory[directory], (method, template) in public)
        )
    return routes


# API Gateway's words where they are not (or no longer, RFC 9110's) Python's.
_MESSAGES = {413: "Request Entity Too Large", 414: "Request-URI Too Long"}


def _message(status: int) -> bytes:
    """API Gateway's own answers: {"message": "Not Found"} and the like."""
    try:
        phrase = _MESSAGES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return json.dumps({"message": phrase}).encode()


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _bare(status: int, headers: dict[str, str]) -> Response:
    """An answer of headers only (no werkzeug default content type)."""
    response = Response(status=status, headers=headers)
    del response.headers["content-type"]
    return response


def _api_error(status: int) -> Response:
    return Response(_message(status), status=status, content_type="application/json")


class _Refused(Exception):
    """The request's framing is refused before any route sees it (400, 413)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ApiRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, with the request body read here, by API Gateway's rules, before
    the app runs, and HTTP/1.1 keep-alive (werkzeug's closes every connection, since it cannot
    tell whether the app read the body; here the body is always read, or the connection closed)."""

    server: ApiServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT  # StreamRequestHandler.setup() puts it on the socket

    def setup(self) -> None:
        super().setup()
        self._linger = False

    def log(self, type: str, message: str, *args: Any) -> None:
        if self.server.verbose:
            super().log(type, message, *args)

    def run_wsgi(self) -> None:  # every method (werkzeug routes do_* here)
        self.environ = environ = self.make_environ()
        headers = list(self.headers.items())
        environ[RAW_TARGET] = self.path
        environ[RAW_HEADERS] = headers
        try:
            body = self._read_body(headers)
        except _Refused as refused:
            # The rest of the body may still be on its way: answer, then read it away (finish()),
            # so the client sees this answer and not a reset connection.
            self.close_connection = True
            self._linger = True
            self._write(refused.status, [("content-type", "application/json")], _message(refused.status))
            return
        environ["wsgi.input"] = BytesIO(body)
        environ["wsgi.input_terminated"] = True
        environ["CONTENT_LENGTH"] = str(len(body))
        status, response_headers, payload = self._call(self.server.app, environ)
        # A HEAD's answer has no body but the length the GET's would have (werkzeug's Response says it).
        length = next((value for name, value in response_headers if name.lower() == "content-length"), None)
        self._write(int(status.split(" ", 1)[0]), response_headers, payload, length if self.command == "HEAD" else None)

    def _read_body(self, headers: list[tuple[str, str]]) -> bytes:
        lengths = [value.strip(" \t") for name, value in headers if name.lower() == "content-length"]
        codings = [value.strip(" \t").lower() for name, value in headers if name.lower() == "transfer-encoding"]
        read: Callable[[int], bytes]
        if codings:
            # Both framings at once is how requests get smuggled; and chunked is the only coding known here.
            if lengths or codings != ["chunked"]:
                raise _Refused(400)
            read, expected = DechunkedInput(self.rfile).read, None
        else:
            if len(set(lengths)) > 1 or not all(_DIGITS.fullmatch(value) for value in lengths):
                raise _Refused(400)  # "abc", "-1", "+5", "1_0", "5, 6", two different values
            expected = int(lengths[0]) if lengths else 0
            if expected > MAX_BODY_BYTES:
                raise _Refused(413)
            if expected == 0:
                return b""
            read = self.rfile.read1
        if self.request_version >= "HTTP/1.1" and self.headers.get("expect", "").strip().lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        deadline = time.monotonic() + BODY_SECONDS
        parts: list[bytes] = []
        size = 0
        try:
            while expected is None or size < expected:
                room = MAX_BODY_BYTES + 1 - size if expected is None else expected - size
                data = read(min(room, 65536))
                if not data:
                    break
                parts.append(data)
                size += len(data)
                if size > MAX_BODY_BYTES:
                    raise _Refused(413)
                if time.monotonic() > deadline:
                    raise _Refused(400)
        except OSError:
            # A read timed out (a body shorter than its Content-Length), a chunk was malformed, or
            # the client went away.
            raise _Refused(400) from None
        if expected is not None and size < expected:
            raise _Refused(400)  # the client closed its side before the whole body came
        return b"".join(parts)

    def _call(
        self, app: Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]], environ: WSGIEnvironment
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the WSGI app; its whole answer (JSON, a small file) is buffered to be framed here."""
        started: list[Any] = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = [status, headers]
            return chunks.append

        try:
            answer = app(environ, start_response)
            try:
                chunks.extend(answer)
            finally:
                close = getattr(answer, "close", None)
                if close is not None:
                    close()
            return started[0], started[1], b"".join(chunks)
        except Exception:
            traceback.print_exc()
            return "500 Internal Server Error", [("content-type", "application/json")], _message(500)

    def _write(self, code: int, headers: list[tuple[str, str]], payload: bytes, length: str | None = None) -> None:
        self.send_response(code)  # the status line (standard reason), Server and Date; logs when verbose
        for name, value in headers:
            # (send_response wrote Server and Date; werkzeug's conditional responses carry a Date too.)
            if name.lower() not in _HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        bodiless = 100 <= code < 200 or code in (204, 304)
        if not bodiless:
            self.send_header("Content-Length", length or str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        elif self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        if payload and not bodiless and getattr(self, "command", None) != "HEAD":
            self.wfile.write(payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long or too many) in
        API Gateway's words, then the connection closes."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # http.server's default when the version was unreadable
            self.request_version = "HTTP/1.1"
        self._write(code, [("content-type", "application/json")], _message(code))

    def finish(self) -> None:
        super().finish()
        if self._linger:
            _drain(self.connection)


def _drain(connection: socket.socket) -> None:
    """A lingering close: the answer is sent, our side is shut, what the client still sends is read
    away for a moment (closing with unread data would reset the connection, answer included)."""
    try:
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(0.5)
        deadline = time.monotonic() + 2.0
        drained = 0
        while time.monotonic() < deadline and drained <= 2 * MAX_BODY_BYTES:
            data = connection.recv(65536)
            if not data:
                break
            drained += len(data)
    except OSError:
        pass


def _loopback(request: Request, host: str) -> bool:
    """The caller is on this machine and asked for this machine by name (a page of another site
    that rebinds its DNS name to 127.0.0.1 still sends its own name as Host)."""
    try:
        remote = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    mapped = getattr(remote, "ipv4_mapped", None)
    if not (remote.is_loopback or (mapped is not None and mapped.is_loopback)):
        return False
    if not host:
        return True  # HTTP/1.0 without Host: no browser sends that
    name = urlsplit(f"//{host}").hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def dashboard_file(name: str, environ: WSGIEnvironment) -> Response:
    """One file of local/dashboard/ (its type, no-cache and the dashboard's security headers), or
    API Gateway's 404: nothing outside the directory (safe_join, symlinks resolved), no dot files."""
    if not name or "\x00" in name or any(part.startswith(".") for part in name.split("/")):
        return _api_error(404)
    joined = safe_join(str(DASHBOARD), name)
    if joined is None or not Path(joined).resolve().is_relative_to(DASHBOARD.resolve()):
        return _api_error(404)
    content_type = CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")
    try:
        response = send_from_directory(DASHBOARD, name, environ, mimetype=content_type)
    except NotFound:
        return _api_error(404)
    response.headers.update(DASHBOARD_HEADERS)
    return response


class ApiServer(ThreadedWSGIServer):
    """The HTTP API: werkzeug's threaded server, one thread per connection, running `wsgi_app`."""

    # shutdown() and server_close() never wait on a client: server_close() shuts every open connection.
    block_on_close = False

    def __init__(self, address: tuple[str, int], runtime: FunctionRuntime, jwt_secret: str, verbose: bool) -> None:
        self.runtime = runtime
        self.jwt_secret = jwt_secret
        self.verbose = verbose
        self.routes = compile_routes()
        self.info: StackInfo  # set by the stack once it knows every address
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._serving = False
        self._stopped = False
        self._bind_error: OSError | None = None
        host, port = address[:2]
        super().__init__(host, port, self.wsgi_app, handler=ApiRequestHandler)
        if self._bind_error is not None:
            # werkzeug would print it and sys.exit(1); the stack says which port and what to do.
            error, self._bind_error = self._bind_error, None
            self.server_close()
            raise error

    # the socket server

    def server_bind(self) -> None:
        try:
            super().server_bind()
        except OSError as error:
            self._bind_error = error

    def server_activate(self) -> None:
        if self._bind_error is None:
            super().server_activate()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        with self._lock:
            if self._stopped:
                return
            self._serving = True
        super().serve_forever(poll_interval=poll_interval)

    def shutdown(self) -> None:
        """Stop serve_forever() (at once if it never ran: socketserver's would wait for it forever)."""
        with self._lock:
            self._stopped = True
            serving = self._serving
        if serving:
            super().shutdown()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # wakes its thread from a read: it ends

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None, {}

    # the app

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._respond(request)
        except Exception:
            # Whatever failed, the caller gets API Gateway's 500; the traceback stays in this log.
            traceback.print_exc()
            response = _api_error(500)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        environ = request.environ
        target = environ.get(RAW_TARGET) or environ.get("RAW_URI") or request.full_path
        headers: list[tuple[str, str]] = environ.get(RAW_HEADERS) or list(request.headers.items())
        split = urlsplit(target)
        path, method = split.path, environ["REQUEST_METHOD"]  # as sent: "get" is no GET (request.method upper-cases)
        if method == "OPTIONS":
            return _bare(
                204,
                {
                    "access-control-allow-origin": "*",
                    "access-control-allow-headers": "authorization, content-type",
                    "access-control-allow-methods": "GET, PUT, POST, DELETE, OPTIONS",
                },
            )
        if method == "POST" and path == "/_local/notify":
            return self._notify(request, _first(headers, "authorization"))
        if method == "GET" and path.startswith("/_local/"):
            local = self._local(path, dict(parse_qsl(split.query)), request, _first(headers, "host"))
            if local is not None:
                return local
        if method in ("GET", "HEAD"):
            if path in ("/", RETURN_PATH):
                return dashboard_file("index.html", environ)
            if path.startswith(DASHBOARD_PREFIX):
                return dashboard_file(unquote(path.removeprefix(DASHBOARD_PREFIX)) or "index.html", environ)
            if path == "/favicon.ico":
                # Every browser asks on every page; without an icon, "nothing" rather than a 404 in its console.
                icon = dashboard_file("favicon.ico", environ)
                return icon if icon.status_code == 200 else _bare(204, {"cache-control": "no-cache"})
        route, parameters = self.match(method, path)
        if route is None:
            return _api_error(404)
        claims = None if route.public else self._claims(_first(headers, "authorization"))
        if claims is None and not route.public:
            # API Gateway's JWT authorizer answers this itself; the function never runs.
            return _api_error(401)
        body = request.get_data()
        event = http_api_event(
            method=method,
            route_key=route.key,
            raw_path=path,
            path_parameters=parameters or None,
            raw_query=split.query,
            query=dict(parse_qsl(split.query, keep_blank_values=True)) or None,
            headers=dict(headers),
            body=body.decode("utf-8", "replace") if body else None,
            claims=claims,
            source_ip=request.remote_addr or "127.0.0.1",
        )
        # In AWS a crashed function is a 500 "Internal Server Error" from API Gateway (wsgi_app's).
        return _function_response(self.runtime.invoke(route.logical, event))

    def _local(self, path: str, query: dict[str, str], request: Request, host: str) -> Response | None:
        if path == "/_local/info":
            return _json(200, asdict(self.info))
        if path == "/_local/token":
            # Dev only, loopback only: a JWT for any user, signed with this stack's secret.
            user = query.get("user") or self.info.demo_user
            token = dev_jwt.issue(user, secret=self.jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
            return _json(200, {"user": user, "token": token})
        if path == "/_local/env":
            if not _loopback(request, host):
                return _api_error(403)
            return _json(200, self.admin_environment())
        if path == "/_local/connect":
            return self._connect(query.get("user") or self.info.demo_user, host)
        return None

    def _notify(self, request: Request, authorization: str) -> Response:
        """POST /_local/notify {"text", "replyTo"?}: what a Buster service would enqueue for the
        signed-in user (the dashboard's "try it" panel): a tracked notification on the send
        queue, or with `replyTo` a reply in that notification's thread on the reply queue."""
        claims = self._claims(authorization)
        if claims is None:
            return _api_error(401)
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _json(400, {"error": "Send a JSON object.", "code": "INVALID_REQUEST"})
        text = body.get("text") if isinstance(body, dict) else None
        reply_to = body.get("replyTo") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > 3000:
            return _json(422, {"error": "`text`: 1 to 3000 characters.", "code": "INVALID_MESSAGE"})
        if reply_to is not None and (not isinstance(reply_to, str) or not 0 < len(reply_to) <= 256):
            return _json(422, {"error": "`replyTo`: a message's internalMessageId.", "code": "INVALID_MESSAGE"})
        from slack_integration.producer import NotificationProducer

        producer = NotificationProducer(
            self.info.queues["SendQueue"], self.info.queues["ReplyQueue"], sqs=self._sqs_client
        )
        user = claims["sub"]
        if reply_to:
            producer.reply(reply_to, {"text": text}, user_id=user)
            return _json(202, {"internalMessageId": reply_to, "queued": "reply"})
        internal_id = f"try-{time.time_ns() // 1_000_000}"
        producer.send(user, {"text": text}, internal_message_id=internal_id, message_type="try-it")
        return _json(202, {"internalMessageId": internal_id, "queued": "send"})

    @functools.cached_property
    def _sqs_client(self) -> Any:
        """One client for every /_local/notify (a client per request costs its service model)."""
        import boto3

        return boto3.client(
            "sqs",
            endpoint_url=self.info.aws_endpoint,
            region_name=self.info.region,
            aws_access_key_id="local",  # what local.stack gives its functions
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
        )

    def admin_environment(self) -> dict[str, str]:
        """What `python -m slack_integration.admin` needs to work on this stack (GET /_local/env):
        the values the stack's functions get (ADMIN_LIKE's environment), the send and reply queues
        with their dead-letter queues, and moto's endpoint. No secret: the AWS credentials are the
        stack's literal "local", and no variable named like a token, password or key is served."""
        functions = self.runtime.environment_for(ADMIN_LIKE)
        environment = {name: value for name, value in functions.items() if not _SECRET_NAME.search(name)}
        environment |= {name: self.info.queues[logical] for name, logical in ADMIN_QUEUES.items()}
        environment |= {
            "AWS_ENDPOINT_URL": self.info.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "local",  # what local.stack gives its functions
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": self.info.region,
            "AWS_REGION": self.info.region,
        }
        return dict(sorted(environment.items()))

    def _connect(self, user_id: str, host: str) -> Response:
        """Add to Slack for `user_id`, as the dashboard's button would: POST /integration/install
        with the user's identity, then the browser goes to Slack's consent page."""
        event = http_api_event(
            method="POST",
            route_key="POST /integration/install",
            raw_path="/integration/install",
            path_parameters=None,
            raw_query="",
            query=None,
            headers={"host": host},
            body=None,
            claims={"sub": user_id},
        )
        answer = self.runtime.invoke("InstallationFunction", event)
        body = json.loads(answer.get("body") or "{}")
        if answer.get("statusCode") != 200:
            return _page(int(answer.get("statusCode", 500)), "Add to Slack failed", html.escape(str(body.get("error"))))
        return _bare(302, {"location": body["url"], "cache-control": "no-store"})

    def _claims(self, authorization: str) -> dict[str, str] | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = dev_jwt.verify(token.strip(), secret=self.jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
        except dev_jwt.InvalidToken:
            return None
        return dev_jwt.as_authorizer_claims(claims)


def _first(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")


def _function_response(answer: Any) -> Response:
    """A payload 2.0 answer (statusCode, headers, cookies, body, isBase64Encoded) as the response."""
    if not isinstance(answer, dict):
        raise TypeError(f"a function answered {type(answer).__name__}, not a payload 2.0 response")
    headers = Headers()
    for name, value in (answer.get("headers") or {}).items():
        if name.lower() not in _HOP_BY_HOP:
            headers[name.lower()] = str(value)
    for cookie in answer.get("cookies") or []:
        headers.add("set-cookie", str(cookie))
    text = answer.get("body") or ""
    payload = base64.b64decode(text) if answer.get("isBase64Encoded") else text.encode()
    response = Response(payload, status=int(answer.get("statusCode", 200)), headers=headers)
    if "content-type" not in headers:
        del response.headers["content-type"]  # werkzeug's text/plain default: a function's answer has none
    return response


def _page(status: int, title: str, text: str) -> Response:
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
        f"<main><h1>{title}</h1><p>{text}</p>"
        '<p><a href="/_local/connect">Add to Slack again</a></p></main></html>'
    )
    return Response(page, status=status, content_type="text/html; charset=utf-8")
