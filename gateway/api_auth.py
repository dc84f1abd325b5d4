"""The HTTP API's bearer token (``API_TOKEN``): one check for every API route that needs it (calls, appointments)."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from quart import Response, jsonify, request

from .api import bearer
from .services import Gateway

logger = logging.getLogger(__name__)


def api_error(status: int, message: str, **more: Any) -> tuple[Response, int]:
    response = jsonify(error=message, **more)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response, status


def api_token_refusal(gw: Gateway) -> tuple[Response, int] | None:
    """The answer to a request without the right ``Authorization: Bearer <API_TOKEN>`` (``None``: it has it)."""
    token = gw.settings.api_token
    if token is None or not token.get_secret_value():
        return api_error(503, "the calls API is off: set API_TOKEN")
    given = bearer(request.headers.get("Authorization"))
    if given is None or not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        logger.warning("API request refused: missing or wrong bearer token")
        return api_error(401, "this API needs Authorization: Bearer <API_TOKEN>")
    return None
