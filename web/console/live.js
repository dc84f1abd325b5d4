// The live view of one session: its transcript as it is spoken, tool calls with arguments and results, the latency
// of every turn, barge-ins and the channel's health. New entries are appended; nothing already drawn is redrawn.

import { channelLabel, clock, el, healthClass, ms, outcomeLabel, prettyJson, setText } from "./dom.js";

const SHOWN_MAX = 300;
const SLOW_MS = 1500;

export class LiveView {
  constructor(root, actions) {
    this.root = root;
    this.actions = actions; // { end(id), openHistory(id) }
    this.model = null;
  }

  /** Draws ``model`` from scratch (a new selection, or its history arrived). */
  show(model) {
    this.model = model;
    this.next = model ? model.trimmed : 0;
    this.nodes = new WeakMap(); // entry → its node, for tool calls that get their result later
    this.barCount = 0;
    this.root.replaceChildren();
    if (!model) {
      this.root.append(el("p", { class: "empty" }, "Select a session to follow it live."));
      return;
    }
    const head = el("div", { class: "detail-head" });
    this.title = el("h2", {}, model.id);
    this.meta = el("span", { class: "meta" });
    this.healthDot = el("span", { class: "dot" });
    this.healthText = el("span");
    this.endButton = el("button", { type: "button", class: "danger" }, "End call");
    this.endButton.addEventListener("click", () => this.actions.end(model.id));
    this.historyButton = el("button", { type: "button", class: "quiet", hidden: true }, "Open in history");
    this.historyButton.addEventListener("click", () => this.actions.openHistory(model.id));
    head.append(this.title, this.meta, el("span", { class: "health" }, this.healthDot, this.healthText), el("span", { class: "grow" }), this.historyButton, this.endButton);
    this.banner = el("div", { class: "banner", hidden: true });
    this.timeline = el("div", { class: "timeline", "aria-live": "off" });
    this.partials = el("div", { class: "partials" });
    this.lines = el("div");
    this.timeline.append(this.lines, this.partials);
    this.side = this.buildSide();
    this.root.append(head, this.banner, el("div", { class: "detail-body" }, this.timeline, this.side));
    if (!model.complete && model.info.state !== "ended") this.setBanner("Loading what was said before this page opened…");
    this.update();
  }

  buildSide() {
    this.stats = {};
    const side = el("div", { class: "side" });
    side.append(el("h3", {}, "Turn latency"), el("div", { class: "hint" }, "caller stops → first agent audio"));
    this.bars = el("div", { class: "bars", "aria-label": "latency of every turn" });
    side.append(this.bars);
    for (const [key, label] of [["last", "Last"], ["p50", "Median"], ["max", "Worst"], ["turns", "Turns"], ["barge", "Barge-ins"], ["tools", "Tool calls"]]) {
      this.stats[key] = el("span");
      side.append(el("div", { class: "stat" }, el("span", {}, label), this.stats[key]));
    }
    return side;
  }

  setBanner(text) {
    this.banner.hidden = !text;
    setText(this.banner, text || "");
  }

  /** Draws what changed in the shown model since the last frame. */
  update() {
    const model = this.model;
    if (!model) return;
    const i = model.info;
    setText(this.meta, `${channelLabel(i.channel)} · ${i.caller || "unknown caller"} · ${i.agent || ""} · since ${clock(i.started_at)}`);
    const ended = i.state === "ended";
    this.healthDot.className = `dot ${ended ? "ended" : healthClass(i.health)}`;
    setText(this.healthText, ended ? "ended" : model.healthDetail || i.health); // no stale "streaming" once ended
    this.endButton.hidden = ended;
    this.historyButton.hidden = !ended;
    if (ended) this.setBanner(`Ended (${outcomeLabel(model.outcome) || "ended"}). The summary is written to the history.`);
    else if (model.complete && !this.banner.hidden && this.banner.textContent.startsWith("Loading")) this.setBanner("");

    const stick = this.timeline.scrollHeight - this.timeline.scrollTop - this.timeline.clientHeight < 40;
    const end = model.trimmed + model.timeline.length;
    for (let g = Math.max(this.next, model.trimmed); g < end; g += 1) {
      const entry = model.timeline[g - model.trimmed];
      const node = this.entryNode(entry);
      this.nodes.set(entry, node);
      this.lines.append(node);
    }
    this.next = end;
    while (this.lines.childElementCount > SHOWN_MAX) this.lines.firstElementChild.remove();
    for (const entry of model.touched) {
      const old = this.nodes.get(entry);
      if (old) {
        const node = this.entryNode(entry);
        old.replaceWith(node);
        this.nodes.set(entry, node);
      }
    }
    model.touched.clear();
    if (model.partialsChanged) {
      this.partials.replaceChildren(...[...model.partials.values()].map((p) => this.lineNode(p.role, p.text, true)));
      model.partialsChanged = false;
    }
    this.updateSide(model);
    if (stick) this.timeline.scrollTop = this.timeline.scrollHeight;
  }

  updateSide(model) {
    const latencies = model.latencies;
    const fresh = Math.min(model.latencyCount - this.barCount, latencies.length);
    if (fresh > 0) {
      const top = Math.max(...latencies, 1000);
      for (const value of latencies.slice(latencies.length - fresh)) {
        this.bars.append(el("i", { class: value > SLOW_MS ? "slow" : "", title: ms(value) }));
      }
      this.barCount = model.latencyCount;
      while (this.bars.childElementCount > 40) this.bars.firstElementChild.remove();
      const shown = latencies.slice(-this.bars.childElementCount);
      [...this.bars.children].forEach((bar, k) => {
        bar.style.height = `${Math.max(2, (100 * shown[k]) / top)}%`;
      });
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    setText(this.stats.last, ms(model.info.last_latency_ms));
    setText(this.stats.p50, sorted.length ? ms(sorted[Math.floor((sorted.length - 1) / 2)]) : "");
    setText(this.stats.max, sorted.length ? ms(sorted[sorted.length - 1]) : "");
    setText(this.stats.turns, model.info.turns || 0);
    setText(this.stats.barge, model.bargeIns);
    setText(this.stats.tools, model.tools.size);
  }

  lineNode(role, text, partial = false) {
    const who = role === "user" ? "Caller" : role === "assistant" ? "Agent" : role;
    return el("div", { class: `line ${role}${partial ? " partial" : ""}` }, el("span", { class: "who" }, who), text);
  }

  entryNode(entry) {
    switch (entry.type) {
      case "line":
        return this.lineNode(entry.role, entry.text);
      case "tool": {
        const status = entry.status === "running" ? "running…" : `${entry.status} in ${ms(entry.duration_ms)}`;
        const node = el("div", { class: `tool ${entry.status}` }, el("span", { class: "tag" }, "tool"), el("b", {}, entry.name), ` ${status}`);
        node.append(el("pre", { class: "args" }, prettyJson(entry.arguments)));
        if (entry.output) node.append(el("pre", { class: "result" }, prettyJson(entry.output)));
        return node;
      }
      case "barge":
        return el("div", { class: "mark barge" }, `barge-in: the caller interrupted after ${entry.played_ms} ms of agent audio`);
      case "latency":
        return el("div", { class: "mark latency" }, `latency ${ms(entry.ms)} to first agent audio`);
      case "error":
        return el("div", { class: "mark error" }, `⚠ ${entry.text}`);
      case "health":
        return el("div", { class: "mark" }, `● ${entry.detail || entry.status}`);
      default:
        return el("div", { class: "mark" }, entry.text || "");
    }
  }
}
