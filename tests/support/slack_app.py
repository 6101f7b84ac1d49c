"""Buster's Slack app as the suite installs it: its credentials (in moto's Secrets Manager and in
the emulator), Slack's consent screen played by a browser-like HTTP client, and signed requests
to the events route. Nothing here is a stand-in for the product: the emulator plays Slack."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from slack_sdk.signature import SignatureVerifier

from local.lambda_events import sample
from local.slack_emulator import SlackEmulator

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "test-client-secret-0a1b2c3d4e5f"
SIGNING_SECRET = "test-signing-secret-9f8e7d6c5b4a"
APP_SECRET_NAME = "buster/slack/app"
# The host of the sample API Gateway events: the callback URL the flow derives from it.
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
REDIRECT_URI = f"https://{API_HOST}/slack/oauth/callback"
RETURN_URL = "https://app.example.com/settings/integrations"
# Everything the suite-wide secret scan looks for besides the bot tokens.
APP_SECRETS = (CLIENT_SECRET, SIGNING_SECRET)


def register(emulator: SlackEmulator, secretsmanager: Any, *, token_rotation: bool = False, **options: Any) -> None:
    """The app exists in Slack (the emulator) and its credentials secret in Secrets Manager."""
    emulator.add_oauth_app(
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        signing_secret=SIGNING_SECRET,
        token_rotation=token_rotation,
        **options,
    )
    value = json.dumps({"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "signingSecret": SIGNING_SECRET})
    secretsmanager.create_secret(Name=APP_SECRET_NAME, SecretString=value)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def consent(authorize_url: str, team_id: str, decision: str = "allow") -> dict[str, str]:
    """What the installer's browser does on Slack's consent screen: open the authorize URL,
    choose the workspace, press Allow (or Cancel). Returns the query of the redirect back to us."""
    query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
    page = urllib.request.urlopen(authorize_url, timeout=5)
    assert page.status == 200 and "text/html" in page.headers.get("Content-Type", "")
    form = {key: query.get(key, "") for key in ("client_id", "scope", "redirect_uri", "state")} | {
        "team": team_id,
        "decision": decision,
    }
    base = authorize_url.split("?", 1)[0]
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        opener.open(urllib.request.Request(base, data=urlencode(form).encode(), method="POST"), timeout=5)
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 302, redirect.code
        location = redirect.headers["Location"]
    else:  # pragma: no cover - the emulator always redirects
        raise AssertionError("the consent screen did not redirect")
    assert location.startswith(query["redirect_uri"] + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def public_event(
    method: str, path: str, *, query: dict[str, str] | None = None, body: str | None = None
) -> dict[str, Any]:
    """An HTTP API event of a public route: no JWT, so no authorizer block."""
    event = copy.deepcopy(sample("list_channels.json"))
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {path}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"].pop("authorizer", None)
    event["headers"].pop("authorization", None)
    event["queryStringParameters"] = dict(query) if query else None
    event["rawQueryString"] = urlencode(query or {})
    if body is not None:
        event["body"] = body
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(body.encode()))
    return event


def signed(
    payload: dict[str, Any] | str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    retry_num: int | None = None,
    signature: str | None = None,
) -> dict[str, Any]:
    """POST /slack/events as Slack sends it: the raw body and its v0 signature."""
    body = payload if isinstance(payload, str) else json.dumps(payload)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    event = public_event("POST", "/slack/events", body=body)
    event["headers"]["x-slack-request-timestamp"] = ts
    event["headers"]["x-slack-signature"] = signature or SignatureVerifier(secret).generate_signature(
        timestamp=ts, body=body
    )
    if retry_num is not None:
        event["headers"]["x-slack-retry-num"] = str(retry_num)
        event["headers"]["x-slack-retry-reason"] = "http_timeout"
    return event


def envelope(team_id: str, event: dict[str, Any], *, event_id: str = "Ev0TEST0001") -> dict[str, Any]:
    """Slack's event_callback wrapper around one event."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": "A0BUSTERAPP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team_id, "is_bot": True}],
    }


def quiet_client(emulator: SlackEmulator) -> Any:
    """A WebClient for the test's own oauth.v2.access calls: slack_sdk logs answers at DEBUG,
    and these carry tokens (the suite-wide scan would rightly fail the test)."""
    import logging

    from slack_sdk import WebClient

    quiet = logging.getLogger("tests.slack_app.oauth")
    quiet.setLevel(logging.INFO)
    return WebClient(base_url=emulator.base_url, logger=quiet, retry_handlers=[])


def renewal_due(
    emulator: SlackEmulator, aws: Any, integration_id: str, team_id: str, *, seconds_left: int = 60
) -> None:
    """Give an integration a rotating token (issued by the emulator for a rotating app) that is
    due for renewal: the next function to read it renews it."""
    from tests.support.identities import SECRET_PREFIX

    try:
        register(emulator, aws["secretsmanager"], token_rotation=True)
    except (ValueError, aws["secretsmanager"].exceptions.ResourceExistsException):
        pass  # registered already (by this helper or a fixture)
    code = emulator.issue_oauth_code(CLIENT_ID, team_id, redirect_uri=REDIRECT_URI)
    answer = quiet_client(emulator).oauth_v2_access(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code, redirect_uri=REDIRECT_URI
    )
    value = {
        "botToken": answer["access_token"],
        "teamId": team_id,
        "botUserId": answer["bot_user_id"],
        "refreshToken": answer["refresh_token"],
        "expiresAt": int(time.time()) + seconds_left,
    }
    aws["secretsmanager"].put_secret_value(SecretId=SECRET_PREFIX + integration_id, SecretString=json.dumps(value))
