"""The turn-taking corpus: real Japanese backchannels and interruptions (the shipped fixtures, Kokoro-82M voices),
each at several levels and offsets into the agent's reply, through a simulated phone line (300-3400 Hz band, line
hiss, G.711 μ-law companding)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.audio import AudioChunk, mulaw_decode, mulaw_encode, read_wav

from .loadgen import DATA_DIR

UTTERANCES = (  # fixture, kind, what the provider's transcription says
    ("turns_backchannel_hai", "backchannel", "はい。"),
    ("turns_backchannel_un", "backchannel", "うんうん。"),
    ("turns_backchannel_naruhodo", "backchannel", "なるほど。"),
    ("turns_interrupt_wait", "interruption", "すみません、ちょっと待ってください。"),
    ("turns_compact", "interruption", "コンパクトカーでお願いします。"),
)
LEVELS_DB = (0.0, -6.0, -12.0)
OFFSETS_MS = (1000, 2500)  # when the caller speaks, counted from the start of the agent's reply
HISS_RMS = 40.0  # line noise (about -58 dBFS)
ONSET_RMS = 200.0  # the voice onset the latency is measured from (lower than the gateway's own voice threshold)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    kind: str  # backchannel | interruption
    text: str
    level_db: float
    offset_ms: int
    audio: AudioChunk
    onset_ms: float  # first voiced 20 ms frame of the processed audio

    @property
    def label(self) -> str:
        return f"{self.name.removeprefix('turns_')} {self.level_db:+.0f} dB @{self.offset_ms} ms"


def phone_line(pcm: bytes, rate: int, level_db: float, rng: np.random.Generator) -> bytes:
    x = np.frombuffer(pcm, "<i2").astype(np.float64) * 10 ** (level_db / 20)
    x = x + rng.normal(0.0, HISS_RMS, x.size)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0  # the telephone band
    y = np.clip(np.fft.irfft(spectrum, x.size), -32768, 32767).astype("<i2").tobytes()
    return mulaw_decode(mulaw_encode(y))


def voice_onset_ms(pcm: bytes, rate: int) -> float:
    frame = rate // 50 * 2
    for i in range(0, len(pcm) - frame + 1, frame):
        chunk = np.frombuffer(pcm[i : i + frame], "<i2").astype(np.float64)
        if np.sqrt(np.mean(chunk**2)) >= ONSET_RMS:
            return i / 2 / rate * 1000
    return 0.0


def build_corpus(levels: tuple[float, ...] = LEVELS_DB, offsets: tuple[int, ...] = OFFSETS_MS, seed: int = 13) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for name, kind, text in UTTERANCES:
        source = read_wav(DATA_DIR / f"{name}_24k.wav")
        for level in levels:
            for offset in offsets:
                pcm = phone_line(source.pcm, source.rate, level, rng)
                cases.append(Case(name, kind, text, level, offset, AudioChunk(pcm, source.rate), voice_onset_ms(pcm, source.rate)))
    return cases
