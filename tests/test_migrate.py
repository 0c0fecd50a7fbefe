"""The start-up migration: Alembic only when the database is behind."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from bot.state.migrate import alembic_config, current, head, upgrade


def test_the_newest_revision_read_off_the_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert head() == script.get_current_head()


async def test_a_new_database_is_migrated_and_then_left_alone(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    assert await current(url) is None
    await upgrade(url)
    assert await current(url) == head()
    # A second start finds the database at the head and does not load Alembic at all.
    check = ("import asyncio, sys\n"
             "from bot.state.migrate import upgrade\n"
             f"asyncio.run(upgrade({url!r}))\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    out = (await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", check], capture_output=True, text=True,
        check=True, cwd=Path(__file__).parents[1])).stdout
    assert out.strip() == "[]"
