"""Fuzzing the send and reply consumers with arbitrary queue bodies.

Bodies go on the queues raw (as a producer that bypasses our client would put them) and are
consumed by the real functions, the way Lambda's event source mapping feeds them, against moto
and the Slack emulator. For every example:
- each invocation answers a valid partial batch response and never raises;
- each message ends delivered to the notification channel (once per delivery key) or in its DLQ
  with an `errorCode` from the taxonomy, the one its body calls for; a message is handed back only
  for a retryable code (the consumers run with a small MAX_RECEIVE_COUNT, so whatever was handed
  back ends in the DLQ with that code within a few receives);
- nothing is left on the queue, nothing is posted twice, the integration is untouched;
- a body the producer's own validation accepts (`SendRequest` / `ReplyRequest.model_validate`) is
  delivered, with exactly the content the producer's model renders.

Each example is self-contained: the delivery ledger (and, for sends, the mappings) is emptied
first, its DLQ entries are taken off the DLQ, and only the Slack messages it posted are looked at.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, assume, event, example, given, note, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from slack_integration import errors, slack_errors
from slack_integration.models.messages import ReplyRequest, SendRequest
from slack_integration.services.delivery import delivery_key
from slack_integration.templates import COMMON_TEMPLATES
from tests.conftest import USER_ID
from tests.support.aws import AwsStack
from tests.support.records import enqueue_raw, get_integration_item, release_handed_back
from tests.support.sqs import QueuePoller, counts

# Retryable failures are dead-lettered on this receive (the template's 15 would make each example
# poll 15 times); the policy is the same, only the budget is smaller.
MAX_RECEIVE_COUNT = 3
SQS_MAX_BYTES = 256 * 1024

FUZZ = settings(
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
)

# Every code the service can put on a DLQ entry: its own and the Slack error strings it classifies.
_SPECS = [value for value in vars(errors).values() if isinstance(value, errors.ErrorSpec)]
_SPECS += list(slack_errors.SLACK_ERRORS.values())
DOCUMENTED_CODES = {spec.code for spec in _SPECS}
RETRYABLE_CODES = {spec.code for spec in _SPECS if spec.error().retryable}
DLQ_ATTRIBUTES = {
    "errorCode",
    "errorKind",
    "errorMessage",
    "errorDetail",
    "slackError",
    "reason",
    "sourceQueue",
    "sourceMessageId",
    "receiveCount",
    "integrationId",
}

# -- strategies ----------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "\x00",
        "\x01",
        "\x1f",
        "\x7f",
        "\t",
        "\n",
        "\r",
        " ",
        "\u00a0",
        "\u200b",
        "\u202e",
        "\ufeff",
        "\ufffd",
        "\U0001f680",
        "\U0001f469\u200d\U0001f4bb",
        "\U0001f1eb\U0001f1f7",
        "e\u0301",
        "|",
        "#",
        "%2F",
        "/",
        "\\",
        '"',
        "'",
        "<!channel>",
        "<@U0123>",
        "&amp;",
        "{{project}}",
        "sqs:",
        "null",
        "user-1",
    ]
)
_CHARS = st.characters(exclude_categories=["Cs"])
# Readable but hostile text: control characters, emoji, RTL marks, mrkdwn, separators.
clean_text = st.lists(st.one_of(_CHARS, _PIECES), max_size=8).map("".join)
# Lone surrogates too, as a producer's JSON can carry them (\ud800 escapes); rarer, so that the
# other oddities still reach past validation.
nasty_text = st.one_of(
    clean_text,
    clean_text,
    clean_text,
    st.lists(st.one_of(_CHARS, _PIECES, st.characters(categories=["Cs"])), min_size=1, max_size=8).map("".join),
)
some_text = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["Deploy", "\U0001f680", "x", "<!here> ", "\x00ok", "\u202e"]),
    clean_text,
)
huge_text = st.builds(
    lambda unit, size: (unit * size)[:size],
    st.sampled_from(["x", "\u00e9", "\U0001f680", "\x00", " ", "ab|"]),
    st.sampled_from([76, 151, 256, 257, 2001, 3001, 39_999, 40_000, 40_001]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), nasty_text)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nasty_text, inner, max_size=3), max_leaves=8
)
odd_ids = st.one_of(
    nasty_text,
    huge_text,
    st.sampled_from(["", " ", "\t", "user-1 ", " user-1", "USER-1", "user-1\x00", "a|b", "sqs:x", "../x", "*"]),
    json_values,
)

_BLOCK_KEYS = st.sampled_from(["type", "text", "block_id", "fields", "elements", "accessory", "emoji", "verbatim"])
valid_ish_blocks = st.one_of(
    st.just({"type": "divider"}),
    st.builds(lambda t: {"type": "section", "text": {"type": "mrkdwn", "text": t}}, nasty_text),
    st.builds(lambda t: {"type": "header", "text": {"type": "plain_text", "text": t}}, nasty_text),
    st.builds(lambda t: {"type": "context", "elements": [{"type": "mrkdwn", "text": t}]}, nasty_text),
    st.builds(
        lambda a, b: {"type": "section", "fields": [{"type": "mrkdwn", "text": a}, {"type": "plain_text", "text": b}]},
        nasty_text,
        nasty_text,
    ),
    st.builds(
        lambda label, url: {
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}],
        },
        nasty_text,
        st.sampled_from(["https://buster.so/runs/1", "javascript:alert(1)", "", "https://x/" + "a" * 3000]),
    ),
    st.builds(
        lambda alt: {"type": "image", "image_url": "https://example.com/a.png", "alt_text": alt},
        nasty_text,
    ),
    st.builds(lambda t: {"type": "markdown", "text": t}, nasty_text),
)
random_blocks = st.one_of(
    st.dictionaries(_BLOCK_KEYS | nasty_text, json_values, max_size=4),
    st.builds(lambda block, key, value: {**block, key: value}, valid_ish_blocks, _BLOCK_KEYS, json_values),
    st.builds(lambda kind: {"type": kind}, st.sampled_from(["table", "unknown", "SECTION", "", "rich_text"])),
    json_values,
)
block_lists = st.one_of(
    st.lists(st.one_of(valid_ish_blocks, valid_ish_blocks, random_blocks), max_size=5),
    st.builds(lambda block, n: [block] * n, valid_ish_blocks, st.sampled_from([50, 51])),
)
message_contents = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(nasty_text, huge_text)}),
    st.fixed_dictionaries(
        {},
        optional={
            "text": st.one_of(nasty_text, huge_text, json_values),
            "blocks": st.one_of(block_lists, block_lists, json_values),
            "attachments": json_values,
        },
    ),
    json_values,
)


def _template_contents() -> st.SearchStrategy[Any]:
    def for_template(name: str) -> st.SearchStrategy[dict[str, Any]]:
        names = [variable.name for variable in COMMON_TEMPLATES[name].variables]
        variable_values = st.one_of(nasty_text, nasty_text, huge_text, scalars, json_values)
        complete = st.fixed_dictionaries(dict.fromkeys(names, variable_values))
        partial = st.dictionaries(st.sampled_from(names) | nasty_text, variable_values, max_size=5)
        return st.fixed_dictionaries({"name": st.just(name), "variables": st.one_of(complete, complete, partial)})

    return st.one_of(
        st.sampled_from(sorted(COMMON_TEMPLATES)).flatmap(for_template),
        st.fixed_dictionaries(
            {"name": st.one_of(nasty_text, st.sampled_from(["deployment_success", "CUSTOM"]), json_values)},
            optional={"variables": json_values, "blocks": json_values},
        ),
        json_values,
    )


_EVENT_FIELDS = ["project", "environment", "version", "duration", "url", "message", "severity", "source", "service"]
event_contents = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.one_of(
                st.sampled_from(["deployment", "alert", "error", "update", "custom.kind-1", "Alert", "", "a" * 51]),
                nasty_text,
            ),
        },
        optional={
            "data": st.one_of(
                st.dictionaries(
                    st.sampled_from([*_EVENT_FIELDS, "code"]) | nasty_text,
                    st.one_of(
                        scalars,
                        huge_text,
                        st.sampled_from(["https://buster.so/d/1", "http://x", "ftp://x", "https://" + "a" * 3000]),
                    ),
                    max_size=6,
                ),
                json_values,
            ),
            "extra": json_values,
        },
    ),
    json_values,
)
contents = {"message": message_contents, "template": _template_contents(), "event": event_contents}

# Contents the contract accepts (mostly): what a careful producer sends, hostile text included.
good_blocks = st.one_of(
    st.just({"type": "divider"}),
    st.builds(lambda t: {"type": "section", "text": {"type": "mrkdwn", "text": t}}, some_text),
    st.builds(lambda t: {"type": "header", "text": {"type": "plain_text", "text": t}}, some_text),
    st.builds(lambda t: {"type": "context", "elements": [{"type": "mrkdwn", "text": t}]}, some_text),
    st.builds(
        lambda a, b: {"type": "section", "fields": [{"type": "mrkdwn", "text": a}, {"type": "mrkdwn", "text": b}]},
        some_text,
        some_text,
    ),
    st.builds(lambda alt: {"type": "image", "image_url": "https://example.com/a.png", "alt_text": alt}, some_text),
)
good_messages = st.one_of(
    st.fixed_dictionaries({"text": some_text}),
    st.fixed_dictionaries({"blocks": st.lists(good_blocks, min_size=1, max_size=4)}),
    st.fixed_dictionaries({"text": some_text, "blocks": st.lists(good_blocks, max_size=3)}),
    st.fixed_dictionaries({"text": st.sampled_from(["x" * 40_000, "\U0001f680" * 40_000, "\x00" * 39_999])}),
)
good_templates = st.sampled_from(sorted(COMMON_TEMPLATES)).flatmap(
    lambda name: st.fixed_dictionaries(
        {
            "name": st.just(name),
            "variables": st.fixed_dictionaries(
                {
                    variable.name: st.one_of(some_text, st.integers(), st.floats(allow_nan=False))
                    for variable in COMMON_TEMPLATES[name].variables
                }
            ),
        }
    )
)
good_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["deployment", "alert", "error", "update", "custom.kind-1"])},
    optional={
        "data": st.dictionaries(
            st.sampled_from([*_EVENT_FIELDS, "code"]),
            st.one_of(some_text, st.none(), st.booleans(), st.integers(), st.just("https://buster.so/d/1")),
            max_size=6,
        )
    },
)
good_contents = {"message": good_messages, "template": good_templates, "event": good_events}

# Small pools make duplicates (the same tracked id or key twice in one example) likely.
internal_ids = st.one_of(st.sampled_from(["deploy-1", "deploy-2", "run|7"]), odd_ids)
idempotency_keys = st.one_of(st.sampled_from(["digest-1", "digest-2"]), odd_ids)
message_types = st.one_of(
    st.sampled_from(["deployment", "alert", "a" * 50, "a" * 51, "bad!type", "", "x y/z:1.2_-", "\u00e9t\u00e9"]),
    nasty_text,
)
_TYPOS = st.sampled_from(["internalMessageID", "user_id", "UserId", "idempotency_key", "messagetype", "text", "extra"])


@st.composite
def _bodies(draw: st.DrawFn, *, reply: bool) -> dict[str, Any]:
    """A body near the queue contract: half of them as a careful producer writes them (hostile
    text included), half with any field possibly missing, extra or of the wrong type."""
    wild = draw(st.booleans())
    ids = internal_ids if wild else st.one_of(st.sampled_from(["deploy-1", "deploy-2", "run|7"]), some_text)
    keys = idempotency_keys if wild else st.one_of(st.sampled_from(["digest-1", "digest-2"]), some_text)
    body: dict[str, Any] = {}
    if reply:
        body["internalMessageId"] = draw(st.one_of(st.just(KNOWN_ORIGINAL), st.just(KNOWN_ORIGINAL), ids))
        if draw(st.booleans()):
            body["userId"] = draw(st.one_of(st.just(USER_ID), st.just("user-2"), odd_ids) if wild else st.just(USER_ID))
        if draw(st.integers(0, 3)) == 0:
            body["broadcast"] = draw(st.one_of(st.booleans(), json_values) if wild else st.booleans())
    else:
        users = st.one_of(st.just(USER_ID), st.just(USER_ID), st.just("user-2"), odd_ids)
        body["userId"] = draw(users if wild else st.one_of(st.just(USER_ID), st.just(USER_ID), st.just("user-2")))
        if draw(st.booleans()):
            body["internalMessageId"] = draw(ids)
        if draw(st.integers(0, 3)) == 0:
            body["messageType"] = draw(
                message_types if wild else st.sampled_from(["deployment", "a" * 50, "x y/z:1.2_-"])
            )
    if draw(st.integers(0, 3)) == 0:
        body["idempotencyKey"] = draw(keys)
    if not wild:
        name = draw(st.sampled_from(sorted(good_contents)))
        body[name] = draw(good_contents[name])
        return body
    # Usually exactly one content field; sometimes none or several.
    how_many = draw(st.sampled_from([1, 1, 1, 1, 1, 1, 0, 2, 3]))
    for name in draw(st.permutations(sorted(contents)))[:how_many]:
        body[name] = draw(contents[name])
    if draw(st.integers(0, 7)) == 0:
        body[draw(_TYPOS | nasty_text)] = draw(json_values)
    if body and draw(st.integers(0, 7)) == 0:
        victim = draw(st.sampled_from(sorted(body)))
        if draw(st.booleans()):
            del body[victim]
        else:
            body[victim] = draw(json_values)
    return body


def _sqs_safe(text: str) -> bool:
    """SQS accepts only #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF."""
    return all(
        ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000 for ch in text
    )


def _encode(value: Any, ascii_only: bool) -> str:
    text = json.dumps(value, ensure_ascii=ascii_only)
    return text if _sqs_safe(text) else json.dumps(value)


raw_text = st.text(
    alphabet=st.one_of(st.characters(min_codepoint=0x20, exclude_characters="\ufffe\uffff"), st.sampled_from("\t\n\r")),
    min_size=1,
    max_size=40,
).filter(_sqs_safe)
not_json = st.one_of(
    raw_text,
    st.builds(
        lambda prefix, rest: prefix + rest, st.sampled_from(['{"userId": ', "{", "[", '"', "\ufeff{}"]), raw_text
    ),
    st.builds(lambda opener, depth: opener * depth, st.sampled_from(["[", '{"a":']), st.integers(100, 20_000)),
)


def queue_texts(*, reply: bool) -> st.SearchStrategy[str]:
    """What ends up as the SQS message body: mostly near-contract JSON, else any JSON or none."""
    near = st.builds(_encode, _bodies(reply=reply), st.booleans())
    anything = st.builds(_encode, json_values, st.booleans())
    return st.one_of(near, near, near, near, anything, not_json)


GROUPS = st.sampled_from([USER_ID, "group-b", "group-c"])
KNOWN_ORIGINAL = "deploy-42"

# -- per example ---------------------------------------------------------------------------------


@dataclass
class Expected:
    """What a message must become: delivered under `key`, or dead-lettered with `code`."""

    code: str | None = None
    key: str | None = None
    request: SendRequest | ReplyRequest | None = None


def expect_send(text: str, message_id: str, integration_id: str) -> Expected:
    body = _json_object(text)
    if body is None:
        return Expected(code="INVALID_MESSAGE")
    try:
        request = SendRequest.model_validate(body)
    except Exception:  # ValidationError; anything else is a bug test_producer_* reports on its own
        return Expected(code="INVALID_MESSAGE")
    if request.user_id != USER_ID:
        return Expected(code="INTEGRATION_NOT_FOUND")
    if request.internal_message_id:
        key = delivery_key("send", integration_id, "msg", request.internal_message_id)
    else:
        key = delivery_key("send", integration_id, "key", request.idempotency_key or f"sqs:{message_id}")
    return Expected(key=key, request=request)


def expect_reply(text: str, message_id: str, integration_id: str, originals: set[str]) -> Expected:
    body = _json_object(text)
    if body is None:
        return Expected(code="INVALID_MESSAGE")
    try:
        request = ReplyRequest.model_validate(body)
    except Exception:  # ValidationError; anything else is a bug test_producer_* reports on its own
        return Expected(code="INVALID_MESSAGE")
    if request.user_id is not None and request.user_id != USER_ID:
        return Expected(code="INTEGRATION_NOT_FOUND")
    if request.internal_message_id not in originals:
        return Expected(code="ORIGINAL_NOT_DELIVERED")
    key = delivery_key(
        "reply", integration_id, request.internal_message_id, request.idempotency_key or f"sqs:{message_id}"
    )
    return Expected(key=key, request=request)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def _items(aws: AwsStack, table: str) -> list[dict[str, Any]]:
    ddb, name = aws["dynamodb"], aws["tables"][table]
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"TableName": name}
    while True:
        page = ddb.scan(**arguments)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def clear_table(aws: AwsStack, table: str, keep: Callable[[dict[str, Any]], bool] = lambda _: False) -> None:
    ddb, name = aws["dynamodb"], aws["tables"][table]
    key_names = [key["AttributeName"] for key in ddb.describe_table(TableName=name)["Table"]["KeySchema"]]
    for item in _items(aws, table):
        if not keep(item):
            ddb.delete_item(TableName=name, Key={key: item[key] for key in key_names})


def take_dead_letters(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Everything on a DLQ, removed from it: raw body and attributes as plain strings."""
    found = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            attributes = {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}
            found.append({"body": message["Body"], "attributes": attributes})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def leave_nothing_behind(aws: AwsStack, poller: QueuePoller, dlq: str) -> None:
    """Empty the queue and its DLQ whatever state a (failed) example left them in. PurgeQueue is
    allowed once a minute only: make the messages this poller holds visible, then delete them."""
    sqs = aws["sqs"]
    for poll in poller.history:
        for record in poll.event["Records"]:
            # Deleted already, or superseded by a later receive: nothing to release.
            with contextlib.suppress(ClientError):
                sqs.change_message_visibility(
                    QueueUrl=poller.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
    for _ in range(100):
        messages = sqs.receive_message(QueueUrl=poller.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            sqs.delete_message(QueueUrl=poller.queue_url, ReceiptHandle=message["ReceiptHandle"])
    take_dead_letters(sqs, aws["queues"][dlq])


def drain_to_the_end(aws: AwsStack, poller: QueuePoller, *, limit: int = 40) -> None:
    """Poll until the queue is empty, letting handed-back messages come back at once; check every
    answer is a partial batch response naming only records of its batch."""
    for _ in range(limit):
        poll = poller.poll()
        if poll is None:
            if counts(aws["sqs"], poller.queue_url) == (0, 0):
                return
            break
        assert isinstance(poll.response, dict) and set(poll.response) == {"batchItemFailures"}, poll.response
        items = poll.response["batchItemFailures"]
        assert isinstance(items, list)
        assert all(isinstance(item, dict) and set(item) == {"itemIdentifier"} for item in items), items
        assert len(poll.failed) == len(set(poll.failed))
        assert set(poll.failed) <= set(poll.received)
        if poll.failed:
            release_handed_back(aws, poller)
    raise AssertionError(f"messages left on the queue (visible, in flight): {counts(aws['sqs'], poller.queue_url)}")


def _shown(text: str) -> str:
    return ascii(text) if len(text) <= 300 else f"{text[:60]!a}... ({len(text)} characters)"


def _normalized(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def sent_at(poller: QueuePoller, message_id: str) -> datetime:
    for poll in poller.history:
        for record in poll.event["Records"]:
            if record["messageId"] == message_id:
                return datetime.fromtimestamp(int(record["attributes"]["SentTimestamp"]) / 1000, UTC)
    raise AssertionError(f"{message_id} was never received")


@dataclass
class Outcome:
    enqueued: dict[str, str]  # SQS message id -> body text
    expected: dict[str, Expected]
    dead: list[dict[str, Any]]
    posts: list[dict[str, Any]]


def run_example(
    aws: AwsStack,
    slack: Any,
    poller: QueuePoller,
    *,
    channel_id: str,
    queue: str,
    dlq: str,
    messages: list[tuple[str, str]],
    expect: Callable[[str, str], Expected],
) -> Outcome:
    """Enqueue raw, consume to the end, and check what holds for every message of either queue."""
    for text, group in messages:
        assume(len(text.encode("utf-8", "surrogatepass")) <= SQS_MAX_BYTES)
        # pytest shows no generated arguments here: note each body (and its group) instead.
        note(f"{queue} <- group {group!r}: {_shown(text)}")
    poller.history.clear()
    integration_before = get_integration_item(aws)
    posts_before = len(slack.messages(channel_id))
    try:
        enqueued = {enqueue_raw(aws, text, group=group, queue=queue): text for text, group in messages}
        expected = {message_id: expect(text, message_id) for message_id, text in enqueued.items()}
        for want in expected.values():
            event(f"expected: {want.code or 'delivered'}")  # --hypothesis-show-statistics
        drain_to_the_end(aws, poller)
        dead = take_dead_letters(aws["sqs"], aws["queues"][dlq])
    finally:
        leave_nothing_behind(aws, poller, dlq)
    posts = slack.messages(channel_id)[posts_before:]
    by_source: dict[str, list[dict[str, Any]]] = {}
    for entry in dead:
        attributes = entry["attributes"]
        assert attributes.get("errorCode") in DOCUMENTED_CODES, attributes
        # moto takes any string; SQS refuses a message whose body or attribute values hold
        # characters outside its set, and the consumer would then keep it queued, retrying.
        assert _sqs_safe(entry["body"]), entry["body"]
        assert all(_sqs_safe(value) for value in attributes.values()), attributes
        assert set(attributes) <= DLQ_ATTRIBUTES, attributes
        assert attributes.get("sourceMessageId") in enqueued, attributes
        code, reason = attributes["errorCode"], attributes.get("reason")
        # Handed back only for retryable codes: a retryable code reaches the DLQ only once its
        # budget is spent, a permanent one at once.
        if code in RETRYABLE_CODES:
            assert reason in ("retries_exhausted", "grace_period_over"), attributes
        else:
            assert reason == "permanent", attributes
        by_source.setdefault(attributes["sourceMessageId"], []).append(entry)

    for message_id, want in expected.items():
        entries = by_source.get(message_id, [])
        if want.code is None:
            assert entries == [], (enqueued[message_id], entries)
            continue
        assert [e["attributes"]["errorCode"] for e in entries] == [want.code], (enqueued[message_id], entries)
        # The DLQ keeps the body: verbatim when it is not a JSON object, else the same object
        # (a per-part body may add the userId / idempotencyKey it used).
        kept = entries[0]["body"]
        original = _json_object(enqueued[message_id])
        if original is None:
            assert kept == enqueued[message_id]
        else:
            stored = json.loads(kept)
            assert _normalized({k: stored.get(k) for k in original}) == _normalized(original)

    # Nothing posted twice: one post per delivery key, and that key's content.
    ledger = {item["deliveryKey"]["S"]: item for item in _items(aws, "DeliveriesTable")}
    prefix = "send|" if queue == "SendQueue" else "reply|"
    key_of_ts = {
        item["slackTs"]["S"]: key for key, item in ledger.items() if "slackTs" in item and key.startswith(prefix)
    }
    wanted_keys = {want.key for want in expected.values() if want.key is not None}
    posted_keys = Counter(key_of_ts.get(post["ts"]) for post in posts)
    assert posted_keys == Counter(wanted_keys), (posted_keys, wanted_keys)
    for post in posts:
        key = key_of_ts[post["ts"]]
        assert TypeDeserializer().deserialize(ledger[key]["status"]) == "delivered"
        candidates = [
            want.request.content(sent_at(poller, message_id))
            for message_id, want in expected.items()
            if want.key == key and want.request is not None
        ]
        shown = (post["text"], post.get("blocks") or None)
        assert shown in [(c.fallback_text(), c.blocks or None) for c in candidates], (shown, candidates)

    integration_after = get_integration_item(aws)
    for name in ("isActive", "notificationChannelId", "healthStatus", "id"):
        assert (integration_after or {}).get(name) == (integration_before or {}).get(name), name
    return Outcome(enqueued, expected, dead, posts)


# -- the send queue ------------------------------------------------------------------------------


@pytest.fixture
def send_setup(aws, slack, notification_channel, connected, consumer):
    poller = consumer("send", MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT))
    return {"channel": notification_channel["id"], "integration": connected.id, "poller": poller}


@settings(FUZZ, max_examples=120)
# What this test found (each also has a test of its own below): kept so that it fails at once.
@example(batch=[("[" * 20_000, USER_ID)])
@example(batch=[('{"userId":"user-1","message":{"text":"hi"},"\\u0001":1}', USER_ID)])
@example(
    batch=[
        ('{"userId":"user-1","template":{"name":"SYSTEM_UPDATE","variables":{"message":"m","\\ud800":""}}}', USER_ID)
    ]
)
@given(batch=st.lists(st.tuples(queue_texts(reply=False), GROUPS), min_size=1, max_size=4))
def test_any_send_body_is_delivered_once_or_dead_lettered_with_its_code(aws, slack, send_setup, batch):
    clear_table(aws, "DeliveriesTable")
    clear_table(aws, "MessageMappingsTable")
    run_example(
        aws,
        slack,
        send_setup["poller"],
        channel_id=send_setup["channel"],
        queue="SendQueue",
        dlq="SendDeadLetterQueue",
        messages=batch,
        expect=lambda text, message_id: expect_send(text, message_id, send_setup["integration"]),
    )


@settings(FUZZ, max_examples=60)
@given(
    bodies=st.lists(
        st.builds(
            lambda content, rest: {"userId": USER_ID, **content, **rest},
            st.sampled_from(sorted(good_contents)).flatmap(
                lambda name: st.fixed_dictionaries({name: good_contents[name]})
            ),
            st.fixed_dictionaries(
                {},
                optional={
                    "internalMessageId": internal_ids,
                    "idempotencyKey": idempotency_keys,
                    "messageType": message_types,
                },
            ),
        ),
        min_size=1,
        max_size=4,
    ),
    ascii_only=st.booleans(),
)
def test_every_body_the_producer_accepts_is_delivered(aws, slack, send_setup, bodies, ascii_only):
    valid = []
    for body in bodies:
        try:
            SendRequest.model_validate(body)
        except ValidationError:
            continue
        valid.append(body)
    assume(valid)
    clear_table(aws, "DeliveriesTable")
    clear_table(aws, "MessageMappingsTable")
    outcome = run_example(
        aws,
        slack,
        send_setup["poller"],
        channel_id=send_setup["channel"],
        queue="SendQueue",
        dlq="SendDeadLetterQueue",
        messages=[(_encode(body, ascii_only), USER_ID) for body in valid],
        expect=lambda text, message_id: expect_send(text, message_id, send_setup["integration"]),
    )
    assert outcome.dead == []
    assert len(outcome.posts) == len({want.key for want in outcome.expected.values()})


# -- what the fuzzing above found, one property each ---------------------------------------------

_SEND_FIELDS = {"userId", "message", "template", "event", "internalMessageId", "messageType", "idempotencyKey"}


def _consume_one(aws, slack, send_setup, body: Any) -> Outcome:
    clear_table(aws, "DeliveriesTable")
    clear_table(aws, "MessageMappingsTable")
    text = body if isinstance(body, str) else json.dumps(body)
    return run_example(
        aws,
        slack,
        send_setup["poller"],
        channel_id=send_setup["channel"],
        queue="SendQueue",
        dlq="SendDeadLetterQueue",
        messages=[(text, USER_ID)],
        expect=lambda text, message_id: expect_send(text, message_id, send_setup["integration"]),
    )


@settings(FUZZ, max_examples=10)
@example(depth=20_000, opener="[")
@given(depth=st.integers(1, 50_000), opener=st.sampled_from(["[", '{"a":', '{"userId":']))
def test_a_body_nested_too_deep_is_dead_lettered_as_invalid_message(aws, slack, send_setup, depth, opener):
    """Not JSON we can read is INVALID_MESSAGE (README "Failure policy"), not INTERNAL_ERROR: the
    consumer's json.loads raises RecursionError, which is not a ValueError."""
    _consume_one(aws, slack, send_setup, opener * depth)


@settings(FUZZ, max_examples=30)
@example(name="\x01")
@example(name="\ud800")
@given(name=nasty_text.filter(lambda name: name not in ("message",)))
def test_an_unknown_template_variable_is_dead_lettered_as_invalid_message(aws, slack, send_setup, name):
    """The template refuses the unknown variable by name: the consumer must dead-letter it as
    INVALID_MESSAGE with an errorDetail SQS accepts (a lone surrogate in the name makes pydantic
    raise UnicodeEncodeError instead of a ValidationError; a control character goes verbatim into
    the errorDetail attribute)."""
    body = {"userId": USER_ID, "template": {"name": "SYSTEM_UPDATE", "variables": {"message": "m", name: "x"}}}
    _consume_one(aws, slack, send_setup, body)


@settings(FUZZ, max_examples=30)
@example(field="\x01")
@given(field=nasty_text.filter(lambda field: field not in _SEND_FIELDS))
def test_an_unknown_field_is_dead_lettered_with_a_detail_sqs_accepts(aws, slack, send_setup, field):
    """errorDetail names the unknown field; a name with a control character (which a JSON body can
    carry as \\u0001) makes the DLQ SendMessage one real SQS refuses, and the message then stays
    queued, retried, until SQS's own redrive moves it without its errorCode."""
    _consume_one(aws, slack, send_setup, {"userId": USER_ID, "message": {"text": "hi"}, field: 1})


@settings(FUZZ, max_examples=60)
@example(body={"userId": USER_ID, "template": {"name": "SYSTEM_UPDATE", "variables": {"message": "m", "\ud800": ""}}})
@given(body=_bodies(reply=False))
def test_the_producer_refuses_any_bad_body_with_invalid_message(producer, body):
    """send_bulk validates every body first and reports each refused one; one bad entry never
    stops the others (README "Queues")."""
    note(f"body: {_shown(json.dumps(body))}")
    good = {"userId": USER_ID, "message": {"text": "fine"}}
    result = producer.send_bulk([body, good])
    assert [index for index, _ in result.accepted if index == 1] == [1]
    if not any(index == 0 for index, _ in result.accepted):
        [rejected] = result.rejected
        assert (rejected.index, rejected.code) == (0, "INVALID_MESSAGE"), rejected


# -- the reply queue -----------------------------------------------------------------------------


@pytest.fixture
def reply_setup(aws, slack, notification_channel, connected, producer, consumer):
    """KNOWN_ORIGINAL was sent to USER_ID and delivered (tracked), so replies can thread under it."""
    producer.send(USER_ID, {"text": "Deploy #42 started"}, internal_message_id=KNOWN_ORIGINAL)
    consumer("send").drain()
    [original] = slack.messages(notification_channel["id"])
    return {
        "channel": notification_channel["id"],
        "integration": connected.id,
        "original_ts": original["ts"],
        "poller": consumer("reply", MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT)),
    }


def _is_reply_record(item: dict[str, Any]) -> bool:
    return item.get("kind", {}).get("S") == "reply"


@settings(FUZZ, max_examples=100)
@example(batch=[('{"\\f":null}', KNOWN_ORIGINAL)])  # found by this test: errorDetail "\x0c: Extra inputs ..."
@given(batch=st.lists(st.tuples(queue_texts(reply=True), GROUPS | st.just(KNOWN_ORIGINAL)), min_size=1, max_size=4))
def test_any_reply_body_is_threaded_once_or_dead_lettered_with_its_code(aws, slack, reply_setup, batch):
    clear_table(aws, "DeliveriesTable", keep=lambda item: not _is_reply_record(item))
    outcome = run_example(
        aws,
        slack,
        reply_setup["poller"],
        channel_id=reply_setup["channel"],
        queue="ReplyQueue",
        dlq="ReplyDeadLetterQueue",
        messages=batch,
        expect=lambda text, message_id: expect_reply(
            text, message_id, reply_setup["integration"], originals={KNOWN_ORIGINAL}
        ),
    )
    ledger = {item["deliveryKey"]["S"]: item for item in _items(aws, "DeliveriesTable")}
    for post in outcome.posts:
        # Every reply is in the original's thread, never top-level.
        assert post.get("thread_ts") == reply_setup["original_ts"], post
        [key] = [k for k, item in ledger.items() if item.get("slackTs", {}).get("S") == post["ts"]]
        # Broadcast as the reply that was posted asked (replies sharing a key are one delivery).
        asked = {
            want.request.broadcast
            for want in outcome.expected.values()
            if want.key == key and isinstance(want.request, ReplyRequest)
        }
        assert (post.get("subtype") == "thread_broadcast") in asked, (post, asked)


# -- delivery keys: distinct replies are distinct deliveries -------------------------------------

# Ids over a two-letter alphabet that includes the key separator "|": every original exists.
_TINY = ["".join(chars) for size in (1, 2, 3) for chars in itertools.product("a|", repeat=size)]


@pytest.fixture
def many_originals(aws, slack, notification_channel, connected, producer, consumer):
    for internal_id in _TINY:
        producer.send(USER_ID, {"text": f"original {internal_id}"}, internal_message_id=internal_id)
    consumer("send").drain()
    posts = slack.messages(notification_channel["id"])
    assert len(posts) == len(_TINY)
    return {
        "channel": notification_channel["id"],
        "integration": connected.id,
        "ts": {post["text"].removeprefix("original "): post["ts"] for post in posts},
        "poller": consumer("reply", MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT)),
    }


@settings(FUZZ, max_examples=40)
@example(replies=[("a|a", "a"), ("a", "a|a")])
@given(replies=st.lists(st.tuples(st.sampled_from(_TINY), st.sampled_from(_TINY)), min_size=2, max_size=4, unique=True))
def test_replies_with_different_ids_or_keys_are_all_posted(aws, slack, many_originals, replies):
    """Two replies that differ in their original or their idempotency key are two deliveries: each
    is posted once, in its own original's thread."""
    note(f"replies (internalMessageId, idempotencyKey): {replies!r}")
    clear_table(aws, "DeliveriesTable", keep=lambda item: not _is_reply_record(item))
    poller = many_originals["poller"]
    poller.history.clear()
    posts_before = len(slack.messages(many_originals["channel"]))
    try:
        for internal_id, key in replies:
            text = f"{internal_id} {key}"
            body = {"internalMessageId": internal_id, "idempotencyKey": key, "message": {"text": text}}
            enqueue_raw(aws, body, group=internal_id, queue="ReplyQueue")
        drain_to_the_end(aws, poller)
        dead = take_dead_letters(aws["sqs"], aws["queues"]["ReplyDeadLetterQueue"])
    finally:
        leave_nothing_behind(aws, poller, "ReplyDeadLetterQueue")
    posts = slack.messages(many_originals["channel"])[posts_before:]
    assert dead == []
    posted = sorted((post["thread_ts"], post["text"]) for post in posts)
    wanted = sorted((many_originals["ts"][internal_id], f"{internal_id} {key}") for internal_id, key in replies)
    assert posted == wanted
