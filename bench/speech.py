"""Speech benchmark: synthesis+conversion time, cache hit rate, warm-up time.

Runs fully offline against the fake gTTS endpoint from tests/fake_gtts.py (no Google).
Usage: .venv/bin/python bench/speech.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Repo root first: the editable install may map `voice` as a namespace package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fake_gtts import FakeGtts, make_mp3  # noqa: E402

from voice import EspeakSynthesizer, GttsSynthesizer, SpeechCache, to_voice_ogg  # noqa: E402
from voice.tts import Synthesizer  # noqa: E402

SENTENCES = [
    "Hoe gaat het met je?",
    "Wat vind je fijn aan waar je woont?",
    "Met wie woon je samen?",
    "Wat doe je graag overdag?",
    "Heb je werk of dagbesteding?",
    "Wat vind je moeilijk op een gewone dag?",
    "Wie helpt je als je iets lastig vindt?",
    "Hoe slaap je de laatste tijd?",
    "Wat eet je graag?",
    "Ga je weleens naar buiten om te wandelen?",
    "Heb je vrienden die je vaak ziet?",
    "Hoe gaat het met je geld?",
    "Wil je iets veranderen aan je hulp?",
    "Wat wil je leren het komende jaar?",
    "Ben je tevreden over je begeleider?",
    "Voel je je veilig in huis?",
    "Wat maakt je blij?",
    "Waar maak je je zorgen over?",
    "Wie mag er mee naar het gesprek?",
    "Wil je nog iets anders vertellen?",
]
QUESTIONS = SENTENCES + [
    "Hoe gaat het met je gezondheid?",
    "Neem je zelf je medicijnen in?",
    "Hoe reis je naar je werk?",
    "Wat doe je in het weekend?",
    "Wat is je grootste wens?",
]
WARM_TEXTS = [f"{q} (vraag {i})" for i, q in enumerate(QUESTIONS + SENTENCES[:15])]


def median_ms(engine: Synthesizer, texts: list[str]) -> float:
    times = []
    for text in texts:
        start = time.perf_counter()
        audio, fmt = engine.synthesize(text, False)
        to_voice_ogg(audio, fmt)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


async def client_run(cache: SpeechCache) -> None:
    """Two clients walk through the same 25 questions at the same time."""

    async def client() -> None:
        for question in QUESTIONS:
            await cache.clip(question)

    await asyncio.gather(client(), client())


def make_cache(root: Path, fake: FakeGtts) -> SpeechCache:
    fallback = EspeakSynthesizer()
    return SpeechCache(
        root,
        primary=GttsSynthesizer(base_url=fake.url, timeout=4.0),
        fallback=fallback if fallback.available() else None,
    )


async def cache_figures(fake: FakeGtts) -> None:
    with tempfile.TemporaryDirectory() as cold_dir:
        cold = make_cache(Path(cold_dir), fake)
        await client_run(cold)
        st = cold.stats
        no_new = 1 - sum(st.syntheses.values()) / st.requests
        print(
            f"  cold cache (no warm-up): {st.hit_rate:6.1%} from a finished clip, "
            f"{no_new:.1%} without a new synthesis ({st.shared} joined an in-flight job)"
        )
    with tempfile.TemporaryDirectory() as warm_dir:
        warmed = make_cache(Path(warm_dir), fake)
        await warmed.warm(QUESTIONS)
        warmed.stats.reset()  # count only the clients' requests
        await client_run(warmed)
        rate = warmed.stats.hit_rate
        verdict = "OK" if rate >= 0.95 else "BELOW GOAL"
        print(f"  after warm-up at start : {rate:6.1%} served from cache (goal >= 95%: {verdict})")
    with tempfile.TemporaryDirectory() as bulk_dir:
        bulk = make_cache(Path(bulk_dir), fake)
        start = time.perf_counter()
        done = await bulk.warm(WARM_TEXTS, concurrency=4)
        took = time.perf_counter() - start
        print(f"warm-up of {len(WARM_TEXTS)} texts (concurrency 4): {took:.2f} s, {done} clips")


def main() -> None:
    # ~3 s of audio per answer, like a short spoken question.
    fake = FakeGtts(mp3=make_mp3(3.0)).start()
    try:
        gtts = GttsSynthesizer(base_url=fake.url)
        print(f"synthesis+conversion, median over {len(SENTENCES)} sentences:")
        print(f"  gTTS (fake localhost endpoint): {median_ms(gtts, SENTENCES):7.1f} ms")
        espeak = EspeakSynthesizer()
        if espeak.available():
            print(f"  espeak-ng (offline fallback)  : {median_ms(espeak, SENTENCES):7.1f} ms")
        else:
            print("  espeak-ng: not installed")
        print("cache hit rate, 2 clients x the same 25 questions:")
        asyncio.run(cache_figures(fake))
        print(f"fake endpoint calls in total: {fake.calls}")
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
