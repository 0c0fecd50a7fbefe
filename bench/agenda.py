"""Time to compile and render a typical agenda (15 items) and a 60-item one, per output.

    .venv/bin/python bench/agenda.py [--docs]

Goal: both PDFs of a typical agenda in under 0.5 s. `--docs` also writes the example PDFs
(and a PNG of page 1 of each, with pdftoppm) under docs/.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.agenda import fhir  # noqa: E402
from bot.agenda.compile import compile_agenda  # noqa: E402
from bot.agenda.export_json import to_json  # noqa: E402
from bot.agenda.model import PARTS, Agenda  # noqa: E402
from bot.agenda.pdf import begeleider_pdf, client_pdf  # noqa: E402
from bot.agenda.sample import seed_sample_agenda  # noqa: E402
from bot.agenda.telegram_text import spoken_text, telegram_messages  # noqa: E402
from bot.state.migrate import upgrade  # noqa: E402
from bot.state.unit import Unit  # noqa: E402
from pictos import PictoLibrary  # noqa: E402

NOW = datetime(2025, 11, 24, 12, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[1] / "docs"
RUNS = 5


def best(run: Callable[[], object]) -> float:
    """Best of RUNS, in ms (warm: picto cards are rendered once, then cached on disk)."""
    run()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


async def compile_timed(url: str, extra_topics: int, extra_naasten: int,
                        role: str) -> tuple[Agenda, float]:
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as db:
        client_id = await seed_sample_agenda(db, NOW, extra_topics, extra_naasten)
        await db.commit()
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            agenda = await compile_agenda(Unit(db, False), client_id, set(PARTS), role, NOW)
            times.append(time.perf_counter() - start)
    await engine.dispose()
    return agenda, min(times) * 1000


async def main(write_docs: bool) -> None:
    lib = PictoLibrary.load(cache_dir=Path(tempfile.gettempdir()) / "gespreksmaatje-pictos")
    for name, extra, naasten in (("typical (15 items)", 0, 0), ("60 items", 54, 7)):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            await upgrade(url)
            agenda, ms = await compile_timed(url, extra, naasten, "begeleider")
        items = agenda.item_count()
        print(f"{name}: {items} items in all")
        print(f"  compile          {ms:7.1f} ms")
        pdfs = 0.0
        for label, run in outputs(agenda, lib).items():
            took = best(run)
            pdfs += took if "PDF" in label else 0
            print(f"  {label:16} {took:7.1f} ms")
        print(f"  both PDFs        {pdfs:7.1f} ms  (goal < 500 ms for a typical agenda)")
        if write_docs and extra == 0:
            write_examples(agenda, lib)


def outputs(agenda: Agenda, lib: PictoLibrary) -> dict[str, Callable[[], object]]:
    return {
        "telegram": lambda: telegram_messages(agenda, lib.emoji),
        "spoken text": lambda: spoken_text(agenda),
        "client PDF": lambda: client_pdf(agenda, lib),
        "begeleider PDF": lambda: begeleider_pdf(agenda, lib),
        "JSON": lambda: to_json(agenda),
        "FHIR bundle": lambda: fhir.bundle(agenda, lib.card).model_dump_json(),
    }


def write_examples(agenda: Agenda, lib: PictoLibrary) -> None:
    from dataclasses import replace

    DOCS.mkdir(exist_ok=True)
    for name, data in (("client", client_pdf(replace(agenda, viewer_role="client"), lib)),
                       ("begeleider", begeleider_pdf(agenda, lib))):
        pdf = DOCS / f"agenda-{name}-example.pdf"
        pdf.write_bytes(data)
        subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", "-singlefile",
                        str(pdf), str(pdf.with_suffix(""))], check=True)
        print(f"wrote {pdf} and {pdf.with_suffix('.png')}")


if __name__ == "__main__":
    asyncio.run(main("--docs" in sys.argv))
