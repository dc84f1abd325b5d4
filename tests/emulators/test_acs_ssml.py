"""ACS plays SSML through Azure text to speech: what the caller hears, and how a document it refuses fails."""

from __future__ import annotations

import pytest
from azure.communication.callautomation import SsmlSource, TextSource

from gateway.emulators.acs import PlayConfig
from tests.emulators.test_acs_emulator import running

HEAD = "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='ja-JP'>"
GREETING = (
    HEAD + "<voice name='ja-JP-NanamiNeural'><sub alias='ひがしかんだ'>東神田</sub>店でございます。"
    "<phoneme alphabet='sapi' ph=\"ゴヨ'ーケン\">ご用件</phoneme>をどうぞ。</voice></speak>"
)
BAD = HEAD + "<voice name='ja-JP-NanamiNeural'><say-as interpret-as='phone'>0312345678</say-as></voice></speak>"


@pytest.mark.asyncio
async def test_ssml_play_records_what_the_caller_hears_and_a_refused_document_fails_the_play() -> None:
    async with running(play=PlayConfig(duration_s=0.1)) as (emulator, gateway, gw_url):
        call = await emulator.incoming_call(f"{gw_url}/api/incomingCall")
        await call.wait_for("CallConnected")
        connection = gateway.client.get_call_connection(call.call_connection_id)

        await connection.play_media(SsmlSource(ssml_text=GREETING), operation_context="greet")
        await call.wait_for("PlayCompleted", 3)
        await connection.play_media([TextSource(text="はい。"), SsmlSource(ssml_text=BAD)], operation_context="bad")
        failed = await call.wait_for("PlayFailed", 3)
        await call.hang_up()

    body = emulator.requests_for("play")[0].body
    assert body["playSources"] == [{"kind": "ssml", "ssml": {"ssmlText": GREETING}}]
    greet, bad = call.plays.records
    assert greet.outcome == "completed" and greet.error is None
    assert greet.texts == ["東神田店でございます。ご用件をどうぞ。"]
    assert greet.spoken == ["ひがしかんだ店でございます。ゴヨ'ーケンをどうぞ。"]
    assert [(r.kind, r.written, r.spoken) for r in greet.readings] == [
        ("sub", "東神田", "ひがしかんだ"),
        ("phoneme", "ご用件", "ゴヨ'ーケン"),
    ]
    assert bad.outcome == "failed" and bad.failed_source_index == 1 and "'phone'" in (bad.error or "")
    assert bad.started_at is None  # refused before anything played
    assert failed.data["operationContext"] == "bad" and failed.data["failedPlaySourceIndex"] == 1
    assert failed.data["resultInformation"] == {
        "code": 400,
        "subCode": 8565,
        "message": "Action failed, bad request to Azure AI services. Check input parameters.",
    }
    assert gateway.types() == ["CallConnected", "PlayStarted", "PlayCompleted", "PlayFailed", "CallDisconnected"]
