"""A browser conversation (the WebSocket channel) resumes through any process: two ``voice-gateway serve`` replicas
sharing a real Redis and one store. The page drops its socket on replica ``a`` and comes back on replica ``b``:
``b`` relays the socket to ``a``, which still carries the conversation, so the agent goes on with everything that
was said; if ``a`` died meanwhile, ``b`` takes the conversation over with its history from the store. Either way
the console lists one conversation and the store holds one record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.emulators.chat import ChatEmulator
from gateway.emulators.speech import SpeechEmulator
from gateway.emulators.stack import OPENAI_KEY, SPEECH_KEY, offline_stack
from gateway.store import Store
from tests.conftest import speech_text
from tests.hardening.served import Served
from tests.integration.cascade_rig import PageClient, silence, utterance, wait_until
from tests.shared.served import live_anywhere, two_replicas

FIRST, SECOND = speech_text("ja_greeting_reply"), speech_text("ja_compact")


def socket_url(served: Served) -> str:
    return served.url.replace("http://", "ws://") + "/ws/browser"


async def heard_everything(page: PageClient, speech: SpeechEmulator, since: int = 0) -> None:
    """Every sentence synthesized since the page's socket opened (``since``: the syntheses before it) reached the
    page, and the page says it has played it all."""
    await wait_until(lambda: speech.syntheses and all(s.completed for s in speech.syntheses), 15)
    await wait_until(lambda: len(page.audio()) >= sum(len(s.audio) for s in speech.syntheses[since:]), 10)
    await page.send_json({"type": "drained"})


async def say(page: PageClient, name: str, speech: SpeechEmulator, since: int = 0) -> str:
    """The caller says the fixture ``name``; the agent's whole reply (its final transcript) once it was heard."""
    before = len(page.messages("transcript"))
    await page.stream(silence(300) + utterance(name) + silence(900))
    reply = await page.wait_message(
        lambda m: m["type"] == "transcript" and m["role"] == "assistant" and m["final"] and page.messages("transcript").index(m) >= before, 15
    )  # fmt: skip
    await heard_everything(page, speech, since)
    return reply["text"]


async def first_turn(served: Served, speech: SpeechEmulator) -> tuple[dict, str]:
    """A conversation on ``served``: greeted, one caller turn, the reply; then the page's socket drops."""
    async with PageClient.open(socket_url(served)) as page:
        ready = await page.hello()
        assert ready["type"] == "ready" and not ready["resumed"], ready
        await heard_everything(page, speech)  # the greeting
        reply = await say(page, "ja_greeting_reply", speech)
        page.ws.transport.abort()  # a network drop, no close handshake
    return ready, reply


async def records(database: Path) -> list[dict]:
    store = Store(f"sqlite+aiosqlite:///{database}")
    try:
        found = await store.search_conversations(ended_only=False)
        return [await store.conversation(c["id"]) for c in found]
    finally:
        await store.close()


async def record_when(database: Path, check, timeout: float = 15) -> list[dict]:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check(found := await records(database)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the store never got there: {found}")
        await asyncio.sleep(0.1)
    return found


def knew_first_turn(request, first_reply: str) -> bool:  # type: ignore[no-untyped-def]
    """The request's history has both caller turns and the first reply as the page heard it (a socket that drops
    cuts the reply to what was played: at most its last words)."""
    heard = [t for t in request.texts("assistant") if t and first_reply.startswith(t)]
    return request.texts("user") == [FIRST, SECOND] and any(len(t) > len(first_reply) // 2 for t in heard)


def reply_request(chat: ChatEmulator, said: str):  # type: ignore[no-untyped-def]
    """The chat request that answered ``said`` (the conversation's history as the agent had it then)."""
    return next(r for r in chat.completions if r.last_user_text == said)


async def finish(page: PageClient) -> None:
    await page.send_json({"type": "stop"})
    await page.wait_message(lambda m: m["type"] == "ended", 10)


@contextlib.asynccontextmanager
async def resumed_on(replica: Served, ready: dict, speech: SpeechEmulator, chat: ChatEmulator, first_reply: str) -> AsyncIterator[PageClient]:
    """A page resuming the conversation through ``replica`` and saying its second turn: the agent answers it knowing
    the first (the conversation carries on, not a new one)."""
    async with PageClient.open(socket_url(replica)) as page:
        again = await page.hello(session_id=ready["session_id"], token=ready["token"])
        assert again["type"] == "ready" and again["resumed"] and again["session_id"] == ready["session_id"], again
        await say(page, "ja_compact", speech, since=len(speech.syntheses))
        request = reply_request(chat, SECOND)
        assert knew_first_turn(request, first_reply), (request.texts("user"), request.texts("assistant"))
        yield page


async def test_a_browser_conversation_resumes_through_another_replica(tmp_path: Path, redis_url: str) -> None:
    speech, chat = SpeechEmulator(keys=(SPEECH_KEY,), script=[FIRST, SECOND]), ChatEmulator(keys=(OPENAI_KEY,))
    async with offline_stack(speech=speech, chat=chat) as stack, two_replicas(stack, tmp_path, redis_url) as replicas:
        ready, first_reply = await first_turn(replicas.a, speech)
        session_id = ready["session_id"]
        async with resumed_on(replicas.b, ready, speech, chat, first_reply) as page:
            assert await live_anywhere(replicas.a.url, 3) == await live_anywhere(replicas.b.url, 3) == {session_id}
            await finish(page)
        assert "relayed to the conversation's owner" in replicas.b.output()
        [record] = await record_when(replicas.database, lambda found: len(found) == 1 and found[0]["ended_at"])
        assert record["id"] == session_id and [t["text"] for t in record["turns"] if t["role"] == "user"] == [FIRST, SECOND]
        # ended on a, so a page coming back anywhere finds it over
        async with PageClient.open(socket_url(replicas.b)) as page:
            assert (await page.hello(session_id=session_id, token=ready["token"]))["code"] == "session_gone"


async def test_a_browser_conversation_whose_replica_died_goes_on_with_its_history(tmp_path: Path, redis_url: str) -> None:
    speech, chat = SpeechEmulator(keys=(SPEECH_KEY,), script=[FIRST, SECOND]), ChatEmulator(keys=(OPENAI_KEY,))
    async with offline_stack(speech=speech, chat=chat) as stack, two_replicas(stack, tmp_path, redis_url) as replicas:
        ready, first_reply = await first_turn(replicas.a, speech)
        session_id = ready["session_id"]
        # a's store writer has written the turn: then a dies (no drain, no goodbye)
        await record_when(replicas.database, lambda found: len(found) == 1 and len(found[0]["turns"]) >= 3)
        replicas.a.process.kill()
        await replicas.a.process.wait()
        async with resumed_on(replicas.b, ready, speech, chat, first_reply) as page:
            await finish(page)
        assert "taken over with" in replicas.b.output()
        [record] = await record_when(replicas.database, lambda found: len(found) == 1 and found[0]["ended_at"])
        assert record["id"] == session_id and [t["text"] for t in record["turns"] if t["role"] == "user"] == [FIRST, SECOND]
