"""Block Kit checks of chat.postMessage / chat.update, answered the way Slack answers them.

Slack refuses a bad block with `invalid_blocks` plus, per problem, one sentence ending in a JSON
pointer, listed twice: in `errors` as is and in `response_metadata.messages` prefixed "[ERROR] ".

What is verified and what is assumed (see also ../shared/slack-api.md, "Block Kit and message limits"):
- Sentences seen in recorded Slack answers (public code and bug reports that quote them):
  "unsupported type: X [json-pointer:/blocks/0/type]",
  "must define either `text` or `fields` [json-pointer:/blocks/0/type]",
  "failed to match all allowed schemas [json-pointer:/blocks/0/text]" followed by
  "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
  "must be more than 0 characters [json-pointer:...]", "invalid additional property: X [json-pointer:/blocks/0]".
- Limits from Slack's Block Kit reference: 50 blocks a message, section text 1-3000 characters,
  at most 10 fields of at most 2000, header plain_text up to 150, block_id up to 255, actions up
  to 25 elements, context up to 10, markdown blocks up to 12,000 characters in all (enforced here
  through BLOCKS_TEXT_LIMIT below, i.e. as msg_blocks_too_long: which error Slack gives is unconfirmed).
- ASSUMED (not seen recorded): the sentences for too many blocks / fields / elements
  ("must be less than 51 items [json-pointer:/blocks]"), for a missing text
  ("missing required field: text [json-pointer:...]"), and that every problem of a message is
  listed rather than only the first one.
- ASSUMED: `msg_blocks_too_long`. Slack does not document the size limit. It is not the 13,200
  characters of blocks JSON people cite (slackapi/bolt-js#2867 records 15,561 characters of JSON
  accepted); a Slack engineer described it as "12,000 text characters with a buffer for block
  containers" (slackapi/bolt-js#2509, #2867). The emulator counts the characters of every string
  under a `text` key in the blocks (text objects, rich_text and markdown text) and refuses more
  than BLOCKS_TEXT_LIMIT, checked once the blocks are otherwise valid.
- Lengths count code points (Python `len`); whether Slack counts UTF-16 units is unconfirmed.
- Only the block types below whose schema is well known (section, header, divider, context,
  actions, image, markdown) are checked for unknown properties; the others only for `type` and
  `block_id`, so a valid rich_text or table is never refused for a property the emulator does not know.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_BLOCKS = 50
MAX_BLOCK_ID = 255
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_ALT_TEXT = 2000
BLOCKS_TEXT_LIMIT = 12_000

# Block types Slack accepts in messages; any other `type` is "unsupported type".
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
# Properties of the block types checked strictly (every block also has `type` and `block_id`).
_PROPERTIES: dict[str, frozenset[str]] = {
    "section": frozenset({"text", "fields", "accessory", "expand"}),
    "header": frozenset({"text"}),
    "divider": frozenset(),
    "context": frozenset({"elements"}),
    "actions": frozenset({"elements"}),
    "image": frozenset({"image_url", "slack_file", "alt_text", "title"}),
    "markdown": frozenset({"text"}),
}
_TEXT_OBJECT_PROPERTIES = {
    "plain_text": frozenset({"type", "text", "emoji"}),
    "mrkdwn": frozenset({"type", "text", "verbatim"}),
}


class BlockProblems(Exception):
    """The blocks are invalid; `sentences` are Slack's, each ending in its JSON pointer."""

    def __init__(self, sentences: list[str]) -> None:
        super().__init__("; ".join(sentences))
        self.sentences = sentences


def check_blocks(blocks: list[dict[str, Any]]) -> None:
    """Raise BlockProblems listing every problem found; each block is a dict with a str `type`."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(_too_many(MAX_BLOCKS, "/blocks"))
    for index, block in enumerate(blocks):
        problems.extend(_block_problems(block, f"/blocks/{index}"))
    if problems:
        raise BlockProblems(problems)


def blocks_text_length(blocks: list[dict[str, Any]]) -> int:
    """Characters of every string under a `text` key, at any depth (what msg_blocks_too_long counts here)."""
    return sum(len(text) for text in _texts(blocks))


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "text" and isinstance(inner, str):
                yield inner
            else:
                yield from _texts(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _texts(inner)


def _block_problems(block: dict[str, Any], at: str) -> list[str]:
    kind = block["type"]
    if kind not in BLOCK_TYPES:
        return [f"unsupported type: {kind} [json-pointer:{at}/type]"]
    problems: list[str] = []
    block_id = block.get("block_id")
    if block_id is not None:
        if not isinstance(block_id, str):
            problems.append(f"expected a string [json-pointer:{at}/block_id]")
        elif len(block_id) > MAX_BLOCK_ID:
            problems.append(_too_long(MAX_BLOCK_ID, f"{at}/block_id"))
        elif not block_id:
            problems.append(f"must be more than 0 characters [json-pointer:{at}/block_id]")
    allowed = _PROPERTIES.get(kind)
    if allowed is not None:
        problems.extend(
            f"invalid additional property: {key} [json-pointer:{at}]"
            for key in block
            if key not in allowed and key not in ("type", "block_id")
        )
    checker = _CHECKERS.get(kind)
    if checker is not None:
        problems.extend(checker(block, at))
    return problems


def _section(block: dict[str, Any], at: str) -> list[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        return [f"must define either `text` or `fields` [json-pointer:{at}/type]"]
    problems: list[str] = []
    if text is not None:
        problems.extend(_text_object(text, f"{at}/text", ("plain_text", "mrkdwn"), MAX_SECTION_TEXT))
    if fields is not None:
        if not isinstance(fields, list) or not fields:
            problems.append(f"must provide an array of at least 1 item [json-pointer:{at}/fields]")
        else:
            if len(fields) > MAX_FIELDS:
                problems.append(_too_many(MAX_FIELDS, f"{at}/fields"))
            for number, item in enumerate(fields):
                problems.extend(_text_object(item, f"{at}/fields/{number}", ("plain_text", "mrkdwn"), MAX_FIELD_TEXT))
    return problems


def _header(block: dict[str, Any], at: str) -> list[str]:
    if "text" not in block:
        return [f"missing required field: text [json-pointer:{at}]"]
    return _text_object(block["text"], f"{at}/text", ("plain_text",), MAX_HEADER_TEXT)


def _elements(maximum: int) -> Any:
    def check(block: dict[str, Any], at: str) -> list[str]:
        elements = block.get("elements")
        if elements is None:
            return [f"missing required field: elements [json-pointer:{at}]"]
        if not isinstance(elements, list) or not elements:
            return [f"must provide an array of at least 1 item [json-pointer:{at}/elements]"]
        if len(elements) > maximum:
            return [_too_many(maximum, f"{at}/elements")]
        return [
            f"failed to match all allowed schemas [json-pointer:{at}/elements/{number}]"
            for number, element in enumerate(elements)
            if not isinstance(element, dict) or not isinstance(element.get("type"), str)
        ]

    return check


def _image(block: dict[str, Any], at: str) -> list[str]:
    problems: list[str] = []
    if "image_url" not in block and "slack_file" not in block:
        problems.append(f"must provide either `image_url` or `slack_file` [json-pointer:{at}]")
    alt_text = block.get("alt_text")
    if not isinstance(alt_text, str):
        problems.append(f"missing required field: alt_text [json-pointer:{at}]")
    elif len(alt_text) > MAX_ALT_TEXT:
        problems.append(_too_long(MAX_ALT_TEXT, f"{at}/alt_text"))
    return problems


def _markdown(block: dict[str, Any], at: str) -> list[str]:
    text = block.get("text")
    if not isinstance(text, str):
        return [f"missing required field: text [json-pointer:{at}]"]
    if not text:
        return [f"must be more than 0 characters [json-pointer:{at}/text]"]
    return []


def _text_object(value: Any, at: str, types: tuple[str, ...], maximum: int) -> list[str]:
    """A text object of one of `types` whose text is 1..maximum characters."""
    if not isinstance(value, dict) or value.get("type") not in types:
        return [f"failed to match all allowed schemas [json-pointer:{at}]"]
    text = value.get("text")
    if not isinstance(text, str):
        return [f"missing required field: text [json-pointer:{at}]"]
    unknown = [key for key in value if key not in _TEXT_OBJECT_PROPERTIES[value["type"]]]
    if unknown:
        return [f"invalid additional property: {key} [json-pointer:{at}]" for key in unknown]
    if not text:
        return [
            f"failed to match all allowed schemas [json-pointer:{at}]",
            f"must be more than 0 characters [json-pointer:{at}/text]",
        ]
    if len(text) > maximum:
        return [f"failed to match all allowed schemas [json-pointer:{at}]", _too_long(maximum, f"{at}/text")]
    return []


def _too_long(maximum: int, at: str) -> str:
    return f"must be less than {maximum + 1} characters [json-pointer:{at}]"


def _too_many(maximum: int, at: str) -> str:
    return f"must be less than {maximum + 1} items [json-pointer:{at}]"


_CHECKERS = {
    "section": _section,
    "header": _header,
    "context": _elements(MAX_CONTEXT_ELEMENTS),
    "actions": _elements(MAX_ACTIONS_ELEMENTS),
    "image": _image,
    "markdown": _markdown,
}
