"""The queue contract: send and reply bodies, Block Kit limits, the derived fallback text, and
validation errors that name fields without echoing values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from slack_integration.models.messages import (
    DEFAULT_FALLBACK_TEXT,
    FALLBACK_TEXT_LIMIT,
    MAX_BLOCKS,
    MAX_TEXT,
    ReplyRequest,
    SendRequest,
    SlackMessage,
    validation_problems,
)
from tests.support.events import sample

SECRET = "xoxb-test-not-a-real-token-" + "fake" * 24


def _body(event: str) -> dict[str, Any]:
    return json.loads(sample(event)["Records"][0]["body"])


def _send(message: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"userId": "user-1", "message": message, **fields}


def _problems(model: type, body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return validation_problems(raised.value)


def section(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def fields(*texts: str) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in texts]}


DIVIDER = {"type": "divider"}


# --- accepted bodies -------------------------------------------------------------------------------


def test_the_sample_send_body_is_accepted():
    request = SendRequest.model_validate(_body("send.json"))

    assert request.user_id == "user-demo-1"
    assert request.internal_message_id == "deployment-42"
    assert request.message_type == "deployment"
    assert request.idempotency_key is None
    assert request.message.text == "Deployment #42 started"
    assert [block["type"] for block in request.message.blocks or []] == ["header", "section"]


def test_the_sample_reply_body_is_accepted():
    request = ReplyRequest.model_validate(_body("reply.json"))

    assert request.internal_message_id == "deployment-42"
    assert request.user_id is None
    assert request.broadcast is False
    assert request.message.text == "Deployment #42 finished: all checks passed"


def test_every_optional_field_is_accepted_in_camel_case():
    send = SendRequest.model_validate(
        _send({"text": "hi"}, internalMessageId="m-1", messageType="alert: db/prod", idempotencyKey="k-1")
    )
    reply = ReplyRequest.model_validate(
        {
            "internalMessageId": "m-1",
            "message": {"text": "done"},
            "userId": "u",
            "broadcast": True,
            "idempotencyKey": "k",
        }
    )

    assert (send.internal_message_id, send.message_type, send.idempotency_key) == ("m-1", "alert: db/prod", "k-1")
    assert (reply.user_id, reply.broadcast, reply.idempotency_key) == ("u", True, "k")


def test_limits_themselves_are_accepted():
    SendRequest.model_validate(_send({"text": "x" * MAX_TEXT}))
    SendRequest.model_validate(_send({"blocks": [DIVIDER] * MAX_BLOCKS}))
    SendRequest.model_validate(_send({"blocks": [section("x" * 3000), header("h" * 150)]}))
    SendRequest.model_validate(_send({"blocks": [fields(*["f"] * 9, "y" * 2000)]}))
    SendRequest.model_validate(_send({"text": "hi"}, messageType="m" * 50))


# --- refused bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (_send({"text": "hi"}, internalMessageID="m-1"), "internalMessageID"),
        (_send({"text": "hi"}, messageId="m-1"), "messageId"),
        (_send({"text": "hi", "attachments": []}), "message.attachments"),
        ({"user_id": "user-1", "message": {"text": "hi"}}, "user_id"),
    ],
)
def test_unknown_fields_are_refused_not_ignored(body, where):
    problems = _problems(SendRequest, body)

    assert where in problems
    assert "Extra inputs are not permitted" in problems


def test_a_reply_with_a_typo_in_its_internal_id_is_refused():
    problems = _problems(ReplyRequest, {"internalMessageID": "m-1", "message": {"text": "hi"}})

    assert "internalMessageID" in problems
    assert "internalMessageId" in problems  # the real field is reported missing


@pytest.mark.parametrize(
    "message",
    [{}, {"text": ""}, {"text": "   \n\t"}, {"blocks": []}, {"text": " ", "blocks": []}],
    ids=["nothing", "empty_text", "blank_text", "no_blocks", "blank_text_no_blocks"],
)
def test_empty_messages_are_refused(message):
    assert "message" in _problems(SendRequest, _send(message))
    assert "message" in _problems(ReplyRequest, {"internalMessageId": "m-1", "message": message})


@pytest.mark.parametrize(
    ("message", "where", "rule"),
    [
        ({"text": "x" * (MAX_TEXT + 1)}, "message.text", "40000"),
        ({"blocks": [DIVIDER] * (MAX_BLOCKS + 1)}, "message.blocks", "50"),
        ({"blocks": [DIVIDER, section("x" * 3001)]}, "blocks[1]", "3000"),
        ({"blocks": [header("h" * 151)]}, "blocks[0]", "150"),
        ({"blocks": [fields(*["f"] * 11)]}, "blocks[0]", "10"),
        ({"blocks": [fields("ok", "y" * 2001)]}, "blocks[0]: fields[1]", "2000"),
        ({"blocks": [{"type": "not_a_block"}]}, "blocks[0]", "unknown block type"),
        ({"blocks": [{"text": "no type"}]}, "blocks[0]", "type"),
        ({"blocks": [{"type": 7}]}, "blocks[0]", "type"),
        ({"blocks": ["divider"]}, "message.blocks.0", "dictionary"),
        ({"blocks": [{"type": "section"}]}, "blocks[0]", "text or fields"),
    ],
    ids=[
        "text_too_long",
        "too_many_blocks",
        "section_text_too_long",
        "header_too_long",
        "eleven_fields",
        "field_text_too_long",
        "unknown_block_type",
        "block_without_type",
        "block_type_not_a_string",
        "block_not_an_object",
        "section_without_text",
    ],
)
def test_block_kit_and_size_limits_are_enforced(message, where, rule):
    problems = _problems(SendRequest, _send(message))

    assert where in problems
    assert rule in problems


@pytest.mark.parametrize(
    "block",
    [
        {"type": "section", "text": "a bare string, not a text object"},
        {"type": "section", "fields": ["a bare string field"]},
        {"type": "section", "fields": ["y" * 2001]},
        {"type": "section", "text": {"type": "rich", "text": "x"}},
        {"type": "header", "text": {"type": "mrkdwn", "text": "*bold header*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": "a bare string"},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": {"type": "not_an_element"}},
    ],
    ids=[
        "section_text_string",
        "field_string",
        "long_field_string",
        "unknown_text_object_type",
        "mrkdwn_header",
        "accessory_string",
        "unknown_accessory_type",
    ],
)
def test_blocks_slack_would_refuse_are_refused_here(block):
    # Slack answers invalid_blocks for each of these (slack_sdk skips or coerces them with a warning):
    # the producer must refuse them, not the consumer's dead-letter queue.
    problems = _problems(SendRequest, _send({"blocks": [block]}))

    assert "blocks[0]" in problems


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("messageType", "m" * 51),
        ("messageType", "deploy\nment"),
        ("messageType", "deployment\n"),
        ("messageType", ""),
        ("internalMessageId", "deploy\x00-42"),
        ("internalMessageId", "i" * 257),
        ("idempotencyKey", "key\r\n"),
        ("idempotencyKey", "k" * 129),
    ],
)
def test_bad_ids_and_message_types_are_refused(field, value):
    assert field in _problems(SendRequest, _send({"text": "hi"}, **{field: value}))


@pytest.mark.parametrize("user_id", ["user\n1", "user\x1b[31m", "\x7f", "", "u" * 129])
def test_user_ids_must_be_printable_and_bounded(user_id):
    assert "userId" in _problems(SendRequest, {"userId": user_id, "message": {"text": "hi"}})
    reply = {"internalMessageId": "m-1", "userId": user_id, "message": {"text": "hi"}}
    assert "userId" in _problems(ReplyRequest, reply)


def test_a_reply_needs_its_internal_message_id():
    assert "internalMessageId" in _problems(ReplyRequest, {"message": {"text": "hi"}})
    assert "internalMessageId" in _problems(ReplyRequest, {"internalMessageId": "bad\tid", "message": {"text": "x"}})


def test_broadcast_must_be_a_boolean():
    assert "broadcast" in _problems(
        ReplyRequest, {"internalMessageId": "m", "message": {"text": "x"}, "broadcast": "maybe"}
    )


# --- fallback text and chat.postMessage arguments --------------------------------------------------


def test_the_producers_text_wins_over_the_blocks():
    message = SlackMessage(text="Deploy finished", blocks=[header("Deploy"), section("*all green*")])

    assert message.fallback_text() == "Deploy finished"


def test_blank_text_falls_back_to_the_blocks():
    message = SlackMessage(text="  ", blocks=[section("from the blocks")])

    assert message.fallback_text() == "from the blocks"


def test_fallback_is_derived_from_the_readable_blocks_in_reading_order():
    message = SlackMessage(
        blocks=[
            header("Deploy #42"),
            DIVIDER,
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*api* to production"},
                "fields": [{"type": "mrkdwn", "text": "Owner: ana"}, {"type": "plain_text", "text": "Took 3m"}],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "triggered by CI"}]},
            {"type": "markdown", "text": "**Release notes** follow"},
            {"type": "image", "image_url": "https://example.com/chart.png", "alt_text": "latency chart"},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}}]},
        ]
    )

    assert message.fallback_text() == "\n".join(
        [
            "Deploy #42",
            "*api* to production",
            "Owner: ana",
            "Took 3m",
            "triggered by CI",
            "**Release notes** follow",
            "latency chart",
        ]
    )


def test_blank_block_texts_are_skipped_and_the_rest_trimmed():
    message = SlackMessage(blocks=[section("  padded  "), fields("one", " ", "two")])

    assert message.fallback_text() == "padded\none\ntwo"


def test_a_long_derived_fallback_is_cut_with_an_ellipsis():
    message = SlackMessage(blocks=[section("a" * 3000), section("b" * 3000)])

    fallback = message.fallback_text()

    assert len(fallback) == FALLBACK_TEXT_LIMIT
    assert fallback.endswith("…")
    assert fallback.startswith("a" * 2999)


def test_a_fallback_at_the_limit_is_kept_whole():
    message = SlackMessage(blocks=[section("a" * FALLBACK_TEXT_LIMIT)])

    assert message.fallback_text() == "a" * FALLBACK_TEXT_LIMIT


def test_the_producers_own_text_is_never_cut():
    message = SlackMessage(text="t" * MAX_TEXT)

    assert message.fallback_text() == "t" * MAX_TEXT


@pytest.mark.parametrize(
    "blocks",
    [
        [DIVIDER],
        [DIVIDER, {"type": "image", "image_url": "https://example.com/x.png", "alt_text": " "}],
        [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]}],
    ],
    ids=["divider", "blank_alt_text", "actions_only"],
)
def test_nothing_readable_gives_the_default_fallback(blocks):
    assert SlackMessage(blocks=blocks).fallback_text() == DEFAULT_FALLBACK_TEXT


def test_post_arguments_always_carry_text_and_blocks_only_when_given():
    blocks = [header("Deploy"), section("done")]

    assert SlackMessage(text="plain").post_arguments() == {"text": "plain"}
    assert SlackMessage(blocks=blocks).post_arguments() == {"text": "Deploy\ndone", "blocks": blocks}
    assert SlackMessage(text="t", blocks=blocks).post_arguments() == {"text": "t", "blocks": blocks}
    assert SlackMessage(blocks=[DIVIDER]).post_arguments() == {"text": DEFAULT_FALLBACK_TEXT, "blocks": [DIVIDER]}


def test_post_arguments_pass_the_blocks_through_unchanged():
    # slack_sdk only validates; what reaches Slack is the producer's own JSON.
    block = {"type": "section", "block_id": "b-1", "text": {"type": "mrkdwn", "text": "x", "verbatim": True}}

    assert SlackMessage(blocks=[block]).post_arguments()["blocks"] == [block]


# --- validation errors: where and why, never the value ---------------------------------------------


def test_problems_name_every_wrong_field():
    problems = _problems(
        SendRequest, {"userId": "bad\nid", "message": {"text": "hi"}, "messageType": "x" * 60, "extra": 1}
    )

    for where in ("userId", "messageType", "extra"):
        assert where in problems


def test_problems_are_capped_and_say_how_many_more():
    body = {"userId": "bad\nid", "message": {"text": "hi"}, **{f"extra{n}": n for n in range(8)}}

    problems = _problems(SendRequest, body)

    assert problems.count(";") == 5
    assert problems.endswith("and 4 more")


@pytest.mark.parametrize(
    "body",
    [
        _send({"text": SECRET * 400}),
        {"userId": SECRET + "\n", "message": {"text": "hi"}},
        _send({"text": "hi"}, internalMessageID=SECRET),
        _send({"text": "hi"}, messageType=SECRET),
        _send({"text": "hi"}, idempotencyKey="\x00" + SECRET),
        _send({"blocks": [section(SECRET * 100)]}),
        _send({"blocks": [header(SECRET * 5)]}),
        _send({"blocks": [fields(SECRET * 50)]}),
        _send({"blocks": [SECRET]}),
        _send({"blocks": [{"type": SECRET}]}),
        _send(
            {
                "blocks": [
                    {
                        "type": "image",
                        "image_url": "https://example.com/x.png",
                        "alt_text": "x",
                        "title": {"type": SECRET},
                    }
                ]
            }
        ),
    ],
    ids=[
        "long_text",
        "user_id",
        "unknown_field_value",
        "message_type",
        "idempotency_key",
        "section_text",
        "header_text",
        "field_text",
        "block_as_string",
        "block_type",
        "image_title_type",
    ],
)
def test_problems_never_echo_the_offending_value(body):
    problems = _problems(SendRequest, body)

    assert problems
    assert "xoxb" not in problems
    assert "s3cr3t" not in problems
