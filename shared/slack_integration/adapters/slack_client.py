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
  posting client therefore never retries a broken connection; the queue and the delivery record
  decide (look in Slack first). A 500/503 answer is different: Slack answered, it did not post, so
  the posting client too retries it once after a quarter second, instead of holding the user's
  whole queue (FIFO) for a backoff through SQS.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import SLACK_API_ERROR, ServiceError
from slack_integration.models.slack import METADATA_EVENT_TYPE, Identity, Post, Posted, delivery_digest
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


def post_retry_handlers() -> list[RetryHandler]:
    return [ServerErrorRetryHandler(max_retry_count=1, interval_calculator=_QUICK_BACKOFF)]


def build_web_client(
    base_url: str, timeout_seconds: float, *, retry_handlers: list[RetryHandler], logger: logging.Logger | None = None
) -> WebClient:
    """One token-less WebClient per container; each call passes the integration's token.

    slack_sdk turns a per-call `token=` into the Authorization header and redacts that header in
    its debug logs, so one client serves every workspace without holding a token itself.
    """
    return WebClient(
        base_url=base_url,
        timeout=timeout_seconds,  # type: ignore[arg-type]  # urllib takes float seconds
        retry_handlers=retry_handlers,
        logger=logger,
    )


SLACK_FAILURES = (SlackClientError, URLError, OSError, http.client.HTTPException)

# conversations.history / .replies: at most 15 a page (and 1 call a minute) for distributed apps
# outside the Slack Marketplace; asking for more would be silently cut to 15 anyway.
FIND_PAGE_SIZE = 15
# conversations.list: Slack recommends at most 200; Tier 2 (20+/min), so bigger pages mean fewer calls.
CHANNEL_PAGE_SIZE = 200
THREAD_PAGE_SIZE = 200


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
            self._read_client = build_web_client(self._base_url, self._timeout, retry_handlers=read_retry_handlers())
        return self._read_client

    @property
    def posts(self) -> WebClient:
        """chat.postMessage only: one quick retry of a 500/503, never of a broken connection (a
        resent post could be a duplicate post)."""
        if self._post_client is None:
            self._post_client = build_web_client(self._base_url, self._timeout, retry_handlers=post_retry_handlers())
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

    def update(self, integration_id: str, channel_id: str, ts: str, arguments: dict[str, Any]) -> Posted:
        """chat.update: replace a message's content. Idempotent (the same content twice is the
        same message), so it may take the reads client's one quick retry."""
        answer = self._call(
            integration_id,
            lambda token: self.reads.chat_update(token=token, channel=channel_id, ts=ts, **arguments),
        )
        return _posted(answer.get("channel") or channel_id, answer.get("ts") or ts, answer.get("message"))

    def find_post_page(
        self, integration_id: str, post: Post, *, oldest: float, latest: float, cursor: str | None = None
    ) -> tuple[Posted | None, str | None]:
        """One page of a search for this delivery's post (by the digest its metadata carries)
        among the messages stored between `oldest` and `latest`: in its thread for a reply,
        else in the channel. Returns what it found and the cursor of the next page (None: done).
        One page per call because Slack allows some apps one history read a minute: a search
        cut short resumes at its cursor instead of starting over."""
        digest = delivery_digest(post.delivery_key)
        arguments: dict[str, Any] = {
            "channel": post.channel_id,
            "oldest": f"{max(0.0, oldest):.6f}",
            "latest": f"{latest:.6f}",
            "inclusive": True,
            "include_all_metadata": True,
            "limit": FIND_PAGE_SIZE,
        }
        if cursor:
            arguments["cursor"] = cursor

        def page(token: str) -> tuple[Posted | None, str | None]:
            if post.thread_ts:
                answer = self.reads.conversations_replies(token=token, ts=post.thread_ts, **arguments)
            else:
                answer = self.reads.conversations_history(token=token, **arguments)
            for message in answer.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == METADATA_EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("delivery") == digest
                ):
                    return _posted(post.channel_id, message.get("ts"), message), None
            return None, (answer.get("response_metadata") or {}).get("next_cursor") or None

        return self._call(integration_id, page)

    def join(self, integration_id: str, channel_id: str) -> None:
        """conversations.join (channels:join): the bot reads a public channel's history only as a member."""
        self._call(integration_id, lambda token: self.reads.conversations_join(token=token, channel=channel_id))

    def permalink(self, integration_id: str, channel_id: str, ts: str) -> str | None:
        """chat.getPermalink (Tier 4, no extra scope): the message's link, or None when Slack no
        longer has the message (deleted)."""

        def get(token: str) -> str | None:
            try:
                answer = self.reads.chat_getPermalink(token=token, channel=channel_id, message_ts=ts)
            except SlackApiError as exc:
                if exc.response.get("error") == "message_not_found":
                    return None
                raise
            return str(answer.get("permalink") or "") or None

        return self._call(integration_id, get)

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
        except SLACK_FAILURES as exc:
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
            url=answer.get("url") or None,
        )

    return auth_test


def _posted(channel_id: str, ts: Any, message: Any) -> Posted:
    if not isinstance(ts, str) or not ts:
        # ok:true without a ts is not an answer we can record or thread under.
        raise SLACK_API_ERROR.error(slack_error="missing_ts")
    thread_ts = message.get("thread_ts") if isinstance(message, dict) else None
    return Posted(channel_id=channel_id, ts=ts, thread_ts=thread_ts if isinstance(thread_ts, str) else None)
