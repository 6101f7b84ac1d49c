"""Message templates (slack_integration.templates): the PRD's COMMON_TEMPLATES, typed variables,
injection-safe rendering, and the queue contract's `template` / `event` alternatives to `message`."""

from __future__ import annotations

import copy
import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from slack_integration.formatting import escape
from slack_integration.models.messages import (
    EventRef,
    ReplyRequest,
    SendRequest,
    SlackMessage,
    TemplateRef,
    validation_problems,
)
from slack_integration.templates import COMMON_TEMPLATES, PLACEHOLDER, MessageTemplate, render_template

ROCKET = "\U0001f680"  # 🚀
SIREN = "\U0001f6a8"  # 🚨
WARNING = "\u26a0\ufe0f"  # ⚠️
LOUDSPEAKER = "\U0001f4e2"  # 📢
UNICODE = "D\u00e9ploiement \u2705 \u65e5\u672c\u8a9e \U0001f469\u200d\U0001f4bb"
SECRET = "s3cr3t-VALUE-0f-the-producer"

# 2026-11-27T10:00:00Z
EPOCH = 1795773600
TOKEN = re.compile(r"<!date\^(\d+)\^[^|<>]+\|(\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC)>")

# The PRD's COMMON_TEMPLATES, with its mis-encoded emoji decoded.
PRD_TEXTS = {
    "DEPLOYMENT_SUCCESS": (
        f"{ROCKET} *Deployment Successful*\nProject: {{{{project}}}}\n"
        "Environment: {{environment}}\nVersion: {{version}}"
    ),
    "ALERT_TRIGGERED": f"{WARNING} *Alert: {{{{title}}}}*\n{{{{message}}}}\nSeverity: {{{{severity}}}}",
    "ERROR_OCCURRED": f"{SIREN} *Error in {{{{service}}}}*\n{{{{message}}}}\nCode: {{{{code}}}}",
    "SYSTEM_UPDATE": f"{LOUDSPEAKER} *System Update*\n{{{{message}}}}",
}

DEPLOYMENT_VARIABLES = {"project": "buster-api", "environment": "production", "version": "v1.2.3"}


def template(
    text: str | None = None, blocks: list[dict[str, Any]] | None = None, *variables: dict[str, Any]
) -> MessageTemplate:
    content: dict[str, Any] = {}
    if text is not None:
        content["text"] = text
    if blocks is not None:
        content["blocks"] = blocks
    return MessageTemplate.model_validate(
        {"id": "CUSTOM", "name": "Custom", "template": content, "variables": list(variables)}
    )


def var(name: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, **extra}


def typed(value_type: str) -> MessageTemplate:
    """A template whose text is just `{{v}}`, with `v` of the given type."""
    return template("{{v}}", None, var("v", value_type))


def plain_context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "plain_text", "text": text}]}


def mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# --- COMMON_TEMPLATES ------------------------------------------------------------------------------


def test_common_templates_are_exactly_the_prds_four():
    assert set(COMMON_TEMPLATES) == set(PRD_TEXTS)


@pytest.mark.parametrize("name", sorted(PRD_TEXTS))
def test_common_templates_have_the_prds_text_and_emoji(name):
    common = COMMON_TEMPLATES[name]

    assert common.id == name
    assert common.template.text == PRD_TEXTS[name]
    assert common.template.blocks is None


@pytest.mark.parametrize("name", sorted(PRD_TEXTS))
def test_every_variable_a_common_template_uses_is_declared_required(name):
    common = COMMON_TEMPLATES[name]

    used = set(PLACEHOLDER.findall(PRD_TEXTS[name]))
    assert {variable.name for variable in common.variables} == used
    assert all(variable.required for variable in common.variables)


def test_render_template_fills_a_common_template():
    rendered = render_template("DEPLOYMENT_SUCCESS", DEPLOYMENT_VARIABLES)

    assert rendered == {
        "text": f"{ROCKET} *Deployment Successful*\nProject: buster-api\nEnvironment: production\nVersion: v1.2.3"
    }
    SlackMessage.model_validate(rendered)


@pytest.mark.parametrize(
    ("name", "variables", "text"),
    [
        (
            "ALERT_TRIGGERED",
            {"title": "CPU", "message": "above 90%", "severity": "high"},
            f"{WARNING} *Alert: CPU*\nabove 90%\nSeverity: high",
        ),
        (
            "ERROR_OCCURRED",
            {"service": "billing", "message": "db timeout", "code": 504},
            f"{SIREN} *Error in billing*\ndb timeout\nCode: 504",
        ),
        ("SYSTEM_UPDATE", {"message": "v2 is out"}, f"{LOUDSPEAKER} *System Update*\nv2 is out"),
    ],
)
def test_render_template_fills_each_common_template(name, variables, text):
    assert render_template(name, variables) == {"text": text}


def test_render_escapes_values_and_keeps_the_templates_own_markup():
    rendered = render_template(
        "ALERT_TRIGGERED", {"title": "<!channel>", "message": "a & b <@U0123ABCD>", "severity": "<!here>"}
    )

    assert rendered["text"] == (
        f"{WARNING} *Alert: &lt;!channel&gt;*\na &amp; b &lt;@U0123ABCD&gt;\nSeverity: &lt;!here&gt;"
    )


@pytest.mark.parametrize(
    "payload",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0123ABCD>",
        "<!subteam^S0123|@team>",
        "<https://evil.example|https://good.example>",
    ],
)
def test_injected_mentions_in_template_values_are_inert(payload):
    rendered = render_template("SYSTEM_UPDATE", {"message": f"see {payload}"})

    assert "<" not in rendered["text"]
    assert rendered["text"].endswith(f"see {escape(payload)}")


def test_unicode_values_pass_through_unescaped():
    rendered = render_template("SYSTEM_UPDATE", {"message": UNICODE})

    assert rendered == {"text": f"{LOUDSPEAKER} *System Update*\n{UNICODE}"}


@pytest.mark.parametrize("missing", ["project", "environment", "version"])
def test_a_missing_required_variable_is_named(missing):
    variables = {k: v for k, v in DEPLOYMENT_VARIABLES.items() if k != missing}

    with pytest.raises(ValueError, match=rf"variables\.{missing}\b"):
        render_template("DEPLOYMENT_SUCCESS", variables)


def test_a_required_variable_given_as_none_is_missing():
    with pytest.raises(ValueError, match=r"variables\.version\b"):
        render_template("DEPLOYMENT_SUCCESS", {**DEPLOYMENT_VARIABLES, "version": None})


def test_an_unknown_variable_is_named():
    with pytest.raises(ValueError, match=r"variables\.projekt\b"):
        render_template("DEPLOYMENT_SUCCESS", {**DEPLOYMENT_VARIABLES, "projekt": "typo"})


def test_an_unknown_template_lists_the_known_ones():
    with pytest.raises(ValueError) as raised:
        render_template("DEPLOY_SUCCESS", DEPLOYMENT_VARIABLES)

    for name in PRD_TEXTS:
        assert name in str(raised.value)


def test_a_value_that_looks_like_a_placeholder_is_not_expanded():
    rendered = render_template("ALERT_TRIGGERED", {"title": "{{severity}}", "message": "m", "severity": "high"})

    assert rendered["text"] == f"{WARNING} *Alert: {{{{severity}}}}*\nm\nSeverity: high"


# --- typed variables -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "shown"), [("text", "text"), (42, "42"), (2.5, "2.5"), ("", "")])
def test_string_variables_accept_text_and_numbers(value, shown):
    assert typed("string").render({"v": value}) == {"text": shown}


@pytest.mark.parametrize("value", [True, False, {"a": 1}, ["a"]], ids=["true", "false", "dict", "list"])
def test_string_variables_refuse_booleans_and_structures(value):
    with pytest.raises(ValueError, match=r"variables\.v\b"):
        typed("string").render({"v": value})


@pytest.mark.parametrize(("value", "shown"), [(42, "42"), (0, "0"), (-3, "-3"), (2.5, "2.5")])
def test_number_variables_accept_numbers(value, shown):
    assert typed("number").render({"v": value}) == {"text": shown}


@pytest.mark.parametrize("value", [True, False, "42", "2.5", [1], {"n": 1}])
def test_number_variables_refuse_booleans_and_numeric_strings(value):
    with pytest.raises(ValueError, match=r"variables\.v\b"):
        typed("number").render({"v": value})


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (False, "false")])
def test_boolean_variables_render_true_or_false(value, shown):
    assert typed("boolean").render({"v": value}) == {"text": shown}


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes"])
def test_boolean_variables_refuse_anything_but_booleans(value):
    with pytest.raises(ValueError, match=r"variables\.v\b"):
        typed("boolean").render({"v": value})


@pytest.mark.parametrize(
    ("value", "fallback"),
    [
        ("2026-11-27T10:00:00Z", "2026-11-27 10:00 UTC"),
        ("2026-11-27T12:00:00+02:00", "2026-11-27 10:00 UTC"),
        ("2026-11-27T05:00:00-05:00", "2026-11-27 10:00 UTC"),
        ("2026-11-27T10:00:00", "2026-11-27 10:00 UTC"),
        (EPOCH, "2026-11-27 10:00 UTC"),
        (float(EPOCH), "2026-11-27 10:00 UTC"),
    ],
    ids=["zulu", "plus_two", "minus_five", "naive_is_utc", "epoch_int", "epoch_float"],
)
def test_date_variables_become_a_slack_date_token_in_mrkdwn(value, fallback):
    rendered = typed("date").render({"v": value})

    match = TOKEN.fullmatch(rendered["text"])
    assert match, rendered
    assert match.groups() == (str(EPOCH), fallback)


@pytest.mark.parametrize(
    "value",
    ["2026-11-27T10:00:00Z", "2026-11-27T12:00:00+02:00", "2026-11-27T05:00:00-05:00", "2026-11-27T10:00:00", EPOCH],
    ids=["zulu", "plus_two", "minus_five", "naive_is_utc", "epoch"],
)
def test_date_variables_show_the_utc_fallback_in_plain_text(value):
    rendered = template(None, [plain_context("at {{when}}")], var("when", "date")).render({"when": value})

    assert rendered["blocks"] == [plain_context("at 2026-11-27 10:00 UTC")]
    SlackMessage.model_validate(rendered)


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch):
    """The process runs in a zone far from UTC (a developer's laptop, not Lambda)."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("far_from_utc")
def test_a_naive_date_is_utc_whatever_the_local_zone():
    rendered = typed("date").render({"v": "2026-11-27T10:00:00"})

    assert TOKEN.fullmatch(rendered["text"]).groups() == (str(EPOCH), "2026-11-27 10:00 UTC")


@pytest.mark.parametrize(
    "value",
    ["yesterday", "2026-13-01T00:00:00Z", "", True, {"at": EPOCH}, [EPOCH], 10**20],
    ids=["words", "bad_month", "empty", "bool", "dict", "list", "out_of_range"],
)
def test_date_variables_refuse_what_is_not_a_date(value):
    with pytest.raises(ValueError, match=r"variables\.v\b"):
        typed("date").render({"v": value})


def test_defaults_are_used_when_a_variable_is_absent():
    custom = template(
        "{{env}} / {{count}} / {{flag}} / {{when}}",
        None,
        var("env", default_value="staging"),
        var("count", "number", default_value=3),
        var("flag", "boolean", default_value=False),
        var("when", "date", default_value="2026-11-27T10:00:00Z"),
    )

    rendered = custom.render({})

    env, count, flag, when = rendered["text"].split(" / ")
    assert (env, count, flag) == ("staging", "3", "false")
    assert TOKEN.fullmatch(when).groups() == (str(EPOCH), "2026-11-27 10:00 UTC")
    assert custom.render({"env": "prod", "count": 7, "flag": True})["text"].startswith("prod / 7 / true / ")


def test_a_default_satisfies_a_required_variable():
    custom = template("env: {{env}}", None, var("env", required=True, default_value="production"))

    assert custom.render({}) == {"text": "env: production"}
    assert custom.render({"env": None}) == {"text": "env: production"}


def test_an_optional_variable_without_default_renders_empty():
    custom = template("[{{note}}]", None, var("note"))

    assert custom.render({}) == {"text": "[]"}


def test_a_default_value_is_escaped_like_any_value():
    custom = template("{{who}}", None, var("who", default_value="<!here>"))

    assert custom.render({}) == {"text": "&lt;!here&gt;"}


def test_variables_accept_the_prds_camel_case_schema():
    custom = MessageTemplate.model_validate(
        {
            "id": "X",
            "name": "x",
            "template": {"text": "{{a}}"},
            "variables": [{"name": "a", "type": "number", "required": True, "defaultValue": 5}],
        }
    )

    assert custom.render({}) == {"text": "5"}


# --- template definitions that are refused ---------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    [
        var("n", "number", default_value="ten"),
        var("n", "number", default_value=True),
        var("n", "boolean", default_value="yes"),
        var("n", "date", default_value="not a date"),
        var("n", "string", default_value={"a": 1}),
    ],
    ids=["number_from_text", "number_from_bool", "boolean_from_text", "bad_date", "string_from_dict"],
)
def test_a_default_of_the_wrong_type_is_refused_at_definition(variable):
    with pytest.raises(ValidationError, match=r"variables\.n\b"):
        template("{{n}}", None, variable)


def test_a_placeholder_without_a_variable_is_refused_in_text():
    with pytest.raises(ValidationError, match="ghost"):
        template("{{known}} {{ghost}}", None, var("known"))


def test_a_placeholder_without_a_variable_is_refused_in_blocks():
    with pytest.raises(ValidationError, match="ghost"):
        template(None, [plain_context("{{ghost}}")])


def test_duplicate_variable_names_are_refused():
    with pytest.raises(ValidationError, match="unique"):
        template("{{a}}", None, var("a"), var("a", "number"))


@pytest.mark.parametrize("name", ["", "has space", "dash-ed", "x" * 65])
def test_variable_names_must_be_placeholder_words(name):
    with pytest.raises(ValidationError):
        template("hi", None, var(name))


# --- blocks templates ------------------------------------------------------------------------------


def test_blocks_fill_mrkdwn_escaped_and_verbatim():
    custom = template(
        None,
        [
            {"type": "header", "text": {"type": "plain_text", "text": "Deploy {{project}}"}},
            mrkdwn_section("*{{project}}* deployed by {{who}}"),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "on {{when}}"}]},
        ],
        var("project"),
        var("who"),
        var("when", "date"),
    )

    rendered = custom.render({"project": "R&D <api>", "who": "<!channel>", "when": EPOCH})

    header, section, context = rendered["blocks"]
    assert header["text"] == {"type": "plain_text", "text": "Deploy R&D <api>"}
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "*R&amp;D &lt;api&gt;* deployed by &lt;!channel&gt;",
        "verbatim": True,
    }
    (when,) = context["elements"]
    assert when["verbatim"] is True
    assert TOKEN.fullmatch(when["text"].removeprefix("on ")).group(1) == str(EPOCH)
    SlackMessage.model_validate(rendered)


def test_blocks_fill_mrkdwn_fields_escaped_and_verbatim():
    custom = template(
        None,
        [{"type": "section", "fields": [{"type": "mrkdwn", "text": "*Owner*\n{{owner}}"}]}],
        var("owner"),
    )

    rendered = custom.render({"owner": "<@U0123ABCD>"})

    assert rendered["blocks"][0]["fields"] == [
        {"type": "mrkdwn", "text": "*Owner*\n&lt;@U0123ABCD&gt;", "verbatim": True}
    ]


def test_blocks_keep_an_explicit_verbatim_mrkdwn_escaped():
    custom = template(
        None, [{"type": "section", "text": {"type": "mrkdwn", "text": "{{m}}", "verbatim": False}}], var("m")
    )

    rendered = custom.render({"m": "<!here>"})

    assert rendered["blocks"][0]["text"] == {"type": "mrkdwn", "text": "&lt;!here&gt;", "verbatim": True}


def test_blocks_fill_plain_text_and_urls_with_raw_values():
    custom = template(
        None,
        [
            plain_context("by {{who}} & co"),
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open {{label}}"},
                        "url": "{{link}}",
                    }
                ],
            },
            {"type": "image", "image_url": "{{image}}", "alt_text": "chart of {{label}}"},
        ],
        var("who"),
        var("label"),
        var("link"),
        var("image"),
    )

    rendered = custom.render(
        {
            "who": "<!channel>",
            "label": "R&D <beta>",
            "link": "https://ci.example/run?a=1&b=2",
            "image": "https://img.example/c.png",
        }
    )

    context, actions, image = rendered["blocks"]
    assert context == plain_context("by <!channel> & co")
    (button,) = actions["elements"]
    assert button["text"] == {"type": "plain_text", "text": "Open R&D <beta>"}
    assert button["url"] == "https://ci.example/run?a=1&b=2"
    assert image["image_url"] == "https://img.example/c.png"
    assert image["alt_text"] == "chart of R&D <beta>"
    SlackMessage.model_validate(rendered)


@pytest.mark.parametrize("key", ["url", "image_url"])
@pytest.mark.parametrize("value", ["javascript:alert(1)", "ftp://x.example/f", "/relative", "", "<!here>"])
def test_a_url_must_stay_http_after_filling(key, value):
    if key == "url":
        block = {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": "{{target}}"}],
        }
    else:
        block = {"type": "image", "image_url": "{{target}}", "alt_text": "x"}
    custom = template(None, [block], var("target"))

    with pytest.raises(ValueError, match=key):
        custom.render({"target": value})


def test_a_url_with_a_placeholder_in_its_path_stays_http():
    block = {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Go"}, "url": "https://ci.example/{{run}}"}
        ],
    }

    rendered = template(None, [block], var("run")).render({"run": "42"})

    assert rendered["blocks"][0]["elements"][0]["url"] == "https://ci.example/42"


@pytest.mark.parametrize(
    "blocks",
    [
        [plain_context("{{v}}")],
        [mrkdwn_section("*bold* {{v}}"), plain_context("{{v}}")],
    ],
    ids=["plain_text", "mrkdwn"],
)
def test_render_does_not_mutate_the_template(blocks):
    custom = template("text {{v}}", blocks, var("v"))
    before = copy.deepcopy(custom.model_dump())

    first = custom.render({"v": "first <a>"})
    second = custom.render({"v": "second"})

    assert custom.model_dump() == before
    assert "first" in str(first)
    assert "first" not in str(second)
    assert "second" in str(second)
    assert second["text"] == "text second"


# --- queue contract: template and event instead of message -----------------------------------------


def _problems(model: type, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return validation_problems(raised.value)


def _send(**content: Any) -> dict[str, Any]:
    return {"userId": "user-1", **content}


def _reply(**content: Any) -> dict[str, Any]:
    return {"internalMessageId": "deploy-42", **content}


DEPLOY_TEMPLATE = {"name": "DEPLOYMENT_SUCCESS", "variables": DEPLOYMENT_VARIABLES}
DEPLOY_EVENT = {"type": "deployment", "data": {"project": "buster-api", "version": 42}}


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
def test_a_template_body_validates_and_renders(model, body):
    request = model.model_validate(body(template=DEPLOY_TEMPLATE))

    content = request.content()

    assert isinstance(content, SlackMessage)
    assert content.text == render_template("DEPLOYMENT_SUCCESS", DEPLOYMENT_VARIABLES)["text"]
    assert request.message is None


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
def test_an_event_body_validates_and_renders(model, body):
    request = model.model_validate(body(event=DEPLOY_EVENT))

    content = request.content()

    assert isinstance(content, SlackMessage)
    assert content.blocks is not None
    assert (
        content.blocks[0]["text"]["text"] == f"*{ROCKET} Deployment Complete*\nDeployment of buster-api was successful"
    )
    assert "*Version*\n42" in [field["text"] for field in content.blocks[1]["fields"]]
    assert content.post_arguments()["text"] == content.text


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
def test_an_event_time_field_shows_the_time_given_to_content(model, body):
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    request = model.model_validate(body(event={"type": "alert", "data": {"message": "CPU high"}}))

    content = request.content(at)

    time = content.blocks[1]["fields"][-1]["text"]
    assert time.startswith("*Time*\n")
    assert TOKEN.fullmatch(time.removeprefix("*Time*\n")).groups() == (str(EPOCH), "2026-11-27 10:00 UTC")


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
def test_a_message_body_still_renders_as_itself(model, body):
    request = model.model_validate(body(message={"text": "hi"}))

    assert request.content() == SlackMessage(text="hi")


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
@pytest.mark.parametrize(
    "content",
    [
        {},
        {"message": {"text": "hi"}, "template": DEPLOY_TEMPLATE},
        {"message": {"text": "hi"}, "event": DEPLOY_EVENT},
        {"template": DEPLOY_TEMPLATE, "event": DEPLOY_EVENT},
        {"message": {"text": "hi"}, "template": DEPLOY_TEMPLATE, "event": DEPLOY_EVENT},
    ],
    ids=["none", "message_and_template", "message_and_event", "template_and_event", "all_three"],
)
def test_exactly_one_of_message_template_or_event(model, body, content):
    problems = _problems(model, body(**content))

    assert "exactly one of message, template or event" in problems


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
def test_a_missing_template_variable_is_named_without_echoing_values(model, body):
    variables = {"project": SECRET, "environment": SECRET + "-env"}

    problems = _problems(model, body(template={"name": "DEPLOYMENT_SUCCESS", "variables": variables}))

    assert "template" in problems
    assert "variables.version" in problems
    assert SECRET not in problems


@pytest.mark.parametrize(("model", "body"), [(SendRequest, _send), (ReplyRequest, _reply)], ids=["send", "reply"])
@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"message": {"secret": SECRET}}, "variables.message"),
        ({"message": SECRET, "extra": SECRET}, "variables.extra"),
        ({"message": SECRET * 2000}, "template"),
    ],
    ids=["wrong_type", "unknown_variable", "too_long"],
)
def test_bad_template_variables_are_reported_without_echoing_values(model, body, variables, named):
    problems = _problems(model, body(template={"name": "SYSTEM_UPDATE", "variables": variables}))

    assert named in problems
    assert SECRET not in problems


def test_an_unknown_template_name_is_refused_listing_the_known_ones():
    problems = _problems(SendRequest, _send(template={"name": "NOPE", "variables": {}}))

    assert "template" in problems
    for name in PRD_TEXTS:
        assert name in problems


def test_template_refs_refuse_unknown_fields():
    with pytest.raises(ValidationError, match="vars"):
        TemplateRef.model_validate({"name": "SYSTEM_UPDATE", "vars": {"message": "hi"}})


@pytest.mark.parametrize("event_type", ["deployment", "alert", "error", "update", "custom_event.v2", "a-b", "x" * 50])
def test_event_types_matching_the_pattern_are_accepted(event_type):
    assert EventRef.model_validate({"type": event_type}).type == event_type


@pytest.mark.parametrize(
    "event_type",
    ["", "Deployment", "has space", "x" * 51, "<!here>", "deploy\n", "d\u00e9ploiement"],
    ids=["empty", "upper_case", "space", "too_long", "markup", "newline", "non_ascii"],
)
def test_event_types_outside_the_pattern_are_refused(event_type):
    assert "event.type" in _problems(SendRequest, _send(event={"type": event_type}))


def test_an_unknown_event_type_renders_the_default_notification():
    content = SendRequest.model_validate(_send(event={"type": "billing.invoice"})).content()

    assert content.text == f"\u2139\ufe0f *{LOUDSPEAKER} Notification*\nYou have a new notification"


def test_event_data_must_be_scalars():
    problems = _problems(SendRequest, _send(event={"type": "alert", "data": {"message": {"nested": SECRET}}}))

    assert "event.data.message" in problems
    assert SECRET not in problems


def test_an_event_with_a_bad_url_is_refused_naming_the_button():
    problems = _problems(
        SendRequest, _send(event={"type": "deployment", "data": {"project": "p", "url": "javascript:alert(1)"}})
    )

    assert "actions[0].url" in problems
    assert "javascript" not in problems


def test_event_data_is_escaped_in_the_queued_content():
    content = SendRequest.model_validate(
        _send(event={"type": "error", "data": {"service": "<!channel>", "message": "<@U0123ABCD>"}})
    ).content()

    texts = [content.blocks[0]["text"]["text"], *(field["text"] for field in content.blocks[1]["fields"])]
    assert "&lt;!channel&gt;" in texts[1]
    assert "&lt;@U0123ABCD&gt;" in texts[0]
    assert all("<!channel>" not in text and "<@U0123ABCD>" not in text for text in texts)
