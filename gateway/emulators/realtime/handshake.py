"""The WebSocket handshake: which endpoint, which dialect, which model, and whether the key is good.

Decided before the socket is accepted, so a refusal is a real HTTP status (401, 400, 503) as the SDK would
see from the service, raised by ``websockets`` as ``InvalidStatus``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .dialect import Dialect


class Endpoint(StrEnum):
    OPENAI = "/v1/realtime"
    AZURE_GA = "/openai/v1/realtime"
    AZURE_PREVIEW = "/openai/realtime"


@dataclass(frozen=True, slots=True)
class Handshake:
    """An accepted handshake."""

    path: str
    dialect: Dialect
    model: str
    query: Mapping[str, str]
    auth: str
    subprotocol: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refused handshake: HTTP status and the JSON error body."""

    status: int
    code: str
    message: str

    def body(self) -> str:
        return json.dumps({"error": {"type": "invalid_request_error", "code": self.code, "message": self.message}})


def _credentials(
    headers: Mapping[str, str], query: Mapping[str, str], subprotocols: Iterable[str]
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        found.append(("bearer", authorization[7:].strip()))
    if headers.get("api-key"):
        found.append(("api-key-header", headers["api-key"]))
    if query.get("api-key"):
        found.append(("api-key-query", query["api-key"]))
    for proto in subprotocols:
        if proto.startswith("openai-insecure-api-key."):
            found.append(("subprotocol", proto.removeprefix("openai-insecure-api-key.")))
    return found


def negotiate(
    endpoint: Endpoint,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    subprotocols: Iterable[str],
    api_keys: frozenset[str] | None,
) -> Handshake | Refusal:
    """Check credentials and parameters like the service; pick the dialect."""
    subprotocols = list(subprotocols)
    creds = _credentials(headers, query, subprotocols)
    if not creds:
        return Refusal(401, "missing_api_key", "You didn't provide an API key.")
    accepted = [(how, key) for how, key in creds if key and (api_keys is None or key in api_keys)]
    if not accepted:
        return Refusal(401, "invalid_api_key", "Incorrect API key provided.")
    auth = accepted[0][0]
    beta = "realtime=v1" in headers.get("openai-beta", "") or "openai-beta.realtime-v1" in subprotocols
    if endpoint is Endpoint.AZURE_PREVIEW:
        if not query.get("api-version"):
            return Refusal(400, "missing_api_version", "Missing required query parameter: 'api-version'.")
        if not query.get("deployment"):
            return Refusal(400, "missing_deployment", "Missing required query parameter: 'deployment'.")
        model, dialect = query["deployment"], Dialect.BETA
    else:
        if endpoint is Endpoint.AZURE_GA and "api-version" in query:
            return Refusal(401, "invalid_api_version", "The GA endpoint does not take an 'api-version'.")
        model = query.get("model") or ("call:" + query["call_id"] if query.get("call_id") else "")
        if not model:
            return Refusal(400, "missing_model", "Missing required query parameter: 'model'.")
        dialect = Dialect.BETA if beta else Dialect.GA
    subprotocol = "realtime" if "realtime" in subprotocols else None
    return Handshake(endpoint.value, dialect, model, dict(query), auth, subprotocol)
