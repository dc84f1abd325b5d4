// The push feed: one EventSource on /api/console/events. The browser reconnects by itself after a network error;
// after an HTTP error (gateway restarting, draining) it gives up, so this reopens it with a growing delay.

const STALE_MS = 40000; // two heartbeats missed: the connection is dead even if the socket says otherwise

export class Feed {
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers; // { snapshot, batch, agent, status(state) }
    this.backoff = 1000;
    this.source = null;
    this.staleTimer = null;
    this.retryTimer = null;
  }

  open() {
    clearTimeout(this.retryTimer);
    this.handlers.status("connecting");
    const source = new EventSource(this.url);
    this.source = source;
    const on = (name, handle) =>
      source.addEventListener(name, (message) => {
        this.alive();
        handle(JSON.parse(message.data));
      });
    on("snapshot", (data) => {
      this.backoff = 1000;
      this.handlers.status("live");
      this.handlers.snapshot(data);
    });
    on("batch", (data) => this.handlers.batch(data));
    on("agent", (data) => this.handlers.agent(data.agent));
    on("heartbeat", (data) => this.handlers.agent(data.agent));
    on("bye", () => {
      source.close();
      this.handlers.status("offline");
      this.retry();
    });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.handlers.status("offline");
        this.retry();
      } else {
        this.handlers.status("reconnecting");
      }
    };
  }

  alive() {
    clearTimeout(this.staleTimer);
    this.staleTimer = setTimeout(() => {
      this.source.close();
      this.handlers.status("offline");
      this.retry();
    }, STALE_MS);
  }

  retry() {
    clearTimeout(this.retryTimer);
    clearTimeout(this.staleTimer);
    this.retryTimer = setTimeout(async () => {
      // a refused token also closes the stream: then the login form is the way back
      const check = await fetch("/api/console/status", { credentials: "same-origin" }).catch(() => null);
      if (check && (check.status === 401 || check.status === 403)) {
        window.location.assign("/console");
        return;
      }
      this.open();
    }, this.backoff);
    this.backoff = Math.min(this.backoff * 2, 15000);
  }
}
