"""Voice engines: the Realtime API (speech-to-speech) and the cascade (Azure Speech STT → chat LLM → TTS)."""
