"""The turn-taking policy core: backchannels by content, the overlap judge's verdicts, the answer held until the
caller's quiet, and paced playout that pauses and resumes from the exact sample the caller last heard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from gateway.audio import b64decode, b64encode
from gateway.events import AudioOut, EngineEvent, ResponseDone, ResponseStarted, UserSpeechStarted, UserSpeechStopped
from gateway.playout import PlayoutClock
from gateway.turns.backchannels import BackchannelLexicon
from gateway.turns.hold import HoldVerdict, ReplyHold
from gateway.turns.overlap import OverlapJudge, Verdict
from gateway.turns.pacer import CHUNK_MS, LEAD_MS, LEAN_CHUNK_MS, LEAN_LEAD_MS, PacedPlayout

RATE = 24_000
BYTES_PER_MS = RATE * 2 // 1000


@pytest.mark.parametrize("text", ["はい", "はい。", "うんうん", "へー", "はいはい、なるほど", "そうですね。", "ええ、ええ", "ｕｈ-ｈｕｈ", "Okay."])
def test_backchannels_are_recognised_by_content(text: str) -> None:
    assert BackchannelLexicon("ja-JP").matches(text)


@pytest.mark.parametrize("text", ["はい、お願いします", "違います", "すみません、ちょっと待ってください。", "そうじゃなくて", "", "。"])
def test_words_beyond_backchannels_are_a_turn(text: str) -> None:
    assert not BackchannelLexicon("ja-JP").matches(text)


def test_a_profile_extends_the_list_and_spaces_count_for_nothing() -> None:
    assert not BackchannelLexicon("ja-JP").matches("了解っす")
    lexicon = BackchannelLexicon("ja-JP", ["了解っす"])
    assert lexicon.matches("了解っす、はい") and lexicon.matches("は い") and not lexicon.matches("はい 違う")


def frames(judge: OverlapJudge, voiced: bool, count: int, audible: bool = True, level: float = 1000.0) -> list[Verdict]:
    return [judge.frame(level if voiced else 20.0, 20, audible) for _ in range(count)]


def test_voice_over_the_agent_pauses_then_a_short_one_resumes() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    verdicts = frames(judge, True, 13)
    assert verdicts[:12] == [Verdict.NONE] * 12 and verdicts[12] is Verdict.PAUSE  # 260 ms ≥ 250 ms
    verdicts = frames(judge, False, 15)
    assert verdicts[-1] is Verdict.RESUME and set(verdicts[:-1]) == {Verdict.NONE}
    assert not judge.paused
    frames(judge, False, 50)  # a second of quiet ends the episode: the next voice waits pause_after_ms again
    assert not judge.in_overlap
    assert frames(judge, True, 13)[-1] is Verdict.PAUSE and judge.voiced_ms == 260


def test_a_short_onset_then_a_breath_still_pauses_and_a_click_does_not() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    frames(judge, True, 5)  # 「あ、」 100 ms, then the caller breathes
    assert frames(judge, False, 8)[-1] is Verdict.PAUSE  # 260 ms after the onset, though quiet at that instant
    click = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    assert Verdict.PAUSE not in frames(click, True, 1) + frames(click, False, 20)


def test_a_pause_inside_an_interruption_does_not_reset_it() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    first = frames(judge, True, 16)  # 「いいえ、」 320 ms
    gap = frames(judge, False, 28)  # a 560 ms breath: the agent resumes after 300 ms of it
    assert Verdict.PAUSE in first and gap.count(Verdict.RESUME) == 1
    again = frames(judge, True, 25)  # 「違います」: paused again on its first frame, and the voice adds up
    assert again[0] is Verdict.PAUSE and again.index(Verdict.INTERRUPT) == 23  # 320 + 480 ms = barge_in_min_ms


def test_speech_longer_than_an_aizuchi_waits_for_its_words() -> None:
    def spoken() -> OverlapJudge:
        judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
        frames(judge, True, 30)  # 600 ms: 「そうですね」 or the start of a sentence
        assert frames(judge, False, 20) == [Verdict.NONE] * 20 and judge.paused  # 400 ms quiet: still held
        return judge

    assert spoken().transcript(backchannel=True) is Verdict.RESUME
    assert spoken().transcript(backchannel=False) is Verdict.INTERRUPT
    unheard = spoken()  # the provider never transcribed it: resume 300 + 1500 ms after the caller fell silent
    assert frames(unheard, False, 70)[-1] is Verdict.RESUME


def test_long_voice_interrupts_and_zero_never_pauses() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    verdicts = frames(judge, True, 40)
    assert verdicts.count(Verdict.PAUSE) == 1 and verdicts[-1] is Verdict.INTERRUPT
    no_pause = OverlapJudge(pause_after_ms=0, barge_in_min_ms=800, resume_after_silence_ms=300)
    verdicts = frames(no_pause, True, 40)
    assert Verdict.PAUSE not in verdicts and verdicts[-1] is Verdict.INTERRUPT


def test_a_closure_inside_a_word_does_not_delay_the_pause() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    frames(judge, True, 10)
    assert frames(judge, False, 3) == [Verdict.NONE] * 2 + [Verdict.PAUSE]  # 260 ms after the onset, in a 60 ms gap


def test_a_soft_voice_pauses_but_never_interrupts() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    verdicts = frames(judge, True, 200, level=300.0)  # above the onset level, below the voiced level: a noisy line
    assert verdicts.count(Verdict.PAUSE) == 1 and Verdict.INTERRUPT not in verdicts
    assert verdicts.index(Verdict.RESUME) == 1500 // 20 - 1  # never paused for good; not again until it is quiet
    assert frames(judge, False, 1) == [Verdict.NONE] and frames(judge, True, 13)[-1] is Verdict.PAUSE


def test_voice_without_the_agent_is_not_an_overlap_and_a_short_gap_keeps_counting() -> None:
    judge = OverlapJudge(pause_after_ms=250, barge_in_min_ms=800, resume_after_silence_ms=300)
    assert set(frames(judge, True, 50, audible=False)) == {Verdict.NONE} and not judge.in_overlap
    frames(judge, True, 20)
    frames(judge, False, 10)  # 200 ms breath: still the same speech
    assert frames(judge, True, 20)[-1] is Verdict.INTERRUPT


class RecordingSink:
    """A device that plays in real time (PlayoutClock) and records every byte it was sent, per clear."""

    exact_flush = True

    def __init__(self) -> None:
        self.playout = PlayoutClock()
        self.runs: list[bytearray] = [bytearray()]
        self.flushes = 0

    @property
    def item_id(self) -> str:
        return self.playout.item_id

    async def play(self, audio: AudioOut) -> None:
        pcm = b64decode(audio.b64)
        self.runs[-1] += pcm
        self.playout.sent(audio.item_id, len(pcm) / BYTES_PER_MS)

    async def clear(self, keep_item: bool = False) -> float:
        self.runs.append(bytearray())
        return self.playout.clear()

    async def heard_at_pause(self) -> tuple[str, float] | None:
        return None

    async def flush(self) -> None:
        self.flushes += 1

    def audible(self) -> bool:
        return self.playout.audible()


async def wait_for(check, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.005)


async def test_pause_rewinds_to_the_heard_sample_and_resume_continues_from_it() -> None:
    reply = np.arange(RATE, dtype="<i2").tobytes()  # one second, every sample distinct
    sink = RecordingSink()
    pacer = PacedPlayout(sink, RATE, 2)
    pacer.push(AudioOut(b64encode(reply), len(reply), "item-1"))
    pacer.reply_done()
    await wait_for(lambda: sink.playout.played_ms() >= 300)
    sent_before = len(sink.runs[0])
    played = await pacer.pause()
    heard = round(played * BYTES_PER_MS / 2) * 2  # to the sample
    assert sent_before - heard <= (LEAD_MS + 2 * CHUNK_MS) * BYTES_PER_MS  # paced: little to rewind
    assert pacer.holding() and not sink.audible()
    pacer.resume()
    await wait_for(lambda: sink.flushes == 1)
    resumed = bytes(sink.runs[1])
    assert resumed == reply[heard:]  # from the exact sample heard: nothing lost, nothing repeated
    await wait_for(lambda: not pacer.holding())
    await pacer.close()


class SilentDeviceSink(RecordingSink):
    """A device that never says what it played (ACS): the gateway must not flush it on a pause."""

    exact_flush = False


async def test_a_device_that_reports_nothing_is_paused_by_not_sending() -> None:
    reply = np.arange(RATE, dtype="<i2").tobytes()
    sink = SilentDeviceSink()
    pacer = PacedPlayout(sink, RATE, 2)
    pacer.push(AudioOut(b64encode(reply), len(reply), "item-1"))
    pacer.reply_done()
    await wait_for(lambda: sink.playout.played_ms() >= 200)
    pacer.lean(True)  # the caller's voice began: only LEAN_LEAD_MS is kept ahead of the ear
    await wait_for(lambda: sink.playout.queued_ms() <= LEAN_LEAD_MS + LEAN_CHUNK_MS)
    await pacer.pause()
    queued = sink.playout.queued_ms()
    assert queued <= LEAN_LEAD_MS + LEAN_CHUNK_MS  # all a pause lets play
    sent = len(sink.runs[0])
    await wait_for(lambda: not sink.audible())  # it fell silent by itself, no clear was sent
    assert len(sink.runs) == 1 and len(sink.runs[0]) == sent and pacer.holding()
    pacer.lean(False)
    pacer.resume()
    await wait_for(lambda: sink.flushes == 1)
    assert bytes(sink.runs[0]) == reply  # the whole reply once: nothing dropped, nothing repeated
    await pacer.close()


async def test_a_dropped_reply_sends_nothing_more() -> None:
    reply = np.zeros(RATE, dtype="<i2").tobytes()
    sink = RecordingSink()
    pacer = PacedPlayout(sink, RATE, 2)
    pacer.push(AudioOut(b64encode(reply), len(reply), "item-1"))
    await wait_for(lambda: len(sink.runs[0]) > 0)
    pacer.drop()
    await sink.clear()
    await asyncio.sleep(0)
    assert not pacer.holding() and sink.runs[-1] == bytearray()
    pacer.push(AudioOut(b64encode(reply[:960]), 960, "item-2"))
    await wait_for(lambda: len(sink.runs[-1]) == 960)
    await pacer.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_the_browser_turn_opens_when_the_page_says_it_played_everything() -> None:
    from channels.browser.link import Link
    from channels.browser.media import BrowserAudioSink
    from channels.browser.wire import Control, parse_client
    from gateway.playout import ACK_GRACE_S

    class Socket:
        async def send(self, message: str | bytes) -> None:
            pass

    assert parse_client('{"type":"drained"}') == Control("drained")
    clock = FakeClock()
    sink = BrowserAudioSink(clock)
    sink.attach(Link(Socket()))
    pcm = bytes(BYTES_PER_MS * 1000)
    await sink.play(AudioOut(b64encode(pcm), len(pcm), "item-1"))
    clock.now += 0.2
    sink.drained()  # a mid-reply underrun: 800 ms still to play by the model, so not the end
    assert sink.audible()
    clock.now += 0.9  # the model says it has played; the page (always behind it) has not said so
    assert sink.audible()
    sink.drained()
    assert not sink.audible()
    await sink.play(AudioOut(b64encode(pcm), len(pcm), "item-2"))
    clock.now += 1.0 + ACK_GRACE_S + 0.01  # a page that never acknowledges does not hold the turn forever
    assert not sink.audible()


async def test_a_paused_browser_reply_resumes_where_the_page_said_it_stopped() -> None:
    """The page pre-buffers, so it is behind the gateway's model: its ``played`` answer to the pause's clear, not the
    model, places the resume; the reply it then receives starts at the very next sample."""
    from channels.browser.link import Link
    from channels.browser.media import BrowserAudioSink
    from channels.browser.wire import Control, parse_client

    assert parse_client('{"type":"played","ms":12,"samples":300}') == Control("played", 12, 300)
    socket = PageSocket()
    sink = BrowserAudioSink()
    sink.attach(Link(socket))
    greeting = np.full(RATE // 10, 7, dtype="<i2").tobytes()  # 100 ms, played before the reply
    reply = np.arange(RATE, dtype="<i2").tobytes()  # one second, every sample distinct
    pacer = PacedPlayout(sink, RATE, 2)
    pacer.push(AudioOut(b64encode(greeting), len(greeting), "item-0"))
    pacer.push(AudioOut(b64encode(reply), len(reply), "item-1"))
    pacer.reply_done()
    await wait_for(lambda: len(socket.binary) >= len(greeting) + 400 * BYTES_PER_MS)
    modelled = await pacer.pause()
    page_samples = RATE // 10 + 3000  # the greeting and 3000 samples of the reply: behind the model
    assert page_samples < (len(greeting) + modelled * BYTES_PER_MS) // 2
    sent = len(socket.binary)
    sink.reported(round(page_samples / 24), page_samples)
    pacer.resume()
    await wait_for(lambda: not pacer.holding())
    assert bytes(socket.binary[sent:]) == reply[3000 * 2 :]  # nothing lost, nothing repeated
    await pacer.close()


class PageSocket:
    """The page's end of the browser socket: keeps the audio it receives."""

    def __init__(self) -> None:
        self.binary = bytearray()

    async def send(self, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self.binary += message


def hold_run(hold: ReplyHold, frames: list[tuple[float, int]]) -> list[HoldVerdict]:
    """``frames``: (RMS level, how many 20 ms frames at it)."""
    return [hold.frame(level, 20) for level, count in frames for _ in range(count)]


def test_an_answer_is_held_until_the_caller_has_been_quiet_long_enough() -> None:
    hold = ReplyHold(quiet_ms=1000, quiet_so_far_ms=500)  # the provider ended the turn after 500 ms of quiet
    verdicts = hold_run(hold, [(30, 25)])
    assert verdicts[:24] == [HoldVerdict.WAIT] * 24 and verdicts[24] is HoldVerdict.RELEASE  # 500 + 25 x 20 ms


def test_the_caller_going_on_withdraws_the_answer_and_a_click_does_not() -> None:
    hold = ReplyHold(quiet_ms=1000, quiet_so_far_ms=600)
    assert hold_run(hold, [(900, 2)]) == [HoldVerdict.WAIT] * 2  # a click: not yet the caller going on
    assert hold.quiet_so_far_ms == 0  # but the quiet starts again from it
    assert hold_run(hold, [(30, 5), (900, 3)])[-1] is HoldVerdict.WITHDRAW  # 100 ms of voice: they go on


def test_an_answer_to_a_caller_long_quiet_is_not_held() -> None:
    assert ReplyHold(quiet_ms=1000, quiet_so_far_ms=1200).ready()
    assert not ReplyHold(quiet_ms=1000, quiet_so_far_ms=999).ready()


class ScriptedEngine:
    """The provider as a queue of the engine events it sends; what the conversation asked of it is kept in order."""

    rate = RATE
    sample_width = 2

    def __init__(self) -> None:
        self.queue: asyncio.Queue[EngineEvent | None] = asyncio.Queue()
        self.asked: list[str] = []

    async def events(self) -> AsyncIterator[EngineEvent]:
        while (event := await self.queue.get()) is not None:
            yield event

    def send(self, *events: EngineEvent) -> None:
        for event in events:
            self.queue.put_nowait(event)

    async def respond(self, instructions: str | None = None) -> None:
        self.asked.append("respond")

    async def cancel_response(self) -> None:
        self.asked.append("cancel")

    async def truncate(self, item_id: str, played_ms: int) -> None:
        self.asked.append(f"truncate {item_id} {played_ms}")

    async def add_message(self, role: str, text: str) -> None:
        self.asked.append(f"add {role}")


def caller_frame(level: int) -> str:
    """20 ms of the caller at 24 kHz PCM16, at RMS ``level``."""
    return b64encode(np.full(RATE // 50, level, dtype="<i2").tobytes())


async def test_late_audio_of_a_withdrawn_answer_never_sounds_in_the_next_one() -> None:
    """The provider cancels a withdrawn answer only when it reads the cancel: audio it made before that still arrives,
    possibly after the caller's next turn was asked for. None of it may sound; the next answer sounds whole."""
    from gateway.conversation import Conversation
    from gateway.hub import SessionHub
    from gateway.profiles import AgentProfile, TurnTaking

    profile = AgentProfile("t", "t", "ja-JP", None, None, None, "none", (), (), TurnTaking(), "")
    engine, sink = ScriptedEngine(), RecordingSink()
    conversation = Conversation("session-1", engine, sink, SessionHub(), profile)  # type: ignore[arg-type]
    runner = asyncio.create_task(conversation.run())
    engine.send(UserSpeechStarted(), UserSpeechStopped(), ResponseStarted("r1"))  # the answer, held for the quiet
    await wait_for(lambda: engine.asked == ["respond"] and conversation._response_active)
    for _ in range(6):  # the caller goes on before it sounded: withdrawn
        await conversation.caller_audio(caller_frame(1000))
    assert engine.asked == ["respond", "cancel"]
    engine.send(UserSpeechStarted(), UserSpeechStopped())  # their whole sentence: the next answer is asked for
    await wait_for(lambda: engine.asked.count("respond") == 2)
    old = np.full(RATE // 25, 7, dtype="<i2").tobytes()
    new = np.arange(RATE // 25, dtype="<i2").tobytes()
    engine.send(
        AudioOut(b64encode(old), len(old), "item-old"), ResponseDone("r1", "cancelled"),  # made before the cancel
        ResponseStarted("r2"), AudioOut(b64encode(new), len(new), "item-new"), ResponseDone("r2"),
    )  # fmt: skip
    while not sink.runs[-1]:  # the caller stays quiet: the answer sounds
        await conversation.caller_audio(caller_frame(0))
        await asyncio.sleep(0.001)
    await wait_for(lambda: len(sink.runs[-1]) >= len(new))
    assert bytes(sink.runs[-1]) == new and len(sink.runs) == 1
    engine.send(None)
    await runner


async def test_a_browser_reply_resumed_before_the_page_answered_the_pause_waits_for_its_word() -> None:
    """The page's ``played`` queues behind the microphone frames it sent before the clear reached it; on a loaded
    gateway the silence that resumes the reply is read first. The resume waits for the page's word, not the model's."""
    from channels.browser.link import Link
    from channels.browser.media import BrowserAudioSink

    socket = PageSocket()
    sink = BrowserAudioSink()
    sink.attach(Link(socket))
    reply = np.arange(RATE, dtype="<i2").tobytes()  # one second, every sample distinct
    pacer = PacedPlayout(sink, RATE, 2)
    pacer.push(AudioOut(b64encode(reply), len(reply), "item-1"))
    pacer.reply_done()
    await wait_for(lambda: len(socket.binary) >= 400 * BYTES_PER_MS)
    modelled = await pacer.pause()
    page_samples = 3000  # behind the model
    assert page_samples < modelled * BYTES_PER_MS // 2
    sent = len(socket.binary)
    pacer.resume()  # before the page's answer
    for _ in range(20):
        await asyncio.sleep(0)  # the feed runs
    assert len(socket.binary) == sent  # nothing sent on the model's guess
    sink.reported(round(page_samples / 24), page_samples)
    await wait_for(lambda: not pacer.holding())
    assert bytes(socket.binary[sent:]) == reply[page_samples * 2 :]  # nothing lost, nothing repeated
    await pacer.close()
