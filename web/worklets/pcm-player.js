// Agent audio player: PCM16 mono at the gateway's rate (24 kHz) in, the AudioContext's rate out, gap-free.
// Chunks queue up as they arrive (the gateway sends faster than real time); playback of a burst starts once a
// little is buffered so network jitter does not cut words; {type: "clear"} empties the queue at once (barge-in).
// Messages in:  {type: "pcm", pcm: ArrayBuffer}  {type: "clear"}  {type: "stop"}
// Messages out: {type: "speaking", value}  {type: "level", level, playedMs, playedSamples, queuedMs}
//               {type: "cleared", playedMs, playedSamples, droppedMs}  {type: "underrun"}
// playedSamples counts input samples: a paused reply resumes at exactly the sample after the last one played.

const PREBUFFER_MS = 60; // start a burst once this much is queued...
const MAX_WAIT_MS = 120; // ...or once the first chunk has waited this long (a short last sentence)
const HANGOVER_MS = 250; // "not speaking" only after this much silence: no flapping between sentences
const LEVEL_EVERY_MS = 50;

class PcmPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { inputRate = 24000 } = options.processorOptions || {};
    this.inputRate = inputRate;
    this.step = inputRate / sampleRate; // input samples per output sample
    this.chunks = [];
    this.index = 0; // read position in chunks[0]
    this.queued = 0; // input samples not yet read
    this.a = 0; // the two input samples the output interpolates between
    this.b = 0;
    this.frac = 1;
    this.state = "idle"; // idle | buffering | playing
    this.waited = 0; // output samples spent buffering
    this.silent = 0; // output samples since the queue ran dry
    this.speaking = false;
    this.burstPlayed = 0; // input samples played since the last clear
    this.totalPlayed = 0;
    this.levelSum = 0;
    this.levelCount = 0;
    this.running = true;
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  ms(inputSamples) {
    return (inputSamples * 1000) / this.inputRate;
  }

  onMessage(message) {
    if (message?.type === "pcm") {
      const ints = new Int16Array(message.pcm);
      const floats = new Float32Array(ints.length);
      for (let i = 0; i < ints.length; i++) floats[i] = ints[i] / 0x8000;
      if (floats.length) {
        this.chunks.push(floats);
        this.queued += floats.length;
        if (this.state === "idle") {
          this.state = "buffering";
          this.waited = 0;
        }
      }
    } else if (message?.type === "clear") {
      const dropped = this.queued;
      this.chunks = [];
      this.index = 0;
      this.queued = 0;
      this.a = this.b = 0;
      this.frac = 1;
      this.state = "idle";
      this.port.postMessage({ type: "cleared", playedMs: Math.round(this.ms(this.burstPlayed)), playedSamples: this.burstPlayed, droppedMs: Math.round(this.ms(dropped)) });
      this.burstPlayed = 0;
      this.setSpeaking(false);
    } else if (message?.type === "stop") {
      this.running = false;
    }
  }

  setSpeaking(value) {
    if (this.speaking !== value) {
      this.speaking = value;
      this.port.postMessage({ type: "speaking", value });
    }
  }

  nextInput() {
    while (this.chunks.length && this.index >= this.chunks[0].length) {
      this.chunks.shift();
      this.index = 0;
    }
    if (!this.chunks.length) return null;
    this.queued -= 1;
    this.burstPlayed += 1;
    this.totalPlayed += 1;
    return this.chunks[0][this.index++];
  }

  process(_inputs, outputs) {
    if (!this.running) return false;
    const out = outputs[0][0];
    if (this.state === "buffering") {
      this.waited += out.length;
      const waitedMs = (this.waited * 1000) / sampleRate;
      if (this.ms(this.queued) >= PREBUFFER_MS || waitedMs >= MAX_WAIT_MS) {
        this.state = "playing";
        this.setSpeaking(true);
      }
    }
    if (this.state !== "playing") {
      out.fill(0);
      this.tick(out);
      return true;
    }
    for (let i = 0; i < out.length; i++) {
      while (this.frac >= 1) {
        const sample = this.nextInput();
        if (sample === null) break;
        this.a = this.b;
        this.b = sample;
        this.frac -= 1;
      }
      if (this.frac >= 1) { // ran dry
        out.fill(0, i);
        this.state = "idle";
        this.a = this.b = 0;
        this.frac = 1;
        this.port.postMessage({ type: "underrun" });
        break;
      }
      out[i] = this.a + (this.b - this.a) * this.frac;
      this.frac += this.step;
    }
    this.tick(out);
    return true;
  }

  tick(out) {
    if (this.state === "playing" || this.queued > 0) this.silent = 0;
    else this.silent += out.length;
    if (this.speaking && (this.silent * 1000) / sampleRate >= HANGOVER_MS) this.setSpeaking(false);
    for (let i = 0; i < out.length; i++) this.levelSum += out[i] * out[i];
    this.levelCount += out.length;
    if ((this.levelCount * 1000) / sampleRate >= LEVEL_EVERY_MS) {
      const level = Math.min(1, Math.sqrt(this.levelSum / this.levelCount) * 4);
      this.port.postMessage({ type: "level", level, playedMs: Math.round(this.ms(this.totalPlayed)), playedSamples: this.totalPlayed, queuedMs: Math.round(this.ms(this.queued)) });
      this.levelSum = 0;
      this.levelCount = 0;
    }
  }
}

registerProcessor("vg-pcm-player", PcmPlayer);
