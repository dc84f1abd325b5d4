"""Ephemeral keys: issued by the mint endpoints, checked by the SDP endpoint, recorded for assertions.

A key carries the session its minter configured; the WebRTC call made with it starts from that session, which is
how tests prove the gateway set instructions and tools server-side rather than in the browser.
"""

from __future__ import annotations

import copy
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway.emulators.realtime.dialect import Dialect


@dataclass(slots=True)
class MintRecord:
    """One minted key. ``endpoint`` is ``openai``, ``azure-ga`` or ``azure-preview``; ``body`` is the request as sent."""

    value: str
    expires_at: int
    endpoint: str
    dialect: Dialect
    session: dict[str, Any]
    body: dict[str, Any]
    auth: str
    minted_at: float = field(default_factory=time.time)
    uses: int = 0

    @property
    def instructions(self) -> str:
        return str(self.session.get("instructions") or "")

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name") or t.get("server_label")) for t in self.session.get("tools") or []]

    def expired(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) >= self.expires_at


class KeyBook:
    """Keys issued by one emulator; never shared between instances."""

    def __init__(self) -> None:
        self.mints: list[MintRecord] = []
        self._by_value: dict[str, MintRecord] = {}

    def issue(
        self, *, ttl_s: int, endpoint: str, dialect: Dialect, session: dict[str, Any], body: dict[str, Any], auth: str
    ) -> MintRecord:
        record = MintRecord(
            value=f"ek_{secrets.token_hex(16)}",
            expires_at=int(time.time()) + ttl_s,
            endpoint=endpoint,
            dialect=dialect,
            session=copy.deepcopy(session),
            body=copy.deepcopy(body),
            auth=auth,
        )
        self.mints.append(record)
        self._by_value[record.value] = record
        return record

    def check(self, value: str | None) -> MintRecord | None:
        """The record of an issued, unexpired key, or ``None``."""
        record = self._by_value.get(value or "")
        if record is None or record.expired():
            return None
        record.uses += 1
        return record

    def expire_all(self) -> None:
        """Make every issued key stale (to test the browser's handling of an expired key)."""
        for record in self.mints:
            record.expires_at = 0
