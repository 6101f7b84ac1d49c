"""The error taxonomy: every failure the service can meet, as a machine code plus a message a
person can act on.

An error's *kind* decides what happens next, in three places only: `http_api` turns kinds into
HTTP statuses, `queue_policy` turns them into retry / DLQ decisions, and `health_flag` below
says which ones mark the user's integration as needing a reconnect or a new channel. The flags
`retryable`, `needs_reconnect` and `needs_new_channel` are derived from the kind, so they can
never disagree with it. Every code the service answers or dead-letters with is defined here.

Slack's own error strings are classified in `slack_errors`, by exact match on the `error` field
(and the HTTP status for 429 / 5xx), never by substring.
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

    def __post_init__(self) -> None:
        # The first spec of a code is its message for a record that keeps only the code.
        _MESSAGES.setdefault(self.code, self.message)

    def error(
        self, *, slack_error: str | None = None, retry_after: float | None = None, detail: str | None = None
    ) -> ServiceError:
        return ServiceError(
            self.code, self.message, self.kind, slack_error=slack_error, retry_after=retry_after, detail=detail
        )


_MESSAGES: dict[str, str] = {}


def message_of(code: str | None) -> str | None:
    """The message a person can act on for a stored error `code` (a delivery record keeps only
    the code), or None for a code this service does not define."""
    if code is None:
        return None
    from slack_integration import slack_errors  # noqa: F401  (Slack's codes are defined there)

    return _MESSAGES.get(code)


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
# Health only (a degraded install still posts): what it lacks and what that costs.
SCOPES_MISSING = ErrorSpec(
    "SLACK_SCOPES_MISSING",
    _K.RECONNECT_REQUIRED,
    "Buster's Slack app is missing a permission it relies on: it cannot confirm a notification after a "
    "network error without posting it twice, or show threads from Slack. Reconnect Slack to grant it.",
)
# Updates in place that are dropped, never applied: their receipt says which (no DLQ entry).
UPDATE_STALE = ErrorSpec(
    "UPDATE_STALE", _K.MESSAGE_REJECTED, "A newer update of this message was applied already; this one was dropped."
)
UPDATE_SUPERSEDED = ErrorSpec(
    "UPDATE_SUPERSEDED", _K.MESSAGE_REJECTED, "A newer update of this message was waiting too; only it was applied."
)
# A tracked original that ended in the DLQ: its replies can never be threaded, so they end there too.
ORIGINAL_FAILED = ErrorSpec(
    "ORIGINAL_FAILED",
    _K.MESSAGE_REJECTED,
    "The message this reply belongs to ended in the dead-letter queue, so there is no thread to reply in.",
)
THREAD_NOT_FOUND = ErrorSpec(
    "THREAD_NOT_FOUND", _K.NOT_FOUND, "No message with this id was delivered to your Slack channel."
)
INVALID_WINDOW = ErrorSpec(
    "INVALID_WINDOW",
    _K.INVALID_INPUT,
    "`start` and `end` must be RFC 3339 times with a zone, such as 2026-11-27T00:00:00Z.",
)
WINDOW_ORDER = ErrorSpec("INVALID_WINDOW", _K.INVALID_INPUT, "`start` must be before `end`.")
INVALID_CURSOR = ErrorSpec(
    "INVALID_CURSOR",
    _K.INVALID_INPUT,
    "`cursor` is not one this API gave out. Start again without it and follow `nextCursor`.",
)
WINDOW_TOO_LONG = ErrorSpec("INVALID_WINDOW", _K.INVALID_INPUT, "The window can be at most 31 days long.")
UNSUPPORTED_MEDIA_TYPE = ErrorSpec(
    "UNSUPPORTED_MEDIA_TYPE", _K.INVALID_INPUT, "Send the request body as JSON (Content-Type: application/json)."
)
# admin connect: the token works, but for another workspace than the operator named.
TEAM_MISMATCH = ErrorSpec(
    "TEAM_MISMATCH", _K.INVALID_INPUT, "The bot token belongs to another Slack workspace than the one named."
)
# The Slack app lifecycle (README "Slack app lifecycle"): Add to Slack, Slack's events, token rotation.
_START_AGAIN = "Start again with Add to Slack in the Buster dashboard."
INSTALL_STATE_INVALID = ErrorSpec(
    "INSTALL_STATE_INVALID", _K.INVALID_INPUT, f"This Slack connection link is not valid. {_START_AGAIN}"
)
INSTALL_STATE_USED = ErrorSpec(
    "INSTALL_STATE_USED", _K.INVALID_INPUT, f"This Slack connection link was already used. {_START_AGAIN}"
)
INSTALL_STATE_EXPIRED = ErrorSpec(
    "INSTALL_STATE_EXPIRED", _K.INVALID_INPUT, f"This Slack connection link expired (after 10 minutes). {_START_AGAIN}"
)
INSTALL_DENIED = ErrorSpec(
    "INSTALL_DENIED", _K.INVALID_INPUT, "Slack was not connected: the permission request was cancelled in Slack."
)
INSTALL_EXCHANGE_FAILED = ErrorSpec(
    "INSTALL_EXCHANGE_FAILED", _K.UPSTREAM_ERROR, f"Slack did not confirm the connection. {_START_AGAIN}"
)
INSTALL_SCOPES_MISSING = ErrorSpec(
    "INSTALL_SCOPES_MISSING",
    _K.RECONNECT_REQUIRED,
    "Slack granted Buster fewer permissions than it needs to post notifications, so nothing was connected. "
    "Contact Buster support.",
)
ENTERPRISE_INSTALL_UNSUPPORTED = ErrorSpec(
    "ENTERPRISE_INSTALL_UNSUPPORTED",
    _K.INVALID_INPUT,
    "Buster connects one Slack workspace, not a whole Enterprise Grid organization. "
    "Install it to one workspace of your organization instead.",
)
SLACK_APP_NOT_CONFIGURED = ErrorSpec(
    "SLACK_APP_NOT_CONFIGURED", _K.UPSTREAM_ERROR, "Buster's Slack app is not set up yet. Contact Buster support."
)
SIGNATURE_INVALID = ErrorSpec(
    "SIGNATURE_INVALID", _K.UNAUTHENTICATED, "The request does not carry a valid, current Slack signature."
)
# Slack redelivered an event we are still handling: answering 503 makes Slack try again later.
EVENT_IN_PROGRESS = ErrorSpec("EVENT_IN_PROGRESS", _K.UPSTREAM_UNAVAILABLE, "This Slack event is being handled.")
SLACK_APP_UNINSTALLED = ErrorSpec(
    "SLACK_APP_UNINSTALLED", _K.RECONNECT_REQUIRED, f"Buster's Slack app was removed from your workspace. {_RECONNECT}"
)
TOKEN_REFRESH_REFUSED = ErrorSpec(
    "TOKEN_REFRESH_REFUSED",
    _K.RECONNECT_REQUIRED,
    f"Slack no longer renews Buster's access to your workspace. {_RECONNECT}",
)
TOKEN_REFRESH_IN_PROGRESS = ErrorSpec(
    "TOKEN_REFRESH_IN_PROGRESS", _K.UPSTREAM_UNAVAILABLE, "Buster is renewing its Slack access. Try again in a moment."
)
# The search for an earlier attempt's post goes on in the next attempt, from where it stopped.
DELIVERY_LOOK_CONTINUES = ErrorSpec(
    "DELIVERY_LOOK_CONTINUES",
    _K.UPSTREAM_UNAVAILABLE,
    "Buster is still checking whether an earlier attempt reached Slack before posting again.",
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


class HealthFlag(StrEnum):
    """What an error says about the user's integration, when it says anything."""

    NEEDS_RECONNECT = "needs_reconnect"
    NEEDS_NEW_CHANNEL = "needs_new_channel"


def health_flag(error: ServiceError, *, about_notification_channel: bool = True) -> HealthFlag | None:
    """The one rule for when an error marks the integration (so status and the health sweep show
    it): only errors the user must fix. A channel error marks it only when it concerns the saved
    notification channel (a reply may go to the channel an older notification was posted in; a
    channel being chosen is not the saved one)."""
    if error.needs_reconnect:
        return HealthFlag.NEEDS_RECONNECT
    if error.needs_new_channel and about_notification_channel:
        return HealthFlag.NEEDS_NEW_CHANNEL
    return None
