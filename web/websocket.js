// The WebSocket channel (the fallback when WebRTC is not possible): the microphone streams to the gateway as PCM16
// 24 kHz frames, the gateway runs speech recognition, the LLM with tools and speech synthesis, and streams the
// agent's voice back as PCM16 24 kHz, played gap-free by an AudioWorklet. No key ever reaches this page: the only
// credential is the session token the gateway returns, used to resume the same conversation after a drop.
// The contract (opts, ui callbacks, return value) is described at the top of app.js; the wire protocol at the top
// of channels/browser/wire.py.

const RATE = 24000;
const FRAME_MS = 20;
const READY_TIMEOUT_MS = 12000;
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]; // ~24 s: inside the gateway's grace
const STOP_WAIT_MS = 1000;
const MIN_VOICE_RMS = 0.015; // about -36 dBFS: quieter mic frames never count as the caller talking over the agent
const FINAL_CLOSE_CODES = new Set([1000, 1008, 1009, 1011, 1013, 4000]);
const SERVER_ERRORS = { not_configured: "provider_not_configured", engine_unavailable: "provider_error", draining: "busy", busy: "busy", unknown_agent: "agent_missing" };

class ChannelError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/browser`;
}

// Debug state for tests and support; never holds the token.
const debug = {
  state: "idle", sessionId: null, contextRate: 0, framesSent: 0, framesReceived: 0, bytesReceived: 0,
  played: 0, playedSamples: 0, queuedMs: 0, cleared: 0, serverClears: 0, bargeIns: 0, underruns: 0, reconnects: 0, droppedAfterBargeIn: 0,
  agentSpeaking: false, agentLevelPeak: 0, micRmsPeak: 0, lastError: null, closeCode: null, messages: [],
};
window.__voiceGatewayWs = debug;

class WebSocketSession {
  constructor({ agent, micStream, audioContext, ui, signal }) {
    this.agent = agent;
    this.micStream = micStream;
    this.context = audioContext;
    this.ui = ui;
    this.signal = signal;
    this.ws = null;
    this.ready = false;
    this.sessionId = null;
    this.token = null;
    this.stopped = false;
    this.ended = false;
    this.bargeInMs = 700;
    this.voicedMs = 0;
    this.noiseFloor = 0.005;
    this.agentSpeaking = false;
    this.texts = new Map(); // itemId → text so far (deltas accumulate here)
  }

  // ── audio graph ──────────────────────────────────────────────────────────────────────────────────────────────────
  async setUpAudio() {
    const ctx = this.context;
    debug.contextRate = ctx.sampleRate;
    try {
      await ctx.audioWorklet.addModule(new URL("./worklets/mic-capture.js", import.meta.url));
      await ctx.audioWorklet.addModule(new URL("./worklets/pcm-player.js", import.meta.url));
    } catch (err) {
      throw new ChannelError("websocket_unavailable", `audio worklets: ${err.message}`);
    }
    this.source = ctx.createMediaStreamSource(this.micStream);
    this.capture = new AudioWorkletNode(ctx, "vg-mic-capture", {
      numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { targetRate: RATE, frameMs: FRAME_MS },
    });
    this.mute = ctx.createGain(); // the capture node must be pulled by the graph, but must not be heard
    this.mute.gain.value = 0;
    this.source.connect(this.capture).connect(this.mute).connect(ctx.destination);
    this.player = new AudioWorkletNode(ctx, "vg-pcm-player", {
      numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { inputRate: RATE },
    });
    this.player.connect(ctx.destination);
    this.capture.port.onmessage = (event) => this.onMicFrame(event.data);
    this.player.port.onmessage = (event) => this.onPlayer(event.data);
  }

  tearDownAudio() {
    this.capture?.port.postMessage({ type: "stop" });
    this.player?.port.postMessage({ type: "stop" });
    for (const node of [this.source, this.capture, this.mute, this.player]) {
      try { node?.disconnect(); } catch { /* already disconnected */ }
    }
  }

  onMicFrame({ pcm, rms }) {
    debug.micRmsPeak = Math.max(debug.micRmsPeak, rms);
    this.detectBargeIn(rms);
    if (!this.ready || this.ws?.readyState !== WebSocket.OPEN) return; // frames while (re)connecting are dropped
    this.ws.send(pcm);
    debug.framesSent += 1;
  }

  // The caller talking over the agent for a while stops playback here at once, before the gateway's recognizer
  // has even heard the words; short backchannels (はい, うん) stay below the threshold and the agent goes on.
  detectBargeIn(rms) {
    if (!this.agentSpeaking) {
      this.noiseFloor = 0.95 * this.noiseFloor + 0.05 * Math.min(rms, 0.05);
      this.voicedMs = 0;
      return;
    }
    if (this.bargeInMs <= 0) return; // a turn-based agent is never interrupted from the page
    const threshold = Math.max(MIN_VOICE_RMS, this.noiseFloor * 3);
    this.voicedMs = rms >= threshold ? this.voicedMs + FRAME_MS : Math.max(0, this.voicedMs - FRAME_MS / 2);
    if (this.voicedMs >= this.bargeInMs) {
      this.voicedMs = 0;
      debug.bargeIns += 1;
      // Audio of the interrupted reply is still on the wire: drop it until the gateway answers with "clear".
      this.awaitingClear = true;
      this.flushPlayback();
      this.sendJson({ type: "barge_in" });
    }
  }

  flushPlayback() {
    this.player?.port.postMessage({ type: "clear" });
    this.setAgentSpeaking(false);
  }

  onPlayer(message) {
    if (message.type === "speaking") this.setAgentSpeaking(message.value);
    else if (message.type === "level") {
      debug.played = message.playedMs;
      debug.playedSamples = message.playedSamples;
      debug.queuedMs = message.queuedMs;
      debug.agentLevelPeak = Math.max(debug.agentLevelPeak, message.level);
      this.ui.agentLevel?.(message.level);
    } else if (message.type === "cleared") {
      debug.cleared += 1;
      debug.queuedMs = 0; // the queue is empty now; a level report from before the clear must not linger
      this.sendJson({ type: "played", ms: message.playedMs, samples: message.playedSamples }); // the gateway resumes a pause from it
    } else if (message.type === "underrun") {
      debug.underruns += 1;
      this.sendJson({ type: "drained" }); // played all it had: the gateway opens a turn-based caller's turn on this
    }
  }

  setAgentSpeaking(value) {
    if (this.agentSpeaking === value) return;
    this.agentSpeaking = value;
    debug.agentSpeaking = value;
    this.ui.agentSpeaking(value);
  }

  // ── socket ───────────────────────────────────────────────────────────────────────────────────────────────────────
  sendJson(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  // Opens a socket and says hello; resolves with the ready message, rejects with a ChannelError.
  connect() {
    return new Promise((resolve, reject) => {
      let settled = false;
      const ws = new WebSocket(socketUrl());
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      const fail = (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.signal?.removeEventListener("abort", onAbort);
        try { ws.close(); } catch { /* not open */ }
        reject(error);
      };
      const onAbort = () => fail(new ChannelError("timeout"));
      const timer = setTimeout(() => fail(new ChannelError("timeout")), READY_TIMEOUT_MS);
      this.signal?.addEventListener("abort", onAbort);
      ws.onopen = () => {
        const hello = { type: "hello", agent: this.agent };
        if (this.sessionId) Object.assign(hello, { session_id: this.sessionId, token: this.token });
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = (event) => {
        if (settled) return this.onMessage(event);
        if (typeof event.data !== "string") return; // no audio before ready
        const message = JSON.parse(event.data);
        if (message.type === "ready") {
          settled = true;
          clearTimeout(timer);
          this.signal?.removeEventListener("abort", onAbort);
          ws.onclose = (closed) => this.onClose(ws, closed);
          resolve(message);
        } else if (message.type === "error") {
          fail(new ChannelError(SERVER_ERRORS[message.code] || message.code, message.message));
        }
      };
      ws.onerror = () => {}; // the close event that follows carries what we need
      ws.onclose = (closed) => {
        debug.closeCode = closed.code;
        fail(new ChannelError(this.sessionId ? "connection_lost" : "websocket_unavailable", `closed (${closed.code})`));
      };
    });
  }

  onReady(message) {
    this.ready = true;
    this.awaitingClear = false; // a new socket carries no audio of the reply that was interrupted
    this.sessionId = message.session_id;
    this.token = message.token;
    this.bargeInMs = typeof message.barge_in_ms === "number" ? message.barge_in_ms : this.bargeInMs; // 0: turn-based
    debug.sessionId = message.session_id;
    debug.state = "live";
    this.ui.session?.({ sessionId: message.session_id, agent: message.agent, token: message.token }); // for /api/handoff
  }

  onMessage(event) {
    if (typeof event.data !== "string") {
      debug.framesReceived += 1;
      debug.bytesReceived += event.data.byteLength;
      if (this.awaitingClear) {
        debug.droppedAfterBargeIn += 1;
        return;
      }
      this.player.port.postMessage({ type: "pcm", pcm: event.data }, [event.data]);
      return;
    }
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    debug.messages.push(message.type);
    if (debug.messages.length > 100) debug.messages.shift();
    switch (message.type) {
      case "transcript": return this.onTranscript(message);
      case "tool_call":
        return this.ui.toolCall({ callId: message.call_id, name: message.name, arguments: message.arguments });
      case "tool_result":
        return this.ui.toolResult({ callId: message.call_id, name: message.name, ok: message.ok, output: message.output });
      case "clear":
        debug.serverClears += 1;
        this.awaitingClear = false; // what follows belongs to the next reply
        return this.flushPlayback();
      case "error":
        debug.lastError = message.code;
        return this.ui.status(message.message || message.code, "warn");
      case "ended":
        return this.finish(message.reason || "completed");
      default:
        return undefined;
    }
  }

  onTranscript({ role, text, final, item_id: itemId }) {
    if (final) {
      this.texts.delete(itemId);
      this.ui.transcript({ role, text, final: true, itemId });
    } else {
      const sofar = (this.texts.get(itemId) || "") + text;
      this.texts.set(itemId, sofar);
      this.ui.transcript({ role, text: sofar, final: false, itemId });
    }
  }

  onClose(ws, closed) {
    if (ws !== this.ws) return;
    debug.closeCode = closed.code;
    this.ready = false;
    if (this.stopped || this.ended) return;
    if (FINAL_CLOSE_CODES.has(closed.code)) {
      this.finish(closed.code === 1000 ? "completed" : "connection_lost");
      return;
    }
    this.reconnect();
  }

  async reconnect() {
    this.flushPlayback(); // the gateway stops the reply it was sending when the socket dropped
    debug.state = "reconnecting";
    this.ui.status("reconnecting", "warn");
    for (const delay of RECONNECT_DELAYS_MS) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.stopped || this.ended) return;
      try {
        const ready = await this.connect();
        debug.reconnects += 1;
        this.onReady(ready);
        this.ui.status("connected_websocket", "ok");
        return;
      } catch (err) {
        if (err.code === "session_gone" || err.code === "bad_token") break;
      }
    }
    this.finish("connection_lost");
  }

  finish(reason) {
    if (this.ended) return;
    this.ended = true;
    this.ready = false;
    debug.state = "ended";
    this.tearDownAudio();
    this.setAgentSpeaking(false);
    try { this.ws?.close(1000); } catch { /* already closed */ }
    if (!this.stopped) this.ui.ended(reason);
  }

  // ── public ───────────────────────────────────────────────────────────────────────────────────────────────────────
  async start() {
    debug.state = "connecting";
    await this.setUpAudio();
    try {
      this.onReady(await this.connect());
    } catch (err) {
      this.tearDownAudio();
      debug.state = "failed";
      debug.lastError = err.code;
      throw err;
    }
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    const ws = this.ws;
    if (ws?.readyState === WebSocket.OPEN && this.ready) {
      const closed = new Promise((resolve) => {
        ws.addEventListener("close", resolve, { once: true });
        setTimeout(resolve, STOP_WAIT_MS);
      });
      this.sendJson({ type: "stop" });
      await closed;
    }
    this.finish("completed");
  }
}

export async function startWebSocketSession(opts) {
  const session = new WebSocketSession(opts);
  await session.start();
  return { stop: () => session.stop(), channel: "websocket" };
}
