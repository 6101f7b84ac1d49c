// The reference dashboard: only the product's public HTTP API and its install flow, plus the local
// stack's stand-in for an identity provider (GET /_local/token mints a dev JWT for a user id).
// Everything from the API or from Slack is put on the page as text, never as HTML.
"use strict";

const SESSION_KEY = "buster.dashboard.session";
const CHANNELS_SHOWN = 100; // the picker renders at most this many matches; typing narrows the rest
const MESSAGES_PAGE = 20;
const REFRESH_MS = 5000;

// What Add to Slack's return (?slack=error&code=CODE) means, in words a person can act on. The
// callback sends only the code (text taken from the address would let a crafted link put any
// words on this page); these are the API's own messages for each code the callback can send
// (tests/unit/test_dashboard.py keeps them equal to shared/slack_integration/errors.py).
const START_AGAIN = "Start again with Add to Slack in the Buster dashboard.";
const INSTALL_ERRORS = {
  INSTALL_STATE_INVALID: `This Slack connection link is not valid. ${START_AGAIN}`,
  INSTALL_STATE_USED: `This Slack connection link was already used. ${START_AGAIN}`,
  INSTALL_STATE_EXPIRED: `This Slack connection link expired (after 10 minutes). ${START_AGAIN}`,
  INSTALL_DENIED: "Slack was not connected: the permission request was cancelled in Slack.",
  INSTALL_EXCHANGE_FAILED: `Slack did not confirm the connection. ${START_AGAIN}`,
  INSTALL_SCOPES_MISSING:
    "Slack granted Buster fewer permissions than it needs to post notifications, so nothing was connected. Contact Buster support.",
  ENTERPRISE_INSTALL_UNSUPPORTED:
    "Buster connects one Slack workspace, not a whole Enterprise Grid organization. Install it to one workspace of your organization instead.",
  SLACK_APP_NOT_CONFIGURED: "Buster's Slack app is not set up yet. Contact Buster support.",
  AWS_UNAVAILABLE: "Buster's storage is temporarily unavailable. Try again in a moment.",
  FEATURE_DISABLED:
    "Slack notifications are paused by Buster for maintenance. Your settings are kept; try again later.",
  INTERNAL_ERROR: "Something went wrong on Buster's side. Try again; if it persists, contact Buster support.",
};

const STATUS_LABELS = {
  delivered: ["Delivered", "ok"],
  posting: ["Sending", "warn"],
  retrying: ["Retrying", "warn"],
  uncertain: ["Checking Slack", "warn"],
  dead_lettered: ["Not delivered", "bad"],
  stale: ["Skipped (older update)", "warn"],
};

const state = {
  session: null, // {user, token}
  status: null,
  channels: [],
  selected: null,
  savedChannelId: null,
  messagesCursor: null,
  olderLoaded: false,
  openThread: null, // {id}
  renderedFirstPage: null, // what the first page showed last (JSON), so a refresh redraws only changes
  timer: null,
  local: false, // served by the local stack (its stand-in producer is there)
  tried: null, // the notification the "try it" panel sent last
};

const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// -- talking to the API ---------------------------------------------------------------------

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${state.session.token}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "NETWORK", "The Buster API cannot be reached. Is the local stack (make run) still running?");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) {
    signOut("Your session has expired. Sign in again.");
    throw new ApiError(401, "UNAUTHENTICATED", "Sign in again.");
  }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `The API answered ${response.status}.`;
    throw new ApiError(response.status, data && data.code, message);
  }
  return data;
}

// -- small DOM helpers (text only) ------------------------------------------------------------

function element(tag, { className, text, attrs } = {}, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) if (child) node.append(child);
  return node;
}

function notice(text, kind = "ok") {
  const box = $("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

function when(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  return moment.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function badge(status) {
  const [label, kind] = STATUS_LABELS[status] || [status, "warn"];
  return element("span", { className: `badge ${kind}`, text: label });
}

// -- session ----------------------------------------------------------------------------------

function loadSession() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (saved && typeof saved.user === "string" && typeof saved.token === "string") return saved;
  } catch {
    // a damaged entry is the same as none
  }
  return null;
}

async function signIn(user) {
  const response = await fetch(`/_local/token?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new ApiError(response.status, null, "The local stack did not sign you in.");
  const { token } = await response.json();
  state.session = { user, token };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
}

function signOut(message) {
  sessionStorage.removeItem(SESSION_KEY);
  state.session = null;
  clearInterval(state.timer);
  state.timer = null;
  for (const id of ["session", "connection", "channel", "messages", "stats"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  if (message) notice(message, "error");
  $("user-id").focus();
}

function showSignedIn() {
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("session-user").textContent = state.session.user;
  $("connection").hidden = false;
}

// -- connection -------------------------------------------------------------------------------

async function loadStatus() {
  const status = await api("GET", "/integration/status");
  state.status = status;
  renderConnection(status);
  return status;
}

function renderConnection(status) {
  const box = $("connection-state");
  box.replaceChildren();
  const connected = status.code !== "INTEGRATION_NOT_FOUND";
  const active = connected && status.integrationActive;
  // The API classifies every failure: the health status says what the user has to do.
  const needsReconnect = connected && (!status.integrationActive || status.healthStatus === "needs_reconnect");
  const add = $("add-to-slack");
  add.hidden = active && !needsReconnect;
  add.textContent = connected ? "Reconnect Slack" : "Add to Slack";
  $("disconnect").hidden = !active;
  if (!connected) {
    box.append(element("p", { text: "No Slack workspace is connected yet." }));
    box.append(element("p", { className: "hint", text: "Add to Slack to choose where Buster posts your notifications." }));
  } else {
    const workspace = status.teamName || status.teamId || "your workspace";
    const line = element("p");
    line.append("Workspace ", element("strong", { text: workspace }), " ");
    if (status.canSend) line.append(element("span", { className: "badge ok", text: "Connected" }), " Buster can post.");
    else if (needsReconnect) line.append(element("span", { className: "badge bad", text: "Needs a reconnect" }));
    else if (status.channelConfigured) line.append(element("span", { className: "badge warn", text: "Cannot post" }));
    else line.append(element("span", { className: "badge warn", text: "No channel yet" }));
    box.append(line);
    if (status.error) box.append(element("p", { className: "error-text", text: status.error }));
    if (status.healthStatus === "degraded" && status.missingScopes) {
      box.append(
        element("p", {
          className: "hint",
          text: `Some features are off until you reconnect: Slack did not grant ${status.missingScopes.join(", ")}.`,
        }),
      );
    }
    if (status.checkedAt) box.append(element("p", { className: "small", text: `Checked ${when(status.checkedAt)}` }));
  }
  // What was sent stays readable after a disconnect; channels need a working connection.
  $("channel").hidden = !active;
  $("try-it").hidden = !active || !state.local;
  for (const id of ["messages", "stats"]) $(id).hidden = !connected;
  $("confirm-workspace").textContent = status.teamName || "your workspace";
}

async function addToSlack() {
  const button = $("add-to-slack");
  button.disabled = true;
  try {
    const { url } = await api("POST", "/integration/install");
    window.location.assign(url);
  } catch (error) {
    notice(error.message, "error");
    button.disabled = false;
  }
}

function confirmDisconnect() {
  const dialog = $("confirm-disconnect");
  dialog.returnValue = "";
  dialog.showModal();
}

async function disconnected() {
  const dialog = $("confirm-disconnect");
  if (dialog.returnValue !== "confirm") {
    $("disconnect").focus();
    return;
  }
  try {
    await api("DELETE", "/integration");
    notice("Slack is disconnected. Buster no longer posts to your workspace.");
    await refreshAll();
    $("add-to-slack").focus();
  } catch (error) {
    notice(error.message, "error");
  }
}

// -- the channel picker -----------------------------------------------------------------------

async function loadChannels() {
  const count = $("channel-count");
  try {
    const [{ channels }, { notificationChannel }] = await Promise.all([
      api("GET", "/integration/channels"),
      api("GET", "/integration/channel"),
    ]);
    state.channels = channels.map((c) => ({ ...c, search: `${c.name} ${c.purpose || ""}`.toLowerCase() }));
    state.savedChannelId = notificationChannel ? notificationChannel.channelId : null;
    renderCurrentChannel(notificationChannel);
    renderChannels();
  } catch (error) {
    state.channels = [];
    $("channel-results").replaceChildren();
    count.textContent = "";
    const result = $("channel-result");
    result.textContent = error.message;
    result.className = "result error";
  }
}

function renderCurrentChannel(channel) {
  const current = $("current-channel");
  current.replaceChildren();
  if (channel) current.append("Notifications go to ", element("strong", { text: `#${channel.channelName}` }), ".");
  else current.append("No channel chosen yet: pick one below.");
}

function matches(query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return state.channels;
  const found = state.channels.filter((c) => words.every((w) => c.search.includes(w)));
  // Names that start with what was typed come first.
  return found.sort((a, b) => Number(!a.name.startsWith(words[0])) - Number(!b.name.startsWith(words[0])));
}

function renderChannels() {
  const query = $("channel-search").value.trim();
  const found = matches(query);
  const shown = found.slice(0, CHANNELS_SHOWN);
  const list = $("channel-results");
  const fragment = document.createDocumentFragment();
  for (const channel of shown) {
    const id = `channel-${channel.id}`;
    const input = element("input", { attrs: { type: "radio", name: "channel", id, value: channel.id } });
    input.checked = channel.id === state.selected;
    const members = channel.memberCount === null || channel.memberCount === undefined ? "" : `${channel.memberCount} members`;
    const bot = channel.isMember ? "Buster is in it" : "Buster joins when saved";
    const label = element(
      "label",
      { attrs: { for: id } },
      element("span", { className: "channel-name", text: `#${channel.name}` }),
      element("span", { className: "channel-meta", text: [members, bot].filter(Boolean).join(" · ") }),
      channel.purpose ? element("span", { className: "channel-purpose", text: channel.purpose }) : null,
    );
    fragment.append(element("li", {}, input, label));
  }
  list.replaceChildren(fragment);
  const total = state.channels.length;
  let text;
  if (!total) text = "No public channel in this workspace.";
  else if (!found.length) text = `No public channel matches “${query}”.`;
  else if (found.length > shown.length)
    text = `Showing ${shown.length} of ${found.length.toLocaleString()} channels${query ? " that match" : ""}. Type to narrow.`;
  else text = `${found.length.toLocaleString()} channel${found.length === 1 ? "" : "s"}${query ? " match" : ""}.`;
  $("channel-count").textContent = text;
  $("save-channel").disabled = !state.selected;
}

function debounce(work, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => work(...args), ms);
  };
}

async function saveChannel(event) {
  event.preventDefault();
  if (!state.selected) return;
  const result = $("channel-result");
  const button = $("save-channel");
  button.disabled = true;
  result.className = "result";
  result.textContent = "Saving…";
  try {
    const answer = await api("PUT", "/integration/channel", { channelId: state.selected });
    const { notificationChannel } = await api("GET", "/integration/channel");
    renderCurrentChannel(notificationChannel);
    state.savedChannelId = notificationChannel && notificationChannel.channelId;
    result.className = "result ok";
    result.textContent = answer.message;
    // Saving may have made the bot join the channel: the list shows it as Slack has it now.
    await Promise.all([loadStatus(), loadChannels()]);
  } catch (error) {
    result.className = "result error";
    result.textContent = error.message;
  } finally {
    button.disabled = !state.selected;
  }
}

// -- try it: the local stack's stand-in for a Buster service --------------------------------------

async function tryIt(event, replyTo) {
  event.preventDefault();
  const form = event.target;
  const text = form.elements.text.value.trim();
  const result = $("try-result");
  if (!text) return;
  try {
    const queued = await api("POST", "/_local/notify", replyTo ? { text, replyTo } : { text });
    result.className = "result ok";
    if (replyTo) result.textContent = `Reply queued for ${replyTo}: it shows in the thread once Slack has it.`;
    else {
      state.tried = queued.internalMessageId;
      $("try-reply-form").hidden = false;
      result.textContent = `Notification ${queued.internalMessageId} queued: it shows under What was sent once Slack has it.`;
    }
    setTimeout(() => tick(), 1500);
  } catch (error) {
    result.className = "result error";
    result.textContent = error.message;
  }
}

// -- what was sent ----------------------------------------------------------------------------

async function loadMessages({ older = false } = {}) {
  const query = new URLSearchParams({ limit: String(MESSAGES_PAGE) });
  if (older && state.messagesCursor) query.set("cursor", state.messagesCursor);
  const failure = $("messages-error");
  try {
    const page = await api("GET", `/messages?${query}`);
    failure.hidden = true;
    renderMessages(page.messages, { append: older });
    state.messagesCursor = page.nextCursor;
    state.olderLoaded = state.olderLoaded || older;
    $("older-messages").hidden = !page.nextCursor;
  } catch (error) {
    failure.textContent = error.message;
    failure.hidden = false;
  }
}

function rowButton(id) {
  return document.querySelector(`#message-rows tr[data-message-id="${CSS.escape(id)}"] button`);
}

function renderMessages(messages, { append }) {
  const rows = $("message-rows");
  if (!append) {
    // The refresh every few seconds must not pull the page from under the user: nothing changed,
    // nothing is redrawn; and a row's focused button keeps the focus in its redrawn row.
    const rendered = JSON.stringify(messages);
    if (rendered === state.renderedFirstPage) return;
    state.renderedFirstPage = rendered;
  }
  const focused = rows.contains(document.activeElement) ? document.activeElement.closest("tr") : null;
  const focusedId = focused && focused.dataset.messageId;
  const fragment = document.createDocumentFragment();
  for (const message of messages) fragment.append(messageRow(message));
  if (append) rows.append(fragment);
  else rows.replaceChildren(fragment);
  if (focusedId && !append && rowButton(focusedId)) rowButton(focusedId).focus();
  const any = rows.children.length > 0;
  $("messages-table").hidden = !any;
  $("messages-empty").hidden = any;
}

function messageRow(message) {
  const status = element("td", {}, badge(message.status));
  if (message.status !== "delivered" && message.error) {
    status.append(element("span", { className: "reason", text: message.error }));
  }
  if (message.status !== "delivered" && message.errorCode) {
    status.append(element("span", { className: "small", text: message.errorCode }));
  }
  const what = element(
    "td",
    { className: "preview" },
    element("span", { text: message.preview || "(no text)" }),
    element("span", {
      className: "type",
      text: [message.messageType, message.updates ? `updated ${message.updates}×` : null, message.internalMessageId]
        .filter(Boolean)
        .join(" · "),
    }),
  );
  const open = element("td");
  if (message.ts) {
    const button = element("button", {
      text: "Open thread",
      attrs: { type: "button", "aria-label": `Open the thread of ${message.internalMessageId}` },
    });
    button.addEventListener("click", () => openThread(message.internalMessageId));
    open.append(button);
  }
  return element(
    "tr",
    { attrs: { "data-message-id": message.internalMessageId, "data-status": message.status } },
    element("td", { className: "when", text: when(message.sentAt || message.firstAttemptAt) }),
    what,
    status,
    element("td", { className: "replies", text: message.replies }),
    open,
  );
}

async function openThread(id) {
  state.openThread = { id };
  const section = $("thread");
  const body = $("thread-body");
  section.hidden = false;
  $("thread-title").textContent = `Thread of ${id}`;
  body.replaceChildren(element("p", { className: "hint", text: "Loading…" }));
  $("thread-title").focus();
  try {
    renderThread(await api("GET", `/messages/${encodeURIComponent(id)}/thread`));
  } catch (error) {
    body.replaceChildren(element("p", { className: "error-text", attrs: { role: "alert" }, text: error.message }));
  }
}

function renderThread(thread) {
  const original = thread.original;
  const facts = [`Sent ${when(original.sentAt)}`, original.messageType];
  if (original.updates) facts.push(`updated ${original.updates}× (last ${when(original.updatedAt)})`);
  const body = $("thread-body");
  const list = element("ol", { attrs: { "aria-label": "Replies" } });
  for (const reply of thread.replies) {
    const item = element("li", { attrs: { "data-status": reply.status } }, badge(reply.status), " ");
    item.append(element("span", { text: reply.preview || "(no text)" }));
    const details = [when(reply.deliveredAt || reply.firstAttemptAt)];
    if (reply.status === "delivered" && reply.threaded === false) details.push("posted outside the thread");
    if (reply.errorCode) details.push(reply.errorCode);
    item.append(element("div", { className: "small", text: details.filter(Boolean).join(" · ") }));
    list.append(item);
  }
  body.replaceChildren(
    element(
      "div",
      { className: "original" },
      element("p", { text: original.preview || "(no text)" }),
      element("p", { className: "small", text: facts.filter(Boolean).join(" · ") }),
    ),
    thread.replies.length ? list : element("p", { className: "hint", text: "No replies yet." }),
  );
}

function closeThread() {
  $("thread").hidden = true;
  const id = state.openThread && state.openThread.id;
  state.openThread = null;
  // The row may have been redrawn since: focus its button as it is now.
  const opener = id && rowButton(id);
  if (opener) opener.focus();
}

// -- stats ------------------------------------------------------------------------------------

async function loadStats() {
  try {
    renderStats(await api("GET", "/integration/stats"));
  } catch (error) {
    $("kpis").replaceChildren(element("p", { className: "error-text", text: error.message }));
  }
}

function percent(rate) {
  return rate === null || rate === undefined ? "–" : `${Math.round(rate * 1000) / 10}%`;
}

function millis(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function renderStats(stats) {
  const kpis = [
    ["Notifications sent", stats.messagesSent],
    ["Delivery rate", percent(stats.deliveryRate)],
    ["Failed", stats.failed],
    ["Pending", stats.pending],
    ["Replies in threads", `${stats.replies.threaded} of ${stats.replies.total}`],
    ["Median time to Slack", millis(stats.latency.medianMs)],
  ];
  $("kpis").replaceChildren(
    ...kpis.map(([name, value]) => element("div", {}, element("dt", { text: name }), element("dd", { text: value }))),
  );
  drawChart(stats.overTime || [], stats.bucketSeconds);
  const errors = $("common-errors");
  errors.replaceChildren();
  if (stats.commonErrors.length) {
    errors.append(element("h3", { text: "Most common errors" }));
    const list = element("ul");
    for (const { code, count } of stats.commonErrors) list.append(element("li", { text: `${code}: ${count}` }));
    errors.append(list);
  }
}

function drawChart(buckets, bucketSeconds) {
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const width = 480;
  const height = 160;
  const top = 8;
  const bottom = 150;
  svg.replaceChildren();
  const totals = buckets.map((b) => b.delivered + b.failed + b.pending);
  const peak = Math.max(1, ...totals);
  const slot = width / Math.max(1, buckets.length);
  buckets.forEach((bucket, index) => {
    let y = bottom;
    for (const part of ["delivered", "failed", "pending"]) {
      const value = bucket[part];
      if (!value) continue;
      const h = ((bottom - top) * value) / peak;
      y -= h;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(index * slot + slot * 0.1));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(slot * 0.8));
      rect.setAttribute("height", String(h));
      rect.setAttribute("class", `bar-${part}`);
      rect.setAttribute("data-bucket", bucket.start);
      svg.append(rect);
    }
  });
  const axis = document.createElementNS(ns, "line");
  axis.setAttribute("x1", "0");
  axis.setAttribute("x2", String(width));
  axis.setAttribute("y1", String(bottom + 0.5));
  axis.setAttribute("y2", String(bottom + 0.5));
  axis.setAttribute("class", "axis");
  svg.append(axis);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const total = totals.reduce((a, b) => a + b, 0);
  const unit = bucketSeconds >= 86400 ? "day" : bucketSeconds >= 3600 ? "hour" : `${Math.round(bucketSeconds / 60)} minutes`;
  $("chart-title").textContent = `Deliveries per ${unit}`;
  const failed = buckets.reduce((a, b) => a + b.failed, 0);
  $("chart-summary").textContent = total
    ? `${total} in the window, ${failed} failed, at most ${Math.max(...totals)} in one ${unit}.`
    : "nothing in the window yet.";
}

// -- putting it together ----------------------------------------------------------------------

async function refreshAll() {
  try {
    const status = await loadStatus();
    if (status.code === "INTEGRATION_NOT_FOUND") return;
    await Promise.all([status.integrationActive ? loadChannels() : null, loadMessages(), loadStats()]);
  } catch (error) {
    if (error.status !== 401) notice(error.message, "error");
  }
}

async function tick() {
  // Keep "what was sent" and the stats current while the page is in view; a list the user paged
  // back through is left as it is.
  if (!state.session || document.hidden || $("messages").hidden) return;
  if (!state.olderLoaded) await loadMessages();
  await loadStats();
  if (state.openThread) {
    try {
      renderThread(await api("GET", `/messages/${encodeURIComponent(state.openThread.id)}/thread`));
    } catch {
      // the open thread keeps what it showed; the next tick tries again
    }
  }
}

function returnedFromSlack() {
  const query = new URLSearchParams(window.location.search);
  const outcome = query.get("slack");
  if (!outcome) return;
  if (outcome === "connected") notice("Slack is connected. Pick the channel Buster should post to.");
  else {
    // Only a code's shape is taken from the address, never free text.
    const given = query.get("code") || "";
    const code = /^[A-Z][A-Z_]{0,63}$/.test(given) ? given : "UNKNOWN";
    notice(INSTALL_ERRORS[code] || `Slack was not connected (${code}). ${START_AGAIN}`, "error");
  }
  window.history.replaceState(null, "", window.location.pathname);
}

async function start() {
  returnedFromSlack();
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = $("user-id").value.trim();
    if (!user) return;
    try {
      await signIn(user);
      notice("");
      showSignedIn();
      await refreshAll();
      $("main").focus();
      startRefreshing();
    } catch (error) {
      notice(error.message, "error");
    }
  });
  $("sign-out").addEventListener("click", () => {
    signOut();
    notice("Signed out.");
  });
  $("add-to-slack").addEventListener("click", addToSlack);
  $("disconnect").addEventListener("click", confirmDisconnect);
  $("confirm-disconnect").addEventListener("close", disconnected);
  $("channel-search").addEventListener("input", debounce(renderChannels, 80));
  $("channel-results").addEventListener("change", (event) => {
    if (event.target.name === "channel") {
      state.selected = event.target.value;
      $("save-channel").disabled = false;
    }
  });
  $("channel-form").addEventListener("submit", saveChannel);
  $("refresh-messages").addEventListener("click", () => {
    state.olderLoaded = false;
    state.renderedFirstPage = null;
    loadMessages();
  });
  $("older-messages").addEventListener("click", () => loadMessages({ older: true }));
  $("close-thread").addEventListener("click", closeThread);
  $("refresh-stats").addEventListener("click", loadStats);
  $("try-form").addEventListener("submit", (event) => tryIt(event));
  $("try-reply-form").addEventListener("submit", (event) => tryIt(event, state.tried));

  // Signed in already (a reload, or back from Slack's consent page): straight to the dashboard.
  state.session = loadSession();
  if (state.session) {
    showSignedIn();
    startRefreshing();
    refreshAll();
  }
  let info = null;
  try {
    info = await (await fetch("/_local/info")).json();
  } catch {
    // not the local stack: no stand-in producer, the user types an id
  }
  state.local = Boolean(info);
  if (state.status) renderConnection(state.status); // the Try it panel, now that it is known
  // Only into an empty field: someone may have typed their id while /_local/info was on its way.
  const field = $("user-id");
  if (info && !field.value) field.value = info.demo_user || "";
}

function startRefreshing() {
  clearInterval(state.timer);
  state.timer = setInterval(tick, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
