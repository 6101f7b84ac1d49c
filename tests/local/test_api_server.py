"""The local HTTP API over real sockets: API Gateway's framing (400 for a malformed or negative
Content-Length, 413 over 10 MiB, chunked bodies read, a stalled body never holding the server up),
keep-alive, what reaches the function, the dashboard's files, /_local/env, and a prompt stop."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from local import api_server
from local.api_server import MAX_BODY_BYTES, READ_TIMEOUT, RETURN_PATH, ApiServer
from local.runtime import FunctionRuntime
from local.stack import DEMO_USER
from tests.support.local_stack import running_stack

DASHBOARD_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@pytest.fixture(scope="module")
def stack():
    with running_stack("api-server", consumers=False) as started:
        yield started


def address(info) -> tuple[str, int]:
    host, port = info.api_url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def connect(info, timeout: float = 15.0) -> socket.socket:
    connection = socket.create_connection(address(info), timeout=timeout)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def request_bytes(method: str, path: str, headers: dict[str, str] | list[tuple[str, str]], body: bytes = b"") -> bytes:
    items = headers.items() if isinstance(headers, dict) else headers
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
    return head.encode("latin-1") + body


def read_answer(reader, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response from a socket's file (Content-Length framed, as this server frames all;
    none after a HEAD)."""
    status_line = reader.readline()
    if not status_line:
        raise ConnectionError("closed without an answer")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b"" if head else reader.read(int(headers.get("content-length", "0")))
    return status, headers, body


def exchange(info, data: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(data)
        return read_answer(reader)


def closed(reader) -> bool:
    try:
        return reader.read(1) == b""
    except ConnectionError:
        return True


def auth(info) -> dict[str, str]:
    return {"Authorization": f"Bearer {info.dev_token}"}


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def get_json(info, path: str, token: bool = True) -> tuple[int, Any]:
    request = urllib.request.Request(info.api_url + path, headers=auth(info) if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def captured(stack, monkeypatch):
    """Every event the stack's functions are invoked with in this test (they still run)."""
    local, _ = stack
    events: list[dict[str, Any]] = []
    invoke = local.runtime.invoke

    def spy(logical: str, event: dict[str, Any]) -> Any:
        events.append(event)
        return invoke(logical, event)

    monkeypatch.setattr(local.runtime, "invoke", spy)
    return events


# -- Content-Length ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lengths",
    [["abc"], ["12abc"], ["+5"], ["1_0"], ["0x10"], ["5, 5"], ["1e3"], [""], ["²"], ["5", "6"]],
    ids=["letters", "trailing", "plus", "underscore", "hex", "list", "exponent", "empty", "unicode-digit", "two"],
)
def test_a_malformed_content_length_is_400_before_any_function_runs(stack, captured, lengths):
    _, info = stack
    headers = [*auth(info).items(), *(("Content-Length", value) for value in lengths)]
    data = request_bytes("PUT", "/integration/channel", headers, b'{"channelId":"C0DEMOENG01"}')

    status, answer_headers, body = exchange(info, data)

    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
    assert answer_headers["connection"] == "close"
    assert captured == []


@pytest.mark.parametrize("length", ["-1", "-27", "-0"])
def test_a_negative_content_length_is_400(stack, captured, length):
    _, info = stack
    data = request_bytes("PUT", "/integration/channel", {**auth(info), "Content-Length": length}, b"{}")

    status, _, body = exchange(info, data)

    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
    assert captured == []


def test_two_framings_at_once_are_400(stack, captured):
    """Content-Length and Transfer-Encoding together is how requests are smuggled past a proxy."""
    _, info = stack
    body = chunked(b'{"channelId":"C0DEMOENG01"}')
    headers = {**auth(info), "Content-Length": str(len(body)), "Transfer-Encoding": "chunked"}

    status, _, answer = exchange(info, request_bytes("PUT", "/integration/channel", headers, body))

    assert (status, json.loads(answer)) == (400, {"message": "Bad Request"})
    gzip = {**auth(info), "Transfer-Encoding": "gzip, chunked"}
    assert exchange(info, request_bytes("PUT", "/integration/channel", gzip, body))[0] == 400
    assert captured == []


def test_a_body_shorter_than_its_length_is_refused_soon_and_holds_no_one_up(stack, captured):
    _, info = stack
    with connect(info) as stalled, stalled.makefile("rb") as reader:
        started = time.monotonic()
        stalled.sendall(
            request_bytes("PUT", "/integration/channel", {**auth(info), "Content-Length": "100"}, b'{"channelId":')
        )
        # Meanwhile another client is served at once, twice.
        for _ in range(2):
            asked = time.monotonic()
            assert get_json(info, "/integration/status")[0] == 200
            assert time.monotonic() - asked < 2.0
        try:
            status, _, body = read_answer(reader)
        except ConnectionError:
            status, body = None, b""  # closed without an answer is fine too
        waited = time.monotonic() - started

    assert waited < READ_TIMEOUT + 1.5
    assert status in (None, 400)
    if status == 400:
        assert json.loads(body) == {"message": "Bad Request"}
    assert [event["routeKey"] for event in captured] == ["GET /integration/status"] * 2


def test_a_client_closing_mid_body_gets_400(stack, captured):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("POST", "/slack/events", {"Content-Length": "50"}, b'{"type":'))
        connection.shutdown(socket.SHUT_WR)
        assert read_answer(reader)[0] == 400
    assert captured == []


# -- chunked bodies ------------------------------------------------------------------------------------


def test_a_chunked_body_reaches_the_function(stack, captured):
    _, info = stack
    headers = {**auth(info), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    body = chunked(b'{"chann', b'elId": "C0DEMO', b'ENG01"}')

    status, _, answer = exchange(info, request_bytes("PUT", "/integration/channel", headers, body))

    assert status == 200, answer
    assert captured[-1]["body"] == '{"channelId": "C0DEMOENG01"}'
    assert get_json(info, "/integration/channel")[1]["notificationChannel"]["channelId"] == "C0DEMOENG01"
    # and back, the same way
    body = chunked(b'{"channelId": "C0DEMOALR01"}')
    assert exchange(info, request_bytes("PUT", "/integration/channel", headers, body))[0] == 200
    assert get_json(info, "/integration/channel")[1]["notificationChannel"]["channelId"] == "C0DEMOALR01"


def test_a_malformed_chunk_is_400(stack, captured):
    _, info = stack
    headers = {**auth(info), "Transfer-Encoding": "chunked"}
    status, _, body = exchange(info, request_bytes("PUT", "/integration/channel", headers, b"zz\r\n{}\r\n0\r\n\r\n"))

    assert (status, json.loads(body)) == (400, {"message": "Bad Request"})
    assert captured == []


# -- the payload limit ---------------------------------------------------------------------------------


def test_a_content_length_over_10_mib_is_413_without_reading_the_body(stack, captured):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("POST", "/slack/events", {"Content-Length": str(MAX_BODY_BYTES + 1)}))
        status, headers, body = read_answer(reader)
    assert (status, json.loads(body)) == (413, {"message": "Request Entity Too Large"})
    assert headers["connection"] == "close"
    assert captured == []


def test_a_body_over_10_mib_sent_whole_still_gets_its_413(stack, captured):
    _, info = stack
    body = b"x" * (MAX_BODY_BYTES + 1)
    status, _, answer = exchange(info, request_bytes("POST", "/slack/events", {"Content-Length": str(len(body))}, body))
    assert (status, json.loads(answer)) == (413, {"message": "Request Entity Too Large"})


def test_a_chunked_body_over_10_mib_is_413(stack, captured):
    _, info = stack
    part = b"y" * (1024 * 1024)
    body = chunked(*([part] * 11))
    status, _, answer = exchange(info, request_bytes("POST", "/slack/events", {"Transfer-Encoding": "chunked"}, body))
    assert (status, json.loads(answer)) == (413, {"message": "Request Entity Too Large"})
    assert captured == []


def test_a_body_of_exactly_10_mib_reaches_the_function(stack, captured):
    _, info = stack
    body = b"z" * MAX_BODY_BYTES
    status, _, answer = exchange(info, request_bytes("POST", "/slack/events", {"Content-Length": str(len(body))}, body))
    # Slack's events route is public: the function itself refuses the unsigned body.
    assert (status, json.loads(answer)["code"]) == (401, "SIGNATURE_INVALID")
    assert len(captured[-1]["body"]) == MAX_BODY_BYTES


# -- keep-alive ----------------------------------------------------------------------------------------


def test_two_requests_on_one_connection(stack, captured):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("GET", "/integration/status", auth(info)))
        first = read_answer(reader)
        # A body read to its end (chunked, here) leaves the connection ready for the next request.
        body = chunked(b'{"channelId": "C0DEMOALR01"}')
        headers = {**auth(info), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        connection.sendall(request_bytes("PUT", "/integration/channel", headers, body))
        second = read_answer(reader)
        connection.sendall(request_bytes("GET", "/_local/info", {"Connection": "close"}))
        third = read_answer(reader)
        assert closed(reader)

    assert first[0] == 200
    assert "connection" not in first[1]
    assert second[0] == 200 and json.loads(second[2])["success"] is True
    assert third[0] == 200 and third[1]["connection"] == "close"
    assert [event["routeKey"] for event in captured] == ["GET /integration/status", "PUT /integration/channel"]


def test_an_idle_kept_alive_connection_is_closed_after_the_read_timeout(stack):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("GET", "/_local/info", {}))
        assert read_answer(reader)[0] == 200
        started = time.monotonic()
        assert closed(reader)
        assert time.monotonic() - started < READ_TIMEOUT + 1.5


# -- what reaches the function -------------------------------------------------------------------------


def test_the_event_carries_the_request_as_sent(stack, captured):
    """Raw path and query, repeated parameters and headers as API Gateway's stand-in always passed
    them (the last one), and the body's exact bytes (Slack signs them)."""
    _, info = stack
    body = '{"type":"event_callback","text":"café ☕ \\u00e9"}'.encode()
    headers = [("X-Slack-Signature", "v0=first"), ("X-Slack-Signature", "v0=second"), ("Content-Length", len(body))]
    data = request_bytes("POST", "/slack/events?a=1&a=2&empty=&b=x%20y", headers, body)

    status, _, _ = exchange(info, data)

    assert status == 401  # unsigned: the function refused it
    [event] = captured
    assert event["rawPath"] == "/slack/events"
    assert event["rawQueryString"] == "a=1&a=2&empty=&b=x%20y"
    assert event["queryStringParameters"] == {"a": "2", "empty": "", "b": "x y"}
    assert event["headers"]["x-slack-signature"] == "v0=second"
    assert event["body"] == body.decode()
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert "authorizer" not in event["requestContext"]


def test_path_parameters_are_decoded_and_claims_passed(stack, captured):
    _, info = stack
    assert get_json(info, "/messages/no%20such%20id/thread")[0] == 404
    [event] = captured
    assert event["pathParameters"] == {"internalMessageId": "no such id"}
    assert event["rawPath"] == "/messages/no%20such%20id/thread"
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == DEMO_USER


def test_a_crashed_function_is_a_bare_500(stack, monkeypatch, capsys):
    local, info = stack

    def crash(logical: str, event: dict[str, Any]) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(local.runtime, "invoke", crash)
    status, headers, body = exchange(info, request_bytes("GET", "/integration/status", auth(info)))

    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["content-type"] == "application/json"
    assert b"secret internals" not in body and b"Traceback" not in body
    assert "secret internals" in capsys.readouterr().err  # the stack's log has it


def test_a_function_answer_that_is_not_a_response_is_500(stack, monkeypatch):
    local, info = stack
    monkeypatch.setattr(local.runtime, "invoke", lambda logical, event: "just a string")
    assert exchange(info, request_bytes("GET", "/integration/status", auth(info)))[0] == 500


def test_unauthorized_unknown_and_preflight(stack, captured):
    _, info = stack
    status, _, body = exchange(info, request_bytes("GET", "/integration/status", {}))
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    for method, path in (("GET", "/nope"), ("PATCH", "/integration/channel"), ("DELETE", "/_local/info")):
        status, _, body = exchange(info, request_bytes(method, path, auth(info)))
        assert (status, json.loads(body)) == (404, {"message": "Not Found"}), (method, path)
    status, headers, body = exchange(info, request_bytes("OPTIONS", "/integration/channel", {}))
    assert (status, body) == (204, b"")
    assert headers["access-control-allow-origin"] == "*"
    assert "PUT" in headers["access-control-allow-methods"]
    assert captured == []


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"GET /_local/info HTTP/1.1 extra\r\n\r\n", 400, "Bad Request"),
        (b"GET /_local/info HTTX/1.1\r\n\r\n", 400, "Bad Request"),
        (
            request_bytes("GET", "/_local/info", [(f"X-{n}", "1") for n in range(101)]),
            431,
            "Request Header Fields Too Large",
        ),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
    ],
    ids=["request-line", "version", "too-many-headers", "long-target"],
)
def test_what_http_server_refuses_is_in_api_gateways_words(stack, data, status, message):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(data)
        answer = read_answer(reader)
        assert closed(reader)
    assert (answer[0], json.loads(answer[2])) == (status, {"message": message})


# -- the dashboard's files -----------------------------------------------------------------------------


def assert_dashboard_headers(headers: dict[str, str]) -> None:
    assert headers["content-security-policy"] == DASHBOARD_CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/", RETURN_PATH, f"{RETURN_PATH}?slack=connected", "/dashboard/index.html"])
def test_the_dashboards_index_answers_its_pages(stack, path):
    _, info = stack
    status, headers, body = exchange(info, request_bytes("GET", path, {}))

    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == (api_server.DASHBOARD / "index.html").read_bytes()
    assert_dashboard_headers(headers)


def test_dashboard_files_have_their_types(stack, monkeypatch, tmp_path):
    _, info = stack
    files = {
        "index.html": ("text/html; charset=utf-8", b"<!doctype html><title>t</title>"),
        "app.js": ("text/javascript; charset=utf-8", b"console.log(1);"),
        "style.css": ("text/css; charset=utf-8", b"body{margin:0}"),
        "img/logo.svg": ("image/svg+xml; charset=utf-8", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        "data.bin": ("application/octet-stream", b"\x00\x01"),
    }
    for name, (_, content) in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    monkeypatch.setattr(api_server, "DASHBOARD", tmp_path)

    for name, (content_type, content) in files.items():
        status, headers, body = exchange(info, request_bytes("GET", f"/dashboard/{name}", {}))
        assert (status, headers["content-type"], body) == (200, content_type, content), name
        assert_dashboard_headers(headers)
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("HEAD", "/dashboard/app.js", {}))
        status, headers, _ = read_answer(reader, head=True)
        assert (status, headers["content-length"]) == (200, str(len(files["app.js"][1])))
        connection.sendall(request_bytes("GET", "/dashboard/app.js", {}))  # no body came after the HEAD's
        assert read_answer(reader)[2] == files["app.js"][1]


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/../api_server.py",
        "/dashboard/%2e%2e/api_server.py",
        "/dashboard/..%2fapi_server.py",
        "/dashboard/%2E%2E%2Fapi_server.py",
        "/dashboard/img/../../api_server.py",
        "/dashboard//etc/passwd",
        "/dashboard/%2fetc%2fpasswd",
        "/dashboard/.secret",
        "/dashboard/img%00.svg",
        "/dashboard/missing.js",
        "/dashboard/img",
        "/dashboard/outside.txt",
    ],
)
def test_no_file_outside_the_dashboard_is_served(stack, monkeypatch, tmp_path, path):
    _, info = stack
    dashboard = tmp_path / "dashboard"
    (dashboard / "img").mkdir(parents=True)
    (dashboard / ".secret").write_text("hidden")
    (tmp_path / "secret.txt").write_text("outside")
    (dashboard / "outside.txt").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(api_server, "DASHBOARD", dashboard)

    status, _, body = exchange(info, request_bytes("GET", path, {}))

    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_a_missing_favicon_is_no_content_not_a_404(stack, monkeypatch, tmp_path):
    _, info = stack
    monkeypatch.setattr(api_server, "DASHBOARD", tmp_path)
    assert exchange(info, request_bytes("GET", "/favicon.ico", {}))[:3:2] == (204, b"")
    (tmp_path / "favicon.ico").write_bytes(b"icon")
    status, headers, body = exchange(info, request_bytes("GET", "/favicon.ico", {}))
    assert (status, headers["content-type"], body) == (200, "image/x-icon", b"icon")


def test_one_date_and_conditional_gets(stack):
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(request_bytes("GET", "/dashboard/index.html", {}))
        reader.readline()
        lines = []
        while (line := reader.readline()) != b"\r\n":
            lines.append(line.decode("latin-1").lower())
        etag = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("etag:"))
        assert len([line for line in lines if line.startswith("date:")]) == 1
        reader.read(int(next(line.split(":", 1)[1] for line in lines if line.startswith("content-length:"))))
        connection.sendall(request_bytes("GET", "/dashboard/index.html", {"If-None-Match": etag}))
        status, headers, body = read_answer(reader)
    assert (status, body) == (304, b"")
    assert_dashboard_headers(headers)


def test_a_lower_case_method_is_no_get(stack):
    _, info = stack
    assert exchange(info, request_bytes("get", "/_local/info", {}))[0] == 404


def test_the_connect_page_still_goes_to_slack(stack):
    _, info = stack
    status, headers, _ = exchange(info, request_bytes("GET", "/_local/connect", {}))
    assert status == 302
    assert headers["location"].startswith(info.slack_authorize_url + "?")


# -- /_local/env ---------------------------------------------------------------------------------------


def test_local_env_is_what_the_operator_command_needs_and_no_secret(stack):
    local, info = stack
    import boto3

    status, env = get_json(info, "/_local/env", token=False)

    assert status == 200
    assert env["INTEGRATIONS_TABLE"] == info.tables["IntegrationsTable"]
    assert env["DELIVERIES_TABLE"] == info.tables["DeliveriesTable"]
    assert env["SEND_QUEUE_URL"] == info.queues["SendQueue"]
    assert env["SEND_DLQ_URL"] == info.queues["SendDeadLetterQueue"]
    assert env["REPLY_DLQ_URL"] == info.queues["ReplyDeadLetterQueue"]
    assert env["TOKEN_SECRET_PREFIX"] == info.token_secret_prefix
    assert env["SLACK_API_URL"] == info.slack_api_url
    assert env["AWS_ENDPOINT_URL"] == info.aws_endpoint
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("local", "local")
    assert "QUEUE_URL" not in env and "DEAD_LETTER_QUEUE_URL" not in env
    secrets = boto3.client("secretsmanager", endpoint_url=info.aws_endpoint, region_name=info.region)
    app = json.loads(secrets.get_secret_value(SecretId=env["SLACK_APP_SECRET_NAME"])["SecretString"])
    served = json.dumps(env)
    for secret in (app["clientSecret"], app["signingSecret"], local._jwt_secret, info.dev_token):
        assert secret not in served


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "10.0.0.1:3000"])
def test_local_env_is_refused_under_another_sites_name(stack, host):
    """A page whose DNS name was rebound to 127.0.0.1 still sends its own name as Host."""
    _, info = stack
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(f"GET /_local/env HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        status, _, body = read_answer(reader)
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    with connect(info) as connection, connection.makefile("rb") as reader:
        connection.sendall(b"GET /_local/env HTTP/1.1\r\nHost: localhost:3000\r\n\r\n")
        assert read_answer(reader)[0] == 200


# -- the server itself ---------------------------------------------------------------------------------


def test_the_server_stops_at_once_with_clients_connected():
    runtime = FunctionRuntime({}, {})
    server = ApiServer(("127.0.0.1", 0), runtime, "secret", False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    port = server.server_address[1]
    idle = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled.sendall(b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{")
    time.sleep(0.3)  # both are being served
    started = time.monotonic()

    server.shutdown()
    server.server_close()
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert time.monotonic() - started < 1.5
    with idle, idle.makefile("rb") as reader:
        assert closed(reader)
    stalled.close()
    with socket.socket() as probe, pytest.raises(OSError):
        probe.settimeout(1)
        probe.connect(("127.0.0.1", port))


def test_a_server_never_started_stops_at_once():
    server = ApiServer(("127.0.0.1", 0), FunctionRuntime({}, {}), "secret", False)
    server.shutdown()
    server.server_close()


def test_a_taken_port_is_an_oserror_not_an_exit():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            ApiServer(("127.0.0.1", port), FunctionRuntime({}, {}), "secret", False)


def test_requests_are_logged_only_when_verbose(capsys, caplog):
    import logging

    for verbose in (False, True):
        server = ApiServer(("127.0.0.1", 0), FunctionRuntime({}, {}), "secret", verbose)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        try:
            with caplog.at_level(logging.INFO, logger="werkzeug"):
                caplog.clear()
                with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/nope", timeout=5):
                    pass
        except urllib.error.HTTPError as error:
            assert error.code == 404
        finally:
            server.shutdown()
            server.server_close()
        logged = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
        assert bool([line for line in logged if "/nope" in line]) is verbose


def test_the_dashboard_directory_is_local_dashboard():
    assert Path(api_server.__file__).resolve().parent / "dashboard" == api_server.DASHBOARD
