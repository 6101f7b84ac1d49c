"""What a Slack client would DISPLAY for a stored message, and what it would make live.

Tests use this to prove that untrusted text ends up inert: `<!channel>` sent unescaped becomes an
@channel notification, while `&lt;!channel&gt;` is shown as the literal characters "<!channel>"
and triggers nothing. The rules follow Slack's documentation on formatting message text (its
escaping rules):

mrkdwn (the top-level `text`, and text objects of type "mrkdwn")
    Control sequences are `<...>` spans, split at the first "|" into target and optional label:
    `<!here>`, `<!channel>`, `<!everyone>` notify and show "@here" etc.; `<!subteam^S1|@team>`
    notifies the user group "subteam^S1" and shows its label (else "@S1"); `<@U1|name>` notifies
    "@U1" and shows "@name" (else "@U1"); `<#C1|name>` references channel "C1" and shows "#name"
    (else "#C1"); `<!date^EPOCH^FORMAT|fallback>` shows the fallback (empty without one);
    `<http(s)://...|label>`, `<mailto:...|label>` and any other `<scheme://...>` are links that
    show their label, or their URL without one. Any other span (an unknown `<!command>`, a bare
    `<word>`) is consumed as Slack consumes it: it shows its label, else its content, and triggers
    nothing. Text outside spans and inside labels/URLs then has `&lt;`, `&gt;`, `&amp;` unescaped
    (in one pass, so `&amp;lt;` shows "&lt;"). Formatting markers (*bold*, _italic_, ~strike~,
    `code`) are left in the displayed text as typed: this renderer does not strip them.

Auto-parsing
    A mrkdwn text object whose `verbatim` is not true also turns bare `@here`, `@channel` and
    `@everyone` words into notifications and bare http(s) URLs into links (label = URL, trailing
    sentence punctuation excluded). With `verbatim: true` they stay plain text. The top-level `text`
    is not auto-parsed: that needs `link_names`, which the emulator does not store.

plain_text objects
    Never parsed: shown exactly as given, with no entity unescaping, no notifications, no links.

Blocks
    When a message has blocks, they are what is displayed, in order: header text, section text
    and fields, a section accessory's button label, context elements' text, actions blocks' button
    labels, an image block's title (never its alt_text), rich_text elements (structured: user,
    usergroup, channel, broadcast and link elements count as such; text elements are literal) and
    a markdown block's text (rendered with the mrkdwn rules above, an approximation). Buttons with
    a `url` are links labelled with the button text. Every other block or element type contributes
    nothing. The top-level `text` is then only the notification fallback: it is not displayed, but
    its notifications are still reported, because the notification shows and delivers it.

Reporting
    `mentions` and `channels` list each distinct target once, in order of first appearance;
    `links` lists every link, duplicates included. Odd input (wrong types, missing keys) is
    skipped rather than raised on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_BROADCASTS = frozenset({"here", "channel", "everyone"})
_SPAN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(lt|gt|amp);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&"}
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Bare words Slack auto-links in non-verbatim mrkdwn text objects.
_AUTO = re.compile(r"(?<![\w@])@(here|channel|everyone)(?![\w-])|\bhttps?://[^\s<>]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?'\")"


@dataclass(frozen=True)
class Rendered:
    """A message as a reader sees it.

    text: the visible strings joined with "\\n". mentions: notifications it triggers ("@here",
    "@channel", "@everyone", "@U…", "subteam^S…"). links: (label, url) per link. channels: ids of
    the channels it references (`<#C…>`).
    """

    text: str
    mentions: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    channels: tuple[str, ...] = ()


@dataclass
class _Collector:
    """Accumulates what the parts of one message display and trigger."""

    lines: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)

    def show(self, text: str) -> None:
        if text:
            self.lines.append(text)

    def result(self) -> Rendered:
        return Rendered(
            text="\n".join(self.lines),
            mentions=tuple(dict.fromkeys(self.mentions)),
            links=tuple(self.links),
            channels=tuple(dict.fromkeys(self.channels)),
        )


def render_message(message: dict[str, Any]) -> Rendered:
    """Render one stored message (as `SlackEmulator.messages()` returns it); never raises."""
    out = _Collector()
    if not isinstance(message, dict):
        return out.result()
    text = message.get("text")
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        if isinstance(text, str):
            # Notification fallback: what it triggers counts, what it shows does not.
            fallback = _Collector()
            _mrkdwn(text, fallback, auto_parse=False)
            out.mentions.extend(fallback.mentions)
        for block in blocks:
            _block(block, out)
    elif isinstance(text, str):
        out.show(_mrkdwn(text, out, auto_parse=False))
    return out.result()


# -- blocks -----------------------------------------------------------------------------------


def _block(block: Any, out: _Collector) -> None:
    if not isinstance(block, dict):
        return
    kind = block.get("type")
    if kind == "header":
        out.show(_text_object(block.get("text"), out))
    elif kind == "section":
        out.show(_text_object(block.get("text"), out))
        for text_object in _list(block.get("fields")):
            out.show(_text_object(text_object, out))
        _button(block.get("accessory"), out)
    elif kind == "context":
        for element in _list(block.get("elements")):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                out.show(_text_object(element, out))
    elif kind == "actions":
        for element in _list(block.get("elements")):
            _button(element, out)
    elif kind == "image":
        out.show(_text_object(block.get("title"), out))
    elif kind == "rich_text":
        for element in _list(block.get("elements")):
            _rich_text_container(element, out)
    elif kind == "markdown":
        text = block.get("text")
        if isinstance(text, str):
            out.show(_mrkdwn(text, out, auto_parse=False))


def _button(element: Any, out: _Collector) -> None:
    """A button shows its label; with a `url` it is also a link under that label."""
    if not isinstance(element, dict) or element.get("type") != "button":
        return
    label = _text_object(element.get("text"), out)
    out.show(label)
    url = element.get("url")
    if isinstance(url, str) and url:
        out.links.append((label, url))


def _text_object(text_object: Any, out: _Collector) -> str:
    """Displayed text of a composition text object; records what a mrkdwn one triggers."""
    if not isinstance(text_object, dict):
        return ""
    text = text_object.get("text")
    if not isinstance(text, str):
        return ""
    kind = text_object.get("type")
    if kind == "plain_text":
        return text
    if kind == "mrkdwn":
        return _mrkdwn(text, out, auto_parse=text_object.get("verbatim") is not True)
    return ""


def _rich_text_container(container: Any, out: _Collector) -> None:
    """rich_text_section / _preformatted / _quote show one line each; a list holds sections."""
    if not isinstance(container, dict):
        return
    kind = container.get("type")
    if kind == "rich_text_list":
        for item in _list(container.get("elements")):
            _rich_text_container(item, out)
    elif kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
        out.show("".join(_rich_text_element(element, out) for element in _list(container.get("elements"))))


def _rich_text_element(element: Any, out: _Collector) -> str:
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    text = element.get("text")
    label = text if isinstance(text, str) else ""
    if kind == "text":
        return label
    if kind == "link":
        url = element.get("url")
        if not isinstance(url, str) or not url:
            return label
        out.links.append((label or url, url))
        return label or url
    if kind == "user" and isinstance(element.get("user_id"), str):
        out.mentions.append(f"@{element['user_id']}")
        return f"@{element['user_id']}"
    if kind == "usergroup" and isinstance(element.get("usergroup_id"), str):
        out.mentions.append(f"subteam^{element['usergroup_id']}")
        return f"@{element['usergroup_id']}"
    if kind == "channel" and isinstance(element.get("channel_id"), str):
        out.channels.append(element["channel_id"])
        return f"#{element['channel_id']}"
    if kind == "broadcast" and element.get("range") in _BROADCASTS:
        out.mentions.append(f"@{element['range']}")
        return f"@{element['range']}"
    if kind == "emoji" and isinstance(element.get("name"), str):
        return f":{element['name']}:"
    if kind == "date":
        fallback = element.get("fallback")
        return fallback if isinstance(fallback, str) else ""
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# -- mrkdwn -----------------------------------------------------------------------------------


def _mrkdwn(text: str, out: _Collector, *, auto_parse: bool) -> str:
    """Displayed text of mrkdwn; records the notifications, links and channels it makes live."""
    shown: list[str] = []
    position = 0
    for span in _SPAN.finditer(text):
        shown.append(_plain(text[position : span.start()], out, auto_parse=auto_parse))
        shown.append(_control(span.group(1), out))
        position = span.end()
    shown.append(_plain(text[position:], out, auto_parse=auto_parse))
    return "".join(shown)


def _plain(text: str, out: _Collector, *, auto_parse: bool) -> str:
    """Text between control sequences: entities unescaped, then bare words auto-linked if asked."""
    shown = _unescape(text)
    if auto_parse:
        for match in _AUTO.finditer(shown):
            if match.group(1):
                out.mentions.append(f"@{match.group(1).lower()}")
            else:
                url = match.group(0).rstrip(_TRAILING_PUNCTUATION)
                out.links.append((url, url))
    return shown


def _control(content: str, out: _Collector) -> str:
    """One `<target|label>` span: what it shows, recording what it triggers."""
    target, separator, raw_label = content.partition("|")
    label = _unescape(raw_label) if separator else None
    if target.startswith("!"):
        command = target[1:]
        if command in _BROADCASTS:
            out.mentions.append(f"@{command}")
            return f"@{command}"
        if command.startswith("subteam^") and len(command) > len("subteam^"):
            group_id = command.removeprefix("subteam^")
            out.mentions.append(f"subteam^{group_id}")
            return label or f"@{group_id}"
        if command.startswith("date^"):
            return label or ""
        return label if label is not None else _unescape(content)
    if target.startswith("@") and len(target) > 1:
        out.mentions.append(target)
        return f"@{label.removeprefix('@')}" if label else target
    if target.startswith("#") and len(target) > 1:
        out.channels.append(target[1:])
        return f"#{label.removeprefix('#')}" if label else target
    if _URL_SCHEME.match(target) or target.lower().startswith("mailto:"):
        url = _unescape(target)
        shown = label or url
        out.links.append((shown, url))
        return shown
    return label if label is not None else _unescape(content)


def _unescape(text: str) -> str:
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)
