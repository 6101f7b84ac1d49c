"""The error taxonomy: every Slack error string of slack-api.md is classified, exactly."""

from __future__ import annotations

import re

import pytest

from slack_integration.errors import ErrorKind
from slack_integration.slack_errors import SLACK_ERRORS, from_slack

# Every error string named in ../shared/slack-api.md (restricted_action* expanded to Slack's variants).
DOCUMENTED = {
    "invalid_cursor",
    "invalid_limit",
    "invalid_types",
    "channel_not_found",
    "channel_is_limited_access",
    "is_archived",
    "not_in_channel",
    "no_text",
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_blocks_too_long",
    "msg_too_long",
    "too_many_attachments",
    "restricted_action",
    "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel",
    "restricted_action_thread_locked",
    "cannot_reply_to_message",
    "ratelimited",
    "rate_limited",
    "message_limit_exceeded",
    "thread_not_found",
    "not_authed",
    "invalid_auth",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_access_not_granted",
    "no_permission",
    "access_denied",
}


def test_every_documented_slack_error_has_a_classification():
    assert set(SLACK_ERRORS) >= DOCUMENTED


@pytest.mark.parametrize("code", sorted(SLACK_ERRORS))
def test_every_error_has_a_code_and_an_actionable_message(code):
    error = SLACK_ERRORS[code].error(slack_error=code)
    assert re.fullmatch(r"[A-Z][A-Z_]+", error.code)
    assert len(error.message) > 20 and error.message.endswith(".")
    assert "xox" not in error.message


@pytest.mark.parametrize(
    ("slack_error", "kind"),
    [
        ("token_revoked", ErrorKind.RECONNECT_REQUIRED),
        ("invalid_auth", ErrorKind.RECONNECT_REQUIRED),
        ("account_inactive", ErrorKind.RECONNECT_REQUIRED),
        ("token_expired", ErrorKind.RECONNECT_REQUIRED),
        ("missing_scope", ErrorKind.RECONNECT_REQUIRED),
        ("is_archived", ErrorKind.CHANNEL_UNUSABLE),
        ("channel_not_found", ErrorKind.CHANNEL_UNUSABLE),
        ("not_in_channel", ErrorKind.CHANNEL_UNUSABLE),
        ("ratelimited", ErrorKind.RATE_LIMITED),
        ("rate_limited", ErrorKind.RATE_LIMITED),
        ("internal_error", ErrorKind.UPSTREAM_UNAVAILABLE),
        ("invalid_blocks", ErrorKind.MESSAGE_REJECTED),
        ("thread_not_found", ErrorKind.NOT_FOUND),
    ],
)
def test_kinds_and_flags(slack_error, kind):
    error = from_slack(slack_error)
    assert error.kind is kind
    assert error.retryable == (kind in (ErrorKind.RATE_LIMITED, ErrorKind.UPSTREAM_UNAVAILABLE))
    assert error.needs_reconnect == (kind is ErrorKind.RECONNECT_REQUIRED)
    assert error.needs_new_channel == (kind is ErrorKind.CHANNEL_UNUSABLE)
    assert error.slack_error == slack_error


def test_http_429_is_rate_limited_whatever_the_body_says_and_keeps_retry_after():
    error = from_slack(None, http_status=429, retry_after=17)
    assert error.code == "SLACK_RATE_LIMITED" and error.retry_after == 17 and error.retryable


def test_rate_limited_in_a_200_body_is_rate_limited_too():
    assert from_slack("rate_limited", http_status=200).kind is ErrorKind.RATE_LIMITED


def test_5xx_without_a_known_error_is_transient():
    error = from_slack("<html>502 Bad Gateway</html>", http_status=502)
    assert error.code == "SLACK_UNAVAILABLE" and error.retryable
    assert error.slack_error == "http_502"


def test_classification_is_by_exact_code_never_by_substring():
    # The PRD matched "rate_limited" anywhere in a message; a different error mentioning it is not a rate limit.
    error = from_slack("not_rate_limited_really")
    assert error.code == "SLACK_API_ERROR" and not error.retryable


def test_unknown_error_strings_are_kept_short_and_safe():
    assert from_slack("some_new_error").slack_error == "some_new_error"
    assert from_slack("x" * 500).slack_error == "http_200"


def _slack_failure(data: dict, status: int = 200) -> Exception:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.slack_response import SlackResponse

    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,
        headers={},
        status_code=status,
    )
    return SlackApiError("refused", response)


def test_an_invalid_blocks_answer_keeps_slacks_pointers_as_the_detail():
    from slack_integration.slack_errors import translate

    error = translate(
        _slack_failure(
            {
                "ok": False,
                "error": "invalid_blocks",
                "errors": ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"],
                "response_metadata": {
                    "messages": ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]
                },
            }
        )
    )

    assert error.code == "INVALID_BLOCKS"
    assert error.detail == "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"


def test_a_missing_scope_answer_names_the_scope_slack_needs():
    from slack_integration.slack_errors import translate

    error = translate(
        _slack_failure({"ok": False, "error": "missing_scope", "needed": "channels:history", "provided": "chat:write"})
    )

    assert (error.code, error.detail) == ("SLACK_MISSING_SCOPE", "needed scope: channels:history")
