"""Twilio resource ids: a two-letter type prefix and 32 lowercase hex digits (CA call, MZ stream, SM message)."""

from __future__ import annotations

import secrets


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)
