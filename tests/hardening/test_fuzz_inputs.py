"""Bad input, property-based: whatever arrives on the HTTP routes, the media socket or as tool arguments, the gateway
answers with a clear 4xx (or "upstream refused" 502) or a WebSocket close code, never a 500 or a crash, and what
else is in flight goes on undisturbed.

HTTP routes are driven through Quart's test client (fast) on an app wired to live emulators; the media socket of a
live emulated phone call gets random messages interleaved with the caller's real audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from channels.telephony.registry import new_call_key
from gateway.app import create_app
from gateway.config import Settings
from gateway.emulators.acs.events import incoming_call_event
from gateway.emulators.realtime import Say, Script
from gateway.emulators.serving import serve_app
from gateway.emulators.stack import OfflineStack, offline_stack
from gateway.security import TokenSigner
from gateway.services import Gateway
from gateway.tools import ToolContext
from tests.conftest import make_settings, speech
from tests.hardening.conftest import wait_until
from tests.hardening.served import GATEWAY_SECRET as SERVED_SECRET
from tests.hardening.served import serve_gateway
from tests.integration.phone_rig import phone_rig, running_call_tasks

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
ACCEPTABLE = {200, 400, 401, 404, 413, 502, 503}
HTTP_FUZZ = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies ------------------------------------------------------------------------------------------------------
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
EVENT_KEYS = ["eventType", "type", "data", "id", "subject", "topic", "eventTime", "dataVersion"]
DATA_KEYS = [
    "validationCode",
    "incomingCallContext",
    "from",
    "to",
    "correlationId",
    "serverCallId",
    "callConnectionId",
    "operationContext",
    "resultInformation",
    "mediaStreamingUpdate",
    "rawId",
    "phoneNumber",
    "value",
    "code",
]
EVENT_TYPES = [
    "Microsoft.EventGrid.SubscriptionValidationEvent",
    "Microsoft.Communication.IncomingCall",
    "Microsoft.Communication.CallConnected",
    "Microsoft.Communication.CallDisconnected",
    "Microsoft.Communication.PlayCompleted",
    "Microsoft.Communication.PlayFailed",
    "Microsoft.Communication.MediaStreamingStarted",
    "Microsoft.Communication.MediaStreamingFailed",
]
known_keys = st.sampled_from(EVENT_KEYS + DATA_KEYS)
event_values = st.sampled_from(EVENT_TYPES) | json_values
data_objects = st.dictionaries(
    st.sampled_from(DATA_KEYS) | st.text(max_size=8), json_values | st.text(max_size=60), max_size=6
)
event_like = st.dictionaries(known_keys | st.text(max_size=8), event_values | data_objects, max_size=6)
shaped_event = st.builds(
    lambda kind, data, extra: {**extra, "eventType": kind, "type": kind, "data": data},
    st.sampled_from(EVENT_TYPES),
    data_objects,
    st.dictionaries(known_keys, json_values, max_size=3),
)


@st.composite
def incoming_calls(draw: st.DrawFn) -> dict[str, Any]:
    """A real IncomingCall shape with one field broken or randomised."""
    event = incoming_call_event(
        caller=draw(st.text(max_size=20)),
        callee="+815012345678",
        incoming_call_context=draw(st.text(min_size=1, max_size=200)),
        server_call_id="x",
        correlation_id=draw(st.text(max_size=10)),
    )
    field = draw(st.sampled_from(["", "from", "to", "correlationId", "customContext", "incomingCallContext"]))
    if field:
        event["data"][field] = draw(json_values)
    return event


bodies = st.one_of(
    json_values.map(lambda v: ("json", v)),
    st.lists(event_like | shaped_event | incoming_calls(), max_size=4).map(lambda v: ("json", v)),
    (shaped_event | incoming_calls()).map(lambda v: ("json", v)),
    st.binary(max_size=400).map(lambda v: ("bytes", v)),
    st.text(max_size=400).map(lambda v: ("bytes", v.encode("utf-8", "surrogatepass"))),
    st.integers(min_value=MAX_BODY - 64, max_value=MAX_BODY * 3).map(lambda n: ("bytes", b'["' + b"x" * n + b'"]')),
    st.integers(min_value=900, max_value=MAX_BODY // 2 - 8).map(
        lambda n: ("bytes", b"[" * n + b"]" * n)
    ),  # nested too deep
    st.integers(min_value=900, max_value=MAX_BODY // 6).map(lambda n: ("bytes", b'{"a":' * n + b"1" + b"}" * n)),
)


# --- the app under test ------------------------------------------------------------------------------------------------
@dataclass
class Served:
    client: Any
    gw: Gateway
    stack: OfflineStack
    app: Any


@pytest.fixture
async def served(tmp_path) -> AsyncIterator[Served]:
    """One app per test (reused by every example), with ACS, Realtime and the rest played by live emulators."""
    async with offline_stack() as stack:
        values = stack.settings("http://127.0.0.1:9", max_body_bytes=MAX_BODY, mint_rate_per_minute=100_000)
        app = create_app(make_settings(tmp_path, **values))
        async with app.test_app() as test_app:
            yield Served(test_app.test_client(), app.extensions["gateway"], stack, app)


async def post(client: Any, path: str, body: tuple[str, Any], **headers: str) -> Any:
    kind, payload = body
    if kind == "json":
        data = json.dumps(payload, allow_nan=True).encode()
    else:
        data = payload
    return await client.post(path, data=data, headers={"Content-Type": "application/json", **headers})


async def check_clear_answer(response: Any, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, await response.get_data(as_text=True))
    if response.status_code >= 400:
        detail = await response.get_json()
        assert isinstance(detail, dict) and detail.get("error"), detail


async def still_serving(served: Served) -> None:
    """Nothing else was disturbed: the app is ready and no background task died with an exception."""
    ready = await served.client.get("/readyz")
    assert ready.status_code == 200
    failed = [t for t in served.gw.tasks if t.done() and not t.cancelled() and t.exception() is not None]
    assert failed == []


# --- HTTP: Event Grid and callbacks -----------------------------------------------------------------------------------
@HTTP_FUZZ
@given(body=bodies)
async def test_event_grid_bodies_never_get_a_500(served: Served, body: tuple[str, Any]) -> None:
    response = await post(served.client, "/api/incoming-call", body, **{"aeg-event-type": "Notification"})
    event(f"status {response.status_code}")
    await check_clear_answer(response, {200, 400, 413, 502, 503})
    if body[0] == "bytes" and len(body[1]) > MAX_BODY:
        assert response.status_code == 413
    phone = served.app.blueprints["acs"].phone_calls
    assert phone.calls == {}, "a call that was not answered must not linger"
    await still_serving(served)


@HTTP_FUZZ
@given(
    body=bodies,
    name=st.sampled_from(
        ["CallConnected", "CallDisconnected", "PlayCompleted", "PlayFailed", "MediaStreamingStopped", "Other"]
    ),
)
async def test_callback_bodies_never_get_a_500(served: Served, body: tuple[str, Any], name: str) -> None:
    key = "f" * 32
    token = served.gw.signer.sign("acs", key)
    jwt = served.stack.acs.issuer.callback_token()
    response = await post(
        served.client, f"/api/callbacks/{key}?token={token}&agent=support-desk", body, Authorization=f"Bearer {jwt}"
    )
    event(f"status {response.status_code}")
    await check_clear_answer(response, {200, 400, 413})
    # the same body without the call's token is refused before it is even parsed
    forged = await post(served.client, f"/api/callbacks/{key}?token=x", body, Authorization=f"Bearer {jwt}")
    assert forged.status_code in (401, 413)
    assert len(served.gw.hub.live_sessions()) <= 1
    ready = await served.client.get("/readyz")
    assert ready.status_code == 200


# --- oversized bodies ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["incoming-call", "callback", "tool"])
async def test_oversized_bodies_get_413(served: Served, route: str) -> None:
    key = "a" * 32
    path, headers = {
        "incoming-call": ("/api/incoming-call", {}),
        "callback": (
            f"/api/callbacks/{key}?token={served.gw.signer.sign('acs', key)}",
            {"Authorization": f"Bearer {served.stack.acs.issuer.callback_token()}"},
        ),
        "tool": (
            "/api/tools/get_current_time",
            {"Authorization": f"Bearer {served.gw.tokens.mint('web-x', served.gw.agent)}"},
        ),
    }[route]
    big = b'{"session_id":"web-x","x":"' + b"y" * (MAX_BODY + 10) + b'"}'
    response = await served.client.post(path, data=big, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 413
    assert (await response.get_json())["error"]
    await still_serving(served)


async def post_chunked(url: str, path: str, total: int) -> int:
    """POST a chunked body (no Content-Length) of ``total`` bytes over a raw socket; returns the response status."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sent = 0
        while sent < total:
            chunk = b"z" * min(4096, total - sent)
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += len(chunk)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def test_oversized_chunked_bodies_are_refused_while_reading(tmp_path) -> None:
    """Without a Content-Length (chunked), the limit must hold while reading, not only by the header."""
    app = create_app(make_settings(tmp_path, max_body_bytes=MAX_BODY))
    async with serve_app(app) as url:
        for path in ("/api/incoming-call", "/api/tools/get_current_time"):
            assert await post_chunked(url, path, MAX_BODY + 8192) == 413, path
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as ready:
            assert ready.status == 200


# --- the WebRTC channel's HTTP routes -------------------------------------------------------------------------------
webrtc_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["transcript", "barge_in", "latency", "error", "health", "call", "ping", "end", "other"]
        )
        | json_values
    },
    optional={
        k: json_values | st.text(max_size=40)
        for k in ("role", "text", "final", "played_ms", "ms", "message", "fatal", "status", "call_id", "outcome")
    },
)
webrtc_bodies = st.one_of(
    bodies,
    st.builds(
        lambda events, token, extra: (
            "json",
            {"session_id": "webrtc-fuzz", "events": events, **({"token": token} if token else {}), **extra},
        ),
        st.lists(webrtc_events, max_size=4) | json_values,
        st.sampled_from([None, "bad", "VALID"]),
        st.dictionaries(st.text(max_size=6), json_values, max_size=2),
    ),
)


@HTTP_FUZZ
@given(body=webrtc_bodies, route=st.sampled_from(["session", "events"]))
async def test_webrtc_routes_never_get_a_500(served: Served, body: tuple[str, Any], route: str) -> None:
    if "webrtc" not in served.app.blueprints:
        pytest.skip("the WebRTC channel is not mounted")
    if body[0] == "json" and isinstance(body[1], dict) and body[1].get("token") == "VALID":
        body = ("json", {**body[1], "token": served.gw.tokens.mint("webrtc-fuzz", served.gw.agent)})
    origin = {"Origin": "http://localhost"}  # the test client's host: a same-origin page
    response = await post(served.client, f"/api/realtime/{route}", body, **origin)
    event(f"{route} {response.status_code}")
    await check_clear_answer(response, {200, 400, 401, 403, 410, 413, 429, 502, 503})
    assert (await served.client.get("/readyz")).status_code == 200


# --- tool arguments ------------------------------------------------------------------------------------------------
plausible = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(timespec="minutes")),
    st.from_regex(r"0\d0-?\d{4}-?\d{4}", fullmatch=True),
    st.from_regex(r"\d{1,8}", fullmatch=True),
    st.sampled_from(["tokyo-station", "shinagawa", "compact", "suv", "山田 太郎", "482913", ""]),
)


@st.composite
def tool_arguments(draw: st.DrawFn, properties: list[str]) -> Any:
    shape = draw(st.sampled_from(["object", "object", "object", "json-text", "other"]))
    keys = st.sampled_from(properties) | st.text(max_size=10) if properties else st.text(max_size=10)
    if shape == "other":
        return draw(json_values | st.text(max_size=50))
    args = draw(st.dictionaries(keys, plausible | json_values, max_size=5))
    return json.dumps(args, allow_nan=True) if shape == "json-text" else args


# too_many_attempts: handoff guessing locked out; unknown_slot / slot_taken: a booking of a slot that is not, or no longer, free
ERROR_CODES = {"bad_arguments", "failed", "timeout", "unknown_tool", "too_many_attempts", "unknown_slot", "slot_taken"}


def check_outcome(name: str, ok: bool, output: dict[str, Any]) -> None:
    json.dumps(output)  # what goes back to the model is always serialisable
    if ok:
        assert output["ok"] is True
        return
    assert output["ok"] is False and output["error"]["code"] in ERROR_CODES, output
    assert isinstance(output["error"]["message"], str) and output["error"]["message"]
    # "failed" with the generic text means the tool itself crashed on its input: a tool bug, not a refusal
    assert "system failed (" not in output["error"]["message"], f"{name} crashed on its arguments: {output}"


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_tool_arguments_through_the_registry(gateway: Gateway, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from([*gateway.registry.names(), "no_such_tool"]), label="tool")
    tool = gateway.registry.get(name)
    properties = list(tool.parameters.get("properties", {})) if tool else []
    arguments = data.draw(tool_arguments(properties), label="arguments")
    ctx = ToolContext(session_id="fuzz-session", store=gateway.store, channel="phone", caller="+819012345678")
    outcome = await gateway.registry.call(name, arguments, ctx)
    event("ok" if outcome.ok else outcome.output["error"]["code"])
    check_outcome(name, outcome.ok, outcome.output)
    if name == "no_such_tool":
        assert outcome.output["error"]["code"] == "unknown_tool"


@HTTP_FUZZ
@given(data=st.data())
async def test_tool_arguments_through_the_http_endpoint(served: Served, data: st.DataObject) -> None:
    registry = served.gw.registry
    name = data.draw(st.sampled_from([*registry.names(), "no_such_tool"]), label="tool")
    tool = registry.get(name)
    arguments = data.draw(
        tool_arguments(list(tool.parameters.get("properties", {})) if tool else []), label="arguments"
    )
    session_id = f"web-fuzz-{uuid.uuid4().hex[:8]}"  # one session per example: each has its own call budget
    profile = served.gw.profile()
    headers = {"Authorization": f"Bearer {served.gw.tokens.mint(session_id, profile.name)}"}
    response = await served.client.post(
        f"/api/tools/{name}", json={"session_id": session_id, "arguments": arguments}, headers=headers
    )
    if not isinstance(arguments, str | dict):
        await check_clear_answer(response, {400})
        return
    if name not in profile.tools:  # another agent's tool, or none at all: refused before it runs
        assert response.status_code == 403 and (await response.get_json())["code"] == "not_allowed"
        return
    assert response.status_code == 200, await response.get_data(as_text=True)
    payload = await response.get_json()
    check_outcome(name, payload["ok"], payload["output"])
    # without the session's token the same call is refused
    refused = await served.client.post(f"/api/tools/{name}", json={"session_id": session_id, "arguments": arguments})
    assert refused.status_code == 401


# --- the media socket of a live call --------------------------------------------------------------------------------
media_kinds = (
    st.sampled_from(["AudioData", "audioData", "AudioMetadata", "audiometadata", "DtmfData", "StopAudio", ""])
    | json_values
)
media_like = st.builds(
    lambda kind, body, extra: {"kind": kind, **body, **extra},
    media_kinds,
    st.fixed_dictionaries(
        {},
        optional={
            "audioData": json_values
            | st.fixed_dictionaries(
                {},
                optional={
                    "data": st.text(max_size=80)
                    | json_values
                    | st.binary(max_size=60).map(lambda b: __import__("base64").b64encode(b).decode()),
                    "silent": json_values,
                },
            ),
            "audioMetadata": json_values
            | st.fixed_dictionaries(
                {},
                optional={"sampleRate": json_values | st.integers(), "encoding": json_values, "channels": json_values},
            ),
            "dtmfData": json_values | st.fixed_dictionaries({}, optional={"data": json_values}),
        },
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=2),
)
media_messages = st.one_of(
    st.just(b""),  # an empty binary message reads as None
    st.integers(min_value=900, max_value=5000).map(lambda n: "[" * n + "]" * n),  # nested too deep for json
    st.text(max_size=200),
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    media_like.map(lambda v: json.dumps(v, allow_nan=True)),
)
FUZZ_BATCHES = 30
BATCH = 3  # at most 90 malformed messages in all: under the gateway's limit of 100
FRAME_BYTES = 960  # 20 ms at 24 kHz


@dataclass
class LiveCall:
    rig: Any
    call: Any
    session: Any


@pytest.fixture
async def live_call(tmp_path) -> AsyncIterator[LiveCall]:
    script = Script(steps=[Say(text="はい、どうぞ。")], when_exhausted=Say(text="はい、伺っております。"))
    async with phone_rig(tmp_path, script) as rig:
        call = await rig.acs.incoming_call(rig.incoming_url, wav=speech("ja_greeting_reply"))  # then silence
        session = await rig.realtime.wait_for_session(1, timeout=15)
        await wait_until(
            lambda: call.media is not None and call.media.connected and call.timeline.received, 15, "a live call"
        )
        yield LiveCall(rig, call, session)
        if call.media is not None and call.media.connected:
            await call.hang_up()


def media_socket(live: LiveCall) -> Any:
    """The emulated ACS media socket of the call: fuzz goes in between the caller's real 20 ms audio frames."""
    ws = live.call.media._ws
    assert ws is not None
    return ws


@settings(
    max_examples=FUZZ_BATCHES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(media_messages, min_size=1, max_size=BATCH))
async def test_random_media_messages_do_not_end_the_call(live_call: LiveCall, batch: list[str | bytes]) -> None:
    ws = media_socket(live_call)
    for message in batch:
        await ws.send(message)
    # the caller's real frames sent after the batch reach the model: the gateway read past the batch and lives on
    before = live_call.session.audio_in.nbytes
    try:
        await live_call.session.wait_for(lambda s: s.audio_in.nbytes >= before + 3 * FRAME_BYTES, timeout=5)
    except TimeoutError:
        raise AssertionError(f"caller audio stopped reaching the model after {batch!r}") from None
    assert live_call.call.media.connected, (
        f"media socket closed (code {live_call.call.timeline.close_code}) after {batch!r}"
    )
    assert live_call.rig.gw.hub.live_sessions()


async def test_after_the_fuzz_the_call_still_works_and_a_flood_is_cut_off(live_call: LiveCall) -> None:
    """Garbage between real frames is survived (the caller is still heard and answered); a socket that sends
    nothing but garbage is closed with 1008 (policy violation), and its session ended cleanly."""
    ws = media_socket(live_call)
    rig, call, session = live_call.rig, live_call.call, live_call.session
    garbage = [
        "not json",
        b"\x00\xff" * 10,
        '{"kind": 5}',
        '{"kind":"AudioData","audioData":{"data":"@@@"}}',
        '{"kind":"AudioMetadata","audioMetadata":{"sampleRate":"fast"}}',
        '{"kind":"AudioMetadata","audioMetadata":{"sampleRate":1e999}}',
        '{"kind":"AudioData","audioData":{"data":"AAE="}}',
        '{"kind":"AudioMetadata","audioMetadata":{"sampleRate":-5}}',
        b"",
        "[" * 5000 + "]" * 5000,
    ]
    await session.wait_for(lambda s: s.responses and s.responses[0].status == "completed", timeout=15)
    heard = lambda: call.timeline.playback_position_s() * 1000 >= len(call.timeline.received) * 20 - 40  # noqa: E731
    await wait_until(heard, 10, "the first reply played out")
    for message in garbage * 4:  # 40 malformed messages, well under the limit
        await ws.send(message)
    responses_before = len(session.responses)
    call.say(speech("ja_compact"))
    await session.wait_for(
        lambda s: len(s.responses) > responses_before and s.responses[-1].status == "completed", timeout=20
    )
    await wait_until(
        lambda: call.timeline.first_received_after(session.responses[-1].created_at), 10, "the answer at the caller"
    )
    assert rig.gw.hub.live_sessions() and call.media.connected

    for _ in range(2000):  # bounded: the gateway must close long before this runs out
        try:
            await ws.send("garbage")
        except ConnectionClosed:
            break
    await wait_until(lambda: call.media.closed.is_set(), 10, "the media socket closed")
    assert call.timeline.close_code == 1008
    await wait_until(lambda: not rig.gw.hub.live_sessions(), 10, "the session ended")
    await session.wait_for(lambda s: s.closed, timeout=10)


async def test_an_oversized_media_message_closes_with_1009(live_call: LiveCall) -> None:
    rig, call = live_call.rig, live_call.call
    limit = rig.gw.settings.max_ws_message_bytes
    huge = json.dumps({"kind": "AudioData", "audioData": {"data": "A" * (limit + 4), "silent": False}})
    await media_socket(live_call).send(huge)
    await wait_until(lambda: call.media.closed.is_set(), 10, "the media socket closed")
    assert call.timeline.close_code == 1009
    await wait_until(lambda: not rig.gw.hub.live_sessions(), 10, "the session ended")
    await live_call.session.wait_for(lambda s: s.closed, timeout=10)
    await wait_until(lambda: not running_call_tasks(rig.gw), 10, "no call task left")


# --- the browser WebSocket (/ws/browser) ------------------------------------------------------------------------------
browser_controls = st.builds(
    lambda kind, extra: {"type": kind, **extra},
    st.sampled_from(["hello", "stop", "barge_in", "played", "ping", "other"]) | json_values,
    st.dictionaries(
        st.sampled_from(["ms", "agent", "session_id", "token", "lang"]) | st.text(max_size=6),
        json_values | st.floats(),
        max_size=3,
    ),
).filter(lambda m: m.get("type") != "stop")
browser_messages = st.one_of(
    st.just(b""),
    st.binary(max_size=2000),
    st.integers(min_value=1, max_value=3).map(lambda n: b"\x01\x00" * (24_000 * n)),  # up to 3 s of audio in one go
    st.text(max_size=300),
    st.integers(min_value=900, max_value=4096).map(lambda n: "[" * n + "]" * n),
    browser_controls.map(lambda v: json.dumps(v, allow_nan=True)),
    json_values.map(lambda v: json.dumps(v, allow_nan=True)),
)
CLEAR_CLOSES = {1000, 1008, 1009}


@dataclass
class BrowserGateway:
    url: str
    gw: Gateway
    sessions: Any


@pytest.fixture
async def browser_gateway(tmp_path) -> AsyncIterator[BrowserGateway]:
    try:
        from channels.browser.blueprint import create_browser_blueprint
    except ImportError:
        pytest.skip("channels/browser is not there yet")
    async with offline_stack() as stack:
        app = create_app(make_settings(tmp_path, **stack.settings("http://127.0.0.1:9", mint_rate_per_minute=100_000)))
        if "browser" not in app.blueprints:  # not mounted by the app factory yet: mount it here, as it will be
            app.register_blueprint(create_browser_blueprint(app.extensions["gateway"], grace_s=0.5))
        async with serve_app(app) as url:
            yield BrowserGateway(
                url.replace("http://", "ws://") + "/ws/browser",
                app.extensions["gateway"],
                app.blueprints["browser"].browser_sessions,
            )


async def next_reply(ws: Any, timeout: float = 10.0) -> dict[str, Any] | None:
    """The next JSON message from the gateway (audio skipped), or None once it closed the socket."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            message = await asyncio.wait_for(ws.recv(), max(0.01, deadline - loop.time()))
        except ConnectionClosed:
            return None
        if isinstance(message, str):
            reply = json.loads(message)
            assert isinstance(reply, dict) and isinstance(reply.get("type"), str), reply
            return reply


def is_gateway_log(record: logging.LogRecord) -> bool:
    """The gateway's own records (and its web framework's), not the emulators' nor other tests' leftovers."""
    return record.name.startswith(("gateway", "channels", "quart", "hypercorn")) and not record.name.startswith(
        "gateway.emulators"
    )


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hello_first=st.booleans(), messages=st.lists(browser_messages, min_size=1, max_size=4))
@example(hello_first=False, messages=[b""])  # an empty binary message reads as None
@example(hello_first=True, messages=[b""])
@example(hello_first=True, messages=["[" * 2000 + "]" * 2000])  # too deep for json
@example(hello_first=True, messages=['{"type":"played","ms":Infinity}'])
@example(hello_first=True, messages=['{"type":"played","ms":NaN}'])
async def test_browser_socket_messages_get_errors_or_close_codes(
    browser_gateway: BrowserGateway, caplog: pytest.LogCaptureFixture, hello_first: bool, messages: list[str | bytes]
) -> None:
    from websockets.asyncio.client import connect

    caplog.clear()
    async with connect(browser_gateway.url, open_timeout=10, close_timeout=2, max_size=None, proxy=None) as ws:
        if hello_first:
            await ws.send(json.dumps({"type": "hello"}))
            ready = await next_reply(ws)
            assert ready is not None and ready["type"] == "ready", ready
        for message in messages:
            try:
                await ws.send(message)
            except ConnectionClosed:
                break
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "ping"}))  # a round trip: everything before it has been handled
        for _ in range(50):
            reply = await next_reply(ws)
            if reply is None or reply["type"] in ("pong", "ready"):
                break
            assert reply["type"] in ("error", "transcript", "clear", "tool_call", "tool_result", "ended"), reply
            if reply["type"] == "error":
                assert reply["code"] and reply["message"]
        else:
            raise AssertionError("no pong and no close after 50 replies")
        if ws.close_code is not None:
            assert ws.close_code in CLEAR_CLOSES, (ws.close_code, ws.close_reason)
        else:
            await ws.send(json.dumps({"type": "stop"}))
    crashes = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info and is_gateway_log(r)]
    assert crashes == [], [r.getMessage() for r in crashes]


# --- the limits of the served process ---------------------------------------------------------------------------------
async def test_the_served_gateway_bounds_websocket_messages_and_headers(tmp_path) -> None:
    """``voice-gateway serve`` configures Hypercorn to cut off oversized WebSocket messages and request heads before
    the app sees them (the app's own checks are the second line)."""
    from websockets.asyncio.client import connect

    async with offline_stack() as stack, serve_gateway(stack, tmp_path, drain_timeout_s=1) as served:
        key = new_call_key()
        token = TokenSigner(SERVED_SECRET.encode()).sign("acs", key)
        url = served.url.replace("http://", "ws://") + f"/ws/acs/{key}?token={token}"
        headers = {"Authorization": f"Bearer {stack.acs.issuer.media_token()}"}
        async with connect(
            url, additional_headers=headers, max_size=None, proxy=None, open_timeout=10, close_timeout=2
        ) as ws:
            await ws.send("x" * (Settings.model_fields["max_ws_message_bytes"].default + 1))
            for _ in range(2000):  # agent audio may come first; the close must follow
                try:
                    await asyncio.wait_for(ws.recv(), 10)
                except ConnectionClosed:
                    break
            assert ws.close_code == 1009

        host, port = served.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
        finally:
            writer.close()
        logger.info("an oversized request head got %r", status_line)
        assert status_line == b"" or int(status_line.split()[1]) in (400, 413, 431), status_line
        async with aiohttp.ClientSession() as http, http.get(served.url + "/readyz") as ready:
            assert ready.status == 200
