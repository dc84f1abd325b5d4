// Campaigns: upload a CSV call list, follow each campaign's progress (dialled / live / done / outcomes, its rows),
// pause, resume and export it. The gateway dials from its store, so what is shown is read back from there.

import { api } from "./api.js";
import { dateTime, el, toast } from "./dom.js";

const POLL_MS = 1000;
const OUTCOMES = ["answered", "booked", "declined", "no_answer", "busy", "machine", "failed", "transferred"];
const LABELS = { no_answer: "no answer", invalid: "bad row" };
const label = (word) => LABELS[word] || (word || "").replaceAll("_", " ");

export class CampaignsView {
  constructor(form, list, detail) {
    this.form = form;
    this.list = list;
    this.detail = detail;
    this.selected = null;
    this.timer = null;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    form.elements.any_time.addEventListener("change", () => this.showHours());
    list.addEventListener("click", (event) => {
      const item = event.target.closest(".campaign-item");
      if (item) this.open(item.dataset.id);
    });
    detail.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (button) this.control(button.dataset.action);
    });
  }

  setAgents(agents, current) {
    const select = this.form.elements.agent;
    this.defaultAgent = current;
    const chosen = select.value || current;
    select.replaceChildren(...agents.map((a) => el("option", { value: a.name }, a.title || a.name)));
    if (chosen) select.value = chosen;
  }

  showHours() {
    const any = this.form.elements.any_time.checked;
    for (const name of ["start", "end", "days", "tz"]) this.form.elements[name].disabled = any;
  }

  /** Poll while the tab is shown: a campaign's rows change with every call. */
  visible(shown) {
    clearInterval(this.timer);
    this.timer = null;
    if (!shown) return;
    this.refresh();
    this.timer = setInterval(() => this.refresh(), POLL_MS);
  }

  async refresh() {
    try {
      const data = await api("/api/campaigns");
      this.showList(data.campaigns);
      if (this.selected) this.showCampaign(await api(`/api/campaigns/${encodeURIComponent(this.selected)}`));
    } catch (error) {
      if (error.status !== 401 && error.status !== 403) toast(`Campaigns: ${error.message}`, "error");
    }
  }

  async create() {
    const f = this.form.elements;
    const file = f.file.files[0];
    if (!file) return;
    const body = {
      call_list: await file.text(),
      name: file.name,
      agent: f.agent.value || null,
      carrier: f.carrier.value,
      concurrency: Number(f.concurrency.value),
      retries: Number(f.retries.value),
      retry_delay_s: Number(f.retry_minutes.value) * 60,
      hours: f.any_time.checked ? null : `${f.start.value}-${f.end.value}`,
      days: f.days.value.trim() || "mon-fri",
      tz: f.tz.value.trim() || "Asia/Tokyo",
    };
    try {
      const created = await api("/api/campaigns", { method: "POST", body });
      const bad = created.bad_rows.length ? `; ${created.bad_rows.length} bad rows not dialled` : "";
      toast(`Campaign started: ${created.prospects} numbers${bad}`);
      this.form.reset();
      if (this.defaultAgent) f.agent.value = this.defaultAgent;
      this.showHours();
      this.selected = created.id;
      await this.refresh();
    } catch (error) {
      toast(`Campaign not started: ${error.message}`, "error");
    }
  }

  async open(id) {
    this.selected = id;
    for (const item of this.list.querySelectorAll(".campaign-item")) item.classList.toggle("selected", item.dataset.id === id);
    await this.refresh();
  }

  async control(action) {
    if (!this.selected) return;
    if (action === "export") {
      window.location.assign(`/api/campaigns/${encodeURIComponent(this.selected)}/export.csv`);
      return;
    }
    try {
      this.showCampaign({ ...(await api(`/api/campaigns/${encodeURIComponent(this.selected)}/${action}`, { method: "POST" })), rows: null });
      await this.refresh();
    } catch (error) {
      toast(`Could not ${action}: ${error.message}`, "error");
    }
  }

  showList(campaigns) {
    if (!campaigns.length) {
      this.list.replaceChildren(el("p", { class: "empty" }, "No campaigns yet."));
      return;
    }
    this.list.replaceChildren(
      ...campaigns.map((c) =>
        el(
          "div",
          { class: `campaign-item${c.id === this.selected ? " selected" : ""}`, dataset: { id: c.id }, role: "button", tabindex: "0" },
          el("div", { class: "top" }, el("b", {}, c.name), el("span", { class: `cstate ${c.status}` }, c.status)),
          el("div", { class: "meta" }, `${c.carrier.toUpperCase()} · ${c.agent} · ${c.done}/${c.total - c.invalid} done · ${dateTime(c.created_at)}`),
          progress(c),
        ),
      ),
    );
  }

  showCampaign(c) {
    const head = el(
      "div",
      { class: "campaign-head" },
      el("h2", {}, c.name),
      el("span", { class: `cstate ${c.status}` }, c.status),
      el("span", { class: "meta" }, `${c.carrier.toUpperCase()} · ${c.agent} · ${c.concurrency} at once · ${c.hours ? `${c.hours} ${c.days} (${c.tz})` : "any time"}`),
      el("span", { class: "grow" }),
      c.status === "running" ? el("button", { type: "button", "data-action": "pause" }, "Pause") : null,
      c.status === "paused" ? el("button", { type: "button", "data-action": "resume" }, "Resume") : null,
      el("button", { type: "button", class: "quiet", "data-action": "export" }, "Export CSV"),
    );
    const counts = el(
      "div",
      { class: "campaign-counts" },
      count("dialled", c.dialled),
      count("live", c.live),
      count("done", `${c.done}/${c.total - c.invalid}`),
      ...OUTCOMES.filter((o) => c.outcomes[o]).map((o) => count(label(o), c.outcomes[o], o)),
      c.invalid ? count("bad rows", c.invalid, "invalid") : null,
    );
    const parts = [head, progress(c), counts];
    if (c.rows) parts.push(rowsTable(c.rows));
    else if (this.detail.querySelector(".campaign-rows")) parts.push(this.detail.querySelector(".campaign-rows"));
    this.detail.replaceChildren(...parts);
  }
}

function count(name, value, kind = "") {
  return el("span", { class: `count ${kind}` }, el("b", {}, String(value)), ` ${name}`);
}

function progress(c) {
  const dialable = Math.max(1, c.total - c.invalid);
  const bar = el("i");
  bar.style.width = `${Math.round((100 * c.done) / dialable)}%`; // CSSOM, not a style attribute: the page's CSP allows it
  return el("div", { class: "progress", title: `${c.done} of ${dialable} done` }, bar);
}

function rowsTable(rows) {
  const body = rows.map((r) =>
    el(
      "tr",
      { class: r.status },
      el("td", { class: "num" }, String(r.line)),
      el("td", {}, r.to),
      el("td", {}, r.name),
      el("td", {}, el("span", { class: `outcome ${r.outcome || r.status}` }, r.status === "calling" ? "calling…" : label(r.outcome || r.status))),
      el("td", { class: "num" }, String(r.attempts)),
      el("td", { class: "num" }, r.duration_s === null ? "" : `${r.duration_s}s`),
      el("td", { class: "wide" }, r.summary || r.reason || ""),
    ),
  );
  return el(
    "div",
    { class: "campaign-rows" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ...["#", "Number", "Name", "Outcome", "Tries", "Talk", "Summary / reason"].map((h, i) => el("th", { class: i === 0 || i > 3 && i < 6 ? "num" : i === 6 ? "wide" : "" }, h)))),
      el("tbody", {}, ...body),
    ),
  );
}

