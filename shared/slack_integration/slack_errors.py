"""Slack's error strings as our taxonomy: each documented `error` of the methods we call, by
exact match, with the HTTP status first (429 is a rate limit and 5xx is Slack's trouble, whatever
the body says). An unknown string is SLACK_API_ERROR, never guessed from a substring.
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from typing import Any
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError

from slack_integration.errors import (
    SLACK_API_ERROR,
    SLACK_TIMEOUT,
    SLACK_UNAVAILABLE,
    SLACK_UNREACHABLE,
    ErrorKind,
    ErrorSpec,
    ServiceError,
)

_K = ErrorKind
_RECONNECT = "Reconnect Slack from the Buster dashboard."
_NEW_CHANNEL = "Choose another notification channel in the Buster dashboard."

# Slack's documented error strings of the methods we call, by exact match.
SLACK_ERRORS: dict[str, ErrorSpec] = {
    # Authentication and installation: only a reconnect (new OAuth install) fixes these.
    "not_authed": ErrorSpec(
        "SLACK_NOT_AUTHED", _K.RECONNECT_REQUIRED, f"Slack received no token from Buster. {_RECONNECT}"
    ),
    "invalid_auth": ErrorSpec(
        "SLACK_INVALID_AUTH", _K.RECONNECT_REQUIRED, f"Slack no longer accepts Buster's token. {_RECONNECT}"
    ),
    "token_revoked": ErrorSpec(
        "SLACK_TOKEN_REVOKED",
        _K.RECONNECT_REQUIRED,
        f"Buster's access to your Slack workspace was revoked (the app was removed). {_RECONNECT}",
    ),
    "token_expired": ErrorSpec(
        "SLACK_TOKEN_EXPIRED", _K.RECONNECT_REQUIRED, f"Buster's Slack token has expired. {_RECONNECT}"
    ),
    "account_inactive": ErrorSpec(
        "SLACK_ACCOUNT_INACTIVE",
        _K.RECONNECT_REQUIRED,
        f"The Slack workspace or Buster's bot user has been deactivated. {_RECONNECT}",
    ),
    "missing_scope": ErrorSpec(
        "SLACK_MISSING_SCOPE",
        _K.RECONNECT_REQUIRED,
        f"Buster's Slack app lacks a permission this needs. {_RECONNECT} to grant it.",
    ),
    "team_access_not_granted": ErrorSpec(
        "SLACK_TEAM_ACCESS_NOT_GRANTED",
        _K.RECONNECT_REQUIRED,
        f"Buster's Slack app has not been granted access to this workspace. {_RECONNECT}",
    ),
    "no_permission": ErrorSpec(
        "SLACK_NO_PERMISSION", _K.RECONNECT_REQUIRED, f"Buster's Slack app is not permitted to do this. {_RECONNECT}"
    ),
    "access_denied": ErrorSpec(
        "SLACK_ACCESS_DENIED", _K.RECONNECT_REQUIRED, f"Slack denied Buster access. {_RECONNECT}"
    ),
    # The channel itself cannot take notifications: a different channel fixes these.
    "channel_not_found": ErrorSpec(
        "CHANNEL_NOT_FOUND",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel does not exist or Buster cannot see it. {_NEW_CHANNEL}",
    ),
    "channel_is_limited_access": ErrorSpec(
        "CHANNEL_LIMITED_ACCESS",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel restricts access, so Buster cannot use it. {_NEW_CHANNEL}",
    ),
    "is_archived": ErrorSpec("CHANNEL_ARCHIVED", _K.CHANNEL_UNUSABLE, f"The Slack channel is archived. {_NEW_CHANNEL}"),
    "not_in_channel": ErrorSpec(
        "NOT_IN_CHANNEL",
        _K.CHANNEL_UNUSABLE,
        "The Buster bot is not a member of the channel. Invite it (/invite @Buster) or choose another channel.",
    ),
    "restricted_action": ErrorSpec(
        "CHANNEL_RESTRICTED",
        _K.CHANNEL_UNUSABLE,
        f"Your Slack workspace's settings do not let Buster post in this channel. {_NEW_CHANNEL}",
    ),
    "restricted_action_read_only_channel": ErrorSpec(
        "CHANNEL_READ_ONLY", _K.CHANNEL_UNUSABLE, f"The Slack channel is read-only for Buster. {_NEW_CHANNEL}"
    ),
    "restricted_action_thread_only_channel": ErrorSpec(
        "CHANNEL_THREAD_ONLY",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel accepts thread replies only, not new notifications. {_NEW_CHANNEL}",
    ),
    # This one message (or reply) is refused; the channel is fine.
    "restricted_action_non_threadable_channel": ErrorSpec(
        "CHANNEL_NOT_THREADABLE",
        _K.MESSAGE_REJECTED,
        "The Slack channel does not allow thread replies, so this reply cannot be posted.",
    ),
    "restricted_action_thread_locked": ErrorSpec(
        "THREAD_LOCKED", _K.MESSAGE_REJECTED, "The Slack thread is locked, so this reply cannot be posted."
    ),
    "cannot_reply_to_message": ErrorSpec(
        "CANNOT_REPLY_TO_MESSAGE", _K.MESSAGE_REJECTED, "Slack does not allow replies to the original message."
    ),
    # chat.update: the original cannot be changed any more; an update never retries on these.
    "message_not_found": ErrorSpec(
        "SLACK_MESSAGE_NOT_FOUND", _K.MESSAGE_REJECTED, "The Slack message to update was deleted in Slack."
    ),
    "cant_update_message": ErrorSpec(
        "SLACK_CANT_UPDATE_MESSAGE", _K.MESSAGE_REJECTED, "Slack does not let Buster change this message."
    ),
    "edit_window_closed": ErrorSpec(
        "SLACK_EDIT_WINDOW_CLOSED", _K.MESSAGE_REJECTED, "The Slack message is too old to be changed."
    ),
    "thread_not_found": ErrorSpec(
        "SLACK_THREAD_NOT_FOUND", _K.NOT_FOUND, "The original Slack message of this thread no longer exists."
    ),
    "no_text": ErrorSpec("MESSAGE_EMPTY", _K.MESSAGE_REJECTED, "The message has neither text nor blocks."),
    "invalid_blocks": ErrorSpec("INVALID_BLOCKS", _K.MESSAGE_REJECTED, "Slack rejected the message's blocks."),
    "invalid_blocks_format": ErrorSpec(
        "INVALID_BLOCKS", _K.MESSAGE_REJECTED, "The message's blocks are not valid Block Kit JSON."
    ),
    "msg_blocks_too_long": ErrorSpec(
        "MESSAGE_TOO_LONG", _K.MESSAGE_REJECTED, "The message's blocks are longer than Slack allows."
    ),
    "msg_too_long": ErrorSpec("MESSAGE_TOO_LONG", _K.MESSAGE_REJECTED, "The message text is longer than Slack allows."),
    "too_many_attachments": ErrorSpec(
        "TOO_MANY_ATTACHMENTS", _K.MESSAGE_REJECTED, "The message has more attachments than Slack allows."
    ),
    # Throttling: wait and try again (Retry-After when Slack gives one).
    "ratelimited": ErrorSpec(
        "SLACK_RATE_LIMITED", _K.RATE_LIMITED, "Slack is rate-limiting Buster. Try again shortly."
    ),
    "rate_limited": ErrorSpec(
        "SLACK_RATE_LIMITED", _K.RATE_LIMITED, "Slack is rate-limiting Buster. Try again shortly."
    ),
    "message_limit_exceeded": ErrorSpec(
        "SLACK_MESSAGE_LIMIT", _K.RATE_LIMITED, "Your Slack workspace has reached its message limit for now."
    ),
    # Slack-side trouble: transient.
    "internal_error": ErrorSpec("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "fatal_error": ErrorSpec("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "service_unavailable": ErrorSpec("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "request_timeout": ErrorSpec("SLACK_TIMEOUT", _K.UPSTREAM_UNAVAILABLE, SLACK_TIMEOUT.message),
    # Slack says our request was malformed: a bug of ours, retrying will not help.
    "invalid_cursor": ErrorSpec(
        "SLACK_REQUEST_REJECTED", _K.UPSTREAM_ERROR, "Slack rejected Buster's request. Contact Buster support."
    ),
    "invalid_limit": ErrorSpec(
        "SLACK_REQUEST_REJECTED", _K.UPSTREAM_ERROR, "Slack rejected Buster's request. Contact Buster support."
    ),
    "invalid_types": ErrorSpec(
        "SLACK_REQUEST_REJECTED", _K.UPSTREAM_ERROR, "Slack rejected Buster's request. Contact Buster support."
    ),
}


def from_slack(slack_error: str | None, *, http_status: int = 200, retry_after: float | None = None) -> ServiceError:
    """Classify one Slack answer: HTTP 429 and 5xx first, then the exact `error` string."""
    if http_status == 429:
        return SLACK_ERRORS["ratelimited"].error(slack_error=slack_error or "ratelimited", retry_after=retry_after)
    spec = SLACK_ERRORS.get(slack_error or "")
    if spec is not None:
        return spec.error(slack_error=slack_error, retry_after=retry_after if spec.kind is _K.RATE_LIMITED else None)
    if http_status >= 500:
        return SLACK_UNAVAILABLE.error(slack_error=f"http_{http_status}")
    # Keep unknown strings short: an HTML error page must not end up in a log line or a DLQ attribute.
    known = slack_error if slack_error and len(slack_error) <= 64 and slack_error.isidentifier() else None
    return SLACK_API_ERROR.error(slack_error=known or f"http_{http_status}")


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
        translated = from_slack(
            error if isinstance(error, str) else None,
            http_status=response.status_code,
            retry_after=_retry_after(response.headers),
        )
        translated.detail = _slack_detail(data)
        return translated
    if isinstance(exc, TimeoutError) or (isinstance(exc, URLError) and isinstance(exc.reason, TimeoutError)):
        return SLACK_TIMEOUT.error(slack_error="timeout")
    if isinstance(exc, (URLError, OSError, http.client.HTTPException, SlackClientError)):
        return SLACK_UNREACHABLE.error(slack_error=type(exc).__name__)
    raise TypeError(f"not a Slack failure: {type(exc).__name__}")


def outcome_unknown(error: ServiceError) -> bool:
    """Whether a failed call may still have taken effect at Slack: the request left, no answer came
    back (a timeout, a connection closed mid-response). An HTTP answer, even an error, means Slack
    handled the request and did not post. A refused connection is counted as unknown too: telling
    it apart is not worth a wrong guess, and the price is one read from Slack."""
    if error.code == SLACK_TIMEOUT.code:
        return error.slack_error == "timeout"
    return error.code == SLACK_UNREACHABLE.code


# How long after an unknown outcome the next attempt waits before it looks for the post in Slack.
# Our own timeout fired: Slack may still be working on the request and store the post later (the
# emulator's slow fault does), so wait long. The other end closed, reset or refused the connection:
# the exchange is over on its side, and what Slack stored is in its history at once (read after
# write); the short margin covers a store racing the close. The whole user's queue waits behind an
# unknown outcome (order), so this margin is paid by every notification behind it.
SETTLE_AFTER_TIMEOUT_SECONDS = 30.0
SETTLE_AFTER_CLOSED_SECONDS = 2.0


def settle_seconds(error: ServiceError) -> float:
    """How long to wait after a call whose outcome is unknown (`outcome_unknown`) before looking."""
    return SETTLE_AFTER_TIMEOUT_SECONDS if error.code == SLACK_TIMEOUT.code else SETTLE_AFTER_CLOSED_SECONDS


def _slack_detail(data: Mapping[str, Any]) -> str | None:
    """What Slack said beyond the error string, for logs and DLQ attributes: the pointers of an
    invalid_blocks answer (`errors`, `response_metadata.messages`: rules and JSON pointers, no
    content), or the scope a missing_scope answer names."""
    if isinstance(data.get("needed"), str):
        return f"needed scope: {data['needed']}"
    found = data.get("errors") or (data.get("response_metadata") or {}).get("messages")
    if isinstance(found, list) and found:
        return "; ".join(str(item) for item in found[:10])[:1000]
    return None
