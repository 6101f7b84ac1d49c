"""The queue contract: send and reply bodies, validated before anything reaches Slack.

Bodies are strict (unknown fields are refused): a typo such as `internalMessageID` would
otherwise turn a tracked message into an untracked one without anyone noticing. Block Kit limits
are checked with slack_sdk's own block classes (which know the per-element limits) plus the two
limits they do not check: 50 blocks per message and 2000 characters per section field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50
MAX_FIELD_TEXT = 2000
# Slack truncates top-level text past 40,000 characters; we refuse instead of losing the end.
MAX_TEXT = 40_000
# A fallback we derive from blocks only feeds notifications and screen readers: keep it short.
FALLBACK_TEXT_LIMIT = 3000
DEFAULT_FALLBACK_TEXT = "New notification from Buster"
# Block types slack_sdk can check; Slack's other types are refused rather than posted unchecked.
_BLOCK_TYPES = frozenset(
    {"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text", "section", "video"}
)

# Ids and keys are compared exactly and end up in DynamoDB keys: printable, no control characters.
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class SlackMessage(BaseModel):
    """What to post: `text`, `blocks`, or both. `text` is always sent (derived when absent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(default=None, max_length=MAX_TEXT)
    blocks: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_BLOCKS)

    @field_validator("blocks")
    @classmethod
    def _valid_block_kit(cls, blocks: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for index, raw in enumerate(blocks or []):
            problem = _block_problem(raw)
            if problem:
                raise ValueError(f"blocks[{index}]: {problem}")
        return blocks

    @model_validator(mode="after")
    def _has_content(self) -> SlackMessage:
        if not (self.text and self.text.strip()) and not self.blocks:
            raise ValueError("a message needs a non-empty text or at least one block")
        return self

    def fallback_text(self) -> str:
        """The top-level `text`: the producer's, else one derived from the blocks' own texts."""
        if self.text and self.text.strip():
            return self.text
        parts = [part.strip() for block in self.blocks or [] for part in _block_texts(block) if part.strip()]
        derived = "\n".join(parts)
        if len(derived) > FALLBACK_TEXT_LIMIT:
            derived = derived[: FALLBACK_TEXT_LIMIT - 1].rstrip() + "…"
        return derived or DEFAULT_FALLBACK_TEXT

    def post_arguments(self) -> dict[str, Any]:
        """chat.postMessage arguments for the content (channel, thread and metadata are added by the caller)."""
        arguments: dict[str, Any] = {"text": self.fallback_text()}
        if self.blocks:
            arguments["blocks"] = self.blocks
        return arguments


def _block_problem(raw: Any) -> str | None:
    """Why Slack would refuse this block, or None. Problems name rules, never the block's values."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return "a block must be an object with a string `type`"
    kind = raw["type"]
    if kind not in _BLOCK_TYPES:
        return "unknown block type"
    try:
        block = Block.parse(raw)
        # slack_sdk's validators check the per-element limits (lengths, counts) here.
        normalized = block.to_dict() if block is not None else None
    except SlackObjectFormationError as exc:
        # Its messages state the rule first; anything after a colon may quote the value.
        return str(exc).split(":", 1)[0]
    except (TypeError, KeyError, AttributeError, ValueError):
        return f"not a valid {kind} block"
    # slack_sdk reads leniently (a bare string becomes a text object, an unknown element is
    # dropped) but we post the producer's JSON as given: if its reading differs, Slack would
    # refuse what we post. Refusing here tells the producer now instead of a DLQ entry later.
    if normalized != raw:
        return f"not valid Block Kit for a {kind} block (check its text objects and elements)"
    if kind == "header" and (raw.get("text") or {}).get("type") != "plain_text":
        return "a header's text must be plain_text"
    for field_index, field in enumerate(raw.get("fields") or []):
        if len(str(field.get("text", ""))) > MAX_FIELD_TEXT:
            return f"fields[{field_index}] text cannot exceed {MAX_FIELD_TEXT} characters"
    return None


def _text_of(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, dict) and isinstance(obj.get("text"), str) else ""


def _block_texts(block: dict[str, Any]) -> list[str]:
    """The human-readable strings of one block, in reading order."""
    kind = block.get("type")
    if kind in ("header", "section"):
        return [_text_of(block.get("text")), *(_text_of(field) for field in block.get("fields") or [])]
    if kind == "context":
        return [_text_of(element) for element in block.get("elements") or []]
    if kind == "markdown":
        return [block["text"]] if isinstance(block.get("text"), str) else []
    if kind == "image":
        return [block["alt_text"]] if isinstance(block.get("alt_text"), str) else []
    return []


class TemplateRef(BaseModel):
    """`template: {name, variables}`: one of the templates of slack_integration.templates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    variables: dict[str, Any] = Field(default_factory=dict, max_length=50)
    # Rendered once, while validating; the consumer posts that same rendering.
    _rendered: SlackMessage | None = PrivateAttr(default=None)

    def render(self) -> SlackMessage:
        assert self._rendered is not None  # set by validation, which every instance goes through
        return self._rendered

    @model_validator(mode="after")
    def _renders(self) -> TemplateRef:
        from slack_integration.templates import render_template

        # A missing or mistyped variable is refused now, naming it.
        self._rendered = SlackMessage.model_validate(render_template(self.name, self.variables))
        return self


_Scalar = str | int | float | bool | None


class EventRef(BaseModel):
    """`event: {type, data}`: the formatter's event notifications (deployment, alert, error, update;
    any other type gets the default notification)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9_.-]+$")
    data: dict[str, _Scalar] = Field(default_factory=dict, max_length=50)

    def render(self, at: datetime | None = None) -> SlackMessage:
        from slack_integration.formatting import event_notification

        return SlackMessage.model_validate(event_notification(self.type, self.data, now=at))

    @model_validator(mode="after")
    def _renders(self) -> EventRef:
        self.render()
        return self


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False, extra="forbid", frozen=True)

    # Exactly one of these says what to post.
    message: SlackMessage | None = None
    template: TemplateRef | None = None
    event: EventRef | None = None

    @model_validator(mode="after")
    def _one_content(self) -> _Body:
        given = [name for name in ("message", "template", "event") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of message, template or event")
        return self

    def content(self, at: datetime | None = None) -> SlackMessage:
        """What to post; `at` is when the producer enqueued it (an event's time field shows that)."""
        if self.template is not None:
            return self.template.render()
        if self.event is not None:
            return self.event.render(at)
        assert self.message is not None
        return self.message


class SendRequest(_Body):
    """Send queue body: a notification for one user's notification channel."""

    user_id: str = Field(min_length=1, max_length=128, pattern=_PRINTABLE)
    # Present = tracked: the Slack ts is recorded so replies can thread under it, and the same id
    # for the same user is posted once however often it is sent.
    internal_message_id: str | None = Field(default=None, min_length=1, max_length=256, pattern=_PRINTABLE)
    message_type: str | None = Field(default=None, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9 _.:/-]+$")
    # Deduplicates untracked messages the same way (ignored for stats; tracked ids need none).
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128, pattern=_PRINTABLE)


class ReplyRequest(_Body):
    """Reply queue body: a follow-up of every delivery of `internalMessageId`: a reply in its
    thread (`operation` "reply", the default) or its content replaced in place ("update")."""

    internal_message_id: str = Field(min_length=1, max_length=256, pattern=_PRINTABLE)
    operation: Literal["reply", "update"] = "reply"
    # Orders updates: one older than the one applied is dropped. An integer, or the time the
    # producer made it (RFC 3339 with a zone, kept as epoch milliseconds); absent = when it was
    # enqueued. Use one kind per original.
    version: int | None = Field(default=None, ge=0, le=2**53)
    # Only the thread of this user's delivery (the same internal id may go to several users).
    user_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=_PRINTABLE)
    # Also show the reply in the channel (Slack's reply_broadcast).
    broadcast: bool = False
    # The same key for the same original is posted once per thread; without one, SQS's message id
    # protects against redelivery only.
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128, pattern=_PRINTABLE)

    @field_validator("version", mode="before")
    @classmethod
    def _time_as_version(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer or an RFC 3339 time")
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("must be an integer or an RFC 3339 time such as 2026-12-01T10:00:00Z") from None
            if moment.tzinfo is None:
                raise ValueError("a time needs its zone, such as 2026-12-01T10:00:00Z")
            return int(moment.timestamp() * 1000)
        return value

    @model_validator(mode="after")
    def _update_is_not_broadcast(self) -> ReplyRequest:
        if self.operation == "update" and self.broadcast:
            raise ValueError("broadcast applies to replies, not to an update of the original")
        return self

    def effective_version(self, enqueued_at_ms: int) -> int:
        return self.version if self.version is not None else enqueued_at_ms


def validation_problems(exc: ValidationError, limit: int = 5) -> str:
    """Which fields are wrong and why, without echoing the values (they may be long or sensitive)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(part) for part in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)
