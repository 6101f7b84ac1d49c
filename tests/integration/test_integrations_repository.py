"""The integrations table through the repository: lookups, conditional updates, AWS failures."""

from __future__ import annotations

import pytest

from slack_integration import dependencies
from slack_integration.errors import ServiceError
from slack_integration.models.integration import HealthStatus, Integration
from tests.conftest import TEAM_ID, USER_ID
from tests.support.records import get_integration_item


def test_lookup_by_user_and_by_id_find_the_same_integration(connected):
    repo = dependencies.current().integrations
    by_user = repo.get_by_user(USER_ID)
    by_id = repo.get_by_id(connected.id)
    assert by_user == by_id
    assert by_user is not None and by_user.team_id == TEAM_ID and by_user.is_active


def test_unknown_user_and_id_are_none(aws):
    repo = dependencies.current().integrations
    assert repo.get_by_user("nobody") is None
    assert repo.get_by_id("00000000-0000-4000-8000-000000000000") is None


def test_record_health_sets_and_clears_the_error(connected, aws):
    repo = dependencies.current().integrations
    repo.record_health(connected, HealthStatus.NEEDS_NEW_CHANNEL, "CHANNEL_ARCHIVED")
    item = get_integration_item(aws)
    assert item["healthStatus"] == "needs_new_channel" and item["lastErrorCode"] == "CHANNEL_ARCHIVED"
    repo.record_health(connected, HealthStatus.HEALTHY, None)
    item = get_integration_item(aws)
    assert item["healthStatus"] == "healthy" and "lastErrorCode" not in item
    assert item["updatedAt"] >= item["createdAt"]


def test_an_update_never_lands_on_a_replaced_integration(connected, aws):
    # Given the user's integration was replaced (new id) after we read the old one
    repo = dependencies.current().integrations
    replacement = Integration(
        id="11111111-1111-4111-8111-111111111111", user_id=USER_ID, team_id=TEAM_ID, team_name="x"
    )
    repo.put(replacement)
    # When a write based on the stale read arrives, then it is refused and nothing changes
    with pytest.raises(ServiceError) as raised:
        repo.set_notification_channel(connected, "C0123456789", "alerts")
    assert raised.value.code == "INTEGRATION_CHANGED" and raised.value.retryable
    assert "notificationChannelId" not in get_integration_item(aws)


def test_dynamodb_trouble_is_a_503_not_a_500(connected, aws, invoke):
    aws["dynamodb"].delete_table(TableName=aws["tables"]["IntegrationsTable"])
    answer = invoke("set_channel", "GET", "/integration/channel")
    assert answer.status == 503
    assert answer.body["code"] == "AWS_UNAVAILABLE"
    assert "ResourceNotFound" not in answer.body["error"]
