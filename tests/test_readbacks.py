"""Read-backs of a person's words (the list, the review, an agenda) are spoken but never
kept on disk; with `readback_offline` they are made by espeak-ng only and never reach
gTTS. Fixed texts stay cached. gTTS is reached only through a fake endpoint on localhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import harness
from tests.fake_gtts import FakeGtts, record_spoken
from tests.harness import Harness
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
    async with harness(db_url, tmp_path) as h:
        h.settings = h.settings.model_copy(update={"speech_enabled": True,
                                                   "gtts_base_url": fake_gtts.url,
                                                   "readback_offline": True})
        await h.start_bot()
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
