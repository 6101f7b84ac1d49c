"""The renderer: what a Slack client would display for a stored message, and what it makes live.

Escaped injection attempts must come out as inert text, unescaped ones as the notifications and
links they would really be; the end-to-end test posts through the real `slack_sdk.WebClient`.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient

from local.slack_emulator import Rendered, SlackEmulator
from local.slack_emulator.render import render_message
from tests.conftest import Workspace


def text_message(text: str) -> dict[str, Any]:
    return {"type": "message", "text": text, "ts": "1700000000.000001"}


def section(text: str, *, kind: str = "mrkdwn", **options: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text, **options}}


def blocks_message(*blocks: dict[str, Any], text: str = "") -> dict[str, Any]:
    return {"type": "message", "text": text, "blocks": list(blocks), "ts": "1700000000.000001"}


# -- mrkdwn control sequences (top-level text) --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown", "mention"),
    [
        ("<!channel>", "@channel", "@channel"),
        ("<!here>", "@here", "@here"),
        ("<!everyone>", "@everyone", "@everyone"),
        ("<!here|here>", "@here", "@here"),
        ("<@U0123ABCD>", "@U0123ABCD", "@U0123ABCD"),
        ("<@U0123ABCD|alice>", "@alice", "@U0123ABCD"),
        ("<!subteam^S0123|@team>", "@team", "subteam^S0123"),
        ("<!subteam^S0123>", "@S0123", "subteam^S0123"),
    ],
)
def test_unescaped_control_sequences_notify(raw: str, shown: str, mention: str) -> None:
    # Given untrusted text posted without escaping, when it is rendered
    rendered = render_message(text_message(f"hi {raw} bye"))
    # Then the reader sees the mention and it notifies
    assert rendered == Rendered(text=f"hi {shown} bye", mentions=(mention,))


@pytest.mark.parametrize(
    "raw",
    ["<!channel>", "<!here>", "<!everyone>", "<@U0123ABCD>", "<!subteam^S0123|@team>", "<#C0123ABCD|general>"],
)
def test_escaped_control_sequences_are_inert_text(raw: str) -> None:
    # Given the same text escaped as `&lt;`/`&gt;`/`&amp;`
    escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # When it is rendered, then the reader sees the characters typed and nothing is live
    assert render_message(text_message(escaped)) == Rendered(text=raw)


def test_escaped_here_is_the_literal_text() -> None:
    assert render_message(text_message("&lt;!here&gt;")) == Rendered(text="<!here>")


def test_entities_are_unescaped_once() -> None:
    # `&amp;lt;` is an escaped "&lt;", not a "<"
    rendered = render_message(text_message("a &amp; b &amp;lt;!here&amp;gt; &quot;"))
    assert rendered == Rendered(text="a & b &lt;!here&gt; &quot;")


def test_disguised_link_reports_its_real_url() -> None:
    # Given a link whose label pretends to be another URL
    rendered = render_message(text_message("Log in: <https://evil.example|https://good.example>"))
    # Then the reader sees the good URL but the link goes to the evil one
    assert rendered.text == "Log in: https://good.example"
    assert rendered.links == (("https://good.example", "https://evil.example"),)
    assert rendered.mentions == ()


def test_links_with_and_without_labels() -> None:
    rendered = render_message(
        text_message("<https://a.example/x?y=1&amp;z=2> <http://b.example|B> <mailto:ops@example.com|mail us>")
    )
    assert rendered.text == "https://a.example/x?y=1&z=2 B mail us"
    assert rendered.links == (
        ("https://a.example/x?y=1&z=2", "https://a.example/x?y=1&z=2"),
        ("B", "http://b.example"),
        ("mail us", "mailto:ops@example.com"),
    )


def test_channel_references() -> None:
    rendered = render_message(text_message("see <#C0123ABCD> and <#C0456EFGH|ops>"))
    assert rendered == Rendered(text="see #C0123ABCD and #ops", channels=("C0123ABCD", "C0456EFGH"))


def test_date_token_shows_its_fallback_and_notifies_no_one() -> None:
    rendered = render_message(text_message("due <!date^1700000000^{date_short}|Nov 14, 2023>"))
    assert rendered == Rendered(text="due Nov 14, 2023")


def test_top_level_text_is_not_auto_linked() -> None:
    # Without link_names (which the emulator does not store) bare words stay plain
    rendered = render_message(text_message("@here see https://example.com"))
    assert rendered == Rendered(text="@here see https://example.com")


def test_formatting_markers_are_left_as_typed() -> None:
    assert render_message(text_message("*bold* _it_ ~st~ `code`")).text == "*bold* _it_ ~st~ `code`"


def test_unknown_spans_show_their_label_or_content_and_trigger_nothing() -> None:
    # A ">" or "<" that closes or opens no span is just a character
    rendered = render_message(text_message("<!foo> <!bar|label> <word> x > 1 or y < 0"))
    assert rendered == Rendered(text="!foo label word x > 1 or y < 0")


def test_repeated_mentions_notify_once() -> None:
    rendered = render_message(text_message("<!here> <!here> <@U1> <@U1|x>"))
    assert rendered.mentions == ("@here", "@U1")


# -- text objects: mrkdwn auto-parsing, verbatim and plain_text --------------------------------


def test_mrkdwn_object_auto_links_bare_broadcasts_and_urls() -> None:
    rendered = render_message(blocks_message(section("@here @channel @everyone: see https://example.com/a.")))
    assert rendered.text == "@here @channel @everyone: see https://example.com/a."
    assert rendered.mentions == ("@here", "@channel", "@everyone")
    assert rendered.links == (("https://example.com/a", "https://example.com/a"),)


def test_verbatim_mrkdwn_object_leaves_bare_words_plain() -> None:
    rendered = render_message(blocks_message(section("@here see https://example.com", verbatim=True)))
    assert rendered == Rendered(text="@here see https://example.com")


def test_verbatim_still_honours_control_sequences() -> None:
    rendered = render_message(blocks_message(section("<!channel> <https://x.example|x>", verbatim=True)))
    assert rendered == Rendered(text="@channel x", mentions=("@channel",), links=(("x", "https://x.example"),))


def test_bare_words_inside_other_words_are_not_mentions() -> None:
    rendered = render_message(blocks_message(section("@heretic mail@here.example")))
    assert rendered == Rendered(text="@heretic mail@here.example")


def test_escaped_url_in_a_mrkdwn_object_is_auto_linked_as_itself() -> None:
    # An escaped disguised link is shown as typed; only the visible URL itself is clickable
    rendered = render_message(blocks_message(section("&lt;https://evil.example|https://good.example&gt;")))
    assert rendered.text == "<https://evil.example|https://good.example>"
    assert rendered.links == (
        ("https://evil.example|https://good.example", "https://evil.example|https://good.example"),
    )
    assert rendered.mentions == ()


@pytest.mark.parametrize(
    "raw", ["<!channel>", "<!here>", "@here", "@everyone", "<@U0123ABCD>", "&lt;!here&gt;", "<https://e.example|g>"]
)
def test_plain_text_objects_are_never_parsed(raw: str) -> None:
    rendered = render_message(blocks_message({"type": "header", "text": {"type": "plain_text", "text": raw}}))
    assert rendered == Rendered(text=raw)


# -- blocks -----------------------------------------------------------------------------------


def test_blocks_show_texts_fields_context_and_buttons_in_order() -> None:
    # Given a message using every displayed part, with a fallback text
    message = blocks_message(
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Service* ok"},
            "fields": [{"type": "mrkdwn", "text": "*Env*"}, {"type": "plain_text", "text": "prod"}],
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://o.example"},
        },
        {"type": "divider"},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "pic"},
            "accessory": {"type": "image", "image_url": "https://i.example/a.png", "alt_text": "secret alt"},
        },
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://i.example/b.png", "alt_text": "ctx alt"},
                {"type": "mrkdwn", "text": "by <@U0123ABCD>"},
            ],
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack"},
                {"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": "https://r.example"},
            ],
        },
        {"type": "image", "image_url": "https://i.example/c.png", "alt_text": "image alt"},
        text="Deploy fallback",
    )
    # When rendered
    rendered = render_message(message)
    # Then the blocks are shown in order, the fallback text and alt texts are not
    assert rendered.text.split("\n") == [
        "Deploy",
        "*Service* ok",
        "*Env*",
        "prod",
        "Open",
        "pic",
        "by @U0123ABCD",
        "Ack",
        "Runbook",
    ]
    assert rendered.mentions == ("@U0123ABCD",)
    assert rendered.links == (("Open", "https://o.example"), ("Runbook", "https://r.example"))


def test_fallback_text_of_a_blocks_message_still_notifies() -> None:
    rendered = render_message(blocks_message(section("body"), text="<!channel> fallback"))
    assert rendered == Rendered(text="body", mentions=("@channel",))


def test_rich_text_elements_render_structurally() -> None:
    message = blocks_message(
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "<!channel> "},
                        {"type": "broadcast", "range": "here"},
                        {"type": "text", "text": " "},
                        {"type": "user", "user_id": "U0123ABCD"},
                        {"type": "usergroup", "usergroup_id": "S0123"},
                        {"type": "channel", "channel_id": "C0123ABCD"},
                        {"type": "link", "url": "https://evil.example", "text": "https://good.example"},
                        {"type": "emoji", "name": "wave"},
                    ],
                },
                {
                    "type": "rich_text_list",
                    "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "item"}]}],
                },
            ],
        }
    )
    rendered = render_message(message)
    assert rendered.text == "<!channel> @here @U0123ABCD@S0123#C0123ABCDhttps://good.example:wave:\nitem"
    assert rendered.mentions == ("@here", "@U0123ABCD", "subteam^S0123")
    assert rendered.channels == ("C0123ABCD",)
    assert rendered.links == (("https://good.example", "https://evil.example"),)


@pytest.mark.parametrize(
    "message",
    [
        {},
        {"text": None},
        {"text": 42},
        {"blocks": "not a list", "text": "t"},
        {"blocks": [None, 3, "x", {"type": "unknown_kind", "text": {"type": "mrkdwn", "text": "<!channel>"}}]},
        {"blocks": [{"type": "section", "text": "raw string", "fields": "nope", "accessory": []}]},
        {"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": None}}]},
        {"blocks": [{"type": "actions", "elements": [{"type": "button", "text": None, "url": 5}]}]},
        {
            "blocks": [
                {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [None, {"type": "user"}]}]}
            ]
        },
        {"blocks": [{"type": "section", "text": {"type": "weird", "text": "<!here>"}}]},
    ],
)
def test_odd_input_never_raises(message: dict[str, Any]) -> None:
    rendered = render_message(message)
    assert rendered.mentions == ()
    assert isinstance(rendered.text, str)


def test_not_a_dict_renders_empty() -> None:
    assert render_message(None) == Rendered(text="")  # type: ignore[arg-type]


# -- end to end through the emulator -----------------------------------------------------------


def test_rendered_shows_what_was_posted_through_the_web_client(slack: SlackEmulator, workspace: Workspace) -> None:
    # Given messages posted by the real WebClient: escaped, raw and in blocks
    channel_id = workspace.channels["general"]["id"]
    client = WebClient(token=workspace.token, base_url=slack.base_url, timeout=2, retry_handlers=[])
    client.chat_postMessage(
        channel=channel_id, text="&lt;!channel&gt; &amp; <https://evil.example|https://good.example>"
    )
    client.chat_postMessage(channel=channel_id, text="<!here> ping")
    client.chat_postMessage(
        channel=channel_id,
        text="fallback",
        blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "@everyone", "verbatim": True}},
            {"type": "section", "text": {"type": "plain_text", "text": "<@U0123ABCD>"}},
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": "https://go.example"}
                ],
            },
        ],
    )
    # When the channel is rendered
    rendered = slack.rendered(channel_id)
    # Then each message shows as a reader would see it, in messages() order
    assert rendered == [render_message(message) for message in slack.messages(channel_id)]
    assert rendered == [
        Rendered(
            text="<!channel> & https://good.example",
            links=(("https://good.example", "https://evil.example"),),
        ),
        Rendered(text="@here ping", mentions=("@here",)),
        Rendered(text="@everyone\n<@U0123ABCD>\nGo", links=(("Go", "https://go.example"),)),
    ]
    assert slack.rendered(workspace.channels["alerts"]["id"]) == []
