// History: ended conversations from the store, searchable by caller, agent, channel, date and text, each with its
// transcript, tool calls and the summary written when it ended.

import { api } from "./api.js";
import { channelLabel, dateTime, el, ms, outcomeLabel, prettyJson, toast } from "./dom.js";

export class HistoryView {
  constructor(form, results, detail) {
    this.form = form;
    this.results = results;
    this.detail = detail;
    this.selected = null;
    this.searches = 0;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.search();
    });
    form.querySelector("#history-export").addEventListener("click", () => {
      window.location.assign(`/api/console/conversations.csv?${this.query()}`); // the cookie authenticates the download
    });
    results.addEventListener("click", (event) => {
      const row = event.target.closest(".result");
      if (row) this.open(row.dataset.id);
    });
  }

  setAgents(agents) {
    const select = this.form.elements.agent;
    const current = select.value;
    select.replaceChildren(el("option", { value: "" }, "Any agent"), ...agents.map((a) => el("option", { value: a.name }, a.name)));
    select.value = current;
  }

  query() {
    const params = new URLSearchParams();
    for (const name of ["q", "caller", "agent", "channel", "since", "until"]) {
      const value = this.form.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    params.set("tz", String(-new Date().getTimezoneOffset()));
    return params;
  }

  async search() {
    const ticket = ++this.searches; // a slow answer to an older search must not overwrite a newer one
    try {
      const data = await api(`/api/console/conversations?${this.query()}`);
      if (ticket !== this.searches) return;
      this.showResults(data.conversations);
    } catch (error) {
      toast(`Search failed: ${error.message}`, "error");
    }
  }

  showResults(conversations) {
    if (!conversations.length) {
      this.results.replaceChildren(el("p", { class: "empty" }, "No ended conversations match."));
      return;
    }
    this.results.replaceChildren(
      ...conversations.map((c) =>
        el(
          "div",
          { class: `result${c.id === this.selected ? " selected" : ""}`, dataset: { id: c.id } },
          el("div", { class: "top" }, el("span", { class: "chan", dataset: { channel: c.channel } }, channelLabel(c.channel)), el("b", {}, c.caller || "unknown caller"), el("span", {}, c.agent), el("span", { class: "meta" }, dateTime(c.started_at))),
          el("div", { class: "summary" }, c.summary || "(summary being written…)"),
        ),
      ),
    );
  }

  async open(id) {
    this.selected = id;
    for (const row of this.results.querySelectorAll(".result")) row.classList.toggle("selected", row.dataset.id === id);
    try {
      const c = await api(`/api/console/conversations/${encodeURIComponent(id)}`);
      this.showConversation(c);
    } catch (error) {
      toast(`Could not open ${id}: ${error.message}`, "error");
    }
  }

  showConversation(c) {
    const meta = `${channelLabel(c.channel)} · ${c.caller || "unknown caller"} · ${c.agent} · ${dateTime(c.started_at)} → ${dateTime(c.ended_at)} · ${outcomeLabel(c.outcome)}`;
    const nodes = [el("h2", {}, c.id), el("p", { class: "meta" }, meta), el("h3", {}, "Summary"), el("div", { class: "summary-box" }, c.summary || (c.turns.length ? "(summary being written…)" : "(nothing was said)")), el("h3", {}, "Transcript")];
    for (const turn of c.turns) {
      nodes.push(el("div", { class: `line ${turn.role}` }, el("span", { class: "who" }, turn.role === "user" ? "Caller" : "Agent"), turn.text));
    }
    if (c.tool_calls.length) nodes.push(el("h3", {}, "Tool calls"));
    for (const call of c.tool_calls) {
      nodes.push(
        el("div", { class: `tool ${call.ok ? "ok" : "failed"}` }, el("span", { class: "tag" }, "tool"), el("b", {}, call.name), ` ${call.ok ? "ok" : "failed"} in ${ms(call.duration_ms)}`, el("pre", {}, prettyJson(call.arguments)), el("pre", {}, prettyJson(call.result))),
      );
    }
    this.detail.replaceChildren(...nodes);
  }
}
