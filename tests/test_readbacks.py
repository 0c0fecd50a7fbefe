"""Read-backs of a person's words (the list, the review, an agenda) are spoken but never
kept on disk; with `readback_offline` they are made by espeak-ng only and never reach
gTTS. Fixed texts stay cached. gTTS is reached only through a fake endpoint on localhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.state.models import Organisation
from tests.fake_gtts import FakeGtts, record_spoken
from tests.harness import Harness, labels, running, texts
from tests.test_triangle import admin_and_begeleider, new_client
from voice import EspeakSynthesizer

SECRET = "Knutselen met Zwanenveer"
WORD = "Zwanenveer"


async def answer_and_list(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    await h.say(sam, SECRET)
    out = await h.say(sam, "/lijst")
    assert any(m.kind == "voice" for m in out), "the list is read back"


def assert_no_readback_clip(h: Harness) -> None:
    assert h.runner is not None and h.runner.media is not None
    speech = h.runner.media.speech
    assert speech is not None
    on_disk = {p.stem for p in speech.cache_dir.rglob("*.ogg")}
    # No clip on disk was made of a sentence holding the answer, by any engine.
    engines = [e for e in (speech.primary, speech.fallback) if e is not None]
    for engine in engines:
        for text in (SECRET, f"{SECRET}.", f"Waar ben jij goed in: {SECRET}."):
            assert speech.key_for(engine, text) not in on_disk
    assert not list(speech.private_dir.iterdir()), "a read-back clip left behind"
    for path in speech.cache_dir.rglob("*"):
        if path.is_file():
            assert WORD.encode() not in path.read_bytes()


async def test_list_read_back_is_not_kept(hs: Harness, fake_gtts: FakeGtts) -> None:
    assert hs.runner is not None and hs.runner.media is not None
    speech = hs.runner.media.speech
    assert speech is not None
    made = record_spoken(speech)
    await answer_and_list(hs)
    private = [text for text in made if WORD in text]
    assert private, "the read-back was spoken by gTTS (the offline setting is off)"
    on_disk = {p.stem for p in speech.cache_dir.rglob("*.ogg")}
    assert not {speech.key_for(speech.primary, text) for text in private} & on_disk
    assert on_disk, "the fixed texts are cached"
    assert_no_readback_clip(hs)


@pytest.fixture
async def hoff(db_url: str, tmp_path: Path, fake_gtts: FakeGtts) -> AsyncIterator[Harness]:
    async with running(db_url, tmp_path, speech_enabled=True, gtts_base_url=fake_gtts.url,
                       readback_offline=True) as h:
        yield h


@pytest.mark.skipif(not EspeakSynthesizer().available(), reason="espeak-ng not installed")
async def test_offline_read_back_never_reaches_gtts(hoff: Harness, fake_gtts: FakeGtts
                                                    ) -> None:
    h = hoff
    await answer_and_list(h)
    assert fake_gtts.texts, "fixed questions still go to gTTS"
    assert not any(WORD in text for text in fake_gtts.texts), "an answer went to gTTS"
    assert_no_readback_clip(h)
    # A fixed question is served from the cache the second time: gTTS is not asked again.
    assert h.runner is not None and h.runner.media is not None
    speech = h.runner.media.speech
    assert speech is not None
    noor = await h.join(1002, "Noor")
    question = "Waar ben jij goed in?"
    asked = fake_gtts.texts.count(question)
    assert asked == 1, "made once for Sam"
    hits = speech.stats.hits
    out = await h.tap(noor, "➡️ Beginnen")
    assert any(m.kind == "voice" for m in out)
    assert fake_gtts.texts.count(question) == 1 and speech.stats.hits > hits


@pytest.fixture
async def hon(db_url: str, tmp_path: Path, fake_gtts: FakeGtts) -> AsyncIterator[Harness]:
    """Speech on, READBACK_OFFLINE left off: only the organisation's admin decides."""
    async with running(db_url, tmp_path, speech_enabled=True,
                       gtts_base_url=fake_gtts.url) as h:
        yield h


@pytest.mark.skipif(not EspeakSynthesizer().available(), reason="espeak-ng not installed")
async def test_the_admin_keeps_read_backs_off_gtts_for_their_organisation(
        hon: Harness, fake_gtts: FakeGtts) -> None:
    h = hon
    fatima, bram = await admin_and_begeleider(h)
    out = await h.tap(fatima, "🔒 Antwoorden alleen hier voorlezen")
    assert "gaan niet meer naar Google" in texts(out)
    assert "🔊 Antwoorden weer met Google voorlezen" in labels(out)
    (organisation,) = await h.rows(Organisation)
    assert organisation.readback_offline is True

    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    await h.say(sam, SECRET)
    out = await h.say(sam, "/lijst")
    assert any(m.kind == "voice" for m in out), "the list is still read back"
    assert fake_gtts.texts, "fixed questions still go to gTTS"
    assert not any(WORD in text for text in fake_gtts.texts), "an answer went to gTTS"
    # The begeleider's agenda reads Sam's words back too: also offline.
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📋 Agenda")
    assert not any(WORD in text for text in fake_gtts.texts), "the agenda went to gTTS"

    await h.act(fatima, fatima.send_command("/beheer"))
    out = await h.tap(fatima, "🔊 Antwoorden weer met Google voorlezen")
    assert "stem van Google" in texts(out)
    await h.say(sam, "/lijst")
    assert any(WORD in text for text in fake_gtts.texts), "switched back: gTTS reads it"
    assert_no_readback_clip(h)
