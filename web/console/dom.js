// Small DOM helpers. Every value from the gateway goes in as text, never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Sets text only when it changed: unchanged cells cost no layout. */
export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function clock(epochSeconds) {
  if (!epochSeconds) return "";
  return new Date(epochSeconds * 1000).toLocaleTimeString("ja-JP", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

export function dateTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString("ja-JP", { hour12: false });
}

export function ms(value) {
  return value === null || value === undefined ? "" : `${Math.round(value)} ms`;
}

export function prettyJson(text) {
  if (!text) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 1);
  } catch {
    return text;
  }
}

/** One name per channel wherever the console shows one (the page's badge says the same). */
const CHANNEL_LABELS = { phone: "Phone", twilio: "Twilio", webrtc: "WebRTC", browser: "WebSocket" };
export function channelLabel(channel) {
  return CHANNEL_LABELS[channel] || channel || "";
}

/** How a conversation ended, in words for presenters (the stored outcome codes stay in the API). */
const OUTCOMES = {
  completed: "completed", hung_up: "ended by the gateway", caller_hung_up: "the caller hung up", media_closed: "the caller hung up",
  ended_by_operator: "ended from the console", provider_unavailable: "AI provider unavailable", connection_lost: "connection lost",
  caller_hangup: "the visitor ended it", expired: "expired", error: "error",
};
export function outcomeLabel(outcome) {
  return OUTCOMES[outcome] || (outcome || "").replaceAll("_", " ");
}

/** Health words from the channels mapped to three colours. */
export function healthClass(status) {
  const s = String(status || "").toLowerCase();
  if (/(fail|error|lost|unavailable)/.test(s)) return "bad";
  if (/(reconnect|degraded|stopp|retry)/.test(s)) return "warn";
  return "";
}

export function toast(message, kind = "") {
  const box = document.getElementById("toast");
  if (!box) return;
  const note = el("div", { class: kind }, message);
  box.append(note);
  setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
}
