// The WebRTC channel: media flows between the browser and the AI provider; the gateway dials the call for the page
// (POST /api/realtime/calls relays the SDP offer) and holds the agent on its own control socket to the provider:
// it runs the tools, moves the scenario on and records the transcripts. The page only shows what happens and
// reports what only it knows (connection health, latency, barge-in, the end) on POST /api/realtime/events.
// The contract (opts, ui callbacks, return value) is described at the top of app.js.

const ICE_GATHER_MS = 1500;
const DISCONNECT_GRACE_MS = 5000;

class ChannelError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

const MINT_ERRORS = { 403: "forbidden", 429: "rate_limited", 503: "provider_not_configured", 502: "provider_error" };

async function mintSession(agent, signal) {
  let response;
  try {
    response = await fetch("/api/realtime/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ agent }),
      signal,
    });
  } catch (err) {
    throw signal?.aborted ? new ChannelError("timeout") : new ChannelError("status_failed", err.message);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (body.code === "unknown_agent") throw new ChannelError("agent_missing", agent);
    const code = response.status === 503 && body.code === "draining" ? "provider_error" : MINT_ERRORS[response.status];
    throw new ChannelError(code || "provider_error", body.error || `HTTP ${response.status}`);
  }
  return body;
}

// Reports to the gateway, one request at a time and in order; `keepalive` lets the last one outlive the page.
class Reporter {
  constructor(sessionId, token, onGone) {
    this.sessionId = sessionId;
    this.token = token;
    this.onGone = onGone;
    this.queue = [];
    this.scheduled = false;
    this.keepalive = false;
    this.chain = Promise.resolve();
  }

  send(event, { keepalive = false } = {}) {
    if (this.gone) return this.chain;
    this.queue.push(event);
    this.keepalive ||= keepalive;
    if (!this.scheduled) {
      this.scheduled = true;
      this.chain = this.chain.then(() => {
        this.scheduled = false;
        return this.flush();
      });
    }
    return this.chain;
  }

  async flush() {
    const events = this.queue.splice(0, 50);
    const keepalive = this.keepalive;
    this.keepalive = false;
    if (!events.length) return;
    try {
      const response = await fetch("/api/realtime/events", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${this.token}` },
        body: JSON.stringify({ session_id: this.sessionId, events }),
        keepalive,
      });
      if (response.status === 410) {
        this.gone = true;
        this.onGone();
      }
      else if (!response.ok) console.warn("gateway refused a report", response.status);
    } catch (err) {
      console.warn("report failed", err);
    }
  }
}

function waitIceGathering(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function waitOpen(pc, channel, signal) {
  return new Promise((resolve, reject) => {
    if (channel.readyState === "open") return resolve();
    const cleanup = () => {
      channel.removeEventListener("open", onOpen);
      pc.removeEventListener("connectionstatechange", onState);
      signal?.removeEventListener("abort", onAbort);
    };
    const onOpen = () => { cleanup(); resolve(); };
    const onState = () => {
      if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        cleanup();
        reject(new ChannelError("sdp_failed", `peer connection ${pc.connectionState}`));
      }
    };
    const onAbort = () => { cleanup(); reject(new ChannelError("timeout")); };
    channel.addEventListener("open", onOpen);
    pc.addEventListener("connectionstatechange", onState);
    signal?.addEventListener("abort", onAbort);
  });
}

function levelMeter(audioContext, stream, onLevel) {
  if (!audioContext || !onLevel) return () => {};
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 1024;
  const source = audioContext.createMediaStreamSource(stream);
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) sum += s * s;
    onLevel(Math.min(1, Math.sqrt(sum / samples.length) * 4));
  }, 50);
  return () => { clearInterval(timer); source.disconnect(); };
}

export async function startWebRTCSession(opts) {
  const { agent, micStream, audioContext, ui, signal } = opts;
  const mint = await mintSession(agent, signal);
  ui.session?.({ sessionId: mint.session_id, agent: mint.agent, token: mint.token });
  const beta = mint.dialect === "beta";
  let stopping = false;
  let ended = false;

  const reporter = new Reporter(mint.session_id, mint.token, () => finish("ended_by_operator", false));
  reporter.send({ type: "health", status: "connecting" });

  const pc = new RTCPeerConnection();
  const audio = document.createElement("audio");
  audio.autoplay = true;
  audio.hidden = true;
  document.body.appendChild(audio); // Chrome feeds a remote stream to WebAudio only while a media element plays it
  let stopMeter = () => {};
  pc.addEventListener("track", (event) => {
    const stream = event.streams[0] || new MediaStream([event.track]);
    audio.srcObject = stream;
    audio.play().catch(() => {});
    stopMeter();
    stopMeter = levelMeter(audioContext, stream, ui.agentLevel);
  });
  for (const track of micStream.getAudioTracks()) pc.addTrack(track, micStream);
  const channel = pc.createDataChannel("oai-events");

  const teardown = () => {
    stopMeter();
    try { channel.close(); } catch { /* already closed */ }
    pc.close();
    audio.srcObject = null;
    audio.remove();
  };

  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitIceGathering(pc, ICE_GATHER_MS); // the offer carries our candidates; some peers cannot learn them later
    let answer;
    try {
      answer = await fetch(`/api/realtime/calls?session_id=${encodeURIComponent(mint.session_id)}`, {
        method: "POST",
        body: pc.localDescription.sdp,
        headers: { Authorization: `Bearer ${mint.token}`, "Content-Type": "application/sdp" },
        signal,
      });
    } catch (err) {
      throw signal?.aborted ? new ChannelError("timeout") : new ChannelError("sdp_failed", err.message);
    }
    mint.client_secret = null; // the gateway dials with it; the page never needs it
    if (answer.status !== 201 && answer.status !== 200) throw new ChannelError("sdp_failed", `HTTP ${answer.status}`);
    await pc.setRemoteDescription({ type: "answer", sdp: await answer.text() });
    await waitOpen(pc, channel, signal);
  } catch (err) {
    teardown();
    reporter.send({ type: "error", message: String(err.message || err).slice(0, 400), fatal: true });
    reporter.send({ type: "end", outcome: "error" }, { keepalive: true });
    throw err;
  }

  reporter.send({ type: "health", status: "connected", detail: "webrtc" });
  const heartbeat = setInterval(() => reporter.send({ type: "ping" }), (mint.heartbeat_s || 15) * 1000);

  // ── conversation state ──
  const partial = new Map(); // itemId -> text so far
  const replyOf = new Map(); // itemId -> the response it belongs to (to close a reply cut short)
  const toolNames = new Map(); // call id -> tool name, for the result card
  let speaking = false;
  let speakingSince = 0;
  let userStoppedAt = 0;

  const setSpeaking = (value) => {
    if (speaking === value) return;
    speaking = value;
    speakingSince = value ? performance.now() : 0;
    ui.agentSpeaking(value);
  };

  const final = (role, text, itemId) => {
    partial.delete(itemId);
    ui.transcript({ role, text, final: true, itemId });
  };

  const delta = (role, itemId, piece, responseId) => {
    const text = (partial.get(itemId) || "") + piece;
    partial.set(itemId, text);
    if (responseId) replyOf.set(itemId, responseId);
    ui.transcript({ role, text, final: false, itemId });
  };

  // a response that ended before its transcript did (an interruption): the reply stays as far as it got, marked "…"
  const cut = (responseId) => {
    for (const [itemId, rid] of replyOf) {
      if (rid !== responseId) continue;
      replyOf.delete(itemId);
      if (partial.has(itemId)) final("assistant", `${partial.get(itemId).trimEnd()}…`, itemId);
    }
  };

  // Tools run on the gateway; the page shows the call, then the output the gateway gave the model.
  const toolOutput = (item) => {
    if (item?.type !== "function_call_output" || !toolNames.has(item.call_id)) return;
    let output;
    try { output = JSON.parse(item.output); } catch { output = { ok: false, error: { code: "unreadable" } }; }
    ui.toolResult({ callId: item.call_id, name: toolNames.get(item.call_id), ok: Boolean(output?.ok), output });
    toolNames.delete(item.call_id);
  };

  const handlers = {
    "input_audio_buffer.speech_started": () => {
      if (speaking) reporter.send({ type: "barge_in", played_ms: Math.round(performance.now() - speakingSince) });
      ui.status("listening", "info");
    },
    "input_audio_buffer.speech_stopped": () => { userStoppedAt = performance.now(); },
    "conversation.item.input_audio_transcription.delta": (e) => delta("user", e.item_id, e.delta || ""),
    "conversation.item.input_audio_transcription.completed": (e) => final("user", e.transcript || "", e.item_id),
    "response.output_audio_transcript.delta": (e) => delta("assistant", e.item_id, e.delta || "", e.response_id),
    "response.audio_transcript.delta": (e) => delta("assistant", e.item_id, e.delta || "", e.response_id),
    "response.output_text.delta": (e) => delta("assistant", e.item_id, e.delta || "", e.response_id),
    "response.text.delta": (e) => delta("assistant", e.item_id, e.delta || "", e.response_id),
    "response.output_audio_transcript.done": (e) => final("assistant", e.transcript ?? partial.get(e.item_id) ?? "", e.item_id),
    "response.audio_transcript.done": (e) => final("assistant", e.transcript ?? partial.get(e.item_id) ?? "", e.item_id),
    "response.output_text.done": (e) => final("assistant", e.text ?? partial.get(e.item_id) ?? "", e.item_id),
    "response.text.done": (e) => final("assistant", e.text ?? partial.get(e.item_id) ?? "", e.item_id),
    "response.done": (e) => cut(e.response?.id),
    "output_audio_buffer.started": () => {
      setSpeaking(true);
      ui.status("agent_speaking", "info");
      if (userStoppedAt) {
        reporter.send({ type: "latency", ms: Math.round(performance.now() - userStoppedAt) });
        userStoppedAt = 0;
      }
    },
    "output_audio_buffer.stopped": () => { setSpeaking(false); ui.status("connected_webrtc", "ok"); },
    "output_audio_buffer.cleared": () => setSpeaking(false),
    "response.function_call_arguments.done": (e) => {
      toolNames.set(e.call_id, e.name);
      ui.toolCall({ callId: e.call_id, name: e.name, arguments: e.arguments });
    },
    "conversation.item.added": (e) => toolOutput(e.item),
    "conversation.item.created": (e) => toolOutput(e.item),
    error: (e) => {
      const message = e.error?.message || "provider error";
      console.warn("provider error", e.error);
      if (e.error?.code === "conversation_already_has_active_response") return; // benign: a turn raced our reply
      ui.status(message, "warn");
      reporter.send({ type: "error", message: message.slice(0, 400), fatal: false });
    },
  };

  channel.addEventListener("message", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    handlers[event.type]?.(event);
  });

  // ── losing the connection ──
  let graceTimer = null;
  pc.addEventListener("connectionstatechange", () => {
    if (stopping) return;
    if (pc.connectionState === "connected") {
      clearTimeout(graceTimer);
      graceTimer = null;
    } else if (pc.connectionState === "disconnected" && !graceTimer) {
      ui.status("reconnecting", "warn");
      reporter.send({ type: "health", status: "reconnecting" });
      graceTimer = setTimeout(() => finish("connection_lost", true), DISCONNECT_GRACE_MS);
    } else if (pc.connectionState === "failed") {
      finish("connection_lost", true);
    }
  });
  // The provider closing the call may be the console ending it: one report tells (410 → ended by an operator).
  channel.addEventListener("close", () => {
    if (!stopping) reporter.send({ type: "ping" }).then(() => finish("connection_lost", true));
  });

  // Ends the call once, whoever ends it; false when it had already ended.
  function shutDown() {
    if (ended) return false;
    ended = true;
    stopping = true;
    clearInterval(heartbeat);
    clearTimeout(graceTimer);
    setSpeaking(false);
    teardown();
    return true;
  }

  function finish(reason, report) {
    if (!shutDown()) return;
    if (report) reporter.send({ type: "end", outcome: reason === "connection_lost" ? "connection_lost" : "completed" }, { keepalive: true });
    ui.ended(reason);
  }

  return {
    channel: "webrtc",
    async stop() {
      if (!shutDown()) return;
      await reporter.send({ type: "end", outcome: "caller_hangup" }, { keepalive: true });
    },
  };
}
