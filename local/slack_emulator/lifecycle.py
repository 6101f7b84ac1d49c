"""The part of SlackEmulator's control API about installs and what happens to them afterwards:
OAuth apps and codes, token expiry and refresh, signed events to apps, and the lifecycle actions
(uninstall, channel archive / unarchive / delete / rename) that change the emulator's state and
tell every app with an events URL, as Slack would.

A mixin so emulator.py stays about serving, seeding, faults and inspection. Events are sent after
the state's lock is released: an app that calls the emulator back while it handles one must not
wait for the lock its own event holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from local.slack_emulator import events
from local.slack_emulator.events import Receiver
from local.slack_emulator.oauth import DEFAULT_TOKEN_LIFETIME_SECONDS, Enterprise
from local.slack_emulator.state import DEFAULT_SCOPES, EmulatorState


class LifecycleControls:
    _state: EmulatorState

    # -- OAuth apps and installs ----------------------------------------------------------------

    def add_oauth_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        redirect_uri: str | None = None,
        signing_secret: str | None = None,
        token_rotation: bool = False,
        token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS,
        events_url: str | None = None,
    ) -> dict[str, Any]:
        """Register an app for the authorize page and oauth.v2.access; returns {"client_id",
        "app_id", "redirect_uri", "token_rotation", "token_lifetime_seconds", "events_url"}.

        token_rotation: its tokens expire `token_lifetime_seconds` after they are issued (Slack:
        always 43,200, 12 hours) and come with refresh tokens. events_url: where its events go,
        signed with `signing_secret` (required with an events_url).
        """
        app = self._state.add_oauth_app(
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            signing_secret=signing_secret,
            token_rotation=token_rotation,
            token_lifetime_seconds=token_lifetime_seconds,
            events_url=events_url,
        )
        return app.public()

    def oauth_apps(self) -> list[dict[str, Any]]:
        """Every registered app as add_oauth_app returned it (secrets left out)."""
        with self._state.lock:
            return [app.public() for app in self._state.oauth.apps.values()]

    def set_events_url(self, client_id: str, url: str | None) -> None:
        """Point the app's events somewhere else (None: it gets none). Needs a signing secret."""
        with self._state.lock:
            self._state.oauth.set_events_url(client_id, url)

    def set_granted_scopes(self, client_id: str, scopes: Iterable[str] | None) -> None:
        """Make the authorize page grant these scopes, whatever the link asked for (None: as
        requested), as when an installer's admin approves less than an app asks."""
        with self._state.lock:
            self._state.oauth.set_granted_scopes(client_id, None if scopes is None else tuple(scopes))

    def issue_oauth_code(
        self,
        client_id: str,
        team_id: str,
        *,
        scopes: Iterable[str] = DEFAULT_SCOPES,
        redirect_uri: str | None = None,
        installer_user_id: str | None = None,
        enterprise_install: bool = False,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
    ) -> str:
        """The `code` Slack would hand the installer's browser after they approve `client_id` in
        `team_id`. oauth.v2.access exchanges it once for a new bot token with `scopes`; given a
        `redirect_uri` here, the exchange must repeat it (else bad_redirect_uri).

        enterprise_install: an org-wide install on Enterprise Grid; the exchange answers
        `is_enterprise_install: true`, `enterprise: {id, name}` and `team: null`. The org defaults
        to E + the team id's tail and "<workspace name> Org".
        """
        enterprise = None
        if enterprise_install:
            with self._state.lock:
                workspace = self._state.workspace(team_id)
                enterprise = Enterprise(
                    enterprise_id or "E" + team_id.removeprefix("T"), enterprise_name or f"{workspace.name} Org"
                )
        return self._state.issue_oauth_code(
            client_id,
            team_id,
            scopes=tuple(scopes),
            redirect_uri=redirect_uri,
            installer_user_id=installer_user_id,
            enterprise=enterprise,
        )

    def expire_tokens(self, team_id: str) -> int:
        """End now the lifetime of the workspace's rotating tokens, which then answer token_expired;
        returns how many. Tokens that never expire (no rotation, add_token) are left alone, as on
        Slack: use set_token_status(token, "expired") for those."""
        return self._state.expire_tokens(team_id)

    def revoke_refresh_tokens(self, team_id: str) -> int:
        """Make every refresh token of the workspace fail (invalid_refresh_token); returns how many."""
        with self._state.lock:
            self._state.workspace(team_id)
            return self._state.oauth.revoke_refresh_tokens(team_id)

    # -- events ---------------------------------------------------------------------------------

    def deliver_event(
        self,
        client_id: str,
        team_id: str,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: int | None = None,
        sign_with: str | None = None,
    ) -> dict[str, Any]:
        """POST `event` in Slack's event_callback envelope, signed, to the app's events_url.

        Returns {"status", "body", "elapsed_ms", "event_id"}: the app's HTTP status and body
        (status None and an "error" when it could not be reached or did not answer in 5 s).
        retry_num adds X-Slack-Retry-Num / X-Slack-Retry-Reason (pass the first try's event_id to
        replay it); timestamp (epoch seconds) signs with another time, e.g. a stale one; sign_with
        signs with another secret. KeyError for an unknown app or workspace, ValueError for an app
        without events_url or an event that is not an object with a string `type`.
        """
        receiver, bot_user_id = self._receiver(client_id, team_id)
        return events.deliver(
            receiver,
            team_id,
            bot_user_id,
            event,
            event_id=event_id,
            retry_num=retry_num,
            retry_reason=retry_reason,
            timestamp=timestamp,
            sign_with=sign_with,
        )

    def verify_events_url(self, client_id: str) -> dict[str, Any]:
        """Send the signed url_verification Slack sends when an events URL is set; returns
        {"verified", "challenge", "status", "body", "elapsed_ms"}: verified is whether the app
        answered 200 with the challenge (as text, form or JSON)."""
        with self._state.lock:
            receiver = Receiver.of(self._state.oauth.app(client_id))
        return events.verify_url(receiver)

    # -- lifecycle actions ----------------------------------------------------------------------

    def uninstall(self, team_id: str, client_id: str | None = None) -> list[dict[str, Any]]:
        """Uninstall the app from the workspace: its tokens answer token_revoked from now on, its
        refresh tokens invalid_refresh_token; then every app with an events_url (just `client_id`'s
        if given) gets app_uninstalled, then tokens_revoked naming the bot user.

        With `client_id`, only that app's tokens are revoked, plus those seeded with add_token,
        which belong to no app in particular. Returns one result per event sent, as deliver_event's
        plus "client_id" and "event_type".
        """
        with self._state.lock:
            workspace = self._state.workspace(team_id)
            if client_id is not None:
                self._state.oauth.app(client_id)
            self._state.revoke_installation(team_id, client_id)
            receivers = [Receiver.of(app) for app in self._state.oauth.receivers(client_id)]
            bot_user_id = workspace.bot_user_id
        return _deliver_all(receivers, team_id, bot_user_id, events.uninstall_events(bot_user_id))

    def archive_channel(self, team_id: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Archive the channel (posts then answer is_archived) and send channel_archive (group_archive
        for a private one) to every app with an events_url; returns the delivery results as
        uninstall does. The older archive_channel(channel_id) form still works."""
        return self._channel_action("archive", team_id, channel_id)

    def unarchive_channel(self, team_id: str, channel_id: str) -> list[dict[str, Any]]:
        """Unarchive the channel and send channel_unarchive; results as archive_channel's."""
        return self._channel_action("unarchive", team_id, channel_id)

    def delete_channel(self, team_id: str, channel_id: str | None = None) -> list[dict[str, Any]]:
        """Delete the channel (it is channel_not_found from now on) and send channel_deleted;
        results as archive_channel's. The older delete_channel(channel_id) form still works."""
        return self._channel_action("delete", team_id, channel_id)

    def rename_channel(self, team_id: str, channel_id: str, name: str) -> list[dict[str, Any]]:
        """Rename the channel (its old name goes to previous_names) and send channel_rename.
        ValueError with conversations.rename's error for a name Slack refuses: name_taken,
        invalid_name_required, invalid_name_maxlength, invalid_name_specials."""
        return self._channel_action("rename", team_id, channel_id, name)

    def channel_info(self, channel_id: str) -> dict[str, Any]:
        """The channel as conversations.info renders it (whatever the bot may see); KeyError if unknown."""
        with self._state.lock:
            return self._state.channel(channel_id).to_slack()

    # -- internals ------------------------------------------------------------------------------

    def _receiver(self, client_id: str, team_id: str) -> tuple[Receiver, str]:
        with self._state.lock:
            app = self._state.oauth.app(client_id)
            workspace = self._state.workspace(team_id)
            return Receiver.of(app), workspace.bot_user_id

    def _channel_action(
        self, action: str, team_id: str, channel_id: str | None, name: str | None = None
    ) -> list[dict[str, Any]]:
        if channel_id is None:  # the older one-argument form: the channel's own team
            with self._state.lock:
                team_id, channel_id = self._state.channel(team_id).team_id, team_id
        state = self._state
        with state.lock:
            channel = state.channel(channel_id)
            if channel.team_id != team_id:
                raise KeyError(f"channel {channel_id} is not in workspace {team_id}")
            workspace = state.workspace(team_id)
            if action == "archive":
                state.archive_channel(channel_id)
            elif action == "unarchive":
                state.unarchive_channel(channel_id)
            elif action == "delete":
                state.delete_channel(channel_id)
            else:
                state.rename_channel(channel_id, name or "")
            event = events.channel_event(action, channel, workspace.owner_user_id)
            receivers = [Receiver.of(app) for app in state.oauth.receivers()]
        return _deliver_all(receivers, team_id, workspace.bot_user_id, [event])


def _deliver_all(
    receivers: list[Receiver], team_id: str, bot_user_id: str, to_send: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each app gets the events in order, one app after the other."""
    return [
        {
            "client_id": receiver.client_id,
            "event_type": event["type"],
            **events.deliver(receiver, team_id, bot_user_id, event),
        }
        for receiver in receivers
        for event in to_send
    ]
