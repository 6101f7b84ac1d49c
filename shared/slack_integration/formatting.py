"""Message formatting: simple, rich and event notifications, injection-safe.

Every value that comes from a producer is escaped for mrkdwn (`&`, `<`, `>`), so `<!channel>`,
`<!here>`, `<@U…>` or a disguised `<https://evil|https://good>` render as text and notify nobody,
and mrkdwn text objects holding producer values are `verbatim` (Slack does not auto-link a bare
`@here`/`@everyone` or URL in them). Only the markup written here (bold titles, a date token) is
live. Blocks are built with slack_sdk's block classes, whose `to_dict()` checks the Block Kit
limits; what they do not check (50 blocks, 2000 characters per field) the message model does.

Values that would overflow a limit are shortened with "…" (a notification should not be lost to
a long stack trace); what cannot be shortened without changing its meaning (a URL, too many
buttons) is refused with ValueError, which the queue contract reports as INVALID_MESSAGE.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

Level = Literal["info", "warning", "error"]

# The emoji of each event, as real characters.
ROCKET = "\U0001f680"  # 🚀
SIREN = "\U0001f6a8"  # 🚨
WARNING = "\u26a0\ufe0f"  # ⚠️
INFORMATION = "\u2139\ufe0f"  # information source
LOUDSPEAKER = "\U0001f4e2"  # 📢
CHECK = "\u2705"  # ✅
LEVEL_EMOJI: dict[str, str] = {"error": SIREN, "warning": WARNING, "info": INFORMATION}

SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_PER_SECTION = 10
BUTTON_TEXT_LIMIT = 75
BUTTON_URL_LIMIT = 3000
BUTTONS_PER_ACTIONS = 25
TOP_LEVEL_TEXT_LIMIT = 4000
ELLIPSIS = "…"


def escape(value: Any) -> str:
    """A producer value as inert mrkdwn: Slack's three control characters as entities."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(value: Any, limit: int, *, escaped: bool = True) -> str:
    """`value` (escaped unless told otherwise) in at most `limit` characters, cut on the raw text
    so that an entity such as `&amp;` is never split, with "…" when something was cut."""
    raw = str(value)
    rendered = escape(raw) if escaped else raw
    if len(rendered) <= limit:
        return rendered
    budget = limit - len(ELLIPSIS)
    kept: list[str] = []
    used = 0
    for character in raw:
        piece = escape(character) if escaped else character
        if used + len(piece) > budget:
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + ELLIPSIS


def slack_date(moment: datetime) -> str:
    """Slack's date token: each reader sees the time in their own time zone (the fallback in UTC)."""
    epoch = math.floor(moment.timestamp())
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


@dataclass(frozen=True)
class Field:
    title: str
    value: Any


@dataclass(frozen=True)
class Action:
    text: str
    url: str
    style: Literal["primary", "danger"] | None = None


def simple_notification(title: str, message: str, level: Level = "info") -> dict[str, Any]:
    """`{emoji} *title*\\nmessage` as top-level text (which Slack does not auto-link)."""
    emoji = LEVEL_EMOJI.get(level, INFORMATION)
    head = f"{emoji} *{fit(title, 500)}*\n"
    return {"text": head + fit(message, TOP_LEVEL_TEXT_LIMIT - len(head))}


def rich_notification(
    title: str,
    message: str,
    fields: Sequence[Field] | None = None,
    actions: Sequence[Action] | None = None,
) -> dict[str, Any]:
    """A bold title and message, then fields (ten per section), then link buttons."""
    title_text = f"*{fit(title, 500)}*\n"
    blocks: list[Block] = [SectionBlock(text=_mrkdwn(title_text + fit(message, SECTION_TEXT_LIMIT - len(title_text))))]
    field_objects = [_field(field) for field in fields or []]
    for start in range(0, len(field_objects), FIELDS_PER_SECTION):
        blocks.append(SectionBlock(fields=field_objects[start : start + FIELDS_PER_SECTION]))
    if actions:
        if len(actions) > BUTTONS_PER_ACTIONS:
            raise ValueError(f"actions: at most {BUTTONS_PER_ACTIONS} buttons")
        blocks.append(ActionsBlock(elements=[_button(index, action) for index, action in enumerate(actions)]))
    rendered = [block.to_dict() for block in blocks]  # slack_sdk validates each block here
    return {"text": _fallback(title, message), "blocks": rendered}


def event_notification(event_type: str, data: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Notifications for Buster's common events, with their standard wording and defaults."""
    at = now or datetime.now(UTC)

    def value(name: str, default: str) -> Any:
        given = data.get(name)
        return default if given is None or given == "" else given

    if event_type == "deployment":
        # `status` (domain events): started / succeeded (the default) / failed.
        url = data.get("url")
        status = str(value("status", "succeeded"))
        project = value("project", "your project")
        title, message = {
            "started": (f"{ROCKET} Deployment Started", f"Deploying {project}"),
            "failed": (
                f"{SIREN} Deployment Failed",
                f"Deployment of {project} failed: {value('error', 'see the logs')}",
            ),
        }.get(status, (f"{ROCKET} Deployment Complete", f"Deployment of {project} was successful"))
        fields = [
            Field("Environment", value("environment", "production")),
            Field("Version", value("version", "latest")),
            Field("Duration", value("duration", "N/A" if status != "started" else "running")),
        ]
        if data.get("status"):  # a deployment followed through its life shows where it is
            fields.append(Field("Status", {"started": "Running"}.get(status, status.capitalize())))
        return rich_notification(title, message, fields, [Action("View Details", str(url), "primary")] if url else None)
    if event_type == "alert":
        resolved = data.get("status") == "resolved"
        return _with_time(
            rich_notification(
                f"{CHECK} Alert Resolved" if resolved else f"{WARNING} Alert Triggered",
                value("message", "The alert is resolved" if resolved else "An alert has been triggered"),
                [Field("Severity", value("severity", "medium")), Field("Source", value("source", "system"))],
            ),
            at,
        )
    if event_type == "error":
        return _with_time(
            rich_notification(
                f"{SIREN} Error Detected",
                value("message", "An error has occurred"),
                [Field("Service", value("service", "unknown")), Field("Error Code", value("code", "N/A"))],
            ),
            at,
        )
    if event_type == "update":
        return simple_notification(f"{LOUDSPEAKER} Update Available", value("message", "A new update is available"))
    return simple_notification(f"{LOUDSPEAKER} Notification", value("message", "You have a new notification"))


def _with_time(message: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The "Time" field, as a date token so each reader sees their own local time."""
    fields = message["blocks"][1]["fields"]
    fields.append(_mrkdwn(f"*Time*\n{slack_date(at)}").to_dict())
    return message


def _mrkdwn(text: str) -> MarkdownTextObject:
    # verbatim: a bare @here / @everyone / URL in a producer value stays plain text.
    return MarkdownTextObject(text=text, verbatim=True)


def _field(field: Field) -> MarkdownTextObject:
    title = f"*{fit(field.title, 200)}*\n"
    return _mrkdwn(title + fit(field.value, FIELD_TEXT_LIMIT - len(title)))


def _button(index: int, action: Action) -> ButtonElement:
    if not action.url.startswith(("https://", "http://")) or len(action.url) > BUTTON_URL_LIMIT:
        raise ValueError(f"actions[{index}].url: must be an http(s) URL of at most {BUTTON_URL_LIMIT} characters")
    # plain_text is never parsed by Slack, so the label is shown exactly as given.
    label = PlainTextObject(text=fit(action.text, BUTTON_TEXT_LIMIT, escaped=False), emoji=True)
    return ButtonElement(text=label, url=action.url, style=action.style, action_id=f"link-{index}")


def _fallback(title: str, message: str) -> str:
    """Top-level text for notifications and screen readers (escaped like everything else)."""
    head = f"{fit(title, 500)}: "
    return head + fit(message, TOP_LEVEL_TEXT_LIMIT - len(head))
