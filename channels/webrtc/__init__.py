"""The browser's WebRTC channel: the page talks to the provider directly with an ephemeral key minted here;
tools run on the gateway and transcripts are reported back, so browser sessions join the hub like phone calls."""

from .blueprint import create_webrtc_blueprint

__all__ = ["create_webrtc_blueprint"]
