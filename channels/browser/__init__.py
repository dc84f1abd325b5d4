"""Browsers over a WebSocket (the fallback when WebRTC is not possible): mic PCM in, agent PCM out, the cascade engine."""
