// Campaigns: upload a CSV call list, follow each campaign's progress (dialled / live / done / outcomes, its rows),
// pause, resume and export it. The gateway dials from its store, so what is shown is read back from there. Progress
// is pushed on the console's feed (campaign.progress); polling is the fallback while the feed is down.

import { api } from "./api.js";
import { dateTime, el, toast } from "./dom.js";

const POLL_MS = 1000; // while the push feed is down
const SAFETY_POLL_MS = 30000; // while it is live: only a safety net
const ROWS_PAGE = 100;
const ROWS_RELOAD_MS = 250; // pushes in a burst reload the shown rows once
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
    this.shown = false;
    this.feedLive = false;
    this.offset = 0; // first row of the page shown
    this.summaries = new Map(); // id → the campaign's counts, as last read or pushed
    this.rowsTimer = null;
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

  /** While the tab is shown: read everything once, then follow the pushes (polling only as a fallback). */
  visible(shown) {
    this.shown = shown;
    this.poll();
    if (shown) this.refresh();
  }

  /** The feed's state: live, the pushes carry the progress; down, the view polls every second. */
  setFeedLive(live) {
    if (live === this.feedLive) return;
    this.feedLive = live;
    this.poll();
    if (live && this.shown) this.refresh(); // pushes may have been missed while it was down
  }

  poll() {
    clearInterval(this.timer);
    this.timer = this.shown ? setInterval(() => this.refresh("poll"), this.feedLive ? SAFETY_POLL_MS : POLL_MS) : null;
  }

  async refresh(source = "read") {
    try {
      const data = await api("/api/campaigns");
      this.summaries = new Map(data.campaigns.map((c) => [c.id, c]));
      this.showList(data.campaigns);
      if (this.selected) await this.loadSelected(source);
    } catch (error) {
      if (error.status !== 401 && error.status !== 403) toast(`Campaigns: ${error.message}`, "error");
    }
  }

  async loadSelected(source) {
    const id = this.selected;
    const c = await api(`/api/campaigns/${encodeURIComponent(id)}?offset=${this.offset}&limit=${ROWS_PAGE}`);
    if (id !== this.selected) return;
    this.showCampaign(c, source);
  }

  /** A campaign.progress event from the feed: its list entry now; the selected one's counts and rows are read
   * back together shortly after (a burst of pushes, one read), so they never disagree. */
  progress(e) {
    if (!this.shown) return;
    const known = this.summaries.get(e.campaign_id);
    if (!known) {
      this.refresh("push"); // a campaign started elsewhere (another page, the CLI, another worker)
      return;
    }
    const { kind, s, ...counts } = e;
    Object.assign(known, counts, { id: e.campaign_id });
    this.showList([...this.summaries.values()]);
    if (e.campaign_id !== this.selected) return;
    clearTimeout(this.rowsTimer);
    this.rowsTimer = setTimeout(() => this.loadSelected("push").catch(() => {}), ROWS_RELOAD_MS);
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
      this.offset = 0;
      await this.refresh();
    } catch (error) {
      toast(`Campaign not started: ${error.message}`, "error");
    }
  }

  async open(id) {
    if (id !== this.selected) this.offset = 0;
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
    if (action === "prev" || action === "next") {
      this.offset = Math.max(0, this.offset + (action === "next" ? ROWS_PAGE : -ROWS_PAGE));
      await this.loadSelected("read").catch((error) => toast(`Campaigns: ${error.message}`, "error"));
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
          el("div", { class: "top" }, el("b", {}, c.name), state(c)),
          el("div", { class: "meta" }, `${c.carrier.toUpperCase()} · ${c.agent} · ${c.done}/${c.total - c.invalid} done · ${dateTime(c.created_at)}`),
          progress(c),
        ),
      ),
    );
  }

  showCampaign(c, source = "read") {
    const rows = c.rows;
    this.detail.dataset.source = source; // what drew it last: push, poll or read (tests tell push from poll)
    const head = el(
      "div",
      { class: "campaign-head" },
      el("h2", {}, c.name),
      state(c),
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
    const waiting = c.opens_at ? el("p", { class: "waiting" }, `Outside calling hours: nothing is dialled until ${dateTime(c.opens_at)}.`) : null;
    const parts = [head, waiting, progress(c), counts];
    if (rows) parts.push(rowsTable(rows), pager(c.offset, rows.length, c.total));
    else if (this.detail.querySelector(".campaign-rows")) parts.push(...this.detail.querySelectorAll(".campaign-rows, .pager"));
    this.detail.replaceChildren(...parts.filter(Boolean)); // no pager on a single page: null would show as text
  }
}

/** The campaign's state; a running one outside its calling hours says "waiting", so it does not look stuck. */
function state(c) {
  return el("span", { class: `cstate ${c.status}`, title: c.opens_at ? `dials from ${dateTime(c.opens_at)}` : null }, c.opens_at ? "waiting" : c.status);
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

function pager(offset, shown, total) {
  if (offset === 0 && shown >= total) return null;
  return el(
    "div",
    { class: "pager" },
    el("button", { type: "button", class: "quiet", "data-action": "prev", disabled: offset === 0 ? "" : null }, "‹ Previous"),
    el("span", { class: "meta" }, `rows ${shown ? offset + 1 : 0}–${offset + shown} of ${total}`),
    el("button", { type: "button", class: "quiet", "data-action": "next", disabled: offset + shown >= total ? "" : null }, "Next ›"),
  );
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

