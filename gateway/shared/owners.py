"""Which process answered each live call, so that every later request of the call reaches that process.

The process that answers a call opens its Realtime session at once, while the greeting plays; the carrier's later
requests (Call Automation callbacks, the media socket, Twilio's status callbacks) may reach any worker (one shared
listening socket) or any replica (a load balancer without affinity). So the answering process records itself as
the call's owner under the address of its peer listener (a private port only other gateway processes use), and a
process that receives a request for a call owned elsewhere hands it to the owner (``gateway/forwarding.py``).
When the call ends the owner record goes and an "ended" mark stays: a late request anywhere finds the call ended.

Only with ``REDIS_URL`` and a peer listener (``voice-gateway serve`` binds one); otherwise every call is handled
where its requests land, as with one process.
"""

from __future__ import annotations

from .base import SharedState

OWNER_TTL_S = 6 * 3600.0  # longer than any call; the record is removed when the call ends
ENDED_TTL_S = 3600.0  # late callbacks and replayed media URLs come within minutes; an hour is ample


class CallOwners:
    def __init__(self, state: SharedState, peer_url: str | None = None) -> None:
        self.state = state
        self.peer_url = peer_url  # where other processes reach this one; set by ``serve`` once it has bound it

    @property
    def active(self) -> bool:
        return self.state.distributed and self.peer_url is not None

    async def own(self, call_key: str, *aliases: str) -> None:
        """This process answered the call ``call_key``, also known by ``aliases`` (e.g. the carrier's id for it)."""
        if self.active:
            assert self.peer_url is not None
            for key in (call_key, *aliases):
                await self.state.put(f"owner:{key}", self.peer_url, OWNER_TTL_S)
            for alias in aliases:
                await self.state.put(f"key:{alias}", call_key, OWNER_TTL_S)

    async def call_key(self, alias: str) -> str | None:
        """The call key of the call known by ``alias``, as its owner recorded it (while the call is live)."""
        return await self.state.get(f"key:{alias}") if self.state.distributed else None

    async def elsewhere(self, key: str) -> str | None:
        """The peer URL of the other process that owns the call known by ``key``; ``None`` when it is this one's
        (or nobody's: a call no process recorded is handled where its request lands)."""
        if not self.active:
            return None
        owner = await self.state.get(f"owner:{key}")
        return owner if owner and owner != self.peer_url else None

    async def ended(self, call_key: str, *aliases: str) -> None:
        """The call is over: no process owns it any more, and every process now finds it ended."""
        if not self.state.distributed:
            return
        await self.state.put(f"ended:{call_key}", "1", ENDED_TTL_S)
        for key in (call_key, *aliases):
            await self.state.delete(f"owner:{key}")
        for alias in aliases:
            await self.state.delete(f"key:{alias}")

    async def has_ended(self, call_key: str) -> bool:
        """Whether any process ended the call (this process's own memory is checked by its caller first)."""
        return self.state.distributed and await self.state.get(f"ended:{call_key}") is not None
