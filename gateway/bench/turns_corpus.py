"""The turn-taking corpus as benchmark cases: the shipped backchannels and interruptions (``tests/data/turns``, made by
``make_turns_corpus``), each at caller levels and offsets into the agent's reply, through a simulated phone line
(300-3400 Hz band, line hiss, G.711 μ-law companding)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.audio import AudioChunk, mulaw_decode, mulaw_encode, read_wav

CORPUS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "turns"
LEVELS_DB = (0.0, -6.0, -12.0)
OFFSETS_MS = (1000, 2500)  # when the caller speaks, counted from the start of the agent's reply
HISS_RMS = 40.0  # line noise (about -58 dBFS)
ONSET_RMS = 200.0  # the voice onset the latency is measured from (lower than the gateway's own voice threshold)
QUICK_FILES = ("backchannel_hai_mei.wav", "interruption_chotto_matte_mei.wav")  # --quick: one of each kind


@dataclass(frozen=True, slots=True)
class Utterance:
    """One corpus file, as ``index.json`` describes it."""

    file: str
    text: str
    kind: str  # backchannel | interruption
    speaker: str

    @property
    def name(self) -> str:
        return self.file.removesuffix(".wav")


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
        return f"{self.name} {self.level_db:+.0f} dB @{self.offset_ms} ms"


def load_index(corpus: Path = CORPUS_DIR) -> list[Utterance]:
    index = json.loads((corpus / "index.json").read_text(encoding="utf-8"))
    return [Utterance(f["file"], f["text"], f["kind"], f["speaker"]) for f in index["files"]]


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


def build_corpus(
    levels: tuple[float, ...] = LEVELS_DB,
    offsets: tuple[int, ...] = OFFSETS_MS,
    per_file: int | None = None,
    quick: bool = False,
    corpus: Path = CORPUS_DIR,
    seed: int = 13,
) -> list[Case]:
    """Every file at ``per_file`` of the level x offset combinations (all by default), the combinations dealt out
    in turn across the files so that every level and offset is played even when each file plays only once."""
    rng = np.random.default_rng(seed)
    combos = list(itertools.product(levels, offsets))
    take = len(combos) if per_file is None else max(1, min(per_file, len(combos)))
    utterances = [u for u in load_index(corpus) if not quick or u.file in QUICK_FILES]
    cases = []
    for n, utterance in enumerate(utterances):
        source = read_wav(corpus / utterance.file)
        for k in range(take):
            level, offset = combos[(n * take + k) % len(combos)]
            pcm = phone_line(source.pcm, source.rate, level, rng)
            audio = AudioChunk(pcm, source.rate)
            cases.append(Case(utterance.name, utterance.kind, utterance.text, level, offset, audio, voice_onset_ms(pcm, source.rate)))
    return cases
