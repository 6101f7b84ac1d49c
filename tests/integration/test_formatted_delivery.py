"""Templates and event notifications through the queues, checked by what a Slack client would
display (the emulator's renderer): producer values show as text and notify nobody."""

from __future__ import annotations

import pytest

from slack_integration.errors import ServiceError
from tests.conftest import USER_ID
from tests.support.records import enqueue_raw
from tests.support.sqs import dead_letters

INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABCD>",
    "<!subteam^S0123ABCD|@engineering>",
    "<https://evil.example|https://good.example>",
    "@here @everyone",
    "&lt;!here&gt; already escaped",
]


def _posted(slack, channel):
    [rendered] = slack.rendered(channel["id"])
    return rendered


def test_a_template_is_posted_as_the_prd_wrote_it(slack, notification_channel, producer, consumer):
    producer.send(
        USER_ID,
        template={"name": "DEPLOYMENT_SUCCESS", "variables": {"project": "api", "environment": "prod", "version": 42}},
        internal_message_id="deploy-42",
    )

    consumer("send").poll()

    shown = _posted(slack, notification_channel)
    assert shown.text == "\U0001f680 *Deployment Successful*\nProject: api\nEnvironment: prod\nVersion: 42"
    assert shown.mentions == () and shown.links == ()


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("template", ["ALERT_TRIGGERED", "ERROR_OCCURRED", "SYSTEM_UPDATE", "DEPLOYMENT_SUCCESS"])
def test_template_variables_cannot_notify_or_disguise_links(
    slack, notification_channel, producer, consumer, template, payload
):
    variables = {
        "ALERT_TRIGGERED": {"title": payload, "message": payload, "severity": payload},
        "ERROR_OCCURRED": {"service": payload, "message": payload, "code": payload},
        "SYSTEM_UPDATE": {"message": payload},
        "DEPLOYMENT_SUCCESS": {"project": payload, "environment": payload, "version": payload},
    }[template]
    producer.send(USER_ID, template={"name": template, "variables": variables})

    consumer("send").poll()

    shown = _posted(slack, notification_channel)
    assert shown.mentions == ()
    assert shown.links == ()
    assert payload in shown.text  # shown literally, exactly as the producer wrote it


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("event_type", ["deployment", "alert", "error", "update", "something-else"])
def test_event_data_cannot_notify_or_disguise_links(
    slack, notification_channel, producer, consumer, event_type, payload
):
    data = {
        key: payload
        for key in ("project", "environment", "version", "duration", "message", "severity", "source", "service", "code")
    }
    data["url"] = "https://ci.example.com/runs/42"
    producer.send(USER_ID, event={"type": event_type, "data": data})

    consumer("send").poll()

    shown = _posted(slack, notification_channel)
    assert shown.mentions == ()
    # The only live link is the deployment's own "View Details" button.
    expected_links = (("View Details", "https://ci.example.com/runs/42"),) if event_type == "deployment" else ()
    assert shown.links == expected_links
    assert payload in shown.text


def test_an_alert_shows_the_time_it_was_enqueued_to_each_reader(slack, notification_channel, producer, consumer):
    producer.send(USER_ID, event={"type": "alert", "data": {"message": "Disk 91% full", "severity": "high"}})

    consumer("send").poll()

    [message] = slack.messages(notification_channel["id"])
    shown = _posted(slack, notification_channel)
    assert "\u26a0\ufe0f Alert Triggered" in shown.text and "Disk 91% full" in shown.text
    assert "*Severity*\nhigh" in shown.text
    time_field = message["blocks"][1]["fields"][-1]["text"]
    assert time_field.startswith("*Time*\n<!date^") and "UTC>" in time_field
    assert message["text"].startswith("\u26a0\ufe0f Alert Triggered: Disk 91% full")


def test_unicode_and_emoji_arrive_intact(slack, notification_channel, producer, consumer):
    text = "Déploiement ✅ 日本語 👩‍💻 <b>"
    producer.send(USER_ID, event={"type": "deployment", "data": {"project": text}})

    consumer("send").poll()

    assert "Deployment of Déploiement ✅ 日本語 👩‍💻 <b> was successful" in _posted(slack, notification_channel).text


def test_a_templated_reply_threads_under_its_original(slack, notification_channel, producer, consumer):
    producer.send(USER_ID, event={"type": "deployment", "data": {"project": "api"}}, internal_message_id="d-1")
    consumer("send").poll()

    producer.reply("d-1", template={"name": "SYSTEM_UPDATE", "variables": {"message": "Rolled back <!here>"}})
    consumer("reply").poll()

    parent, reply = slack.messages(notification_channel["id"])
    assert reply["thread_ts"] == parent["ts"]
    assert slack.rendered(notification_channel["id"])[1].mentions == ()


def test_the_producer_refuses_a_template_missing_a_variable(aws, producer):
    with pytest.raises(ServiceError) as raised:
        producer.send(USER_ID, template={"name": "ERROR_OCCURRED", "variables": {"service": "api", "message": "boom"}})

    assert raised.value.code == "INVALID_MESSAGE"
    assert "variables.code" in raised.value.detail
    messages = aws["sqs"].receive_message(QueueUrl=aws["queues"]["SendQueue"]).get("Messages", [])
    assert messages == []


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        ({"template": {"name": "ERROR_OCCURRED", "variables": {"service": "api"}}}, "variables.message"),
        ({"template": {"name": "NOPE", "variables": {}}}, "unknown template"),
        ({"template": {"name": "SYSTEM_UPDATE", "variables": {"message": "x", "extra": 1}}}, "variables.extra"),
        ({"event": {"type": "Deploy!", "data": {}}}, "event.type"),
        (
            {"message": {"text": "x"}, "event": {"type": "alert", "data": {}}},
            "exactly one of message, template or event",
        ),
    ],
)
def test_a_bad_template_or_event_on_the_queue_is_dead_lettered_not_retried(
    aws, slack, notification_channel, consumer, content, detail
):
    enqueue_raw(aws, {"userId": USER_ID, **content})

    poll = consumer("send").poll()

    assert poll.failed == []
    [entry] = dead_letters(aws["sqs"], aws["queues"]["SendDeadLetterQueue"])
    assert entry["attributes"]["errorCode"] == "INVALID_MESSAGE"
    assert detail in entry["attributes"]["errorDetail"]
    assert slack.calls("chat.postMessage") == []
