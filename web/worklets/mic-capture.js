// Microphone → PCM16 mono frames at the gateway's rate (24 kHz), whatever rate the page's AudioContext runs at.
// Downsampling low-passes first (a windowed-sinc FIR below the new Nyquist frequency), then interpolates linearly:
// without the filter, everything above 12 kHz would fold back into the speech band as noise.
// Posts {pcm: ArrayBuffer (Int16, little-endian), rms: 0..1} per frame; {type: "stop"} ends the processor.

const TAPS = 31;

function lowpass(cutoff) {
  // cutoff in cycles per input sample (0..0.5); Hamming-windowed sinc, normalised to unity gain at DC
  const taps = new Float32Array(TAPS);
  const mid = (TAPS - 1) / 2;
  let sum = 0;
  for (let i = 0; i < TAPS; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const window = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (TAPS - 1));
    taps[i] = sinc * window;
    sum += taps[i];
  }
  for (let i = 0; i < TAPS; i++) taps[i] /= sum;
  return taps;
}

class MicCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate = 24000, frameMs = 20 } = options.processorOptions || {};
    this.step = sampleRate / targetRate; // input samples per output sample
    this.taps = this.step > 1 ? lowpass((0.45 * targetRate) / sampleRate) : null;
    this.history = new Float32Array(TAPS * 2); // doubled ring: the filter reads a contiguous window
    this.head = 0;
    this.prev = 0; // previous filtered input sample
    this.next = 0; // position of the next output sample, in input samples relative to the current one
    this.frameSamples = Math.round((targetRate * frameMs) / 1000);
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.energy = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data?.type === "stop") this.running = false;
    };
  }

  filter(x) {
    if (!this.taps) return x;
    this.head = (this.head + 1) % TAPS;
    this.history[this.head] = x;
    this.history[this.head + TAPS] = x;
    let y = 0;
    const start = this.head + 1; // oldest sample of the window
    for (let i = 0; i < TAPS; i++) y += this.taps[i] * this.history[start + i];
    return y;
  }

  emit(sample) {
    const s = Math.max(-1, Math.min(1, sample));
    this.frame[this.fill++] = s < 0 ? s * 0x8000 : s * 0x7fff;
    this.energy += s * s;
    if (this.fill === this.frameSamples) {
      const rms = Math.sqrt(this.energy / this.fill);
      const pcm = this.frame.buffer;
      this.port.postMessage({ pcm, rms }, [pcm]); // transferred: the old array is detached now
      this.frame = new Int16Array(this.frameSamples);
      this.fill = 0;
      this.energy = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const left = channels[0];
    const right = channels.length > 1 ? channels[1] : null;
    for (let i = 0; i < left.length; i++) {
      const y = this.filter(right ? (left[i] + right[i]) / 2 : left[i]);
      // output samples due between the previous input sample (at -1) and this one (at 0)
      while (this.next <= 0) {
        this.emit(this.prev + (y - this.prev) * (1 + this.next));
        this.next += this.step;
      }
      this.next -= 1;
      this.prev = y;
    }
    return true;
  }
}

registerProcessor("vg-mic-capture", MicCapture);
