"""slack-app-manifest.yaml, the Slack app an operator creates, asks for what the code uses."""

from __future__ import annotations

import yaml

from slack_integration.models.installation import PRODUCT_SCOPES
from slack_integration.services.slack_events import HANDLED_EVENTS, SlackEventsService
from tests.support.template import ROOT

MANIFEST = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text())


def test_the_manifest_asks_for_exactly_the_scopes_add_to_slack_requests():
    assert MANIFEST["oauth_config"]["scopes"]["bot"] == list(PRODUCT_SCOPES)
    assert "user" not in MANIFEST["oauth_config"]["scopes"]


def test_the_manifest_subscribes_to_exactly_the_events_the_events_route_acts_on():
    assert set(MANIFEST["settings"]["event_subscriptions"]["bot_events"]) == HANDLED_EVENTS
    # ...and each of them has its action (none is only listed).
    service = SlackEventsService(tokens=None, integrations=None, installation=None, health=None, lifecycle_table="t")  # type: ignore[arg-type]
    assert set(service._actions) == HANDLED_EVENTS


def test_the_manifest_points_slack_at_the_public_routes():
    assert MANIFEST["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth/callback")
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")
    assert MANIFEST["settings"]["token_rotation_enabled"] is True
    assert MANIFEST["settings"]["org_deploy_enabled"] is False  # org-wide installs are refused
