"""Slack Web API semantics: authentication, scopes and the methods the project calls.

Each method returns the body of a successful answer or raises `SlackError` carrying Slack's exact
error string, so the code under test meets the same failures it would meet on slack.com.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from local.slack_emulator.blocks import BLOCKS_TEXT_LIMIT, BlockProblems, blocks_text_length, check_blocks
from local.slack_emulator.oauth_access import oauth_v2_access
from local.slack_emulator.state import (
    NON_MARKETPLACE_PAGE_LIMIT,
    Channel,
    EmulatorState,
    HistoryRateLimit,
    PostRateLimit,
    Token,
    Workspace,
    count_reply,
)
from local.slack_emulator.wire import (
    Answer,
    ApiCall,
    Params,
    RateLimitedError,
    SlackError,
)

MAX_TEXT_LENGTH = 40_000
CONVERSATION_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})
# Slack's answer when it truncates `text` (api.slack.com/changelog/2018-04-truncating-really-long-messages).
TRUNCATED_WARNING = "message_truncated"
TRUNCATED_MESSAGE = (
    "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
)
NEVER_READ_TS = "0000000000.000000"
_STATUS_ERRORS = {"revoked": "token_revoked", "inactive": "account_inactive", "expired": "token_expired"}
_CURSOR_PREFIX = "offset:"


@dataclass(frozen=True)
class Caller:
    workspace: Workspace
    token: Token
    post_rate_limit: PostRateLimit
    history_rate_limit: HistoryRateLimit


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
AppMethodImpl = Callable[[EmulatorState, ApiCall, Params], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    scope: str | None
    impl: MethodImpl


def dispatch(state: EmulatorState, call: ApiCall) -> Answer:
    """Answer one API call the way Slack does: method, then body, then auth, then scope, then args."""
    app_method = APP_METHODS.get(call.method)
    spec = METHODS.get(call.method)
    if spec is None and app_method is None:
        return Answer(404, SlackError("unknown_method").body())
    if call.parse_error is not None:
        return Answer(200, SlackError(call.parse_error).body())
    if app_method is not None:
        with state.lock:
            try:
                return Answer(200, {"ok": True, **app_method(state, call, Params(call.params))})
            except SlackError as err:
                return Answer(200, err.body())
    assert spec is not None
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
    # Tokens of apps with token rotation die on their own once their lifetime is over.
    if record.expires_at is not None and state.wall_clock() >= record.expires_at:
        raise SlackError("token_expired")
    return Caller(
        workspace=state.workspaces[record.team_id],
        token=record,
        post_rate_limit=state.post_rate_limit,
        history_rate_limit=state.history_rate_limit,
    )


# -- auth.* -----------------------------------------------------------------------------------


def auth_test(caller: Caller, params: Params) -> dict[str, Any]:
    """A token of an org-wide install (Enterprise Grid) also says so and names its enterprise."""
    workspace = caller.workspace
    enterprise_id = caller.token.enterprise_id
    answer: dict[str, Any] = {
        "url": f"https://{workspace.domain}.slack.com/",
        "team": workspace.name,
        "user": workspace.bot_name,
        "team_id": workspace.team_id,
        "user_id": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "is_enterprise_install": enterprise_id is not None,
    }
    if enterprise_id is not None:
        answer["enterprise_id"] = enterprise_id
    return answer


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
        {**channel.to_slack(), **_ORG_FLAGS}
        for channel in window
        if channel.visible_to_bot
        and channel.conversation_type in types
        and not (exclude_archived and channel.is_archived)
    ]
    next_offset = offset + limit
    next_cursor = _encode_cursor(next_offset) if next_offset < len(channels) else ""
    return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}


# Enterprise Grid flags conversations.list and .info carry; always false outside an org.
_ORG_FLAGS = {"is_global_shared": False, "is_org_default": False, "is_org_mandatory": False}


def conversations_info(caller: Caller, params: Params) -> dict[str, Any]:
    channel = _visible_channel(caller.workspace, params.text("channel"))
    include_num_members = params.flag("include_num_members", default=False)
    rendered = {
        **channel.to_slack(include_num_members=include_num_members),
        **_ORG_FLAGS,
        "is_read_only": False,
        "is_thread_only": False,
        "is_non_threadable": False,
    }
    if channel.is_member:
        rendered["last_read"] = _last_read(channel)
    if params.flag("include_locale", default=False):
        rendered["locale"] = "en-US"
    return {"channel": rendered}


def conversations_join(caller: Caller, params: Params) -> dict[str, Any]:
    """Join a public channel (scope channels:join). Already a member: ok with `already_in_channel`.

    Private channels cannot be joined (`method_not_supported_for_channel_type`); one the bot cannot
    see is `channel_not_found`, an archived one `is_archived`. The answer's channel has Slack's
    join shape: no num_members nor conversation_host_id (java-slack-sdk's recorded sample).
    """
    channel = _visible_channel(caller.workspace, params.text("channel"))
    if channel.is_private:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.is_archived:
        raise SlackError("is_archived")
    already = channel.is_member
    if not already:
        channel.is_member = True
        channel.num_members += 1
    rendered = channel.to_slack(include_num_members=False)
    rendered.pop("conversation_host_id")
    rendered["last_read"] = _last_read(channel)
    answer: dict[str, Any] = {"channel": rendered}
    if already:
        answer |= {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}}
    return answer


def _last_read(channel: Channel) -> str:
    """The bot's read marker: the emulator treats the bot as having read everything."""
    return channel.messages[-1]["ts"] if channel.messages else NEVER_READ_TS


def conversations_history(caller: Caller, params: Params) -> dict[str, Any]:
    """The channel as people see it, newest first: thread replies stay in their thread unless broadcast.

    A tombstone (a deleted parent whose replies remain) is returned, hidden: true, as Slack's is.
    """
    channel = _readable_channel(caller, "conversations.history", params)
    limit = _history_limit(caller.workspace, params, default=100, maximum=999)
    offset = _decode_cursor(params.text("cursor"))
    window = TimeWindow.from_params(params)
    include_metadata = params.flag("include_all_metadata", default=False)
    history = [m for m in reversed(channel.messages) if _shown_in_channel(m) and window.contains(m["ts"])]
    answer = _message_page(channel, history, offset=offset, limit=limit, include_metadata=include_metadata)
    answer |= {"pin_count": 0, "channel_actions_ts": None, "channel_actions_count": 0}
    for bound in ("oldest", "latest"):
        if params.text(bound) is not None:
            answer[bound] = params.text(bound)
    return answer


def conversations_replies(caller: Caller, params: Params) -> dict[str, Any]:
    """Parent first whatever the bounds, then the replies inside them; a reply's ts selects its thread.

    A deleted parent with replies is a tombstone, so its thread stays readable. `thread_not_found`
    answers a ts naming no message, and a reply whose parent is gone (only possible for a reply
    posted with an unknown thread_ts, see chat_post_message): Slack documents that `ts` must be an
    existing message's, not what it answers for such orphans; thread_not_found is the least kind
    plausible answer.
    """
    channel = _readable_channel(caller, "conversations.replies", params)
    limit = _history_limit(caller.workspace, params, default=1000, maximum=1000)
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
    return _message_page(channel, [parent, *replies], offset=offset, limit=limit, include_metadata=include_metadata)


def _readable_channel(caller: Caller, method: str, params: Params) -> Channel:
    """Rate limit (non-Marketplace apps), then the channel, then membership: Slack documents that a
    bot token reads history of "any conversation the relevant bot is a member of" (docs.slack.dev
    conversations.history, "Usage info"); elsewhere it answers not_in_channel (reported by Slack's
    SDK team, slackapi/deno-slack-sdk#128). conversations.replies' page does not say what it answers
    a non-member bot: the emulator answers the same as history (an assumption).
    """
    retry_after = caller.history_rate_limit.take(caller.workspace, method)
    if retry_after is not None:
        raise RateLimitedError(retry_after)
    channel = _visible_channel(caller.workspace, params.text("channel"))
    if caller.workspace.history_needs_membership and not channel.is_member:
        raise SlackError("not_in_channel")
    return channel


def _history_limit(workspace: Workspace, params: Params, *, default: int, maximum: int) -> int:
    """Non-Marketplace apps: `limit` defaults to 15 and a larger one is cut to 15 without an error
    (docs.slack.dev conversations.history / .replies: "The maximum and default values for the limit
    parameter have both been reduced to 15 objects")."""
    if workspace.marketplace_app:
        return _limit(params, default=default, maximum=maximum)
    return min(_limit(params, default=NON_MARKETPLACE_PAGE_LIMIT, maximum=None), NON_MARKETPLACE_PAGE_LIMIT)


def _shown_in_channel(message: dict[str, Any]) -> bool:
    """Unthreaded posts, thread parents, and replies that were also sent to the channel."""
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"


def _message_page(
    channel: Channel, messages: list[dict[str, Any]], *, offset: int, limit: int, include_metadata: bool
) -> dict[str, Any]:
    """One page of a read; `response_metadata` appears only when more remain, as on Slack."""
    page = messages[offset : offset + limit]
    has_more = offset + limit < len(messages)
    answer: dict[str, Any] = {
        "messages": [_render_message(channel, m, include_metadata=include_metadata) for m in page],
        "has_more": has_more,
    }
    if has_more:
        answer["response_metadata"] = {"next_cursor": _encode_cursor(offset + limit)}
    return answer


def _render_message(channel: Channel, message: dict[str, Any], *, include_metadata: bool) -> dict[str, Any]:
    """A stored message as read methods return it: Slack sends `metadata` only on include_all_metadata,
    and a thread_broadcast carries its thread's parent as `root`."""
    rendered = copy.deepcopy(message)
    if not include_metadata:
        rendered.pop("metadata", None)
    if rendered.get("subtype") == "thread_broadcast":
        parent = channel.find_message(rendered.get("thread_ts", ""))
        if parent is not None:
            rendered["root"] = _root(parent)
    return rendered


# The parent fields a thread_broadcast's `root` carries (java-slack-sdk's recorded samples).
_ROOT_KEYS = (
    "type",
    "subtype",
    "text",
    "ts",
    "bot_id",
    "thread_ts",
    "parent_user_id",
    "reply_count",
    "reply_users_count",
    "latest_reply",
    "reply_users",
    "subscribed",
)


def _root(parent: dict[str, Any]) -> dict[str, Any]:
    return {key: copy.deepcopy(parent[key]) for key in _ROOT_KEYS if key in parent}


# -- chat.postMessage / chat.update -----------------------------------------------------------


def chat_post_message(caller: Caller, params: Params) -> dict[str, Any]:
    """Validate in Slack's order, store the message, and thread it the way Slack does.

    Once the channel is resolved the post takes a token of that channel's rate-limit bucket (when a
    limit is set), whether it then succeeds or fails validation: Slack throttles requests, not
    stored messages. Replies count against their channel like any other post.

    Top-level `text` over 40,000 characters is cut to 40,000 and the post succeeds with Slack's
    `message_truncated` warning (top-level `warning` and `response_metadata.warnings`/`.messages`);
    it is never refused as msg_too_long.

    A thread_ts naming no message of the channel is accepted (slack-api.md: there is no
    thread_not_found for postMessage). Workspace.unknown_thread_ts decides where it goes:
    "hidden" (default) keeps the thread_ts, so the message shows in no history and no thread;
    "top_level" posts it unthreaded (the emulator's older behaviour). In hidden mode the answer's
    `message.thread_ts` is the requested one, as any reply's is (slack-api.md): Slack does not
    document that answer, and this is the least kind plausible one, since the caller cannot tell
    from it that the reply went nowhere. A reply_broadcast to such a thread is hidden as well
    (also unconfirmed).
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
    if not channel.is_member and "chat:write.public" not in caller.token.scopes:
        raise SlackError("not_in_channel")
    metadata = _parse_metadata(params.raw("metadata"))
    text, warnings = _truncated(text)

    ts = workspace.next_ts()
    message = _bot_message(workspace, text, ts)
    if blocks:
        message["blocks"] = blocks
    if metadata is not None:
        message["metadata"] = metadata
    thread_ts = params.text("thread_ts")
    parent = _thread_parent(channel, thread_ts)
    if parent is not None:
        message["thread_ts"] = parent["ts"]
        message["parent_user_id"] = parent["user"]
        if params.flag("reply_broadcast", default=False):
            message["subtype"] = "thread_broadcast"
        count_reply(parent, message)
    elif thread_ts is not None and workspace.unknown_thread_ts == "hidden":
        message["thread_ts"] = thread_ts
    channel.messages.append(message)
    answer_message = _render_message(channel, message, include_metadata=True)
    answer_message["bot_profile"]["user_id"] = workspace.bot_user_id  # recorded answers carry it here only
    answer: dict[str, Any] = {"channel": channel.id, "ts": ts, "message": answer_message}
    return answer | _warnings(warnings)


def chat_update(caller: Caller, params: Params) -> dict[str, Any]:
    """Edit one of the bot's messages by `channel` (an ID) and `ts`.

    Errors, in this order: channel_not_found, message_not_found (no such ts, or a tombstone),
    cant_update_message (another author's message), is_archived, no_text (neither text nor blocks),
    invalid_blocks_format / invalid_blocks / msg_blocks_too_long, msg_too_long (text over 40,000:
    slack-api.md lists it for chat.update; whether chat.update truncates instead, as postMessage
    does, is unconfirmed). Omitted `blocks` keep the message's blocks, `[]` removes them; omitted
    `text` keeps its text. The answer has Slack's shape: channel, ts, text, and a `message` with
    `edited` but no `ts` (java-slack-sdk's recorded sample).
    """
    workspace = caller.workspace
    channel = _visible_channel(workspace, params.text("channel"))
    message = channel.find_message(params.text("ts") or "")
    if message is None or message.get("subtype") == "tombstone":
        raise SlackError("message_not_found")
    if message.get("bot_id") != workspace.bot_id:
        raise SlackError("cant_update_message")
    if channel.is_archived:
        raise SlackError("is_archived")
    text = params.text("text")
    raw_blocks = params.raw("blocks")
    if text is None and raw_blocks is None:
        raise SlackError("no_text")
    blocks = _parse_blocks(raw_blocks) if raw_blocks is not None else None
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        raise SlackError("msg_too_long")
    metadata = _parse_metadata(params.raw("metadata"))
    if text is not None:
        message["text"] = text
    if blocks is not None:
        if blocks:
            message["blocks"] = blocks
        else:
            message.pop("blocks", None)
    if metadata is not None:
        message["metadata"] = metadata
    message["edited"] = {"user": workspace.bot_id, "ts": workspace.next_ts()}
    answer_message = {
        key: copy.deepcopy(value)
        for key, value in message.items()
        if key in ("type", "text", "user", "bot_id", "app_id", "team", "bot_profile", "edited", "blocks", "metadata")
    }
    return {"channel": channel.id, "ts": message["ts"], "text": message["text"], "message": answer_message}


def chat_get_permalink(caller: Caller, params: Params) -> dict[str, Any]:
    """A message's link (no scope needed): https://DOMAIN.slack.com/archives/CHANNEL/pTS, plus
    `?thread_ts=...&cid=CHANNEL` for a reply, the format Slack's links have.

    channel_not_found for a channel the bot cannot see; message_not_found for an unknown ts (a
    message deleted without replies). A tombstone (deleted, replies kept) is still linked, as the
    thread it heads is still shown: unconfirmed, Slack may answer message_not_found there.
    """
    workspace = caller.workspace
    channel = _visible_channel(workspace, params.text("channel"))
    message = channel.find_message(params.text("message_ts") or "")
    if message is None:
        raise SlackError("message_not_found")
    permalink = f"https://{workspace.domain}.slack.com/archives/{channel.id}/p{message['ts'].replace('.', '')}"
    thread_ts = message.get("thread_ts")
    if thread_ts is not None and thread_ts != message["ts"]:
        permalink += f"?thread_ts={thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": permalink}


def _bot_message(workspace: Workspace, text: str, ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "text": text,
        "user": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "app_id": workspace.app_id,
        "team": workspace.team_id,
        "bot_profile": workspace.bot_profile(),
        "ts": ts,
    }


def _truncated(text: str) -> tuple[str, list[str]]:
    """Slack cuts top-level text at 40,000 characters (code points here; Slack's unit is unconfirmed)."""
    if len(text) <= MAX_TEXT_LENGTH:
        return text, []
    return text[:MAX_TEXT_LENGTH], [TRUNCATED_WARNING]


def _warnings(warnings: list[str]) -> dict[str, Any]:
    """A successful answer's warnings: a comma-separated top-level `warning` (Slack's Web API basics)
    plus `response_metadata.warnings` and the human-readable `messages` (Slack changelog 2016-09-28
    and 2018-04 "Truncating really long messages")."""
    if not warnings:
        return {}
    return {
        "warning": ",".join(warnings),
        "response_metadata": {"warnings": list(warnings), "messages": [TRUNCATED_MESSAGE]},
    }


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
    """The top-level message (or tombstone) a reply belongs to; a reply's ts selects its parent.

    None when thread_ts names no message of the channel, or a reply whose parent is gone (a reply
    posted to an unknown thread_ts in "hidden" mode).
    """
    target = channel.find_message(thread_ts) if thread_ts else None
    if target is None:
        return None
    root_ts = target.get("thread_ts", target["ts"])
    return target if root_ts == target["ts"] else channel.find_message(root_ts)


def _blocks_given(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip() not in ("", "[]")
    return bool(raw)


def _parse_blocks(raw: Any) -> list[dict[str, Any]]:
    """Blocks arrive as a JSON string (form bodies) or a list (JSON bodies); see blocks.py for the
    checks and their sources. Not a list of typed objects: invalid_blocks_format. A Block Kit
    problem: invalid_blocks with Slack's `errors` and `response_metadata.messages`. Valid but over
    the size Slack takes: msg_blocks_too_long."""
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
    try:
        check_blocks(raw)
    except BlockProblems as problems:
        raise SlackError(
            "invalid_blocks",
            errors=list(problems.sentences),
            response_metadata={"messages": [f"[ERROR] {sentence}" for sentence in problems.sentences]},
        ) from None
    if blocks_text_length(raw) > BLOCKS_TEXT_LIMIT:
        raise SlackError("msg_blocks_too_long")
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


def _limit(params: Params, *, default: int, maximum: int | None) -> int:
    raw = params.text("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise SlackError("invalid_limit") from None
    if limit < 1 or (maximum is not None and limit > maximum):
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
    "conversations.join": MethodSpec(scope="channels:join", impl=conversations_join),
    "chat.postMessage": MethodSpec(scope="chat:write", impl=chat_post_message),
    "chat.update": MethodSpec(scope="chat:write", impl=chat_update),
    "chat.getPermalink": MethodSpec(scope=None, impl=chat_get_permalink),
}

# Methods that authenticate the app (client id and secret) rather than a token.
APP_METHODS: dict[str, AppMethodImpl] = {"oauth.v2.access": oauth_v2_access}
