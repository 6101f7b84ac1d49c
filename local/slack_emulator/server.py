"""HTTP front of the emulator: Slack's wire format, token extraction, fault injection, answer
time (latency), call log.

Faults act at the transport level (before or after the method runs) because that is where the
real failures the client has to survive happen: throttling, load-balancer pages, dropped sockets.
A latency setting (SlackEmulator.set_latency) delays a Web API call before it runs, on the
request's own thread and outside the state lock, so concurrent calls overlap as they do on Slack.

Besides the Web API under /api/, the same server answers the OAuth authorize page a browser is
sent to (/oauth/v2/authorize, authorize.py) and the emulator's own control endpoint (/_emulator/,
control.py), kept off /api/ so it can never shadow a Slack method.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local.slack_emulator import authorize
from local.slack_emulator.methods import ApiCall, dispatch
from local.slack_emulator.state import EmulatorState, Fault
from local.slack_emulator.wire import Reply, json_reply

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
_API_PREFIX = "/api/"
CONTROL_PREFIX = "/_emulator/"
# Credentials an app sends oauth.v2.access: they never reach the call log (the token never
# reaches params at all, see _read_call).
_SECRET_PARAMS = frozenset({"client_secret", "code", "refresh_token", "code_verifier"})
# (verb, path, query, body) -> reply; the SlackEmulator's control routes.
ControlHandler = Callable[[str, str, str, bytes], Reply]
_HTML_ERROR_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n"
    "<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)


class MalformedRequestError(Exception):
    """The body could not be decoded; carries the Slack error string to answer with."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class EmulatorHTTPServer(ThreadingHTTPServer):
    """One thread per request; daemon threads so a hung slow fault never blocks interpreter exit."""

    daemon_threads = True
    # socketserver's default listen backlog of 5 drops connections when a benchmark or a test opens
    # dozens at once, and the clients then stall a second on SYN retries.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState, control: ControlHandler | None = None) -> None:
        super().__init__(address, SlackRequestHandler)
        self.state = state
        self.control = control

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients vanishing mid-request are expected here; keep them out of stderr."""
        _log.debug("connection from %s ended with an error", client_address, exc_info=True)


class SlackRequestHandler(BaseHTTPRequestHandler):
    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "SlackEmulator/1.0"
    sys_version = ""
    timeout = 10  # a client that announces more body than it sends must not pin a thread forever

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default access log writes every request line to stderr."""

    def _route(self, verb: str) -> None:
        """Anything outside the authorize page and the control endpoint is a Web API call (an
        unknown path answers unknown_method, as before those existed)."""
        url = urlsplit(self.path)
        if url.path == authorize.AUTHORIZE_PATH:
            self._send(self._answer_page(verb, url.query))
        elif url.path.startswith(CONTROL_PREFIX) and self.server.control is not None:
            try:
                body = self._read_raw_body()
            except MalformedRequestError:
                self._send(json_reply(400, {"ok": False, "error": "invalid_body"}))
                return
            self._send(self.server.control(verb, url.path, url.query, body))
        else:
            self._handle_api_call()

    def _answer_page(self, verb: str, query: str) -> Reply:
        try:
            form = _parse_form(query)
            if verb == "POST":
                form.update(_parse_form(self._read_raw_body().decode("utf-8")))
        except (MalformedRequestError, UnicodeDecodeError):
            return authorize.error_page("The request could not be read.")
        return authorize.answer(self.server.state, verb, form)

    def _handle_api_call(self) -> None:
        url = urlsplit(self.path)
        method = url.path[len(_API_PREFIX) :].strip("/") if url.path.startswith(_API_PREFIX) else ""
        call, authorization = self._read_call(method, url.query)
        state = self.server.state
        fault = state.take_fault(method)
        latency_ms = state.draw_latency(method)
        if latency_ms is not None:
            # Slack's answer time, before the method runs (like a `slow` fault, which adds to it).
            # draw_latency has let go of the lock: other calls go on meanwhile.
            time.sleep(latency_ms / 1000)
        reply = _outcome(state, call, fault)
        record: dict[str, Any] = {
            "method": method,
            # The token never reaches params (see _read_call); an app's credentials are dropped here.
            "params": {name: value for name, value in call.params.items() if name not in _SECRET_PARAMS},
            "team_id": state.team_of(call.token),
            "status": reply.status if reply is not None else None,
            "fault": fault.kind if fault is not None else None,
            "authorization": authorization,
        }
        if latency_ms is not None:  # only then, so records of calls without a latency keep their shape
            record["latency_ms"] = latency_ms
        state.record_call(record)  # before answering, so a test reading calls() right after sees it
        if reply is None:
            self._drop_connection()
        else:
            self._send(reply)

    def _read_call(self, method: str, query: str) -> tuple[ApiCall, str | None]:
        """Parse params from the query string and body; the token comes out of them, never logged."""
        parse_error = None
        try:
            params = _parse_form(query)
            params.update(self._read_body())
        except MalformedRequestError as err:
            params, parse_error = {}, err.error
        param_token = params.pop("token", None)
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        basic_auth = _basic_credentials(credentials) if scheme.lower() == "basic" else None
        if scheme.lower() == "bearer" and credentials.strip():
            token, authorization = credentials.strip(), "bearer"
        elif basic_auth is not None:
            token, authorization = None, "basic"
        elif param_token:
            token, authorization = str(param_token), "param"
        else:
            token, authorization = None, None
        return ApiCall(method, params, token, parse_error, basic_auth), authorization

    def _read_body(self) -> dict[str, Any]:
        body = self._read_raw_body()
        if not body:
            return {}
        content_type = self.headers.get_content_type()
        if content_type == "application/json":
            return _parse_json(body)
        if content_type == "application/x-www-form-urlencoded":
            try:
                return _parse_form(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise MalformedRequestError("invalid_form_data") from None
        raise MalformedRequestError("invalid_form_data")

    def _read_raw_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would be taken for the next request
            raise MalformedRequestError("invalid_form_data")
        try:
            return self.rfile.read(length)
        except OSError:
            self.close_connection = True
            raise MalformedRequestError("invalid_form_data") from None

    def _send(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            # The client already gave up (e.g. its timeout fired during a slow fault).
            self.close_connection = True

    def _drop_connection(self) -> None:
        """Close the socket without a byte of response, so the client sees a real disconnect."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _outcome(state: EmulatorState, call: ApiCall, fault: Fault | None) -> Reply | None:
    """The reply to send, or None to drop the connection (drop_after runs the method first)."""
    if fault is None:
        return _answer(state, call)
    if fault.kind == "drop_before":
        return None
    if fault.kind == "drop_after":
        _answer(state, call)
        return None
    if fault.kind == "slow":
        time.sleep(fault.delay)
        return _answer(state, call)
    return _fault_reply(fault)


def _answer(state: EmulatorState, call: ApiCall) -> Reply:
    try:
        answer = dispatch(state, call)
    except Exception:  # a bug in a method must not kill the server thread
        _log.exception("emulator failed while answering %s", call.method)
        return json_reply(200, {"ok": False, "error": "internal_error"})
    return json_reply(answer.status, answer.body, answer.headers)


def _fault_reply(fault: Fault) -> Reply:
    """The answer of a fault that replies instead of running the method."""
    if fault.kind == "ratelimited":
        return json_reply(
            fault.http_status, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        )
    if fault.kind == "error":
        return json_reply(fault.http_status, {"ok": False, "error": fault.error or "internal_error"})
    # server_error: what a load balancer in front of Slack sends, not Slack's JSON
    reason = SlackRequestHandler.responses.get(fault.http_status, ("Error",))[0]
    page = _HTML_ERROR_PAGE.format(status=fault.http_status, reason=reason)
    return Reply(fault.http_status, page.encode("utf-8"), content_type="text/html")


def _basic_credentials(credentials: str) -> tuple[str, str] | None:
    """(client_id, client_secret) of an `Authorization: Basic` value, or None if it is not one."""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except ValueError:  # also covers binascii.Error and UnicodeDecodeError
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon else None


def _parse_form(text: str) -> dict[str, Any]:
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True, errors="strict"))
    except ValueError:  # includes UnicodeDecodeError from a percent-encoded non-UTF-8 byte
        raise MalformedRequestError("invalid_form_data") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        raise MalformedRequestError("invalid_json") from None
    if not isinstance(value, dict):
        raise MalformedRequestError("invalid_json")
    return value
