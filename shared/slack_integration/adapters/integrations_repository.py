"""The integrations table: one item per Buster user (see template.yaml IntegrationsTable)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from slack_integration.adapters import aws
from slack_integration.errors import INTEGRATION_CHANGED, INTEGRATION_NOT_FOUND, ServiceError, health_flag
from slack_integration.models.integration import (
    SWEEP_ACTIVE,
    SWEEP_ATTRIBUTE,
    HealthStatus,
    Integration,
    integration_id_for,
    utc_now,
)
from slack_integration.observability import logger

_to_ddb = aws.to_ddb
_from_ddb = aws.from_ddb


# The user -> integration id pairs a container remembers (an id never changes once made): enough
# for every user a warm consumer meets, bounded so a long-lived container cannot grow without end.
_KNOWN_IDS = 10_000


class IntegrationsRepository(aws.DynamoTable):
    def __init__(self, table_name: str, dynamodb: Any = None) -> None:
        super().__init__(table_name, dynamodb)
        self._known_ids: dict[str, str] = {}

    def get_by_user(self, user_id: str) -> Integration | None:
        try:
            answer = self._ddb.get_item(TableName=self._table, Key=self.key(user_id), ConsistentRead=True)
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "GetItem integrations") from exc
        return self.from_item(answer.get("Item"))

    def get_with(
        self, user_id: str, other_table: str, other_key: dict[str, Any]
    ) -> tuple[Integration | None, dict[str, Any] | None]:
        """The user's integration and one item of another table, in one BatchGetItem (both strongly
        consistent): a follow-up reads its integration and its original's mapping in one call."""
        if other_table == self._table:
            raise ValueError("get_with reads an item of another table")
        found = aws.batch_get(
            self._ddb, {self._table: self.key(user_id), other_table: other_key}, "BatchGetItem integrations + mapping"
        )
        return self.from_item(found[self._table]), found[other_table]

    def id_hint(self, user_id: str) -> str:
        """The user's integration id as far as this container can tell without reading: the one it
        read before, else the id a new integration gets. Right for every integration but one made
        before ids were derived, on its first read in a container."""
        return self._known_ids.get(user_id) or integration_id_for(user_id)

    @staticmethod
    def key(user_id: str) -> dict[str, Any]:
        return {"userId": {"S": user_id}}

    def from_item(self, item: dict[str, Any] | None) -> Integration | None:
        if not item:
            return None
        integration = Integration.from_item(_from_ddb(item))
        if len(self._known_ids) >= _KNOWN_IDS:
            self._known_ids.clear()
        self._known_ids[integration.user_id] = integration.id
        return integration

    def require(self, user_id: str) -> Integration:
        """The user's integration; INTEGRATION_NOT_FOUND (404 / dead-letter) when there is none."""
        integration = self.get_by_user(user_id)
        if integration is None:
            raise INTEGRATION_NOT_FOUND.error()
        return integration

    def get_by_id(self, integration_id: str) -> Integration | None:
        try:
            answer = self._ddb.query(
                TableName=self._table,
                IndexName="byId",
                KeyConditionExpression="id = :id",
                ExpressionAttributeValues={":id": {"S": integration_id}},
                Limit=1,
            )
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "Query integrations.byId") from exc
        items = answer.get("Items", [])
        return Integration.from_item(_from_ddb(items[0])) if items else None

    def put(self, integration: Integration) -> None:
        try:
            self._ddb.put_item(TableName=self._table, Item=_to_ddb(integration.to_item()))
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "PutItem integrations") from exc

    def set_notification_channel(self, integration: Integration, channel_id: str, channel_name: str) -> Integration:
        """Save a channel Slack has just confirmed usable; that also makes the integration healthy.

        The condition on `id` stops a write from landing on an integration that was replaced
        (a reconnect to another workspace) between our read and this write.
        """
        now = utc_now()
        return self._update(
            integration,
            "SET notificationChannelId = :cid, notificationChannelName = :cname, updatedAt = :now, "
            "healthStatus = :healthy, healthCheckedAt = :now REMOVE lastErrorCode",
            {
                ":cid": channel_id,
                ":cname": channel_name,
                ":now": now,
                ":healthy": HealthStatus.HEALTHY.value,
            },
        )

    def record_health(self, integration: Integration, status: HealthStatus, error_code: str | None) -> Integration:
        now = utc_now()
        values: dict[str, Any] = {":status": status.value, ":now": now}
        expression = "SET healthStatus = :status, healthCheckedAt = :now, updatedAt = :now"
        if error_code:
            expression += ", lastErrorCode = :code"
            values[":code"] = error_code
        else:
            expression += " REMOVE lastErrorCode"
        return self._update(integration, expression, values)

    def flag_problem(
        self, integration: Integration, error: ServiceError, *, about_notification_channel: bool = True
    ) -> None:
        """Remember on the integration that only the user can fix this error (reconnect, pick a new
        channel; `errors.health_flag` decides), so status and the health sweep show it. Best
        effort: failing to record it must not hide the error itself, which the caller reports."""
        flag = health_flag(error, about_notification_channel=about_notification_channel)
        if flag is None:
            return
        status = HealthStatus.flagged(flag)
        if integration.health_status is status and integration.last_error_code == error.code:
            return
        try:
            self.record_health(integration, status, error.code)
        except ServiceError as record_error:
            logger.warning(
                "Could not flag the integration",
                extra={"integration_id": integration.id, "flag": status.value, "code": record_error.code},
            )

    def take_thread_read(self, integration: Integration, *, now: float, window_seconds: float) -> bool:
        """Take the workspace's conversations.replies budget for a dashboard read: refused while a
        read was made in the last `window_seconds`, or while the delivery recovery holds it (Slack
        allows some apps one such call a minute per workspace, and recovery comes first)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key={"userId": {"S": integration.user_id}},
                UpdateExpression="SET threadReadAt = :now",
                ConditionExpression=(
                    "id = :id AND (attribute_not_exists(threadReadAt) OR threadReadAt < :before)"
                    " AND (attribute_not_exists(recoveryHoldUntil) OR recoveryHoldUntil < :now)"
                ),
                ExpressionAttributeValues=_to_ddb(
                    {":id": integration.id, ":now": round(now, 3), ":before": round(now - window_seconds, 3)}
                ),
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise aws.unavailable(exc, "UpdateItem integrations (thread read)") from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, "UpdateItem integrations (thread read)") from exc
        return True

    def hold_reads_for_recovery(self, integration: Integration, *, until: float) -> None:
        """Keep dashboard reads off Slack's history budget until `until`: a search for a lost
        post was throttled and goes on then. Best effort (the dashboard only degrades)."""
        try:
            self._update(integration, "SET recoveryHoldUntil = :until", {":until": round(until, 3)})
        except ServiceError as err:
            logger.warning("Could not reserve Slack reads for recovery", extra={"code": err.code})

    def deactivate(self, integration: Integration, error_code: str | None = None) -> Integration:
        """Inactive until the user reconnects; `error_code` says why (the status route shows it)."""
        values: dict[str, Any] = {":false": False, ":status": HealthStatus.NEEDS_RECONNECT.value, ":now": utc_now()}
        expression = "SET isActive = :false, healthStatus = :status, updatedAt = :now"
        if error_code:
            expression += ", lastErrorCode = :code"
            values[":code"] = error_code
        return self._update(integration, f"{expression} REMOVE {SWEEP_ATTRIBUTE}", values)

    def by_team(self, team_id: str) -> list[Integration]:
        """Every integration connected to a Slack workspace (Slack's events name the workspace;
        several Buster users may have connected the same one)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "byTeam",
            "KeyConditionExpression": "teamId = :team",
            "ExpressionAttributeValues": {":team": {"S": team_id}},
        }
        found: list[Integration] = []
        while True:
            try:
                answer = self._ddb.query(**arguments)
            except (BotoCoreError, ClientError) as exc:
                raise aws.unavailable(exc, "Query integrations.byTeam") from exc
            found.extend(Integration.from_item(_from_ddb(item)) for item in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return found
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def rename_channel(self, integration: Integration, channel_id: str, name: str) -> Integration:
        """Follow a rename in Slack, unless the user has chosen another channel meanwhile."""
        return self._update(
            integration,
            "SET notificationChannelName = :name, updatedAt = :now",
            {":cid": channel_id, ":name": name, ":now": utc_now()},
            condition="id = :id AND notificationChannelId = :cid",
            what="UpdateItem integrations (rename)",
        )

    def stalest(self, *, checked_before: str, page_size: int) -> Iterator[list[Integration]]:
        """Active integrations last checked before `checked_before`, stalest first, page by page
        (the `byHealthCheck` index: a sweep that stops early resumes with the ones it missed)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "byHealthCheck",
            "KeyConditionExpression": "#sweep = :active AND healthCheckedAt < :before",
            "ExpressionAttributeNames": {"#sweep": SWEEP_ATTRIBUTE},
            "ExpressionAttributeValues": _to_ddb({":active": SWEEP_ACTIVE, ":before": checked_before}),
            "Limit": page_size,
        }
        while True:
            try:
                answer = self._ddb.query(**arguments)
            except (BotoCoreError, ClientError) as exc:
                raise aws.unavailable(exc, "Query integrations.byHealthCheck") from exc
            page = [Integration.from_item(_from_ddb(item)) for item in answer.get("Items", [])]
            if page:
                yield page
            if "LastEvaluatedKey" not in answer:
                return
            arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def scan(self) -> Iterator[Integration]:
        """Every integration, page by page (operator tooling only: never on a request path)."""
        paginator = self._ddb.get_paginator("scan")
        try:
            for page in paginator.paginate(TableName=self._table):
                for item in page.get("Items", []):
                    yield Integration.from_item(_from_ddb(item))
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "Scan integrations") from exc

    def _update(
        self,
        integration: Integration,
        expression: str,
        values: dict[str, Any],
        *,
        condition: str = "id = :id",
        what: str = "UpdateItem integrations",
    ) -> Integration:
        """The update, on the condition that the item is still this integration (INTEGRATION_CHANGED
        otherwise: a reconnect replaced it meanwhile)."""
        values = {**values, ":id": integration.id}
        try:
            answer = self._ddb.update_item(
                TableName=self._table,
                Key={"userId": {"S": integration.user_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=_to_ddb(values),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                raise INTEGRATION_CHANGED.error() from exc
            raise aws.unavailable(exc, what) from exc
        except BotoCoreError as exc:
            raise aws.unavailable(exc, what) from exc
        return Integration.from_item(_from_ddb(answer["Attributes"]))
