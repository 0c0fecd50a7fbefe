"""A short seeded fuzz run (tests/fuzz.py): hostile and confused people against the real bot.
No update may fail, the bot may cause no Bot API error, every button press is answered (in
time) and every answer a client gave is still stored exactly, a split long text as one.
`bench/fuzz.py` runs the long version. A failure message lists each distinct failure with the
action that first caused it."""

from __future__ import annotations

from pathlib import Path

from tests.fuzz import FuzzConfig, run_fuzz

SEED = 3


async def test_fuzz_short_seeded_run(db_url: str, tmp_path: Path) -> None:
    config = FuzzConfig(seed=SEED, updates=450, max_seconds=40, update_timeout=15)
    report = await run_fuzz(db_url, tmp_path, config)
    summary = f"\n{report.table()}\n{report.failures_text()}"
    assert report.updates >= 300 or report.seconds >= config.max_seconds, summary
    assert report.failed_updates == 0, summary
    assert report.failed_inbox == [], summary
    assert report.not_handled == [], summary
    assert report.bot_errors == [], summary
    assert report.unanswered == [] and report.late == 0, summary
    assert report.answers_broken == [], summary
    assert report.answers_checked > 0, summary
