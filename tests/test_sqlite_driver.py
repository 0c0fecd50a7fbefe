"""The SQLite driver behind the store (bot/state/sqlite_driver.py): one trip to aiosqlite's
thread per statement, and SQLAlchemy gets what it got from aiosqlite itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.state import sqlite_driver
from bot.state.store import make_engine

META = MetaData()
ITEMS = Table("item", META, Column("id", Integer, primary_key=True),
              Column("name", String, unique=True))


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every call that went to a connection's thread."""
    seen: list[str] = []
    real = sqlite_driver.OneTripConnection._execute

    async def counted(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.OneTripConnection, "_execute", counted)
    return seen


async def test_a_statement_is_one_trip_and_gives_what_sqlalchemy_expects(
        tmp_path: Path, trips: list[str]) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(META.create_all)
            made = await connection.execute(insert(ITEMS).values(name="tekenen"))
            assert made.inserted_primary_key == (1,)  # the cursor's lastrowid
            await connection.execute(insert(ITEMS), [{"name": "koken"}, {"name": "fietsen"}])
            back = await connection.execute(
                insert(ITEMS).values(name="zwemmen").returning(ITEMS.c.id))
            assert back.scalar_one() == 4  # RETURNING rows
            changed = await connection.execute(
                update(ITEMS).where(ITEMS.c.id > 2).values(name=ITEMS.c.name + "!"))
            assert changed.rowcount == 2
        async with engine.connect() as connection:
            trips.clear()
            rows = (await connection.execute(select(ITEMS).order_by(ITEMS.c.id))).all()
            assert trips == ["_run"]  # aiosqlite's own way: cursor, execute, fetchall, close
            assert [tuple(r) for r in rows] == [(1, "tekenen"), (2, "koken"),
                                                (3, "fietsen!"), (4, "zwemmen!")]
            streamed = await connection.stream(select(ITEMS.c.name).order_by(ITEMS.c.id))
            assert [r[0] async for r in streamed] == ["tekenen", "koken", "fietsen!",
                                                      "zwemmen!"]
    finally:
        await engine.dispose()


async def test_an_error_reaches_the_caller_and_the_transaction_is_rolled_back(
        tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(META.create_all)
            await connection.execute(insert(ITEMS).values(name="tekenen"))
        with pytest.raises(IntegrityError):
            async with engine.begin() as connection:
                await connection.execute(insert(ITEMS).values(name="koken"))
                await connection.execute(insert(ITEMS).values(name="tekenen"))  # not unique
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(ITEMS)) == 1
    finally:
        await engine.dispose()
