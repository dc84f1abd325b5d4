"""Synthesize the turn-taking corpus once: ``python -m gateway.bench.make_turns_corpus [--out tests/data/turns]``.

Japanese backchannels (aizuchi) and real interruptions, each as a 24 kHz 16-bit mono WAV trimmed of its leading and
trailing silence, with ``index.json`` (text, kind, speaker, voice, duration_ms, rate). The output is committed: the
benchmark only reads it, nothing is synthesized or downloaded when it runs.

Speakers: Open JTalk's one shipped HTS voice (``mei_normal``, in pyopenjtalk) as itself and shifted in pitch and
rate (``mei_low``, ``mei_high``: the same voice model transposed, not different people, and the index says so),
plus the Kokoro-82M recordings the bench already ships (two real Kokoro voices, ``jf_alpha`` and ``jm_kumo``).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gateway.audio import AudioChunk, read_wav, resample, wav_bytes

from .loadgen import DATA_DIR

logger = logging.getLogger(__name__)

RATE = 24_000
TRIM_RMS = 150.0  # a 10 ms frame quieter than this at either end is silence (about -47 dBFS)
TRIM_MARGIN_MS = 20  # kept around the voiced part, so onsets and releases are not clipped
SPEECH_RMS = 3500.0  # every file at one active speech level (about -19 dBFS, as the Kokoro fixtures are): the
PEAK_MAX = 29000.0  # bench's levels are then offsets from one nominal caller, and nothing clips
ACTIVE_DB = 30.0  # 10 ms frames within this much of the loudest one make up the active speech
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "turns"

BACKCHANNELS = {  # file stem -> text, the twelve aizuchi of issue 13
    "hai": "はい。",
    "ee": "ええ。",
    "un": "うん。",
    "unun": "うんうん。",
    "hee": "へー。",
    "naruhodo": "なるほど。",
    "soudesune": "そうですね。",
    "haihai": "はいはい。",
    "eeee": "ええええ。",
    "aa": "あー。",
    "fuun": "ふーん。",
    "sousou": "そうそう。",
}
INTERRUPTIONS = {  # what a Japanese caller really says to stop an agent that talks on
    "chotto_matte": "すみません、ちょっと待ってください。",
    "chigaimasu": "いいえ、違います。",
    "toiawase": "予約じゃなくて問い合わせです。",
    "sou_janakute": "いや、そうじゃなくてですね。",
    "mou_ichido": "もう一度言ってもらえますか。",
    "tantou": "担当の方に代わってもらえますか。",
    "mou_daijoubu": "あ、それはもう大丈夫です。",
    "shitsumon": "ちょっといいですか、質問があります。",
}


@dataclass(frozen=True, slots=True)
class OpenJTalkSpeaker:
    name: str
    half_tone: float
    speed: float
    voice: str


OPENJTALK_SPEAKERS = (
    OpenJTalkSpeaker("mei", 0.0, 1.0, "Open JTalk mei_normal"),
    OpenJTalkSpeaker("mei_low", -5.0, 0.92, "Open JTalk mei_normal, 5 semitones lower, 0.92x rate (same voice model)"),
    OpenJTalkSpeaker("mei_high", 3.0, 1.12, "Open JTalk mei_normal, 3 semitones higher, 1.12x rate (same voice model)"),
)
KOKORO = (  # the Kokoro-82M fixtures the bench ships: stem in gateway/bench/data, corpus stem, text, voice
    ("turns_backchannel_hai", "hai", "はい。", "jf_alpha"),
    ("turns_backchannel_un", "unun", "うんうん。", "jm_kumo"),
    ("turns_backchannel_naruhodo", "naruhodo", "なるほど。", "jf_alpha"),
    ("turns_interrupt_wait", "chotto_matte", "すみません、ちょっと待ってください。", "jm_kumo"),
)


@dataclass(frozen=True, slots=True)
class Entry:
    file: str
    text: str
    kind: str  # backchannel | interruption
    speaker: str
    voice: str
    duration_ms: int
    rate: int


def normalize(samples: np.ndarray) -> bytes:
    """Scale to ``SPEECH_RMS`` over the active frames (peaks kept under ``PEAK_MAX``), as PCM16."""
    x = np.asarray(samples, dtype=np.float64)
    frame = RATE // 100
    n = x.size // frame
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    active = rms[rms >= rms.max() * 10 ** (-ACTIVE_DB / 20)]
    gain = SPEECH_RMS / max(float(np.sqrt(np.mean(active**2))), 1.0)
    gain = min(gain, PEAK_MAX / max(float(np.abs(x).max()), 1.0))
    return np.clip(np.round(x * gain), -32768, 32767).astype("<i2").tobytes()


def trim(pcm: bytes, rate: int) -> bytes:
    """Cut leading and trailing silence (10 ms frames under ``TRIM_RMS``), keeping a short margin."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    frame = rate // 100
    n = x.size // frame
    loud = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1)) >= TRIM_RMS
    if not loud.any():
        return pcm
    margin = TRIM_MARGIN_MS * rate // 1000
    first = max(0, int(np.argmax(loud)) * frame - margin)
    last = min(x.size, (n - int(np.argmax(loud[::-1]))) * frame + margin)
    return pcm[first * 2 : last * 2]


def synthesize(text: str, speaker: OpenJTalkSpeaker) -> np.ndarray:
    """Open JTalk's samples (floats on the int16 scale, which may overshoot it) at 24 kHz."""
    import pyopenjtalk

    samples, rate = pyopenjtalk.tts(text, speed=speaker.speed, half_tone=speaker.half_tone, run_marine=False)
    x = np.asarray(samples, dtype=np.float64)
    headroom = max(1.0, float(np.abs(x).max()) / 32000.0)  # scaled down before the integer resampler, not clipped
    pcm = np.round(x / headroom).astype("<i2").tobytes()
    return np.frombuffer(resample(pcm, int(rate), RATE), "<i2").astype(np.float64) * headroom


def kind_of(stem: str) -> str:
    return "backchannel" if stem in BACKCHANNELS else "interruption"


def write(out: Path, stem: str, speaker: str, voice: str, text: str, samples: np.ndarray) -> Entry:
    pcm = trim(normalize(samples), RATE)
    name = f"{kind_of(stem)}_{stem}_{speaker}.wav"
    (out / name).write_bytes(wav_bytes(AudioChunk(pcm, RATE)))
    return Entry(name, text, kind_of(stem), speaker, voice, round(len(pcm) / 2 / RATE * 1000), RATE)


def make_corpus(out: Path) -> list[Entry]:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for stem, text in {**BACKCHANNELS, **INTERRUPTIONS}.items():
        for speaker in OPENJTALK_SPEAKERS:
            entries.append(write(out, stem, speaker.name, speaker.voice, text, synthesize(text, speaker)))
    for source, stem, text, voice in KOKORO:
        chunk = read_wav(DATA_DIR / f"{source}_24k.wav")
        pcm = chunk.pcm if chunk.rate == RATE else resample(chunk.pcm, chunk.rate, RATE)
        samples = np.frombuffer(pcm, "<i2").astype(np.float64)
        entries.append(write(out, stem, f"kokoro_{voice}", f"Kokoro-82M {voice}", text, samples))
    index = {
        "rate": RATE,
        "format": f"16-bit mono WAV, active speech at {SPEECH_RMS:.0f} RMS (peaks under {PEAK_MAX:.0f}), leading/trailing silence trimmed",
        "files": [asdict(e) for e in entries],
    }
    (out / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.bench.make_turns_corpus", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the WAVs and index.json go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    entries = make_corpus(args.out)
    size = sum((args.out / e.file).stat().st_size for e in entries)
    logger.info("%d files (%d backchannels, %d interruptions), %.1f MB in %s", len(entries),
                sum(e.kind == "backchannel" for e in entries), sum(e.kind == "interruption" for e in entries), size / 1e6, args.out)


if __name__ == "__main__":
    main()
