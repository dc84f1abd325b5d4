"""Protections of the public endpoints: only our own page may ask, not too often, counted per real client.

An ephemeral key lets its holder talk to the provider on our account, so the endpoint refuses requests whose
``Origin`` (or, failing that, ``Referer``) is not this gateway, and limits how many keys one client address gets
per minute. Neither stops a determined script; together with short expiry they stop other sites and casual abuse.

Every limiter keys on ``client_address``: behind App Service or Container Apps ingress every TCP peer is the
proxy, so the visitor's address comes from ``X-Forwarded-For`` / ``Forwarded``, but only when the peer is one of
``FORWARDED_ALLOW_IPS`` (anyone else could write those headers to pick their own key).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from .shared.base import SharedState
from .shared.local import SlidingWindows

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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
    """At most ``per_minute`` hits per client in any ``window_s`` window (60 s by default), in this process only;
    memory stays bounded. ``SharedRateLimiter`` is the same limit across every worker (``REDIS_URL``)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, window_s: float = WINDOW_S) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._windows = SlidingWindows(clock, MAX_TRACKED_CLIENTS)

    def retry_after(self, client: str) -> float:
        """0 when the client may go on, else the seconds until it may; records nothing."""
        return self._windows.retry_after(client, self.per_minute, self.window_s)

    def hit(self, client: str) -> float:
        """Record a hit; returns 0 when allowed, else the seconds until the client may try again."""
        return self._windows.hit(client, self.per_minute, self.window_s)


class SharedRateLimiter:
    """``RateLimiter`` counted in the shared state: with ``REDIS_URL`` one client's hits on every worker add up.
    ``purpose`` namespaces the keys (``rate:<purpose>:<client>``) so two limits never share a count."""

    def __init__(self, state: SharedState, purpose: str, per_minute: int, window_s: float = WINDOW_S) -> None:
        self.state = state
        self.purpose = purpose
        self.per_minute = per_minute
        self.window_s = window_s

    def _key(self, client: str) -> str:
        return f"rate:{self.purpose}:{client}"

    async def retry_after(self, client: str) -> float:
        return await self.state.retry_after(self._key(client), self.per_minute, self.window_s)

    async def hit(self, client: str) -> float:
        return await self.state.hit(self._key(client), self.per_minute, self.window_s)


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """``FORWARDED_ALLOW_IPS``: a comma list of addresses and CIDRs whose forwarding headers are believed; ``*``
    believes any peer (then only the entry the nearest proxy appended is taken, so a client cannot choose its own)."""

    networks: tuple[IpNetwork, ...] = ()
    any_peer: bool = False

    @classmethod
    def parse(cls, spec: str) -> TrustedProxies:
        """Raises ``ValueError`` naming the entry that is neither an IP address, a CIDR nor ``*``."""
        networks: list[IpNetwork] = []
        any_peer = False
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            if entry == "*":
                any_peer = True
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a CIDR or *") from None
        return cls(tuple(networks), any_peer)

    def trusts(self, address: str) -> bool:
        if self.any_peer:
            return True
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)

    def _trusts_hop(self, address: str) -> bool:
        """A hop inside the chain is skipped only when listed explicitly (``*`` does not vouch for hops)."""
        ip = _ip(address)
        return ip is not None and any(ip in net for net in self.networks)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _strip_port(node: str) -> str:
    """``1.2.3.4:5``, ``[::1]:5``, ``"[::1]"``, ``::1`` → the address alone."""
    node = node.strip().strip('"')
    if node.startswith("["):
        return node[1 : node.find("]")] if "]" in node else node[1:]
    if node.count(":") == 1:
        return node.split(":", 1)[0]
    return node


def _forwarded_chain(headers: Mapping[str, str]) -> list[str]:
    """The client chain, nearest proxy last: ``X-Forwarded-For`` if present, else RFC 7239 ``Forwarded: for=``."""
    xff = headers.get("X-Forwarded-For")
    if xff:
        return [_strip_port(n) for n in xff.split(",") if n.strip()]
    chain: list[str] = []
    for element in (headers.get("Forwarded") or "").split(","):
        for pair in element.split(";"):
            name, _, value = pair.strip().partition("=")
            if name.lower() == "for" and value:
                chain.append(_strip_port(value))
    return chain


def client_address(peer: str | None, headers: Mapping[str, str], trusted: TrustedProxies) -> str:
    """The visitor's address as limiters should count it (see the module docstring)."""
    peer = peer or "unknown"
    if not trusted.trusts(peer):
        return peer
    chain = [node for node in _forwarded_chain(headers) if node]
    if not chain:
        return peer
    for node in reversed(chain):  # walk back from the nearest proxy past the ones we run
        if not trusted._trusts_hop(node):
            return node
    return chain[0]


class _Peer(Protocol):
    remote_addr: str | None
    headers: Mapping[str, str]


def request_client(req: _Peer, trusted: TrustedProxies) -> str:
    """``client_address`` of a Quart request or websocket."""
    return client_address(req.remote_addr, req.headers, trusted)
