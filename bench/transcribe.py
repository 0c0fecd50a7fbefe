"""Voice answers written out (issue 19): the time from a voice answer to "Ik hoorde: …" with
a fake speech-to-text engine on localhost that answers at once (so what is measured is the
bot's own share: keeping the file, the request, storing the words, the question), and
whether other clients wait while a slow engine (2 s per answer) works: their reply times
with and without it, beside a bare PTB echo bot's in the same run.

Run: ``.venv/bin/python bench/transcribe.py``
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.echo_run import percentile_ms, run_echo  # noqa: E402
from localbotapi.server import UserHandle  # noqa: E402
from tests.fake_stt import FakeStt  # noqa: E402
from tests.harness import Harness, harness  # noqa: E402

VOICES = 30
TALKERS, TEXTS = 10, 20
SLOW = 2.0  # seconds per answer of the slow engine


async def _ready(h: Harness, user_id: int, name: str) -> UserHandle:
    user = await h.join(user_id, name)
    await h.tap(user, "➡️ Beginnen")
    return user


async def _heard(h: Harness, sam: UserHandle, count: int) -> list[float]:
    """Seconds from each voice answer to its "Ik hoorde" question."""
    took = []
    for n in range(count):
        voice = b"OggS-" + n.to_bytes(4, "big") * 40
        asked = sum("Ik hoorde" in m.content for m in sam.messages)
        started = time.perf_counter()
        await sam.send_voice(voice, duration=3)
        await h.server.wait_for(
            lambda asked=asked: sum("Ik hoorde" in m.content for m in sam.messages) > asked,
            30, "no 'Ik hoorde'")
        took.append(time.perf_counter() - started)
        await h.tap(sam, "Laat maar")
    return took


async def _talk(h: Harness, talkers: list[UserHandle]) -> list[float]:
    """Each talker sends texts one after another (closed loop); seconds per reply."""
    delays: list[float] = []

    async def one(user: UserHandle) -> None:
        for n in range(TEXTS):
            started = time.perf_counter()
            await h.say(user, f"Iets over mijn dag, nummer {n}")
            delays.append(time.perf_counter() - started)

    await asyncio.gather(*(one(u) for u in talkers))
    return delays


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-stt-") as folder:
        stt = await FakeStt(text="Ik wil graag op mezelf wonen").start()
        db = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        try:
            async with harness(db, Path(folder)) as h:
                h.settings = h.settings.model_copy(update={"transcribe_url": stt.url})
                await h.start_bot()
                sam = await _ready(h, 1001, "Sam")
                heard = await _heard(h, sam, VOICES)
                talkers = [await _ready(h, 2000 + i, f"Kim{i}") for i in range(TALKERS)]
                quiet = await _talk(h, talkers)
                stt.delay = SLOW  # now a slow engine works on Sam's voice answers meanwhile
                voices = asyncio.create_task(_heard(h, sam, 3))
                busy = await _talk(h, talkers)
                await voices
        finally:
            await stt.stop()
    echo = await run_echo(users=TALKERS, per_user=TEXTS)
    print(f"voice answer → 'Ik hoorde' (engine answers at once; {VOICES} answers, SQLite): "
          f"median {percentile_ms(heard, 0.5):.0f} ms, p95 {percentile_ms(heard, 0.95):.0f} ms")
    print(f"\nreply time of {TALKERS} other clients ({TALKERS * TEXTS} texts, closed loop)")
    print(f"{'':44} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'bot, no voice being written out':44} {percentile_ms(quiet, 0.5):>8.1f} "
          f"{percentile_ms(quiet, 0.99):>8.1f}")
    print(f"{f'bot, a {SLOW:.0f} s engine writing out meanwhile':44} "
          f"{percentile_ms(busy, 0.5):>8.1f} {percentile_ms(busy, 0.99):>8.1f}")
    print(f"{'echo bot (same run, text + press)':44} {echo.pct(0.5):>8.1f} {echo.pct(0.99):>8.1f}")


if __name__ == "__main__":
    asyncio.run(main())
