"""The emulator's 2026 Slack behaviours, through the real `slack_sdk.WebClient` over HTTP:
history needs membership, the non-Marketplace history limits, tombstones and unknown threads,
text truncation and Block Kit errors, missing scopes, and chat.update / conversations.join /
oauth.v2.access.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from local.slack_emulator import SlackEmulator
from tests.emulator.clients import slack_error, web_client

TEAM_A, TEAM_B = "T0NEWSA001", "T0NEWSB001"
TOKEN_A, TOKEN_B = "xoxb-test-2026-team-a", "xoxb-test-2026-team-b"
TOKEN_NO_HISTORY = "xoxb-test-2026-no-history"
BOT_A, BOT_ID_A = "U0NEWBOTA1", "B0NEWBOTA1"
GHOST_TS = "1500000000.000001"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _seed(server: SlackEmulator, **team_a_options: Any) -> SimpleNamespace:
    server.add_workspace(TEAM_A, "Team A", bot_user_id=BOT_A, bot_id=BOT_ID_A, **team_a_options)
    server.add_workspace(TEAM_B, "Team B")
    server.add_token(TOKEN_A, TEAM_A)
    server.add_token(TOKEN_B, TEAM_B)
    server.add_token(TOKEN_NO_HISTORY, TEAM_A, scopes=("channels:read", "chat:write", "chat:write.public"))
    return SimpleNamespace(
        general=server.add_channel(TEAM_A, "general", is_member=True)["id"],
        random=server.add_channel(TEAM_A, "random")["id"],
        leaders=server.add_channel(TEAM_A, "leaders", is_private=True, is_member=True)["id"],
        secret=server.add_channel(TEAM_A, "secret", is_private=True)["id"],
        old=server.add_channel(TEAM_A, "old", is_archived=True)["id"],
        b_general=server.add_channel(TEAM_B, "general", is_member=True)["id"],
    )


@pytest.fixture
def emu(emulator: SlackEmulator) -> SlackEmulator:
    """The suite's one server (tests/conftest.py), emptied."""
    emulator.reset()
    return emulator


@pytest.fixture
def ch(emu: SlackEmulator) -> SimpleNamespace:
    return _seed(emu)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(clock: FakeClock) -> Iterator[SlackEmulator]:
    """A server of its own on a fake clock, so a test can move past a 60 s window without waiting."""
    server = SlackEmulator(clock=clock)
    server.start()
    yield server
    server.stop()


def client_for(emu: SlackEmulator, token: str = TOKEN_A) -> WebClient:
    return web_client(emu, token)


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return client_for(emu)


def _posts(client: WebClient, channel: str, count: int) -> list[str]:
    return [client.chat_postMessage(channel=channel, text=f"m{n}")["ts"] for n in range(count)]


# -- 1. reading history needs membership ------------------------------------------------------


def test_history_and_replies_of_a_public_channel_the_bot_is_not_in_are_not_in_channel(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a public channel the bot has not joined, where it posted thanks to chat:write.public
    parent = client.chat_postMessage(channel=ch.random, text="posted without joining")["ts"]
    client.chat_postMessage(channel=ch.random, text="reply", thread_ts=parent)
    # When it reads that channel's history or thread
    history = slack_error(lambda: client.conversations_history(channel=ch.random))
    replies = slack_error(lambda: client.conversations_replies(channel=ch.random, ts=parent))
    # Then both answer not_in_channel with HTTP 200, and nothing else
    for response in (history, replies):
        assert response.status_code == 200
        assert response.data == {"ok": False, "error": "not_in_channel"}
    # But channels it is in, private ones included, read as before; a hidden private one is not found
    assert client.conversations_history(channel=ch.general)["ok"]
    assert client.conversations_history(channel=ch.leaders)["ok"]
    assert slack_error(lambda: client.conversations_history(channel=ch.secret))["error"] == "channel_not_found"
    assert len(emu.messages(ch.random)) == 2


def test_joining_the_channel_makes_its_history_readable(
    emu: SlackEmulator, ch: SimpleNamespace, client: WebClient
) -> None:
    # Given a bot token that may join public channels, and a channel it is not in
    emu.add_token("xoxb-test-2026-joiner", TEAM_A, scopes=("channels:join", "channels:history"))
    joiner = client_for(emu, "xoxb-test-2026-joiner")
    posted = client.chat_postMessage(channel=ch.random, text="before joining")["ts"]
    assert slack_error(lambda: joiner.conversations_history(channel=ch.random))["error"] == "not_in_channel"
    # When it joins, then the history is readable and the channel says it is a member
    joined = joiner.conversations_join(channel=ch.random)
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    assert [m["ts"] for m in joiner.conversations_history(channel=ch.random)["messages"]] == [posted]
    assert client.conversations_info(channel=ch.random)["channel"]["is_member"] is True


def test_membership_rule_can_be_turned_off_per_workspace(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a workspace switched to the older lenient reads
    emu.configure_workspace(TEAM_A, history_needs_membership=False)
    client = client_for(emu)
    parent = client.chat_postMessage(channel=ch.random, text="hello")["ts"]
    # When the bot reads a public channel it is not in, then it gets the messages
    assert [m["ts"] for m in client.conversations_history(channel=ch.random)["messages"]] == [parent]
    assert client.conversations_replies(channel=ch.random, ts=parent)["messages"][0]["ts"] == parent
    # And add_workspace takes the same switch
    emu.reset()
    _seed(emu, history_needs_membership=False)
    assert client_for(emu).conversations_history(channel=emu.add_channel(TEAM_A, "lenient")["id"])["ok"]


# -- 2. non-Marketplace apps: 1 history call a minute, 15 messages a page ----------------------


def test_a_non_marketplace_app_gets_one_history_call_a_minute_per_method(
    timed: SlackEmulator, clock: FakeClock
) -> None:
    # Given a workspace where the app is distributed outside the Marketplace
    ch = _seed(timed, marketplace_app=False)
    client, other_team = client_for(timed), client_for(timed, TOKEN_B)
    parent = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    # When it reads the history twice in a row
    assert client.conversations_history(channel=ch.general)["ok"]
    throttled = slack_error(lambda: client.conversations_history(channel=ch.general))
    # Then the second call is a 429 with Retry-After until the next allowed call
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "60"
    assert throttled.data == {"ok": False, "error": "ratelimited"}
    # And conversations.replies has a window of its own, as does another workspace
    assert client.conversations_replies(channel=ch.general, ts=parent)["ok"]
    assert slack_error(lambda: client.conversations_replies(channel=ch.general, ts=parent)).status_code == 429
    assert other_team.conversations_history(channel=ch.b_general)["ok"]
    assert other_team.conversations_history(channel=ch.b_general)["ok"]  # a Marketplace app there: no limit
    # When 59.5 s have passed, then one more second is asked for; after 60 s the call goes through
    clock.now += 59.5
    assert slack_error(lambda: client.conversations_history(channel=ch.general)).headers["Retry-After"] == "1"
    clock.now += 0.5
    assert client.conversations_history(channel=ch.general)["ok"]
    # And throttled calls do not count: the window runs from the last allowed call
    assert slack_error(lambda: client.conversations_history(channel=ch.general)).headers["Retry-After"] == "60"
    assert [call["status"] for call in timed.calls("conversations.history")][:2] == [200, 429]


def test_a_non_marketplace_app_reads_at_most_15_messages_a_page(timed: SlackEmulator, clock: FakeClock) -> None:
    # Given 20 messages in a channel of a non-Marketplace app, and a thread of 20 replies
    ch = _seed(timed, marketplace_app=False)
    client = client_for(timed)
    stamps = _posts(client, ch.general, 20)
    for n in range(20):
        client.chat_postMessage(channel=ch.general, text=f"r{n}", thread_ts=stamps[0])

    def page(method: Callable[..., SlackResponse], **params: Any) -> SlackResponse:
        clock.now += 60  # a fresh window for every read
        return method(channel=ch.general, **params)

    # When it reads without a limit, with a larger one, or with a smaller one
    default = page(client.conversations_history)
    larger = page(client.conversations_history, limit=200)
    smaller = page(client.conversations_history, limit=5)
    thread = page(client.conversations_replies, ts=stamps[0], limit=1000)
    # Then pages hold 15 at most (a larger limit is cut without an error), with a cursor for the rest
    assert [len(r["messages"]) for r in (default, larger, smaller, thread)] == [15, 15, 5, 15]
    assert all(r["has_more"] and r["response_metadata"]["next_cursor"] for r in (default, larger, thread))
    rest = page(client.conversations_history, cursor=default["response_metadata"]["next_cursor"])
    assert len(rest["messages"]) == 5 and rest["has_more"] is False
    # And an invalid limit is still refused
    assert slack_error(lambda: page(client.conversations_history, limit=0))["error"] == "invalid_limit"


def test_the_history_window_is_configurable_and_switching_back_lifts_the_limits(emu: SlackEmulator) -> None:
    # Given a non-Marketplace workspace with a 0.2 s window instead of a minute (real clock)
    ch = _seed(emu, marketplace_app=False, history_window_seconds=0.2)
    client = client_for(emu)
    _posts(client, ch.general, 20)
    assert client.conversations_history(channel=ch.general)["ok"]
    assert slack_error(lambda: client.conversations_history(channel=ch.general))["error"] == "ratelimited"
    # When it becomes a Marketplace app again, then reads are free and pages are 100 by default
    emu.configure_workspace(TEAM_A, marketplace_app=True)
    assert len(client.conversations_history(channel=ch.general)["messages"]) == 20
    assert client.conversations_history(channel=ch.general)["ok"]


def test_workspace_switches_are_validated(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    for options in (
        {"marketplace_app": "no"},
        {"history_needs_membership": 1},
        {"history_window_seconds": 0},
        {"history_window_seconds": True},
        {"unknown_thread_ts": "drop"},
        {"rate": 1},
    ):
        with pytest.raises(ValueError):
            emu.configure_workspace(TEAM_A, **options)
    assert emu.configure_workspace(TEAM_A)["marketplace_app"] is True


def test_a_seed_may_set_the_switches(emu: SlackEmulator) -> None:
    seed = {
        "workspaces": [
            {
                "team_id": TEAM_A,
                "name": "Seeded",
                "marketplace_app": False,
                "history_window_seconds": 30,
                "unknown_thread_ts": "top_level",
                "tokens": [{"token": TOKEN_A}],
                "channels": [{"id": "C0SEEDED001", "name": "general", "is_member": True}],
            }
        ]
    }
    emu.load_seed(seed)
    client = client_for(emu)
    assert client.conversations_history(channel="C0SEEDED001")["ok"]
    assert slack_error(lambda: client.conversations_history(channel="C0SEEDED001")).headers["Retry-After"] == "30"
    assert "thread_ts" not in client.chat_postMessage(channel="C0SEEDED001", text="x", thread_ts=GHOST_TS)["message"]


# -- 3. replies to a message that is not there -------------------------------------------------


def test_a_reply_to_an_unknown_thread_is_kept_out_of_every_read(emu: SlackEmulator) -> None:
    # Given a workspace with the default unknown_thread_ts="hidden"
    ch = _seed(emu)
    client = client_for(emu)
    visible = client.chat_postMessage(channel=ch.general, text="visible")["ts"]
    # When the bot replies to a ts that names no message, broadcast or not
    response = client.chat_postMessage(channel=ch.general, text="orphan", thread_ts=GHOST_TS)
    broadcast = client.chat_postMessage(channel=ch.general, text="fyi", thread_ts=GHOST_TS, reply_broadcast=True)
    # Then Slack accepts both, and their answers carry the requested thread_ts
    assert response["ok"] and response["message"]["thread_ts"] == GHOST_TS
    assert broadcast["message"]["thread_ts"] == GHOST_TS and "subtype" not in broadcast["message"]
    # But neither shows in the channel's history, and neither thread can be read
    assert [m["ts"] for m in client.conversations_history(channel=ch.general)["messages"]] == [visible]
    for ts in (GHOST_TS, response["ts"]):
        assert slack_error(lambda ts=ts: client.conversations_replies(channel=ch.general, ts=ts))["error"] == (
            "thread_not_found"
        )
    # And they are stored with that thread_ts
    stored = emu.messages(ch.general)
    assert [(m["text"], m.get("thread_ts")) for m in stored] == [
        ("visible", None),
        ("orphan", GHOST_TS),
        ("fyi", GHOST_TS),
    ]


def test_a_reply_to_a_deleted_message_without_replies_is_hidden(emu: SlackEmulator) -> None:
    # Given a message deleted before anyone replied
    ch = _seed(emu)
    client = client_for(emu)
    parent = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    emu.delete_message(ch.general, parent)
    # When the bot replies to it, then the reply is accepted but nowhere to be read
    response = client.chat_postMessage(channel=ch.general, text="late reply", thread_ts=parent)
    assert response["message"]["thread_ts"] == parent
    assert client.conversations_history(channel=ch.general)["messages"] == []
    assert slack_error(lambda: client.conversations_replies(channel=ch.general, ts=parent))["error"] == (
        "thread_not_found"
    )


def test_a_tombstoned_thread_is_read_and_replied_to(emu: SlackEmulator) -> None:
    # Given a deleted parent that has a reply
    ch = _seed(emu)
    client = client_for(emu)
    parent = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    client.chat_postMessage(channel=ch.general, text="first", thread_ts=parent)
    emu.delete_message(ch.general, parent)
    # When the bot replies to it, then the reply joins the tombstone's thread
    client.chat_postMessage(channel=ch.general, text="second", thread_ts=parent)
    thread = client.conversations_replies(channel=ch.general, ts=parent)["messages"]
    assert [m["text"] for m in thread] == ["This message was deleted.", "first", "second"]
    assert thread[0]["reply_count"] == 2


# -- 4. long text and Block Kit errors ---------------------------------------------------------


def test_text_over_40000_characters_is_truncated_with_a_warning(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # When the bot posts 40,001 characters, then Slack keeps the first 40,000 and says so
    response = client.chat_postMessage(channel=ch.general, text="a" * 39_999 + "bc")
    assert response.status_code == 200 and response["ok"]
    assert response["warning"] == "message_truncated"
    assert response["response_metadata"] == {
        "warnings": ["message_truncated"],
        "messages": [
            "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
        ],
    }
    assert response["message"]["text"] == "a" * 39_999 + "b"
    assert emu.messages(ch.general)[0]["text"] == "a" * 39_999 + "b"
    # And exactly 40,000 characters is posted whole, without a warning
    exact = client.chat_postMessage(channel=ch.general, text="x" * 40_000)
    assert "warning" not in exact.data and "response_metadata" not in exact.data


def _section(text: str, text_type: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": text_type, "text": text}}


RICH_TEXT = {
    "type": "rich_text",
    "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "r"}]}],
}


def _fields(count: int) -> list[dict[str, Any]]:
    return [{"type": "mrkdwn", "text": f"f{n}"} for n in range(count)]


@pytest.mark.parametrize(
    ("blocks", "errors"),
    [
        ([{"type": "sections"}], ["unsupported type: sections [json-pointer:/blocks/0/type]"]),
        (
            [{"type": "divider"}, {"type": "section"}],
            ["must define either `text` or `fields` [json-pointer:/blocks/1/type]"],
        ),
        (
            [_section("hi", "markdown")],
            ["failed to match all allowed schemas [json-pointer:/blocks/0/text]"],
        ),
        (
            [{"type": "header", "text": {"type": "mrkdwn", "text": "Title"}}],
            ["failed to match all allowed schemas [json-pointer:/blocks/0/text]"],
        ),
        (
            [_section("x" * 3001)],
            [
                "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
            ],
        ),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
            [
                "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
            ],
        ),
        ([{"type": "divider"}] * 51, ["must be less than 51 items [json-pointer:/blocks]"]),
        (
            [{"type": "divider", "block_id": "b" * 256}],
            ["must be less than 256 characters [json-pointer:/blocks/0/block_id]"],
        ),
        (
            [{"type": "section", "fields": _fields(11)}],
            ["must be less than 11 items [json-pointer:/blocks/0/fields]"],
        ),
        ([{"type": "divider", "foo": 1}], ["invalid additional property: foo [json-pointer:/blocks/0]"]),
        (
            [_section(""), {"type": "image", "image_url": "https://example.com/a.png"}],
            [
                "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
                "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
                "missing required field: alt_text [json-pointer:/blocks/1]",
            ],
        ),
    ],
)
def test_block_kit_problems_are_invalid_blocks_with_slacks_errors(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace, blocks: list[dict[str, Any]], errors: list[str]
) -> None:
    # When the bot posts blocks Slack refuses (as JSON, and as a form with blocks as a JSON string)
    as_json = slack_error(lambda: client.chat_postMessage(channel=ch.general, text="t", blocks=blocks))
    as_form = slack_error(
        lambda: client.api_call("chat.postMessage", params={"channel": ch.general, "blocks": json.dumps(blocks)})
    )
    # Then both get invalid_blocks, each problem listed in `errors` and as an [ERROR] message
    for response in (as_json, as_form):
        assert response.status_code == 200
        assert response.data == {
            "ok": False,
            "error": "invalid_blocks",
            "errors": errors,
            "response_metadata": {"messages": [f"[ERROR] {error}" for error in errors]},
        }
    assert emu.messages(ch.general) == []


def test_block_kit_limits_are_inclusive(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    accepted = [
        [_section("x" * 3000)],
        [{"type": "header", "text": {"type": "plain_text", "text": "x" * 150}}],
        [{"type": "divider", "block_id": "b" * 255}],
        [{"type": "section", "fields": _fields(10)}],
        [{"type": "divider"}] * 50,
        [{"type": "section", "text": {"type": "plain_text", "text": "hi", "emoji": True}, "block_id": "s1"}],
        [{"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]}],
        [
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "r"}]}],
            }
        ],
        [{"type": "markdown", "text": "**bold**"}],
    ]
    for blocks in accepted:
        assert client.chat_postMessage(channel=ch.general, text="t", blocks=blocks)["ok"]
    assert len(emu.messages(ch.general)) == len(accepted)


def test_blocks_too_large_overall_are_msg_blocks_too_long(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given blocks each within limits: four sections of 3000 characters (12,000 in all) and 5 of them
    four, five = [_section("x" * 3000)] * 4, [_section("x" * 3000)] * 5
    # When both are posted, then 12,000 characters of text go through and 15,000 do not
    assert client.chat_postMessage(channel=ch.general, text="t", blocks=four)["ok"]
    refused = slack_error(lambda: client.chat_postMessage(channel=ch.general, text="t", blocks=five))
    assert refused.status_code == 200 and refused.data == {"ok": False, "error": "msg_blocks_too_long"}
    # And the limit is not on the blocks' JSON: 50 small sections (over 13,200 characters of JSON) are fine
    many = [
        {"type": "section", "block_id": f"block-{n:03d}", "text": {"type": "mrkdwn", "text": "y" * 200}}
        for n in range(50)
    ]
    assert len(json.dumps(many)) > 13_200
    assert client.chat_postMessage(channel=ch.general, text="t", blocks=many)["ok"]
    assert len(emu.messages(ch.general)) == 2


# -- 5. scopes ---------------------------------------------------------------------------------


def test_history_and_replies_without_channels_history_are_missing_scope(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a token granted everything but channels:history, and a thread it could otherwise read
    parent = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    reader = client_for(emu, TOKEN_NO_HISTORY)
    # When it reads history or the thread
    for call in (
        lambda: reader.conversations_history(channel=ch.general),
        lambda: reader.conversations_replies(channel=ch.general, ts=parent),
    ):
        response = slack_error(call)
        # Then Slack names the scope it needs and the ones the token has
        assert response.status_code == 200
        assert response.data == {
            "ok": False,
            "error": "missing_scope",
            "needed": "channels:history",
            "provided": "channels:read,chat:write,chat:write.public",
        }
    # And it still posts
    assert reader.chat_postMessage(channel=ch.general, text="ok")["ok"]


# -- chat.update, conversations.join, oauth.v2.access -----------------------------------------


def test_chat_update_edits_the_bots_message(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given a message the bot posted with blocks
    blocks = [_section("v1")]
    ts = client.chat_postMessage(channel=ch.general, text="v1", blocks=blocks)["ts"]
    # When it updates the text only
    response = client.chat_update(channel=ch.general, ts=ts, text="v2")
    # Then Slack answers with the channel, ts, text and the edited message (which has no ts)
    assert (response["channel"], response["ts"], response["text"]) == (ch.general, ts, "v2")
    assert response["message"]["text"] == "v2" and "ts" not in response["message"]
    assert response["message"]["edited"]["user"] == BOT_ID_A
    stored = emu.messages(ch.general)[0]
    assert (stored["text"], stored["blocks"], stored["ts"]) == ("v2", blocks, ts)
    # And an empty blocks list removes the blocks
    client.chat_update(channel=ch.general, ts=ts, text="v3", blocks=[])
    assert "blocks" not in emu.messages(ch.general)[0]


def test_chat_update_errors(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    ts = client.chat_postMessage(channel=ch.general, text="v1")["ts"]
    other = client_for(emu, TOKEN_B).chat_postMessage(channel=ch.b_general, text="theirs")["ts"]
    cases = [
        ({"channel": "C0NOPE00000", "ts": ts, "text": "x"}, "channel_not_found"),
        ({"channel": ch.general, "ts": GHOST_TS, "text": "x"}, "message_not_found"),
        ({"channel": ch.general, "ts": ts}, "no_text"),
        ({"channel": ch.general, "ts": ts, "text": "x" * 40_001}, "msg_too_long"),
        ({"channel": ch.general, "ts": ts, "blocks": [{"type": "sections"}]}, "invalid_blocks"),
        ({"channel": ch.b_general, "ts": other, "text": "x"}, "channel_not_found"),  # another team's
    ]
    for params, error in cases:
        assert slack_error(lambda params=params: client.api_call("chat.update", json=params))["error"] == error
    # A person's message cannot be edited by the bot
    human = emu.add_user_message(ch.general, "written by a person", user_id="U0PERSON01")
    assert slack_error(lambda: client.chat_update(channel=ch.general, ts=human["ts"], text="x"))["error"] == (
        "cant_update_message"
    )
    assert [m["text"] for m in emu.messages(ch.general)] == ["v1", "written by a person"]


def test_conversations_join_answers(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    emu.add_token("xoxb-test-2026-joiner", TEAM_A, scopes=("channels:join",))
    joiner = client_for(emu, "xoxb-test-2026-joiner")
    # Joining a channel it is already in is ok, with Slack's warning
    again = joiner.conversations_join(channel=ch.general)
    assert again["warning"] == "already_in_channel"
    assert again["response_metadata"] == {"warnings": ["already_in_channel"]}
    # Private, archived, hidden or unknown channels cannot be joined
    for channel, error in (
        (ch.leaders, "method_not_supported_for_channel_type"),
        (ch.old, "is_archived"),
        (ch.secret, "channel_not_found"),
        ("C0NOPE00000", "channel_not_found"),
    ):
        assert slack_error(lambda channel=channel: joiner.conversations_join(channel=channel))["error"] == error
    # And the scope is needed
    denied = slack_error(lambda: client_for(emu, TOKEN_NO_HISTORY).conversations_join(channel=ch.random))
    assert (denied["error"], denied["needed"]) == ("missing_scope", "channels:join")


def test_oauth_v2_access_exchanges_a_code_for_a_working_bot_token(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given an app and a code Slack issued for an install in team A
    app = emu.add_oauth_app("1111.2222", "shh-secret", redirect_uri="https://buster.example/oauth")
    code = emu.issue_oauth_code(
        "1111.2222", TEAM_A, scopes=("chat:write", "channels:read"), redirect_uri="https://buster.example/oauth"
    )
    anonymous = WebClient(base_url=emu.base_url, timeout=5, retry_handlers=[])
    # When the app exchanges it
    response = anonymous.oauth_v2_access(
        client_id="1111.2222", client_secret="shh-secret", code=code, redirect_uri="https://buster.example/oauth"
    )
    # Then it gets a bot token of that workspace with the granted scopes
    assert response["app_id"] == app["app_id"]
    assert (response["token_type"], response["scope"], response["bot_user_id"]) == (
        "bot",
        "chat:write,channels:read",
        BOT_A,
    )
    assert response["team"] == {"id": TEAM_A, "name": "Team A"}
    assert response["enterprise"] is None and response["is_enterprise_install"] is False
    token = response["access_token"]
    assert token.startswith("xoxb-")
    assert client_for(emu, token).auth_test()["team_id"] == TEAM_A
    # And the call log holds neither the secret nor the token
    [logged] = emu.calls("oauth.v2.access")
    assert logged["authorization"] == "basic" and "shh-secret" not in json.dumps(logged)
    assert token not in json.dumps(emu.calls())


def test_oauth_v2_access_errors(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    emu.add_oauth_app("1111.2222", "shh-secret")
    emu.add_oauth_app("3333.4444", "other-secret")
    code = emu.issue_oauth_code("1111.2222", TEAM_A)
    bound = emu.issue_oauth_code("1111.2222", TEAM_A, redirect_uri="https://buster.example/oauth")
    anonymous = WebClient(base_url=emu.base_url, timeout=5, retry_handlers=[])

    def exchange(client_id: str, secret: str, the_code: str, **extra: Any) -> str:
        return str(
            slack_error(
                lambda: anonymous.oauth_v2_access(client_id=client_id, client_secret=secret, code=the_code, **extra)
            )["error"]
        )

    assert exchange("9999.0000", "shh-secret", code) == "invalid_client_id"
    assert exchange("1111.2222", "wrong", code) == "bad_client_secret"
    assert exchange("1111.2222", "shh-secret", "not-a-code") == "invalid_code"
    assert exchange("3333.4444", "other-secret", code) == "invalid_code"  # another app's code
    assert exchange("1111.2222", "shh-secret", bound) == "bad_redirect_uri"
    assert exchange("1111.2222", "shh-secret", bound, redirect_uri="https://evil.example/") == "bad_redirect_uri"
    assert anonymous.oauth_v2_access(client_id="1111.2222", client_secret="shh-secret", code=code)["ok"]
    assert exchange("1111.2222", "shh-secret", code) == "code_already_used"
    # The app may also send its credentials as form params instead of HTTP Basic
    form = {
        "client_id": "1111.2222",
        "client_secret": "shh-secret",
        "code": bound,
        "redirect_uri": "https://buster.example/oauth",
    }
    assert anonymous.api_call("oauth.v2.access", data=form)["ok"]
    assert "shh-secret" not in json.dumps(emu.calls())
    basic = base64.b64encode(b"1111.2222:shh-secret").decode()
    assert basic not in json.dumps(emu.calls())


def test_chat_get_permalink_links_messages_and_replies(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    emu.add_token("xoxb-test-2026-no-scopes", TEAM_A, scopes=())
    client, bare = client_for(emu), client_for(emu, "xoxb-test-2026-no-scopes")
    parent = client.chat_postMessage(channel=ch.general, text="parent")["ts"]
    reply = client.chat_postMessage(channel=ch.general, text="reply", thread_ts=parent)["ts"]
    domain = "team-a"
    # A top-level message and a reply get Slack-shaped links, with no scope needed
    top = bare.chat_getPermalink(channel=ch.general, message_ts=parent)
    assert (top["channel"], top["permalink"]) == (
        ch.general,
        f"https://{domain}.slack.com/archives/{ch.general}/p{parent.replace('.', '')}",
    )
    assert client.chat_getPermalink(channel=ch.general, message_ts=reply)["permalink"] == (
        f"https://{domain}.slack.com/archives/{ch.general}/p{reply.replace('.', '')}"
        f"?thread_ts={parent}&cid={ch.general}"
    )
    # A deleted parent that kept its replies (a tombstone) is still linked
    emu.delete_message(ch.general, parent)
    assert client.chat_getPermalink(channel=ch.general, message_ts=parent)["permalink"] == top["permalink"]
    # Unknown or deleted messages are message_not_found; hidden channels not found
    lone = client.chat_postMessage(channel=ch.general, text="lone")["ts"]
    emu.delete_message(ch.general, lone)
    for ts in (GHOST_TS, lone):
        assert slack_error(lambda ts=ts: client.chat_getPermalink(channel=ch.general, message_ts=ts))["error"] == (
            "message_not_found"
        )
    assert slack_error(lambda: client.chat_getPermalink(channel=ch.secret, message_ts=reply))["error"] == (
        "channel_not_found"
    )
