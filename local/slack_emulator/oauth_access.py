"""oauth.v2.access: exchanging an install's code for a bot token, and refreshing a rotating one.

The app authenticates with HTTP Basic (slack_sdk's way) or `client_id`/`client_secret` params.
Shapes and errors follow Slack's documentation, read 2026:

- docs.slack.dev/reference/methods/oauth.v2.access (and its error list, as mirrored by
  slack-ruby/slack-api-ref): invalid_client_id, bad_client_secret, invalid_code, bad_redirect_uri,
  invalid_grant_type, invalid_refresh_token ("The given refresh token is invalid").
- docs.slack.dev/authentication/using-token-rotation: the rotating answer adds `expires_in` and
  `refresh_token`, the access token looks like `xoxe.xoxb-1-...`; "Calling oauth.v2.access will
  not immediately invalidate your existing access token"; refresh tokens are used once; and a
  "2 active token limit": when refreshing leaves more than 2 live tokens, the oldest is revoked.
- api.slack.com/enterprise/apps/reference: an org-wide install answers `team: null`,
  `enterprise: {id, name}` and `is_enterprise_install: true`.
"""

from __future__ import annotations

import secrets
from typing import Any

from local.slack_emulator.oauth import Enterprise, OAuthApp, RefreshToken
from local.slack_emulator.state import EmulatorState, Workspace, new_slack_id
from local.slack_emulator.wire import ApiCall, Params, SlackError

# Slack's limit on a rotating install's live access tokens after a refresh.
MAX_ACTIVE_ROTATED_TOKENS = 2


def oauth_v2_access(state: EmulatorState, call: ApiCall, params: Params) -> dict[str, Any]:
    """Errors, in this order: invalid_client_id (unknown or missing id), bad_client_secret, then
    per grant_type. A code (grant_type absent or authorization_code): invalid_code (unknown, or
    another app's), code_already_used, bad_redirect_uri (the code was issued for another
    redirect_uri, or none was given when it was issued with one). A refresh
    (grant_type=refresh_token): invalid_refresh_token. Anything else: invalid_grant_type.

    A code's answer has `enterprise: null` outside Enterprise Grid and an `authed_user` with only
    the installer's id, as when no user scopes are requested.
    """
    client_id, client_secret = call.basic_auth or (params.text("client_id"), params.text("client_secret"))
    app = state.oauth.apps.get(client_id or "")
    if app is None:
        raise SlackError("invalid_client_id")
    if client_secret != app.client_secret:
        raise SlackError("bad_client_secret")
    grant_type = params.text("grant_type")
    if grant_type == "refresh_token":
        return _refresh(state, app, params.text("refresh_token"))
    if grant_type not in (None, "authorization_code"):
        raise SlackError("invalid_grant_type")
    return _exchange(state, app, params)


def _exchange(state: EmulatorState, app: OAuthApp, params: Params) -> dict[str, Any]:
    grant = state.oauth.codes.get(params.text("code") or "")
    if grant is None or grant.client_id != app.client_id:
        raise SlackError("invalid_code")
    if grant.used:
        raise SlackError("code_already_used")
    if grant.redirect_uri is not None and params.text("redirect_uri") != grant.redirect_uri:
        raise SlackError("bad_redirect_uri")
    grant.used = True
    workspace = state.workspace(grant.team_id)
    return {
        "app_id": app.app_id,
        "authed_user": {"id": grant.installer_user_id},
        **_tokens(state, app, workspace, grant.scopes, grant.installer_user_id, grant.enterprise),
    }


def _refresh(state: EmulatorState, app: OAuthApp, refresh_token: str | None) -> dict[str, Any]:
    """A new access token and refresh token for the install the refresh token belongs to.

    An app without rotation never gets refresh tokens, so whatever it sends is not one of its
    own: invalid_refresh_token, Slack's documented answer for "The given refresh token is
    invalid" (Slack's docs say nothing more specific for that case). The same goes for an unknown,
    used, revoked (uninstall, revoke_refresh_tokens) or other app's refresh token. The answer has
    the shape of Slack's documented refresh answer (and slack_sdk's TokenRotator reads): no
    `authed_user`, since a refresh involves no person.
    """
    record = state.oauth.refresh_tokens.get(refresh_token or "")
    if record is None or record.revoked or record.client_id != app.client_id:
        raise SlackError("invalid_refresh_token")
    workspace = state.workspaces.get(record.team_id)
    if workspace is None:
        raise SlackError("invalid_refresh_token")
    record.revoked = True  # used once
    tokens = _tokens(state, app, workspace, record.scopes, record.installer_user_id, record.enterprise)
    answer = {"app_id": app.app_id, **tokens}
    _enforce_active_limit(state, app.client_id, workspace.team_id)
    return answer


def _tokens(
    state: EmulatorState,
    app: OAuthApp,
    workspace: Workspace,
    scopes: tuple[str, ...],
    installer_user_id: str,
    enterprise: Enterprise | None,
) -> dict[str, Any]:
    """Store a new bot token for the install (and a refresh token if the app rotates); the answer's
    token part, shaped as Slack's."""
    expires_at = state.wall_clock() + app.token_lifetime_seconds if app.token_rotation else None
    token = f"xoxe.xoxb-1-{secrets.token_hex(24)}" if app.token_rotation else _legacy_token()
    state.add_token(
        token,
        workspace.team_id,
        scopes=scopes,
        status="active",
        client_id=app.client_id,
        expires_at=expires_at,
        enterprise_id=enterprise.id if enterprise else None,
    )
    answer: dict[str, Any] = {
        "scope": ",".join(scopes),
        "token_type": "bot",
        "access_token": token,
        "bot_user_id": workspace.bot_user_id,
        # An org-wide install belongs to the organization, not to one of its workspaces.
        "team": None if enterprise else {"id": workspace.team_id, "name": workspace.name},
        "enterprise": enterprise.to_slack() if enterprise else None,
        "is_enterprise_install": enterprise is not None,
    }
    if app.token_rotation:
        refresh = f"xoxe-1-{secrets.token_hex(32)}"
        state.oauth.refresh_tokens[refresh] = RefreshToken(
            refresh, app.client_id, workspace.team_id, scopes, installer_user_id, enterprise
        )
        answer |= {"expires_in": app.token_lifetime_seconds, "refresh_token": refresh}
    return answer


def _legacy_token() -> str:
    return f"xoxb-emulated-{new_slack_id('')}-{new_slack_id('')}"


def _enforce_active_limit(state: EmulatorState, client_id: str, team_id: str) -> None:
    """Slack's "2 active token limit": the oldest live tokens of the install beyond 2 are revoked."""
    now = state.wall_clock()
    live = [
        record
        for record in state.tokens.values()  # insertion order: oldest first
        if record.client_id == client_id
        and record.team_id == team_id
        and record.status == "active"
        and record.expires_at is not None
        and record.expires_at > now
    ]
    for record in live[: max(0, len(live) - MAX_ACTIVE_ROTATED_TOKENS)]:
        record.status = "revoked"
