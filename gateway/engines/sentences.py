"""Cut streamed LLM text into sentences so each can be synthesized as soon as it is complete.

The first sentence decides how soon the caller hears anything, so a sentence is released the moment its end is
certain: after Japanese 。！？ (and their full-width/ASCII forms) at once, after English . ! ? only once the next
character shows it was not a decimal point or an abbreviation inside a word ("3.5", "e.g."). Closing quotes and
brackets stay with their sentence. A very long clause without a full stop is cut at a comma so one run-on sentence
cannot hold the voice back.
"""

from __future__ import annotations

STRONG_ENDS = frozenset("。！？!?．")  # always a sentence end ("!" and "?" never appear inside English words)
WEAK_ENDS = frozenset(".")  # a sentence end only when followed by white space
CLOSERS = frozenset("」』）)】〉》\"'”’")
COMMAS = frozenset("、，,")
NEWLINES = frozenset("\n")


class SentenceSplitter:
    """Feed text deltas with ``push``; complete sentences come out in order; ``flush`` returns the rest."""

    def __init__(self, soft_limit: int = 60) -> None:
        self.soft_limit = soft_limit  # cut at a comma once a sentence is this long
        self._buf = ""

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while True:
            cut = self._boundary()
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut], self._buf[cut:]
            sentence = sentence.strip()
            if any(ch.isalnum() for ch in sentence):  # a lone "」" left over from a split is not speech
                out.append(sentence)
        return out

    def flush(self) -> str:
        rest, self._buf = self._buf.strip(), ""
        return rest

    @property
    def pending(self) -> str:
        return self._buf

    def _boundary(self) -> int | None:
        """Index just after the first certain sentence end in the buffer, or None."""
        buf = self._buf
        n = len(buf)
        for i, ch in enumerate(buf):
            if ch in STRONG_ENDS or ch in NEWLINES:
                return self._after_closers(i + 1)
            if ch in WEAK_ENDS:
                if i + 1 >= n:
                    return None  # cannot tell yet: "3." may become "3.5"
                nxt = buf[i + 1]
                if nxt.isspace() or nxt in CLOSERS:
                    return self._after_closers(i + 1)
            if ch in COMMAS and i + 1 >= self.soft_limit:
                return i + 1
        return None

    def _after_closers(self, pos: int) -> int | None:
        """Extend past closing quotes/brackets and repeated end marks ("！？", "。」"); None if they may continue."""
        buf = self._buf
        while pos < len(buf) and (buf[pos] in CLOSERS or buf[pos] in STRONG_ENDS):
            pos += 1
        if pos >= len(buf) and buf and (buf[-1] in STRONG_ENDS or buf[-1] in CLOSERS):
            # the next delta may still bring a closer ("。" then "」"); release only on strong Japanese ends
            if buf[-1] in "。！？":
                return pos
            return None
        return pos


def split_all(text: str) -> list[str]:
    """All sentences of a finished text (for fixed texts such as a greeting)."""
    splitter = SentenceSplitter()
    sentences = splitter.push(text)
    rest = splitter.flush()
    return sentences + ([rest] if rest else [])
