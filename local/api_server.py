"""The local HTTP API: every HttpApi route of template.yaml, served on loopback like API Gateway.

A request to a known route must carry a local HS256 JWT, verified the way the template's JWT
authorizer would (401 otherwise, and the function never runs); it then becomes an API Gateway v2
event for the route's function, whose answer becomes the HTTP response. GET /_local/info serves
the stack's StackInfo, without a token, for `make demo`. Slack's own two routes (the OAuth
callback, the events) are public, as in the template.

Two pages stand in for the dashboard until there is one: GET /_local/connect (Add to Slack as the
demo user, or `?user=ID`: it asks POST /integration/install for Slack's URL and goes there) and
the return page the OAuth callback sends the browser back to (DashboardReturnPath).
"""

from __future__ import annotations

import base64
import html
import json
import re
import traceback
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local import dev_jwt
from local.lambda_events import http_api_event
from local.runtime import FunctionRuntime
from local.template import function_directory, http_routes, parameter_default, public_routes, resources

if TYPE_CHECKING:
    from local.stack import StackInfo

RETURN_PATH = str(parameter_default("DashboardReturnPath"))

# The local stack's own identity provider (what the template's JwtIssuer / JwtAudience name in AWS).
LOCAL_ISSUER = "http://127.0.0.1/local-idp"
LOCAL_AUDIENCE = "buster-dashboard"


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


class ApiHandler(BaseHTTPRequestHandler):
    server: ApiServer
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
                "access-control-allow-methods": "GET, PUT, POST, DELETE, OPTIONS",
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
        if path == "/_local/token" and self.command == "GET":
            # Dev only, loopback only: a JWT for any user, signed with this stack's secret.
            user = dict(parse_qsl(split.query)).get("user") or self.server.info.demo_user
            token = dev_jwt.issue(user, secret=self.server.jwt_secret, issuer=LOCAL_ISSUER, audience=LOCAL_AUDIENCE)
            self._json(200, {"user": user, "token": token})
            return
        if path == "/_local/connect" and self.command == "GET":
            self._connect(dict(parse_qsl(split.query)).get("user") or self.server.info.demo_user)
            return
        if path == RETURN_PATH and self.command == "GET":
            self._returned(dict(parse_qsl(split.query)))
            return
        route, parameters = self.server.match(self.command, path)
        if route is None:
            self._json(404, {"message": "Not Found"})
            return
        claims = None if route.public else self._claims()
        if claims is None and not route.public:
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

    def _connect(self, user_id: str) -> None:
        """Add to Slack for `user_id`, as the dashboard's button would: POST /integration/install
        with the user's identity, then the browser goes to Slack's consent page."""
        event = http_api_event(
            method="POST",
            route_key="POST /integration/install",
            raw_path="/integration/install",
            path_parameters=None,
            raw_query="",
            query=None,
            headers={"host": self.headers.get("host", "")},
            body=None,
            claims={"sub": user_id},
        )
        answer = self.server.runtime.invoke("InstallationFunction", event)
        body = json.loads(answer.get("body") or "{}")
        if answer.get("statusCode") != 200:
            self._page(int(answer.get("statusCode", 500)), "Add to Slack failed", html.escape(str(body.get("error"))))
            return
        self._answer(302, {"location": body["url"], "cache-control": "no-store"}, b"")

    def _returned(self, query: dict[str, str]) -> None:
        if query.get("slack") == "connected":
            self._page(200, "Slack connected", "Buster can now post to your workspace. Pick a channel next.")
        else:
            code = html.escape(query.get("code") or "unknown")
            self._page(200, "Slack not connected", f"Add to Slack did not finish: <code>{code}</code>.")

    def _page(self, status: int, title: str, text: str) -> None:
        page = (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
            f"<main><h1>{title}</h1><p>{text}</p>"
            '<p><a href="/_local/connect">Add to Slack again</a></p></main></html>'
        )
        self._answer(status, {"content-type": "text/html; charset=utf-8"}, page.encode())

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


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], runtime: FunctionRuntime, jwt_secret: str, verbose: bool) -> None:
        super().__init__(address, ApiHandler)
        self.runtime = runtime
        self.jwt_secret = jwt_secret
        self.verbose = verbose
        self.routes = compile_routes()
        self.info: StackInfo  # set by the stack once it knows every address

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        return None, {}
