"""The ACS SDK's HTTP transport: a pooled connection is not reused once it has been idle for ``POOL_IDLE_S``.

azure-core's aiohttp session keeps idle connections for 15 s, while many servers close theirs after 5 s (Hypercorn's
and Apache's default keep-alive, the emulated ACS's). A request sent on a connection just as its far end closes
it fails with "Server disconnected" (a 30-minute soak lost one call of 359 that way). Dropping connections idle
longer than the shortest common keep-alive means the SDK opens a fresh one instead; ``unsent_retried``
(``control.py``) still covers what this cannot, such as a far end restarting.
"""

from __future__ import annotations

from typing import Any

import aiohttp

POOL_IDLE_S = 4.0  # under the 5 s keep-alive common to servers


def pooled_transport(idle_s: float | None = None) -> Any:
    """A transport like azure-core's own (no cookies, no decompression by aiohttp, proxies from the environment)
    whose pool forgets connections idle for more than ``idle_s`` (default ``POOL_IDLE_S``). Build it in the
    serving event loop; the client that gets it closes it. (azure-core's transport module is imported here, not
    with the app: the first-call warm-up measures and pays that import.)"""
    from azure.core.pipeline.transport import AioHttpTransport

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(keepalive_timeout=POOL_IDLE_S if idle_s is None else idle_s),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=False,
        trust_env=True,
    )
    return AioHttpTransport(session=session, session_owner=True)
