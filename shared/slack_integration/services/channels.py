"""Channel selection: which public channels a user can pick, and saving the pick.

Every page is read until Slack's cursor is empty (pages may be short or empty before that), a
failure on any page fails the whole listing (never a partial list presented as complete), and a
selection is saved under the name Slack reports for that id, not the name the client sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from slack_integration.adapters.integrations_repository import IntegrationsRepository
from slack_integration.adapters.slack_client import SlackGateway
from slack_integration.errors import CHANNEL_OTHER_WORKSPACE, CHANNEL_PRIVATE, INTEGRATION_INACTIVE, ServiceError
from slack_integration.models.api import (
    Channel,
    ChannelList,
    ChannelSelection,
    ChannelSetAnswer,
    NotificationChannel,
    NotificationChannelAnswer,
)
from slack_integration.models.integration import Integration
from slack_integration.observability import logger, metrics, tracer
from slack_integration.slack_errors import SLACK_ERRORS

T = TypeVar("T")


class ChannelService:
    def __init__(self, integrations: IntegrationsRepository, slack: SlackGateway) -> None:
        self._integrations = integrations
        self._slack = slack

    # Responses stay out of X-Ray: a big workspace's channel list would overflow the segment.
    @tracer.capture_method(capture_response=False)
    def list_channels(self, user_id: str) -> ChannelList:
        integration = self._active_integration(user_id)
        raw_channels = self._call_slack(integration, lambda: self._slack.public_channels(integration.id))
        unique = {raw["id"]: raw for raw in raw_channels if _is_selectable(raw, integration.team_id)}
        channels = sorted((_to_channel(raw) for raw in unique.values()), key=lambda c: (c.name.casefold(), c.id))
        metrics.add_metric(name="ChannelsListed", unit=MetricUnit.Count, value=1)
        return ChannelList(channels=channels)

    def get_notification_channel(self, user_id: str) -> NotificationChannelAnswer:
        # Reading the saved choice needs no Slack call and works even while a reconnect is due.
        integration = self._integrations.require(user_id)
        if not integration.notification_channel_id:
            return NotificationChannelAnswer(notification_channel=None)
        return NotificationChannelAnswer(
            notification_channel=NotificationChannel(
                channel_id=integration.notification_channel_id,
                channel_name=integration.notification_channel_name or integration.notification_channel_id,
            )
        )

    @tracer.capture_method(capture_response=False)
    def set_notification_channel(self, user_id: str, selection: ChannelSelection) -> ChannelSetAnswer:
        integration = self._active_integration(user_id)
        channel_id = selection.channel_id
        channel = self._call_slack(integration, lambda: self._slack.channel_info(integration.id, channel_id))
        check_usable(channel, integration)
        if not channel.get("is_member"):
            self._join(integration, channel_id)
        name = str(channel.get("name") or channel_id)
        if selection.channel_name and selection.channel_name.lstrip("#") != name:
            logger.info("Client sent a stale channel name; saving Slack's", extra={"channel_id": channel_id})
        self._integrations.set_notification_channel(integration, channel_id, name)
        metrics.add_metric(name="NotificationChannelSet", unit=MetricUnit.Count, value=1)
        logger.info("Notification channel set", extra={"integration_id": integration.id, "channel_id": channel_id})
        return ChannelSetAnswer(success=True, message=f"Notification channel set to #{name}")

    def _join(self, integration: Integration, channel_id: str) -> None:
        """Best effort: Buster posts to a public channel it is not in (chat:write.public), but it
        can confirm a post whose answer was lost only by reading the channel, which needs
        membership. Without channels:join the choice still stands; health reports the gap."""
        try:
            self._slack.join(integration.id, channel_id)
        except ServiceError as err:
            logger.info("Could not join the notification channel", extra={"channel_id": channel_id, "code": err.code})

    def _active_integration(self, user_id: str) -> Integration:
        integration = self._integrations.require(user_id)
        if not integration.is_active:
            raise INTEGRATION_INACTIVE.error()
        return integration

    def _call_slack(self, integration: Integration, request: Callable[[], T]) -> T:
        try:
            return request()
        except ServiceError as err:
            # A channel error here concerns the channel being chosen, not the saved one: only a
            # broken install is the integration's own problem.
            self._integrations.flag_problem(integration, err, about_notification_channel=False)
            raise


def _hosted_elsewhere(channel: dict[str, Any], team_id: str) -> bool:
    """A Slack Connect channel that another workspace owns: its members and retention are not ours."""
    host = channel.get("conversation_host_id")
    return bool(channel.get("is_ext_shared")) and bool(host) and host != team_id


def _is_selectable(raw: dict[str, Any], team_id: str) -> bool:
    # Slack already filters by type and archive state; checking again costs nothing and keeps
    # a private or archived channel out of the dropdown if a filter is ever ignored. The
    # dropdown offers exactly what PUT /integration/channel accepts.
    if not raw.get("id") or raw.get("is_archived") or raw.get("is_private"):
        return False
    return not _hosted_elsewhere(raw, team_id)


def _to_channel(raw: dict[str, Any]) -> Channel:
    purpose = (raw.get("purpose") or {}).get("value") or None
    members = raw.get("num_members")
    return Channel(
        id=raw["id"],
        name=raw.get("name") or raw["id"],
        purpose=purpose,
        member_count=members if isinstance(members, int) else None,
        is_member=bool(raw.get("is_member")),
    )


def check_usable(channel: dict[str, Any], integration: Integration) -> None:
    """Refuse what notifications cannot go to; the saved choice is left as it was."""
    if _hosted_elsewhere(channel, integration.team_id):
        raise CHANNEL_OTHER_WORKSPACE.error()
    if channel.get("is_private") or channel.get("is_group"):
        raise CHANNEL_PRIVATE.error()
    if channel.get("is_archived"):
        raise SLACK_ERRORS["is_archived"].error()
