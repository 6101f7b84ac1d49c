"""Buster's domain events in: a service only calls PutEvents; the template's rules (in moto's
EventBridge, with their input transformers) put the events on the domain events queue, the
function turns them into send / reply / update bodies, and the consumers deliver them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import USER_ID
from tests.support.records import release_handed_back
from tests.support.sqs import dead_letters

pytestmark = pytest.mark.usefixtures("unbudgeted_thread_reads")

DEPLOYMENT = {"userId": USER_ID, "deploymentId": "d-77", "project": "buster-api", "environment": "production"}


def flow(consumer: Any) -> Any:
    """Every function a domain event passes through, in order, until nothing is left to do."""
    intake = consumer("domain_events")  # the rules exist from here on

    def run() -> None:
        intake.drain()
        consumer("send").drain()
        consumer("reply").drain()

    return run


def thread(slack: Any, channel: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [parent, *replies] = slack.messages(channel["id"])
    return parent, replies


def test_a_deployment_played_from_two_domain_events(aws, slack, notification_channel, producer, consumer, invoke):
    run = flow(consumer)

    producer.publish_domain_event("buster.deployments", "Deployment Started", {**DEPLOYMENT, "version": "2.0.1"})
    run()
    parent, replies = thread(slack, notification_channel)
    assert "Deployment Started" in parent["text"] and replies == []

    completed = {**DEPLOYMENT, "version": "2.0.1", "duration": "4m 2s"}
    producer.publish_domain_event("buster.deployments", "Deployment Completed", completed)
    run()

    parent, [reply] = thread(slack, notification_channel)
    assert "Deployment Complete" in parent["text"] and "was successful" in parent["text"]  # updated in place
    assert "*Status*\nSucceeded" in json.dumps(parent["blocks"]).replace("\\n", "\n")
    assert reply["thread_ts"] == parent["ts"] and "was successful" in reply["text"]
    answer = invoke("thread", "GET", "/messages/deployment-d-77/thread").body
    assert answer["original"]["updates"] == 1 and "Deployment Complete" in answer["original"]["preview"]
    assert [r["status"] for r in answer["replies"]] == ["delivered"]


def test_a_failed_deployment_says_so_in_place_and_in_the_thread(aws, slack, notification_channel, producer, consumer):
    run = flow(consumer)
    producer.publish_domain_event("buster.deployments", "Deployment Started", DEPLOYMENT)
    run()
    producer.publish_domain_event("buster.deployments", "Deployment Failed", {**DEPLOYMENT, "error": "migrations"})
    run()

    parent, [reply] = thread(slack, notification_channel)
    assert "Deployment Failed" in parent["text"] and "migrations" in parent["text"]
    assert "Deployment Failed" in reply["text"]


def test_an_alert_triggered_then_resolved(aws, slack, notification_channel, producer, consumer):
    run = flow(consumer)
    alert = {"userId": USER_ID, "alertId": "a-9", "message": "p95 latency over 2 s", "severity": "high"}
    producer.publish_domain_event("buster.alerts", "Alert Triggered", alert)
    run()
    producer.publish_domain_event("buster.alerts", "Alert Resolved", {**alert, "message": "p95 back under 2 s"})
    run()

    parent, [reply] = thread(slack, notification_channel)
    assert "Alert Resolved" in parent["text"] and "back under" in parent["text"]
    assert "Alert Resolved" in reply["text"]


def test_the_same_event_delivered_twice_posts_nothing_twice(aws, slack, notification_channel, producer, consumer):
    run = flow(consumer)
    producer.publish_domain_event("buster.deployments", "Deployment Started", DEPLOYMENT)
    run()
    # EventBridge delivers at least once: the same event (same id) lands on the queue again.
    body = {
        "eventId": "ev-1",
        "source": "buster.deployments",
        "detailType": "Deployment Completed",
        "at": "2026-12-01T12:00:00Z",
        "detail": DEPLOYMENT,
    }
    for _ in range(2):
        aws["sqs"].send_message(QueueUrl=aws["queues"]["DomainEventsQueue"], MessageBody=json.dumps(body))
    run()

    _, replies = thread(slack, notification_channel)
    assert len(replies) == 1 and len(slack.calls("chat.update")) == 1


def test_events_of_other_sources_or_types_are_not_routed(aws, slack, notification_channel, producer, consumer):
    run = flow(consumer)
    producer.publish_domain_event("buster.billing", "Deployment Started", DEPLOYMENT)
    producer.publish_domain_event("buster.deployments", "Deployment Paused", DEPLOYMENT)
    run()

    assert slack.messages(notification_channel["id"]) == []
    assert dead_letters(aws["sqs"], aws["queues"]["DomainEventsDeadLetterQueue"]) == []


def test_an_event_missing_what_its_flow_needs_ends_in_the_dead_letter_queue(
    aws, slack, notification_channel, producer, consumer
):
    intake = consumer("domain_events")
    producer.publish_domain_event("buster.deployments", "Deployment Started", {"userId": USER_ID})  # no deploymentId

    for _ in range(5):  # the queue's maxReceiveCount: retried, never dropped
        poll = intake.poll()
        assert poll is not None and poll.failed == poll.received
        release_handed_back(aws, intake)

    assert intake.poll() is None
    [dead] = dead_letters(aws["sqs"], aws["queues"]["DomainEventsDeadLetterQueue"])
    assert dead["body"]["detailType"] == "Deployment Started" and dead["body"]["detail"] == {"userId": USER_ID}
    assert slack.messages(notification_channel["id"]) == []
