"""Azure Speech service emulator (USP over WebSocket) for the real Speech SDK."""

from gateway.emulators.speech.emulator import DEFAULT_KEY, SpeechEmulator
from gateway.emulators.speech.records import RecognitionSession, Synthesis, Utterance, placeholder_text
from gateway.emulators.speech.tts import (
    OutputFormat,
    parse_output_format,
    speech_duration_ms,
    synthesize,
    synthesize_pcm,
)

__all__ = [
    "DEFAULT_KEY",
    "OutputFormat",
    "RecognitionSession",
    "SpeechEmulator",
    "Synthesis",
    "Utterance",
    "parse_output_format",
    "placeholder_text",
    "speech_duration_ms",
    "synthesize",
    "synthesize_pcm",
]
