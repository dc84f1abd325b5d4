"""Frame markers: who sent a 20 ms frame and which one it was, carried inside the audio itself.

The benchmark times each frame from the process that sends it to the process that receives it, through the
gateway, without trusting the gateway to report anything. So the first 8 bytes (4 samples) of every 960-byte
24 kHz frame carry ``(magic, stream id, sequence number)``. Base64 turns each 3 bytes into 4 characters, so the
marker lives in the first 12 characters and can be stamped and read without touching the rest of the frame: a
gateway that passes base64 through (24 kHz end to end) keeps it intact; one that resamples or re-encodes would
destroy it, which the benchmark reports as lost frames.
"""

from __future__ import annotations

import base64
import binascii
import struct

MAGIC = 0xB7C5
_LAYOUT = struct.Struct("<HHI")  # magic, stream id, sequence
MARKER_BYTES = _LAYOUT.size  # 8
HEAD_CHARS = 12  # base64 characters covering the first 9 bytes (the marker and one audio byte)
_HEAD_BYTES = 9


def stamp(b64: str, stream: int, seq: int) -> str:
    """``b64`` (a frame of at least 9 bytes) with its first 8 bytes replaced by the marker."""
    head = base64.b64decode(b64[:HEAD_CHARS])
    marked = _LAYOUT.pack(MAGIC, stream, seq) + head[MARKER_BYTES:_HEAD_BYTES]
    return base64.b64encode(marked).decode("ascii") + b64[HEAD_CHARS:]


def stamp_pcm(pcm: bytes, stream: int, seq: int) -> bytes:
    """The same marker stamped into raw PCM."""
    return _LAYOUT.pack(MAGIC, stream, seq) + pcm[MARKER_BYTES:]


def read(b64: str | bytes) -> tuple[int, int] | None:
    """``(stream, seq)`` from the first characters of a base64 frame, or ``None`` if it carries no marker."""
    try:
        head = base64.b64decode(b64[:HEAD_CHARS])
    except (binascii.Error, ValueError):
        return None
    if len(head) < MARKER_BYTES:
        return None
    magic, stream, seq = _LAYOUT.unpack_from(head)
    return (stream, seq) if magic == MAGIC else None
