"""Events API deliveries to an app's Request URL, built, signed and sent the way Slack does.

Checked against Slack's documentation (read 2026) and real payloads recorded in public code:

- Envelope (docs.slack.dev/apis/events-api, "callback field"; recorded deliveries): `token` (the
  legacy verification token), `team_id`, `context_team_id`, `context_enterprise_id` (null outside
  Enterprise Grid), `api_app_id`, `event`, `type: "event_callback"`, `event_id` ("Ev" + 10),
  `event_time` (epoch seconds), `authorizations` (one entry: the installation the event is visible
  to, here the workspace's bot), `is_ext_shared_channel`, `event_context` (an opaque string).
- Signing (docs.slack.dev/authentication/verifying-requests-from-slack): `X-Slack-Request-Timestamp`
  and `X-Slack-Signature` = `v0=` + hex HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`),
  made here by slack_sdk's own SignatureVerifier so the app's check is tested against Slack's
  recipe, not a copy of it. Slack retries with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`
  (http_timeout when no answer came within 3 seconds, among others).
- url_verification (docs.slack.dev/reference/events/url_verification): `{"token", "challenge",
  "type"}`, no inner event; the app answers the challenge as text/plain, as
  `challenge=...` (form) or as JSON `{"challenge": ...}`: all three count here.
- Lifecycle events (docs.slack.dev/reference/events/*): `app_uninstalled` has no field but its
  type; `tokens_revoked` lists user ids, not tokens: `tokens: {"oauth": [...], "bot": [...]}`;
  Slack does not promise their order. `channel_archive` / `channel_unarchive`: `channel`, `user`
  (who did it) and `event_ts`; `channel_deleted`: `channel` only; `channel_rename`: `channel:
  {id, name, created}` (with `name_normalized`, `is_channel`, `is_mpim` and `event_ts`, as
  @slack/types declares them). A private channel's events are the group_* ones (group_archive,
  group_rename, ...), which Slack sends for private channels instead.

Deliveries are stamped with the real clock, not the emulator's injectable one: the app checks the
timestamp against its own clock (slack_sdk refuses one more than 5 minutes off).
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import string
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from slack_sdk.signature import SignatureVerifier

from local.slack_emulator.oauth import OAuthApp, is_web_url
from local.slack_emulator.state import Channel

DELIVERY_TIMEOUT_SECONDS = 5.0
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
RETRY_REASONS = frozenset(
    {"http_timeout", "too_many_redirects", "connection_failed", "ssl_error", "http_error", "unknown_error"}
)
CHANNEL_ACTIONS = {"archive": "_archive", "unarchive": "_unarchive", "delete": "_deleted", "rename": "_rename"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the app's answer: urllib would replay a POST as a GET elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxy from the environment: the app is on loopback, and a proxy would see the signed body.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


@dataclass(frozen=True)
class Receiver:
    """What a delivery needs of an app, copied under the state's lock so sending needs none."""

    client_id: str
    app_id: str
    events_url: str
    signing_secret: str
    verification_token: str

    @classmethod
    def of(cls, app: OAuthApp) -> Receiver:
        if app.events_url is None or not app.signing_secret:
            raise ValueError(f"OAuth app {app.client_id} has no events_url")
        return cls(app.client_id, app.app_id, app.events_url, app.signing_secret, app.verification_token)


def new_event_id() -> str:
    return "Ev" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


def envelope(
    receiver: Receiver, team_id: str, bot_user_id: str, event: dict[str, Any], event_id: str
) -> dict[str, Any]:
    """The event_callback wrapper around `event`, field for field as Slack sends it."""
    context = json.dumps({"et": event.get("type"), "tid": team_id, "aid": receiver.app_id, "eid": event_id})
    return {
        "token": receiver.verification_token,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": receiver.app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + base64.urlsafe_b64encode(context.encode()).decode().rstrip("="),
    }


def deliver(
    receiver: Receiver,
    team_id: str,
    bot_user_id: str,
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
    timestamp: int | None = None,
    sign_with: str | None = None,
) -> dict[str, Any]:
    """POST one signed event; {"status", "body", "elapsed_ms", "event_id"} (+ "error" when no
    answer came: status None). A retry (retry_num) keeps the event_id it is given, as Slack's do."""
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("an event is a JSON object with a string `type`")
    if retry_num is not None and (isinstance(retry_num, bool) or not isinstance(retry_num, int) or retry_num < 1):
        raise ValueError(f"retry_num must be an int >= 1, got {retry_num!r}")
    if retry_reason not in RETRY_REASONS:
        raise ValueError(f"retry_reason must be one of {sorted(RETRY_REASONS)}")
    event_id = event_id or new_event_id()
    body = _compact(envelope(receiver, team_id, bot_user_id, event, event_id))
    headers = {} if retry_num is None else {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
    secret = receiver.signing_secret if sign_with is None else sign_with
    result, _ = post_signed(receiver.events_url, body, secret, timestamp, headers)
    return {**result, "event_id": event_id}


def verify_url(receiver: Receiver) -> dict[str, Any]:
    """Send url_verification: {"verified", "challenge", "status", "body", "elapsed_ms"}."""
    challenge = secrets.token_urlsafe(36)
    body = _compact({"token": receiver.verification_token, "challenge": challenge, "type": "url_verification"})
    result, content_type = post_signed(receiver.events_url, body, receiver.signing_secret, None, {})
    verified = result["status"] == 200 and _echoes(result["body"] or "", content_type, challenge)
    return {"verified": verified, "challenge": challenge, **result}


def post_signed(
    url: str, body: bytes, secret: str, timestamp: int | None, headers: dict[str, str]
) -> tuple[dict[str, Any], str | None]:
    """(result, content type of the answer). The app's non-2xx answers are results, not errors."""
    if not is_web_url(url):
        raise ValueError(f"events_url must be an http(s) URL, got {url!r}")
    stamp = str(int(time.time()) if timestamp is None else int(timestamp))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above: http or https only)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or "",
            **headers,
        },
    )
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
            status, raw, content_type = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as err:  # before URLError: it is one, but it carries an answer
        status, raw, content_type = err.code, err.read(), err.headers.get_content_type()
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        reason = getattr(err, "reason", err)
        return {"status": None, "body": None, "elapsed_ms": _since(started), "error": str(reason)}, None
    return {"status": status, "body": raw.decode("utf-8", "replace"), "elapsed_ms": _since(started)}, content_type


def channel_event(action: str, channel: Channel, actor_user_id: str) -> dict[str, Any]:
    """What Slack sends when `channel` was archived, unarchived, deleted or renamed (see above)."""
    kind = ("group" if channel.is_private else "channel") + CHANNEL_ACTIONS[action]
    event_ts = f"{time.time():.6f}"
    if action == "delete":
        return {"type": kind, "channel": channel.id}
    if action == "rename":
        renamed = {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "created": channel.created,
            "is_channel": not channel.is_private,
            "is_mpim": False,
        }
        return {"type": kind, "channel": renamed, "event_ts": event_ts}
    return {"type": kind, "channel": channel.id, "user": actor_user_id, "event_ts": event_ts}


def uninstall_events(bot_user_id: str) -> list[dict[str, Any]]:
    """app_uninstalled, then tokens_revoked for the bot (the emulator issues no user tokens)."""
    return [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [bot_user_id]}},
    ]


def _compact(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _echoes(body: str, content_type: str | None, challenge: str) -> bool:
    if body.strip() == challenge:
        return True
    if content_type == "application/json":
        try:
            answer = json.loads(body)
        except ValueError:
            return False
        return isinstance(answer, dict) and answer.get("challenge") == challenge
    return body.strip() == f"challenge={challenge}"
