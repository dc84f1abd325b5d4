"""The emulators' G.711 against values from the ITU-T G.711 tables."""

import numpy as np

from gateway.emulators.g711 import MULAW_SILENCE, alaw_encode, mulaw_decode, mulaw_encode


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def test_mulaw_reference_codes() -> None:
    assert mulaw_encode(pcm(0)) == bytes([MULAW_SILENCE])
    assert mulaw_encode(pcm(32767, -32768)) == bytes([0x80, 0x00])
    assert mulaw_decode(bytes([0xFF, 0x7F, 0x80, 0x00])) == pcm(0, 0, 32124, -32124)


def test_mulaw_round_trip_error_is_within_a_quantisation_step() -> None:
    x = np.arange(-32768, 32768, 7, dtype=np.int32)
    back = np.frombuffer(mulaw_decode(mulaw_encode(x.astype("<i2").tobytes())), dtype="<i2").astype(np.int32)
    err = np.abs(back - np.clip(x, -32124, 32124))
    assert np.all(err <= np.maximum(12, np.abs(x) // 16))  # logarithmic steps: within one step of the segment


def test_alaw_reference_codes() -> None:
    assert alaw_encode(pcm(0, -1)) == bytes([0xD5, 0x55])
