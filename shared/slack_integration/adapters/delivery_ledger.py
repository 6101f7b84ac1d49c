"""The deliveries table: one `DeliveryRecord` per delivery, which is both the idempotency ledger
and the delivery log that thread history and stats read (models/delivery.py has the states).

Why not Powertools' idempotency utility: a Slack post has three outcomes, not two. Powertools
deletes its record when the function raises and silently re-runs after an expired in-progress
record; both re-post a message Slack may already hold (a connection that broke after Slack stored
the post, a Lambda that timed out mid-call). Here a record says `posting` (with a lease) before the
post, `delivered` after it, and `uncertain` when the outcome is unknown, so the next attempt
knows to look in Slack before posting again. Each claim and each outcome is one conditional
UpdateItem (a tracked send's delivered record is one transaction with its mapping); every
attempt is appended to `outcomes` for the stats.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws
from slack_integration.adapters.mappings_repository import MappingsRepository, MessageMapping
from slack_integration.errors import ServiceError
from slack_integration.models.delivery import (
    Claim,
    DeliveryFacts,
    DeliveryRecord,
    DeliveryStatus,
    Kind,
    Landed,
    Outcome,
)
from slack_integration.models.integration import utc_now

_STATUS = {"#status": "status"}
# What "an earlier attempt may have posted" consists of; cleared together once it is resolved.
_UNCERTAINTY = "uncertainSince, uncertainUntil, lookCursor"


class DeliveryLedger(aws.DynamoTable):
    def __init__(self, table_name: str, ttl_days: int, mappings: MappingsRepository, dynamodb: Any = None) -> None:
        super().__init__(table_name, dynamodb)
        self._ttl_seconds = ttl_days * 86_400
        self._mappings = mappings

    # -- the state machine -----------------------------------------------------------------------

    def claim(self, facts: DeliveryFacts, *, sqs_message_id: str, lease_until: float) -> Claim:
        """Take the lease for one attempt, unless the delivery is done, dead-lettered by this very
        SQS message (a redelivery), or leased to a live attempt."""
        now = time.time()
        sets, values = _facts_set(facts)
        values |= {
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
                Key=self._key(facts.key),
                UpdateExpression="SET " + ", ".join(sets) + " ADD attempts :one",
                ConditionExpression=(
                    "attribute_not_exists(deliveryKey) OR #status IN (:retrying, :uncertain)"
                    " OR (#status = :dead AND sqsMessageId <> :mid)"
                    " OR (#status = :posting AND leaseUntil < :now)"
                ),
                ExpressionAttributeNames=_STATUS,
                ExpressionAttributeValues=aws.to_ddb(values),
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException" and "Item" in exc.response:
                return Claim(granted=False, previous=_record(exc.response["Item"]), started_at=now)
            raise aws.unavailable(exc, "UpdateItem deliveries (claim)") from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "UpdateItem deliveries (claim)") from exc
        old = answer.get("Attributes")
        return Claim(granted=True, previous=_record(old) if old else None, started_at=now)

    def delivered(
        self,
        key: str,
        landed: Landed,
        *,
        mapping: MessageMapping | None = None,
        also: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Mark the delivery done. A tracked send's `mapping` and whatever else the delivery changes
        (`also`: an update's change of the mapping, a follow-up's count on its send) are written in
        the same transaction, so all happen together or not at all, in one call."""
        values: dict[str, Any] = {
            ":delivered": DeliveryStatus.DELIVERED.value,
            ":channel": landed.channel_id,
            ":ts": landed.ts,
            ":at": utc_now(),
            ":outcome": [_outcome("verified" if landed.verified else "delivered", ms=landed.post_ms)],
            ":empty": [],
        }
        sets = [
            "#status = :delivered",
            "slackChannelId = :channel",
            "slackTs = :ts",
            "deliveredAt = :at",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        for name, value in (
            ("threadTs", landed.thread_ts),
            ("threaded", landed.threaded),
            ("queueMs", landed.queue_ms),
            ("permalink", landed.permalink),
        ):
            if value is not None:
                values[f":{name}"] = value
                sets.append(f"{name} = :{name}")
        update = {
            "TableName": self._table,
            "Key": self._key(key),
            "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + _UNCERTAINTY + ", leaseUntil",
            "ExpressionAttributeNames": _STATUS,
            "ExpressionAttributeValues": aws.to_ddb(values),
        }
        items = [{"Put": self._mappings.put_request(mapping)}] if mapping is not None else []
        items += [{"Update": change} for change in also]
        if not items:
            self._update(update, "delivered")
            return
        try:
            self._ddb.transact_write_items(TransactItems=[*items, {"Update": update}])
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "TransactWriteItems delivered + mapping / send") from exc

    def counted_on_send(self, send_key: str, kind: Kind, *, preview: str | None = None) -> dict[str, Any]:
        """An Update of a transaction (`delivered(also=...)`): a delivered reply or update counted
        on its original's send record, with an update's content as the send's current preview, so
        that GET /messages lists replies and updates without reading them. A send record that has
        expired gets only the count (and a TTL), which no index lists."""
        counter = "replyCount" if kind == "reply" else "updateCount"
        values: dict[str, Any] = {":one": 1, ":ttl": int(time.time()) + self._ttl_seconds}
        sets = ["expiresAt = if_not_exists(expiresAt, :ttl)"]
        if preview is not None:
            values[":preview"] = preview
            sets.append("currentPreview = :preview")
        return {
            "TableName": self._table,
            "Key": self._key(send_key),
            "UpdateExpression": "SET " + ", ".join(sets) + f" ADD {counter} :one",
            "ExpressionAttributeValues": aws.to_ddb(values),
        }

    def attempt_failed(
        self,
        key: str,
        error: ServiceError,
        *,
        outcome_unknown: bool,
        since: float,
        until: float | None = None,
        look_cursor: str | None = None,
    ) -> None:
        """Record a failed attempt and release the lease.

        With `outcome_unknown` the record becomes `uncertain`: Slack may have stored a post made
        between the first such attempt's start (`since`) and `until`, and the next attempt must
        look there first (resuming at `look_cursor` when a look was cut short). Otherwise Slack
        answered (it did not post), and an attempt only posts once any earlier uncertainty is
        resolved, so the record is plainly `retrying`."""
        status = DeliveryStatus.UNCERTAIN if outcome_unknown else DeliveryStatus.RETRYING
        values: dict[str, Any] = {
            ":status": status.value,
            ":code": error.code,
            ":outcome": [_outcome("uncertain" if outcome_unknown else "failed", code=error.code)],
            ":empty": [],
        }
        sets = [
            "#status = :status",
            "lastErrorCode = :code",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        removes = ["leaseUntil"]
        if not outcome_unknown:
            removes.append(_UNCERTAINTY)
        else:
            values[":since"] = round(since, 3)
            sets.append("uncertainSince = if_not_exists(uncertainSince, :since)")
            if until is not None:
                values[":until"] = round(until, 3)
                sets.append("uncertainUntil = :until")
            if look_cursor:
                values[":cursor"] = look_cursor
                sets.append("lookCursor = :cursor")
            elif until is not None:
                # A new uncertain post widens the window: a cursor of the old one is no use.
                removes.append("lookCursor")
        expression = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        self._update(self._arguments(key, expression, values), "attempt")

    def verified_absent(self, key: str) -> None:
        """Slack was searched and holds no earlier post: this attempt may post."""
        arguments = {"TableName": self._table, "Key": self._key(key), "UpdateExpression": "REMOVE " + _UNCERTAINTY}
        self._update(arguments, "verified")

    def dead_lettered(
        self,
        facts: DeliveryFacts,
        error: ServiceError,
        *,
        sqs_message_id: str,
        status: DeliveryStatus = DeliveryStatus.DEAD_LETTERED,
    ) -> None:
        """The message is in the DLQ (the caller has already put it there): remember why, and that
        a redelivery of this same SQS message must not post it. `status` STALE: an update dropped
        because a newer one was applied (or is about to be), final like a dead letter."""
        now = time.time()
        sets, values = _facts_set(facts)
        values |= {
            ":status": status.value,
            ":code": error.code,
            ":mid": sqs_message_id,
            ":nowIso": utc_now(),
            ":ttl": int(now) + self._ttl_seconds,
            ":outcome": [_outcome(status.value, code=error.code)],
            ":empty": [],
        }
        sets += [
            "#status = :status",
            "lastErrorCode = :code",
            "sqsMessageId = :mid",
            "firstAttemptAt = if_not_exists(firstAttemptAt, :nowIso)",
            "expiresAt = if_not_exists(expiresAt, :ttl)",
            "outcomes = list_append(if_not_exists(outcomes, :empty), :outcome)",
        ]
        expression = "SET " + ", ".join(sets) + " REMOVE leaseUntil, " + _UNCERTAINTY
        arguments = self._arguments(facts.key, expression, values)
        if status is DeliveryStatus.STALE:
            # A redelivery of an update that was applied is a duplicate, not a stale update.
            arguments["ConditionExpression"] = "attribute_not_exists(deliveryKey) OR #status <> :delivered"
            arguments["ExpressionAttributeValues"][":delivered"] = {"S": DeliveryStatus.DELIVERED.value}
            try:
                self._ddb.update_item(**arguments)
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise aws.unavailable(exc, "UpdateItem deliveries (stale)") from exc
            except BotoCoreError as exc:
                raise aws.unavailable(exc, "UpdateItem deliveries (stale)") from exc
            return
        self._update(arguments, "dead_lettered")

    # -- reads -----------------------------------------------------------------------------------

    def get(self, key: str) -> DeliveryRecord | None:
        try:
            answer = self._ddb.get_item(TableName=self._table, Key=self._key(key), ConsistentRead=True)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "GetItem deliveries") from exc
        item = answer.get("Item")
        return _record(item) if item else None

    def thread(self, key: str) -> list[DeliveryRecord]:
        """Every delivery of one tracked message to one integration (its send and its replies),
        oldest first (the sparse `byThread` index)."""
        arguments = {
            "IndexName": "byThread",
            "KeyConditionExpression": "threadKey = :key",
            "ExpressionAttributeValues": {":key": {"S": key}},
        }
        return self._query(arguments, "Query deliveries.byThread", limit=1000)[0]

    def sends_of(self, internal_message_id: str) -> list[DeliveryRecord]:
        """The tracked sends of one internal id, to every user, whatever their state (the
        `byMessage` index): who a reply to this id is for, also while an original is on its way."""
        arguments = {
            "IndexName": "byMessage",
            "KeyConditionExpression": "internalMessageId = :id AND #kind = :send",
            "ExpressionAttributeNames": {"#kind": "kind"},
            "ExpressionAttributeValues": aws.to_ddb({":id": internal_message_id, ":send": "send"}),
        }
        return self._query(arguments, "Query deliveries.byMessage", limit=10_000)[0]

    def recent_sends(
        self, integration_id: str, *, limit: int, after: dict[str, str] | None = None
    ) -> tuple[list[DeliveryRecord], dict[str, str] | None]:
        """One page of an integration's tracked sends, newest first (the sparse `trackedSends`
        index: no reply and no untracked send is read), and the index key the next page starts
        after (None: this was the last). One item more than the page is read, so a page that ends
        the list says so instead of promising a next page that is empty."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "trackedSends",
            "KeyConditionExpression": "trackedFor = :id",
            "ExpressionAttributeValues": {":id": {"S": integration_id}},
            "ScanIndexForward": False,
            "Limit": limit + 1,
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = aws.to_ddb(after)
        try:
            answer = self._ddb.query(**arguments)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "Query deliveries.trackedSends") from exc
        records = [_record(item) for item in answer.get("Items", [])]
        if len(records) > limit:
            last = records[limit - 1]
            return records[:limit], {
                "trackedFor": integration_id,
                "firstAttemptAt": last.first_attempt_at or "",
                "deliveryKey": last.key,
            }
        more = answer.get("LastEvaluatedKey")  # only if DynamoDB's 1 MB page ended first
        return records, aws.from_ddb(more) if more else None

    def in_window(self, integration_id: str, start: str, end: str, *, limit: int) -> tuple[list[DeliveryRecord], bool]:
        """An integration's deliveries first attempted in [start, end], at most `limit` of them;
        the flag says whether the window held more."""
        arguments = {
            "IndexName": "byIntegration",
            "KeyConditionExpression": "integrationId = :id AND firstAttemptAt BETWEEN :start AND :end",
            "ExpressionAttributeValues": aws.to_ddb({":id": integration_id, ":start": start, ":end": end}),
        }
        return self._query(arguments, "Query deliveries.byIntegration", limit=limit)

    # -- internals -------------------------------------------------------------------------------

    def _key(self, key: str) -> dict[str, Any]:
        return {"deliveryKey": {"S": key}}

    def _arguments(self, key: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": self._key(key),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": _STATUS,
            "ExpressionAttributeValues": aws.to_ddb(values),
        }

    def _query(self, arguments: dict[str, Any], what: str, *, limit: int) -> tuple[list[DeliveryRecord], bool]:
        records: list[DeliveryRecord] = []
        arguments = {"TableName": self._table, **arguments}
        try:
            while True:
                answer = self._ddb.query(**arguments)
                records.extend(_record(item) for item in answer.get("Items", []))
                if "LastEvaluatedKey" not in answer:
                    return records[:limit], len(records) > limit
                if len(records) >= limit:
                    return records[:limit], True
                arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, what) from exc

    def _update(self, arguments: dict[str, Any], what: str) -> None:
        try:
            self._ddb.update_item(**arguments)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, f"UpdateItem deliveries ({what})") from exc


def _facts_set(facts: DeliveryFacts) -> tuple[list[str], dict[str, Any]]:
    """SET clauses and values that write a delivery's facts (everything but its key)."""
    described = facts.to_item()
    described.pop("deliveryKey")
    return [f"{name} = :f_{name}" for name in described], {f":f_{name}": value for name, value in described.items()}


def _record(item: dict[str, Any]) -> DeliveryRecord:
    return DeliveryRecord.model_validate(aws.from_ddb(item))


def _outcome(outcome: str, *, code: str | None = None, ms: int | None = None) -> dict[str, Any]:
    return Outcome.model_validate({"at": utc_now(), "outcome": outcome, "code": code, "ms": ms}).to_item()
