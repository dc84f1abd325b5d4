// The live session list. Rows are created once and then only the cells whose value changed are written, so a
// frame costs in proportion to the sessions that changed, not to the sessions listed.

import { channelLabel, clock, el, healthClass, ms, setText } from "./dom.js";

const COLUMNS = ["dot", "channel", "caller", "agent", "started", "turns", "latency", "last"];

export class SessionList {
  constructor(root, empty, filterInput, onSelect) {
    this.root = root;
    this.empty = empty;
    this.rows = new Map(); // session id → { node, cells, values }
    this.filter = "";
    this.selected = null;
    root.addEventListener("click", (event) => {
      const row = event.target.closest(".row");
      if (row) onSelect(row.dataset.id);
    });
    filterInput.addEventListener("input", () => {
      this.filter = filterInput.value.trim().toLowerCase();
      for (const [id, row] of this.rows) row.node.hidden = !this.matches(row.model || { id, info: {} });
    });
  }

  matches(model) {
    if (!this.filter) return true;
    const i = model.info;
    return `${model.id} ${i.channel} ${i.caller} ${i.agent}`.toLowerCase().includes(this.filter);
  }

  /** Draws the sessions in ``dirty``; new ones go on top, newest first. */
  render(state, dirty) {
    const added = [];
    for (const id of dirty) {
      const model = state.sessions.get(id);
      const row = this.rows.get(id);
      if (!model) {
        if (row) {
          row.node.remove();
          this.rows.delete(id);
        }
        continue;
      }
      if (row) this.update(row, model);
      else added.push(model);
    }
    if (added.length) {
      added.sort((a, b) => (b.info.started_at || 0) - (a.info.started_at || 0));
      const fragment = document.createDocumentFragment();
      for (const model of added) {
        const row = this.create(model);
        this.rows.set(model.id, row);
        fragment.append(row.node);
      }
      this.root.prepend(fragment);
    }
    this.empty.hidden = this.rows.size > 0;
  }

  create(model) {
    const cells = {};
    const node = el("div", { class: "row", role: "option", dataset: { id: model.id } });
    for (const name of COLUMNS) {
      const cell = name === "dot" ? el("span", { class: "dot" }) : el("span", { class: name === "turns" || name === "latency" ? "num" : "" });
      if (name === "channel") cell.className = "chan";
      cells[name] = cell;
      node.append(cell);
    }
    const row = { node, cells, values: {}, model, rev: -1, started: clock(model.info.started_at) };
    this.update(row, model);
    return row;
  }

  update(row, model) {
    const selected = model.id === this.selected;
    if (row.model === model && row.rev === model.rev && row.values.selected === selected) return; // only deltas changed
    row.rev = model.rev;
    const i = model.info;
    const ended = i.state === "ended";
    if (row.model !== model || !row.started) row.started = clock(i.started_at);
    row.model = model;
    const values = {
      dot: ended ? "dot ended" : `dot ${healthClass(i.health)}`,
      channel: i.channel || "",
      caller: i.caller || "—",
      agent: i.agent || "",
      started: row.started,
      turns: i.turns || 0,
      latency: ms(i.last_latency_ms),
      last: model.lastLine ? `${model.lastRole === "user" ? "☎ " : "AI: "}${model.lastLine}` : "",
      ended,
      selected,
    };
    const old = row.values;
    if (old.dot !== values.dot) row.cells.dot.className = values.dot;
    if (old.channel !== values.channel) {
      row.cells.channel.dataset.channel = values.channel;
      setText(row.cells.channel, channelLabel(values.channel));
    }
    for (const name of ["caller", "agent", "started", "turns", "latency", "last"]) {
      if (old[name] !== values[name]) setText(row.cells[name], values[name]);
    }
    if (old.last !== values.last) row.cells.last.title = model.lastLine;
    if (old.ended !== values.ended) row.node.classList.toggle("ended", ended);
    if (old.selected !== values.selected) {
      row.node.classList.toggle("selected", values.selected);
      row.node.setAttribute("aria-selected", String(values.selected));
    }
    if (old.caller !== values.caller || old.agent !== values.agent) row.node.hidden = !this.matches(model);
    row.values = values;
  }

  select(id, state) {
    const previous = this.selected;
    this.selected = id;
    for (const sid of [previous, id]) {
      const row = sid && this.rows.get(sid);
      const model = sid && state.sessions.get(sid);
      if (row && model) this.update(row, model);
    }
  }
}
