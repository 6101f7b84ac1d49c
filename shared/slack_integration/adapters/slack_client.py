"""Slack Web API access: the WebClient factory, error translation, and per-integration calls.

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

import http.client
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import BackoffRetryIntervalCalculator, ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from slack_integration.adapters.token_store import TokenStore
from slack_integration.errors import SLACK_TIMEOUT, SLACK_UNREACHABLE, ServiceError, from_slack
from slack_integration.observability import logger

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


def _retry_after(headers: Mapping[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value if not isinstance(value, list) else value[0]))
            except (TypeError, ValueError):
                return None
    return None


def translate(exc: BaseException) -> ServiceError:
    """Any failure of a slack_sdk call as a ServiceError (exact codes; status first)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        data = response.data if isinstance(response.data, dict) else {}
        error = data.get("error")
        return from_slack(
            error if isinstance(error, str) else None,
            http_status=response.status_code,
            retry_after=_retry_after(response.headers),
        )
    if isinstance(exc, TimeoutError) or (isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError)):
        return SLACK_TIMEOUT.error(slack_error="timeout")
    if isinstance(exc, (URLError, OSError, http.client.HTTPException, SlackClientError)):
        return SLACK_UNREACHABLE.error(slack_error=type(exc).__name__)
    raise TypeError(f"not a Slack failure: {type(exc).__name__}")


_SLACK_FAILURES = (SlackClientError, URLError, OSError, http.client.HTTPException)


def outcome_unknown(error: ServiceError) -> bool:
    """Whether a failed call may still have taken effect at Slack: the request left, no answer came
    back (a timeout, a connection closed mid-response). An HTTP answer, even an error, means Slack
    handled the request and did not post. A refused connection is counted as unknown too: telling
    it apart is not worth a wrong guess, and the price is one read from Slack."""
    if error.code == SLACK_TIMEOUT.code:
        return error.slack_error == "timeout"
    return error.code == SLACK_UNREACHABLE.code


class SlackGateway:
    """Runs Slack calls on behalf of one integration.

    The caller supplies `request(client, token)`; the gateway fetches the token, translates any
    failure, and when Slack rejects the token it re-reads the secret once: if a reconnect stored a
    new token meanwhile, the call is repeated with it instead of failing on a stale cache.
    """

    def __init__(self, tokens: TokenStore, client_factory: Callable[[], WebClient]) -> None:
        self._tokens = tokens
        self._client_factory = client_factory
        self._client: WebClient | None = None

    @property
    def client(self) -> WebClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def call(self, integration_id: str, request: Callable[[WebClient, str], T]) -> T:
        token = self._tokens.get(integration_id)
        try:
            return self.call_with_token(token, request)
        except ServiceError as err:
            if not err.needs_reconnect:
                raise
            fresh = self._tokens.get(integration_id, refresh=True)
            if fresh.get_secret_value() == token.get_secret_value():
                raise
            logger.info("Bot token changed since it was cached; retrying with the new one")
            return self.call_with_token(fresh, request)

    def call_with_token(self, token: SecretStr, request: Callable[[WebClient, str], T]) -> T:
        """One call with a token we hold already (e.g. checking a token before storing it)."""
        try:
            return request(self.client, token.get_secret_value())
        except _SLACK_FAILURES as exc:
            error = translate(exc)
            logger.info(
                "Slack call failed",
                extra={"code": error.code, "slack_error": error.slack_error, "retry_after": error.retry_after},
            )
            raise error from None
