"""The Slack emulator, driven the way the service drives Slack: the real `slack_sdk.WebClient` over HTTP.

The Python control API is used only to seed state, arm faults and inspect what the server stored.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from http.client import RemoteDisconnected
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from local.slack_emulator import DEFAULT_SCOPES, SlackEmulator
from tests.emulator.clients import slack_error, web_client

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SEED = REPO_ROOT / "local" / "slack_emulator" / "demo_seed.json"
TEAM_A, TEAM_B = "T0TEAMA001", "T0TEAMB001"
TOKEN_A, TOKEN_B = "xoxb-test-token-team-a", "xoxb-test-token-team-b"
TOKEN_NO_PUBLIC = "xoxb-test-token-no-public"
BOT_A = "U0BOTA0001"
TS_PATTERN = re.compile(r"^\d{10}\.\d{6}$")
CONNECTION_ERRORS = (URLError, RemoteDisconnected, ConnectionResetError)
NO_WAIT = FixedValueRetryIntervalCalculator(0.01)


@pytest.fixture
def emu(emulator: SlackEmulator) -> SlackEmulator:
    """Team A with a mix of channels (in this creation order) and team B with one channel.

    `emulator` is the suite's one server (tests/conftest.py), emptied here for each test."""
    server = emulator
    server.reset()
    server.add_workspace(TEAM_A, "Team A", domain="team-a", bot_user_id=BOT_A, bot_id="B0BOTA0001")
    server.add_workspace(TEAM_B, "Team B")
    server.add_token(TOKEN_A, TEAM_A)
    server.add_token(TOKEN_B, TEAM_B)
    server.add_token(TOKEN_NO_PUBLIC, TEAM_A, scopes=("channels:read", "chat:write", "channels:history"))
    return server


@pytest.fixture
def ch(emu: SlackEmulator) -> SimpleNamespace:
    return SimpleNamespace(
        general=emu.add_channel(TEAM_A, "general", is_member=True, purpose="Everyone", num_members=9),
        random=emu.add_channel(TEAM_A, "random", num_members=5),
        old=emu.add_channel(TEAM_A, "old", is_member=True, is_archived=True),
        secret=emu.add_channel(TEAM_A, "secret", is_private=True),
        leaders=emu.add_channel(TEAM_A, "leaders", is_private=True, is_member=True),
        dev=emu.add_channel(TEAM_A, "dev", is_member=True, topic="Ship it"),
        other_team=emu.add_channel(TEAM_B, "b-general", is_member=True),
    )


def client_for(emu: SlackEmulator, token: str | None = TOKEN_A, **options: Any) -> WebClient:
    return web_client(emu, token, timeout=2, **options)


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return client_for(emu)


# -- lifecycle and control API ----------------------------------------------------------------


def test_start_serves_on_the_returned_base_url_and_stop_closes_the_socket() -> None:
    # Given a fresh emulator with one token
    emulator = SlackEmulator()
    base_url = emulator.start(host="127.0.0.1", port=0)
    emulator.add_workspace(TEAM_A, "Team A")
    emulator.add_token(TOKEN_A, TEAM_A)
    # When a client calls it, then it answers on that URL
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/", base_url)
    assert emulator.base_url == base_url
    assert client_for(emulator).auth_test()["team_id"] == TEAM_A
    with pytest.raises(RuntimeError):
        emulator.start()
    # When it is stopped, then the port refuses connections and stopping again is harmless
    emulator.stop()
    emulator.stop()
    with pytest.raises(URLError):
        WebClient(token=TOKEN_A, base_url=base_url, timeout=1, retry_handlers=[]).auth_test()
    with pytest.raises(RuntimeError):
        _ = emulator.base_url


def test_reset_clears_state_faults_and_calls_but_keeps_serving(emu: SlackEmulator, client: WebClient) -> None:
    # Given calls, a channel and an armed fault
    emu.add_channel(TEAM_A, "general", is_member=True)
    client.auth_test()
    emu.inject_fault("*", "ratelimited", times=5)
    # When the emulator is reset
    emu.reset()
    # Then the old token is unknown, no fault fires and the call log restarts
    assert slack_error(client.auth_test)["error"] == "invalid_auth"
    assert [call["method"] for call in emu.calls()] == ["auth.test"]
    assert emu.calls()[0]["fault"] is None


def test_demo_seed_has_the_demo_workspace(slack: SlackEmulator) -> None:
    server = slack
    # Given the shipped demo seed
    server.reset()
    server.load_seed(DEMO_SEED)
    demo = client_for(server, "xoxb-demo-local-token")
    # When the demo bot lists every conversation
    auth = demo.auth_test()
    channels = [
        channel
        for page in demo.conversations_list(types="public_channel,private_channel", limit=200)
        for channel in page["channels"]
    ]
    # Then it is "Buster Demo" with 6 public channels (one archived) and a private one it is in
    assert (auth["team_id"], auth["team"]) == ("T0DEMO0001", "Buster Demo")
    public = [channel for channel in channels if not channel["is_private"]]
    assert len(public) == 6
    assert [channel["name"] for channel in public if channel["is_archived"]] == ["old-releases"]
    assert [channel["name"] for channel in channels if channel["is_private"]] == ["leadership"]


def test_load_seed_rejects_unknown_keys(slack: SlackEmulator) -> None:
    server = slack
    # Given a seed with a typo in a channel key, when it is loaded, then it is refused by name
    server.reset()
    seed = {"workspaces": [{"team_id": "T1", "name": "X", "channels": [{"name": "a", "is_membr": True}]}]}
    with pytest.raises(ValueError, match="is_membr"):
        server.load_seed(seed)


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("meltdown", {}),
        ("ratelimited", {"times": 0}),
        ("slow", {"delay": -1}),
        ("slow", {"status": 500}),
        ("ratelimited", {"error": "internal_error"}),
        ("server_error", {"status": 42}),
    ],
)
def test_inject_fault_rejects_invalid_arguments(emu: SlackEmulator, kind: str, options: dict[str, Any]) -> None:
    # Given a meaningless fault, when it is armed, then it is refused up front
    with pytest.raises(ValueError):
        emu.inject_fault("auth.test", kind, **options)


def test_control_api_rejects_duplicates_and_unknown_ids(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a seeded workspace, when ids or names are reused or unknown, then the setup call fails loudly
    with pytest.raises(ValueError):
        emu.add_workspace(TEAM_A, "again")
    with pytest.raises(ValueError):
        emu.add_channel(TEAM_A, "general")
    with pytest.raises(ValueError):
        emu.add_channel(TEAM_B, "new", channel_id=ch.general["id"])
    with pytest.raises(ValueError):
        emu.add_token(TOKEN_A, TEAM_A)
    with pytest.raises(ValueError):
        emu.set_token_status(TOKEN_A, "sleepy")
    with pytest.raises(KeyError):
        emu.messages("C0NOTHERE00")


# -- wire format and authentication -----------------------------------------------------------


def test_auth_test_describes_the_bot_and_workspace(client: WebClient) -> None:
    # When the bot calls auth.test
    response = client.auth_test()
    # Then it gets Slack's fields, as JSON, with the token's scopes in X-OAuth-Scopes
    assert response.data == {
        "ok": True,
        "url": "https://team-a.slack.com/",
        "team": "Team A",
        "user": "buster",
        "team_id": TEAM_A,
        "user_id": BOT_A,
        "bot_id": "B0BOTA0001",
        "is_enterprise_install": False,
    }
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-OAuth-Scopes"] == ",".join(DEFAULT_SCOPES)


def test_generated_ids_look_like_slack_ids(emu: SlackEmulator) -> None:
    # When ids are left to the emulator, then they have Slack's shape (private channels start with C too)
    workspace = emu.add_workspace("T0GENERATE", "Generated Co")
    channel = emu.add_channel("T0GENERATE", "hush", is_private=True)
    assert re.fullmatch(r"U[A-Z0-9]{10}", workspace["bot_user_id"])
    assert re.fullmatch(r"B[A-Z0-9]{10}", workspace["bot_id"])
    assert workspace["domain"] == "generated-co"
    assert re.fullmatch(r"C[A-Z0-9]{10}", channel["id"])


@pytest.mark.parametrize(
    ("status", "error"),
    [("revoked", "token_revoked"), ("inactive", "account_inactive"), ("expired", "token_expired")],
)
def test_token_status_maps_to_slack_error(emu: SlackEmulator, client: WebClient, status: str, error: str) -> None:
    # Given the install's token was revoked / the workspace deleted / the token expired
    emu.set_token_status(TOKEN_A, status)
    # When the bot calls any method, then Slack's exact error comes back with HTTP 200
    response = slack_error(client.auth_test)
    assert (response.status_code, response.data) == (200, {"ok": False, "error": error})
    # And it recovers once the token is active again
    emu.set_token_status(TOKEN_A, "active")
    assert client.auth_test()["ok"]


def test_unknown_and_missing_tokens(emu: SlackEmulator) -> None:
    # When a call carries an unknown token, or none at all, then invalid_auth / not_authed
    assert slack_error(client_for(emu, "xoxb-nobody").auth_test)["error"] == "invalid_auth"
    assert slack_error(client_for(emu, None).auth_test)["error"] == "not_authed"
    assert [call["authorization"] for call in emu.calls()] == ["bearer", None]
    assert [call["team_id"] for call in emu.calls()] == [None, None]


def test_token_may_come_as_a_form_param(emu: SlackEmulator) -> None:
    # Given a client without a token, when the token is sent as a `token` form field
    response = client_for(emu, None).api_call("auth.test", data={"token": TOKEN_A})
    # Then it authenticates, and the call log records how without storing the token
    assert response["team_id"] == TEAM_A
    call = emu.calls()[-1]
    assert (call["authorization"], call["team_id"], call["params"]) == ("param", TEAM_A, {})


def test_auth_revoke_revokes_the_token(client: WebClient) -> None:
    # Given a dry run changes nothing
    assert client.auth_revoke(test=True)["revoked"] is False
    assert client.auth_test()["ok"]
    # When the token is revoked, then every later call answers token_revoked
    assert client.auth_revoke()["revoked"] is True
    assert slack_error(client.auth_test)["error"] == "token_revoked"


def test_unknown_method_is_a_404(client: WebClient) -> None:
    # When the client calls a method the emulator does not know, then 404 unknown_method like Slack
    response = slack_error(lambda: client.api_call("chat.postEphemeralButWrong"))
    assert (response.status_code, response["error"]) == (404, "unknown_method")


@pytest.mark.parametrize(
    ("method", "params", "needed"),
    [
        ("conversations.list", {}, "channels:read"),
        ("conversations.info", {"channel": "C0000000000"}, "channels:read"),
        ("conversations.replies", {"channel": "C0000000000", "ts": "1.0"}, "channels:history"),
        ("chat.postMessage", {"channel": "C0000000000", "text": "hi"}, "chat:write"),
    ],
)
def test_missing_scope_names_needed_and_provided(
    emu: SlackEmulator, method: str, params: dict[str, str], needed: str
) -> None:
    # Given a token granted only auth-free scopes
    emu.add_token("xoxb-narrow", TEAM_A, scopes=("users:read", "team:read"))
    # When it calls a method that needs a scope it lacks
    response = slack_error(lambda: client_for(emu, "xoxb-narrow").api_call(method, params=params))
    # Then missing_scope says what was needed and what was provided
    assert response.data == {
        "ok": False,
        "error": "missing_scope",
        "needed": needed,
        "provided": "users:read,team:read",
    }


def test_query_string_params_are_read_on_post(client: WebClient, ch: SimpleNamespace) -> None:
    # When params travel in the query string of a POST, then they count like body params
    response = client.api_call(f"conversations.info?channel={ch.general['id']}")
    assert response["channel"]["name"] == "general"


def test_get_with_query_string_is_accepted(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    """WebClient always POSTs, so this one wire-level check uses urllib directly."""
    # When a GET carries the params and the token in the query string
    query = urlencode({"channel": ch.general["id"], "token": TOKEN_A})
    url = f"{emu.base_url}conversations.info?{query}"
    with urllib.request.urlopen(url, timeout=2) as answer:
        body, content_type = json.load(answer), answer.headers["Content-Type"]
    # Then it is answered like a POST, and the logged params hold no token
    assert body["channel"]["id"] == ch.general["id"]
    assert content_type == "application/json; charset=utf-8"
    assert emu.calls()[-1]["params"] == {"channel": ch.general["id"]}
    assert emu.calls()[-1]["authorization"] == "param"


def test_malformed_form_body_is_rejected_and_the_server_survives(client: WebClient) -> None:
    # When a form field is percent-encoded bytes that are not UTF-8
    response = slack_error(lambda: client.api_call("auth.test", params={"x": b"\xff\xfe"}))
    # Then Slack's invalid_form_data comes back and the server still answers
    assert response.data == {"ok": False, "error": "invalid_form_data"}
    assert client.auth_test()["ok"]


@pytest.mark.parametrize("body", [{"channel": "C1", "text": "x", "n": float("nan")}, ["not", "an", "object"]])
def test_invalid_json_body_is_rejected_and_the_server_survives(client: WebClient, body: Any) -> None:
    # When a JSON body is not a strict JSON object (NaN is not JSON; a list is not params)
    response = slack_error(lambda: client.api_call("chat.postMessage", json=body))
    # Then invalid_json comes back and the server still answers
    assert response.data == {"ok": False, "error": "invalid_json"}
    assert client.auth_test()["ok"]


def test_call_log_records_requests_without_tokens(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot makes two calls
    client.auth_test()
    client.chat_postMessage(channel=ch.general["id"], text="hello")
    # Then both are logged in order with params, team, status, fault and auth kind, and no token anywhere
    assert emu.calls() == [
        {
            "method": "auth.test",
            "params": {},
            "team_id": TEAM_A,
            "status": 200,
            "fault": None,
            "authorization": "bearer",
        },
        {
            "method": "chat.postMessage",
            "params": {"channel": ch.general["id"], "text": "hello"},
            "team_id": TEAM_A,
            "status": 200,
            "fault": None,
            "authorization": "bearer",
        },
    ]
    assert [call["method"] for call in emu.calls("auth.test")] == ["auth.test"]
    assert TOKEN_A not in json.dumps(emu.calls())


def test_server_writes_no_access_log_and_never_a_token(
    emu: SlackEmulator,
    client: WebClient,
    ch: SimpleNamespace,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # When the bot makes good, bad and faulted calls
    client.auth_test()
    slack_error(lambda: client.conversations_info(channel="C0NOPE00000"))
    emu.inject_fault("auth.test", "drop_before")
    with pytest.raises(CONNECTION_ERRORS):
        client.auth_test()
    # Then nothing like an access log reaches stderr, and no output or log record holds the token
    output = capfd.readouterr()
    assert "POST /api" not in output.err
    assert TOKEN_A not in output.out + output.err + caplog.text


# -- conversations.list -----------------------------------------------------------------------


def test_list_cuts_the_page_before_filtering(client: WebClient, ch: SimpleNamespace) -> None:
    # Given 6 channels in team A: general, random, old (archived), secret (private, not in it),
    # leaders (private, in it), dev
    # When the bot lists public, non-archived channels 2 at a time, following next_cursor
    # (a SlackResponse iterates by replacing its own data, so keep each page's data)
    pages = [page.data for page in client.conversations_list(exclude_archived=True, limit=2)]
    # Then the second window holds nothing it may show: an empty page that still has a cursor
    assert [[channel["name"] for channel in page["channels"]] for page in pages] == [
        ["general", "random"],
        [],
        ["dev"],
    ]
    cursors = [page["response_metadata"]["next_cursor"] for page in pages]
    assert cursors[0] and cursors[1] and cursors[2] == ""


def test_list_types_and_archived_filters(client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot asks for public and private channels, archived included (the default)
    names = [c["name"] for c in client.conversations_list(types="public_channel, private_channel")["channels"]]
    # Then it sees every public channel and only the private channel it is a member of
    assert names == ["general", "random", "old", "leaders", "dev"]
    # And types it has none of are accepted but match nothing
    assert client.conversations_list(types="im,mpim")["channels"] == []
    assert [c["name"] for c in client.conversations_list(types="private_channel")["channels"]] == ["leaders"]


def test_list_channel_objects_look_like_slacks(client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot lists channels
    general = client.conversations_list()["channels"][0]
    # Then each carries Slack's fields
    assert general["id"] == ch.general["id"]
    assert {
        key: general[key]
        for key in (
            "name",
            "name_normalized",
            "is_channel",
            "is_group",
            "is_im",
            "is_mpim",
            "is_private",
            "is_archived",
            "is_general",
            "is_member",
            "is_shared",
            "is_ext_shared",
            "is_org_shared",
            "context_team_id",
            "num_members",
        )
    } == {
        "name": "general",
        "name_normalized": "general",
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": False,
        "is_archived": False,
        "is_general": True,
        "is_member": True,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "context_team_id": TEAM_A,
        "num_members": 9,
    }
    assert general["purpose"]["value"] == "Everyone" and general["purpose"]["creator"] == general["creator"]
    assert general["topic"] == {"value": "", "creator": "", "last_set": 0}
    assert isinstance(general["created"], int) and re.fullmatch(r"U[A-Z0-9]{10}", general["creator"])


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"types": "public_channel,dm"}, "invalid_types"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 1000}, "invalid_limit"),
        ({"limit": "many"}, "invalid_limit"),
        ({"cursor": "not-a-cursor!"}, "invalid_cursor"),
        ({"cursor": "aGVsbG8="}, "invalid_cursor"),  # valid base64, but not a cursor we issued
    ],
)
def test_list_rejects_bad_arguments(client: WebClient, ch: SimpleNamespace, params: dict[str, Any], error: str) -> None:
    # When the bot sends a bad types / limit / cursor, then Slack's error names it
    assert slack_error(lambda: client.conversations_list(**params))["error"] == error


def test_list_accepts_the_largest_limit(client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot asks for 999 at once, then it gets everything in one page
    response = client.conversations_list(limit=999)
    assert len(response["channels"]) == 4 and response["response_metadata"]["next_cursor"] == ""


def test_workspaces_are_isolated(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given team B's bot
    team_b = client_for(emu, TOKEN_B)
    a_channel = ch.general["id"]
    # When it lists channels or touches a team A channel
    names = [channel["name"] for channel in team_b.conversations_list()["channels"]]
    errors = [
        slack_error(lambda: team_b.conversations_info(channel=a_channel))["error"],
        slack_error(lambda: team_b.chat_postMessage(channel=a_channel, text="hi"))["error"],
        slack_error(lambda: team_b.conversations_replies(channel=a_channel, ts="1700000000.000001"))["error"],
        slack_error(lambda: team_b.conversations_history(channel=a_channel))["error"],
    ]
    # Then it only ever sees its own workspace
    assert names == ["b-general"]
    assert errors == ["channel_not_found"] * 4
    assert emu.messages(a_channel) == []
    assert {call["team_id"] for call in emu.calls()} == {TEAM_B}


# -- conversations.info -----------------------------------------------------------------------


def test_info_returns_the_channel_with_num_members_on_request(client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot asks about a channel with and without include_num_members
    plain = client.conversations_info(channel=ch.random["id"])["channel"]
    counted = client.conversations_info(channel=ch.random["id"], include_num_members=True)["channel"]
    # Then num_members appears only when asked for
    assert plain["name"] == "random" and "num_members" not in plain
    assert counted["num_members"] == 5


def test_info_sees_archived_and_member_private_channels(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a channel archived after creation
    emu.archive_channel(ch.dev["id"])
    # When the bot looks it up, and a private channel it is in, then both are found as they are
    assert client.conversations_info(channel=ch.dev["id"])["channel"]["is_archived"] is True
    assert client.conversations_info(channel=ch.leaders["id"])["channel"]["is_private"] is True


def test_info_hides_missing_deleted_and_foreign_private_channels(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a deleted channel
    emu.delete_channel(ch.random["id"])
    # When the bot asks about it, a private channel it is not in, or no channel at all
    errors = [
        slack_error(lambda: client.conversations_info(channel=ch.random["id"]))["error"],
        slack_error(lambda: client.conversations_info(channel=ch.secret["id"]))["error"],
        slack_error(lambda: client.api_call("conversations.info", params={}))["error"],
    ]
    # Then each is channel_not_found
    assert errors == ["channel_not_found"] * 3


# -- chat.postMessage -------------------------------------------------------------------------


def test_post_stores_and_returns_the_message(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts text and blocks (slack_sdk sends this as JSON)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deployed*"}}]
    response = client.chat_postMessage(channel=ch.general["id"], text="Deployed", blocks=blocks)
    # Then Slack's answer comes back and the message is stored as Slack stores it
    assert response["channel"] == ch.general["id"]
    assert TS_PATTERN.fullmatch(response["ts"])
    app_id = emu.configure_workspace(TEAM_A)["app_id"]
    expected = {
        "type": "message",
        "text": "Deployed",
        "user": BOT_A,
        "bot_id": "B0BOTA0001",
        "app_id": app_id,
        "team": TEAM_A,
        "bot_profile": {
            "id": "B0BOTA0001",
            "deleted": False,
            "name": "buster",
            "updated": response["message"]["bot_profile"]["updated"],
            "app_id": app_id,
            "icons": response["message"]["bot_profile"]["icons"],
            "team_id": TEAM_A,
        },
        "ts": response["ts"],
        "blocks": blocks,
    }
    assert emu.messages(ch.general["id"]) == [expected]
    # The answer's bot_profile also names the bot user, as Slack's recorded answers do
    answered = response["message"]
    assert answered["bot_profile"].pop("user_id") == BOT_A
    assert answered == expected
    assert set(answered["bot_profile"]["icons"]) == {"image_36", "image_48", "image_72"}
    assert "thread_ts" not in response["message"]


def test_post_ts_strictly_increase_across_channels(client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts quickly to several channels of one workspace
    targets = [ch.general["id"], ch.dev["id"], ch.random["id"]] * 3
    stamps = [client.chat_postMessage(channel=channel, text="tick")["ts"] for channel in targets]
    # Then every ts is well-formed and later than the one before
    assert all(TS_PATTERN.fullmatch(ts) for ts in stamps)
    assert stamps == sorted(stamps, key=lambda ts: tuple(map(int, ts.split(".")))) and len(set(stamps)) == len(stamps)


def test_post_accepts_a_public_channel_name(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts to "#dev", then it lands in that channel and the answer names it by ID
    assert client.chat_postMessage(channel="#dev", text="hi")["channel"] == ch.dev["id"]
    assert len(emu.messages(ch.dev["id"])) == 1
    # But a private channel cannot be addressed by name
    assert slack_error(lambda: client.chat_postMessage(channel="#leaders", text="hi"))["error"] == "channel_not_found"


def test_post_as_form_data_with_blocks_as_a_json_string(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # When the post arrives form-encoded, blocks as a JSON string and booleans as "1"/"0"
    blocks = [{"type": "divider"}]
    params = {
        "channel": ch.general["id"],
        "text": "x",
        "blocks": json.dumps(blocks),
        "unfurl_links": False,
        "unfurl_media": True,
        "mrkdwn": True,
    }
    response = client.api_call("chat.postMessage", params=params)
    # Then the blocks are stored as a list and the flags arrived as Slack sees them
    assert emu.messages(ch.general["id"])[0]["blocks"] == blocks == response["message"]["blocks"]
    logged = emu.calls("chat.postMessage")[-1]["params"]
    assert (logged["unfurl_links"], logged["unfurl_media"], logged["mrkdwn"]) == ("0", "1", "1")


@pytest.mark.parametrize(
    ("channel", "params", "error"),
    [
        ("C0NOPE00000", {"text": "hi"}, "channel_not_found"),
        (None, {"text": "hi"}, "channel_not_found"),
        ("secret", {"text": "hi"}, "channel_not_found"),
        ("old", {"text": "hi"}, "is_archived"),
        ("old", {}, "is_archived"),  # archived is checked before the text
        ("general", {}, "no_text"),
        ("general", {"text": "", "blocks": []}, "no_text"),
        ("general", {"blocks": "{not json"}, "invalid_blocks_format"),
        ("general", {"blocks": [{"text": "no type"}]}, "invalid_blocks_format"),
        ("general", {"blocks": {"type": "section"}}, "invalid_blocks_format"),
        ("general", {"blocks": [{"type": "divider"}] * 51}, "invalid_blocks"),
        ("general", {"blocks": [{"type": "sektion"}]}, "invalid_blocks"),
        ("general", {"text": "hi", "metadata": "{oops"}, "invalid_metadata_format"),
        ("general", {"text": "hi", "metadata": {"event_payload": {}}}, "invalid_metadata_format"),
    ],
)
def test_post_errors_and_nothing_is_stored(
    emu: SlackEmulator,
    client: WebClient,
    ch: SimpleNamespace,
    channel: str | None,
    params: dict[str, Any],
    error: str,
) -> None:
    # Given a bad target or body
    body = dict(params)
    if channel is not None:
        body["channel"] = getattr(ch, channel)["id"] if hasattr(ch, channel) else channel
    # When the bot posts it, then Slack's error comes back and nothing is stored anywhere
    assert slack_error(lambda: client.api_call("chat.postMessage", json=body))["error"] == error
    assert all(emu.messages(c["id"]) == [] for c in vars(ch).values())


def test_post_limits_are_inclusive(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts exactly 50 blocks and exactly 40,000 characters, then both are accepted
    assert client.chat_postMessage(channel=ch.general["id"], text="t", blocks=[{"type": "divider"}] * 50)["ok"]
    assert client.chat_postMessage(channel=ch.general["id"], text="x" * 40_000)["ok"]
    assert len(emu.messages(ch.general["id"])) == 2


def test_post_to_a_channel_the_bot_is_not_in_needs_chat_write_public(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given one token with chat:write.public and one without
    with_public, without_public = client_for(emu, TOKEN_A), client_for(emu, TOKEN_NO_PUBLIC)
    # When both post to #random, which the bot has not joined
    response = slack_error(lambda: without_public.chat_postMessage(channel=ch.random["id"], text="hi"))
    # Then only the token with chat:write.public gets through; member channels and private ones it is in work
    assert response["error"] == "not_in_channel"
    assert with_public.chat_postMessage(channel=ch.random["id"], text="hi")["ok"]
    assert without_public.chat_postMessage(channel=ch.general["id"], text="hi")["ok"]
    assert without_public.chat_postMessage(channel=ch.leaders["id"], text="hi")["ok"]
    assert [len(emu.messages(ch.random["id"])), len(emu.messages(ch.leaders["id"]))] == [1, 1]


def test_post_stores_metadata(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # When the bot posts with message metadata, then the stored message carries it
    metadata = {"event_type": "deployment", "event_payload": {"id": "deployment-42"}}
    client.chat_postMessage(channel=ch.general["id"], text="hi", metadata=metadata)
    assert emu.messages(ch.general["id"])[0]["metadata"] == metadata


# -- threads ----------------------------------------------------------------------------------


def test_reply_threads_under_the_parent(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given a top-level message
    parent_ts = client.chat_postMessage(channel=ch.general["id"], text="parent")["ts"]
    # When the bot replies to it twice
    first = client.chat_postMessage(channel=ch.general["id"], text="one", thread_ts=parent_ts)
    second = client.chat_postMessage(channel=ch.general["id"], text="two", thread_ts=parent_ts)
    # Then the answers carry the thread, and the parent counts its replies
    assert first["message"]["thread_ts"] == second["message"]["thread_ts"] == parent_ts
    parent, *replies = emu.messages(ch.general["id"])
    assert (parent["thread_ts"], parent["reply_count"], parent["latest_reply"]) == (
        parent_ts,
        2,
        second["ts"],
    )
    assert (parent["reply_users"], parent["reply_users_count"]) == ([BOT_A], 1)
    assert [(reply["text"], reply["thread_ts"], reply["parent_user_id"]) for reply in replies] == [
        ("one", parent_ts, BOT_A),
        ("two", parent_ts, BOT_A),
    ]
    assert all("subtype" not in reply for reply in replies)


def test_reply_to_a_reply_threads_under_its_parent(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a thread with one reply
    parent_ts = client.chat_postMessage(channel=ch.general["id"], text="parent")["ts"]
    reply_ts = client.chat_postMessage(channel=ch.general["id"], text="one", thread_ts=parent_ts)["ts"]
    # When the bot replies to the reply, then Slack files it under the original parent
    response = client.chat_postMessage(channel=ch.general["id"], text="nested", thread_ts=reply_ts)
    assert response["message"]["thread_ts"] == parent_ts


def test_reply_to_an_unknown_ts_is_accepted_and_hidden_by_default(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given no message with this ts exists
    ghost_ts = "1500000000.000001"
    # When the bot "replies" to it
    response = client.chat_postMessage(channel=ch.general["id"], text="orphan", thread_ts=ghost_ts)
    # Then Slack accepts it, the answer carries that thread_ts, and no read shows it
    assert response["ok"] and response["message"]["thread_ts"] == ghost_ts
    assert client.conversations_history(channel=ch.general["id"])["messages"] == []
    assert [m["thread_ts"] for m in emu.messages(ch.general["id"])] == [ghost_ts]


def test_reply_to_an_unknown_ts_lands_top_level_in_top_level_mode(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a workspace switched to the older behaviour, and no message with this ts
    emu.configure_workspace(TEAM_A, unknown_thread_ts="top_level")
    ghost_ts = "1500000000.000001"
    # When the bot "replies" to it, broadcast flag and all
    response = client.chat_postMessage(
        channel=ch.general["id"], text="orphan", thread_ts=ghost_ts, reply_broadcast=True
    )
    # Then it is posted top-level: no thread_ts in the answer or the stored message
    assert response["ok"] and "thread_ts" not in response["message"]
    stored = emu.messages(ch.general["id"])
    assert len(stored) == 1 and "thread_ts" not in stored[0] and "subtype" not in stored[0]


@pytest.mark.parametrize("as_form", [False, True])
def test_broadcast_reply_is_also_in_the_channel(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace, as_form: bool
) -> None:
    # Given a top-level message
    parent_ts = client.chat_postMessage(channel=ch.general["id"], text="parent")["ts"]
    # When the bot replies with reply_broadcast (JSON true, or form "true")
    params = {"channel": ch.general["id"], "text": "fyi", "thread_ts": parent_ts}
    if as_form:
        response = client.api_call("chat.postMessage", params={**params, "reply_broadcast": "true"})
    else:
        response = client.chat_postMessage(**params, reply_broadcast=True)
    # Then the reply is a thread_broadcast stored in the channel and in the thread
    assert response["message"]["subtype"] == "thread_broadcast"
    assert response["message"]["thread_ts"] == parent_ts
    assert [message.get("subtype") for message in emu.messages(ch.general["id"])] == [
        None,
        "thread_broadcast",
    ]


# -- conversations.replies --------------------------------------------------------------------


def _thread(client: WebClient, channel: str, replies: int) -> list[str]:
    parent_ts = client.chat_postMessage(channel=channel, text="parent")["ts"]
    reply_ts = [
        client.chat_postMessage(channel=channel, text=f"r{n}", thread_ts=parent_ts)["ts"] for n in range(replies)
    ]
    return [parent_ts, *reply_ts]


def test_replies_returns_parent_then_replies(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a thread of a parent and two replies, plus an unrelated top-level message
    stamps = _thread(client, ch.general["id"], replies=2)
    client.chat_postMessage(channel=ch.general["id"], text="unrelated")
    # When the bot reads the thread by the parent's ts, or by a reply's ts
    by_parent = client.conversations_replies(channel=ch.general["id"], ts=stamps[0])
    by_reply = client.conversations_replies(channel=ch.general["id"], ts=stamps[2])
    # Then both give the parent first, then the replies, in order, with nothing more to fetch
    assert [message["ts"] for message in by_parent["messages"]] == stamps
    assert by_parent["messages"][0]["reply_count"] == 2
    assert by_parent["has_more"] is False and "response_metadata" not in by_parent.data
    assert by_reply["messages"] == by_parent["messages"]


def test_replies_of_an_unthreaded_message_is_just_that_message(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a message nobody replied to, when the bot reads its thread, then only it comes back
    ts = client.chat_postMessage(channel=ch.general["id"], text="alone")["ts"]
    assert [
        message["text"] for message in client.conversations_replies(channel=ch.general["id"], ts=ts)["messages"]
    ] == ["alone"]


def test_replies_paginate_with_a_cursor(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a parent with four replies
    stamps = _thread(client, ch.general["id"], replies=4)
    # When the bot pages through it two at a time, following next_cursor
    pages = [page.data for page in client.conversations_replies(channel=ch.general["id"], ts=stamps[0], limit=2)]
    # Then it gets three pages, has_more on all but the last, and every message once, in order
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert [message["ts"] for page in pages for message in page["messages"]] == stamps
    assert pages[0]["response_metadata"]["next_cursor"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"ts": "1500000000.000001"}, "thread_not_found"),
        ({}, "thread_not_found"),
        ({"channel": "C0NOPE00000", "ts": "1500000000.000001"}, "channel_not_found"),
        ({"channel": "secret", "ts": "1500000000.000001"}, "channel_not_found"),
        ({"ts": "1500000000.000001", "cursor": "%%%"}, "invalid_cursor"),
        ({"ts": "1500000000.000001", "limit": 0}, "invalid_limit"),
        ({"ts": "1500000000.000001", "oldest": "yesterday"}, "invalid_ts_oldest"),
        ({"ts": "1500000000.000001", "latest": "-1"}, "invalid_ts_latest"),
    ],
)
def test_replies_errors(client: WebClient, ch: SimpleNamespace, params: dict[str, Any], error: str) -> None:
    # Given a bad channel, ts, cursor or limit, when the bot reads the thread, then Slack's error names it
    channel = params.get("channel", "general")
    body = {**params, "channel": getattr(ch, channel)["id"] if hasattr(ch, channel) else channel}
    assert slack_error(lambda: client.api_call("conversations.replies", params=body))["error"] == error


def test_replies_bounds_filter_the_replies_but_always_keep_the_parent(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a parent with three replies
    parent, first, second, third = _thread(client, ch.general["id"], replies=3)

    def read(**bounds: Any) -> list[str]:
        response = client.conversations_replies(channel=ch.general["id"], ts=parent, **bounds)
        return [message["ts"] for message in response["messages"]]

    # When the bot reads the thread between bounds, then the parent still leads and the replies are cut
    assert read(oldest=first) == [parent, second, third]
    assert read(oldest=first, inclusive=True) == [parent, first, second, third]
    assert read(latest=second) == [parent, first]
    assert read(oldest=first, latest=third, inclusive=True) == [parent, first, second, third]
    assert read(oldest=third) == [parent]


def test_replies_return_metadata_only_with_include_all_metadata(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a parent and a reply that both carry metadata
    metadata = {"event_type": "deployment", "event_payload": {"id": "deployment-42"}}
    parent = client.chat_postMessage(channel=ch.general["id"], text="parent", metadata=metadata)["ts"]
    client.chat_postMessage(channel=ch.general["id"], text="reply", thread_ts=parent, metadata=metadata)
    # When the bot reads the thread with and without include_all_metadata
    plain = client.conversations_replies(channel=ch.general["id"], ts=parent)["messages"]
    full = client.conversations_replies(channel=ch.general["id"], ts=parent, include_all_metadata=True)["messages"]
    # Then metadata comes back only when asked for, and the stored messages keep it either way
    assert [("metadata" in message) for message in plain] == [False, False]
    assert [message["metadata"] for message in full] == [metadata, metadata]
    assert [message["metadata"] for message in emu.messages(ch.general["id"])] == [metadata, metadata]


# -- conversations.history --------------------------------------------------------------------


def _posts(client: WebClient, channel: str, count: int) -> list[str]:
    return [client.chat_postMessage(channel=channel, text=f"m{n}")["ts"] for n in range(count)]


def test_history_returns_top_level_messages_newest_first(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a thread with one plain and one broadcast reply, then a top-level message
    parent = client.chat_postMessage(channel=ch.general["id"], text="parent")["ts"]
    client.chat_postMessage(channel=ch.general["id"], text="hidden", thread_ts=parent)
    broadcast = client.chat_postMessage(channel=ch.general["id"], text="fyi", thread_ts=parent, reply_broadcast=True)
    latest = client.chat_postMessage(channel=ch.general["id"], text="later")["ts"]
    # When the bot reads the channel's history
    response = client.conversations_history(channel=ch.general["id"])
    # Then it sees what the channel shows, newest first: the plain reply stays in its thread
    assert [message["text"] for message in response["messages"]] == ["later", "fyi", "parent"]
    assert [message["ts"] for message in response["messages"]] == [latest, broadcast["ts"], parent]
    assert response["messages"][2]["reply_count"] == 2
    assert (response["has_more"], response["pin_count"]) == (False, 0)
    assert "response_metadata" not in response.data


def test_history_of_an_empty_channel_is_empty(client: WebClient, ch: SimpleNamespace) -> None:
    # Given a channel nobody posted in, when the bot reads it, then there is nothing and nothing more
    response = client.conversations_history(channel=ch.dev["id"])
    assert response.data == {
        "ok": True,
        "messages": [],
        "has_more": False,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }


def test_history_paginates_with_a_cursor(client: WebClient, ch: SimpleNamespace) -> None:
    # Given five top-level messages
    stamps = _posts(client, ch.general["id"], 5)
    # When the bot pages through the history two at a time, following next_cursor
    pages = [page.data for page in client.conversations_history(channel=ch.general["id"], limit=2)]
    # Then it gets three pages, has_more on all but the last, and every message once, newest first
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert [message["ts"] for page in pages for message in page["messages"]] == stamps[::-1]
    assert all(page["response_metadata"]["next_cursor"] for page in pages[:2])
    assert "response_metadata" not in pages[2]


def test_history_pages_hold_100_messages_by_default(client: WebClient, ch: SimpleNamespace) -> None:
    # Given 101 top-level messages
    stamps = _posts(client, ch.general["id"], 101)
    # When the bot reads the history without a limit, then the first page holds the newest 100
    first = client.conversations_history(channel=ch.general["id"])
    assert [message["ts"] for message in first["messages"]] == stamps[:0:-1]
    assert first["has_more"] is True
    # And the cursor leads to the oldest one; the largest limit takes all of them at once
    rest = client.conversations_history(channel=ch.general["id"], cursor=first["response_metadata"]["next_cursor"])
    assert [message["ts"] for message in rest["messages"]] == stamps[:1] and rest["has_more"] is False
    assert len(client.conversations_history(channel=ch.general["id"], limit=999)["messages"]) == 101


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"oldest": 0}, [3, 2, 1]),
        ({"oldest": 0, "inclusive": True}, [3, 2, 1, 0]),
        ({"latest": 3}, [2, 1, 0]),
        ({"latest": 3, "inclusive": True}, [3, 2, 1, 0]),
        ({"oldest": 0, "latest": 3}, [2, 1]),
        ({"oldest": 0, "latest": 3, "inclusive": True}, [3, 2, 1, 0]),
        ({"oldest": 1, "latest": 1}, []),
        ({"oldest": 1, "latest": 1, "inclusive": True}, [1]),
        ({"inclusive": True}, [3, 2, 1, 0]),  # inclusive alone changes nothing
    ],
)
def test_history_oldest_latest_and_inclusive(
    client: WebClient, ch: SimpleNamespace, bounds: dict[str, Any], expected: list[int]
) -> None:
    # Given four top-level messages
    stamps = _posts(client, ch.general["id"], 4)
    params = {key: stamps[value] if key != "inclusive" else value for key, value in bounds.items()}
    # When the bot reads between the bounds of some of them, then only those inside come back
    response = client.conversations_history(channel=ch.general["id"], **params)
    assert [message["ts"] for message in response["messages"]] == [stamps[n] for n in expected]


def test_history_compares_bounds_as_numbers(client: WebClient, ch: SimpleNamespace) -> None:
    # Given two top-level messages
    stamps = _posts(client, ch.general["id"], 2)
    seconds = stamps[1].split(".")[0]

    def read(**bounds: Any) -> list[str]:
        return [m["ts"] for m in client.conversations_history(channel=ch.general["id"], **bounds)["messages"]]

    # When the bounds are written with other digit counts than Slack's ts, then they still compare by value
    assert read(oldest="0") == read(oldest="2") == stamps[::-1]  # "2" sorts after "17..." as text
    assert read(oldest=stamps[0] + "000", inclusive=True) == stamps[::-1]
    assert read(latest=str(int(seconds) + 1)) == read(latest="10000000000") == stamps[::-1]
    assert read(latest=f"{int(stamps[0].split('.')[0]) - 1}.9") == []


def test_history_returns_metadata_only_with_include_all_metadata(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a message posted with metadata and one without
    metadata = {"event_type": "deployment", "event_payload": {"id": "deployment-42"}}
    client.chat_postMessage(channel=ch.general["id"], text="tagged", metadata=metadata)
    client.chat_postMessage(channel=ch.general["id"], text="plain")
    # When the bot reads the history with and without include_all_metadata (form "1" and JSON true)
    plain = client.conversations_history(channel=ch.general["id"])["messages"]
    as_form = client.conversations_history(channel=ch.general["id"], include_all_metadata=True)["messages"]
    as_json = client.api_call(
        "conversations.history", json={"channel": ch.general["id"], "include_all_metadata": True}
    )["messages"]
    # Then metadata is there only when asked for, only on the message that has it
    assert [message.get("metadata") for message in plain] == [None, None]
    assert [message.get("metadata") for message in as_form] == [None, metadata]
    assert as_json == as_form
    # And the inspection API still shows what is stored
    assert emu.messages(ch.general["id"])[0]["metadata"] == metadata


def test_history_needs_channels_history(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a token without channels:history
    emu.add_token("xoxb-test-token-no-history", TEAM_A, scopes=("channels:read", "chat:write"))
    reader = client_for(emu, "xoxb-test-token-no-history")
    # When it reads a channel's history, then Slack names the scope it lacks
    response = slack_error(lambda: reader.conversations_history(channel=ch.general["id"]))
    assert (response["error"], response["needed"]) == ("missing_scope", "channels:history")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"channel": "C0NOPE00000"}, "channel_not_found"),
        ({"channel": "secret"}, "channel_not_found"),
        ({"channel": None}, "channel_not_found"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 1000}, "invalid_limit"),
        ({"limit": "many"}, "invalid_limit"),
        ({"cursor": "%%%"}, "invalid_cursor"),
        ({"cursor": "aGVsbG8="}, "invalid_cursor"),
        ({"oldest": "yesterday"}, "invalid_ts_oldest"),
        ({"oldest": "-1"}, "invalid_ts_oldest"),
        ({"latest": "NaN"}, "invalid_ts_latest"),
        ({"latest": "Infinity"}, "invalid_ts_latest"),
    ],
)
def test_history_errors(client: WebClient, ch: SimpleNamespace, params: dict[str, Any], error: str) -> None:
    # Given a bad channel, limit, cursor or bound, when the bot reads the history, then Slack's error names it
    channel = params.get("channel", "general")
    body = {**params, "channel": getattr(ch, channel)["id"] if channel and hasattr(ch, channel) else channel}
    body = {key: value for key, value in body.items() if value is not None}
    assert slack_error(lambda: client.api_call("conversations.history", params=body))["error"] == error


# -- deleting messages ------------------------------------------------------------------------


def test_delete_message_removes_a_top_level_message(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given three top-level messages
    stamps = _posts(client, ch.general["id"], 3)
    # When a user deletes the middle one
    emu.delete_message(ch.general["id"], stamps[1])
    # Then it is gone from storage, from the history and as a thread
    assert [message["ts"] for message in emu.messages(ch.general["id"])] == [stamps[0], stamps[2]]
    history = client.conversations_history(channel=ch.general["id"])["messages"]
    assert [message["ts"] for message in history] == [stamps[2], stamps[0]]
    assert (
        slack_error(lambda: client.conversations_replies(channel=ch.general["id"], ts=stamps[1]))["error"]
        == "thread_not_found"
    )


def test_deleted_parent_with_replies_leaves_a_readable_tombstone(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a parent with two replies
    parent, first, second = _thread(client, ch.general["id"], replies=2)
    # When a user deletes the parent
    emu.delete_message(ch.general["id"], parent)
    # Then a tombstone takes its place, keeping the thread's fields
    tombstone, *replies = emu.messages(ch.general["id"])
    assert [reply["ts"] for reply in replies] == [first, second]
    assert tombstone == {
        "type": "message",
        "subtype": "tombstone",
        "text": "This message was deleted.",
        "user": "USLACKBOT",
        "hidden": True,
        "ts": parent,
        "thread_ts": parent,
        "parent_user_id": "USLACKBOT",
        "reply_count": 2,
        "reply_users_count": 1,
        "latest_reply": second,
        "reply_users": [BOT_A],
        "is_locked": False,
        "subscribed": False,
    }
    # And the thread stays readable, by the parent's ts or a reply's
    for ts in (parent, first):
        thread = client.conversations_replies(channel=ch.general["id"], ts=ts)["messages"]
        assert [message["ts"] for message in thread] == [parent, first, second]
        assert thread[0]["subtype"] == "tombstone"
    # And the history holds the tombstone, hidden, as Slack's does
    [shown] = client.conversations_history(channel=ch.general["id"])["messages"]
    assert (shown["ts"], shown["subtype"], shown["hidden"]) == (parent, "tombstone", True)
    # And a new reply, to the tombstone or to a reply, still threads under it
    late = client.chat_postMessage(channel=ch.general["id"], text="late reply", thread_ts=parent)
    later = client.chat_postMessage(channel=ch.general["id"], text="later reply", thread_ts=first)
    assert late["message"]["thread_ts"] == later["message"]["thread_ts"] == parent
    assert emu.messages(ch.general["id"])[0]["reply_count"] == 4
    # And a tombstone cannot be deleted again
    with pytest.raises(KeyError):
        emu.delete_message(ch.general["id"], parent)


def test_a_tombstone_goes_with_its_last_reply(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given a deleted parent whose tombstone holds two replies
    parent, first, second = _thread(client, ch.general["id"], replies=2)
    emu.delete_message(ch.general["id"], parent)
    # When one reply goes, the tombstone counts the other; when both go, it goes too
    emu.delete_message(ch.general["id"], second)
    assert (emu.messages(ch.general["id"])[0]["reply_count"], emu.messages(ch.general["id"])[0]["latest_reply"]) == (
        1,
        first,
    )
    emu.delete_message(ch.general["id"], first)
    assert emu.messages(ch.general["id"]) == []
    assert client.conversations_history(channel=ch.general["id"])["messages"] == []
    assert (
        slack_error(lambda: client.conversations_replies(channel=ch.general["id"], ts=parent))["error"]
        == "thread_not_found"
    )


def test_a_deleted_parent_without_replies_is_gone_and_a_reply_to_it_lands_top_level_in_top_level_mode(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given a message deleted before anyone replied (hidden mode, the default, in test_slack_2026.py)
    emu.configure_workspace(TEAM_A, unknown_thread_ts="top_level")
    parent = client.chat_postMessage(channel=ch.general["id"], text="parent")["ts"]
    emu.delete_message(ch.general["id"], parent)
    # When the bot replies to it
    response = client.chat_postMessage(channel=ch.general["id"], text="late reply", thread_ts=parent)
    # Then the reply is an unthreaded message
    assert "thread_ts" not in response["message"]
    assert [message["text"] for message in client.conversations_history(channel=ch.general["id"])["messages"]] == [
        "late reply"
    ]


def test_deleting_replies_updates_the_parent(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given a parent with two replies
    parent, first, second = _thread(client, ch.general["id"], replies=2)
    # When a user deletes the latest reply
    emu.delete_message(ch.general["id"], second)
    # Then the parent counts one reply, the earlier one, and the thread holds just that
    stored = emu.messages(ch.general["id"])[0]
    assert (stored["reply_count"], stored["latest_reply"], stored["reply_users_count"]) == (1, first, 1)
    thread = client.conversations_replies(channel=ch.general["id"], ts=parent)["messages"]
    assert [message["ts"] for message in thread] == [parent, first]
    # When the last reply goes too, then the parent is a plain message again
    emu.delete_message(ch.general["id"], first)
    remaining = emu.messages(ch.general["id"])
    assert len(remaining) == 1
    assert not {"thread_ts", "reply_count", "reply_users", "reply_users_count", "latest_reply"} & set(remaining[0])
    assert [m["ts"] for m in client.conversations_replies(channel=ch.general["id"], ts=parent)["messages"]] == [parent]


def test_delete_message_rejects_unknown_channels_and_ts(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a channel without that message, or no such channel, when a test deletes it, then it fails by name
    with pytest.raises(KeyError, match=re.escape("no message with ts 1500000000.000001")):
        emu.delete_message(ch.general["id"], "1500000000.000001")
    with pytest.raises(KeyError, match="unknown channel C0NOTHERE00"):
        emu.delete_message("C0NOTHERE00", "1500000000.000001")


# -- faults -----------------------------------------------------------------------------------


def test_ratelimited_fault_is_a_429_with_retry_after(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given chat.postMessage is throttled with Retry-After 7
    emu.inject_fault("chat.postMessage", "ratelimited", retry_after=7)
    # When the bot posts
    response = slack_error(lambda: client.chat_postMessage(channel=ch.general["id"], text="hi"))
    # Then it gets Slack's 429 answer, nothing is posted, and the next post goes through
    assert (response.status_code, response.data) == (429, {"ok": False, "error": "ratelimited"})
    assert response.headers["Retry-After"] == "7"
    assert emu.messages(ch.general["id"]) == []
    assert (emu.calls()[-1]["status"], emu.calls()[-1]["fault"]) == (429, "ratelimited")
    assert client.chat_postMessage(channel=ch.general["id"], text="hi")["ok"]


def test_slack_sdk_rate_limit_handler_honours_retry_after(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given one throttled call with Retry-After 0 and a client using slack_sdk's RateLimitErrorRetryHandler
    emu.inject_fault("chat.postMessage", "ratelimited", retry_after=0)
    retrying = client_for(emu, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    # When the bot posts, then the handler reads the header, retries, and exactly one message lands
    assert retrying.chat_postMessage(channel=ch.general["id"], text="hi")["ok"]
    assert [call["status"] for call in emu.calls("chat.postMessage")] == [429, 200]
    assert len(emu.messages(ch.general["id"])) == 1


@pytest.mark.parametrize("error", ["internal_error", "rate_limited", "fatal_error"])
def test_error_fault_is_an_ok_false_answer(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace, error: str
) -> None:
    # Given the next post fails with a Slack error
    emu.inject_fault("chat.postMessage", "error", error=error)
    # When the bot posts, then HTTP 200 with that error comes back and nothing is posted
    response = slack_error(lambda: client.chat_postMessage(channel=ch.general["id"], text="hi"))
    assert (response.status_code, response.data) == (200, {"ok": False, "error": error})
    assert emu.messages(ch.general["id"]) == []


def test_error_fault_defaults_to_internal_error_and_may_override_status(emu: SlackEmulator, client: WebClient) -> None:
    # Given an error fault with no error string and status 500
    emu.inject_fault("auth.test", "error", status=500)
    # When the bot calls, then a JSON internal_error comes back with that status
    response = slack_error(client.auth_test)
    assert (response.status_code, response["error"]) == (500, "internal_error")


@pytest.mark.parametrize(("status", "expected"), [(None, 503), (500, 500), (502, 502)])
def test_server_error_fault_is_an_html_page(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace, status: int | None, expected: int
) -> None:
    # Given the load balancer in front of Slack answers with an error page
    emu.inject_fault("chat.postMessage", "server_error", status=status)
    # When the bot posts
    response = slack_error(lambda: client.chat_postMessage(channel=ch.general["id"], text="hi"))
    # Then slack_sdk sees that status and a non-JSON body, and nothing was posted
    assert response.status_code == expected
    assert response["error"].startswith("Received a response in a non-JSON format: <html>")
    assert response.headers["Content-Type"] == "text/html"
    assert emu.messages(ch.general["id"]) == []


def test_slack_sdk_server_error_handler_retries_the_503(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given one 503 and a client with slack_sdk's ServerErrorRetryHandler
    emu.inject_fault("chat.postMessage", "server_error")
    retrying = client_for(emu, retry_handlers=[ServerErrorRetryHandler(interval_calculator=NO_WAIT)])
    # When the bot posts, then the retry succeeds and exactly one message lands
    assert retrying.chat_postMessage(channel=ch.general["id"], text="hi")["ok"]
    assert len(emu.messages(ch.general["id"])) == 1


def test_drop_before_closes_the_connection_and_posts_nothing(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given the connection is dropped before the request is handled
    emu.inject_fault("chat.postMessage", "drop_before")
    # When the bot posts without retry handlers, then it sees a connection error and nothing is posted
    with pytest.raises(CONNECTION_ERRORS):
        client.chat_postMessage(channel=ch.general["id"], text="hi")
    assert emu.messages(ch.general["id"]) == []
    assert (emu.calls()[-1]["status"], emu.calls()[-1]["fault"]) == (None, "drop_before")


def test_drop_after_posts_then_closes_the_connection(
    emu: SlackEmulator, client: WebClient, ch: SimpleNamespace
) -> None:
    # Given the connection is reset after Slack has written the message
    emu.inject_fault("chat.postMessage", "drop_after")
    # When the bot posts without retry handlers
    with pytest.raises(CONNECTION_ERRORS):
        client.chat_postMessage(channel=ch.general["id"], text="hi")
    # Then it sees a connection error, yet the message is in the channel
    assert [message["text"] for message in emu.messages(ch.general["id"])] == ["hi"]
    assert (emu.calls()[-1]["status"], emu.calls()[-1]["fault"]) == (None, "drop_after")


def test_drop_after_with_the_connection_retry_handler_double_posts(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a reset after write and slack_sdk's (default-on) ConnectionErrorRetryHandler
    emu.inject_fault("chat.postMessage", "drop_after")
    retrying = client_for(emu, retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=NO_WAIT)])
    # When the bot posts once
    response = retrying.chat_postMessage(channel=ch.general["id"], text="deploy done")
    # Then the call "succeeds", but the channel holds the message twice
    assert response["ok"]
    assert [message["text"] for message in emu.messages(ch.general["id"])] == ["deploy done", "deploy done"]


def test_slow_fault_delays_then_answers(emu: SlackEmulator, client: WebClient, ch: SimpleNamespace) -> None:
    # Given the next post is slow
    emu.inject_fault("chat.postMessage", "slow", delay=0.3)
    # When the bot posts, then the answer is normal, only late
    started = time.monotonic()
    assert client.chat_postMessage(channel=ch.general["id"], text="hi")["ok"]
    assert time.monotonic() - started >= 0.3
    assert emu.calls()[-1]["fault"] == "slow" and emu.calls()[-1]["status"] == 200


def test_slow_fault_past_the_client_timeout_still_posts(emu: SlackEmulator, ch: SimpleNamespace) -> None:
    # Given a post slower than the client's timeout
    emu.inject_fault("chat.postMessage", "slow", delay=0.4)
    impatient = WebClient(token=TOKEN_A, base_url=emu.base_url, timeout=0.1, retry_handlers=[])  # type: ignore[arg-type]
    # When the bot posts, then it times out, yet Slack finishes the post afterwards
    with pytest.raises((TimeoutError, URLError)):
        impatient.chat_postMessage(channel=ch.general["id"], text="hi")
    deadline = time.monotonic() + 2
    while not emu.messages(ch.general["id"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [message["text"] for message in emu.messages(ch.general["id"])] == ["hi"]


def test_fault_after_and_times_select_which_calls_fail(emu: SlackEmulator, client: WebClient) -> None:
    # Given auth.test fails twice after one good call
    emu.inject_fault("auth.test", "error", error="fatal_error", after=1, times=2)
    # When the bot calls auth.test four times, with another method in between
    outcomes = []
    for _ in range(4):
        client.conversations_list()
        try:
            outcomes.append(client.auth_test()["ok"])
        except SlackApiError as err:
            outcomes.append(err.response["error"])
    # Then only the 2nd and 3rd auth.test fail; other methods are untouched
    assert outcomes == [True, "fatal_error", "fatal_error", True]
    assert {call["fault"] for call in emu.calls("conversations.list")} == {None}


def test_wildcard_fault_hits_any_method_even_before_auth(emu: SlackEmulator) -> None:
    # Given a wildcard fault for the next two calls
    emu.inject_fault("*", "ratelimited", times=2, retry_after=1)
    anonymous = client_for(emu, None)
    # When two different methods are called, even without a token
    statuses = [slack_error(call).status_code for call in (anonymous.auth_test, anonymous.conversations_list)]
    # Then both are throttled before authentication, and the fault is then used up
    assert statuses == [429, 429]
    assert slack_error(anonymous.auth_test)["error"] == "not_authed"


# -- command line -----------------------------------------------------------------------------


def test_cli_serves_the_demo_seed_until_interrupted() -> None:
    # Given the emulator started from the command line on a free port
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "local.slack_emulator", "--host", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        # When the demo bot calls it
        demo = WebClient(token="xoxb-demo-local-token", base_url=base_url, timeout=2, retry_handlers=[])
        assert demo.auth_test()["team"] == "Buster Demo"
        # Then Ctrl-C stops it cleanly, without ever printing the token
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=5)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "xoxb-demo-local-token" not in stderr and "Traceback" not in stderr


def test_cli_refuses_a_bad_seed(tmp_path: Path) -> None:
    # Given a seed file that is not valid
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"workspaces": [{"team_id": "T1"}]}))
    # When the emulator is started with it, then it exits with status 2 and says why
    result = subprocess.run(
        [sys.executable, "-m", "local.slack_emulator", "--port", "0", "--seed", str(seed)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "cannot load seed" in result.stderr
