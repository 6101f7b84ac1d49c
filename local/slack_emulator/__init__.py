"""Slack Web API emulator for tests and the local stack (dev only, never deployed).

It serves Slack's real wire format on loopback so the real `slack_sdk.WebClient` can be pointed at
it with `base_url`: mocking WebClient methods instead would hide wire-level bugs.
"""

from local.slack_emulator.emulator import SlackEmulator
from local.slack_emulator.render import Rendered
from local.slack_emulator.state import DEFAULT_SCOPES

__all__ = ["DEFAULT_SCOPES", "Rendered", "SlackEmulator"]
