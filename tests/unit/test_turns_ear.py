"""The turns bench's sample-by-sample comparison of a resumed reply with the control call's: it must find a skip,
a repeat and padding, each to the sample, and refuse to judge audio that is not the reply at all."""

from __future__ import annotations

import numpy as np

from gateway.bench.turns_ear import splice_errors

RATE = 24_000


def reply(seconds: float = 2.0) -> bytes:
    return np.random.default_rng(7).integers(-3000, 3000, int(RATE * seconds), dtype=np.int16).tobytes()


def test_the_same_reply_is_exact_and_a_cut_tail_is_lost() -> None:
    ref = reply()
    assert splice_errors(ref, ref, 2, RATE) == (0, 0, 0)
    assert splice_errors(ref[:20_000], ref, 2, RATE) == ((len(ref) - 20_000) // 2, 0, 0)


def test_a_resume_at_the_wrong_sample_is_counted_to_the_sample() -> None:
    ref = reply()
    assert splice_errors(ref[:20_000] + ref[20_400:], ref, 2, RATE) == (200, 0, 0)  # 200 samples skipped
    assert splice_errors(ref[:20_000] + ref[19_000:], ref, 2, RATE) == (0, 500, 0)  # 500 played twice
    twice = ref[:10_000] + ref[10_100:30_000] + ref[29_900:]  # two pauses, one each way
    assert splice_errors(twice, ref, 2, RATE) == (50, 50, 0)


def test_padding_is_foreign_and_another_reply_is_not_comparable() -> None:
    ref = reply()
    assert splice_errors(ref[:20_000] + b"\0" * 40 + ref[20_000:], ref, 2, RATE) == (0, 0, 20)
    other = np.random.default_rng(8).integers(-3000, 3000, RATE, dtype=np.int16).tobytes()
    assert splice_errors(other, ref, 2, RATE) is None


def test_mulaw_counts_one_byte_a_sample() -> None:
    ref = bytes(np.random.default_rng(9).integers(0, 256, 16_000, dtype=np.uint8))
    assert splice_errors(ref[:4000] + ref[4160:], ref, 1, 8000) == (160, 0, 0)
