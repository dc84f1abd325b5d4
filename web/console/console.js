// The presenter console. Feed messages only change the models; one animation frame then draws what changed, so a
// burst of events from hundreds of sessions costs one layout, not one per event.

import { MESSAGES, pickLanguage } from "/static/i18n.js";
import { api } from "./api.js";
import { CampaignsView } from "./campaigns.js";
import { channelLabel, el, setText, toast } from "./dom.js";
import { Feed } from "./feed.js";
import { HistoryView } from "./history.js";
import { SessionList } from "./list.js";
import { LiveView } from "./live.js";
import { ConsoleState, fromHistory } from "./state.js";

const LAG_SAMPLES = 20000;
const $ = (id) => document.getElementById(id);

const state = new ConsoleState();
const stats = { batches: 0, events: 0, frames: 0, frameMs: [], snapshots: 0, lags: [], batchLags: [] };
let connection = "connecting";
let framePending = false;
let status = null;

const list = new SessionList($("sessions"), $("no-sessions"), $("filter"), select);
const live = new LiveView($("live-view"), { end: endSession, openHistory });
const history = new HistoryView($("search"), $("results"), $("conversation"));
const campaigns = new CampaignsView($("campaign-form"), $("campaign-list"), $("campaign"));

function schedule() {
  if (framePending) return;
  framePending = true;
  requestAnimationFrame(frame);
}

// runs after the frame's style, layout and paint: a message posted from inside requestAnimationFrame is handled
// only once the rendering update that called it has finished
const afterPaint = new MessageChannel();
let paintWaiters = [];
afterPaint.port1.onmessage = () => {
  const waiters = paintWaiters;
  paintWaiters = [];
  for (const waiter of waiters) waiter();
};

function frame() {
  framePending = false;
  const started = performance.now();
  const dirty = state.takeDirty();
  list.render(state, dirty);
  if (live.model) {
    const current = state.sessions.get(live.model.id);
    if (current && current !== live.model) live.show(current);
    else if (dirty.has(live.model.id)) live.update();
  }
  drawCounts();
  const drawn = state.pendingFinals;
  state.pendingFinals = [];
  paintWaiters.push(() => {
    const now = Date.now();
    for (const at of drawn) record(stats.lags, now - at * 1000);
    stats.frames += 1;
    record(stats.frameMs, performance.now() - started);
  });
  afterPaint.port2.postMessage(null);
}

function record(samples, value) {
  samples.push(value);
  if (samples.length > LAG_SAMPLES) samples.splice(0, samples.length - LAG_SAMPLES);
}

function drawCounts() {
  const { live: n, byChannel } = state.counts();
  const parts = [...byChannel].sort().map(([channel, count]) => `${channelLabel(channel)} ${count}`);
  setText($("counts"), `${n} live${parts.length ? ` · ${parts.join(" · ")}` : ""}`);
}

function setConnection(value) {
  connection = value;
  const pill = $("conn");
  pill.dataset.state = value;
  setText(pill, { live: "live", connecting: "connecting…", reconnecting: "reconnecting…", offline: "offline" }[value] || value);
}

function setAgent(name) {
  if (!name || state.agent === name) return;
  state.agent = name;
  $("agent").value = name;
}

// --- selection and the hub history of sessions that began before this page ------------------------------------
async function select(id) {
  const model = state.sessions.get(id);
  if (!model) return;
  const previous = state.selected;
  state.selected = id;
  list.select(id, state);
  if (previous && previous !== id) state.scheduleSweep(); // an ended session that was being watched may go now
  live.show(model);
  if (!model.complete && model.info.state !== "ended" && !model.buffer) await loadHistory(model);
}

async function loadHistory(model) {
  model.buffer = [];
  try {
    const data = await api(`/api/console/sessions/${encodeURIComponent(model.id)}`);
    const current = state.sessions.get(model.id);
    if (current !== model) return;
    state.replace(fromHistory(data.session, data.events, model.buffer));
  } catch (error) {
    if (error.status !== 404) toast(`Could not load ${model.id}: ${error.message}`, "error");
    model.complete = true;
  } finally {
    model.buffer = null;
  }
  schedule();
}

// --- controls ------------------------------------------------------------------------------------------------------
async function endSession(id) {
  try {
    await api(`/api/console/sessions/${encodeURIComponent(id)}/end`, { method: "POST" });
    toast(`Ending ${id}`);
  } catch (error) {
    toast(`Could not end ${id}: ${error.message}`, "error");
  }
}

function openHistory(id) {
  showTab("history");
  history.search().then(() => history.open(id));
}

async function startDemoCall() {
  const button = $("demo-call");
  const carrier = $("demo-carrier").value;
  button.disabled = true;
  try {
    const placed = await api("/api/console/emulated-call", { method: "POST", body: { carrier } });
    toast(`Demo call (${CARRIERS[carrier]}) from ${placed.caller}`);
    pendingSelect = placed.session_id;
    trySelectPending();
  } catch (error) {
    toast(`Demo call failed: ${error.message}`, "error");
  } finally {
    showDemoCarrier();
  }
}

// --- demo-call carrier (ACS or Twilio): labelled in the presenter's language, like the page -----------------------
const CARRIERS = { acs: "ACS", twilio: "Twilio" };
const WORDS = MESSAGES[pickLanguage()];

/** Offer the carriers the gateway can place demo calls on; the button follows the chosen one. */
function showDemoCarrier() {
  const select = $("demo-carrier");
  const carriers = (status && status.emulated_calls.carriers) || {};
  for (const option of select.options) {
    const line = carriers[option.value] || { available: false, reason: "not offered by this gateway" };
    option.disabled = !line.available;
    option.title = line.available ? CARRIERS[option.value] : WORDS.demo_carrier_off.replace("{reason}", line.reason || "");
  }
  if (select.selectedOptions[0] && select.selectedOptions[0].disabled) {
    const usable = [...select.options].find((o) => !o.disabled);
    if (usable) select.value = usable.value;
  }
  const chosen = carriers[select.value] || { available: false };
  const button = $("demo-call");
  button.disabled = !chosen.available;
  button.title = chosen.reason || `Place a phone call from the built-in ${CARRIERS[select.value]} emulator`;
  select.title = WORDS.demo_carrier;
  select.setAttribute("aria-label", WORDS.demo_carrier);
}

let pendingSelect = null;
function trySelectPending() {
  if (pendingSelect && state.sessions.has(pendingSelect)) {
    const id = pendingSelect;
    pendingSelect = null;
    select(id);
  }
}

async function chooseAgent(event) {
  const name = event.target.value;
  try {
    await api("/api/console/agent", { method: "POST", body: { agent: name } });
    state.agent = name;
    toast(`New sessions will use ${name}`);
  } catch (error) {
    toast(`Could not switch agent: ${error.message}`, "error");
    event.target.value = state.agent;
  }
}

// --- status (configured channels and providers) -------------------------------------------------------------------
const SHORT = { "Phone (ACS)": "Phone", "Phone (Twilio)": "Twilio", "Browser WebRTC": "WebRTC", "Browser WebSocket (STT→LLM→TTS)": "WebSocket", "Realtime provider": "Realtime", "Chat model": "Chat" };

async function loadStatus() {
  status = await api("/api/console/status");
  const agent = $("agent");
  agent.replaceChildren(...status.agents.map((a) => el("option", { value: a.name, title: a.name }, a.title || a.name)));
  state.agent = "";
  setAgent(status.agent);
  history.setAgents(status.agents);
  campaigns.setAgents(status.agents, status.agent);
  showDemoCarrier();
  $("offline").hidden = !status.emulated;
  $("campaign-offline").hidden = !status.emulated;
  $("channels").replaceChildren(
    ...status.checks.filter((c) => SHORT[c.name]).map((c) => el("span", { class: c.ok ? "ok" : "", title: `${c.name}: ${c.detail}` }, SHORT[c.name])),
  );
  $("checks").tBodies[0].replaceChildren(
    ...status.checks.map((c) => el("tr", {}, checkState(c), el("td", {}, c.name), el("td", {}, c.detail), el("td", {}, c.missing.join("; ")))),
  );
}

/** The Setup table's status: words in a coloured badge, readable without an emoji font. */
function checkState(check) {
  const [word, kind] = check.ok ? ["OK", "ok"] : check.notice ? ["demo", "optional"] : check.optional ? ["optional", "optional"] : ["missing", "missing"];
  return el("td", {}, el("span", { class: `state ${kind}` }, word));
}

// --- tabs ------------------------------------------------------------------------------------------------------------
function showTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) button.setAttribute("aria-selected", String(button.dataset.tab === name));
  for (const tab of ["live", "history", "campaigns", "setup"]) $(`tab-${tab}`).hidden = tab !== name;
  campaigns.visible(name === "campaigns");
  if (name === "history" && !history.searches) history.search();
}

// ended conversations appear in the history once their summary is written: refresh a visible history then
let historyRefresh = null;
state.endedListeners.push(() => {
  if ($("tab-history").hidden) return;
  clearTimeout(historyRefresh);
  historyRefresh = setTimeout(() => history.search(), 1500);
});
state.onSwept = schedule;

// --- start -----------------------------------------------------------------------------------------------------------
document.querySelector(".tabs").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-tab]");
  if (button) showTab(button.dataset.tab);
});
$("agent").addEventListener("change", chooseAgent);
$("demo-call").addEventListener("click", startDemoCall);
$("demo-carrier").addEventListener("change", showDemoCarrier);
$("logout").addEventListener("click", async () => {
  await fetch("/api/console/logout", { method: "POST", credentials: "same-origin" });
  window.location.assign("/console");
});

const feed = new Feed("/api/console/events", {
  status(state) {
    setConnection(state);
    campaigns.setFeedLive(state === "live");
  },
  agent: setAgent,
  snapshot(data) {
    // any snapshot after the first (a reconnect, or the page fell behind) means events may have been missed
    const resync = data.resync || stats.snapshots > 0;
    stats.snapshots += 1;
    state.snapshot({ ...data, resync });
    setAgent(data.agent);
    const watched = state.selected && state.sessions.get(state.selected);
    if (resync && watched && !watched.complete && !watched.buffer && watched.info.state !== "ended") loadHistory(watched);
    trySelectPending();
    schedule();
  },
  batch(data) {
    stats.batches += 1;
    stats.events += data.events.length;
    record(stats.batchLags, Date.now() - data.t * 1000);
    const sessions = [];
    for (const e of data.events) {
      if (e.kind === "campaign.progress") campaigns.progress(e);
      else sessions.push(e);
    }
    state.batch(sessions);
    trySelectPending();
    schedule();
  },
});

loadStatus().catch((error) => toast(`Status unavailable: ${error.message}`, "error"));
feed.open();

// for tests and the benchmark: read-only views of what the page holds and has drawn
window.__console = {
  state,
  stats,
  select,
  get connection() {
    return connection;
  },
  get status() {
    return status;
  },
  liveIds() {
    return [...state.sessions.values()].filter((m) => m.info.state !== "ended").map((m) => m.id);
  },
  renderedIds() {
    return [...document.querySelectorAll("#sessions .row:not(.ended)")].map((row) => row.dataset.id);
  },
};
