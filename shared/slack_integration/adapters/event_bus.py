"""EventBridge: where the delivery receipts go (the bus named by EVENT_BUS_NAME)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws

SOURCE = "buster.slack-messaging"
# PutEvents takes at most 10 entries (and 256 KiB) per call.
PUT_EVENTS_ENTRIES = 10


@dataclass(frozen=True)
class BusEvent:
    detail_type: str
    detail: dict[str, Any]
    time: datetime | None = None


class EventBus:
    def __init__(self, bus_name: str, events: Any = None) -> None:
        self._bus = bus_name
        self._client = events

    @property
    def _events(self) -> Any:
        if self._client is None:
            self._client = aws.client("events")
        return self._client

    def put(self, events: Sequence[BusEvent]) -> list[int]:
        """Publish, ten per call; the indexes of the events EventBridge did not take (a call that
        failed outright counts all of its events)."""
        failed: list[int] = []
        for start in range(0, len(events), PUT_EVENTS_ENTRIES):
            chunk = events[start : start + PUT_EVENTS_ENTRIES]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": event.detail_type,
                    "Detail": json.dumps(event.detail, separators=(",", ":")),
                    "EventBusName": self._bus,
                    **({"Time": event.time} if event.time else {}),
                }
                for event in chunk
            ]
            try:
                answer = self._events.put_events(Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                aws.unavailable(exc, "PutEvents")
                failed.extend(range(start, start + len(chunk)))
                continue
            for offset, result in enumerate(answer.get("Entries", [])):
                if result.get("ErrorCode"):
                    failed.append(start + offset)
        return failed
