"""Make aiortc offer a loopback ICE candidate, so a browser on the same machine can reach the emulated peer.

aioice leaves 127.0.0.1 out of its host candidates; on a test machine whose only network is loopback the peers
would then find no path. This patch is emulator tooling (never imported by the gateway) and is process-wide.
"""

from __future__ import annotations

import logging

import aioice.ice

logger = logging.getLogger(__name__)

_patched = False


def _loopback_only(use_ipv4: bool = True, use_ipv6: bool = False) -> list[str]:
    return ["127.0.0.1"]


def use_loopback_candidates() -> None:
    """Idempotent: from now on every aiortc peer in this process gathers only 127.0.0.1."""
    global _patched
    if _patched:
        return
    aioice.ice.get_host_addresses = _loopback_only  # type: ignore[assignment]
    _patched = True
    logger.info("aioice patched: host candidates are 127.0.0.1 only")
