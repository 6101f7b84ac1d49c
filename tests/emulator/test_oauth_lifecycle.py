"""The emulator's install lifecycle through the real slack_sdk and real HTTP: oauth.v2.access with
and without token rotation (refresh, expiry, Enterprise Grid), the authorize page a browser is
sent to, signed Events API deliveries to an app, the lifecycle actions (uninstall, channel
archive / unarchive / rename / delete) with their events, the control endpoint and its CLI.

Each event test runs a tiny app on loopback that checks Slack's signature with slack_sdk's own
SignatureVerifier, the way the product must.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.signature import SignatureVerifier

from local.slack_emulator import SlackEmulator
from tests.emulator.clients import slack_error, web_client

ROOT = Path(__file__).resolve().parents[2]
TEAM, TEAM_NAME, BOT_USER = "T0OAUTH001", "Acme Rockets", "U0OAUTHBOT"
OTHER_TEAM = "T0OAUTH002"
SEEDED_TOKEN = "xoxb-test-oauth-seeded-0001"
CLIENT_ID, CLIENT_SECRET = "1111.2222", "shh-client-secret"
ROTATING_ID, ROTATING_SECRET = "3333.4444", "shh-rotating-secret"
SIGNING_SECRET = "shh-signing-secret-0001"
REDIRECT = "https://buster.example/slack/oauth/callback"
SCOPES = ("channels:read", "chat:write", "channels:history")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signed: bool  # slack_sdk's SignatureVerifier accepted it (fresh timestamp, right secret)

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class EventsApp:
    """An app's Request URL: records each request, answers 401 to one that is not signed right,
    echoes url_verification's challenge, and answers `status` to anything else."""

    def __init__(self, secret: str = SIGNING_SECRET) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.echo_challenge = True
        verifier = SignatureVerifier(secret)
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                signed = verifier.is_valid_request(body, headers)
                app.received.append(Received(headers, body, signed))
                status, answer, content_type = app.status, b"", "text/plain"
                if not signed:
                    status = 401
                elif app.echo_challenge and json.loads(body).get("type") == "url_verification":
                    answer = json.dumps({"challenge": json.loads(body)["challenge"]}).encode()
                    content_type = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}/slack/events"

    def payloads(self) -> list[dict[str, Any]]:
        return [received.payload for received in self.received]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def _seed(emu: SlackEmulator) -> dict[str, str]:
    emu.add_workspace(TEAM, TEAM_NAME, domain="acme-rockets", bot_user_id=BOT_USER, bot_id="B0OAUTHBOT")
    emu.add_workspace(OTHER_TEAM, "Globex")
    emu.add_token(SEEDED_TOKEN, TEAM)
    return {
        "general": emu.add_channel(TEAM, "general", is_member=True)["id"],
        "random": emu.add_channel(TEAM, "random", is_member=True)["id"],
        "secret": emu.add_channel(TEAM, "secret-plans", is_private=True, is_member=True)["id"],
    }


@pytest.fixture
def emu(slack: SlackEmulator) -> SlackEmulator:
    """The suite's one server (tests/conftest.py), emptied."""
    return slack


@pytest.fixture
def channels(emu: SlackEmulator) -> dict[str, str]:
    return _seed(emu)


@pytest.fixture
def app() -> Iterator[EventsApp]:
    events_app = EventsApp()
    yield events_app
    events_app.close()


@pytest.fixture
def subscribed(emu: SlackEmulator, channels: dict[str, str], app: EventsApp) -> EventsApp:
    """A rotating app whose events go to `app`."""
    emu.add_oauth_app(
        ROTATING_ID, ROTATING_SECRET, token_rotation=True, signing_secret=SIGNING_SECRET, events_url=app.url
    )
    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(clock: FakeClock) -> Iterator[SlackEmulator]:
    """A server of its own whose wall clock the test moves, to reach a token's expiry at once."""
    server = SlackEmulator(wall_clock=clock)
    server.start()
    _seed(server)
    yield server
    server.stop()


def anonymous(emu: SlackEmulator) -> WebClient:
    return WebClient(base_url=emu.base_url, timeout=5, retry_handlers=[])


def exchange(emu: SlackEmulator, client_id: str, secret: str, code: str, **extra: Any) -> dict[str, Any]:
    answer = anonymous(emu).oauth_v2_access(client_id=client_id, client_secret=secret, code=code, **extra)
    assert isinstance(answer.data, dict)
    return answer.data


def refresh(emu: SlackEmulator, refresh_token: str, client_id: str = ROTATING_ID, secret: str = ROTATING_SECRET) -> Any:
    return anonymous(emu).oauth_v2_access(
        client_id=client_id, client_secret=secret, grant_type="refresh_token", refresh_token=refresh_token
    )


def install(emu: SlackEmulator, client_id: str = ROTATING_ID, secret: str = ROTATING_SECRET) -> dict[str, Any]:
    return exchange(emu, client_id, secret, emu.issue_oauth_code(client_id, TEAM, scopes=SCOPES))


def oauth_form(emu: SlackEmulator, form: dict[str, str]) -> dict[str, Any]:
    """oauth.v2.access with the app's credentials as form params rather than HTTP Basic."""
    answer = anonymous(emu).api_call("oauth.v2.access", data=form)
    assert isinstance(answer.data, dict)
    return answer.data


def auth_error(emu: SlackEmulator, token: str) -> str:
    return str(slack_error(lambda: web_client(emu, token).auth_test())["error"])


@dataclass
class Page:
    status: int
    headers: http.client.HTTPMessage
    text: str

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def location(self) -> str:
        return self.headers.get("Location") or ""

    @property
    def code(self) -> str:
        return parse_qs(urlsplit(self.location).query)["code"][0]


def page(emu: SlackEmulator, method: str, query: dict[str, str], form: dict[str, str] | None = None) -> Page:
    """The authorize page over plain http.client, which (unlike urllib) never follows a redirect."""
    parts = urlsplit(emu.authorize_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    body = urlencode(form).encode() if form is not None else None
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
    connection.request(method, f"{parts.path}?{urlencode(query)}" if query else parts.path, body, headers)
    response = connection.getresponse()
    answer = Page(response.status, response.headers, response.read().decode())
    connection.close()
    return answer


def control(emu: SlackEmulator, method: str, path: str, payload: Any = None) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(emu.server_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    body = payload if isinstance(payload, bytes) else None if payload is None else json.dumps(payload).encode()
    connection.request(method, path, body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, answer


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.slack_emulator", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


# -- oauth.v2.access: exchange shapes ---------------------------------------------------------


def test_an_app_without_rotation_gets_a_token_that_never_expires(emu: SlackEmulator, channels: dict[str, str]) -> None:
    # Given an app that does not rotate tokens
    registered = emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    # When an install's code is exchanged
    code = emu.issue_oauth_code(CLIENT_ID, TEAM, scopes=SCOPES, redirect_uri=REDIRECT)
    answer = exchange(emu, CLIENT_ID, CLIENT_SECRET, code, redirect_uri=REDIRECT)
    # Then the answer is Slack's long-lived shape: no refresh token, no expiry
    assert set(answer) == {
        "ok",
        "app_id",
        "authed_user",
        "scope",
        "token_type",
        "access_token",
        "bot_user_id",
        "team",
        "enterprise",
        "is_enterprise_install",
    }
    assert answer["access_token"].startswith("xoxb-") and answer["app_id"] == registered["app_id"]
    assert (answer["team"], answer["enterprise"], answer["is_enterprise_install"]) == (
        {"id": TEAM, "name": TEAM_NAME},
        None,
        False,
    )
    # And the token works; expire_tokens leaves it alone, as Slack never expires it
    assert emu.expire_tokens(TEAM) == 0
    assert web_client(emu, answer["access_token"]).auth_test()["user_id"] == BOT_USER
    # And add_oauth_app hands out no secret
    assert CLIENT_SECRET not in json.dumps(registered) and registered["token_rotation"] is False


def test_a_rotating_app_gets_an_expiring_token_and_a_refresh_token(
    emu: SlackEmulator, channels: dict[str, str]
) -> None:
    emu.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True, token_lifetime_seconds=3600)
    answer = install(emu)
    # Slack's rotating shape: xoxe.xoxb-1- access token, xoxe-1- refresh token, expires_in seconds
    assert answer["access_token"].startswith("xoxe.xoxb-1-")
    assert answer["refresh_token"].startswith("xoxe-1-")
    assert answer["expires_in"] == 3600 and answer["token_type"] == "bot"
    assert answer["scope"] == ",".join(SCOPES)
    assert web_client(emu, answer["access_token"]).auth_test()["team_id"] == TEAM
    # The default lifetime is Slack's 12 hours
    emu.add_oauth_app("5555.6666", "other", token_rotation=True)
    assert install(emu, "5555.6666", "other")["expires_in"] == 43_200


# -- refresh and expiry -----------------------------------------------------------------------


def test_refresh_gives_new_tokens_and_the_old_token_works_until_it_expires(
    timed: SlackEmulator, clock: FakeClock
) -> None:
    # Given a rotating install made at t0
    timed.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True)
    first = install(timed)
    # When it refreshes 11 hours later
    clock.now += 11 * 3600
    renewed = refresh(timed, first["refresh_token"])
    # Then it gets a new access token and a new refresh token, in Slack's refresh shape
    assert set(renewed.data) == {
        "ok",
        "app_id",
        "access_token",
        "expires_in",
        "refresh_token",
        "token_type",
        "scope",
        "bot_user_id",
        "team",
        "enterprise",
        "is_enterprise_install",
    }
    assert renewed["token_type"] == "bot" and renewed["expires_in"] == 43_200
    assert renewed["access_token"] != first["access_token"] and renewed["refresh_token"] != first["refresh_token"]
    assert (renewed["bot_user_id"], renewed["team"], renewed["scope"]) == (
        BOT_USER,
        {"id": TEAM, "name": TEAM_NAME},
        ",".join(SCOPES),
    )
    # And the old access token keeps working until its own 12 hours are over (Slack: refreshing
    # "will not immediately invalidate your existing access token")
    assert web_client(timed, first["access_token"]).auth_test()["ok"]
    clock.now += 3600
    assert auth_error(timed, first["access_token"]) == "token_expired"
    assert web_client(timed, renewed["access_token"]).chat_postMessage(channel="#general", text="still here")["ok"]
    # And the used refresh token is spent
    assert slack_error(lambda: refresh(timed, first["refresh_token"]))["error"] == "invalid_refresh_token"


def test_more_than_two_live_tokens_revoke_the_oldest(timed: SlackEmulator, clock: FakeClock) -> None:
    # Slack's "2 active token limit": refreshing twice within 12 hours revokes the first token
    timed.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True)
    first = install(timed)
    second = refresh(timed, first["refresh_token"])
    third = refresh(timed, second["refresh_token"])
    assert auth_error(timed, first["access_token"]) == "token_revoked"
    for live in (second, third):
        assert web_client(timed, live["access_token"]).auth_test()["ok"]


def test_slack_sdks_token_rotator_refreshes_against_the_emulator(timed: SlackEmulator, clock: FakeClock) -> None:
    timed.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True)
    first = install(timed)
    rotator = TokenRotator(client_id=ROTATING_ID, client_secret=ROTATING_SECRET, client=anonymous(timed))
    bot = Bot(
        bot_token=first["access_token"],
        bot_id="B0OAUTHBOT",
        bot_user_id=BOT_USER,
        bot_refresh_token=first["refresh_token"],
        bot_token_expires_at=int(time.time()) + 60,  # TokenRotator compares with the real clock
        installed_at=clock.now,
    )
    rotated = rotator.perform_bot_token_rotation(bot=bot)
    assert rotated is not None and rotated.bot_token != first["access_token"]
    assert rotated.bot_refresh_token is not None and rotated.bot_refresh_token.startswith("xoxe-1-")
    assert web_client(timed, rotated.bot_token).auth_test()["ok"]


def test_refreshes_slack_refuses(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True)
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET)
    first = install(emu)
    legacy = install(emu, CLIENT_ID, CLIENT_SECRET)

    def refused(token: str, client_id: str = ROTATING_ID, secret: str = ROTATING_SECRET) -> str:
        return str(slack_error(lambda: refresh(emu, token, client_id, secret))["error"])

    # Unknown refresh tokens, and another app's
    assert refused("xoxe-1-not-a-real-one") == "invalid_refresh_token"
    assert refused(first["refresh_token"], CLIENT_ID, CLIENT_SECRET) == "invalid_refresh_token"
    # An app without rotation has no refresh token at all: whatever it sends is not one of its own
    assert "refresh_token" not in legacy
    assert refused(legacy["access_token"], CLIENT_ID, CLIENT_SECRET) == "invalid_refresh_token"
    # Bad credentials come first, an unknown grant type after them
    assert refused(first["refresh_token"], secret="wrong") == "bad_client_secret"
    password = {"client_id": ROTATING_ID, "client_secret": ROTATING_SECRET, "grant_type": "password"}
    grant = slack_error(lambda: anonymous(emu).api_call("oauth.v2.access", data=password))
    assert grant.data == {"ok": False, "error": "invalid_grant_type"}
    # Revoked refresh tokens fail; the access token itself still works until it expires
    assert emu.revoke_refresh_tokens(TEAM) == 1
    assert refused(first["refresh_token"]) == "invalid_refresh_token"
    assert web_client(emu, first["access_token"]).auth_test()["ok"]


def test_expired_tokens_answer_token_expired_on_every_method(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True)
    token = install(emu)["access_token"]
    assert emu.expire_tokens(TEAM) == 1
    client = web_client(emu, token)
    calls = (
        client.auth_test,
        lambda: client.chat_postMessage(channel=channels["general"], text="too late"),
        lambda: client.conversations_list(),
        lambda: client.conversations_history(channel=channels["general"]),
    )
    for call in calls:
        assert slack_error(call).data == {"ok": False, "error": "token_expired"}
    # Tokens that never expire are left alone
    assert web_client(emu, SEEDED_TOKEN).auth_test()["ok"]
    assert emu.messages(channels["general"]) == []


def test_an_org_wide_install_answers_the_enterprise_grid_shape(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET)
    code = emu.issue_oauth_code(
        CLIENT_ID, TEAM, scopes=SCOPES, enterprise_install=True, enterprise_id="E0ORG00001", enterprise_name="Acme Corp"
    )
    answer = exchange(emu, CLIENT_ID, CLIENT_SECRET, code)
    # api.slack.com/enterprise/apps/reference: team null, enterprise {id, name}, is_enterprise_install
    assert answer["team"] is None
    assert answer["enterprise"] == {"id": "E0ORG00001", "name": "Acme Corp"}
    assert answer["is_enterprise_install"] is True
    whoami = web_client(emu, answer["access_token"]).auth_test()
    assert (whoami["is_enterprise_install"], whoami["enterprise_id"]) == (True, "E0ORG00001")


# -- the authorize page -----------------------------------------------------------------------


def authorize_query(**overrides: str) -> dict[str, str]:
    return {"client_id": CLIENT_ID, "scope": ",".join(SCOPES), "redirect_uri": REDIRECT, "state": "st-1", **overrides}


def test_the_authorize_page_lists_the_scopes_and_workspaces_and_escapes_what_it_echoes(
    emu: SlackEmulator, channels: dict[str, str]
) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    hostile = '"><script>alert(1)</script>'
    # When a browser opens the link the app built
    response = page(emu, "GET", authorize_query(state=hostile, scope="chat:write,<b>bold</b>", team=OTHER_TEAM))
    # Then it gets a consent form, not framed nor cached, listing the scopes and the workspaces
    assert response.status == 200 and (response.getheader("Content-Type") or "").startswith("text/html")
    assert response.getheader("X-Frame-Options") == "DENY" and response.getheader("Cache-Control") == "no-store"
    html = response.text
    assert '<form method="post"' in html and '<select id="team" name="team" required>' in html
    assert "<li><code>chat:write</code></li>" in html
    assert f'<option value="{OTHER_TEAM}" selected>' in html and f'<option value="{TEAM}">' in html
    assert '<button type="submit" name="decision" value="allow">Allow</button>' in html
    assert 'name="decision" value="deny" formnovalidate>Cancel</button>' in html
    assert f'<input type="hidden" name="redirect_uri" value="{REDIRECT}">' in html
    # And whatever came from the link is escaped, never markup
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_allowing_redirects_back_with_a_code_that_exchanges(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    # When the installer picks a workspace and allows
    response = page(emu, "POST", {}, {**authorize_query(), "team": TEAM, "decision": "allow"})
    # Then the browser goes back to the app with a code and the state
    assert response.status == 302
    location = urlsplit(response.location)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    back = parse_qs(location.query)
    assert back["state"] == ["st-1"] and len(back["code"]) == 1
    # And the code exchanges once for a token of that workspace with the requested scopes,
    # repeating the redirect_uri the link passed (Slack requires it then)
    code = back["code"][0]
    unbound = slack_error(
        lambda: anonymous(emu).oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    )
    assert unbound["error"] == "bad_redirect_uri"
    answer = exchange(emu, CLIENT_ID, CLIENT_SECRET, code, redirect_uri=REDIRECT)
    assert (answer["team"]["id"], answer["scope"]) == (TEAM, ",".join(SCOPES))


def test_the_page_can_grant_fewer_scopes_than_asked(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    emu.set_granted_scopes(CLIENT_ID, ["chat:write"])
    response = page(emu, "POST", {}, {**authorize_query(), "team": TEAM, "decision": "allow"})
    code = response.code
    assert exchange(emu, CLIENT_ID, CLIENT_SECRET, code, redirect_uri=REDIRECT)["scope"] == "chat:write"
    # None is as requested again
    emu.set_granted_scopes(CLIENT_ID, None)
    response = page(emu, "POST", {}, {**authorize_query(), "team": TEAM, "decision": "allow"})
    code = response.code
    assert exchange(emu, CLIENT_ID, CLIENT_SECRET, code, redirect_uri=REDIRECT)["scope"] == ",".join(SCOPES)


def test_cancelling_redirects_back_with_access_denied(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri="https://buster.example/cb?from=slack")
    form = {**authorize_query(redirect_uri=""), "team": TEAM, "decision": "deny"}
    response = page(emu, "POST", {}, form)
    assert response.status == 302
    # The app's registered URI is used when the link gave none, its own query kept
    assert response.location == "https://buster.example/cb?from=slack&error=access_denied&state=st-1"


@pytest.mark.parametrize(
    ("registered", "query", "reason"),
    [
        (REDIRECT, {"redirect_uri": "https://evil.example/steal"}, "redirect_uri did not match any configured URIs"),
        (None, {"redirect_uri": ""}, "no redirect URL configured"),
        (REDIRECT, {"client_id": "9999.0000"}, "Invalid client_id parameter"),
        (None, {"redirect_uri": "javascript:alert(1)"}, "must be an http or https URL"),
        (REDIRECT, {"scope": ""}, "Missing scope"),
    ],
)
def test_a_bad_link_gets_an_error_page_and_never_a_redirect(
    emu: SlackEmulator, channels: dict[str, str], registered: str | None, query: dict[str, str], reason: str
) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=registered)
    for method, form in (("GET", None), ("POST", {**authorize_query(**query), "team": TEAM, "decision": "allow"})):
        response = page(emu, method, authorize_query(**query) if form is None else {}, form)
        assert response.status == 400, method
        assert response.getheader("Location") is None
        assert reason in response.text and "<script>" not in response.text


def test_allowing_into_an_unknown_workspace_is_refused(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    response = page(emu, "POST", {}, {**authorize_query(), "team": "T0NOPE0000", "decision": "allow"})
    assert response.status == 400 and response.getheader("Location") is None


# -- signed events ------------------------------------------------------------------------------


def test_deliver_event_posts_slacks_envelope_signed_like_slack(emu: SlackEmulator, subscribed: EventsApp) -> None:
    event = {"type": "app_mention", "user": "U0PERSON01", "text": "<@U0OAUTHBOT> hi", "ts": "1.000001"}
    result = emu.deliver_event(ROTATING_ID, TEAM, event)
    # The app verified the signature with slack_sdk and answered 200
    assert (result["status"], result["body"]) == (200, "")
    assert result["elapsed_ms"] >= 0 and result["event_id"].startswith("Ev") and len(result["event_id"]) == 12
    [received] = subscribed.received
    assert received.signed and received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Slack-Signature"].startswith("v0=")
    assert "X-Slack-Retry-Num" not in received.headers
    envelope = received.payload
    [app] = emu.oauth_apps()
    assert {key: envelope[key] for key in ("team_id", "context_team_id", "api_app_id", "type", "event_id")} == {
        "team_id": TEAM,
        "context_team_id": TEAM,
        "api_app_id": app["app_id"],
        "type": "event_callback",
        "event_id": result["event_id"],
    }
    assert envelope["event"] == event and isinstance(envelope["event_time"], int) and envelope["token"]
    assert envelope["authorizations"] == [
        {"enterprise_id": None, "team_id": TEAM, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
    ]
    assert envelope["is_ext_shared_channel"] is False and envelope["context_enterprise_id"] is None


def test_a_stale_timestamp_or_a_wrong_secret_fails_the_apps_check(emu: SlackEmulator, subscribed: EventsApp) -> None:
    stale = emu.deliver_event(ROTATING_ID, TEAM, {"type": "app_mention"}, timestamp=int(time.time()) - 6 * 60)
    forged = emu.deliver_event(ROTATING_ID, TEAM, {"type": "app_mention"}, sign_with="not-the-secret")
    assert (stale["status"], forged["status"]) == (401, 401)
    assert [received.signed for received in subscribed.received] == [False, False]
    assert subscribed.received[0].headers["X-Slack-Request-Timestamp"] == str(int(time.time()) - 6 * 60)


def test_a_retry_carries_slacks_retry_headers_and_the_same_event_id(emu: SlackEmulator, subscribed: EventsApp) -> None:
    subscribed.status = 500
    first = emu.deliver_event(ROTATING_ID, TEAM, {"type": "app_mention"})
    subscribed.status = 200
    retry = emu.deliver_event(ROTATING_ID, TEAM, {"type": "app_mention"}, event_id=first["event_id"], retry_num=1)
    assert (first["status"], retry["status"]) == (500, 200)
    again = subscribed.received[1]
    assert (again.headers["X-Slack-Retry-Num"], again.headers["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
    assert again.payload["event_id"] == first["event_id"] and again.signed


def test_url_verification_reports_whether_the_challenge_came_back(emu: SlackEmulator, subscribed: EventsApp) -> None:
    answer = emu.verify_events_url(ROTATING_ID)
    assert answer["verified"] is True and answer["status"] == 200
    [received] = subscribed.received
    assert received.signed and set(received.payload) == {"token", "challenge", "type"}
    assert received.payload["type"] == "url_verification"
    subscribed.echo_challenge = False
    assert emu.verify_events_url(ROTATING_ID)["verified"] is False


def test_an_unreachable_app_is_reported_not_raised(emu: SlackEmulator, channels: dict[str, str]) -> None:
    closed = EventsApp()
    url = closed.url
    closed.close()
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, signing_secret=SIGNING_SECRET, events_url=url)
    result = emu.deliver_event(CLIENT_ID, TEAM, {"type": "app_mention"})
    assert result["status"] is None and result["body"] is None and result["error"]
    # An app with no events URL, or events without a signing secret, are usage errors
    emu.set_events_url(CLIENT_ID, None)
    with pytest.raises(ValueError, match="events_url"):
        emu.deliver_event(CLIENT_ID, TEAM, {"type": "app_mention"})
    with pytest.raises(ValueError, match="signing_secret"):
        emu.add_oauth_app("7777.8888", "x", events_url=url)


# -- lifecycle actions --------------------------------------------------------------------------


def test_uninstall_revokes_the_tokens_and_sends_both_events_in_order(
    emu: SlackEmulator, subscribed: EventsApp, channels: dict[str, str]
) -> None:
    # Given an install through OAuth next to a seeded token, and an app in another workspace
    installed = install(emu)
    other = exchange(emu, ROTATING_ID, ROTATING_SECRET, emu.issue_oauth_code(ROTATING_ID, OTHER_TEAM))
    # When the app is uninstalled from the workspace
    results = emu.uninstall(TEAM)
    # Then the workspace's tokens answer token_revoked and its refresh token no longer works
    for token in (installed["access_token"], SEEDED_TOKEN):
        assert auth_error(emu, token) == "token_revoked"
    assert slack_error(lambda: refresh(emu, installed["refresh_token"]))["error"] == "invalid_refresh_token"
    assert web_client(emu, other["access_token"]).auth_test()["ok"]
    # And the app got app_uninstalled, then tokens_revoked naming the bot user, both signed
    assert [result["event_type"] for result in results] == ["app_uninstalled", "tokens_revoked"]
    assert all(result["status"] == 200 and result["client_id"] == ROTATING_ID for result in results)
    assert [received.signed for received in subscribed.received] == [True, True]
    assert [payload["event"] for payload in subscribed.payloads()] == [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [BOT_USER]}},
    ]


def test_channel_actions_change_the_state_and_send_their_events(
    emu: SlackEmulator, subscribed: EventsApp, channels: dict[str, str]
) -> None:
    client = web_client(emu, SEEDED_TOKEN)
    general = channels["general"]
    # Archive: posting is refused, the app hears channel_archive
    emu.archive_channel(TEAM, general)
    assert slack_error(lambda: client.chat_postMessage(channel=general, text="x"))["error"] == "is_archived"
    # Unarchive: posting works again
    emu.unarchive_channel(TEAM, general)
    assert client.chat_postMessage(channel=general, text="back")["ok"]
    # Rename: conversations.info shows the new name and the old one in previous_names
    [renamed] = emu.rename_channel(TEAM, general, "town-square")
    info = client.conversations_info(channel=general)["channel"]
    assert (info["name"], info["previous_names"]) == ("town-square", ["general"])
    assert renamed["status"] == 200 and renamed["event_type"] == "channel_rename"
    # Delete: the channel is gone
    emu.delete_channel(TEAM, channels["random"])
    assert slack_error(lambda: client.conversations_info(channel=channels["random"]))["error"] == "channel_not_found"
    # A private channel's events are group_* ones; the older one-argument form still works
    emu.archive_channel(channels["secret"])
    events = [payload["event"] for payload in subscribed.payloads()]
    assert [event["type"] for event in events] == [
        "channel_archive",
        "channel_unarchive",
        "channel_rename",
        "channel_deleted",
        "group_archive",
    ]
    assert events[0]["channel"] == general and events[0]["user"] and events[0]["event_ts"]
    assert {key: events[2]["channel"][key] for key in ("id", "name")} == {"id": general, "name": "town-square"}
    assert isinstance(events[2]["channel"]["created"], int)
    assert events[3] == {"type": "channel_deleted", "channel": channels["random"]}
    assert all(received.signed for received in subscribed.received)


def test_channel_actions_refuse_what_slack_refuses(emu: SlackEmulator, channels: dict[str, str]) -> None:
    for name, error in (
        ("random", "name_taken"),
        ("Has Spaces", "invalid_name_specials"),
        ("x" * 81, "invalid_name_maxlength"),
    ):
        with pytest.raises(ValueError, match=error):
            emu.rename_channel(TEAM, channels["general"], name)
    with pytest.raises(KeyError):
        emu.archive_channel(OTHER_TEAM, channels["general"])  # not that workspace's channel
    # With no app subscribed, the action still happens and sends nothing
    assert emu.archive_channel(TEAM, channels["general"]) == []
    assert emu.channel_info(channels["general"])["is_archived"] is True


# -- control endpoint and CLI ----------------------------------------------------------------


def test_the_control_endpoint_sends_events_and_changes_state(
    emu: SlackEmulator, subscribed: EventsApp, channels: dict[str, str]
) -> None:
    # An event, to the only app with an events URL
    status, answer = control(emu, "POST", "/_emulator/events", {"team_id": TEAM, "event": {"type": "app_mention"}})
    assert status == 200 and answer["ok"] is True
    [delivery] = answer["deliveries"]
    assert (delivery["client_id"], delivery["event_type"], delivery["status"]) == (ROTATING_ID, "app_mention", 200)
    # A retry of it
    replay = {"team_id": TEAM, "event": {"type": "app_mention"}, "event_id": delivery["event_id"], "retry_num": 2}
    assert control(emu, "POST", "/_emulator/events", replay)[0] == 200
    assert subscribed.received[-1].headers["X-Slack-Retry-Num"] == "2"
    # A channel action, then what the channel holds
    status, answer = control(
        emu,
        "POST",
        "/_emulator/channels",
        {"action": "rename", "team_id": TEAM, "channel_id": channels["general"], "name": "hq"},
    )
    assert status == 200 and answer["channel"]["name"] == "hq" and answer["deliveries"][0]["status"] == 200
    web_client(emu, SEEDED_TOKEN).chat_postMessage(channel=channels["general"], text="hello")
    status, answer = control(emu, "GET", f"/_emulator/channels/{channels['general']}/messages")
    assert status == 200 and [m["text"] for m in answer["messages"]] == ["hello"]
    # An uninstall
    status, answer = control(emu, "POST", "/_emulator/uninstall", {"team_id": TEAM})
    assert status == 200 and [d["event_type"] for d in answer["deliveries"]] == ["app_uninstalled", "tokens_revoked"]
    assert auth_error(emu, SEEDED_TOKEN) == "token_revoked"


def test_the_control_endpoint_refuses_bad_input_with_400(
    emu: SlackEmulator, subscribed: EventsApp, channels: dict[str, str]
) -> None:
    cases = [
        (b"{not json", "invalid_json"),
        ({"event": {"type": "app_mention"}}, "invalid_arguments"),
        ({"team_id": TEAM, "event": "app_mention"}, "invalid_event"),
        ({"team_id": "T0NOPE0000", "event": {"type": "app_mention"}}, "not_found"),
        ({"team_id": TEAM, "client_id": "9999.0000", "event": {"type": "x"}}, "not_found"),
    ]
    for payload, error in cases:
        status, answer = control(emu, "POST", "/_emulator/events", payload)
        assert (status, answer["ok"], answer["error"]) == (400, False, error), payload
    rename = {"action": "rename", "team_id": TEAM, "channel_id": channels["general"], "name": "random"}
    assert control(emu, "POST", "/_emulator/channels", rename)[1]["error"] == "name_taken"
    assert control(emu, "POST", "/_emulator/channels", {**rename, "action": "explode"})[1]["error"] == "invalid_action"
    assert control(emu, "GET", "/_emulator/channels/C0NOPE0000/messages")[0] == 400
    # With two subscribed apps, the event must say which
    emu.add_oauth_app(CLIENT_ID, CLIENT_SECRET, signing_secret=SIGNING_SECRET, events_url=subscribed.url)
    status, answer = control(emu, "POST", "/_emulator/events", {"team_id": TEAM, "event": {"type": "x"}})
    assert (status, answer["error"]) == (400, "client_id_required")
    assert control(emu, "GET", "/_emulator/nowhere")[0] == 404
    assert control(emu, "GET", "/_emulator/uninstall")[0] == 405
    assert subscribed.received == []


def test_the_cli_drives_a_running_emulator(emu: SlackEmulator, subscribed: EventsApp, channels: dict[str, str]) -> None:
    url = emu.server_url
    general = channels["general"]
    # event --type: built from the channel id, sent signed; nothing changes
    sent = cli("event", "--url", url, "--team", TEAM, "--type", "channel_archive", "--channel", general)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["deliveries"][0]["status"] == 200
    assert subscribed.payloads()[-1]["event"]["type"] == "channel_archive"
    assert emu.channel_info(general)["is_archived"] is False
    # event --json
    mention = json.dumps({"type": "app_mention", "text": "hi"})
    assert cli("event", "--url", url, "--team", TEAM, "--json", mention, "--retry-num", "1").returncode == 0
    assert subscribed.received[-1].headers["X-Slack-Retry-Num"] == "1"
    # channel ... rename / archive: the state changes and the event goes out
    renamed = cli("channel", "--url", url, "--team", TEAM, "--channel", general, "rename", "--name", "hq")
    assert renamed.returncode == 0 and json.loads(renamed.stdout)["channel"]["name"] == "hq"
    assert cli("channel", "--url", url, "--team", TEAM, "--channel", general, "archive").returncode == 0
    assert emu.channel_info(general)["is_archived"] is True
    # messages
    emu.add_user_message(channels["random"], "from a person")
    listed = cli("messages", "--url", url, "--channel", channels["random"])
    assert listed.returncode == 0 and [m["text"] for m in json.loads(listed.stdout)["messages"]] == ["from a person"]
    # uninstall
    gone = cli("uninstall", "--url", url, "--team", TEAM)
    assert gone.returncode == 0 and auth_error(emu, SEEDED_TOKEN) == "token_revoked"
    assert [e["event"]["type"] for e in subscribed.payloads()[-2:]] == ["app_uninstalled", "tokens_revoked"]
    # Failures exit 1 with the emulator's answer: a refusal, an app answering 500, no emulator at all
    refused = cli("uninstall", "--url", url, "--team", "T0NOPE0000")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"] == "not_found"
    subscribed.status = 500
    assert cli("event", "--url", url, "--team", TEAM, "--type", "app_uninstalled").returncode == 1
    unreachable = cli("messages", "--url", "http://127.0.0.1:9", "--channel", general)
    assert unreachable.returncode == 1 and json.loads(unreachable.stdout)["error"] == "emulator_unreachable"


def test_a_seed_registers_oauth_apps_for_a_standalone_emulator(emu: SlackEmulator, app: EventsApp) -> None:
    # So `python -m local.slack_emulator --seed ...` can serve an app that gets events
    seeded = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "signing_secret": SIGNING_SECRET}
    emu.load_seed({"oauth_apps": [{**seeded, "events_url": app.url, "token_rotation": True}]})
    [registered] = emu.oauth_apps()
    assert (registered["events_url"], registered["token_rotation"]) == (app.url, True)
    assert emu.verify_events_url(CLIENT_ID)["verified"] is True
    with pytest.raises(ValueError, match="unknown seed OAuth app key"):
        emu.load_seed({"oauth_apps": [{**seeded, "client_id": "x", "scopes": []}]})


# -- secrets ----------------------------------------------------------------------------------


def test_no_credential_reaches_the_call_log(emu: SlackEmulator, channels: dict[str, str]) -> None:
    emu.add_oauth_app(ROTATING_ID, ROTATING_SECRET, token_rotation=True, signing_secret=SIGNING_SECRET)
    code = emu.issue_oauth_code(ROTATING_ID, TEAM)
    # Credentials as form params this time, not HTTP Basic, so they would be in params if kept
    credentials = {"client_id": ROTATING_ID, "client_secret": ROTATING_SECRET}
    installed = oauth_form(emu, {**credentials, "code": code})
    renewed = oauth_form(
        emu, {**credentials, "grant_type": "refresh_token", "refresh_token": installed["refresh_token"]}
    )
    web_client(emu, renewed["access_token"]).auth_test()
    logged = json.dumps(emu.calls())
    for secret in (
        ROTATING_SECRET,
        SIGNING_SECRET,
        code,
        installed["refresh_token"],
        renewed["refresh_token"],
        installed["access_token"],
        renewed["access_token"],
    ):
        assert secret not in logged
    assert [call["params"] for call in emu.calls("oauth.v2.access")] == [
        {"client_id": ROTATING_ID},
        {"client_id": ROTATING_ID, "grant_type": "refresh_token"},
    ]
    assert SIGNING_SECRET not in json.dumps(emu.oauth_apps())


def test_the_cli_breaks_slack_on_purpose(emu: SlackEmulator, channels: dict[str, str]) -> None:
    # fault: the next call of the method answers as told, then Slack is itself again
    armed = cli(
        "fault", "--url", emu.server_url, "--method", "auth.test", "--kind", "ratelimited", "--retry-after", "7"
    )
    assert armed.returncode == 0, armed.stderr
    assert json.loads(armed.stdout)["fault"] == {"method": "auth.test", "kind": "ratelimited", "retry_after": 7}
    throttled = slack_error(lambda: web_client(emu, SEEDED_TOKEN).auth_test())
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "7"
    assert web_client(emu, SEEDED_TOKEN).auth_test()["ok"] is True
    # refused input says what is wrong
    refused = cli("fault", "--url", emu.server_url, "--method", "auth.test", "--kind", "error", "--times", "-1")
    assert refused.returncode == 1 and "times" in json.loads(refused.stdout)["detail"]
