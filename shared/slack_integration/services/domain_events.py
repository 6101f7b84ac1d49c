"""Buster's domain events, turned into notifications (README "Domain events").

EventBridge rules (template.yaml) match Buster's events and put them, reshaped by an input
transformer into {eventId, source, detailType, at, detail}, on the domain events queue; this
turns each into the queue bodies of its flow and enqueues them with the producer, so every
notification keeps its FIFO group (its user, its original) and its ordering. A function is in
between only because an EventBridge target can give a FIFO queue one fixed message group: that
would put every user's notifications in one line.

| detail-type | source | what happens |
| Deployment Started | buster.deployments | a tracked send, internal id deployment-<deploymentId> |
| Deployment Completed / Failed | buster.deployments | a reply in its thread, and an update of it |
| Alert Triggered | buster.alerts | a tracked send, internal id alert-<alertId> |
| Alert Resolved | buster.alerts | a reply in its thread, and an update of it |

EventBridge delivers at least once: every body carries an idempotency key derived from the
event id (a tracked send is deduplicated by its internal id), so a repeated event posts nothing
twice. Updates take the event's time as their version: a late event never turns back a newer one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from slack_integration.errors import INVALID_MESSAGE
from slack_integration.models.messages import validation_problems
from slack_integration.observability import logger
from slack_integration.producer import NotificationProducer

_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
_Text = str | int | float | None


class DomainEvent(BaseModel):
    """What the rules' input transformer puts on the domain events queue."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    event_id: str = Field(min_length=1, max_length=128)
    source: str
    detail_type: str
    at: datetime
    detail: dict[str, Any]


class _Detail(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    user_id: str = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")


class DeploymentDetail(_Detail):
    deployment_id: str = Field(pattern=_ID)
    project: _Text = None
    environment: _Text = None
    version: _Text = None
    duration: _Text = None
    url: str | None = None
    error: _Text = None


class AlertDetail(_Detail):
    alert_id: str = Field(pattern=_ID)
    message: _Text = None
    severity: _Text = None
    source: _Text = None


Step = Callable[[NotificationProducer, DomainEvent], None]


def _data(detail: BaseModel, status: str) -> dict[str, Any]:
    values = detail.model_dump(exclude={"user_id", "deployment_id", "alert_id"}, exclude_none=True)
    return {**values, "status": status}


def _deployment_started(producer: NotificationProducer, event: DomainEvent) -> None:
    detail = DeploymentDetail.model_validate(event.detail)
    producer.send(
        detail.user_id,
        event={"type": "deployment", "data": _data(detail, "started")},
        internal_message_id=f"deployment-{detail.deployment_id}",
        message_type="deployment",
    )


def _deployment_finished(status: str) -> Step:
    def finished(producer: NotificationProducer, event: DomainEvent) -> None:
        detail = DeploymentDetail.model_validate(event.detail)
        _follow_up(
            producer, event, f"deployment-{detail.deployment_id}", detail.user_id, "deployment", _data(detail, status)
        )

    return finished


def _alert_triggered(producer: NotificationProducer, event: DomainEvent) -> None:
    detail = AlertDetail.model_validate(event.detail)
    producer.send(
        detail.user_id,
        event={"type": "alert", "data": _data(detail, "triggered")},
        internal_message_id=f"alert-{detail.alert_id}",
        message_type="alert",
    )


def _alert_resolved(producer: NotificationProducer, event: DomainEvent) -> None:
    detail = AlertDetail.model_validate(event.detail)
    _follow_up(producer, event, f"alert-{detail.alert_id}", detail.user_id, "alert", _data(detail, "resolved"))


def _follow_up(
    producer: NotificationProducer, event: DomainEvent, internal_id: str, user_id: str, kind: str, data: dict[str, Any]
) -> None:
    """A reply in the original's thread, then the original updated to say the same."""
    content = {"type": kind, "data": data}
    producer.reply(internal_id, event=content, user_id=user_id, idempotency_key=f"event:{event.event_id}:reply")
    producer.update(
        internal_id,
        event=content,
        user_id=user_id,
        version=event.at.isoformat(),
        idempotency_key=f"event:{event.event_id}:update",
    )


FLOWS: dict[tuple[str, str], Step] = {
    ("buster.deployments", "Deployment Started"): _deployment_started,
    ("buster.deployments", "Deployment Completed"): _deployment_finished("succeeded"),
    ("buster.deployments", "Deployment Failed"): _deployment_finished("failed"),
    ("buster.alerts", "Alert Triggered"): _alert_triggered,
    ("buster.alerts", "Alert Resolved"): _alert_resolved,
}


class DomainEventsService:
    def __init__(self, producer: NotificationProducer) -> None:
        self._producer = producer

    def handle(self, body: dict[str, Any]) -> None:
        """Enqueue the notifications of one domain event; ServiceError INVALID_MESSAGE (with what
        is wrong, never the values) when it is not one the flows know or lacks a field."""
        try:
            event = DomainEvent.model_validate(body)
            step = FLOWS.get((event.source, event.detail_type))
            if step is None:
                raise INVALID_MESSAGE.error(detail="no flow for this source and detail-type")
            step(self._producer, event)
        except ValidationError as exc:
            raise INVALID_MESSAGE.error(detail=validation_problems(exc)) from None
        logger.info("Domain event enqueued", extra={"detail_type": event.detail_type, "event_id": event.event_id})
