"""Voice answers written out and confirmed by the client (issue 19), through the real bot
with a fake speech-to-text server on localhost: confirm, say it again, let it be, switch it
off, the engine down, hanging or hearing nothing — nothing lost, nothing shown that the
client did not confirm, and nobody else waits for the engine."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.state.models import Answer
from localbotapi.server import BotMessage, UserHandle
from tests.fake_gtts import FakeGtts, record_spoken
from tests.fake_stt import FakeStt
from tests.harness import Harness, running, texts
from tests.test_triangle import admin_and_begeleider, client_with_topic

VOICE = b"OggS-" + bytes(range(120)) + b"-sam-says-something"
HEARD = "Ik wil graag op mezelf wonen"
CONFIRMED = f"‘{HEARD}’ (uitgeschreven, door jou bevestigd)"


@pytest.fixture
async def stt() -> AsyncIterator[FakeStt]:
    fake = await FakeStt(text=HEARD).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def ht(db_url: str, tmp_path: Path, stt: FakeStt) -> AsyncIterator[Harness]:
    async with running(db_url, tmp_path, transcribe_url=stt.url,
                       transcribe_model="whisper-nl", transcribe_key="sk-test") as h:
        yield h


async def _voice(h: Harness, user: UserHandle, data: bytes = VOICE) -> list[BotMessage]:
    """A voice answer, and everything up to the engine's answer being asked about."""
    before = len(user.messages)
    await h.act(user, user.send_voice(data, duration=4))
    assert h.runner is not None
    await h.runner.transcriptions_settled()
    return user.messages[before:]


async def _agenda_text(h: Harness, bram: UserHandle) -> str:
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    return texts(await h.tap(bram, "📋 Agenda"))


async def test_a_confirmed_transcript_is_shown_everywhere(ht: Harness, stt: FakeStt) -> None:
    h = ht
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    out = await _voice(h, sam)
    assert "Dank je voor je spraakbericht." in texts(out)
    (question,) = [m for m in out if "Ik hoorde" in m.content]
    assert f"Ik hoorde: ‘{HEARD}’." in question.content and "Klopt dat?" in question.content
    assert [b for row in question.buttons for b, _ in row] == [
        "✅ Ja", "✏️ Nee, ik zeg het anders", "Laat maar"]
    assert stt.audio == [VOICE]  # the voice itself went to the engine, once
    assert stt.calls[0]["model"] == "whisper-nl" and stt.calls[0]["language"] == "nl"
    assert stt.calls[0]["authorization"] == "Bearer sk-test"
    # Not yet confirmed: the begeleider sees the recording, not the words.
    assert HEARD not in await _agenda_text(h, bram)

    out = await h.act(sam, sam.press(question, "✅ Ja"))
    assert "Dank je. Zo schrijf ik het op." in texts(out)
    out = await h.act(sam, sam.send_command("/lijst"))
    assert CONFIRMED in texts(out)
    assert f"‘{HEARD}’ (uitgeschreven, door Sam bevestigd)" in await _agenda_text(h, bram)
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert (voice.transcript, voice.transcript_state, voice.file_id is not None) == (
        HEARD, "confirmed", True)  # the voice stays the answer

    out = await h.tap(bram, "📄 PDF en export")
    files = {m.raw["document"]["file_name"].split("-")[-1]: h.server.file_bytes(m.file_id)
             for m in out if m.kind == "document"}
    exported = json.loads(files["begeleider.json"])
    media = [m for p in exported["parts"] for i in p["items"] for m in i["media"]]
    assert [m.get("transcript") for m in media] == [HEARD]
    bundle = files["fhir.json"].decode()
    assert f'"valueString": "{HEARD}"' in bundle and '"valueAttachment"' in bundle
    # Pressed again (an old message): nothing changes.
    out = await h.act(sam, sam.press(question, "Laat maar"))
    assert "Die knop hoort bij een eerdere vraag." in texts(out)
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.transcript_state == "confirmed"


@pytest.mark.parametrize(("button", "said"), [
    ("✏️ Nee, ik zeg het anders", "Zeg het nog een keer. Of typ het."),
    ("Laat maar", "Je spraakbericht blijft bewaard.")])
async def test_a_transcript_not_confirmed_is_shown_to_nobody(
        ht: Harness, button: str, said: str) -> None:
    h = ht
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    (question,) = [m for m in await _voice(h, sam) if "Ik hoorde" in m.content]
    out = await h.act(sam, sam.press(question, button))
    assert said in texts(out)
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "[spraakbericht, 0:04]" in texts(out) and HEARD not in texts(out)
    assert HEARD not in await _agenda_text(h, bram)


async def test_switched_off_nothing_goes_to_the_engine(ht: Harness, stt: FakeStt) -> None:
    h = ht
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    out = await h.act(sam, sam.send_command("/over"))
    assert "naar een computer die ze uitschrijft" in texts(out)
    out = await h.act(sam, sam.send_command("/instellingen"))
    assert "Ik schrijf je spraakberichten uit." in texts(out)
    await h.tap(sam, "✍️ Spraak niet uitschrijven")  # the settings message changes
    assert "Ik schrijf je spraakberichten niet uit." in texts(sam.messages)
    out = await _voice(h, sam)
    assert "Ik hoorde" not in texts(out) and stt.audio == []
    assert len(await h.rows(Answer, Answer.kind == "voice")) == 1


@pytest.mark.parametrize("mode", ["error", "empty"])
async def test_an_engine_that_fails_changes_nothing_for_the_client(
        ht: Harness, stt: FakeStt, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    h = ht
    stt.mode = mode
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    with caplog.at_level(logging.INFO, logger="gespreksmaatje"):
        for _ in range(2):
            out = await _voice(h, sam)
            assert "Dank je voor je spraakbericht." in texts(out)
            assert "Ik hoorde" not in texts(out)
    voices = await h.rows(Answer, Answer.kind == "voice")
    assert len(voices) == 2 and all(v.transcript is None for v in voices)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING
                and "speech-to-text" in r.getMessage()]
    assert len(warnings) == (1 if mode == "error" else 0)  # one line per outage


async def test_a_hanging_engine_delays_nobody(ht: Harness, stt: FakeStt) -> None:
    h = ht
    stt.mode = "hang"
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    out = await h.act(sam, sam.send_voice(VOICE, duration=4))  # the reply is not held up
    assert "Dank je voor je spraakbericht." in texts(out)
    await h.server.wait_for(lambda: bool(stt.audio), 10, lambda: "the engine was not asked")
    out = await h.say(sam, "Nog iets")  # Sam's own next message neither
    assert "Dank je." in texts(out)
    out = await h.act(bram, bram.send_command("/clienten"))  # nor anyone else
    assert "Sam" in texts(out)
    stt.mode = "ok"
    stt._release.set()  # the engine answers after all: the question comes late, and counts
    assert h.runner is not None
    await h.runner.transcriptions_settled()
    assert f"Ik hoorde: ‘{HEARD}’." in texts(sam.messages[-1:])


async def test_a_transcript_button_of_another_client_changes_nothing(
        ht: Harness) -> None:
    h = ht
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Mijn fiets")
    (question,) = [m for m in await _voice(h, sam) if "Ik hoorde" in m.content]
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    lotte = await h.join(1002, "Lotte")
    out = await h.act(lotte, lotte.press_data(lotte.messages[-1].message_id,
                                              f"0:hj:{voice.id}"))
    assert "Die knop hoort bij een eerdere vraag." in texts(out)
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.transcript_state == "pending"
    assert question.buttons  # Sam's own question still works


async def test_what_was_heard_is_spoken_but_never_kept(
        db_url: str, tmp_path: Path, stt: FakeStt, fake_gtts: FakeGtts) -> None:
    """'Ik hoorde: …' holds the client's own words: spoken (a voice message beside the
    text) as a read-back, so no clip of it stays in the speech cache."""
    async with running(db_url, tmp_path, transcribe_url=stt.url,
                       transcribe_model="whisper-nl", speech_enabled=True,
                       gtts_base_url=fake_gtts.url) as h:
        assert h.runner is not None and h.runner.media is not None
        speech = h.runner.media.speech
        assert speech is not None
        made = record_spoken(speech)
        sam = await h.join(1001, "Sam")
        await h.tap(sam, "➡️ Beginnen")
        out = await _voice(h, sam)
        at = next(i for i, m in enumerate(out) if "Ik hoorde" in m.content)
        assert any(m.kind == "voice" for m in out[at:]), "what was heard is also spoken"
        heard = [text for text in made if HEARD in text]
        assert heard, "spoken by gTTS (the offline setting is off)"
        on_disk = {p.stem for p in speech.cache_dir.rglob("*.ogg")}
        assert on_disk, "the fixed texts are cached"
        assert not {speech.key_for(speech.primary, text) for text in heard} & on_disk
        assert not list(speech.private_dir.iterdir()), "a read-back clip left behind"
