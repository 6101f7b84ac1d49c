"""In-memory Slack state: workspaces, tokens, channels, messages, armed faults, the chat.postMessage
and history rate limits, the answer-time (latency) settings, OAuth apps and codes, and the call log.

A single re-entrant lock guards all of it, because the HTTP server answers on one thread per
request while a test thread drives the control API at the same time.

`EmulatorState.snapshot()` / `restore()` turn what a workspace keeps between two runs (the local
stack's state dir, local.persistence) into JSON and back; see snapshot() for what is left out.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
import statistics
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.slack_emulator.oauth import Enterprise, OAuthApp, OAuthCode, OAuthRegistry, RefreshToken, check_app

# The bot scopes the product installs with (and a token gets unless a test says otherwise).
DEFAULT_SCOPES: tuple[str, ...] = (
    "channels:read",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "channels:join",
)
TOKEN_STATUSES = frozenset({"active", "revoked", "inactive", "expired"})
FAULT_KINDS = frozenset({"ratelimited", "error", "server_error", "drop_before", "drop_after", "slow"})
# Kinds that answer with an HTTP status of their own, so `status=` may override it.
_FAULT_DEFAULT_STATUS = {"ratelimited": 429, "error": 200, "server_error": 503}

_ID_ALPHABET = string.ascii_uppercase + string.digits
# What Slack shows in place of a deleted message that still has replies (a "tombstone").
TOMBSTONE_TEXT = "This message was deleted."
SLACKBOT_USER_ID = "USLACKBOT"
# How chat.postMessage treats a thread_ts that names no message of the channel (see Workspace).
UNKNOWN_THREAD_MODES = frozenset({"top_level", "hidden"})
# Per-workspace behaviour switches: add_workspace(...) keywords, configure_workspace(...) and seeds.
WORKSPACE_OPTIONS = frozenset(
    {"history_needs_membership", "marketplace_app", "history_window_seconds", "unknown_thread_ts"}
)
# Non-Marketplace distributed apps: conversations.history / .replies `limit` default and maximum.
NON_MARKETPLACE_PAGE_LIMIT = 15
# The shape of EmulatorState.snapshot(); restore() refuses any other.
SNAPSHOT_VERSION = 1


def new_slack_id(prefix: str) -> str:
    """Return an ID shaped like Slack's (prefix + 10 uppercase alphanumerics), e.g. C0123ABCDEF."""
    return prefix + "".join(random.choices(_ID_ALPHABET, k=10))


def _text_field(value: str, creator: str, created: int) -> dict[str, Any]:
    """Slack's topic/purpose object: empty values carry no creator and last_set 0."""
    return {"value": value, "creator": creator if value else "", "last_set": created if value else 0}


@dataclass
class Channel:
    """A public or private channel; `messages` holds top-level posts and thread replies in ts order."""

    id: str
    team_id: str
    name: str
    creator: str
    created: int
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = False
    purpose: str = ""
    topic: str = ""
    num_members: int = 0
    # A Slack Connect channel hosted by another workspace and shared into this one.
    shared_from: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    # Names it had before rename_channel, oldest first, as conversations.info lists them.
    previous_names: list[str] = field(default_factory=list)

    @property
    def visible_to_bot(self) -> bool:
        """Slack hides a private channel from a bot that is not a member of it."""
        return self.is_member or not self.is_private

    @property
    def conversation_type(self) -> str:
        """The `types` value of conversations.list that selects this channel."""
        return "private_channel" if self.is_private else "public_channel"

    def find_message(self, ts: str) -> dict[str, Any] | None:
        return next((message for message in self.messages if message["ts"] == ts), None)

    def to_slack(self, *, include_num_members: bool = True) -> dict[str, Any]:
        """Render the channel the way conversations.list / conversations.info do."""
        rendered: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_member": self.is_member,
            "is_shared": self.shared_from is not None,
            "is_ext_shared": self.shared_from is not None,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "context_team_id": self.team_id,
            "conversation_host_id": self.shared_from or self.team_id,
            "shared_team_ids": [self.team_id] + ([self.shared_from] if self.shared_from else []),
            "created": self.created,
            "updated": self.created * 1000,
            "creator": self.creator,
            "unlinked": 0,
            "previous_names": list(self.previous_names),
            "pending_shared": [],
            "pending_connected_team_ids": [],
            "internal_team_ids": [],
            "is_moved": 0,
            "topic": _text_field(self.topic, self.creator, self.created),
            "purpose": _text_field(self.purpose, self.creator, self.created),
        }
        if include_num_members:
            rendered["num_members"] = self.num_members
        return rendered


@dataclass
class Workspace:
    """A Slack team with its installed bot; channels keep creation order, which pagination relies on."""

    team_id: str
    name: str
    domain: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    owner_user_id: str
    app_id: str = field(default_factory=lambda: new_slack_id("A"))
    created: int = field(default_factory=lambda: int(time.time()))
    # conversations.history / .replies answer not_in_channel in a public channel the bot is not in
    # (Slack's behaviour); False keeps the emulator's older lenient reads.
    history_needs_membership: bool = True
    # False = a distributed app that is not in the Slack Marketplace: conversations.history and
    # .replies allow 1 call per `history_window_seconds` per method, `limit` at most 15 (default 15).
    marketplace_app: bool = True
    history_window_seconds: float = 60.0
    # chat.postMessage with a thread_ts naming no message: "hidden" keeps the thread_ts so it
    # shows in no channel history and no thread (what Slack does in 2026), "top_level" posts it as
    # a top-level message (the emulator's older behaviour).
    unknown_thread_ts: str = "hidden"
    channels: dict[str, Channel] = field(default_factory=dict)
    last_ts_micros: int = 0

    def next_ts(self) -> str:
        """Next message ts: wall clock in microseconds, bumped so it strictly increases per workspace."""
        self.last_ts_micros = max(time.time_ns() // 1000, self.last_ts_micros + 1)
        seconds, micros = divmod(self.last_ts_micros, 1_000_000)
        return f"{seconds:10d}.{micros:06d}"

    def options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(WORKSPACE_OPTIONS)}

    def bot_profile(self) -> dict[str, Any]:
        """The `bot_profile` Slack attaches to the bot's messages."""
        icon = "https://a.slack-edge.com/80588/img/plugins/app/bot_{size}.png"
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_name,
            "updated": self.created,
            "app_id": self.app_id,
            "icons": {f"image_{size}": icon.format(size=size) for size in (36, 48, 72)},
            "team_id": self.team_id,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "name": self.name,
            "domain": self.domain,
            "bot_user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "bot_name": self.bot_name,
            "app_id": self.app_id,
            **self.options(),
        }


@dataclass
class Token:
    token: str
    team_id: str
    scopes: tuple[str, ...]
    status: str = "active"
    # The OAuth app whose install issued it (None: seeded with add_token, nobody's in particular).
    client_id: str | None = None
    # Wall-clock second it stops working (token rotation); None = never, like Slack's xoxb tokens.
    expires_at: float | None = None
    # Set for a token of an org-wide install on Enterprise Grid.
    enterprise_id: str | None = None


@dataclass
class Fault:
    """A fault armed for the next `times` calls of `method` ("*" = any), after skipping `after` of them."""

    method: str
    kind: str
    times: int = 1
    retry_after: int = 30
    status: int | None = None
    error: str | None = None
    delay: float = 0.0
    after: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.times < 1 or self.after < 0 or self.delay < 0 or self.retry_after < 0:
            raise ValueError("times must be >= 1; after, delay and retry_after must be >= 0")
        if self.status is not None and self.kind not in _FAULT_DEFAULT_STATUS:
            raise ValueError(f"status= does not apply to fault kind {self.kind!r}")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.error is not None and self.kind != "error":
            raise ValueError("error= applies to fault kind 'error' only")

    @property
    def http_status(self) -> int:
        """The status this fault answers with (only meaningful for kinds that answer)."""
        return self.status if self.status is not None else _FAULT_DEFAULT_STATUS[self.kind]

    def matches(self, method: str) -> bool:
        return self.method in ("*", method)


class PostRateLimit:
    """Slack's per-channel limit on chat.postMessage (about 1 post a second, short bursts tolerated).

    One token bucket per (team, channel), created full: it holds at most `burst` tokens and refills
    at `per_second` tokens a second; every post to a resolved channel takes one. Off (everything
    allowed, nothing counted) until `configure` gives it a rate. Not locked itself: EmulatorState
    only touches it while holding its lock.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.per_second: float | None = None
        self.burst = 1
        self.accepted = 0
        self.throttled = 0
        # (team_id, channel_id) -> (tokens left, clock reading they were computed at)
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def reset(self) -> None:
        """Off again, with no buckets and zeroed counts."""
        self.configure(None)
        self.accepted = self.throttled = 0

    def configure(self, per_second: float | None, burst: int = 1) -> None:
        """Set the rate (None = off) and burst; every bucket starts over full. Counts are kept."""
        if per_second is not None and (
            isinstance(per_second, bool)
            or not isinstance(per_second, int | float)
            or not math.isfinite(per_second)
            or per_second <= 0
            or not math.isfinite(1 / per_second)  # Retry-After would be infinite
        ):
            raise ValueError(f"per_second must be a positive number or None, got {per_second!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an int >= 1, got {burst!r}")
        self.per_second, self.burst = per_second, burst
        self._buckets.clear()

    def take(self, team_id: str, channel_id: str) -> int | None:
        """Spend one token of the channel's bucket: None if there was one, else the Retry-After.

        Retry-After is the whole seconds until a token is back, rounded up and at least 1.
        """
        if self.per_second is None:
            return None
        key = (team_id, channel_id)
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            self.accepted += 1
            return None
        self._buckets[key] = (tokens, now)
        self.throttled += 1
        return max(1, math.ceil((1 - tokens) / self.per_second))

    def stats(self) -> dict[str, int]:
        return {"accepted": self.accepted, "throttled": self.throttled}


# The standard normal's 95th percentile: a log-normal's p95 is median * exp(Z_95 * sigma).
_Z_95 = statistics.NormalDist().inv_cdf(0.95)


@dataclass
class LatencySetting:
    """How long the server waits before answering one Web API method (see Latency)."""

    method: str
    median_ms: float
    p95_ms: float | None
    seed: int | None
    rng: random.Random = field(repr=False, compare=False, default_factory=random.Random)

    @property
    def sigma(self) -> float:
        """The log-normal's shape: 0 (a fixed delay) without a p95 above the median."""
        if self.p95_ms is None or self.p95_ms == self.median_ms:
            return 0.0
        return math.log(self.p95_ms / self.median_ms) / _Z_95

    def draw(self) -> float:
        """One delay in ms: log-normal with this median (e^mu) and p95 (e^(mu + 1.645 sigma))."""
        sigma = self.sigma
        return self.median_ms if sigma == 0 else self.median_ms * math.exp(self.rng.gauss(0.0, sigma))

    def public(self) -> dict[str, Any]:
        return {"method": self.method, "median_ms": self.median_ms, "p95_ms": self.p95_ms, "seed": self.seed}


class Latency:
    """Answer times per Web API method, because real Slack takes tens to hundreds of milliseconds
    where the emulator takes about one: a benchmark comparing the product with a bare call needs
    the bare call to cost what it costs in production.

    A method's own setting wins over the "*" one. Off (no delay, nothing recorded) until `set`
    gives one. Not locked itself: EmulatorState draws under its lock, and the server sleeps
    after letting go of it, so concurrent calls wait side by side instead of one after another.
    """

    def __init__(self) -> None:
        self._settings: dict[str, LatencySetting] = {}

    def reset(self) -> None:
        self._settings.clear()

    def set(self, method: str, median_ms: float | None, p95_ms: float | None = None, seed: int | None = None) -> None:
        """None or 0 as the median turns the method's setting off (p95_ms must then be None).
        ValueError for anything else that is not a delay: a negative or infinite number, a p95 under
        the median, a non-integer seed."""
        if not isinstance(method, str) or not method:
            raise ValueError(f"method must be a Web API method name or '*', got {method!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        if median_ms is None or (_is_number(median_ms) and median_ms == 0):
            if p95_ms is not None:
                raise ValueError("p95_ms needs a median_ms above 0")
            self._settings.pop(method, None)
            return
        if not _is_number(median_ms) or median_ms < 0:
            raise ValueError(f"median_ms must be a finite number >= 0 or None, got {median_ms!r}")
        if p95_ms is not None and (not _is_number(p95_ms) or p95_ms < median_ms):
            raise ValueError(f"p95_ms must be a finite number >= median_ms ({median_ms}) or None, got {p95_ms!r}")
        setting = LatencySetting(method, float(median_ms), None if p95_ms is None else float(p95_ms), seed)
        if not math.isfinite(setting.sigma):
            raise ValueError(f"p95_ms {p95_ms!r} is too far above median_ms {median_ms!r}")
        setting.rng.seed(seed)
        self._settings.pop(method, None)  # so settings() lists them in the order they were set
        self._settings[method] = setting

    def draw(self, method: str) -> float | None:
        """The delay in ms for one call of `method`, or None when no setting applies to it."""
        setting = self._settings.get(method) or self._settings.get("*")
        return None if setting is None else setting.draw()

    def settings(self) -> list[dict[str, Any]]:
        return [setting.public() for setting in self._settings.values()]


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool, nor an int too large for a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


class HistoryRateLimit:
    """conversations.history / .replies for non-Marketplace distributed apps: 1 call per method
    per workspace per window (Slack: 1 request per minute), per Workspace.marketplace_app.

    A call is allowed when the previous allowed call of that method in that workspace is at least
    `history_window_seconds` old; otherwise it gets the whole seconds until then as Retry-After
    (at least 1). Throttled calls do not move the window. Not locked itself, like PostRateLimit.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[tuple[str, str], float] = {}

    def reset(self, team_id: str | None = None) -> None:
        self._last = {key: at for key, at in self._last.items() if team_id is not None and key[0] != team_id}

    def take(self, workspace: Workspace, method: str) -> int | None:
        """None when the call may go ahead (and is counted), else the Retry-After in seconds."""
        if workspace.marketplace_app:
            return None
        key, now = (workspace.team_id, method), self._clock()
        last = self._last.get(key)
        if last is None or now - last >= workspace.history_window_seconds:
            self._last[key] = now
            return None
        return max(1, math.ceil(last + workspace.history_window_seconds - now))


class EmulatorState:
    """Everything the emulator knows; mutate it only while holding `lock`.

    `clock` (monotonic seconds) drives both rate limits and `wall_clock` (epoch seconds) the
    expiry of rotating tokens, so tests can move time instead of sleeping.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self.lock = threading.RLock()
        self.wall_clock = wall_clock
        self.workspaces: dict[str, Workspace] = {}
        self.tokens: dict[str, Token] = {}
        self.faults: list[Fault] = []
        self.post_rate_limit = PostRateLimit(clock)
        self.history_rate_limit = HistoryRateLimit(clock)
        self.latency = Latency()
        self.oauth = OAuthRegistry()
        self.call_log: list[dict[str, Any]] = []

    def reset(self) -> None:
        with self.lock:
            self.workspaces.clear()
            self.tokens.clear()
            self.faults.clear()
            self.post_rate_limit.reset()
            self.history_rate_limit.reset()
            self.latency.reset()
            self.oauth.reset()
            self.call_log.clear()

    # -- setup -------------------------------------------------------------------------------

    def add_workspace(
        self,
        team_id: str,
        name: str,
        *,
        domain: str | None = None,
        bot_user_id: str | None = None,
        bot_id: str | None = None,
        bot_name: str = "buster",
        **options: Any,
    ) -> Workspace:
        with self.lock:
            if team_id in self.workspaces:
                raise ValueError(f"workspace {team_id} already exists")
            workspace = Workspace(
                team_id=team_id,
                name=name,
                domain=domain or _domain_from_name(name),
                bot_user_id=bot_user_id or new_slack_id("U"),
                bot_id=bot_id or new_slack_id("B"),
                bot_name=bot_name,
                owner_user_id=new_slack_id("U"),
            )
            _apply_options(workspace, options)
            self.workspaces[team_id] = workspace
            return workspace

    def configure_workspace(self, team_id: str, **options: Any) -> Workspace:
        """Change behaviour switches (WORKSPACE_OPTIONS); the workspace's history windows start over."""
        with self.lock:
            workspace = self.workspace(team_id)
            _apply_options(workspace, options)
            self.history_rate_limit.reset(team_id)
            return workspace

    def add_token(
        self,
        token: str,
        team_id: str,
        *,
        scopes: tuple[str, ...],
        status: str,
        client_id: str | None = None,
        expires_at: float | None = None,
        enterprise_id: str | None = None,
    ) -> None:
        _check_token_status(status)
        with self.lock:
            self.workspace(team_id)
            if token in self.tokens:
                raise ValueError("token already registered")  # never echo the token itself
            self.tokens[token] = Token(token, team_id, tuple(scopes), status, client_id, expires_at, enterprise_id)

    def revoke_installation(self, team_id: str, client_id: str | None = None) -> int:
        """An uninstall: the workspace's tokens (of `client_id`'s install and the seeded ones that
        belong to no app, or all of them) and its refresh tokens stop working; returns how many
        access tokens were revoked."""
        with self.lock:
            self.workspace(team_id)
            revoked = 0
            for record in self.tokens.values():
                mine = client_id is None or record.client_id in (None, client_id)
                if record.team_id == team_id and mine and record.status == "active":
                    record.status = "revoked"
                    revoked += 1
            self.oauth.revoke_refresh_tokens(team_id, client_id)
            return revoked

    def expire_tokens(self, team_id: str) -> int:
        """End now the lifetime of the workspace's expiring (rotating) tokens; returns how many."""
        with self.lock:
            self.workspace(team_id)
            now = self.wall_clock()
            expired = 0
            for record in self.tokens.values():
                if record.team_id == team_id and record.expires_at is not None and record.expires_at > now:
                    record.expires_at = now
                    expired += 1
            return expired

    def set_token_status(self, token: str, status: str) -> None:
        _check_token_status(status)
        with self.lock:
            if token not in self.tokens:
                raise KeyError("unknown token")
            self.tokens[token].status = status

    def add_channel(
        self,
        team_id: str,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        is_archived: bool = False,
        is_member: bool = False,
        purpose: str = "",
        topic: str = "",
        num_members: int = 0,
        shared_from: str | None = None,
    ) -> Channel:
        with self.lock:
            workspace = self.workspace(team_id)
            if any(channel.name == name for channel in workspace.channels.values()):
                raise ValueError(f"channel name {name!r} already used in {team_id}")
            if channel_id is not None and self._find_channel(channel_id) is not None:
                raise ValueError(f"channel id {channel_id} already exists")
            channel = Channel(
                id=channel_id or self._unused_channel_id(),
                team_id=team_id,
                name=name,
                creator=workspace.owner_user_id,
                created=int(time.time()),
                is_private=is_private,
                is_archived=is_archived,
                is_member=is_member,
                purpose=purpose,
                topic=topic,
                num_members=num_members,
                shared_from=shared_from,
            )
            workspace.channels[channel.id] = channel
            return channel

    def archive_channel(self, channel_id: str) -> None:
        with self.lock:
            self.channel(channel_id).is_archived = True

    def unarchive_channel(self, channel_id: str) -> None:
        with self.lock:
            self.channel(channel_id).is_archived = False

    def rename_channel(self, channel_id: str, name: str) -> None:
        """Rename as conversations.rename would; ValueError carries its error for a bad name."""
        with self.lock:
            channel = self.channel(channel_id)
            _check_channel_name(name)
            if name == channel.name:
                return
            if any(other.name == name for other in self.workspaces[channel.team_id].channels.values()):
                raise ValueError("name_taken")
            channel.previous_names.append(channel.name)
            channel.name = name

    def delete_channel(self, channel_id: str) -> None:
        with self.lock:
            channel = self.channel(channel_id)
            del self.workspaces[channel.team_id].channels[channel_id]

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete one message as Slack does when its author deletes it.

        A thread parent that still has replies becomes a tombstone in place (subtype "tombstone",
        text "This message was deleted.", user USLACKBOT, hidden, thread fields kept), so its thread
        stays readable and repliable. Any other message is removed. A deleted reply comes off its
        parent's reply counts; a tombstone whose last reply goes is removed too, as Slack does.
        A tombstone itself cannot be deleted again (KeyError, like an unknown ts).
        """
        with self.lock:
            channel = self.channel(channel_id)
            message = channel.find_message(ts)
            if message is None or message.get("subtype") == "tombstone":
                raise KeyError(f"no message with ts {ts} in channel {channel_id}")
            if _replies_of(channel, ts):
                tombstone = _tombstone(message)
                channel.messages = [tombstone if stored is message else stored for stored in channel.messages]
                return
            channel.messages = [stored for stored in channel.messages if stored is not message]
            root_ts = message.get("thread_ts")
            parent = channel.find_message(root_ts) if root_ts and root_ts != ts else None
            if parent is not None:
                _recount_replies(channel, parent)
                if parent.get("subtype") == "tombstone" and not _replies_of(channel, parent["ts"]):
                    channel.messages = [stored for stored in channel.messages if stored is not parent]

    def update_oauth_app(self, client_id: str, **changes: Any) -> OAuthApp:
        """Change a registered app's settings (redirect_uri, events_url, token_rotation, ...), as
        its developer would on the app's settings page; ValueError for a setting Slack refuses.
        Token rotation cannot be turned off once on (Slack: "may not be turned off")."""
        with self.lock:
            app = self.oauth.app(client_id)
            changeable = {f.name for f in dataclasses.fields(OAuthApp)} - {"client_id", "app_id"}
            unknown = set(changes) - changeable
            if unknown:
                raise ValueError(f"cannot change {sorted(unknown)} of an OAuth app")
            if app.token_rotation and changes.get("token_rotation") is False:
                raise ValueError("token rotation cannot be turned off once it is on")
            updated = dataclasses.replace(app, **changes)
            check_app(updated)
            self.oauth.apps[client_id] = updated
            return updated

    # -- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything a restarted emulator needs to go on where this one stopped, as JSON-able data:
        workspaces (their settings, bot, owner, ts clock), channels (members, archive state,
        names), every message and thread reply as stored, tokens (status, expiry, app), OAuth
        apps (credentials, URLs, verification token), unexchanged codes, refresh tokens, and the
        chat.postMessage rate limit's setting.

        Left out, on purpose: armed faults, the answer-time (latency) settings and the call log
        (a test's or a benchmark's instruments for the calls it is about to make, not Slack's
        state: a local stack restarted from its state dir answers at full speed again, and a
        seeded latency's sequence could not be resumed anyway), the rate limits' buckets and
        history windows and the post limit's counts (readings of this process's monotonic
        clock: a restart starts them over, as after reset())."""
        with self.lock:
            return _jsonable(
                {
                    "version": SNAPSHOT_VERSION,
                    "workspaces": [
                        {
                            **{f.name: getattr(w, f.name) for f in dataclasses.fields(w) if f.name != "channels"},
                            "channels": [dataclasses.asdict(channel) for channel in w.channels.values()],
                        }
                        for w in self.workspaces.values()
                    ],
                    "tokens": [dataclasses.asdict(token) for token in self.tokens.values()],
                    "oauth": {
                        "apps": [dataclasses.asdict(app) for app in self.oauth.apps.values()],
                        "codes": {code: dataclasses.asdict(grant) for code, grant in self.oauth.codes.items()},
                        "refresh_tokens": [dataclasses.asdict(r) for r in self.oauth.refresh_tokens.values()],
                    },
                    "post_rate_limit": {
                        "per_second": self.post_rate_limit.per_second,
                        "burst": self.post_rate_limit.burst,
                    },
                }
            )

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Replace the whole state with a snapshot() (read back from JSON); the call log, faults,
        latency settings and rate-limit windows start empty. ValueError for data snapshot() did not make."""
        if not isinstance(snapshot, dict) or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"not an emulator snapshot of version {SNAPSHOT_VERSION}")
        with self.lock:
            self.reset()
            try:
                for data in snapshot["workspaces"]:
                    workspace = Workspace(**_known(Workspace, data, exclude={"channels"}))
                    for channel in data.get("channels", []):
                        restored = Channel(**_known(Channel, channel))
                        workspace.channels[restored.id] = restored
                    self.workspaces[workspace.team_id] = workspace
                for data in snapshot["tokens"]:
                    token = Token(**_known(Token, data))
                    token.scopes = tuple(token.scopes)
                    self.tokens[token.token] = token
                oauth = snapshot["oauth"]
                for data in oauth["apps"]:
                    app = OAuthApp(**_known(OAuthApp, data))
                    if app.granted_scopes is not None:
                        app.granted_scopes = tuple(app.granted_scopes)
                    self.oauth.apps[app.client_id] = app
                for code, data in oauth["codes"].items():
                    grant = OAuthCode(**_known(OAuthCode, data))
                    grant.scopes, grant.enterprise = tuple(grant.scopes), _enterprise(grant.enterprise)
                    self.oauth.codes[code] = grant
                for data in oauth["refresh_tokens"]:
                    refresh = RefreshToken(**_known(RefreshToken, data))
                    refresh.scopes, refresh.enterprise = tuple(refresh.scopes), _enterprise(refresh.enterprise)
                    self.oauth.refresh_tokens[refresh.token] = refresh
                limit = snapshot.get("post_rate_limit") or {}
                self.post_rate_limit.configure(limit.get("per_second"), limit.get("burst", 1))
            except (KeyError, TypeError, AttributeError) as err:
                self.reset()
                raise ValueError(f"malformed emulator snapshot: {err!r}") from None

    # -- lookups -----------------------------------------------------------------------------

    def workspace(self, team_id: str) -> Workspace:
        with self.lock:
            if team_id not in self.workspaces:
                raise KeyError(f"unknown workspace {team_id}")
            return self.workspaces[team_id]

    def channel(self, channel_id: str) -> Channel:
        with self.lock:
            channel = self._find_channel(channel_id)
            if channel is None:
                raise KeyError(f"unknown channel {channel_id}")
            return channel

    def team_of(self, token: str | None) -> str | None:
        """Team of a known token, whatever its status; used to attribute logged calls."""
        with self.lock:
            record = self.tokens.get(token) if token else None
            return record.team_id if record else None

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.channel(channel_id).messages)

    # -- faults, rate limit and call log -----------------------------------------------------

    def arm_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str) -> Fault | None:
        """Consume the fault that applies to this call, if any.

        Every matching fault still in its `after` phase counts the call as skipped; the first
        armed one fires and uses up one of its `times`.
        """
        with self.lock:
            fired: Fault | None = None
            for fault in self.faults:
                if not fault.matches(method):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif fired is None:
                    fired = fault
                    fault.times -= 1
            self.faults = [fault for fault in self.faults if fault.times > 0]
            return fired

    def add_user_message(
        self, channel_id: str, text: str, *, user_id: str | None, thread_ts: str | None
    ) -> dict[str, Any]:
        with self.lock:
            channel = self.channel(channel_id)
            workspace = self.workspace(channel.team_id)
            message: dict[str, Any] = {
                "type": "message",
                "text": text,
                "user": user_id or workspace.owner_user_id,
                "team": workspace.team_id,
                "ts": workspace.next_ts(),
            }
            parent = channel.find_message(thread_ts) if thread_ts else None
            if thread_ts and parent is None:
                raise KeyError(f"no message with ts {thread_ts} in channel {channel_id}")
            if parent is not None:
                root = channel.find_message(parent.get("thread_ts", parent["ts"])) or parent
                message["thread_ts"] = root["ts"]
                message["parent_user_id"] = root["user"]
                count_reply(root, message)
            channel.messages.append(message)
            return copy.deepcopy(message)

    def add_oauth_app(self, client_id: str, client_secret: str, **options: Any) -> OAuthApp:
        """Options: the OAuthApp fields after app_id (redirect_uri, signing_secret, ...)."""
        with self.lock:
            return self.oauth.add(OAuthApp(client_id, client_secret, new_slack_id("A"), **options))

    def issue_oauth_code(
        self,
        client_id: str,
        team_id: str,
        *,
        scopes: tuple[str, ...],
        redirect_uri: str | None,
        installer_user_id: str | None,
        enterprise: Enterprise | None = None,
    ) -> str:
        with self.lock:
            self.oauth.app(client_id)
            workspace = self.workspace(team_id)
            code = f"{random.randint(10**11, 10**12 - 1)}.{random.randint(10**11, 10**12 - 1)}"
            self.oauth.codes[code] = OAuthCode(
                client_id=client_id,
                team_id=team_id,
                scopes=tuple(scopes),
                installer_user_id=installer_user_id or workspace.owner_user_id,
                redirect_uri=redirect_uri,
                enterprise=enterprise,
            )
            return code

    def set_post_rate_limit(self, per_second: float | None, burst: int = 1) -> None:
        with self.lock:
            self.post_rate_limit.configure(per_second, burst)

    def post_rate_limit_stats(self) -> dict[str, int]:
        with self.lock:
            return self.post_rate_limit.stats()

    def set_latency(
        self, method: str, median_ms: float | None, p95_ms: float | None = None, seed: int | None = None
    ) -> None:
        with self.lock:
            self.latency.set(method, median_ms, p95_ms, seed)

    def draw_latency(self, method: str) -> float | None:
        """The delay in ms to wait before answering this call (None: answer at once). Only the
        draw happens under the lock: the caller sleeps without it."""
        with self.lock:
            return self.latency.draw(method)

    def latency_settings(self) -> list[dict[str, Any]]:
        with self.lock:
            return self.latency.settings()

    def record_call(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.call_log.append(record)

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy([call for call in self.call_log if method is None or call["method"] == method])

    # -- internals ---------------------------------------------------------------------------

    def _find_channel(self, channel_id: str) -> Channel | None:
        for workspace in self.workspaces.values():
            if channel_id in workspace.channels:
                return workspace.channels[channel_id]
        return None

    def _unused_channel_id(self) -> str:
        while True:
            channel_id = new_slack_id("C")
            if self._find_channel(channel_id) is None:
                return channel_id


def count_reply(parent: dict[str, Any], reply: dict[str, Any]) -> None:
    """Add one reply to its parent's thread fields."""
    parent["thread_ts"] = parent["ts"]
    parent["reply_count"] = parent.get("reply_count", 0) + 1
    reply_users: list[str] = parent.setdefault("reply_users", [])
    if reply["user"] not in reply_users:
        reply_users.append(reply["user"])
    parent["reply_users_count"] = len(reply_users)
    parent["latest_reply"] = reply["ts"]
    # Thread parents as bot tokens read them (Slack's recorded answers and tombstones carry both).
    parent.setdefault("is_locked", False)
    parent.setdefault("subscribed", False)


def _replies_of(channel: Channel, ts: str) -> list[dict[str, Any]]:
    return [m for m in channel.messages if m.get("thread_ts") == ts and m["ts"] != ts]


def _tombstone(parent: dict[str, Any]) -> dict[str, Any]:
    """What a deleted thread parent leaves, shaped like the tombstones Slack returns (recorded in
    public bug reports, e.g. hackclub/toriel#238): its thread fields stay, the rest is replaced."""
    tombstone: dict[str, Any] = {
        "type": "message",
        "subtype": "tombstone",
        "text": TOMBSTONE_TEXT,
        "user": SLACKBOT_USER_ID,
        "hidden": True,
        "ts": parent["ts"],
        "thread_ts": parent["ts"],
        "parent_user_id": SLACKBOT_USER_ID,
    }
    for key in ("reply_count", "reply_users_count", "latest_reply", "reply_users"):
        tombstone[key] = copy.deepcopy(parent[key])
    tombstone.update(is_locked=False, subscribed=False)
    return tombstone


_THREAD_KEYS = (
    "thread_ts",
    "reply_count",
    "reply_users",
    "reply_users_count",
    "latest_reply",
    "is_locked",
    "subscribed",
)


def _recount_replies(channel: Channel, parent: dict[str, Any]) -> None:
    """Rebuild a parent's thread fields from its remaining replies; none left means no thread at all."""
    replies = _replies_of(channel, parent["ts"])
    if not replies:
        for key in _THREAD_KEYS:
            parent.pop(key, None)
        return
    reply_users = list(dict.fromkeys(reply["user"] for reply in replies))
    parent.update(
        reply_count=len(replies),
        reply_users=reply_users,
        reply_users_count=len(reply_users),
        latest_reply=replies[-1]["ts"],
    )


def _known(cls: type, data: dict[str, Any], exclude: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The keys of `data` that are fields of dataclass `cls` (a snapshot from a newer or older
    emulator may carry others, or miss some, which then get their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    return {key: copy.deepcopy(value) for key, value in data.items() if key in names}


def _jsonable(value: Any) -> Any:
    """A deep copy with tuples as lists: what json.loads(json.dumps(value)) gives back."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _enterprise(value: Enterprise | dict[str, Any] | None) -> Enterprise | None:
    return Enterprise(**value) if isinstance(value, dict) else value


def _domain_from_name(name: str) -> str:
    """Slack derives the subdomain from the team name: lowercase, non-alphanumerics become dashes."""
    slug = "".join(char if char.isalnum() else "-" for char in name.lower()).strip("-")
    return slug or "workspace"


def _apply_options(workspace: Workspace, options: dict[str, Any]) -> None:
    unknown = set(options) - WORKSPACE_OPTIONS
    if unknown:
        raise ValueError(f"unknown workspace option(s) {sorted(unknown)}; expected some of {sorted(WORKSPACE_OPTIONS)}")
    for name in ("history_needs_membership", "marketplace_app"):
        if name in options and not isinstance(options[name], bool):
            raise ValueError(f"{name} must be a bool, got {options[name]!r}")
    window = options.get("history_window_seconds", workspace.history_window_seconds)
    if isinstance(window, bool) or not isinstance(window, int | float) or not math.isfinite(window) or window <= 0:
        raise ValueError(f"history_window_seconds must be a positive number, got {window!r}")
    mode = options.get("unknown_thread_ts", workspace.unknown_thread_ts)
    if mode not in UNKNOWN_THREAD_MODES:
        raise ValueError(f"unknown_thread_ts must be one of {sorted(UNKNOWN_THREAD_MODES)}, got {mode!r}")
    for name, value in options.items():
        setattr(workspace, name, value)


# conversations.rename's rules: lowercase letters, digits, hyphens and underscores, at most 80.
_CHANNEL_NAME_CHARS = frozenset(string.ascii_lowercase + string.digits + "-_")
MAX_CHANNEL_NAME = 80


def _check_channel_name(name: str) -> None:
    """ValueError with conversations.rename's error string for a name Slack refuses."""
    if not isinstance(name, str) or not name:
        raise ValueError("invalid_name_required")
    if len(name) > MAX_CHANNEL_NAME:
        raise ValueError("invalid_name_maxlength")
    if not set(name) <= _CHANNEL_NAME_CHARS:
        raise ValueError("invalid_name_specials")


def _check_token_status(status: str) -> None:
    if status not in TOKEN_STATUSES:
        raise ValueError(f"unknown token status {status!r}; expected one of {sorted(TOKEN_STATUSES)}")
