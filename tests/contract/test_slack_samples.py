"""Contract: the emulator answers with the SHAPE of Slack's recorded answers.

For every method the product calls, the emulator is called through the real `slack_sdk.WebClient`
over HTTP in a situation Slack was recorded in (success, and each error whose situation the
emulator can produce), and its answer is compared with the method's sample from
slackapi/java-slack-sdk (tests/fixtures/slack_samples/, see its README):

- the HTTP status: 200 for an answer, ok:false errors included, 429 for `ratelimited`;
- key sets, recursively: a key of the sample missing from the answer fails unless ABSENT lists it,
  a key of the answer the sample lacks fails unless ADDED lists it (each with its reason);
- value types (str / int / float / bool / null / list / dict) of every key both have, unless
  RETYPED lists it; a list's every element is compared with the sample's (single) element;
- a string the sample holds as an anonymised ts ("0000000000.000000") must match ^\\d{10}\\.\\d{6}$;
- OPAQUE paths are compared by type only (subtrees emptied in the fixtures, or the caller's own blocks).

A sample is the union of every answer the SDK's suite recorded, errors included, so the keys a
situation cannot have are left out before comparing: a success answer is compared without the
error keys (ERROR_KEYS) and, unless the situation warns, without `warning`; an error answer must
have `ok: false`, a string `error` and the extra keys its error carries (e.g. needed/provided),
and every other key of it must be one the sample knows. Values are never compared: the samples
anonymise them. Every exception listed must be used by some situation, so the lists stay honest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from local.slack_emulator import SlackEmulator

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "slack_samples"
TS = re.compile(r"^\d{10}\.\d{6}$")
TEAM = "T0CONTRACT1"
TOKEN = "xoxb-test-contract-token"
TOKEN_READ_ONLY = "xoxb-test-contract-read-only"  # channels:read only
TOKEN_NO_READ = "xoxb-test-contract-no-read"  # chat:write only
TOKEN_JOINER = "xoxb-test-contract-joiner"
THROTTLED_TEAM = "T0CONTRACT2"
THROTTLED_TOKEN = "xoxb-test-contract-throttled"
BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Deploy #42"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed*"}, "fields": [{"type": "mrkdwn", "text": "a"}]},
]
METADATA = {"event_type": "buster_delivery", "event_payload": {"delivery": "digest"}}

# Keys only error answers carry (the samples merge them with the success keys).
ERROR_KEYS = frozenset({"error", "needed", "provided", "errors", "arg", "callstack", "deprecated_argument"})

# Explanations shared by several methods.
_MESSAGE_ABSENT = {
    "username": "set only when a post overrides the bot's name (chat:write.customize); the product does not",
    "icons": "set only when a post overrides the bot's icon (chat:write.customize); the product does not",
    "attachments": "legacy attachments: the product posts none",
    "files": "file shares: the product posts no files",
    "x_files": "file shares: the product posts no files",
    "upload": "file shares: the product posts no files",
    "display_as_bot": "file shares and legacy integrations only",
    "room": "huddles only",
    "assistant_app_thread": "AI assistant threads only",
    "edited": "only once a message was edited (the product never edits)",
    "reactions": "only once someone reacted; the product does not read reactions",
    "client_msg_id": "messages people send from Slack clients, not the bot's",
    "inviter": "channel_join messages only (a person invited someone)",
    "topic": "channel_topic messages only",
    "purpose": "channel_purpose messages only",
    "last_read": "user-token reads of a thread parent; the product reads with its bot token",
}
_CHANNEL_ABSENT = {
    "properties": "canvas, tabs and posting restrictions; the product does not read them",
}
_LIST_IM_ABSENT = {
    "user": "DMs only (the product lists public channels)",
    "is_user_deleted": "DMs only (the product lists public channels)",
    "priority": "DMs and user-token answers only (Slack's sidebar ordering); the product does not read it",
}


def _each(prefix: str, keys: dict[str, str]) -> dict[str, str]:
    return {f"{prefix}{key}": reason for key, reason in keys.items()}


def _some(prefix: str, *keys: str) -> dict[str, str]:
    return {f"{prefix}{key}": _MESSAGE_ABSENT[key] for key in keys}


# Keys of Slack's samples the emulator does not send, per method: path -> why the product does not need it.
ABSENT: dict[str, dict[str, str]] = {
    "auth.test": {
        "enterprise_id": "Enterprise Grid installs only",
        "app_name": "not known to be sent for bot tokens (only some recorded answers have it); unused",
        "app_id": "not known to be sent for bot tokens (only some recorded answers have it); unused",
        "expires_in": "token rotation only, which the product does not turn on",
    },
    "conversations.list": {
        **_each("channels[].", _LIST_IM_ABSENT),
        **_each("channels[].", _CHANNEL_ABSENT),
    },
    "conversations.info": {
        "channel.properties": _CHANNEL_ABSENT["properties"],
        "channel.connected_team_ids": "Slack Connect channels only",
        "channel.connected_limited_team_ids": "Slack Connect channels only",
    },
    "conversations.join": {
        "channel.properties": _CHANNEL_ABSENT["properties"],
        "channel.priority": "user-token answers only (Slack's sidebar ordering); unused",
        "channel.is_starred": "a user's star; bot tokens have none",
        "response_metadata": "only with a warning (already_in_channel)",
    },
    "conversations.history": {
        **_some(
            "messages[].",
            *("username", "icons", "attachments", "files", "x_files", "upload", "display_as_bot"),
            *("assistant_app_thread", "edited", "reactions", "client_msg_id", "inviter", "topic", "purpose"),
        ),
        "messages[].root.username": _MESSAGE_ABSENT["username"],
        "messages[].root.icons": _MESSAGE_ABSENT["icons"],
        "messages[].root.subtype": "only when the thread's parent has a subtype (the product's do not)",
        "messages[].root.parent_user_id": "only when the root is itself a reply; it never is",
    },
    "conversations.replies": {
        **_some(
            "messages[].",
            *("attachments", "files", "x_files", "upload", "display_as_bot", "assistant_app_thread"),
            *("edited", "reactions", "last_read"),
        ),
    },
    "chat.postMessage": {
        "message.username": _MESSAGE_ABSENT["username"],
        "message.icons": _MESSAGE_ABSENT["icons"],
        "message.attachments": _MESSAGE_ABSENT["attachments"],
        "message.room": _MESSAGE_ABSENT["room"],
        "message.assistant_app_thread": _MESSAGE_ABSENT["assistant_app_thread"],
        "message.root.username": _MESSAGE_ABSENT["username"],
        "message.root.icons": _MESSAGE_ABSENT["icons"],
        "message.root.subtype": "only when the thread's parent has a subtype (the product's do not)",
        "message.root.parent_user_id": "only when the root is itself a reply; it never is",
        "response_metadata": "only with a warning (message_truncated) or an error (invalid_blocks)",
    },
    "chat.update": {
        "response_metadata": "only with an error's messages (invalid_blocks)",
        "message.upload": _MESSAGE_ABSENT["upload"],
        "message.display_as_bot": _MESSAGE_ABSENT["display_as_bot"],
        "message.x_files": _MESSAGE_ABSENT["x_files"],
        "message.files": _MESSAGE_ABSENT["files"],
        "message.room": _MESSAGE_ABSENT["room"],
        "message.assistant_app_thread": _MESSAGE_ABSENT["assistant_app_thread"],
    },
    "oauth.v2.access": {
        "authed_user.scope": "user scopes only; the product asks for bot scopes",
        "authed_user.token_type": "user scopes only; the product asks for bot scopes",
        "authed_user.access_token": "user scopes only; the product asks for bot scopes",
        "authed_user.refresh_token": "user token rotation only",
        "authed_user.expires_in": "user token rotation only",
        "refresh_token": "token rotation only, which the product does not turn on",
        "expires_in": "token rotation only, which the product does not turn on",
        "incoming_webhook": "incoming-webhook scope only; the product does not ask for it",
    },
}

# Keys the emulator sends that Slack's samples lack: path -> why they are right anyway.
ADDED: dict[str, dict[str, str]] = {
    "auth.revoke": {
        "revoked": "the emulator's long-standing {ok, revoked} answer (Slack's auth.revoke page, not re-verified "
        "here); the sample recorded failures only",
    },
    "conversations.history": {
        "messages[].hidden": "tombstones carry hidden: true (recorded by hackclub/toriel#238); none was recorded here",
    },
    "conversations.replies": {
        "messages[].hidden": "tombstones carry hidden: true (recorded by hackclub/toriel#238); none was recorded here",
        "messages[].subtype": "tombstones (hackclub/toriel#238) and thread_broadcast replies carry one; the sample "
        "recorded no such thread",
    },
    "chat.postMessage": {
        "warning": "Slack's Web API puts warnings in a top-level `warning` (api docs, 'Basics'); none recorded",
        "response_metadata.warnings": "message_truncated per Slack's changelog 2018-04 'Truncating really long "
        "messages'; no truncation was recorded here",
    },
}

# Keys whose type differs from the sample's, with the reason.
RETYPED: dict[str, dict[str, str]] = {
    "conversations.history": {
        "channel_actions_ts": "null on channels without channel actions; the sample recorded a number",
    },
    "oauth.v2.access": {
        "enterprise": "null outside Enterprise Grid (Slack's oauth.v2.access page); the sample is a grid install",
    },
}

# Compared by type only.
OPAQUE: dict[str, dict[str, str]] = {
    "conversations.history": {
        "messages[].blocks": "the caller's own blocks (emptied in the fixture)",
        "messages[].metadata.event_payload": "the caller's own payload",
    },
    "conversations.replies": {
        "messages[].blocks": "the caller's own blocks (emptied in the fixture)",
        "messages[].metadata.event_payload": "the caller's own payload",
    },
    "chat.postMessage": {
        "message.blocks": "the caller's own blocks (emptied in the fixture)",
        "message.metadata.event_payload": "the caller's own payload",
    },
    "chat.update": {
        "message.blocks": "the caller's own blocks (emptied in the fixture)",
        "message.metadata.event_payload": "the caller's own payload",
    },
}


@dataclass
class Situation:
    method: str
    name: str
    call: Callable[[SimpleContract], SlackResponse]
    status: int = 200
    error: str | None = None  # None: a success answer
    error_keys: frozenset[str] = frozenset()  # extra keys this error carries
    warns: bool = False  # a success answer with a warning
    # Sample paths this situation's inputs cannot produce (another situation of the method covers them).
    situational: frozenset[str] = frozenset()


@dataclass
class SimpleContract:
    emu: SlackEmulator
    general: str
    random: str
    leaders: str
    old: str
    throttled_channel: str
    stamps: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = TOKEN) -> WebClient:
        return WebClient(token=token, base_url=self.emu.base_url, timeout=5, retry_handlers=[])


@pytest.fixture
def contract(emulator: SlackEmulator) -> Iterator[SimpleContract]:
    emulator.reset()
    emulator.add_workspace(TEAM, "Contract", domain="contract", bot_user_id="U0CONTRBOT", bot_id="B0CONTRBOT")
    emulator.add_token(TOKEN, TEAM)
    emulator.add_token(TOKEN_READ_ONLY, TEAM, scopes=("channels:read",))
    emulator.add_token(TOKEN_NO_READ, TEAM, scopes=("chat:write",))
    emulator.add_token(TOKEN_JOINER, TEAM, scopes=("channels:join", "channels:read"))
    emulator.add_workspace(THROTTLED_TEAM, "Outside the Marketplace", marketplace_app=False)
    emulator.add_token(THROTTLED_TOKEN, THROTTLED_TEAM)
    state = SimpleContract(
        emu=emulator,
        general=emulator.add_channel(TEAM, "general", is_member=True, topic="Ship it", num_members=3)["id"],
        random=emulator.add_channel(TEAM, "random", purpose="Banter")["id"],
        leaders=emulator.add_channel(TEAM, "leaders", is_private=True, is_member=True)["id"],
        old=emulator.add_channel(TEAM, "old", is_archived=True)["id"],
        throttled_channel=emulator.add_channel(THROTTLED_TEAM, "general", is_member=True)["id"],
    )
    client = state.client()
    client.chat_postMessage(channel=state.general, text="first")
    # A thread with a plain and a broadcast reply, a deleted parent that left a tombstone, and more
    parent = client.chat_postMessage(channel=state.general, text="parent", blocks=BLOCKS, metadata=METADATA)["ts"]
    client.chat_postMessage(channel=state.general, text="reply", thread_ts=parent, metadata=METADATA)
    client.chat_postMessage(channel=state.general, text="fyi", thread_ts=parent, reply_broadcast=True)
    gone = client.chat_postMessage(channel=state.general, text="to be deleted")["ts"]
    client.chat_postMessage(channel=state.general, text="kept reply", thread_ts=gone)
    emulator.delete_message(state.general, gone)
    for n in range(3):
        client.chat_postMessage(channel=state.general, text=f"later {n}", metadata=METADATA)
    state.stamps.update(parent=parent, gone=gone, person=emulator.add_user_message(state.general, "by a person")["ts"])
    emulator.add_oauth_app("1111.2222", "contract-secret")
    yield state


def _history(c: SimpleContract) -> SlackResponse:
    return c.client().conversations_history(
        channel=c.general, oldest="1000000000.000000", latest="9999999999.000000", limit=7, include_all_metadata=True
    )


def _throttled(method: str) -> Callable[[SimpleContract], SlackResponse]:
    def call(c: SimpleContract) -> SlackResponse:
        client = c.client(THROTTLED_TOKEN)
        parent = client.chat_postMessage(channel=c.throttled_channel, text="x")["ts"]
        read = getattr(client, method.replace(".", "_"))
        arguments = {"channel": c.throttled_channel, **({"ts": parent} if method.endswith("replies") else {})}
        read(**arguments)
        return read(**arguments)

    return call


def _post_throttled(c: SimpleContract) -> SlackResponse:
    c.emu.set_post_rate_limit(0.001, burst=1)
    c.client().chat_postMessage(channel=c.general, text="first")
    return c.client().chat_postMessage(channel=c.general, text="second")


def _oauth(code: Callable[[SimpleContract], str], secret: str = "contract-secret") -> Callable[..., SlackResponse]:
    def call(c: SimpleContract) -> SlackResponse:
        anonymous = WebClient(base_url=c.emu.base_url, timeout=5, retry_handlers=[])
        return anonymous.oauth_v2_access(client_id="1111.2222", client_secret=secret, code=code(c))

    return call


def _issue(c: SimpleContract) -> str:
    return c.emu.issue_oauth_code("1111.2222", TEAM)


SCOPE_ERROR = frozenset({"needed", "provided"})
SITUATIONS = [
    Situation("auth.test", "success", lambda c: c.client().auth_test()),
    Situation(
        "auth.test", "invalid_auth", lambda c: c.client("xoxb-test-contract-unknown").auth_test(), error="invalid_auth"
    ),
    Situation("auth.test", "not_authed", lambda c: c.client(None).auth_test(), error="not_authed"),
    Situation("auth.revoke", "success", lambda c: c.client().auth_revoke(test=True)),
    Situation(
        "auth.revoke",
        "invalid_auth",
        lambda c: c.client("xoxb-test-contract-unknown").auth_revoke(),
        error="invalid_auth",
    ),
    Situation(
        "conversations.list",
        "success",
        lambda c: c.client().conversations_list(types="public_channel,private_channel", limit=2),
    ),
    Situation(
        "conversations.list",
        "invalid_cursor",
        lambda c: c.client().conversations_list(cursor="nope"),
        error="invalid_cursor",
    ),
    Situation(
        "conversations.list",
        "missing_scope",
        lambda c: c.client(TOKEN_NO_READ).conversations_list(),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation(
        "conversations.info",
        "success",
        lambda c: c.client().conversations_info(channel=c.general, include_num_members=True, include_locale=True),
    ),
    Situation(
        "conversations.info",
        "channel_not_found",
        lambda c: c.client().conversations_info(channel="C0NOPE00000"),
        error="channel_not_found",
    ),
    Situation(
        "conversations.info",
        "missing_scope",
        lambda c: c.client(TOKEN_NO_READ).conversations_info(channel=c.general),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation("conversations.history", "success", _history),
    Situation(
        "conversations.history",
        "not_in_channel",
        lambda c: c.client().conversations_history(channel=c.random),
        error="not_in_channel",
    ),
    Situation(
        "conversations.history",
        "missing_scope",
        lambda c: c.client(TOKEN_READ_ONLY).conversations_history(channel=c.general),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation(
        "conversations.history",
        "ratelimited",
        _throttled("conversations.history"),
        status=429,
        error="ratelimited",
    ),
    Situation(
        "conversations.replies",
        "success",
        lambda c: c.client().conversations_replies(
            channel=c.general, ts=c.stamps["parent"], limit=2, include_all_metadata=True
        ),
    ),
    Situation(
        "conversations.replies",
        "tombstone",
        lambda c: c.client().conversations_replies(channel=c.general, ts=c.stamps["gone"]),
        situational=frozenset({"response_metadata", "messages[].blocks", "messages[].metadata"}),
    ),
    Situation(
        "conversations.replies",
        "thread_not_found",
        lambda c: c.client().conversations_replies(channel=c.general, ts="1500000000.000001"),
        error="thread_not_found",
    ),
    Situation(
        "conversations.replies",
        "not_in_channel",
        lambda c: c.client().conversations_replies(channel=c.random, ts="1500000000.000001"),
        error="not_in_channel",
    ),
    Situation(
        "conversations.replies",
        "missing_scope",
        lambda c: c.client(TOKEN_READ_ONLY).conversations_replies(channel=c.general, ts=c.stamps["parent"]),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation(
        "conversations.replies",
        "ratelimited",
        _throttled("conversations.replies"),
        status=429,
        error="ratelimited",
    ),
    Situation(
        "chat.postMessage",
        "success",
        lambda c: c.client().chat_postMessage(
            channel=c.general,
            text="fyi",
            blocks=BLOCKS,
            metadata=METADATA,
            thread_ts=c.stamps["parent"],
            reply_broadcast=True,
        ),
    ),
    Situation(
        "chat.postMessage",
        "message_truncated",
        lambda c: c.client().chat_postMessage(channel=c.general, text="x" * 40_001),
        warns=True,
        situational=frozenset(
            f"message.{key}" for key in ("blocks", "metadata", "parent_user_id", "root", "subtype", "thread_ts")
        ),
    ),
    Situation(
        "chat.postMessage",
        "channel_not_found",
        lambda c: c.client().chat_postMessage(channel="C0NOPE00000", text="x"),
        error="channel_not_found",
    ),
    Situation(
        "chat.postMessage",
        "invalid_blocks",
        lambda c: c.client().chat_postMessage(channel=c.general, text="x", blocks=[{"type": "section"}]),
        error="invalid_blocks",
        error_keys=frozenset({"errors", "response_metadata"}),
    ),
    Situation(
        "chat.postMessage",
        "msg_blocks_too_long",
        lambda c: c.client().chat_postMessage(
            channel=c.general,
            text="x",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3000}}] * 5,
        ),
        error="msg_blocks_too_long",
    ),
    Situation(
        "chat.postMessage",
        "missing_scope",
        lambda c: c.client(TOKEN_READ_ONLY).chat_postMessage(channel=c.general, text="x"),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation("chat.postMessage", "ratelimited", _post_throttled, status=429, error="ratelimited"),
    Situation(
        "chat.update",
        "success",
        lambda c: c.client().chat_update(
            channel=c.general, ts=c.stamps["parent"], text="edited", blocks=BLOCKS, metadata=METADATA
        ),
    ),
    Situation(
        "chat.update",
        "message_not_found",
        lambda c: c.client().chat_update(channel=c.general, ts="1500000000.000001", text="x"),
        error="message_not_found",
    ),
    Situation(
        "chat.update",
        "cant_update_message",
        lambda c: c.client().chat_update(channel=c.general, ts=c.stamps["person"], text="x"),
        error="cant_update_message",
    ),
    Situation(
        "chat.update",
        "missing_scope",
        lambda c: c.client(TOKEN_READ_ONLY).chat_update(channel=c.general, ts=c.stamps["parent"], text="x"),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation(
        "chat.getPermalink",
        "success",
        lambda c: c.client().chat_getPermalink(channel=c.general, message_ts=c.stamps["parent"]),
    ),
    Situation(
        "chat.getPermalink",
        "message_not_found",
        lambda c: c.client().chat_getPermalink(channel=c.general, message_ts="1500000000.000001"),
        error="message_not_found",
    ),
    Situation("conversations.join", "success", lambda c: c.client(TOKEN_JOINER).conversations_join(channel=c.random)),
    Situation(
        "conversations.join",
        "already_in_channel",
        lambda c: c.client(TOKEN_JOINER).conversations_join(channel=c.general),
        warns=True,
    ),
    Situation(
        "conversations.join",
        "method_not_supported_for_channel_type",
        lambda c: c.client(TOKEN_JOINER).conversations_join(channel=c.leaders),
        error="method_not_supported_for_channel_type",
    ),
    Situation(
        "conversations.join",
        "is_archived",
        lambda c: c.client(TOKEN_JOINER).conversations_join(channel=c.old),
        error="is_archived",
    ),
    Situation(
        "conversations.join",
        "missing_scope",
        lambda c: c.client(TOKEN_READ_ONLY).conversations_join(channel=c.random),
        error="missing_scope",
        error_keys=SCOPE_ERROR,
    ),
    Situation("oauth.v2.access", "success", _oauth(_issue)),
    Situation("oauth.v2.access", "invalid_code", _oauth(lambda c: "not-a-code"), error="invalid_code"),
    Situation("oauth.v2.access", "bad_client_secret", _oauth(_issue, secret="wrong"), error="bad_client_secret"),
]

# Every exception a situation actually needed, and the situations that ran, filled as they run.
_USED: set[tuple[str, str, str]] = set()
_RAN: set[tuple[str, str]] = set()


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (list, "list"), (dict, "dict")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _exception(kind: dict[str, dict[str, str]], name: str, method: str, path: str) -> bool:
    if path in kind.get(method, {}):
        _USED.add((name, method, path))
        return True
    return False


def shape_problems(
    method: str,
    sample: Any,
    actuals: list[Any],
    path: str = "",
    skip: frozenset[str] = frozenset(),
    situational: frozenset[str] = frozenset(),
) -> list[str]:
    """What keeps the values seen at `path` (`actuals`: one per answer, or every element of a list)
    from having `sample`'s shape; `skip` = top-level sample keys the situation cannot have,
    `situational` = paths its inputs do not produce.

    Like the samples, key sets are compared as unions: a list's elements together must have every
    key of the sample's element (a reply need not carry reply_count when its parent does), and
    each must have no key the sample lacks; types are compared value by value.
    """
    if path and _exception(OPAQUE, "OPAQUE", method, path):
        return [f"{path}: {_type(a)} instead of {_type(sample)}" for a in actuals if _type(a) != _type(sample)]
    mistyped = [a for a in actuals if _type(a) != _type(sample)]
    if mistyped and not _exception(RETYPED, "RETYPED", method, path):
        return [f"{path or '<answer>'}: {_type(a)} instead of {_type(sample)}" for a in mistyped]
    actuals = [a for a in actuals if _type(a) == _type(sample)]
    if isinstance(sample, str) and TS.fullmatch(sample):
        return [f"{path}: {a!r} is not a ts" for a in actuals if not TS.fullmatch(a)]
    problems: list[str] = []
    if isinstance(sample, dict) and actuals:
        prefix = f"{path}." if path else ""
        seen = set().union(*(a.keys() for a in actuals))
        for key in sorted(sample.keys() - seen - skip):
            if prefix + key not in situational and not _exception(ABSENT, "ABSENT", method, prefix + key):
                problems.append(f"{prefix}{key}: missing")
        for key in sorted(seen - sample.keys()):
            if not _exception(ADDED, "ADDED", method, prefix + key):
                problems.append(f"{prefix}{key}: not in Slack's sample")
        for key in sorted(sample.keys() & seen):
            values = [a[key] for a in actuals if key in a]
            problems.extend(shape_problems(method, sample[key], values, prefix + key, situational=situational))
    elif isinstance(sample, list) and sample:
        elements = [element for a in actuals for element in a]
        if elements:
            problems.extend(shape_problems(method, sample[0], elements, f"{path}[]", situational=situational))
    return problems


def _sample(method: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{method}.json").read_text(encoding="utf-8"))
    return data


def _answer(situation: Situation, contract: SimpleContract) -> tuple[int, dict[str, Any]]:
    try:
        response = situation.call(contract)
    except SlackApiError as err:
        response = err.response
    return response.status_code, dict(response.data)  # type: ignore[arg-type]


@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: f"{s.method}-{s.name}")
def test_the_emulator_answers_with_slacks_shape(situation: Situation, contract: SimpleContract) -> None:
    sample = _sample(situation.method)
    status, body = _answer(situation, contract)
    assert status == situation.status, body
    if situation.error is None:
        assert body["ok"] is True, body
        skip = ERROR_KEYS if situation.warns else ERROR_KEYS | {"warning"}
        problems = shape_problems(
            situation.method, sample, [body], skip=frozenset(skip), situational=situation.situational
        )
        if situation.warns:
            assert isinstance(body.get("warning"), str) and body["warning"], body
    else:
        assert (body.get("ok"), body.get("error")) == (False, situation.error), body
        missing = ({"ok", "error"} | situation.error_keys) - body.keys()
        assert not missing, f"{sorted(missing)} missing from {body}"
        error_sample = {key: sample[key] for key in body.keys() & sample.keys()}
        problems = shape_problems(situation.method, error_sample, [body])
    assert not problems, "\n".join(problems)
    _RAN.add((situation.method, situation.name))


def test_every_method_has_its_sample_and_a_success_and_an_error_situation() -> None:
    methods = {path.stem for path in SAMPLES.glob("*.json")}
    assert {s.method for s in SITUATIONS} == methods
    for method in methods:
        kinds = {s.error is None for s in SITUATIONS if s.method == method}
        assert kinds == {True, False}, method
    for exceptions in (ABSENT, ADDED, RETYPED, OPAQUE):
        assert set(exceptions) <= methods


def test_every_listed_exception_is_needed() -> None:
    """Runs last in this module (pytest keeps file order): an exception no situation used is stale."""
    if len({(s.method, s.name) for s in SITUATIONS}) != len(SITUATIONS):
        pytest.fail("situation names must be unique")
    listed = {
        (name, method, path)
        for name, kind in (("ABSENT", ABSENT), ("ADDED", ADDED), ("RETYPED", RETYPED), ("OPAQUE", OPAQUE))
        for method, paths in kind.items()
        for path in paths
    }
    if {(s.method, s.name) for s in SITUATIONS} != _RAN:
        pytest.skip("needs every shape test to have run and passed in this session")
    stale = sorted(listed - _USED)
    assert not stale, "\n".join(f"{kind} {method} {path}" for kind, method, path in stale)
