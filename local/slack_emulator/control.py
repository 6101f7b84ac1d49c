"""The emulator's own control endpoint, JSON in and out, on the same loopback server as the Web API
(under /_emulator/, never /api/, so it cannot shadow a Slack method). It lets a shell, or another
process of the local stack, do what a test does through SlackEmulator:

    POST /_emulator/events     {"client_id"?, "team_id", "event": {...}, "retry_num"?, "event_id"?}
    POST /_emulator/uninstall  {"team_id", "client_id"?}
    POST /_emulator/channels   {"action": "archive"|"unarchive"|"delete"|"rename", "team_id",
                                "channel_id", "name"?}
    GET  /_emulator/channels/<channel_id>/messages
    POST /_emulator/faults     {"method", "kind", "times"?, "retry_after"?, "status"?, "error"?,
                                "delay"?, "after"?}: break Slack on purpose (inject_fault)
    POST /_emulator/latency    {"method", "median_ms", "p95_ms"?, "seed"?}: answer `method` ("*" =
                                any) after a log-normal delay (set_latency); median_ms null or 0 = off

Answers are {"ok": true, ...} (the events sent under "deliveries", each as deliver_event returns
it plus "client_id" and "event_type"), or HTTP 400 {"ok": false, "error", "detail"} for input it
cannot act on. An app that answered its event badly is still ok: true, with its status in
"deliveries". `client_id` may be left out when exactly one app has an events_url.

It has no authentication, like the rest of the emulator: serve it on loopback only.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from local.slack_emulator.wire import Reply, json_reply

if TYPE_CHECKING:
    from local.slack_emulator.emulator import SlackEmulator

_MESSAGES_PATH = re.compile(r"/_emulator/channels/([^/]+)/messages")
_ERROR_CODE = re.compile(r"[a-z_]+")


class ControlError(Exception):
    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


class ControlRoutes:
    """The server's handler for /_emulator/ (see EmulatorHTTPServer's `control`)."""

    def __init__(self, emulator: SlackEmulator) -> None:
        self._emulator = emulator

    def __call__(self, verb: str, path: str, query: str, body: bytes) -> Reply:
        try:
            return json_reply(200, {"ok": True, **self._route(verb, path, body)})
        except ControlError as err:
            status = 404 if err.error == "unknown_route" else 405 if err.error == "method_not_allowed" else 400
            return json_reply(status, {"ok": False, "error": err.error, "detail": err.detail})
        except KeyError as err:  # an unknown workspace, channel or app, named in the message
            return json_reply(400, {"ok": False, "error": "not_found", "detail": str(err.args[0] if err.args else err)})
        except ValueError as err:  # refused by the emulator: rename's Slack errors come through as is
            message = str(err)
            error = message if _ERROR_CODE.fullmatch(message) else "invalid_request"
            return json_reply(400, {"ok": False, "error": error, "detail": message})

    def _route(self, verb: str, path: str, body: bytes) -> dict[str, Any]:
        messages = _MESSAGES_PATH.fullmatch(path)
        if messages is not None:
            _expect(verb, "GET")
            channel_id = messages.group(1)
            return {"channel": channel_id, "messages": self._emulator.messages(channel_id)}
        routes = {
            "/_emulator/events": self._events,
            "/_emulator/uninstall": self._uninstall,
            "/_emulator/channels": self._channels,
            "/_emulator/faults": self._faults,
            "/_emulator/latency": self._latency,
        }
        if path not in routes:
            raise ControlError("unknown_route", f"no control route {path}")
        _expect(verb, "POST")
        return routes[path](_json_object(body))

    def _events(self, payload: dict[str, Any]) -> dict[str, Any]:
        team_id = _text(payload, "team_id")
        event = payload.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise ControlError("invalid_event", "event must be an object with a string type")
        retry_num = payload.get("retry_num")
        if retry_num is not None and (isinstance(retry_num, bool) or not isinstance(retry_num, int)):
            raise ControlError("invalid_retry_num", "retry_num must be an integer")
        client_id = _text(payload, "client_id", required=False) or self._only_receiver()
        delivery = self._emulator.deliver_event(
            client_id,
            team_id,
            event,
            event_id=_text(payload, "event_id", required=False) or None,
            retry_num=retry_num,
        )
        return {"deliveries": [{"client_id": client_id, "event_type": event["type"], **delivery}]}

    def _uninstall(self, payload: dict[str, Any]) -> dict[str, Any]:
        team_id = _text(payload, "team_id")
        client_id = _text(payload, "client_id", required=False) or None
        return {"deliveries": self._emulator.uninstall(team_id, client_id)}

    def _channels(self, payload: dict[str, Any]) -> dict[str, Any]:
        action, team_id, channel_id = (_text(payload, key) for key in ("action", "team_id", "channel_id"))
        emulator = self._emulator
        if action == "archive":
            deliveries = emulator.archive_channel(team_id, channel_id)
        elif action == "unarchive":
            deliveries = emulator.unarchive_channel(team_id, channel_id)
        elif action == "delete":
            deliveries = emulator.delete_channel(team_id, channel_id)
        elif action == "rename":
            deliveries = emulator.rename_channel(team_id, channel_id, _text(payload, "name"))
        else:
            raise ControlError("invalid_action", "action must be archive, unarchive, delete or rename")
        channel = None if action == "delete" else emulator.channel_info(channel_id)
        return {"channel": channel, "deliveries": deliveries}

    def _faults(self, payload: dict[str, Any]) -> dict[str, Any]:
        method, kind = _text(payload, "method"), _text(payload, "kind")
        options: dict[str, Any] = {}
        for name in ("times", "retry_after", "status", "after"):
            value = payload.get(name)
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ControlError("invalid_fault", f"{name} must be a non-negative integer")
                options[name] = value
        if payload.get("delay") is not None:
            delay = payload["delay"]
            if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
                raise ControlError("invalid_fault", "delay must be a non-negative number of seconds")
            options["delay"] = float(delay)
        error = _text(payload, "error", required=False)
        if error:
            options["error"] = error
        self._emulator.inject_fault(method, kind, **options)
        return {"fault": {"method": method, "kind": kind, **options}}

    def _latency(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Answers the settings then in force; set_latency's ValueError comes back as invalid_request."""
        method = _text(payload, "method")
        if "median_ms" not in payload:
            raise ControlError("invalid_latency", "median_ms is required (null or 0 turns the latency off)")
        median_ms, p95_ms, seed = payload["median_ms"], payload.get("p95_ms"), payload.get("seed")
        self._emulator.set_latency(method, median_ms, p95_ms, seed)
        return {"latency": self._emulator.latency_settings()}

    def _only_receiver(self) -> str:
        receivers = [app["client_id"] for app in self._emulator.oauth_apps() if app["events_url"]]
        if len(receivers) != 1:
            found = "no OAuth app has" if not receivers else f"{len(receivers)} OAuth apps have"
            raise ControlError("client_id_required", f"{found} an events_url: say which with client_id")
        return receivers[0]


def _expect(verb: str, expected: str) -> None:
    if verb != expected:
        raise ControlError("method_not_allowed", f"use {expected} here")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8")) if body else None
    except ValueError:  # includes UnicodeDecodeError
        value = None
    if not isinstance(value, dict):
        raise ControlError("invalid_json", "the body must be a JSON object")
    return value


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = payload.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise ControlError("invalid_arguments", f"{key} must be a non-empty string")
    return value
