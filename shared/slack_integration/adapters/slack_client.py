"""Slack Web API access: the only module that talks to it. `SlackGateway` has one method per
thing the product asks of Slack; each fetches the integration's token, calls the WebClient, and
turns any failure into a ServiceError (exact codes; HTTP status first).

Retry policy, decided per kind of call rather than left to slack_sdk's defaults:
- Reads (conversations.list / info, auth.test) are idempotent: one quick retry on a reset
  connection or a 500/503 is safe and saves the user an error.
- Rate limits are never slept on in-process. RateLimitErrorRetryHandler would sleep Retry-After
  (often 30 s) inside a Lambda whose API Gateway caller gives up at 30 s; we answer with the
  Retry-After instead (HTTP 503 + header, or an SQS visibility change in the consumers).
- chat.postMessage is not idempotent: slack_sdk's default ConnectionErrorRetryHandler would
  re-send it after a reset that happened *after* Slack stored the message, posting it twice. The
  posting client therefore has no retry handlers; the queue and its idempotency record decide.
"""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import DELIVERY_UNVERIFIABLE, SLACK_API_ERROR, ServiceError
from slack_integration.observability import logger
from slack_integration.slack_errors import translate

T = TypeVar("T")


# A dashboard user is waiting: retry after ~0.25-0.5 s, not slack_sdk's default ~1 s.
_QUICK_BACKOFF = BackoffRetryIntervalCalculator(backoff_factor=0.25)


def read_retry_handlers() -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=_QUICK_BACKOFF),
        ServerErrorRetryHandler(max_retry_count=1, interval_calculator=_QUICK_BACKOFF),
    ]


def build_web_client(base_url: str, timeout_seconds: float, *, idempotent_calls: bool) -> WebClient:
    """One token-less WebClient per container; each call passes the integration's token.

    slack_sdk turns a per-call `token=` into the Authorization header and redacts that header in
    its debug logs, so one client serves every workspace without holding a token itself.
    """
    return WebClient(
        base_url=base_url,
        timeout=timeout_seconds,  # type: ignore[arg-type]  # urllib takes float seconds
        retry_handlers=read_retry_handlers() if idempotent_calls else [],
    )


_SLACK_FAILURES = (SlackClientError, URLError, OSError, http.client.HTTPException)


# Every post carries its delivery's digest in Slack message metadata under this event type, so an
# attempt whose outcome was unknown can find its post instead of posting a second copy.
METADATA_EVENT_TYPE = "buster_delivery"
# A search for an earlier post reads at most this many pages of this size (conversations.history
# and .replies are throttled hard) before handing the message to an operator.
FIND_MAX_PAGES = 5
FIND_PAGE_SIZE = 100
# conversations.list: Slack recommends at most 200; Tier 2 (20+/min), so bigger pages mean fewer calls.
CHANNEL_PAGE_SIZE = 200
THREAD_PAGE_SIZE = 200


def delivery_digest(key: str) -> str:
    """What a post carries in its metadata: identifies the delivery without revealing its ids."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Identity:
    """auth.test: whose token this is, and the scopes it was granted (None: Slack did not say)."""

    team_id: str
    team_name: str | None
    user_id: str | None
    bot_id: str | None
    scopes: frozenset[str] | None


@dataclass(frozen=True)
class Post:
    """What to post: the message's arguments (text, blocks, ...) and where."""

    channel_id: str
    arguments: Mapping[str, Any]
    delivery_key: str
    thread_ts: str | None = None
    broadcast: bool = False


@dataclass(frozen=True)
class Posted:
    """Where Slack put a post: its channel, ts, and (for a reply) the thread it is really in."""

    channel_id: str
    ts: str
    thread_ts: str | None

    def in_thread(self, thread_ts: str | None) -> bool | None:
        """Replies only (else None): Slack accepts a thread_ts naming no message, so only the
        posted message's own thread_ts says whether the reply really is in that thread."""
        return None if thread_ts is None else self.thread_ts == thread_ts


class SlackGateway:
    """Slack on behalf of one integration at a time.

    When Slack rejects the token, the secret is re-read once: if a reconnect stored a new token
    meanwhile, the call is repeated with it instead of failing on a stale cache.
    """

    def __init__(self, tokens: TokenStore, base_url: str, timeout_seconds: float) -> None:
        self._tokens = tokens
        self._base_url = base_url
        self._timeout = timeout_seconds
        self._read_client: WebClient | None = None
        self._post_client: WebClient | None = None

    @property
    def reads(self) -> WebClient:
        """Idempotent calls: one quick retry on a reset connection or a 500/503."""
        if self._read_client is None:
            self._read_client = build_web_client(self._base_url, self._timeout, idempotent_calls=True)
        return self._read_client

    @property
    def posts(self) -> WebClient:
        """chat.postMessage only: no retry handlers (a resent post could be a duplicate post)."""
        if self._post_client is None:
            self._post_client = build_web_client(self._base_url, self._timeout, idempotent_calls=False)
        return self._post_client

    # -- with a token we hold already (connecting, disconnecting) -------------------------------

    def identify(self, token: SecretStr) -> Identity:
        """auth.test with a token, e.g. to check it before storing it."""
        return self._with_token(token, _auth_test(self.reads))

    def revoke(self, token: SecretStr) -> None:
        self._with_token(token, lambda value: self.reads.auth_revoke(token=value))

    # -- on behalf of a stored integration -------------------------------------------------------

    def auth_test(self, integration_id: str) -> Identity:
        return self._call(integration_id, _auth_test(self.reads))

    def channel_info(self, integration_id: str, channel_id: str) -> dict[str, Any]:
        return self._call(
            integration_id,
            lambda token: dict(self.reads.conversations_info(token=token, channel=channel_id)["channel"]),
        )

    def public_channels(self, integration_id: str) -> list[dict[str, Any]]:
        """Every page of the workspace's unarchived public channels (pages may be short or empty
        before the cursor ends; SlackResponse iterates until next_cursor is empty)."""

        def every_page(token: str) -> list[dict[str, Any]]:
            channels: list[dict[str, Any]] = []
            pages = self.reads.conversations_list(
                token=token, types="public_channel", exclude_archived=True, limit=CHANNEL_PAGE_SIZE
            )
            for page in pages:
                channels.extend(page.get("channels") or [])
            return channels

        return self._call(integration_id, every_page)

    def post(self, integration_id: str, post: Post) -> Posted:
        arguments: dict[str, Any] = {
            "channel": post.channel_id,
            **post.arguments,
            "metadata": {
                "event_type": METADATA_EVENT_TYPE,
                "event_payload": {"delivery": delivery_digest(post.delivery_key)},
            },
        }
        if post.thread_ts:
            arguments["thread_ts"] = post.thread_ts
            if post.broadcast:
                arguments["reply_broadcast"] = True
        answer = self._call(integration_id, lambda token: self.posts.chat_postMessage(token=token, **arguments))
        return _posted(answer.get("channel") or post.channel_id, answer.get("ts"), answer.get("message"))

    def find_post(self, integration_id: str, post: Post, *, oldest: float) -> Posted | None:
        """The post of this delivery made since `oldest`, if Slack holds one: found by the digest
        its metadata carries, in its thread for a reply (in the channel when the parent is gone,
        since such a reply lands top-level), else in the channel."""
        digest = delivery_digest(post.delivery_key)

        def search(token: str) -> Posted | None:
            for message in self._recent(token, post, f"{max(0.0, oldest):.6f}"):
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("delivery") == digest
                ):
                    return _posted(post.channel_id, message.get("ts"), message)
            return None

        return self._call(integration_id, search)

    def thread_replies(self, integration_id: str, channel_id: str, ts: str) -> list[dict[str, Any]]:
        """Every message of a thread as Slack holds it (the parent first)."""

        def every_page(token: str) -> list[dict[str, Any]]:
            messages: list[dict[str, Any]] = []
            for page in self.reads.conversations_replies(
                token=token, channel=channel_id, ts=ts, limit=THREAD_PAGE_SIZE
            ):
                messages.extend(page.get("messages") or [])
            return messages

        return self._call(integration_id, every_page)

    # -- internals -------------------------------------------------------------------------------

    def _recent(self, token: str, post: Post, oldest: str) -> Iterator[dict[str, Any]]:
        common: dict[str, Any] = {"token": token, "channel": post.channel_id, "oldest": oldest, "inclusive": True}
        common |= {"include_all_metadata": True, "limit": FIND_PAGE_SIZE}
        pages: Any
        if post.thread_ts:
            try:
                pages = self.reads.conversations_replies(ts=post.thread_ts, **common)
            except SlackApiError as exc:
                if exc.response.get("error") != "thread_not_found":
                    raise
                pages = self.reads.conversations_history(**common)
        else:
            pages = self.reads.conversations_history(**common)
        for number, page in enumerate(pages, start=1):
            yield from page.get("messages") or []
            if number >= FIND_MAX_PAGES and (page.get("response_metadata") or {}).get("next_cursor"):
                raise DELIVERY_UNVERIFIABLE.error()

    def _call(self, integration_id: str, request: Callable[[str], T]) -> T:
        token = self._tokens.get(integration_id)
        try:
            return self._with_token(token, request)
        except ServiceError as err:
            if not err.needs_reconnect:
                raise
            fresh = self._tokens.get(integration_id, refresh=True)
            if fresh.get_secret_value() == token.get_secret_value():
                raise
            logger.info("Bot token changed since it was cached; retrying with the new one")
            return self._with_token(fresh, request)

    def _with_token(self, token: SecretStr, request: Callable[[str], T]) -> T:
        try:
            return request(token.get_secret_value())
        except _SLACK_FAILURES as exc:
            error = translate(exc)
            logger.info(
                "Slack call failed",
                extra={"code": error.code, "slack_error": error.slack_error, "retry_after": error.retry_after},
            )
            raise error from None


def _auth_test(client: WebClient) -> Callable[[str], Identity]:
    def auth_test(token: str) -> Identity:
        answer = client.auth_test(token=token)
        headers = {name.lower(): value for name, value in (answer.headers or {}).items()}
        scopes = headers.get("x-oauth-scopes")
        if isinstance(scopes, list):
            scopes = ",".join(scopes)
        granted = frozenset(scope.strip() for scope in (scopes or "").split(",") if scope.strip())
        return Identity(
            team_id=str(answer.get("team_id") or ""),
            team_name=answer.get("team") or None,
            user_id=answer.get("user_id") or None,
            bot_id=answer.get("bot_id") or None,
            # No header (some proxies drop it) means unknown, not "none".
            scopes=granted or None,
        )

    return auth_test


def _posted(channel_id: str, ts: Any, message: Any) -> Posted:
    if not isinstance(ts, str) or not ts:
        # ok:true without a ts is not an answer we can record or thread under.
        raise SLACK_API_ERROR.error(slack_error="missing_ts")
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else None
    return Posted(channel_id=channel_id, ts=ts, thread_ts=thread_ts if isinstance(thread_ts, str) else None)
