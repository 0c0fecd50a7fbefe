"""Several processes on one PostgreSQL: a turn holds the person's session row from the moment
it reads it with the person and their roles (`Unit.person_and_roles`, one statement), so a
second turn on the same session, in another process, waits and then reads what the first one
saved. (SQLite has one process and one writer at a time instead.)"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from bot.state.migrate import upgrade
from bot.state.models import Person
from bot.state.store import Store

FLOW = "client_prep"
USER = 424242


async def _waiting_for_a_lock(store: Store) -> None:
    """Until a server process of this database waits for a row lock."""
    while True:
        async with store.engine.connect() as connection:
            waiting = await connection.scalar(text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"))
        if waiting:
            return
        await asyncio.sleep(0.02)


async def test_a_second_turn_on_the_same_session_waits_for_the_first(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks between processes are PostgreSQL's")
    await upgrade(db_url)
    first_process, second_process = Store(db_url), Store(db_url)
    try:
        async with first_process.unit() as unit:
            person = Person(telegram_user_id=USER, chat_id=USER, name="Sam")
            unit.session.add(person)
            await unit.session.flush()
            await unit.session_row(person.id, FLOW, None, "welcome")
        holding, done = asyncio.Event(), asyncio.Event()

        async def first_turn() -> None:
            async with first_process.unit() as unit:
                found, _roles = await unit.person_and_roles(USER, FLOW)
                assert found is not None
                row = await unit.session_row(found.id, FLOW, None, "welcome")
                holding.set()
                await done.wait()
                row.step, row.seq = "good_at", row.seq + 1
                await unit.save_session(row)

        async def second_turn() -> tuple[str, int]:
            await holding.wait()
            async with second_process.unit() as unit:
                found, _roles = await unit.person_and_roles(USER, FLOW)
                assert found is not None
                row = await unit.session_row(found.id, FLOW, None, "welcome")
                return row.step, row.seq

        first, second = asyncio.create_task(first_turn()), asyncio.create_task(second_turn())
        await holding.wait()
        await asyncio.wait_for(_waiting_for_a_lock(first_process), 10)
        assert not second.done()
        done.set()
        await first
        assert await second == ("good_at", 1)  # what the first turn saved, not a stale copy
        async with first_process.unit() as unit:
            assert await unit.session.scalar(select(func.count()).select_from(Person)) == 1
    finally:
        await first_process.close()
        await second_process.close()
