"""The deliveries table: one record per delivery (a send, or a reply into one thread), which is
both the idempotency ledger and the delivery log the stats are computed from.

Why not Powertools' idempotency utility: a Slack post has three outcomes, not two. Powertools
deletes its record when the function raises and silently re-runs after an expired in-progress
record; both re-post a message Slack may already hold (a connection that broke after Slack stored
the post, a Lambda that timed out mid-call). Here a record says `posting` (with a lease) before the
post, `delivered` after it, and `uncertain` when the outcome is unknown, so the next attempt
knows to look in Slack before posting again. Each claim and each outcome is one conditional
UpdateItem; every attempt is appended to `outcomes` for the stats.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws
from slack_integration.errors import ServiceError
from slack_integration.models.integration import utc_now


class DeliveryStatus(StrEnum):
    POSTING = "posting"  # an attempt holds the lease and may be talking to Slack right now
    DELIVERED = "delivered"  # Slack holds the message; `slackTs` says where
    RETRYING = "retrying"  # the last attempt failed and Slack definitely did not post it
    UNCERTAIN = "uncertain"  # the last attempt's outcome is unknown: check Slack before posting
    DEAD_LETTERED = "dead_lettered"  # given up on; the message is in the DLQ with this code


@dataclass(frozen=True)
class DeliveryRecord:
    key: str
    status: DeliveryStatus
    attempts: int
    sqs_message_id: str | None
    lease_until: float | None
    uncertain_since: float | None
    last_attempt_at: float | None
    slack_channel_id: str | None
    slack_ts: str | None
    thread_ts: str | None
    threaded: bool | None
    last_error_code: str | None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DeliveryRecord:
        def number(name: str) -> float | None:
            value = item.get(name)
            return float(value) if value is not None else None

        return cls(
            key=item["deliveryKey"],
            status=DeliveryStatus(item.get("status", DeliveryStatus.RETRYING)),
            attempts=int(item.get("attempts", 0)),
            sqs_message_id=item.get("sqsMessageId"),
            lease_until=number("leaseUntil"),
            uncertain_since=number("uncertainSince"),
            last_attempt_at=number("lastAttemptAt"),
            slack_channel_id=item.get("slackChannelId"),
            slack_ts=item.get("slackTs"),
            thread_ts=item.get("threadTs"),
            threaded=item.get("threaded"),
            last_error_code=item.get("lastErrorCode"),
        )

    @property
    def may_have_posted(self) -> bool:
        """An earlier attempt may have reached Slack: it broke mid-call, or died holding the lease."""
        return self.uncertain_since is not None or self.status is DeliveryStatus.POSTING


@dataclass(frozen=True)
class Claim:
    """The answer to "may this attempt post?": granted, or why not (the record that says so)."""

    granted: bool
    previous: DeliveryRecord | None
    started_at: float


class DeliveryLedger(aws.DynamoTable):
    def __init__(self, table_name: str, ttl_days: int, dynamodb: Any = None) -> None:
        super().__init__(table_name, dynamodb)
        self._ttl_seconds = ttl_days * 86_400

    def claim(self, key: str, facts: dict[str, Any], *, sqs_message_id: str, lease_until: float) -> Claim:
        """Take the lease for one attempt, unless the delivery is done, dead-lettered by this very
        SQS message (a redelivery), or leased to a live attempt."""
        now = time.time()
        values = {
            **{f":f_{name}": value for name, value in facts.items() if value is not None},
            ":posting": DeliveryStatus.POSTING.value,
            ":retrying": DeliveryStatus.RETRYING.value,
            ":uncertain": DeliveryStatus.UNCERTAIN.value,
            ":dead": DeliveryStatus.DEAD_LETTERED.value,
            ":lease": round(lease_until, 3),
            ":now": round(now, 3),
            ":nowIso": utc_now(),
            ":mid": sqs_message_id,
            ":one": 1,
            ":ttl": int(now) + self._ttl_seconds,
        }
        sets = [f"{name} = :f_{name}" for name, value in facts.items() if value is not None]
        sets += [
            "#status = :posting",
            "leaseUntil = :lease",
            "lastAttemptAt = :now",
            "sqsMessageId = :mid",
            "firstAttemptAt = if_not_exists(firstAttemptAt, :nowIso)",
            "expiresAt = :ttl",
        ]
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"deliveryKey": {"S": key}},
                UpdateExpression="SET " + ", ".join(sets) + " ADD attempts :one",
                ConditionExpression=(
                    "attribute_not_exists(deliveryKey) OR #status IN (:retrying, :uncertain)"
                    " OR (#status = :dead AND sqsMessageId <> :mid)"
                    " OR (#status = :posting AND leaseUntil < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=aws.to_ddb(values),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException" and "Item" in exc.response:
                refused_by = DeliveryRecord.from_item(aws.from_ddb(exc.response["Item"]))
                return Claim(granted=False, previous=refused_by, started_at=now)
            raise aws.unavailable(exc, "UpdateItem deliveries (claim)") from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "UpdateItem deliveries (claim)") from exc
        old = answer.get("Attributes")
        previous = DeliveryRecord.from_item(aws.from_ddb(old)) if old else None
        return Claim(granted=True, previous=previous, started_at=now)

    def delivered(
        self,
        key: str,
        *,
        channel_id: str,
        ts: str,
        thread_ts: str | None,
        threaded: bool | None,
        post_ms: int | None,
        queue_ms: int | None,
        verified: bool,
        together_with: dict[str, Any] | None = None,
    ) -> None:
        """Mark the delivery done. `together_with` is a Put (TableName, Item) written in the same
        transaction, so a tracked message's mapping and its delivered record exist together or
        not at all, in one call."""
        values: dict[str, Any] = {
            ":delivered": DeliveryStatus.DELIVERED.value,
            ":channel": channel_id,
            ":ts": ts,
            ":at": utc_now(),
            ":outcome": [_outcome("verified" if verified else "delivered", ms=post_ms)],
            ":empty": [],
        }
        sets = [
            "#status = :delivered",
            "slackChannelId = :channel",
            "slackTs = :ts",
            "deliveredAt = :at",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        for name, value in (("threadTs", thread_ts), ("threaded", threaded), ("queueMs", queue_ms)):
            if value is not None:
                values[f":{name}"] = value
                sets.append(f"{name} = :{name}")
        expression = "SET " + ", ".join(sets) + " REMOVE leaseUntil, uncertainSince"
        if together_with is None:
            self._update(key, expression, values, "delivered")
            return
        update = {
            "TableName": self._table,
            "Key": {"deliveryKey": {"S": key}},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": aws.to_ddb(values),
        }
        try:
            self._ddb.transact_write_items(TransactItems=[{"Put": together_with}, {"Update": update}])
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "TransactWriteItems mapping + delivered") from exc

    def attempt_failed(self, key: str, error: ServiceError, *, outcome_unknown: bool, since: float) -> None:
        """Record a failed attempt and release the lease; `outcome_unknown` keeps the time from which
        the next attempt must look for the message in Slack."""
        values: dict[str, Any] = {
            ":status": (DeliveryStatus.UNCERTAIN if outcome_unknown else DeliveryStatus.RETRYING).value,
            ":code": error.code,
            ":outcome": [_outcome("uncertain" if outcome_unknown else "failed", code=error.code)],
            ":empty": [],
        }
        sets = [
            "#status = :status",
            "lastErrorCode = :code",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        if outcome_unknown:
            values[":since"] = round(since, 3)
            sets.append("uncertainSince = if_not_exists(uncertainSince, :since)")
        self._update(key, "SET " + ", ".join(sets) + " REMOVE leaseUntil", values, "attempt")

    def verified_absent(self, key: str) -> None:
        """Slack was checked and holds no earlier post: the next attempt may post without checking."""
        self._update(key, "REMOVE uncertainSince", {}, "verified", status=False)

    def dead_lettered(self, key: str, error: ServiceError, facts: dict[str, Any], *, sqs_message_id: str) -> None:
        """The message is in the DLQ (the caller has already put it there): remember why, and that
        a redelivery of this same SQS message must not post it."""
        now = time.time()
        values: dict[str, Any] = {
            **{f":f_{name}": value for name, value in facts.items() if value is not None},
            ":status": DeliveryStatus.DEAD_LETTERED.value,
            ":code": error.code,
            ":mid": sqs_message_id,
            ":nowIso": utc_now(),
            ":ttl": int(now) + self._ttl_seconds,
            ":outcome": [_outcome("dead_lettered", code=error.code)],
            ":empty": [],
        }
        sets = [f"{name} = :f_{name}" for name, value in facts.items() if value is not None]
        sets += [
            "#status = :status",
            "lastErrorCode = :code",
            "sqsMessageId = :mid",
            "firstAttemptAt = if_not_exists(firstAttemptAt, :nowIso)",
            "expiresAt = if_not_exists(expiresAt, :ttl)",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        self._update(key, "SET " + ", ".join(sets) + " REMOVE leaseUntil", values, "dead_lettered")

    def get(self, key: str) -> DeliveryRecord | None:
        try:
            answer = self._ddb.get_item(TableName=self._table, Key={"deliveryKey": {"S": key}}, ConsistentRead=True)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "GetItem deliveries") from exc
        item = answer.get("Item")
        return DeliveryRecord.from_item(aws.from_ddb(item)) if item else None

    def thread(self, key: str) -> list[dict[str, Any]]:
        """Every delivery of one tracked message to one integration (its send and its replies),
        oldest first (the sparse `byThread` index)."""
        return self._query(
            {
                "IndexName": "byThread",
                "KeyConditionExpression": "threadKey = :key",
                "ExpressionAttributeValues": {":key": {"S": key}},
            },
            "Query deliveries.byThread",
            limit=1000,
        )[0]

    def in_window(self, integration_id: str, start: str, end: str, *, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """An integration's deliveries first attempted in [start, end), at most `limit` of them;
        the flag says whether the window held more."""
        return self._query(
            {
                "IndexName": "byIntegration",
                "KeyConditionExpression": "integrationId = :id AND firstAttemptAt BETWEEN :start AND :end",
                "ExpressionAttributeValues": aws.to_ddb({":id": integration_id, ":start": start, ":end": end}),
            },
            "Query deliveries.byIntegration",
            limit=limit,
        )

    def _query(self, arguments: dict[str, Any], what: str, *, limit: int) -> tuple[list[dict[str, Any]], bool]:
        items: list[dict[str, Any]] = []
        arguments = {"TableName": self._table, **arguments}
        try:
            while True:
                answer = self._ddb.query(**arguments)
                items.extend(aws.from_ddb(item) for item in answer.get("Items", []))
                if "LastEvaluatedKey" not in answer:
                    return items[:limit], len(items) > limit
                if len(items) >= limit:
                    return items[:limit], True
                arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, what) from exc

    def _update(self, key: str, expression: str, values: dict[str, Any], what: str, *, status: bool = True) -> None:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"deliveryKey": {"S": key}},
            "UpdateExpression": expression,
        }
        if status:
            arguments["ExpressionAttributeNames"] = {"#status": "status"}
        if values:
            arguments["ExpressionAttributeValues"] = aws.to_ddb(values)
        try:
            self._ddb.update_item(**arguments)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, f"UpdateItem deliveries ({what})") from exc


def _outcome(outcome: str, *, code: str | None = None, ms: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": utc_now(), "outcome": outcome}
    if code:
        entry["code"] = code
    if ms is not None:
        entry["ms"] = ms
    return entry
