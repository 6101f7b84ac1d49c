"""`SlackEmulator`: the control API tests and the local stack use to run and steer the fake Slack.

Serving, seeding, faults and inspection are here; OAuth apps, token expiry, events and the
lifecycle actions (uninstall, channel archive / rename / ...) come from lifecycle.py.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from local.slack_emulator.authorize import AUTHORIZE_PATH
from local.slack_emulator.control import ControlRoutes
from local.slack_emulator.lifecycle import LifecycleControls
from local.slack_emulator.render import Rendered, render_message
from local.slack_emulator.server import EmulatorHTTPServer
from local.slack_emulator.state import DEFAULT_SCOPES, WORKSPACE_OPTIONS, EmulatorState, Fault

_WORKSPACE_KEYS = (
    frozenset({"team_id", "name", "domain", "bot_user_id", "bot_id", "bot_name", "tokens", "channels"})
    | WORKSPACE_OPTIONS
)
_TOKEN_KEYS = frozenset({"token", "scopes", "status"})
_CHANNEL_KEYS = frozenset({"id", "name", "is_private", "is_archived", "is_member", "purpose", "topic", "num_members"})
_OAUTH_APP_KEYS = frozenset(
    {
        "client_id",
        "client_secret",
        "redirect_uri",
        "signing_secret",
        "token_rotation",
        "token_lifetime_seconds",
        "events_url",
    }
)

# A realistic answer time for chat.postMessage, for benchmarks:
#     emu.set_latency("chat.postMessage", CHAT_POST_MESSAGE_MEDIAN_MS, CHAT_POST_MESSAGE_P95_MS, seed=...)
# An ASSUMPTION, not a measurement: Slack publishes no latency figure for its Web API (no SLO, no
# metric on its status page), and no public benchmark of chat.postMessage turned up. What public
# material does say:
# - an app developer saw "~80ms" answers from Slack's API
#   (https://github.com/rehabstudio/fbmessenger/issues/40, 2018; endpoint and location not given);
# - APImetrics' cloud agents ranked Slack the fastest of the Messaging APIs they monitor by median
#   latency, and North America its fastest region by far
#   (https://apicontext.com/blog/api-ratings-messaging-latency-apimetrics, January 2021; no figure quoted);
# - Slack's core services and storage run in AWS us-east-1, reached through its edge PoPs
#   (slack.engineering, "Traffic 101: Packets Mostly Flow"), so a Lambda in us-east-1 pays little network time;
# - slack_sdk's WebClient opens a new HTTPS connection per call (urllib), so each call pays a TLS handshake.
# Hence a median of 100 ms (the one figure measured, rounded up for a write plus a fresh TLS connection)
# and a p95 of 300 ms, a log-normal tail (sigma 0.67: mean 125 ms, p99 473 ms, above 2 s once in ~275 000
# calls). Replace both with a real measurement (median and p95 of chat.postMessage from the deployed
# region) when one is taken.
CHAT_POST_MESSAGE_MEDIAN_MS = 100.0
CHAT_POST_MESSAGE_P95_MS = 300.0


class SlackEmulator(LifecycleControls):
    """A Slack Web API server on loopback plus the knobs to seed it, break it and inspect it.

    Point `slack_sdk.WebClient(base_url=emu.base_url)` at it and an installer's browser at
    `authorize_url`; everything else goes through the methods below (and LifecycleControls'),
    which are safe to call while the server is answering requests. The same server answers the
    control endpoint under /_emulator/ (control.py) that `python -m local.slack_emulator` talks to.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
    ) -> None:
        """`clock` (monotonic seconds) drives the rate limits; a test may pass a fake one to move
        time instead of sleeping (e.g. past the 60 s history window of a non-Marketplace app).
        `wall_clock` (epoch seconds) decides when rotating tokens expire, likewise."""
        self._state = EmulatorState(clock, wall_clock)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a daemon thread (port 0 = any free port) and return the API base URL."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server = EmulatorHTTPServer((host, port), self._state, control=ControlRoutes(self))
        # A short poll interval keeps stop() fast; the server loop is otherwise idle.
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-emulator", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self.base_url

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/api/`, the value for WebClient's `base_url`."""
        return f"{self.server_url}/api/"

    @property
    def server_url(self) -> str:
        """`http://HOST:PORT`, the `--url` of `python -m local.slack_emulator event|uninstall|...`."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def authorize_url(self) -> str:
        """`http://HOST:PORT/oauth/v2/authorize`: where to send the installer's browser instead of
        https://slack.com/oauth/v2/authorize, with the same query (client_id, scope, redirect_uri,
        state, team)."""
        return f"{self.server_url}{AUTHORIZE_PATH}"

    def stop(self) -> None:
        """Stop serving and close the listening socket; a no-op when not running."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server, self._thread = None, None

    def reset(self) -> None:
        """Forget all workspaces, tokens, channels, messages, OAuth apps, codes and refresh tokens, faults, calls,
        history windows, latency settings and the post rate limit (it is off again and its stats are zero);
        keep serving."""
        self._state.reset()

    # -- snapshot ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The emulator's state as JSON-able data, for restore() in a later run (the local stack's
        state dir): workspaces, channels, members, messages and threads, tokens, OAuth apps,
        codes and refresh tokens. Not faults, latency settings nor the call log (EmulatorState.snapshot)."""
        return self._state.snapshot()

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace everything with a snapshot() (e.g. read back from JSON); keeps serving.
        ValueError for anything snapshot() did not make."""
        self._state.restore(dict(snapshot))

    def update_oauth_app(self, client_id: str, **changes: Any) -> dict[str, Any]:
        """Change a registered app's settings (add_oauth_app's keywords: redirect_uri, events_url,
        signing_secret, token_rotation, ...), e.g. its URLs when the app moved to another port;
        returns it as add_oauth_app does. KeyError for an unknown app, ValueError for a setting
        Slack refuses (rotation cannot be turned off once on)."""
        return self._state.update_oauth_app(client_id, **changes).public()

    # -- seeding -----------------------------------------------------------------------------

    def add_workspace(
        self,
        team_id: str,
        name: str,
        *,
        domain: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        bot_name: str = "buster",
        history_needs_membership: bool = True,
        marketplace_app: bool = True,
        history_window_seconds: float = 60.0,
        unknown_thread_ts: str = "hidden",
    ) -> dict[str, Any]:
        """Add a workspace with its installed bot. The behaviour switches (also configure_workspace):

        history_needs_membership (default True, Slack's behaviour): conversations.history and
            .replies answer not_in_channel in a public channel the bot is not a member of (posting
            there still works with chat:write.public). False: any visible channel can be read.
        marketplace_app (default True): False makes the bot a distributed app outside the Slack
            Marketplace: conversations.history and .replies then allow 1 call per method per
            `history_window_seconds` (default 60) in this workspace (else HTTP 429 `ratelimited`
            with Retry-After), and `limit` defaults to 15 and is silently cut to 15.
        unknown_thread_ts (default "hidden"): where chat.postMessage puts a reply whose thread_ts
            names no message of the channel (e.g. a message deleted before anyone replied).
            "hidden": accepted and kept with that thread_ts, so it appears in no channel history
            and no thread, and its answer's `message.thread_ts` is the requested one (what Slack
            does in 2026); "top_level": an unthreaded message (the emulator's older behaviour).
        """
        workspace = self._state.add_workspace(
            team_id,
            name,
            domain=domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            history_needs_membership=history_needs_membership,
            marketplace_app=marketplace_app,
            history_window_seconds=history_window_seconds,
            unknown_thread_ts=unknown_thread_ts,
        )
        return workspace.to_dict()

    def configure_workspace(self, team_id: str, **options: Any) -> dict[str, Any]:
        """Change a workspace's behaviour switches (the add_workspace keywords after bot_name);
        its history rate-limit windows start over. Returns the workspace as add_workspace does."""
        return self._state.configure_workspace(team_id, **options).to_dict()

    def add_token(
        self, token: str, team_id: str, *, scopes: Iterable[str] = DEFAULT_SCOPES, status: str = "active"
    ) -> None:
        self._state.add_token(token, team_id, scopes=tuple(scopes), status=status)

    def set_token_status(self, token: str, status: str) -> None:
        """active, revoked, inactive or expired: calls then get token_revoked, account_inactive, ..."""
        self._state.set_token_status(token, status)

    def add_channel(self, team_id: str, name: str, **options: Any) -> dict[str, Any]:
        """Options as EmulatorState.add_channel: channel_id, is_private, is_archived, is_member,
        purpose, topic, num_members, shared_from (a Slack Connect channel hosted by that team)."""
        return self._state.add_channel(team_id, name, **options).to_slack()

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete a message as a Slack user would; KeyError if the channel or the ts is unknown
        (a tombstone counts as already deleted).

        A thread parent that still has replies leaves a tombstone, as on Slack: subtype
        "tombstone", text "This message was deleted.", user USLACKBOT, `hidden: true`, its
        thread_ts and reply counts kept. It stays in conversations.history (hidden: true, which
        clients show as the deleted-message placeholder above its thread), its thread stays
        readable with conversations.replies and new replies still thread under it. Any other
        message is removed; a later post with its ts as thread_ts then finds no message (see
        add_workspace's unknown_thread_ts). Deleting a reply updates its parent's reply counts,
        and removes a tombstone left with no replies.
        """
        self._state.delete_message(channel_id, ts)

    def add_user_message(
        self, channel_id: str, text: str, *, user_id: str | None = None, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Store a message a person wrote (default: the workspace owner), top-level or as a reply
        to `thread_ts` (KeyError if no such message); returns it as stored. The bot cannot
        chat.update it (cant_update_message)."""
        return self._state.add_user_message(channel_id, text, user_id=user_id, thread_ts=thread_ts)

    def load_seed(self, seed: str | os.PathLike[str] | Mapping[str, Any]) -> None:
        """Add the workspaces and OAuth apps (add_oauth_app's arguments) of a seed: a JSON file path
        or its parsed content; see demo_seed.json."""
        data = seed if isinstance(seed, Mapping) else json.loads(Path(seed).read_text(encoding="utf-8"))
        _check_keys(data, frozenset({"workspaces", "oauth_apps"}), "seed")
        for app in data.get("oauth_apps", []):
            _check_keys(app, _OAUTH_APP_KEYS, "OAuth app")
            options = {key: value for key, value in app.items() if key not in ("client_id", "client_secret")}
            self.add_oauth_app(app["client_id"], app["client_secret"], **options)
        for workspace in data.get("workspaces", []):
            _check_keys(workspace, _WORKSPACE_KEYS, "workspace")
            team_id = workspace["team_id"]
            self.add_workspace(
                team_id,
                workspace["name"],
                domain=workspace.get("domain"),
                bot_user_id=workspace.get("bot_user_id"),
                bot_id=workspace.get("bot_id"),
                bot_name=workspace.get("bot_name", "buster"),
            )
            options = {key: workspace[key] for key in WORKSPACE_OPTIONS if key in workspace}
            if options:
                self.configure_workspace(team_id, **options)
            for token in workspace.get("tokens", []):
                _check_keys(token, _TOKEN_KEYS, "token")
                self.add_token(
                    token["token"],
                    team_id,
                    scopes=token.get("scopes", DEFAULT_SCOPES),
                    status=token.get("status", "active"),
                )
            for channel in workspace.get("channels", []):
                _check_keys(channel, _CHANNEL_KEYS, "channel")
                options = {key: value for key, value in channel.items() if key not in ("id", "name")}
                self.add_channel(team_id, channel["name"], channel_id=channel.get("id"), **options)

    # -- faults and inspection ---------------------------------------------------------------

    def inject_fault(self, method: str, kind: str, **options: Any) -> None:
        """Make the next `times` calls of `method` ("*" = any) fail as `kind`, after `after` good ones.

        Options (see Fault): times=1, retry_after=30, status, error, delay=0.0, after=0.
        Kinds: ratelimited (429 + Retry-After), error (200 ok:false, `error` defaults to
        internal_error), server_error (HTML page, `status` defaults to 503), drop_before (socket
        closed, nothing done), drop_after (request processed, then socket closed), slow (sleep
        `delay` seconds, then answer normally). `status` may also override 429/200 for the first two.
        """
        self._state.arm_fault(Fault(method=method, kind=kind, **options))

    def set_post_rate_limit(self, per_second: float | None, burst: int = 1) -> None:
        """Throttle chat.postMessage per channel like Slack (about 1 a second, short bursts tolerated).

        Each (team, channel) gets a token bucket holding at most `burst` tokens, refilled at
        `per_second` tokens a second and full to start with; None turns the limit off (the default,
        and again after reset()). Setting it refills every bucket. A post takes a token once its
        channel is resolved, so an unknown channel or a bad token still gets its usual error, while
        posts that go on to fail validation (no_text, is_archived, ...) do use one. Thread replies
        count against their channel. A post that finds no token is not stored and gets HTTP 429,
        `{"ok": false, "error": "ratelimited"}` and Retry-After: the whole seconds until a token is
        back, at least 1. calls() records it with status 429 and fault None.
        """
        self._state.set_post_rate_limit(per_second, burst)

    def set_latency(
        self, method: str, median_ms: float | None, p95_ms: float | None = None, seed: int | None = None
    ) -> None:
        """Make every call of `method` ("*" = any Web API method without a setting of its own) wait
        before it runs, as real Slack takes time to answer (see CHAT_POST_MESSAGE_MEDIAN_MS).

        Each call's delay is drawn from a log-normal with median `median_ms` and 95th percentile
        `p95_ms` (None, or equal to the median: always exactly `median_ms`); a `seed` makes the
        sequence of delays repeatable, in the order the calls arrive (each set_latency starts it
        over). None or 0 as the median turns the method's setting off; reset() turns all of them
        off, and snapshot() does not keep them. ValueError for a negative or non-finite number, a
        p95 below the median, a p95 without a median or a seed that is not an int.

        The delay is waited on the request's own thread without holding the emulator's lock, so
        concurrent calls overlap instead of queueing; it comes before the method runs (and before a
        fault's answer; a `slow` fault's delay adds to it). The authorize page and the control
        endpoint are never delayed. calls() shows each delay as `latency_ms`.
        """
        self._state.set_latency(method, median_ms, p95_ms, seed)

    def latency_settings(self) -> list[dict[str, Any]]:
        """The latency settings in force, in the order they were set:
        [{"method", "median_ms", "p95_ms", "seed"}]."""
        return self._state.latency_settings()

    def post_rate_limit_stats(self) -> dict[str, int]:
        """{"accepted": n, "throttled": n}: posts the limit let through / answered 429 since reset().

        Only posts made while a limit was set are counted; changing or clearing it keeps the counts.
        """
        return self._state.post_rate_limit_stats()

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Web API requests received, in order: method, params, team_id, status, fault, authorization,
        and `latency_ms` (the delay set_latency drew for it, in ms) on calls a latency setting applied to.
        Params never hold the token nor an app's credentials (client_secret, code, refresh_token)."""
        return self._state.calls(method)

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message stored in the channel in ts order, replies and metadata included, as Slack
        stores them (read methods over HTTP show metadata only on include_all_metadata)."""
        return self._state.messages(channel_id)

    def rendered(self, channel_id: str) -> list[Rendered]:
        """What a Slack client displays for each message of `messages()`, in the same order: the
        visible text plus the notifications, links and channel references it makes live (render.py)."""
        return [render_message(message) for message in self.messages(channel_id)]


def _check_keys(value: Any, allowed: frozenset[str], where: str) -> None:
    """Reject unknown seed keys so a typo does not silently seed the wrong thing."""
    if not isinstance(value, Mapping):
        raise ValueError(f"seed {where} must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise ValueError(f"unknown seed {where} key(s): {sorted(unknown)}")
