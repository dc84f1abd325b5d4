"""Protections of the key-minting endpoint: only our own page may ask, and not too often.

An ephemeral key lets its holder talk to the provider on our account, so the endpoint refuses requests whose
``Origin`` (or, failing that, ``Referer``) is not this gateway, and limits how many keys one client address gets
per minute. Neither stops a determined script; together with short expiry they stop other sites and casual abuse.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

MAX_TRACKED_CLIENTS = 10_000
WINDOW_S = 60.0


def _origin(url: str | None) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of a URL, lower-cased; ``None`` for anything that is not http(s)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(headers: Mapping[str, str], host: str, public_base_url: str | None) -> bool:
    """True when the request comes from a page of this gateway.

    The page's origin must equal ``PUBLIC_BASE_URL``'s, or have the host (and port) the request was sent to; the
    scheme is not compared for the latter because a TLS-terminating proxy makes the request look like http.
    """
    source = _origin(headers.get("Origin")) or _origin(headers.get("Referer"))
    if source is None:
        return False
    public = _origin(public_base_url)
    if public is not None and source == public:
        return True
    return bool(host) and source[1] == host.lower()


class RateLimiter:
    """At most ``per_minute`` hits per client in any 60 s window; memory stays bounded."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def hit(self, client: str) -> float:
        """Record a hit; returns 0 when allowed, else the seconds until the client may try again."""
        now = self._clock()
        hits = self._hits.get(client)
        if hits is None:
            if len(self._hits) >= MAX_TRACKED_CLIENTS:
                self._prune(now)
            hits = self._hits[client] = deque()
        while hits and now - hits[0] >= WINDOW_S:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(0.0, WINDOW_S - (now - hits[0]))
        hits.append(now)
        return 0.0

    def _prune(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or now - h[-1] >= WINDOW_S]:
            del self._hits[client]
        if len(self._hits) >= MAX_TRACKED_CLIENTS:  # everyone is active: forget the oldest half
            for client in sorted(self._hits, key=lambda c: self._hits[c][-1])[: MAX_TRACKED_CLIENTS // 2]:
                del self._hits[client]
