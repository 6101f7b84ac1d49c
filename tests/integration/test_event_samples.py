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


def test_the_install_sample_starts_add_to_slack(slack_app, demo_user, invoke):
    answer = invoke("installation", "", "", event=sample("install.json"))
    assert answer.status == 200 and answer.body["url"].startswith(slack_app.authorize_url + "?")


def test_the_callback_sample_is_refused_back_to_the_dashboard(slack_app, invoke):
    # Its state was never issued by this stack: the browser goes back with the reason.
    answer = invoke("installation", "", "", event=sample("oauth_callback.json"))
    assert answer.status == 302
    assert answer.headers["location"].endswith("?slack=error&code=INSTALL_STATE_INVALID")


def test_the_events_sample_is_slacks_url_verification_signed_long_ago(slack_app, invoke):
    # A recorded request: its timestamp is past Slack's 5-minute window, so it is refused.
    answer = invoke("slack_events", "", "", event=sample("slack_events.json"))
    assert answer.status == 401 and answer.body["code"] == "SIGNATURE_INVALID"


def test_the_disconnect_sample_disconnects(slack_app, demo_user, invoke):
    answer = invoke("installation", "", "", event=sample("disconnect.json"))
    assert answer.status == 200 and answer.body == {"success": True}
    assert dependencies.current().integrations.require("user-demo-1").is_active is False


def test_the_domain_event_sample_enqueues_its_notification(aws, demo_user, monkeypatch):
    from tests.support.events import LambdaContext
    from tests.support.functions import load_function
    from tests.support.template import function_env

    for key, value in function_env("DomainEventsFunction", aws["queues"]).items():
        monkeypatch.setenv(key, value)
    dependencies.reset()
    answer = load_function("domain_events").lambda_handler(sample("domain_event.json"), LambdaContext("domain_events"))

    assert answer == {"batchItemFailures": []}
    [message] = aws["sqs"].receive_message(QueueUrl=aws["queues"]["SendQueue"]).get("Messages", [])
    assert '"internalMessageId":"deployment-d-42"' in message["Body"]


def test_the_receipts_sample_publishes_a_delivered_receipt(aws, receipts):
    from tests.support.events import LambdaContext
    from tests.support.functions import load_function

    answer = load_function("receipts").lambda_handler(sample("receipts.json"), LambdaContext("receipts"))

    assert answer == {"batchItemFailures": []}
    [receipt] = receipts.received()
    assert receipt["detail-type"] == "Slack Message Delivered"
    assert receipt["detail"]["permalink"].startswith("https://buster-demo.slack.com/archives/C0DEMOALR01/")
