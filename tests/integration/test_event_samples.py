"""The events/ samples (the ones `sam local invoke` takes) run through their functions as they are."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from slack_integration import dependencies
from tests.support.events import sample


@pytest.fixture
def demo_user(aws, slack):
    # The samples name user-demo-1 and channel C0DEMO00001, as the local demo seed does.
    slack.add_workspace(
        "T0DEMO0001", "Buster Demo", domain="buster-demo", bot_user_id="U0DEMOBOT1", bot_id="B0DEMO0001"
    )
    slack.add_token("xoxb-test-demo-0001", "T0DEMO0001")
    slack.add_channel("T0DEMO0001", "alerts", channel_id="C0DEMO00001")
    dependencies.current().installation.connect(
        "user-demo-1", "T0DEMO0001", "Buster Demo", SecretStr("xoxb-test-demo-0001")
    )


@pytest.mark.parametrize(
    ("function", "name", "expected"),
    [
        (
            "list_channels",
            "list_channels.json",
            {
                "channels": [
                    {"id": "C0DEMO00001", "name": "alerts", "purpose": None, "memberCount": 0, "isMember": False}
                ]
            },
        ),
        ("set_channel", "set_channel.json", {"success": True, "message": "Notification channel set to #alerts"}),
        ("set_channel", "get_channel.json", {"notificationChannel": None}),
    ],
)
def test_sample_event(demo_user, invoke, function, name, expected):
    answer = invoke(function, "", "", event=sample(name))
    assert answer.status == 200
    assert answer.body == expected
