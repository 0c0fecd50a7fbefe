"""voice/: gTTS against a fake localhost endpoint, espeak-ng fallback, breaker, cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_gtts import FakeGtts, make_mp3
from voice import (
    EspeakSynthesizer,
    GttsSynthesizer,
    MediaError,
    SpeechCache,
    SpeechError,
    probe_audio,
    to_voice_ogg,
)
from voice.cache import MemoryClips
from voice.opus import ConversionError

HAS_ESPEAK = EspeakSynthesizer().available()
needs_espeak = pytest.mark.skipif(
    not HAS_ESPEAK, reason="espeak-ng binary not installed: offline fallback not testable"
)

QUESTION = "Wat vind je fijn aan waar je woont?"


class FakeClock:
    """Injected into SpeechCache so the breaker is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # gTTS passes urllib's proxies explicitly; a CI proxy must not swallow localhost.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake() -> Iterator[FakeGtts]:
    server = FakeGtts().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def gtts_for(fake: FakeGtts, timeout: float = 2.0) -> GttsSynthesizer:
    return GttsSynthesizer(lang="nl", tld="nl", timeout=timeout, base_url=fake.url)


def make_cache(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock, fallback: bool = True, timeout: float = 2.0
) -> SpeechCache:
    return SpeechCache(
        tmp_path / "speech",
        primary=gtts_for(fake, timeout),
        fallback=EspeakSynthesizer() if fallback else None,
        breaker_seconds=180,
        clock=clock,
    )


def assert_voice(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"OggS")
    assert b"OpusHead" in data


# -- engines and conversion -------------------------------------------------------------


def test_gtts_hits_fake_endpoint(fake: FakeGtts) -> None:
    audio, fmt = gtts_for(fake).synthesize(QUESTION, slow=False)
    assert fmt == "mp3" and audio == fake.mp3
    assert fake.calls == 1
    assert fake.paths == ["/_/TranslateWebserverUi/data/batchexecute"]
    assert fake.texts == [QUESTION]


def test_gtts_long_text_is_split_and_still_converts(fake: FakeGtts) -> None:
    text = " ".join([QUESTION] * 6)  # > 100 chars: gTTS sends several requests
    audio, fmt = gtts_for(fake).synthesize(text, slow=True)
    assert fake.calls > 1
    clip = to_voice_ogg(audio, fmt)
    assert clip.duration > 0.6 * (fake.calls - 0.5)


def test_gtts_errors_become_speech_error(fake: FakeGtts) -> None:
    fake.mode = "error"
    with pytest.raises(SpeechError, match="500"):
        gtts_for(fake).synthesize(QUESTION, slow=False)
    with pytest.raises(SpeechError):
        gtts_for(fake).synthesize("   ", slow=False)


def test_gtts_timeout_is_real(fake: FakeGtts) -> None:
    fake.mode = "hang"
    start = time.monotonic()
    with pytest.raises(SpeechError):
        gtts_for(fake, timeout=0.5).synthesize(QUESTION, slow=False)
    assert time.monotonic() - start < 2.0


def test_mp3_to_voice_ogg() -> None:
    clip = to_voice_ogg(make_mp3(1.0), "mp3")
    assert clip.ogg.startswith(b"OggS") and b"OpusHead" in clip.ogg
    assert 0.9 < clip.duration < 1.3


@needs_espeak
def test_espeak_wav_to_voice_ogg() -> None:
    engine = EspeakSynthesizer()
    wav, fmt = engine.synthesize(QUESTION, slow=False)
    slow_wav, _ = engine.synthesize(QUESTION, slow=True)
    assert fmt == "wav" and wav.startswith(b"RIFF")
    assert len(slow_wav) > len(wav)  # slow really is slower
    clip = to_voice_ogg(wav, fmt)
    assert clip.ogg.startswith(b"OggS") and clip.duration > 0.5


def test_espeak_missing_binary_is_speech_error() -> None:
    engine = EspeakSynthesizer(binary="no-such-espeak-binary")
    assert not engine.available()
    with pytest.raises(SpeechError, match="not found"):
        engine.synthesize(QUESTION, slow=False)


def test_conversion_rejects_garbage() -> None:
    with pytest.raises(ConversionError):
        to_voice_ogg(b"\x00not audio at all" * 50, "mp3")


# -- probe_audio ------------------------------------------------------------------------


def test_probe_audio_on_clip(tmp_path: Path) -> None:
    clip = to_voice_ogg(make_mp3(1.0), "mp3")
    path = tmp_path / "clip.ogg"
    path.write_bytes(clip.ogg)
    for source in (path, str(path), clip.ogg):
        duration, mime = probe_audio(source)
        assert mime == "audio/ogg"
        assert abs(duration - clip.duration) < 0.1


def test_probe_audio_garbage_is_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not a readable audio/video file"):
        probe_audio(b"this is not an ogg file" * 20)
    with pytest.raises(MediaError):
        probe_audio(b"")
    with pytest.raises(MediaError):
        probe_audio(tmp_path / "missing.ogg")


# -- cache ------------------------------------------------------------------------------


async def test_same_text_synthesised_once_and_survives_restart(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    cache = make_cache(tmp_path, fake, clock)
    first = await cache.clip(QUESTION)
    second = await cache.clip(QUESTION)
    assert first is not None and second is not None
    assert first == second and first.engine == "gtts"
    assert fake.calls == 1
    assert_voice(first.path)
    assert first.duration > 0
    assert len(first.key) == 64 and int(first.key, 16) >= 0
    assert cache.stats.hits == 1 and cache.stats.misses == 1
    assert cache.stats.syntheses["gtts"] == 1

    restarted = make_cache(tmp_path, fake, clock)
    again = await restarted.clip(QUESTION)
    assert again is not None
    assert fake.calls == 1  # found on disk, endpoint not called
    assert again.key == first.key and again.path == first.path
    assert abs(again.duration - first.duration) < 0.1
    assert restarted.stats.hits == 1 and restarted.stats.misses == 0


async def test_sentences_are_kept_apart_and_joined(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    """A welcome that differs only in the name costs one new sentence, not a new clip of
    the whole text; the joined clip holds every sentence's audio."""
    cache = make_cache(tmp_path, fake, clock)
    sam = await cache.clip(f"Hoi Sam! {QUESTION}")
    assert sam is not None and sam.engine == "gtts"
    assert sorted(fake.texts) == sorted(["Hoi Sam!", QUESTION])
    lotte = await cache.clip(f"Hoi Lotte! {QUESTION}")
    assert lotte is not None and lotte.key != sam.key
    assert fake.texts[2:] == ["Hoi Lotte!"]  # the question's clip was kept
    assert_voice(lotte.path)
    one = probe_audio(tmp_path / "speech" / f"{cache.key_for(cache.primary, QUESTION)}.ogg")
    joined, _mime = probe_audio(lotte.path)
    assert joined == pytest.approx(2 * one[0], abs=0.1)  # two sentences of the fake's tone
    assert lotte.duration == pytest.approx(joined, abs=0.1)


async def test_a_read_back_again_makes_only_its_new_sentence_and_keeps_none_on_disk(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    """The list is read back after every answer: a sentence with a person's words said
    before comes from memory (never from or onto disk); only the new one goes to gTTS."""
    cache = make_cache(tmp_path, fake, clock)
    first = await cache.private_clip("Ik teken graag. Ik wandel graag.")
    assert first is not None and first.private
    first.discard()
    again = await cache.private_clip("Ik teken graag. Ik wandel graag. Ik zing graag.")
    assert again is not None
    assert_voice(again.path)
    assert sorted(fake.texts) == sorted(["Ik teken graag.", "Ik wandel graag.",
                                         "Ik zing graag."])  # each once
    again.discard()
    on_disk = [path for path in (tmp_path / "speech").rglob("*") if path.is_file()]
    assert on_disk == [], "nothing of a read-back is kept on disk"


def test_memory_clips_drop_the_least_recently_used_beyond_the_budget() -> None:
    clips = MemoryClips(budget=10)
    clips.put("a", b"1234")
    clips.put("b", b"5678")
    assert clips.get("a") == b"1234"  # now the most recently used
    clips.put("c", b"90ab")
    assert clips.get("b") is None and clips.get("a") == b"1234" and clips.get("c") == b"90ab"
    clips.put("huge", b"x" * 11)
    assert clips.get("huge") is None and clips.size == 8


@needs_espeak
async def test_sentences_of_the_offline_engine_join_too(tmp_path: Path, fake: FakeGtts,
                                                        clock: FakeClock) -> None:
    """espeak-ng stands in when gTTS is down: its sentences are joined as well (found in a
    run without internet: each Opus clip starts before zero, its pre-skip, and the second
    clip's first packet must come after the first clip's last)."""
    fake.mode = "error"
    cache = make_cache(tmp_path, fake, clock)
    clip = await cache.clip(f"Hoi Sam! {QUESTION} Tik op Verder.")
    assert clip is not None and clip.engine == "espeak-ng"
    assert_voice(clip.path)
    duration, _mime = probe_audio(clip.path)
    parts = [await cache.clip(s) for s in ("Hoi Sam!", QUESTION, "Tik op Verder.")]
    assert all(p is not None for p in parts)
    assert duration == pytest.approx(sum(p.duration for p in parts if p), abs=0.15)


async def test_slow_and_normal_are_different_clips(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    cache = make_cache(tmp_path, fake, clock)
    normal = await cache.clip(QUESTION)
    slow = await cache.clip(QUESTION, slow=True)
    assert normal is not None and slow is not None
    assert normal.key != slow.key
    assert fake.calls == 2


async def test_concurrent_requests_share_one_synthesis(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    cache = make_cache(tmp_path, fake, clock)
    clips = await asyncio.gather(*(cache.clip(QUESTION) for _ in range(8)))
    assert fake.calls == 1
    assert len({c.key for c in clips if c is not None}) == 1
    assert cache.stats.syntheses["gtts"] == 1
    assert cache.stats.misses == 1 and cache.stats.shared == 7


async def test_event_loop_not_blocked_during_synthesis(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    fake.mode = "hang"
    cache = make_cache(tmp_path, fake, clock, fallback=False, timeout=0.5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    assert await cache.clip(QUESTION) is None
    task.cancel()
    assert ticks > 10  # the loop kept running while gTTS waited


async def test_warm_fills_cache_with_bounded_concurrency(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    cache = make_cache(tmp_path, fake, clock)
    texts = [f"Vraag nummer {i}: hoe gaat het?" for i in range(12)]
    assert await cache.warm(texts + texts[:3], concurrency=3) == 12
    assert fake.calls == 12
    for text in texts:
        assert await cache.clip(text) is not None
    assert fake.calls == 12


@pytest.mark.parametrize("failure", ["error", "hang"])
async def test_no_fallback_gives_none_quickly(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock, failure: str
) -> None:
    fake.mode = failure
    cache = make_cache(tmp_path, fake, clock, fallback=False, timeout=0.5)
    start = time.monotonic()
    assert await cache.clip(QUESTION) is None
    assert time.monotonic() - start < 2.0
    assert cache.stats.unavailable == 1
    assert await cache.clip(QUESTION) is None
    assert fake.calls == 1  # breaker open: not asked again


@needs_espeak
@pytest.mark.parametrize("failure", ["error", "hang"])
async def test_fallback_breaker_and_recovery(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock, failure: str
) -> None:
    fake.mode = failure
    cache = make_cache(tmp_path, fake, clock, timeout=0.5)

    start = time.monotonic()
    interim = await cache.clip(QUESTION)
    assert time.monotonic() - start < 2.0
    assert interim is not None and interim.engine == "espeak-ng"
    assert_voice(interim.path)
    assert fake.calls == 1

    # Breaker open: other texts and repeats go straight to espeak-ng / its cached file.
    other = await cache.clip("Met wie woon je samen?")
    assert other is not None and other.engine == "espeak-ng"
    assert await cache.clip(QUESTION) == interim
    fake.mode = "ok"
    clock.now += 179
    assert await cache.clip(QUESTION) == interim
    assert fake.calls == 1
    assert cache.stats.syntheses["espeak-ng"] == 2

    # Breaker closed: the primary is tried again and its clip replaces the interim one.
    clock.now += 2
    recovered = await cache.clip(QUESTION)
    assert recovered is not None and recovered.engine == "gtts"
    assert recovered.key != interim.key
    assert not interim.path.exists()
    assert_voice(recovered.path)
    assert fake.calls == 2
    assert await cache.clip(QUESTION) == recovered
    assert fake.calls == 2


@needs_espeak
async def test_fallback_clip_on_disk_is_upgraded_after_restart(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    fake.mode = "error"
    interim = await make_cache(tmp_path, fake, clock).clip(QUESTION)
    assert interim is not None and interim.engine == "espeak-ng"
    fake.mode = "ok"
    fresh = await make_cache(tmp_path, fake, clock).clip(QUESTION)
    assert fresh is not None and fresh.engine == "gtts"
    assert not interim.path.exists()


async def test_nothing_works_returns_none(tmp_path: Path, fake: FakeGtts, clock: FakeClock) -> None:
    fake.mode = "error"
    cache = SpeechCache(
        tmp_path,
        primary=gtts_for(fake),
        fallback=EspeakSynthesizer(binary="no-such-espeak-binary"),
        clock=clock,
    )
    assert await cache.clip(QUESTION) is None
    assert cache.stats.failures == {"gtts": 1, "espeak-ng": 1}


async def test_corrupt_cached_file_is_resynthesised(
    tmp_path: Path, fake: FakeGtts, clock: FakeClock
) -> None:
    cache = make_cache(tmp_path, fake, clock)
    first = await cache.clip(QUESTION)
    assert first is not None
    first.path.write_bytes(b"truncated")
    again = await make_cache(tmp_path, fake, clock).clip(QUESTION)
    assert again is not None and again.path == first.path
    assert_voice(again.path)
    assert fake.calls == 2
