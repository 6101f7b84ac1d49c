"""Lambda's DynamoDB stream event source mapping, played against moto's stream: read the shards
in order, keep what the mapping's FilterCriteria let through, hand it to the function in
batches, and resume after the last record it settled (ReportBatchItemFailures: from the first
failed one, so a retried batch starts there)."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Callable
from typing import Any

from local.template import load_template

Invoke = Callable[[dict[str, Any]], dict[str, Any] | None]


def stream_filters(function: str, event_name: str) -> list[dict[str, Any]]:
    """The FilterCriteria patterns of one of the function's event sources in template.yaml."""
    props = load_template()["Resources"][function]["Properties"]["Events"][event_name]["Properties"]
    return [json.loads(f["Pattern"]) for f in (props.get("FilterCriteria") or {}).get("Filters", [])]


def matches(pattern: Any, value: Any) -> bool:
    """EventBridge-style matching, the subset the template uses: nested keys, lists of allowed values."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return value in pattern
    return bool(pattern == value)


class StreamReader:
    """Reads a table's stream from its start (TRIM_HORIZON), shard by shard, like the mapping."""

    def __init__(self, streams: Any, stream_arn: str, filters: list[dict[str, Any]]) -> None:
        self._streams = streams
        self._arn = stream_arn
        self._filters = filters
        self._after: dict[str, str] = {}  # shard id -> last sequence number settled

    def records(self) -> list[dict[str, Any]]:
        """Every record past what was settled, in shard order, the filters applied."""
        found: list[dict[str, Any]] = []
        shards = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            start = {"ShardIteratorType": "TRIM_HORIZON"}
            if shard_id in self._after:
                start = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after[shard_id]}
            iterator = self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard_id, **start)["ShardIterator"]
            answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            pending_in_shard = False
            for record in answer.get("Records", []):
                record = {**record, "eventSourceARN": self._arn, "_shard": shard_id}
                if not self._filters or any(matches(f, record) for f in self._filters):
                    found.append(record)
                    pending_in_shard = True
                elif not pending_in_shard:
                    # Filtered out before anything pending: the mapping's checkpoint moves past it.
                    self._after[shard_id] = record["dynamodb"]["SequenceNumber"]
        return found

    def deliver(self, invoke: Invoke, *, batch_size: int = 100) -> int:
        """Hand the pending records to `invoke` in batches; returns how many were settled."""
        settled = 0
        pending = self.records()
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            event = {"Records": [{k: v for k, v in r.items() if k != "_shard"} for r in batch]}
            answer = invoke(event) or {}
            failures = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            for record in batch:
                sequence = record["dynamodb"]["SequenceNumber"]
                if sequence in failures:
                    return settled  # the mapping retries from here
                self._after[record["_shard"]] = sequence
                settled += 1
        return settled


class StreamPoller(threading.Thread):
    """The local stack's stream event source: delivers new records every `interval` seconds."""

    def __init__(self, reader: StreamReader, invoke: Invoke, stop: threading.Event, interval: float = 0.5) -> None:
        super().__init__(name="stream-poller", daemon=True)
        self._reader = reader
        self._invoke = invoke
        self._stop_event = stop
        self._interval = interval

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            try:
                self._reader.deliver(self._invoke)
            except Exception:
                if self._stop_event.is_set():
                    return
                traceback.print_exc()
