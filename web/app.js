// The visitor's page: microphone, level meter, transcript, tool cards, channel choice and error messages.
//
// ── Channel contract (web/webrtc.js and web/websocket.js) ──────────────────────────────────────────────────────────
//   export async function startWebRTCSession(opts)      // web/webrtc.js
//   export async function startWebSocketSession(opts)   // web/websocket.js
// Both resolve once the conversation is live (reject with an Error whose .code is one of the i18n keys below
// when it cannot start) and return  { stop(): Promise<void>, channel: "webrtc" | "websocket" }.
//   opts = {
//     agent:        string            agent profile name (from GET /api/status `agents[].name`)
//     lang:         "ja" | "en"       the page's language (UI only; the profile sets the agent's language)
//     micStream:    MediaStream       the microphone, already opened by this page; channels never stop its tracks
//     audioContext: AudioContext      created and resumed on the mic click (a user gesture), for playback/analysis
//     signal:       AbortSignal       optional: aborted when the page gives up connecting (e.g. after 5 s)
//     ui: {
//       status(text, kind)            text: an i18n.js key (preferred) or plain text; kind: "info"|"ok"|"warn"|"error"
//       transcript({role, text, final, itemId})   role "user"|"assistant"; deltas carry the text so far (final=false),
//                                                 then one final=true with the whole text, same itemId
//       toolCall({callId, name, arguments})       arguments: the JSON string the model produced
//       toolResult({callId, name, ok, output})    output: the object POST /api/tools/<name> returned as `output`
//       agentSpeaking(bool)
//       ended(reason)                 the session ended by itself: "completed"|"connection_lost"|"ended_by_operator"|...
//       agentLevel(level)             optional: 0..1 level of the agent's audio (for the tests and the meter)
//       session({sessionId, agent})   optional: the gateway session id once known
//     }
//   }
// Error codes the page knows: provider_not_configured, rate_limited, forbidden, provider_error, timeout, sdp_failed,
// connection_lost, websocket_unavailable, webrtc_unavailable, busy (anything else is shown as its message).
//
// Tests read window.__voiceGateway = {state, channel, transcripts, toolCalls, audioLevel, ...}.
// URL parameters: ?channel=auto|webrtc|websocket  ?agent=<name>  ?lang=ja|en
// ────────────────────────────────────────────────────────────────────────────────────────────────────────────────────

import { has, language, pickLanguage, setLanguage, t, translate } from "./i18n.js";

const CONNECT_TIMEOUT_MS = { webrtc: 5000, websocket: 15000 }; // WebRTC gets a few seconds before the fallback
const CHANNELS = ["auto", "webrtc", "websocket"];
const params = new URLSearchParams(location.search);

const $ = (id) => document.getElementById(id);
const els = {
  mic: $("mic"), micText: $("mic-text"), meterBar: $("meter-bar"), meter: document.querySelector(".meter"),
  badge: $("channel-badge"), agent: $("agent"), banner: $("banner"), transcript: $("transcript"),
  checks: $("checks"), lang: $("lang"), toolCard: $("tool-card"),
};

const state = {
  state: "loading", // loading | idle | connecting | live | ended | error
  channel: null, // the channel in use or being tried
  preference: CHANNELS.includes(params.get("channel")) ? params.get("channel") : "auto",
  agent: null,
  sessionId: null,
  fallbackReason: null,
  transcripts: [],
  toolCalls: [],
  errors: [],
  statuses: [],
  audioLevel: 0,
  audioLevelPeak: 0,
  agentLevel: 0,
  agentLevelPeak: 0,
  agentSpeaking: false,
  status: null,
};
window.__voiceGateway = state;

let gatewayStatus = null;
let session = null;
let mic = null; // {stream, context, timer}
let banner = { key: "loading", params: {}, kind: "info" };
const bubbles = new Map();
const cards = new Map();

// ── text and banner ──────────────────────────────────────────────────────────────────────────────────────────────
function bannerText() {
  const main = t(banner.key, banner.params);
  return banner.detail ? `${main} ${t(banner.detail.key, banner.detail.params)}` : main;
}

function say(key, kind = "info", params = {}, detail = null) {
  banner = { key, params, kind, detail };
  els.banner.className = `banner ${kind}`;
  els.banner.textContent = bannerText();
  els.banner.dataset.key = has(key) ? key : "";
  state.status = { text: els.banner.textContent, kind, key };
  state.statuses.push(state.status);
  if (state.statuses.length > 200) state.statuses.shift();
  if (kind === "error") state.errors.push(els.banner.textContent);
}

function setLang(lang) {
  setLanguage(lang);
  localStorage.setItem("voice-gateway-lang", language());
  translate();
  els.banner.textContent = bannerText();
  renderMic();
  renderChannel();
  for (const bubble of bubbles.values()) bubble.querySelector(".who").textContent = t(bubble.dataset.role === "user" ? "caller" : "assistant");
  for (const card of cards.values()) card.querySelector(".tool-state").textContent = t(toolStateKey(card.dataset.state));
}

function renderMic() {
  const live = state.state === "connecting" || state.state === "live";
  els.mic.setAttribute("aria-pressed", String(live));
  els.micText.textContent = t(live ? "mic_stop" : "mic_start");
  els.mic.setAttribute("aria-label", t(live ? "mic_label_stop" : "mic_label_start"));
  els.mic.disabled = state.state === "loading";
  els.agent.disabled = live;
}

function renderChannel() {
  const channel = state.channel;
  els.badge.dataset.channel = channel || "none";
  els.badge.textContent = channel === "webrtc" ? "WebRTC" : channel === "websocket" ? "WebSocket" : t("channel_none");
}

function setState(next) {
  state.state = next;
  document.body.dataset.state = next;
  renderMic();
}

// ── transcript and tool cards ────────────────────────────────────────────────────────────────────────────────────
function clearEmpty() {
  els.transcript.querySelector(".empty")?.remove();
}

function scrollDown() {
  els.transcript.scrollTop = els.transcript.scrollHeight;
}

function showTranscript({ role, text, final, itemId }) {
  clearEmpty();
  const key = itemId || `${role}-${state.transcripts.length}`;
  let bubble = bubbles.get(key);
  if (!bubble) {
    bubble = document.createElement("li");
    bubble.className = `bubble ${role}`;
    bubble.dataset.role = role;
    bubble.innerHTML = '<span class="who"></span><span class="text"></span>';
    bubble.querySelector(".who").textContent = t(role === "user" ? "caller" : "assistant");
    bubbles.set(key, bubble);
    els.transcript.appendChild(bubble);
  }
  bubble.dataset.final = String(Boolean(final));
  bubble.querySelector(".text").textContent = text;
  const entry = state.transcripts.find((e) => e.itemId === key);
  if (entry) Object.assign(entry, { text, final: Boolean(final) });
  else state.transcripts.push({ role, text, final: Boolean(final), itemId: key });
  scrollDown();
}

function toolStateKey(s) {
  return s === "ok" ? "tool_ok" : s === "error" ? "tool_failed" : "tool_running";
}

function pretty(value) {
  if (typeof value === "string") {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  return JSON.stringify(value, null, 2);
}

function showToolCall({ callId, name, arguments: args }) {
  clearEmpty();
  const card = els.toolCard.content.firstElementChild.cloneNode(true);
  translate(card);
  card.dataset.callId = callId;
  card.querySelector(".tool-name").textContent = name;
  card.querySelector(".tool-args").textContent = pretty(args ?? "{}");
  card.querySelector(".tool-state").textContent = t("tool_running");
  cards.set(callId, card);
  els.transcript.appendChild(card);
  state.toolCalls.push({ callId, name, arguments: args, ok: null, output: null });
  scrollDown();
}

function showToolResult({ callId, name, ok, output }) {
  let card = cards.get(callId);
  if (!card) {
    showToolCall({ callId, name, arguments: "" });
    card = cards.get(callId);
  }
  card.dataset.state = ok ? "ok" : "error";
  card.querySelector(".tool-state").textContent = t(toolStateKey(card.dataset.state));
  card.querySelector(".tool-result").textContent = pretty(output);
  const entry = state.toolCalls.find((c) => c.callId === callId);
  if (entry) Object.assign(entry, { ok, output });
  scrollDown();
}

// ── microphone and level meter ───────────────────────────────────────────────────────────────────────────────────
class PageError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

function micError(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new PageError("mic_denied");
    case "NotFoundError":
    case "OverconstrainedError":
      return new PageError("mic_missing");
    case "NotReadableError":
    case "AbortError":
      return new PageError("mic_busy");
    default:
      return new PageError("mic_busy", err?.message);
  }
}

async function openMic(context) {
  if (!window.isSecureContext) throw new PageError("insecure");
  if (!navigator.mediaDevices?.getUserMedia || !window.RTCPeerConnection) throw new PageError("unsupported");
  say("requesting_mic");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (err) {
    throw micError(err);
  }
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  // setInterval, not requestAnimationFrame: it keeps running in background tabs and headless browsers
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    state.audioLevel = level;
    state.audioLevelPeak = Math.max(state.audioLevelPeak, level);
    els.meterBar.style.width = `${Math.round(level * 100)}%`;
    els.meter.setAttribute("aria-valuenow", String(Math.round(level * 100)));
  }, 50);
  return { stream, context, timer };
}

function closeMic() {
  if (!mic) return;
  clearInterval(mic.timer);
  for (const track of mic.stream.getTracks()) track.stop();
  mic.context.close().catch(() => {});
  mic = null;
  state.audioLevel = 0;
  els.meterBar.style.width = "0%";
}

// ── channels ─────────────────────────────────────────────────────────────────────────────────────────────────────
const ui = {
  status: (text, kind = "info") => say(text, kind),
  transcript: (entry) => showTranscript(entry),
  toolCall: (call) => showToolCall(call),
  toolResult: (result) => showToolResult(result),
  agentSpeaking: (speaking) => {
    state.agentSpeaking = Boolean(speaking);
    document.body.dataset.agentSpeaking = String(state.agentSpeaking);
  },
  agentLevel: (level) => {
    state.agentLevel = level;
    state.agentLevelPeak = Math.max(state.agentLevelPeak, level);
  },
  session: ({ sessionId, token }) => {
    state.sessionId = sessionId;
    handoff.token = token || null;
    $("handoff").disabled = !handoff.token;
  },
  ended: (reason) => onEnded(reason),
};

// ── continue by phone ────────────────────────────────────────────────────────────────────────────────────────────
// The gateway issues a short single-use code for this session; the caller keys it in on the phone and the phone
// agent picks the conversation up with its transcript and tool results.
const handoff = { token: null, code: null };

async function requestHandoff() {
  if (!state.sessionId || !handoff.token) return;
  try {
    const response = await fetch("/api/handoff", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${handoff.token}` },
      body: JSON.stringify({ session_id: state.sessionId }),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    handoff.code = (await response.json()).code;
    state.handoffCode = handoff.code;
    const box = $("handoff-code");
    box.textContent = t("handoff_code", { code: handoff.code });
    box.hidden = false;
  } catch (err) {
    console.warn("handoff failed", err);
    say("handoff_failed", "error");
  }
}

function resetHandoff() {
  handoff.token = null;
  $("handoff").disabled = true;
}

function pickChannels() {
  if (state.preference !== "auto") return [state.preference];
  if (gatewayStatus?.webrtc) return ["webrtc", "websocket"];
  return ["websocket"];
}

async function loadChannel(channel) {
  try {
    if (channel === "webrtc") return (await import("./webrtc.js")).startWebRTCSession;
    return (await import("./websocket.js")).startWebSocketSession;
  } catch (err) {
    console.warn(`${channel} module failed to load`, err);
    throw new PageError(channel === "webrtc" ? "webrtc_unavailable" : "websocket_unavailable");
  }
}

async function tryChannel(channel) {
  state.channel = channel;
  renderChannel();
  const start = await loadChannel(channel);
  const controller = new AbortController();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      controller.abort(new PageError("timeout"));
      reject(new PageError("timeout"));
    }, CONNECT_TIMEOUT_MS[channel]);
  });
  const attempt = Promise.resolve().then(() =>
    start({ agent: state.agent, lang: language(), micStream: mic.stream, audioContext: mic.context, ui, signal: controller.signal }));
  try {
    return await Promise.race([attempt, timeout]);
  } catch (err) {
    attempt.then((late) => late?.stop?.()).catch(() => {}); // a session that connects after we gave up is closed
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

function reasonOf(err) {
  return err?.code && has(err.code) ? err.code : err?.message || String(err);
}

async function start() {
  setState("connecting");
  state.fallbackReason = null;
  state.sessionId = null;
  const context = new (window.AudioContext || window.webkitAudioContext)(); // inside the click: allowed to play
  context.resume().catch(() => {});
  try {
    mic = await openMic(context);
  } catch (err) {
    context.close().catch(() => {});
    return fail(err);
  }
  const channels = pickChannels();
  if (state.preference === "auto" && !gatewayStatus?.webrtc) {
    state.fallbackReason = "reason_status";
    say("fallback_status", "warn");
  }
  for (let i = 0; i < channels.length; i++) {
    const channel = channels[i];
    if (state.state !== "connecting") return; // the visitor pressed stop meanwhile
    if (!state.fallbackReason) say(channel === "webrtc" ? "connecting_webrtc" : "connecting_websocket");
    try {
      session = await tryChannel(channel);
    } catch (err) {
      console.warn(`${channel} failed`, err);
      if (state.state !== "connecting") return; // the visitor stopped meanwhile: nothing to report
      if (err?.code === "agent_missing") return agentMissing(); // the other channel would not find it either
      if (i + 1 < channels.length) {
        state.fallbackReason = reasonOf(err);
        state.sessionId = null;
        say("fallback", "warn", { reason: reasonOf(err) });
        continue;
      }
      return fail(err);
    }
    if (state.state !== "connecting") { // stopped while connecting
      await session.stop();
      session = null;
      return;
    }
    state.channel = session.channel;
    renderChannel();
    setState("live");
    if (state.fallbackReason) say("connected_fallback", "warn", { reason: state.fallbackReason });
    else say(session.channel === "webrtc" ? "connected_webrtc" : "connected_websocket", "ok");
    return;
  }
}

function fail(err) {
  const code = reasonOf(err);
  closeMic();
  session = null;
  setState("error");
  const tried = state.fallbackReason ? { key: "fallback_detail", params: { reason: state.fallbackReason } } : null;
  say(code, "error", { reason: code }, tried);
}

/** The chosen profile is gone (e.g. its file was removed while the gateway runs): say so, not "provider". */
function agentMissing() {
  const missing = state.agent;
  closeMic();
  session = null;
  setState("error");
  say("agent_missing", "error", { agent: missing });
  loadStatus({ keepBanner: true });
}

async function stop() {
  setState("ended");
  resetHandoff();
  const current = session;
  session = null;
  if (current) await current.stop().catch((err) => console.warn("stop failed", err));
  closeMic();
  ui.agentSpeaking(false);
  say("ended", "info");
}

function onEnded(reason) {
  if (state.state !== "live" && state.state !== "connecting") return;
  resetHandoff();
  session = null;
  closeMic();
  ui.agentSpeaking(false);
  if (reason === "connection_lost") {
    setState("error");
    say("connection_lost", "error");
  } else {
    setState("ended");
    say(reason === "ended_by_operator" ? "ended_by_operator" : "ended", "info");
  }
}

// ── status, agents, switches ─────────────────────────────────────────────────────────────────────────────────────
function renderChecks(checks) {
  els.checks.replaceChildren();
  for (const check of checks || []) {
    const li = document.createElement("li");
    li.dataset.ok = String(Boolean(check.ok));
    li.textContent = `${check.name}: ${check.detail}` + (check.missing?.length ? ` (${check.missing.join("; ")})` : "");
    els.checks.appendChild(li);
  }
}

function renderAgents(agents, chosen) {
  els.agent.replaceChildren();
  for (const agent of agents || []) {
    const option = document.createElement("option");
    option.value = agent.name;
    option.textContent = agent.title || agent.name; // the name is the tooltip: "タイトル (name)" got cut off
    option.title = agent.name;
    els.agent.appendChild(option);
  }
  els.agent.value = chosen;
  state.agent = els.agent.value || chosen;
}

async function loadStatus({ keepBanner = false } = {}) {
  try {
    const response = await fetch("/api/status", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    gatewayStatus = await response.json();
  } catch (err) {
    console.warn("status failed", err);
    setState("error");
    say("status_failed", "error");
    els.mic.disabled = false;
    return;
  }
  const wanted = params.get("agent");
  const names = (gatewayStatus.agents || []).map((a) => a.name);
  renderAgents(gatewayStatus.agents, names.includes(wanted) ? wanted : gatewayStatus.agent);
  renderChecks(gatewayStatus.checks);
  $("offline-note").hidden = !gatewayStatus.emulated;
  if (keepBanner) return;
  setState("idle");
  if (!gatewayStatus.webrtc && !gatewayStatus.cascade) say("provider_not_configured", "error");
  else say("ready", "info");
}

function setPreference(value) {
  state.preference = value;
  const url = new URL(location.href);
  if (value === "auto") url.searchParams.delete("channel");
  else url.searchParams.set("channel", value);
  history.replaceState(null, "", url);
  if (state.state === "live" || state.state === "connecting") say("ready_channel_note", "info");
}

function init() {
  setLanguage(pickLanguage(params.get("lang") || localStorage.getItem("voice-gateway-lang")));
  translate();
  for (const input of document.querySelectorAll('input[name="channel"]')) {
    input.checked = input.value === state.preference;
    input.addEventListener("change", () => input.checked && setPreference(input.value));
  }
  els.lang.addEventListener("click", () => setLang(language() === "ja" ? "en" : "ja"));
  els.agent.addEventListener("change", () => { state.agent = els.agent.value; });
  $("handoff").addEventListener("click", requestHandoff);
  els.mic.addEventListener("click", () => {
    if (state.state === "connecting" || state.state === "live") stop();
    else start();
  });
  window.addEventListener("pagehide", () => { if (session) session.stop(); });
  renderMic();
  renderChannel();
  say("loading");
  loadStatus();
}

init();
