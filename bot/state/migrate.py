"""Run the Alembic migrations (at start-up and through `python -m bot migrate`).

Alembic (with Mako) is about 10 MB of memory that a running bot would keep for nothing:
it is imported only when the database is not at the newest revision yet. Which revision
is the newest is read off the migration files (each names its own and the one before)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.state.store import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
_NAMED = re.compile(r'^(down_revision|revision)\s*=\s*(?:"([^"]*)"|None)', re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def head() -> str:
    """The newest revision: the one no other migration comes after."""
    revisions: set[str] = set()
    earlier: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _NAMED.findall(path.read_text(encoding="utf-8")):
            (revisions if name == "revision" else earlier).add(value)
    heads = revisions - earlier
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def upgrade_sync(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def current(url: str) -> str | None:
    """The database's revision (None: a new database, or one from before Alembic)."""
    engine = make_engine(url)  # as the bot's: a new SQLite file's folder is made
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))
                    ).scalar_one_or_none()
    except DBAPIError as error:
        if "alembic_version" in str(error.orig):  # no such table: nothing migrated yet
            return None
        raise
    finally:
        await engine.dispose()


async def upgrade(url: str) -> None:
    """Migrate to the newest revision; at it already, Alembic is not even loaded.
    Alembic's env runs its own event loop, so it gets a thread of its own."""
    if await current(url) == head():
        return
    await asyncio.to_thread(upgrade_sync, url)
