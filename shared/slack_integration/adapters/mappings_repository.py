"""The message mappings table: where each tracked notification landed in Slack (see template.yaml).

One item per (internal message id, integration): the same internal id sent to several users has
one mapping per user's integration, and a reply threads under every one of them.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from slack_integration.adapters import aws


class MessageMapping(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    internal_message_id: str
    integration_id: str
    user_id: str
    slack_channel_id: str
    slack_message_ts: str
    message_type: str | None = None
    sent_at: str
    # Epoch seconds: DynamoDB TTL removes the mapping after the reply window (set when written).
    expires_at: int | None = None
    # Updates in place: the version applied last, how many were applied, the content now shown.
    applied_version: int | None = None
    update_count: int = 0
    current_preview: str | None = None
    content_updated_at: str | None = None


class MappingsRepository(aws.DynamoTable):
    def __init__(self, table_name: str, ttl_days: int, dynamodb: Any = None) -> None:
        super().__init__(table_name, dynamodb)
        self._ttl_seconds = ttl_days * 86_400

    def put_request(self, mapping: MessageMapping) -> dict[str, Any]:
        """The mapping as a Put of a DynamoDB transaction (the ledger writes it together with the
        delivered record of its send)."""
        if mapping.expires_at is None:
            mapping = mapping.model_copy(update={"expires_at": int(time.time()) + self._ttl_seconds})
        return {"TableName": self._table, "Item": aws.to_ddb(mapping.model_dump(by_alias=True, exclude_none=True))}

    def applied_update_request(self, mapping: MessageMapping, version: int, preview: str, at: str) -> dict[str, Any]:
        """An Update of a DynamoDB transaction: `version` is now the original's content, unless a
        newer one was applied meanwhile (then the transaction is refused: never backwards)."""
        key = {"internalMessageId": mapping.internal_message_id, "integrationId": mapping.integration_id}
        return {
            "TableName": self._table,
            "Key": aws.to_ddb(key),
            "UpdateExpression": "SET appliedVersion = :v, currentPreview = :p, contentUpdatedAt = :at"
            " ADD updateCount :one",
            "ConditionExpression": "attribute_exists(internalMessageId) AND "
            "(attribute_not_exists(appliedVersion) OR appliedVersion < :v)",
            "ExpressionAttributeValues": aws.to_ddb({":v": version, ":p": preview, ":at": at, ":one": 1}),
        }

    @property
    def table(self) -> str:
        return self._table

    @staticmethod
    def key(internal_message_id: str, integration_id: str) -> dict[str, Any]:
        return aws.to_ddb({"internalMessageId": internal_message_id, "integrationId": integration_id})

    @staticmethod
    def from_item(item: dict[str, Any] | None) -> MessageMapping | None:
        return MessageMapping.model_validate(aws.from_ddb(item)) if item else None

    def get(self, internal_message_id: str, integration_id: str) -> MessageMapping | None:
        try:
            answer = self._ddb.get_item(
                TableName=self._table, Key=self.key(internal_message_id, integration_id), ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "GetItem mappings") from exc
        return self.from_item(answer.get("Item"))

    def for_message(self, internal_message_id: str) -> list[MessageMapping]:
        """Every delivery of one internal id, all pages, strongly consistent (a reply must see a send
        that finished a moment ago)."""
        mappings: list[MessageMapping] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "internalMessageId = :id",
            "ExpressionAttributeValues": {":id": {"S": internal_message_id}},
            "ConsistentRead": True,
        }
        try:
            while True:
                answer = self._ddb.query(**arguments)
                mappings.extend(MessageMapping.model_validate(aws.from_ddb(item)) for item in answer.get("Items", []))
                if "LastEvaluatedKey" not in answer:
                    return mappings
                arguments["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise aws.unavailable(exc, "Query mappings") from exc
