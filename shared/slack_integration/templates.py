"""Message templates: a schema and the common templates, with `{{variable}}`
placeholders, typed variables, required ones and defaults.

The template's own text is trusted markup (its `*bold*` is live); every variable value comes from
a producer and is inserted inert: escaped in mrkdwn (`<!here>` shows as text), as given in
plain_text (Slack never parses it), and any mrkdwn text object that receives a value is made
`verbatim` so a bare `@everyone` in it is not auto-linked. Dates become Slack date tokens, so each
reader sees their own local time.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from slack_integration.formatting import LOUDSPEAKER, ROCKET, SIREN, WARNING, escape, slack_date

PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
# Block fields holding a URL: a value placed there is checked to stay an http(s) URL.
_URL_KEYS = frozenset({"url", "image_url"})


class VariableType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"


class TemplateVariable(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    name: str = Field(pattern=r"^\w{1,64}$")
    type: VariableType = VariableType.STRING
    required: bool = False
    default_value: Any = None


class TemplateContent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str | None = None
    blocks: list[dict[str, Any]] | None = None


class MessageTemplate(BaseModel):
    """MessageTemplateSchema: a message with placeholders and the variables they name."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")

    id: str
    name: str
    description: str | None = None
    template: TemplateContent
    variables: list[TemplateVariable] = Field(default_factory=list)

    @model_validator(mode="after")
    def _placeholders_are_declared(self) -> MessageTemplate:
        declared = [variable.name for variable in self.variables]
        if len(set(declared)) != len(declared):
            raise ValueError("variable names must be unique")
        used = set(PLACEHOLDER.findall(self.template.text or "")) | _placeholders(self.template.blocks or [])
        undeclared = sorted(used - set(declared))
        if undeclared:
            raise ValueError(f"placeholders without a variable: {', '.join(undeclared)}")
        for variable in self.variables:
            if variable.default_value is not None:
                _display(variable, variable.default_value)  # a default must be a valid value
        return self

    def render(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """{"text"?, "blocks"?} with every placeholder filled; ValueError names the bad variable."""
        unknown = sorted(set(variables) - {variable.name for variable in self.variables})
        if unknown:
            raise ValueError(f"variables.{_shown(unknown[0])}: not a variable of template {self.id}")
        values: dict[str, _Value] = {}
        for variable in self.variables:
            given = variables.get(variable.name)
            if given is None:
                given = variable.default_value
            if given is None:
                if variable.required:
                    raise ValueError(f"variables.{variable.name}: required by template {self.id}")
                values[variable.name] = _Value("", "")
                continue
            values[variable.name] = _display(variable, given)
        rendered: dict[str, Any] = {}
        if self.template.text is not None:
            rendered["text"] = _fill(self.template.text, values, mrkdwn=True)
        if self.template.blocks:
            rendered["blocks"] = [_fill_block(block, values) for block in copy.deepcopy(self.template.blocks)]
        return rendered


class _Value:
    """A variable's value as shown in mrkdwn (escaped, or a date token) and in plain text."""

    __slots__ = ("mrkdwn", "plain")

    def __init__(self, mrkdwn: str, plain: str) -> None:
        self.mrkdwn = mrkdwn
        self.plain = plain


def _shown(name: str) -> str:
    """A producer's variable name as safe to quote in an error: printable ASCII, short."""
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in name[:64])


def _display(variable: TemplateVariable, value: Any) -> _Value:
    where = f"variables.{variable.name}"
    if variable.type is VariableType.STRING:
        # Numbers read naturally as text ("version": 42); structures and booleans do not.
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{where}: must be a string")
        return _Value(escape(value), str(value))
    if variable.type is VariableType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: must be a number")
        return _Value(str(value), str(value))
    if variable.type is VariableType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: must be true or false")
        return _Value(str(value).lower(), str(value).lower())
    moment = _date(value, where)
    return _Value(slack_date(moment), moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _date(value: Any, where: str) -> datetime:
    """An ISO-8601 string (UTC when it has no offset) or epoch seconds."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    raise ValueError(f"{where}: must be an ISO-8601 date (2026-11-27T10:00:00Z) or epoch seconds")


def _fill(text: str, values: Mapping[str, _Value], *, mrkdwn: bool) -> str:
    return PLACEHOLDER.sub(lambda m: values[m.group(1)].mrkdwn if mrkdwn else values[m.group(1)].plain, text)


def _fill_block(node: Any, values: Mapping[str, _Value]) -> Any:
    """Fill placeholders in a block tree, the way each kind of string is read by Slack."""
    if isinstance(node, list):
        return [_fill_block(item, values) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    filled_mrkdwn = False
    for key, inner in list(node.items()):
        if isinstance(inner, str) and PLACEHOLDER.search(inner):
            if key == "text" and kind == "mrkdwn":
                node[key] = _fill(inner, values, mrkdwn=True)
                filled_mrkdwn = True
            else:
                node[key] = _fill(inner, values, mrkdwn=False)
                if key in _URL_KEYS and not node[key].startswith(("https://", "http://")):
                    raise ValueError(f"a value placed in `{key}` must make it an http(s) URL")
        else:
            node[key] = _fill_block(inner, values)
    if filled_mrkdwn:
        node["verbatim"] = True  # a value's bare @here or URL stays text
    return node


def _placeholders(node: Any) -> set[str]:
    if isinstance(node, str):
        return set(PLACEHOLDER.findall(node))
    if isinstance(node, list):
        return set().union(*(_placeholders(item) for item in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(_placeholders(value) for value in node.values())) if node else set()
    return set()


def _required(*names: str) -> list[TemplateVariable]:
    return [TemplateVariable(name=name, required=True) for name in names]


# The common templates, with the variables they use (all required: their text needs each one).
COMMON_TEMPLATES: dict[str, MessageTemplate] = {
    template.id: template
    for template in (
        MessageTemplate(
            id="DEPLOYMENT_SUCCESS",
            name="Deployment successful",
            description="A deployment finished successfully.",
            template=TemplateContent(
                text=f"{ROCKET} *Deployment Successful*\nProject: {{{{project}}}}\n"
                "Environment: {{environment}}\nVersion: {{version}}"
            ),
            variables=_required("project", "environment", "version"),
        ),
        MessageTemplate(
            id="ALERT_TRIGGERED",
            name="Alert triggered",
            description="A monitored condition fired.",
            template=TemplateContent(
                text=f"{WARNING} *Alert: {{{{title}}}}*\n{{{{message}}}}\nSeverity: {{{{severity}}}}"
            ),
            variables=_required("title", "message", "severity"),
        ),
        MessageTemplate(
            id="ERROR_OCCURRED",
            name="Error occurred",
            description="A service reported an error.",
            template=TemplateContent(text=f"{SIREN} *Error in {{{{service}}}}*\n{{{{message}}}}\nCode: {{{{code}}}}"),
            variables=_required("service", "message", "code"),
        ),
        MessageTemplate(
            id="SYSTEM_UPDATE",
            name="System update",
            description="An announcement about Buster itself.",
            template=TemplateContent(text=f"{LOUDSPEAKER} *System Update*\n{{{{message}}}}"),
            variables=_required("message"),
        ),
    )
}


def render_template(name: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    template = COMMON_TEMPLATES.get(name)
    if template is None:
        raise ValueError(f"unknown template; known: {', '.join(sorted(COMMON_TEMPLATES))}")
    return template.render(variables)
