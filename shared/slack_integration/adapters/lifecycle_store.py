"""The lifecycle table: short-lived records of the Slack app lifecycle (template LifecycleTable).

- `state#<sha256 of the state>`: an Add to Slack in progress, bound to the Buster user who
  started it. Only the hash is stored, so a reader of the table cannot finish someone's install.
  Single use: redeeming marks it used in the same conditional write that reads it.
- `refresh#<integration id>`: a lease on renewing one integration's rotating token, so two
  functions never renew it at once (Slack would hand each its own token, and the second write
  would overwrite the first one's), and until when the last renewal lasts.
- Slack events already handled, written by Powertools' idempotency utility (its own key format).
- `receipt#<receipt id>`: a delivery receipt already published on EventBridge.

Every item carries `expiration` (epoch seconds), the table's TTL attribute; TTL deletes lazily,
so reads check it too.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws
from slack_integration.errors import INSTALL_STATE_EXPIRED, INSTALL_STATE_INVALID, INSTALL_STATE_USED

# Slack's own guidance and slack_sdk's default: an install must finish within 10 minutes.
STATE_TTL_SECONDS = 600
# Longer than a refresh takes (one Slack call and one secret write), short enough that a function
# that died holding it does not block the next refresh for long.
REFRESH_LEASE_SECONDS = 20
# Stream records are retried for at most a day (the template's MaximumRecordAgeInSeconds).
RECEIPT_MEMORY_SECONDS = 86_400


def _state_key(state: str) -> str:
    return "state#" + hashlib.sha256(state.encode()).hexdigest()


class LifecycleStore(aws.DynamoTable):
    # -- install states ----------------------------------------------------------------------

    def issue_state(self, user_id: str, *, now: float | None = None) -> str:
        state = secrets.token_urlsafe(32)
        issued = now or time.time()
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=aws.to_ddb(
                    {
                        "id": _state_key(state),
                        "userId": user_id,
                        "issuedAt": int(issued),
                        "expiration": int(issued) + STATE_TTL_SECONDS,
                    }
                ),
                ConditionExpression="attribute_not_exists(id)",
            )
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "PutItem lifecycle (state)") from exc
        return state

    def redeem_state(self, state: str, *, now: float | None = None) -> str:
        """The user who issued `state`, marking it used; INSTALL_STATE_* when it is unknown,
        used or expired. A used state stays used even if its redeemer then fails."""
        at = int(now or time.time())
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"id": {"S": _state_key(state)}},
                UpdateExpression="SET usedAt = :now",
                ConditionExpression="attribute_exists(id) AND attribute_not_exists(usedAt)",
                ExpressionAttributeValues={":now": {"N": str(at)}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                spent = INSTALL_STATE_USED if exc.response.get("Item") else INSTALL_STATE_INVALID
                raise spent.error() from None
            raise aws.unavailable(exc, "UpdateItem lifecycle (state)") from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "UpdateItem lifecycle (state)") from exc
        item = aws.from_ddb(answer["Attributes"])
        if int(item.get("expiration", 0)) <= at:
            raise INSTALL_STATE_EXPIRED.error()
        return str(item["userId"])

    # -- token renewal leases ----------------------------------------------------------------

    def take_refresh_lease(self, integration_id: str, *, due_before: float, now: float | None = None) -> int | None:
        """The right to renew this integration's token now (the lease's end, to hand back to
        `release_refresh_lease`), or None: while another function holds it, and once a renewal
        was made that lasts past `due_before` (a function that read the secret before that
        renewal was written must not renew again, with a refresh token that may be spent; and
        Secrets Manager's reads may lag its writes by a moment).

        Whole-item puts, taking and giving back: each is one atomic write."""
        at = now or time.time()
        until = int(at) + REFRESH_LEASE_SECONDS
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=aws.to_ddb({"id": f"refresh#{integration_id}", "leaseUntil": until, "expiration": until}),
                ConditionExpression=(
                    "attribute_not_exists(id) OR ((attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
                    " AND (attribute_not_exists(renewedExpiresAt) OR renewedExpiresAt <= :due))"
                ),
                ExpressionAttributeValues=aws.to_ddb({":now": int(at), ":due": int(due_before)}),
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise aws.unavailable(exc, "PutItem lifecycle (renewal lease)") from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "PutItem lifecycle (renewal lease)") from exc
        return until

    def release_refresh_lease(self, integration_id: str, lease: int, *, renewed_expires_at: int | None = None) -> None:
        """Give the lease back (unless it ran out and someone else holds it now), remembering
        until when the renewal made under it lasts: the record then lives as long as that token.
        Best effort: a lease not given back only delays the next renewal by its few seconds."""
        item: dict[str, object] = {"id": f"refresh#{integration_id}", "expiration": int(time.time())}
        if renewed_expires_at is not None:
            item.update(renewedExpiresAt=renewed_expires_at, expiration=renewed_expires_at)
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=aws.to_ddb(item),
                ConditionExpression="leaseUntil = :lease",
                ExpressionAttributeValues={":lease": {"N": str(lease)}},
            )
        except (BotoCoreError, ClientError) as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                aws.unavailable(exc, "PutItem lifecycle (renewal lease)")

    # -- receipts published ------------------------------------------------------------------

    def already_published(self, receipt_ids: list[str]) -> set[str]:
        """Which of these receipts were published already (a redelivered stream batch)."""
        found: set[str] = set()
        for start in range(0, len(receipt_ids), 100):  # BatchGetItem's limit
            keys = [{"id": {"S": f"receipt#{rid}"}} for rid in dict.fromkeys(receipt_ids[start : start + 100])]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ProjectionExpression": "id"}}
            try:
                while request:
                    answer = self._ddb.batch_get_item(RequestItems=request)
                    for item in answer.get("Responses", {}).get(self._table, []):
                        found.add(item["id"]["S"].removeprefix("receipt#"))
                    request = answer.get("UnprocessedKeys") or {}
            except (BotoCoreError, ClientError) as exc:
                raise aws.unavailable(exc, "BatchGetItem lifecycle (receipts)") from exc
        return found

    def remember_published(self, receipt_ids: list[str]) -> None:
        """Best effort: a receipt not remembered may be published again (consumers dedupe)."""
        expiration = int(time.time()) + RECEIPT_MEMORY_SECONDS
        for start in range(0, len(receipt_ids), 25):  # BatchWriteItem's limit
            writes = [
                {"PutRequest": {"Item": {"id": {"S": f"receipt#{rid}"}, "expiration": {"N": str(expiration)}}}}
                for rid in dict.fromkeys(receipt_ids[start : start + 25])
            ]
            request: dict[str, Any] = {self._table: writes}
            try:
                while request:
                    request = self._ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            except (BotoCoreError, ClientError) as exc:
                aws.unavailable(exc, "BatchWriteItem lifecycle (receipts)")
                return
