"""The error taxonomy: every failure the service can meet, as a machine code plus a message a
person can act on.

An error's *kind* decides what happens next, in two places only: `http_api` turns kinds into HTTP
statuses, and (from the messaging issue on) the queue consumers turn them into retry / DLQ
decisions. The flags `retryable`, `needs_reconnect` and `needs_new_channel` are derived from the
kind, so they can never disagree with it.

Slack's error strings are classified by exact match on the `error` field (and the HTTP status
for 429 / 5xx), never by substring: see SLACK_ERRORS.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    UNAUTHENTICATED = "unauthenticated"  # the request carries no caller identity
    INVALID_INPUT = "invalid_input"  # the caller's body or parameters are wrong
    NOT_FOUND = "not_found"  # no integration / thread / route for this caller
    RECONNECT_REQUIRED = "reconnect_required"  # the Slack install is revoked, deleted or short of scopes
    CHANNEL_UNUSABLE = "channel_unusable"  # the channel is gone, archived, private or closed to the bot
    MESSAGE_REJECTED = "message_rejected"  # Slack refused this message's content for good
    RATE_LIMITED = "rate_limited"  # try again after `retry_after` seconds
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"  # Slack or AWS down, slow or unreachable: transient
    UPSTREAM_ERROR = "upstream_error"  # an answer we did not expect: not worth retrying blindly
    NOT_READY = "not_ready"  # something this needs has not happened yet (a reply's original): wait
    INTERNAL = "internal"  # a bug of ours


_RETRYABLE = {ErrorKind.RATE_LIMITED, ErrorKind.UPSTREAM_UNAVAILABLE, ErrorKind.NOT_READY}


class ServiceError(Exception):
    """A failure with a stable machine `code` and a `message` safe to show to the user.

    Messages are fixed texts written here; they never embed tokens, payloads or stack traces.
    `slack_error` keeps Slack's own error string for logs and DLQ attributes; `detail` says which
    part of a queue message was wrong (field paths and rules, never the values).
    """

    def __init__(
        self,
        code: str,
        message: str,
        kind: ErrorKind,
        *,
        slack_error: str | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.slack_error = slack_error
        self.retry_after = retry_after
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.kind in _RETRYABLE

    @property
    def needs_reconnect(self) -> bool:
        return self.kind is ErrorKind.RECONNECT_REQUIRED

    @property
    def needs_new_channel(self) -> bool:
        return self.kind is ErrorKind.CHANNEL_UNUSABLE

    def __repr__(self) -> str:
        return f"ServiceError(code={self.code!r}, kind={self.kind.value!r}, slack_error={self.slack_error!r})"


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    kind: ErrorKind
    message: str

    def error(
        self, *, slack_error: str | None = None, retry_after: float | None = None, detail: str | None = None
    ) -> ServiceError:
        return ServiceError(
            self.code, self.message, self.kind, slack_error=slack_error, retry_after=retry_after, detail=detail
        )


_K = ErrorKind
_RECONNECT = "Reconnect Slack from the Buster dashboard."
_NEW_CHANNEL = "Choose another notification channel in the Buster dashboard."

# Our own failures (not Slack's error strings).
UNAUTHENTICATED = ErrorSpec(
    "UNAUTHENTICATED", _K.UNAUTHENTICATED, "Sign in again: the request carries no verified user identity."
)
INVALID_REQUEST = ErrorSpec("INVALID_REQUEST", _K.INVALID_INPUT, "The request is not valid.")
ROUTE_NOT_FOUND = ErrorSpec("ROUTE_NOT_FOUND", _K.NOT_FOUND, "No such endpoint.")
INTEGRATION_NOT_FOUND = ErrorSpec(
    "INTEGRATION_NOT_FOUND",
    _K.NOT_FOUND,
    "No Slack workspace is connected to your Buster account. Connect Slack from the Buster dashboard first.",
)
INTEGRATION_INACTIVE = ErrorSpec(
    "INTEGRATION_INACTIVE", _K.RECONNECT_REQUIRED, f"Your Slack workspace was disconnected. {_RECONNECT}"
)
# The integration was replaced or removed (a reconnect) between our read and our write.
INTEGRATION_CHANGED = ErrorSpec(
    "INTEGRATION_CHANGED", _K.UPSTREAM_UNAVAILABLE, "Your Slack connection changed while saving. Try again."
)
TOKEN_MISSING = ErrorSpec(
    "TOKEN_MISSING", _K.RECONNECT_REQUIRED, f"Buster no longer holds a token for your Slack workspace. {_RECONNECT}"
)
CHANNEL_PRIVATE = ErrorSpec(
    "CHANNEL_PRIVATE",
    _K.CHANNEL_UNUSABLE,
    "That channel is private; notifications go to public channels only. Choose a public channel.",
)
CHANNEL_OTHER_WORKSPACE = ErrorSpec(
    "CHANNEL_OTHER_WORKSPACE",
    _K.CHANNEL_UNUSABLE,
    "That channel belongs to another Slack workspace. Choose a channel of your connected workspace.",
)
SLACK_TIMEOUT = ErrorSpec(
    "SLACK_TIMEOUT", _K.UPSTREAM_UNAVAILABLE, "Slack did not answer in time. Try again in a moment."
)
SLACK_UNREACHABLE = ErrorSpec(
    "SLACK_UNREACHABLE", _K.UPSTREAM_UNAVAILABLE, "Buster could not reach Slack. Try again in a moment."
)
SLACK_UNAVAILABLE = ErrorSpec(
    "SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, "Slack is having trouble right now. Try again in a few minutes."
)
SLACK_API_ERROR = ErrorSpec(
    "SLACK_API_ERROR",
    _K.UPSTREAM_ERROR,
    "Slack answered with an error Buster does not recognise. If it persists, contact Buster support.",
)
AWS_UNAVAILABLE = ErrorSpec(
    "AWS_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, "Buster's storage is temporarily unavailable. Try again in a moment."
)
# Queue messages (see README "Queue contract").
INVALID_MESSAGE = ErrorSpec(
    "INVALID_MESSAGE", _K.INVALID_INPUT, "The queue message does not match the send/reply contract."
)
CHANNEL_NOT_SET = ErrorSpec(
    "CHANNEL_NOT_SET",
    _K.CHANNEL_UNUSABLE,
    "No notification channel is chosen yet. Choose one in the Buster dashboard.",
)
ORIGINAL_NOT_DELIVERED = ErrorSpec(
    "ORIGINAL_NOT_DELIVERED",
    _K.NOT_READY,
    "The message this reply belongs to has not been delivered to Slack (yet), so there is no thread to reply in.",
)
# Another invocation holds this delivery's lease: it is posting the same message right now.
DELIVERY_IN_PROGRESS = ErrorSpec(
    "DELIVERY_IN_PROGRESS", _K.UPSTREAM_UNAVAILABLE, "The same message is being delivered by another worker."
)
# A post whose outcome is unknown (the connection broke) could not be checked against Slack.
DELIVERY_UNVERIFIABLE = ErrorSpec(
    "DELIVERY_UNVERIFIABLE",
    _K.UPSTREAM_ERROR,
    "Buster cannot tell whether an earlier attempt reached Slack; kept for an operator rather than risk a duplicate.",
)
FEATURE_DISABLED = ErrorSpec(
    "FEATURE_DISABLED",
    _K.UPSTREAM_UNAVAILABLE,
    "Slack notifications are paused by Buster for maintenance. Your settings are kept; try again later.",
)
INTERNAL_ERROR = ErrorSpec(
    "INTERNAL_ERROR",
    _K.INTERNAL,
    "Something went wrong on Buster's side. Try again; if it persists, contact Buster support.",
)


def _slack(code: str, kind: ErrorKind, message: str) -> ErrorSpec:
    return ErrorSpec(code, kind, message)


# Every error string of ../shared/slack-api.md, by exact match.
SLACK_ERRORS: dict[str, ErrorSpec] = {
    # Authentication and installation: only a reconnect (new OAuth install) fixes these.
    "not_authed": _slack(
        "SLACK_NOT_AUTHED", _K.RECONNECT_REQUIRED, f"Slack received no token from Buster. {_RECONNECT}"
    ),
    "invalid_auth": _slack(
        "SLACK_INVALID_AUTH", _K.RECONNECT_REQUIRED, f"Slack no longer accepts Buster's token. {_RECONNECT}"
    ),
    "token_revoked": _slack(
        "SLACK_TOKEN_REVOKED",
        _K.RECONNECT_REQUIRED,
        f"Buster's access to your Slack workspace was revoked (the app was removed). {_RECONNECT}",
    ),
    "token_expired": _slack(
        "SLACK_TOKEN_EXPIRED", _K.RECONNECT_REQUIRED, f"Buster's Slack token has expired. {_RECONNECT}"
    ),
    "account_inactive": _slack(
        "SLACK_ACCOUNT_INACTIVE",
        _K.RECONNECT_REQUIRED,
        f"The Slack workspace or Buster's bot user has been deactivated. {_RECONNECT}",
    ),
    "missing_scope": _slack(
        "SLACK_MISSING_SCOPE",
        _K.RECONNECT_REQUIRED,
        f"Buster's Slack app lacks a permission this needs. {_RECONNECT} to grant it.",
    ),
    "team_access_not_granted": _slack(
        "SLACK_TEAM_ACCESS_NOT_GRANTED",
        _K.RECONNECT_REQUIRED,
        f"Buster's Slack app has not been granted access to this workspace. {_RECONNECT}",
    ),
    "no_permission": _slack(
        "SLACK_NO_PERMISSION", _K.RECONNECT_REQUIRED, f"Buster's Slack app is not permitted to do this. {_RECONNECT}"
    ),
    "access_denied": _slack("SLACK_ACCESS_DENIED", _K.RECONNECT_REQUIRED, f"Slack denied Buster access. {_RECONNECT}"),
    # The channel itself cannot take notifications: a different channel fixes these.
    "channel_not_found": _slack(
        "CHANNEL_NOT_FOUND",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel does not exist or Buster cannot see it. {_NEW_CHANNEL}",
    ),
    "channel_is_limited_access": _slack(
        "CHANNEL_LIMITED_ACCESS",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel restricts access, so Buster cannot use it. {_NEW_CHANNEL}",
    ),
    "is_archived": _slack("CHANNEL_ARCHIVED", _K.CHANNEL_UNUSABLE, f"The Slack channel is archived. {_NEW_CHANNEL}"),
    "not_in_channel": _slack(
        "NOT_IN_CHANNEL",
        _K.CHANNEL_UNUSABLE,
        "The Buster bot is not a member of the channel. Invite it (/invite @Buster) or choose another channel.",
    ),
    "restricted_action": _slack(
        "CHANNEL_RESTRICTED",
        _K.CHANNEL_UNUSABLE,
        f"Your Slack workspace's settings do not let Buster post in this channel. {_NEW_CHANNEL}",
    ),
    "restricted_action_read_only_channel": _slack(
        "CHANNEL_READ_ONLY", _K.CHANNEL_UNUSABLE, f"The Slack channel is read-only for Buster. {_NEW_CHANNEL}"
    ),
    "restricted_action_thread_only_channel": _slack(
        "CHANNEL_THREAD_ONLY",
        _K.CHANNEL_UNUSABLE,
        f"The Slack channel accepts thread replies only, not new notifications. {_NEW_CHANNEL}",
    ),
    # This one message (or reply) is refused; the channel is fine.
    "restricted_action_non_threadable_channel": _slack(
        "CHANNEL_NOT_THREADABLE",
        _K.MESSAGE_REJECTED,
        "The Slack channel does not allow thread replies, so this reply cannot be posted.",
    ),
    "restricted_action_thread_locked": _slack(
        "THREAD_LOCKED", _K.MESSAGE_REJECTED, "The Slack thread is locked, so this reply cannot be posted."
    ),
    "cannot_reply_to_message": _slack(
        "CANNOT_REPLY_TO_MESSAGE", _K.MESSAGE_REJECTED, "Slack does not allow replies to the original message."
    ),
    "thread_not_found": _slack(
        "THREAD_NOT_FOUND", _K.NOT_FOUND, "The original Slack message of this thread no longer exists."
    ),
    "no_text": _slack("MESSAGE_EMPTY", _K.MESSAGE_REJECTED, "The message has neither text nor blocks."),
    "invalid_blocks": _slack("INVALID_BLOCKS", _K.MESSAGE_REJECTED, "Slack rejected the message's blocks."),
    "invalid_blocks_format": _slack(
        "INVALID_BLOCKS", _K.MESSAGE_REJECTED, "The message's blocks are not valid Block Kit JSON."
    ),
    "msg_blocks_too_long": _slack(
        "MESSAGE_TOO_LONG", _K.MESSAGE_REJECTED, "The message's blocks are longer than Slack allows."
    ),
    "msg_too_long": _slack("MESSAGE_TOO_LONG", _K.MESSAGE_REJECTED, "The message text is longer than Slack allows."),
    "too_many_attachments": _slack(
        "TOO_MANY_ATTACHMENTS", _K.MESSAGE_REJECTED, "The message has more attachments than Slack allows."
    ),
    # Throttling: wait and try again (Retry-After when Slack gives one).
    "ratelimited": _slack("SLACK_RATE_LIMITED", _K.RATE_LIMITED, "Slack is rate-limiting Buster. Try again shortly."),
    "rate_limited": _slack("SLACK_RATE_LIMITED", _K.RATE_LIMITED, "Slack is rate-limiting Buster. Try again shortly."),
    "message_limit_exceeded": _slack(
        "SLACK_MESSAGE_LIMIT", _K.RATE_LIMITED, "Your Slack workspace has reached its message limit for now."
    ),
    # Slack-side trouble: transient.
    "internal_error": _slack("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "fatal_error": _slack("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "service_unavailable": _slack("SLACK_UNAVAILABLE", _K.UPSTREAM_UNAVAILABLE, SLACK_UNAVAILABLE.message),
    "request_timeout": _slack("SLACK_TIMEOUT", _K.UPSTREAM_UNAVAILABLE, SLACK_TIMEOUT.message),
    # Slack says our request was malformed: a bug of ours, retrying will not help.
    "invalid_cursor": _slack(
        "SLACK_REQUEST_REJECTED", _K.UPSTREAM_ERROR, "Slack rejected Buster's request. Contact Buster support."
    ),
    "invalid_limit": _slack(
        "SLACK_REQUEST_REJECTED", _K.UPSTREAM_ERROR, "Slack rejected Buster's request. Contact Buster support."
    ),
    "invalid_types": _slack(
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
