// What the console knows: one model per live session, fed by the push feed. Views read it on the next frame.

const TIMELINE_MAX = 300; // entries kept per session (the store keeps everything)
const LATENCY_MAX = 200;
const ENDED_LINGER_MS = 4000; // an ended session stays greyed in the list this long

export class SessionModel {
  constructor(info) {
    this.id = info.session_id;
    this.info = { state: "live", health: "ok", turns: 0, last_latency_ms: null, caller: "", ...info };
    this.timeline = [];
    this.trimmed = 0; // entries dropped from the front, so views can keep global positions
    this.partials = new Map(); // utterance → text still being spoken
    this.partialsChanged = false;
    this.tools = new Map();
    this.touched = new Set(); // timeline entries changed in place (a tool call got its result)
    this.latencies = [];
    this.latencyCount = 0;
    this.bargeIns = 0;
    this.lastLine = info.last_text || "";
    this.lastRole = info.last_role || "";
    this.healthDetail = "";
    this.outcome = "";
    this.endedAt = 0;
    this.complete = false; // saw the session from its start (else its history must be fetched)
    this.rev = 0; // bumped by every change the session's list row shows (not by deltas)
    this.buffer = null; // events held while that history is being fetched
  }

  push(entry) {
    this.timeline.push(entry);
    const extra = this.timeline.length - TIMELINE_MAX;
    if (extra > 0) {
      this.timeline.splice(0, extra);
      this.trimmed += extra;
    }
  }

  apply(e) {
    if (e.kind !== "transcript.delta") this.rev += 1;
    switch (e.kind) {
      case "session.started":
        Object.assign(this.info, { channel: e.channel, agent: e.agent, caller: e.caller, started_at: e.started_at });
        break;
      case "transcript.delta": {
        const key = `${e.role}:${e.item_id}`;
        const partial = this.partials.get(key);
        if (partial) partial.text += e.text;
        else this.partials.set(key, { role: e.role, text: e.text });
        this.partialsChanged = true;
        break;
      }
      case "transcript.final":
        if (this.partials.delete(`${e.role}:${e.item_id}`)) this.partialsChanged = true;
        if (!e.text || !e.text.trim()) break;
        this.push({ type: "line", role: e.role, text: e.text, at: e.at, item_id: e.item_id });
        this.lastLine = e.text;
        this.lastRole = e.role;
        break;
      case "transcript.amended": {
        // the caller cut the agent off: the line keeps only what was heard
        const line = [...this.timeline].reverse().find((l) => l.type === "line" && l.item_id === e.item_id && l.text === e.original);
        if (line) {
          line.text = e.text;
          this.touched.add(line);
        }
        break;
      }
      case "tool.call": {
        const entry = { type: "tool", call_id: e.call_id, name: e.name, arguments: e.arguments, status: "running" };
        this.tools.set(e.call_id, entry);
        this.push(entry);
        break;
      }
      case "tool.result": {
        let entry = this.tools.get(e.call_id);
        if (!entry) {
          entry = { type: "tool", call_id: e.call_id, name: e.name, arguments: e.arguments };
          this.tools.set(e.call_id, entry);
          this.push(entry);
        } else {
          this.touched.add(entry);
        }
        Object.assign(entry, { status: e.ok ? "ok" : "failed", output: e.output, duration_ms: e.duration_ms });
        break;
      }
      case "barge_in":
        this.bargeIns += 1;
        this.push({ type: "barge", played_ms: e.played_ms });
        break;
      case "backchannel":
        this.push({ type: "note", text: `backchannel, not a turn: ${e.text}` });
        break;
      case "latency":
        this.latencies.push(e.ms);
        this.latencyCount += 1;
        if (this.latencies.length > LATENCY_MAX) this.latencies.shift();
        this.info.last_latency_ms = e.ms;
        this.info.turns += 1;
        this.push({ type: "latency", ms: e.ms });
        break;
      case "error":
        this.push({ type: "error", text: e.message, fatal: e.fatal });
        if (e.fatal) this.info.health = "error";
        break;
      case "health":
        this.info.health = e.status;
        this.healthDetail = e.detail;
        this.push({ type: "health", status: e.status, detail: e.detail });
        break;
      case "call.progress":
        this.callStatus = e.status;
        this.push({ type: "health", status: e.status, detail: `outbound call ${e.status}${e.detail ? `: ${e.detail}` : ""}` });
        break;
      case "session.ended":
        this.info.state = "ended";
        this.outcome = e.outcome;
        this.endedAt = Date.now();
        this.partials.clear();
        this.partialsChanged = true;
        break;
      default:
        break;
    }
  }
}

/** Rebuilds a session from the hub's history, then replays what arrived meanwhile without doubling it. */
export function fromHistory(session, events, buffered) {
  const model = new SessionModel(session);
  // the snapshot's counters already include the history's latencies
  const turns = model.info.turns;
  for (const e of events) model.apply(e);
  model.info.turns = turns;
  const seen = new Set(events.map((e) => JSON.stringify(e)));
  for (const e of buffered) {
    if (e.kind === "transcript.delta" || seen.has(JSON.stringify(e))) continue; // deltas: the final will follow
    model.apply(e);
  }
  model.complete = true;
  return model;
}

export class ConsoleState {
  constructor() {
    this.sessions = new Map();
    this.dirty = new Set(); // session ids whose row or view needs drawing
    this.agent = "";
    this.pendingFinals = []; // server times of transcript finals applied since the last frame (lag measurement)
    this.endedListeners = [];
    this.selected = null;
    this._sweep = null;
  }

  snapshot(message) {
    const live = new Set();
    for (const info of message.sessions) {
      live.add(info.session_id);
      let model = this.sessions.get(info.session_id);
      if (!model) {
        model = new SessionModel(info);
        this.sessions.set(info.session_id, model);
      } else {
        Object.assign(model.info, info);
        if (info.last_text) [model.lastLine, model.lastRole] = [info.last_text, info.last_role];
        model.rev += 1;
      }
      if (message.resync) model.complete = false; // it may have missed events
      this.dirty.add(info.session_id);
    }
    for (const [id, model] of this.sessions) {
      if (!live.has(id) && model.info.state !== "ended") {
        model.apply({ kind: "session.ended", outcome: "ended" });
        this.dirty.add(id);
        this.scheduleSweep();
      }
    }
    if (message.agent) this.agent = message.agent;
  }

  batch(events) {
    for (const e of events) {
      let model = this.sessions.get(e.s);
      if (!model) {
        if (e.kind !== "session.started") continue; // an event of a session this page never saw start
        model = new SessionModel({ session_id: e.s });
        model.complete = true;
        this.sessions.set(e.s, model);
      }
      if (model.buffer) model.buffer.push(e);
      model.apply(e);
      this.dirty.add(e.s);
      if (e.kind === "transcript.final") this.pendingFinals.push(e.at);
      if (e.kind === "session.ended") {
        for (const listener of this.endedListeners) listener(model);
        this.scheduleSweep();
      }
    }
  }

  replace(model) {
    this.sessions.set(model.id, model);
    this.dirty.add(model.id);
  }

  takeDirty() {
    const dirty = this.dirty;
    this.dirty = new Set();
    return dirty;
  }

  /** Ended sessions leave the list a moment after they end; the one being watched stays until deselected. */
  scheduleSweep() {
    if (this._sweep) return;
    this._sweep = setTimeout(() => {
      this._sweep = null;
      const now = Date.now();
      let waiting = false;
      for (const [id, model] of this.sessions) {
        if (model.info.state !== "ended" || id === this.selected) continue;
        if (now - model.endedAt >= ENDED_LINGER_MS) {
          this.sessions.delete(id);
          this.dirty.add(id);
        } else {
          waiting = true;
        }
      }
      if (waiting) this.scheduleSweep();
      if (this.onSwept) this.onSwept();
    }, ENDED_LINGER_MS / 2);
  }

  counts() {
    const byChannel = new Map();
    let live = 0;
    for (const model of this.sessions.values()) {
      if (model.info.state === "ended") continue;
      live += 1;
      const channel = model.info.channel || "?";
      byChannel.set(channel, (byChannel.get(channel) || 0) + 1);
    }
    return { live, byChannel };
  }
}
