"""The PRD's SlackMessageFormatter (slack_integration.formatting): mrkdwn escaping, cutting to Block
Kit limits without breaking an entity, simple / rich / event notifications, and injection safety:
a producer's `<!channel>` or disguised link must reach Slack as inert text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from slack_integration.formatting import (
    Action,
    Field,
    escape,
    event_notification,
    fit,
    rich_notification,
    simple_notification,
)
from slack_integration.models.messages import SlackMessage

ELLIPSIS = "\u2026"  # …
ROCKET = "\U0001f680"  # 🚀
SIREN = "\U0001f6a8"  # 🚨
WARNING = "\u26a0\ufe0f"  # ⚠️
INFORMATION = "\u2139\ufe0f"  # information source
LOUDSPEAKER = "\U0001f4e2"  # 📢
# Accented Latin, a check mark emoji, CJK and a ZWJ sequence (woman + ZWJ + laptop).
UNICODE = "D\u00e9ploiement \u2705 \u65e5\u672c\u8a9e \U0001f469\u200d\U0001f4bb"

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABCD>",
    "<!subteam^S0123|@team>",
    "<https://evil.example|https://good.example>",
]
INJECTION_IDS = ["channel", "here", "everyone", "user", "subteam", "disguised_link"]

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
# The only live "<...>" the formatter writes itself: Slack's date token.
DATE_TOKEN = re.compile(r"<!date\^\d+\^[^|<>]+\|\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC>")


def text_objects(node: Any) -> list[dict[str, Any]]:
    """Every text object (mrkdwn or plain_text) anywhere in a message, in order."""
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found.extend(text_objects(item))
    elif isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append(node)
        for value in node.values():
            found.extend(text_objects(value))
    return found


def mrkdwn_objects(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [obj for obj in text_objects(message.get("blocks", [])) if obj["type"] == "mrkdwn"]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
        if element["type"] == "button"
    ]


def section_text(message: dict[str, Any]) -> str:
    return message["blocks"][0]["text"]["text"]


def field_texts(message: dict[str, Any]) -> list[str]:
    return [field["text"] for block in message["blocks"] for field in block.get("fields", [])]


def without_date_tokens(text: str) -> str:
    return DATE_TOKEN.sub("", text)


def is_escaped_prefix(kept: str, raw: str) -> bool:
    """`kept` is the escaped form of some prefix of `raw`: nothing was cut inside an entity."""
    return any(escape(raw[:n]) == kept for n in range(len(raw) + 1))


# --- escape ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a & b", "a &amp; b"),
        ("<!here>", "&lt;!here&gt;"),
        ("1 < 2 > 0", "1 &lt; 2 &gt; 0"),
        ("&lt;", "&amp;lt;"),
        ("&amp;", "&amp;amp;"),
        ("<&>", "&lt;&amp;&gt;"),
        ("plain *bold* _it_ `code`", "plain *bold* _it_ `code`"),
        ("", ""),
    ],
    ids=["ampersand", "angle_brackets", "comparison", "entity_lt", "entity_amp", "all_three", "untouched", "empty"],
)
def test_escape_turns_the_three_control_characters_into_entities(raw, escaped):
    assert escape(raw) == escaped


def test_escape_shows_non_strings_as_text():
    assert escape(42) == "42"
    assert escape(1.5) == "1.5"


def test_escape_leaves_unicode_alone():
    assert escape(UNICODE) == UNICODE


# --- fit -------------------------------------------------------------------------------------------


def test_fit_keeps_a_value_below_the_limit_whole_and_escaped():
    assert fit("a < b", 100) == "a &lt; b"
    assert fit("short", 100) == "short"


def test_fit_keeps_a_value_exactly_at_the_limit():
    assert fit("a" * 10, 10) == "a" * 10
    # The limit applies to the escaped text: "&" is 5 characters once escaped.
    assert fit("&", 5) == "&amp;"
    assert fit("ab&", 7) == "ab&amp;"


def test_fit_cuts_past_the_limit_with_an_ellipsis():
    assert fit("abcdefgh", 5) == "abcd" + ELLIPSIS
    assert fit("a" * 11, 10) == "a" * 9 + ELLIPSIS


def test_fit_adds_no_ellipsis_when_nothing_was_cut():
    assert not fit("a" * 10, 10).endswith(ELLIPSIS)
    assert not fit("a & b", 9).endswith(ELLIPSIS)


def test_fit_counts_the_escaped_length_against_the_limit():
    # "ab&" fits raw (3) but not escaped (7) in 6 characters.
    result = fit("ab&", 6)

    assert result == "ab" + ELLIPSIS


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        ("&" * 10, 20),
        ("a" + "&" * 3, 12),
        ("ab&" * 10, 20),
        ("x" * 7 + "&" * 20, 24),
        ("<" * 100, 52),
        ("R&D <team> " * 300, 3000),
        ("&" * 1000, 3000),
        ("a<b>c&d" * 50, 101),
    ],
)
def test_fit_never_splits_an_entity_and_keeps_all_that_fits(raw, limit):
    result = fit(raw, limit)

    assert len(result) <= limit
    assert result.endswith(ELLIPSIS)
    assert is_escaped_prefix(result[: -len(ELLIPSIS)], raw)
    # Keeping as much as fits: one more raw character (at most 5 escaped) would overflow.
    assert len(result) > limit - len("&amp;")


def test_fit_near_the_limit_with_many_ampersands_keeps_the_longest_prefix():
    # 599 escaped "&" (2995 characters) and the ellipsis fit in 3000; 600 would not.
    assert fit("&" * 1000, 3000) == "&amp;" * 599 + ELLIPSIS


@pytest.mark.parametrize("limit", range(1, 40))
def test_fit_stays_within_every_limit(limit):
    raw = "a&b<c>d " * 10

    result = fit(raw, limit)

    assert len(result) <= limit
    assert is_escaped_prefix(result.removesuffix(ELLIPSIS), raw)


def test_fit_without_escaping_cuts_the_raw_text():
    assert fit("<b>&", 10, escaped=False) == "<b>&"
    assert fit("<" * 10, 5, escaped=False) == "<" * 4 + ELLIPSIS
    assert fit("a&" * 40, 75, escaped=False) == ("a&" * 40)[:74] + ELLIPSIS


def test_fit_counts_characters_not_bytes():
    assert fit("\u65e5" * 10, 10) == "\u65e5" * 10
    assert fit("\u00e9" * 11, 10) == "\u00e9" * 9 + ELLIPSIS


# --- simple_notification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "emoji"),
    [("error", SIREN), ("warning", WARNING), ("info", INFORMATION)],
)
def test_simple_notification_is_the_prds_text_with_the_levels_emoji(level, emoji):
    message = simple_notification("Disk full", "Volume /data is at 99%", level)

    assert message == {"text": f"{emoji} *Disk full*\nVolume /data is at 99%"}


def test_simple_notification_defaults_to_info():
    assert simple_notification("Hello", "world") == {"text": f"{INFORMATION} *Hello*\nworld"}


def test_simple_notification_escapes_title_and_message():
    message = simple_notification("<!here> & all", "ping <@U0123ABCD>")

    assert message == {"text": f"{INFORMATION} *&lt;!here&gt; &amp; all*\nping &lt;@U0123ABCD&gt;"}


def test_simple_notification_has_only_top_level_text():
    message = simple_notification("t", "m", "warning")

    assert set(message) == {"text"}
    SlackMessage.model_validate(message)


def test_simple_notification_with_a_huge_message_stays_within_the_top_level_limit():
    message = simple_notification("Stack trace", "frame\n" * 5000, "error")

    assert len(message["text"]) <= 4000
    assert message["text"].startswith(f"{SIREN} *Stack trace*\nframe\n")
    assert message["text"].endswith(ELLIPSIS)
    SlackMessage.model_validate(message)


# --- rich_notification -----------------------------------------------------------------------------


def test_rich_notification_title_and_message_section():
    message = rich_notification("Deploy done", "All checks passed")

    assert message["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy done*\nAll checks passed", "verbatim": True}}
    ]
    SlackMessage.model_validate(message)


def test_rich_notification_fields_are_bold_titles_over_values():
    message = rich_notification("t", "m", [Field("Environment", "staging"), Field("Version", "v1.2.3")])

    assert message["blocks"][1] == {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": "*Environment*\nstaging", "verbatim": True},
            {"type": "mrkdwn", "text": "*Version*\nv1.2.3", "verbatim": True},
        ],
    }
    SlackMessage.model_validate(message)


@pytest.mark.parametrize(
    ("count", "per_section"),
    [(1, [1]), (10, [10]), (11, [10, 1]), (20, [10, 10]), (25, [10, 10, 5])],
)
def test_rich_notification_puts_ten_fields_per_section(count, per_section):
    fields = [Field(f"F{n}", f"v{n}") for n in range(count)]

    message = rich_notification("t", "m", fields)

    sections = message["blocks"][1:]
    assert [len(block["fields"]) for block in sections] == per_section
    assert field_texts(message) == [f"*F{n}*\nv{n}" for n in range(count)]
    SlackMessage.model_validate(message)


def test_rich_notification_without_fields_or_actions_has_one_block():
    assert len(rich_notification("t", "m", [], [])["blocks"]) == 1
    assert len(rich_notification("t", "m", None, None)["blocks"]) == 1


def test_rich_notification_actions_are_link_buttons():
    message = rich_notification(
        "t",
        "m",
        actions=[
            Action("Open run", "https://ci.example/run/1?a=1&b=2", "primary"),
            Action("Roll back", "http://ci.example/rollback", "danger"),
            Action("Docs", "https://docs.example"),
        ],
    )

    actions = message["blocks"][-1]
    assert actions["type"] == "actions"
    assert [(b["type"], b["text"], b["url"], b.get("style")) for b in actions["elements"]] == [
        (
            "button",
            {"type": "plain_text", "text": "Open run", "emoji": True},
            "https://ci.example/run/1?a=1&b=2",
            "primary",
        ),
        ("button", {"type": "plain_text", "text": "Roll back", "emoji": True}, "http://ci.example/rollback", "danger"),
        ("button", {"type": "plain_text", "text": "Docs", "emoji": True}, "https://docs.example", None),
    ]
    assert "style" not in actions["elements"][2]
    SlackMessage.model_validate(message)


def test_rich_notification_button_labels_are_not_escaped():
    # plain_text is never parsed by Slack: escaping would show "&amp;" to the reader.
    message = rich_notification("t", "m", actions=[Action("R&D <beta>", "https://x.example")])

    assert buttons(message)[0]["text"] == {"type": "plain_text", "text": "R&D <beta>", "emoji": True}


def test_rich_notification_fields_then_actions_in_order():
    message = rich_notification("t", "m", [Field("a", "b")] * 11, [Action("Go", "https://x.example")])

    assert [block["type"] for block in message["blocks"]] == ["section", "section", "section", "actions"]


def test_rich_notification_accepts_25_buttons():
    actions = [Action(f"B{n}", f"https://x.example/{n}") for n in range(25)]

    message = rich_notification("t", "m", actions=actions)

    assert [b["url"] for b in buttons(message)] == [f"https://x.example/{n}" for n in range(25)]
    SlackMessage.model_validate(message)


def test_rich_notification_refuses_26_buttons():
    actions = [Action(f"B{n}", f"https://x.example/{n}") for n in range(26)]

    with pytest.raises(ValueError, match="actions"):
        rich_notification("t", "m", actions=actions)


def test_rich_notification_keeps_a_75_character_label():
    message = rich_notification("t", "m", actions=[Action("L" * 75, "https://x.example")])

    assert buttons(message)[0]["text"]["text"] == "L" * 75
    SlackMessage.model_validate(message)


def test_rich_notification_cuts_a_long_label_to_75_with_an_ellipsis():
    message = rich_notification("t", "m", actions=[Action("L" * 200, "https://x.example")])

    label = buttons(message)[0]["text"]["text"]
    assert label == "L" * 74 + ELLIPSIS
    assert len(label) == 75
    SlackMessage.model_validate(message)


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://files.example/x", "/relative/path", "", "slack://open", "www.example.com"],
)
def test_rich_notification_refuses_a_non_http_url_naming_the_button(url):
    actions = [Action("ok", "https://x.example"), Action("bad", url)]

    with pytest.raises(ValueError, match=r"actions\[1\]\.url"):
        rich_notification("t", "m", actions=actions)


def test_rich_notification_accepts_a_3000_character_url():
    url = "https://x.example/" + "a" * (3000 - len("https://x.example/"))

    message = rich_notification("t", "m", actions=[Action("Go", url)])

    assert buttons(message)[0]["url"] == url
    SlackMessage.model_validate(message)


def test_rich_notification_refuses_a_url_over_3000_characters():
    url = "https://x.example/" + "a" * (3001 - len("https://x.example/"))

    with pytest.raises(ValueError, match=r"actions\[0\]\.url"):
        rich_notification("t", "m", actions=[Action("Go", url)])


def test_rich_notification_caps_the_section_text_at_3000():
    message = rich_notification("Stack trace", "x" * 100_000)

    text = section_text(message)
    assert len(text) == 3000
    assert text.startswith("*Stack trace*\nxxx")
    assert text.endswith(ELLIPSIS)
    SlackMessage.model_validate(message)


def test_rich_notification_caps_the_section_text_even_with_a_huge_title():
    message = rich_notification("T" * 100_000, "M" * 100_000)

    assert len(section_text(message)) <= 3000
    SlackMessage.model_validate(message)


def test_rich_notification_fills_the_section_even_when_the_message_is_all_entities():
    # A message full of "<" or "&" (a stack trace, a query) must not be cut down to nothing.
    message = rich_notification("Query", "a < b && c > d " * 1000)

    text = section_text(message)
    assert len(text) <= 3000
    assert len(text) > 3000 - len("&amp;")
    assert text.startswith("*Query*\na &lt; b &amp;&amp; c &gt; d ")
    SlackMessage.model_validate(message)


def test_rich_notification_caps_field_text_at_2000():
    message = rich_notification("t", "m", [Field("Log", "y" * 10_000), Field("T" * 5000, "v" * 5000)])

    first, second = field_texts(message)
    assert len(first) == 2000
    assert first.startswith("*Log*\nyyy")
    assert first.endswith(ELLIPSIS)
    assert len(second) <= 2000
    SlackMessage.model_validate(message)


def test_rich_notification_has_an_escaped_top_level_fallback():
    message = rich_notification("Deploy <!here>", "done & dusted")

    text = message["text"]
    assert "Deploy &lt;!here&gt;" in text
    assert "done &amp; dusted" in text
    assert "<" not in text
    assert SlackMessage.model_validate(message).fallback_text() == text


def test_rich_notification_fallback_stays_within_4000():
    message = rich_notification("T" * 10_000, "M" * 100_000)

    assert 0 < len(message["text"]) <= 4000
    SlackMessage.model_validate(message)


def test_rich_notification_at_every_edge_at_once_is_a_valid_slack_message():
    fields = [Field("F" * 5000, "&" * 5000)] * 25
    actions = [Action("L" * 500, "https://x.example/" + "a" * 2982)] * 25

    message = rich_notification("<" * 5000, "&" * 100_000, fields, actions)

    parsed = SlackMessage.model_validate(message)
    assert [block["type"] for block in parsed.blocks or []] == ["section"] * 4 + ["actions"]
    assert len(section_text(message)) <= 3000
    assert all(len(text) <= 2000 for text in field_texts(message))
    assert all(len(b["text"]["text"]) <= 75 for b in buttons(message))
    assert len(message["text"]) <= 4000


# --- event_notification ----------------------------------------------------------------------------


def test_deployment_event_with_all_data():
    message = event_notification(
        "deployment",
        {
            "project": "buster-api",
            "environment": "staging",
            "version": "v1.2.3",
            "duration": "3m 12s",
            "url": "https://ci.example/run/42",
        },
        now=NOW,
    )

    assert section_text(message) == f"*{ROCKET} Deployment Complete*\nDeployment of buster-api was successful"
    assert field_texts(message) == ["*Environment*\nstaging", "*Version*\nv1.2.3", "*Duration*\n3m 12s"]
    assert [(b["text"]["text"], b["url"], b.get("style")) for b in buttons(message)] == [
        ("View Details", "https://ci.example/run/42", "primary")
    ]
    assert message["text"] == f"{ROCKET} Deployment Complete: Deployment of buster-api was successful"
    SlackMessage.model_validate(message)


def test_deployment_event_defaults_and_no_button_without_url():
    message = event_notification("deployment", {"project": "buster-api"}, now=NOW)

    assert field_texts(message) == ["*Environment*\nproduction", "*Version*\nlatest", "*Duration*\nN/A"]
    assert buttons(message) == []
    assert [block["type"] for block in message["blocks"]] == ["section", "section"]
    SlackMessage.model_validate(message)


def test_deployment_event_shows_numbers():
    message = event_notification("deployment", {"project": "api", "version": 42, "duration": 0}, now=NOW)

    assert field_texts(message)[1:] == ["*Version*\n42", "*Duration*\n0"]


def test_deployment_event_refuses_a_non_http_url():
    with pytest.raises(ValueError, match=r"actions\[0\]\.url"):
        event_notification("deployment", {"project": "api", "url": "javascript:alert(1)"}, now=NOW)


def test_alert_event_with_data_and_a_time_token_for_now():
    message = event_notification(
        "alert", {"message": "CPU above 90%", "severity": "high", "source": "monitor"}, now=NOW
    )

    assert section_text(message) == f"*{WARNING} Alert Triggered*\nCPU above 90%"
    severity, source, time = field_texts(message)
    assert (severity, source) == ("*Severity*\nhigh", "*Source*\nmonitor")
    epoch = int(NOW.timestamp())
    assert re.fullmatch(rf"\*Time\*\n<!date\^{epoch}\^[^|<>]+\|2026-03-04 05:06 UTC>", time)
    SlackMessage.model_validate(message)


def test_alert_event_defaults():
    message = event_notification("alert", {}, now=NOW)

    assert section_text(message) == f"*{WARNING} Alert Triggered*\nAn alert has been triggered"
    assert field_texts(message)[:2] == ["*Severity*\nmedium", "*Source*\nsystem"]
    assert field_texts(message)[2].startswith("*Time*\n<!date^")


def test_the_time_fallback_is_in_utc_whatever_the_zone_of_now():
    now = datetime(2026, 1, 2, 12, 30, tzinfo=timezone(timedelta(hours=2)))

    time = field_texts(event_notification("error", {}, now=now))[-1]

    assert time.startswith(f"*Time*\n<!date^{int(now.timestamp())}^")
    assert time.endswith("|2026-01-02 10:30 UTC>")


def test_error_event_with_data():
    message = event_notification(
        "error", {"message": "Timeout talking to db", "service": "billing", "code": 504}, now=NOW
    )

    assert section_text(message) == f"*{SIREN} Error Detected*\nTimeout talking to db"
    service, code, time = field_texts(message)
    assert (service, code) == ("*Service*\nbilling", "*Error Code*\n504")
    assert time.startswith(f"*Time*\n<!date^{int(NOW.timestamp())}^")
    assert time.endswith("|2026-03-04 05:06 UTC>")
    SlackMessage.model_validate(message)


def test_error_event_defaults():
    message = event_notification("error", {}, now=NOW)

    assert section_text(message) == f"*{SIREN} Error Detected*\nAn error has occurred"
    assert field_texts(message)[:2] == ["*Service*\nunknown", "*Error Code*\nN/A"]


def test_update_event_is_a_simple_notification():
    assert event_notification("update", {"message": "v2 is out"}, now=NOW) == {
        "text": f"{INFORMATION} *{LOUDSPEAKER} Update Available*\nv2 is out"
    }
    assert event_notification("update", {}, now=NOW) == {
        "text": f"{INFORMATION} *{LOUDSPEAKER} Update Available*\nA new update is available"
    }


@pytest.mark.parametrize("event_type", ["something-else", "Deployment", "", "billing.invoice"])
def test_unknown_event_types_get_the_default_notification(event_type):
    assert event_notification(event_type, {}, now=NOW) == {
        "text": f"{INFORMATION} *{LOUDSPEAKER} Notification*\nYou have a new notification"
    }
    assert event_notification(event_type, {"message": "hi"}, now=NOW) == {
        "text": f"{INFORMATION} *{LOUDSPEAKER} Notification*\nhi"
    }


@pytest.mark.parametrize("event_type", ["deployment", "alert", "error", "update", "other"])
def test_every_event_is_a_valid_slack_message(event_type):
    SlackMessage.model_validate(event_notification(event_type, {}, now=NOW))
    SlackMessage.model_validate(event_notification(event_type, {"message": "m" * 50_000}, now=NOW))


# --- injection -------------------------------------------------------------------------------------


def _assert_inert_mrkdwn(message: dict[str, Any], payload: str) -> None:
    """No mrkdwn the payload reached can ping, mention or disguise a link."""
    mrkdwn = mrkdwn_objects(message)
    for obj in mrkdwn:
        assert obj.get("verbatim") is True, obj
        assert "<" not in without_date_tokens(obj["text"]), obj
        assert payload not in obj["text"]
    top = message.get("text", "")
    assert "<" not in without_date_tokens(top)
    assert payload not in top
    shown = "\n".join([top, *(obj["text"] for obj in mrkdwn)])
    assert escape(payload) in shown  # shown as text, not dropped


@pytest.mark.parametrize("payload", INJECTIONS, ids=INJECTION_IDS)
def test_injection_in_a_simple_notification_is_inert(payload):
    message = simple_notification(f"title {payload}", f"message {payload}", "warning")

    assert "<" not in message["text"]
    assert message["text"] == f"{WARNING} *title {escape(payload)}*\nmessage {escape(payload)}"


@pytest.mark.parametrize("payload", INJECTIONS, ids=INJECTION_IDS)
def test_injection_in_a_rich_notification_is_inert(payload):
    message = rich_notification(
        f"title {payload}",
        f"message {payload}",
        [Field(f"field {payload}", f"value {payload}")],
        [Action(f"label {payload}", "https://good.example/path")],
    )

    _assert_inert_mrkdwn(message, payload)
    assert section_text(message) == f"*title {escape(payload)}*\nmessage {escape(payload)}"
    assert field_texts(message) == [f"*field {escape(payload)}*\nvalue {escape(payload)}"]
    (button,) = buttons(message)
    assert button["text"] == {"type": "plain_text", "text": f"label {payload}", "emoji": True}
    assert button["url"] == "https://good.example/path"
    SlackMessage.model_validate(message)


@pytest.mark.parametrize("payload", INJECTIONS, ids=INJECTION_IDS)
@pytest.mark.parametrize("event_type", ["deployment", "alert", "error", "update", "other"])
def test_injection_in_event_data_is_inert(event_type, payload):
    keys = ["project", "environment", "version", "duration", "message", "severity", "source", "service", "code"]
    data = {key: f"{key} {payload}" for key in keys}

    message = event_notification(event_type, data, now=NOW)

    _assert_inert_mrkdwn(message, payload)
    assert all(obj["type"] == "plain_text" for b in buttons(message) for obj in [b["text"]])
    SlackMessage.model_validate(message)


def test_a_bare_here_in_a_value_stays_text_because_mrkdwn_is_verbatim():
    message = rich_notification("@here", "@everyone look", [Field("@channel", "https://evil.example")])

    assert all(obj["verbatim"] is True for obj in mrkdwn_objects(message))


# --- unicode ---------------------------------------------------------------------------------------


def test_unicode_passes_through_unescaped_and_whole():
    message = rich_notification(UNICODE, UNICODE, [Field(UNICODE, UNICODE)], [Action(UNICODE, "https://x.example")])

    assert section_text(message) == f"*{UNICODE}*\n{UNICODE}"
    assert field_texts(message) == [f"*{UNICODE}*\n{UNICODE}"]
    assert buttons(message)[0]["text"]["text"] == UNICODE
    assert message["text"] == f"{UNICODE}: {UNICODE}"
    assert simple_notification(UNICODE, UNICODE) == {"text": f"{INFORMATION} *{UNICODE}*\n{UNICODE}"}
    SlackMessage.model_validate(message)


def test_label_limit_counts_characters_not_bytes():
    at_limit = rich_notification("t", "m", actions=[Action("\u65e5" * 75, "https://x.example")])
    past_limit = rich_notification("t", "m", actions=[Action("\u65e5" * 76, "https://x.example")])

    assert buttons(at_limit)[0]["text"]["text"] == "\u65e5" * 75
    assert buttons(past_limit)[0]["text"]["text"] == "\u65e5" * 74 + ELLIPSIS
    SlackMessage.model_validate(at_limit)
    SlackMessage.model_validate(past_limit)


def test_section_limit_counts_characters_not_bytes():
    message = rich_notification("t", "\u00e9" * 2995)  # "*t*\n" + 2995 = 2999 characters, ~6 KB

    assert section_text(message) == "*t*\n" + "\u00e9" * 2995
    SlackMessage.model_validate(message)
