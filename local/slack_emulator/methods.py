"""Slack Web API semantics: authentication, scopes and the methods the project calls.

Each method returns the body of a successful answer or raises `SlackError` carrying Slack's exact
error string, so the code under test meets the same failures it would meet on slack.com.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from local.slack_emulator.state import Channel, EmulatorState, PostRateLimit, Token, Workspace

MAX_BLOCKS = 50
MAX_TEXT_LENGTH = 40_000
CONVERSATION_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})
# Block types Slack accepts in messages; any other `type` gets `invalid_blocks`.
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_STATUS_ERRORS = {"revoked": "token_revoked", "inactive": "account_inactive", "expired": "token_expired"}
_CURSOR_PREFIX = "offset:"


class SlackError(Exception):
    """An `ok: false` answer; `extra` holds fields such as missing_scope's `needed`/`provided`."""

    def __init__(self, error: str, **extra: str) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}


class RateLimitedError(SlackError):
    """Throttled: answered HTTP 429 with `ratelimited` and a Retry-After header, as Slack does."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ApiCall:
    """One parsed request; `parse_error` is set when the body could not be decoded."""

    method: str
    params: Mapping[str, Any]
    token: str | None
    parse_error: str | None = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    workspace: Workspace
    token: Token
    post_rate_limit: PostRateLimit


class Params:
    """Request params that arrive either as form strings ("1", "true") or as JSON values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def text(self, name: str) -> str | None:
        """The param as a string, or None when absent or empty (Slack treats both alike)."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)

    def flag(self, name: str, *, default: bool) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true")
        return bool(value)


@dataclass(frozen=True)
class TimeWindow:
    """The `oldest`/`latest`/`inclusive` bounds of a history read.

    Bounds are compared as numbers, not strings: callers may send "0", "1700000000" or
    "1700000000.5", and text misorders values of other lengths ("2" sorts after "1700000000.000001").
    No `latest` means no upper bound rather than "now", because this emulator bumps ts past the
    wall clock when posts come faster than one a microsecond.
    """

    oldest: Decimal | None = None
    latest: Decimal | None = None
    inclusive: bool = False

    @classmethod
    def from_params(cls, params: Params) -> TimeWindow:
        return cls(
            oldest=_ts_bound(params, "oldest", "invalid_ts_oldest"),
            latest=_ts_bound(params, "latest", "invalid_ts_latest"),
            inclusive=params.flag("inclusive", default=False),
        )

    def contains(self, ts: str) -> bool:
        value = Decimal(ts)
        after_oldest = self.oldest is None or value > self.oldest or (self.inclusive and value == self.oldest)
        before_latest = self.latest is None or value < self.latest or (self.inclusive and value == self.latest)
        return after_oldest and before_latest


MethodImpl = Callable[[Caller, Params], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    scope: str | None
    impl: MethodImpl


def dispatch(state: EmulatorState, call: ApiCall) -> Answer:
    """Answer one API call the way Slack does: method, then body, then auth, then scope, then args."""
    spec = METHODS.get(call.method)
    if spec is None:
        return Answer(404, SlackError("unknown_method").body())
    if call.parse_error is not None:
        return Answer(200, SlackError(call.parse_error).body())
    with state.lock:
        try:
            caller = _authenticate(state, call.token)
        except SlackError as err:
            return Answer(200, err.body())
        headers = {"X-OAuth-Scopes": ",".join(caller.token.scopes)}
        try:
            if spec.scope is not None and spec.scope not in caller.token.scopes:
                raise SlackError("missing_scope", needed=spec.scope, provided=",".join(caller.token.scopes))
            return Answer(200, {"ok": True, **spec.impl(caller, Params(call.params))}, headers)
        except RateLimitedError as err:
            return Answer(429, err.body(), {**headers, "Retry-After": str(err.retry_after)})
        except SlackError as err:
            return Answer(200, err.body(), headers)


def _authenticate(state: EmulatorState, token: str | None) -> Caller:
    if not token:
        raise SlackError("not_authed")
    record = state.tokens.get(token)
    if record is None:
        raise SlackError("invalid_auth")
    if record.status in _STATUS_ERRORS:
        raise SlackError(_STATUS_ERRORS[record.status])
    return Caller(workspace=state.workspaces[record.team_id], token=record, post_rate_limit=state.post_rate_limit)


# -- auth.* -----------------------------------------------------------------------------------


def auth_test(caller: Caller, params: Params) -> dict[str, Any]:
    workspace = caller.workspace
    return {
        "url": f"https://{workspace.domain}.slack.com/",
        "team": workspace.name,
        "user": workspace.bot_name,
        "team_id": workspace.team_id,
        "user_id": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "is_enterprise_install": False,
    }


def auth_revoke(caller: Caller, params: Params) -> dict[str, Any]:
    """`test=true` only checks the token, as on Slack."""
    if params.flag("test", default=False):
        return {"revoked": False}
    caller.token.status = "revoked"
    return {"revoked": True}


# -- conversations.* --------------------------------------------------------------------------


def conversations_list(caller: Caller, params: Params) -> dict[str, Any]:
    """Cut the page over all channels first, then filter: pages may be short or empty mid-listing."""
    types = _conversation_types(params.text("types"))
    exclude_archived = params.flag("exclude_archived", default=False)
    limit = _limit(params, default=100, maximum=999)
    offset = _decode_cursor(params.text("cursor"))
    channels = list(caller.workspace.channels.values())
    window = channels[offset : offset + limit]
    page = [
        channel.to_slack()
        for channel in window
        if channel.visible_to_bot
        and channel.conversation_type in types
        and not (exclude_archived and channel.is_archived)
    ]
    next_offset = offset + limit
    next_cursor = _encode_cursor(next_offset) if next_offset < len(channels) else ""
    return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}


def conversations_info(caller: Caller, params: Params) -> dict[str, Any]:
    channel = _visible_channel(caller.workspace, params.text("channel"))
    include_num_members = params.flag("include_num_members", default=False)
    return {"channel": channel.to_slack(include_num_members=include_num_members)}


def conversations_history(caller: Caller, params: Params) -> dict[str, Any]:
    """The channel as people see it, newest first: thread replies stay in their thread unless broadcast."""
    channel = _visible_channel(caller.workspace, params.text("channel"))
    limit = _limit(params, default=100, maximum=999)
    offset = _decode_cursor(params.text("cursor"))
    window = TimeWindow.from_params(params)
    include_metadata = params.flag("include_all_metadata", default=False)
    history = [m for m in reversed(channel.messages) if _shown_in_channel(m) and window.contains(m["ts"])]
    answer = _message_page(history, offset=offset, limit=limit, include_metadata=include_metadata)
    return {**answer, "pin_count": 0}


def conversations_replies(caller: Caller, params: Params) -> dict[str, Any]:
    """Parent first whatever the bounds, then the replies inside them; a reply's ts selects its thread.

    A thread whose parent was deleted is `thread_not_found`, by the parent's ts or by a reply's.
    """
    channel = _visible_channel(caller.workspace, params.text("channel"))
    limit = _limit(params, default=1000, maximum=1000)
    offset = _decode_cursor(params.text("cursor"))
    window = TimeWindow.from_params(params)
    include_metadata = params.flag("include_all_metadata", default=False)
    parent = _thread_parent(channel, params.text("ts"))
    if parent is None:
        raise SlackError("thread_not_found")
    replies = [
        m
        for m in channel.messages
        if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"] and window.contains(m["ts"])
    ]
    return _message_page([parent, *replies], offset=offset, limit=limit, include_metadata=include_metadata)


def _shown_in_channel(message: dict[str, Any]) -> bool:
    """Unthreaded posts, thread parents, and replies that were also sent to the channel."""
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"


def _message_page(messages: list[dict[str, Any]], *, offset: int, limit: int, include_metadata: bool) -> dict[str, Any]:
    """One page of a read; `response_metadata` appears only when more remain, as on Slack."""
    page = messages[offset : offset + limit]
    has_more = offset + limit < len(messages)
    answer: dict[str, Any] = {
        "messages": [_render_message(m, include_metadata=include_metadata) for m in page],
        "has_more": has_more,
    }
    if has_more:
        answer["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit)}
    return answer


def _render_message(message: dict[str, Any], *, include_metadata: bool) -> dict[str, Any]:
    """A stored message as read methods return it: Slack sends `metadata` only on include_all_metadata."""
    rendered = copy.deepcopy(message)
    if not include_metadata:
        rendered.pop("metadata", None)
    return rendered


# -- chat.postMessage -------------------------------------------------------------------------


def chat_post_message(caller: Caller, params: Params) -> dict[str, Any]:
    """Validate in Slack's order, store the message, and thread it the way Slack does.

    Once the channel is resolved the post takes a token of that channel's rate-limit bucket (when a
    limit is set), whether it then succeeds or fails validation: Slack throttles requests, not
    stored messages. Replies count against their channel like any other post.
    """
    workspace = caller.workspace
    channel = _post_target(workspace, params.text("channel"))
    retry_after = caller.post_rate_limit.take(workspace.team_id, channel.id)
    if retry_after is not None:
        raise RateLimitedError(retry_after)
    if channel.is_archived:
        raise SlackError("is_archived")
    text = params.text("text") or ""
    raw_blocks = params.raw("blocks")
    if not text and not _blocks_given(raw_blocks):
        raise SlackError("no_text")
    blocks = _parse_blocks(raw_blocks)
    if len(text) > MAX_TEXT_LENGTH:
        raise SlackError("msg_too_long")
    if not channel.is_member and "chat:write.public" not in caller.token.scopes:
        raise SlackError("not_in_channel")
    metadata = _parse_metadata(params.raw("metadata"))

    ts = workspace.next_ts()
    message: dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "team": workspace.team_id,
        "ts": ts,
    }
    if blocks:
        message["blocks"] = blocks
    if metadata is not None:
        message["metadata"] = metadata
    parent = _thread_parent(channel, params.text("thread_ts"))
    if parent is not None:
        message["thread_ts"] = parent["ts"]
        message["parent_user_id"] = parent["user"]
        if params.flag("reply_broadcast", default=False):
            message["subtype"] = "thread_broadcast"
        _count_reply(parent, message)
    channel.messages.append(message)
    return {"channel": channel.id, "ts": ts, "message": copy.deepcopy(message)}


def _post_target(workspace: Workspace, reference: str | None) -> Channel:
    """chat.postMessage takes an ID, or `#name` of a public channel."""
    if reference is not None and reference.startswith("#"):
        name = reference[1:]
        for channel in workspace.channels.values():
            if channel.name == name and not channel.is_private:
                return channel
        raise SlackError("channel_not_found")
    return _visible_channel(workspace, reference)


def _thread_parent(channel: Channel, thread_ts: str | None) -> dict[str, Any] | None:
    """The top-level message a reply belongs to.

    None (a post then lands top-level) when thread_ts is unknown or names a reply whose parent was
    deleted.
    """
    target = channel.find_message(thread_ts) if thread_ts else None
    if target is None:
        return None
    root_ts = target.get("thread_ts", target["ts"])
    return target if root_ts == target["ts"] else channel.find_message(root_ts)


def _count_reply(parent: dict[str, Any], reply: dict[str, Any]) -> None:
    parent["thread_ts"] = parent["ts"]
    parent["reply_count"] = parent.get("reply_count", 0) + 1
    reply_users: list[str] = parent.setdefault("reply_users", [])
    if reply["user"] not in reply_users:
        reply_users.append(reply["user"])
    parent["reply_users_count"] = len(reply_users)
    parent["latest_reply"] = reply["ts"]


def _blocks_given(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip() not in ("", "[]")
    return bool(raw)


def _parse_blocks(raw: Any) -> list[dict[str, Any]]:
    """Blocks arrive as a JSON string (form bodies) or a list (JSON bodies)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return []
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    if not isinstance(raw, list) or not all(
        isinstance(block, dict) and isinstance(block.get("type"), str) for block in raw
    ):
        raise SlackError("invalid_blocks_format")
    if len(raw) > MAX_BLOCKS or any(block["type"] not in BLOCK_TYPES for block in raw):
        raise SlackError("invalid_blocks")
    return copy.deepcopy(raw)


def _parse_metadata(raw: Any) -> dict[str, Any] | None:
    """Message metadata: an object (or its JSON string) with `event_type` and `event_payload`."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise SlackError("invalid_metadata_format") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("event_type"), str):
        raise SlackError("invalid_metadata_format")
    if not isinstance(raw.get("event_payload", {}), dict):
        raise SlackError("invalid_metadata_format")
    return copy.deepcopy(raw)


# -- shared argument handling -----------------------------------------------------------------


def _visible_channel(workspace: Workspace, channel_id: str | None) -> Channel:
    """A channel of the caller's own workspace that the bot may see, else `channel_not_found`."""
    channel = workspace.channels.get(channel_id) if channel_id else None
    if channel is None or not channel.visible_to_bot:
        raise SlackError("channel_not_found")
    return channel


def _conversation_types(raw: str | None) -> frozenset[str]:
    if raw is None:
        return frozenset({"public_channel"})
    types = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not types or not types <= CONVERSATION_TYPES:
        raise SlackError("invalid_types")
    return types


def _limit(params: Params, *, default: int, maximum: int) -> int:
    raw = params.text("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise SlackError("invalid_limit") from None
    if not 1 <= limit <= maximum:
        raise SlackError("invalid_limit")
    return limit


def _ts_bound(params: Params, name: str, error: str) -> Decimal | None:
    """A non-negative number such as "0", "1700000000" or "1700000000.000100"; else Slack's `error`."""
    raw = params.text(name)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise SlackError(error) from None
    if not value.is_finite() or value < 0:
        raise SlackError(error)
    return value


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode("ascii")


def _decode_cursor(cursor: str | None) -> int:
    """Offset named by an opaque cursor; anything this emulator did not issue is `invalid_cursor`."""
    if cursor is None:
        return 0
    try:
        decoded = base64.b64decode(cursor, validate=True).decode("ascii")
        offset = int(decoded.removeprefix(_CURSOR_PREFIX)) if decoded.startswith(_CURSOR_PREFIX) else -1
    except ValueError:  # also covers binascii.Error and UnicodeDecodeError
        offset = -1
    if offset < 0:
        raise SlackError("invalid_cursor")
    return offset


METHODS: dict[str, MethodSpec] = {
    "auth.test": MethodSpec(scope=None, impl=auth_test),
    "auth.revoke": MethodSpec(scope=None, impl=auth_revoke),
    "conversations.list": MethodSpec(scope="channels:read", impl=conversations_list),
    "conversations.info": MethodSpec(scope="channels:read", impl=conversations_info),
    "conversations.history": MethodSpec(scope="channels:history", impl=conversations_history),
    "conversations.replies": MethodSpec(scope="channels:history", impl=conversations_replies),
    "chat.postMessage": MethodSpec(scope="chat:write", impl=chat_post_message),
}
