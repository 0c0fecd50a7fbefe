"""Nothing a person said is lost: kill -9 of the real bot process at many points, restart,
and every message is stored exactly once; a redelivered update is handled once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.state.models import Answer, DialogSession, Inbox
from bot.telegram import inbox
from localbotapi.server import UserHandle
from tests.harness import BotProcess, Harness, harness


@pytest.fixture
async def hp(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, BotProcess]]:
    async with harness(db_url, tmp_path) as h:
        bot = BotProcess(h, tmp_path)
        try:
            yield h, bot
        finally:
            await bot.stop()


async def until(condition: Callable[[], object], bot: BotProcess,
                timeout: float = 90) -> None:  # noqa: ASYNC109
    """Wait for `condition`; restart the bot whenever it died (the crash under test). The
    timeout only bounds a failure: a restart on a busy machine (tests run in parallel) can
    take tens of seconds before the bot handles anything."""
    async def poll() -> None:
        while not await _maybe_async(condition()):
            if bot.dead:
                bot.start()
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def _maybe_async(value: object) -> object:
    return await value if asyncio.iscoroutine(value) else value


async def handled(h: Harness, update_id: int) -> bool:
    async with h.store.unit() as unit:
        row = await unit.session.get(Inbox, update_id)
        if row is None or row.state != "done":
            return False
        pending = await unit.session.scalar(
            select(func.count()).select_from(DialogSession)
            .where(DialogSession.reply_pending.is_(True)))
        return pending == 0


def newest_button(user: UserHandle, label: str) -> tuple[int, str]:
    for message in reversed(user.messages):
        for row in message.buttons:
            for text, data in row:
                if (text == label or text.endswith(" " + label)) and data:
                    return message.message_id, data
    raise AssertionError(f"no button {label!r}: {user.describe()}")


# What Sam does, step by step: ("say", text) or ("tap", label).
SCRIPT = [("tap", "➡️ Beginnen"), ("say", "Ik kan goed tekenen"), ("tap", "➡️ Verder"),
          ("say", "Dat ik grappig ben"), ("say", "En lief"), ("tap", "➡️ Verder"),
          ("say", "Op mezelf wonen"), ("say", "Ander werk"), ("tap", "➡️ Nee, verder"),
          ("say", "Een dag met zon")]
EXPECTED = {"good_at": ["Ik kan goed tekenen"], "appreciated": ["Dat ik grappig ben", "En lief"],
            "agenda": ["Op mezelf wonen", "Ander werk"], "good_day": ["Een dag met zon"]}


async def run_script(h: Harness, bot: BotProcess, sam: UserHandle) -> None:
    for action, value in SCRIPT:
        if action == "say":
            update_id = await sam.send_text(value)
        else:
            # After a crash the question may be asked again: press its newest copy.
            await until(lambda v=value: _has_button(sam, v), bot)
            message_id, data = newest_button(sam, value)
            update_id = await sam.press_data(message_id, data)
        await until(lambda u=update_id: handled(h, u), bot)


def _has_button(user: UserHandle, label: str) -> bool:
    try:
        newest_button(user, label)
        return True
    except AssertionError:
        return False


async def stored_answers(h: Harness) -> dict[str, list[str]]:
    rows = await h.rows(Answer, Answer.removed_at.is_(None))
    result: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: (r.step, r.item, r.part)):
        result.setdefault(row.step, []).append(row.text)
    return result


@pytest.mark.parametrize("crash_at", [
    "stored:1", "stored:4", "stored:9",  # fetched and stored, not yet confirmed
    "handling:2", "handling:5", "handling:8",  # inside the transaction, before the commit
    "committed:3", "committed:7",  # after the commit, before any reply
    "sent_one:4", "sent_one:10",  # in the middle of sending the replies
])
async def test_kill_9_and_restart_loses_nothing(hp: tuple[Harness, BotProcess],
                                                crash_at: str) -> None:
    h, bot = hp
    token = await h.enrol("Sam")
    sam = h.server.user(1001, first_name="Sam")
    bot.start(crash_at=crash_at)
    update_id = await sam.send_command("/start", token)
    await until(lambda: handled(h, update_id), bot)
    await run_script(h, bot, sam)
    assert bot.starts == 2, "the crash point was reached once, then the bot restarted"
    assert await stored_answers(h) == EXPECTED
    update_ids = [r.update_id for r in await h.rows(Answer)]
    assert len(update_ids) == len(set(update_ids)), "an update was handled twice"
    # Sam can go on: the newest buttons on screen belong to the current question.
    (session,) = await h.rows(DialogSession)
    _message_id, data = newest_button(sam, "➡️ Verder")
    assert session.step == "good_day" and data.startswith(f"{session.seq}:")


async def test_redelivered_update_is_handled_once(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    update_id = await sam.send_text("Ik kan goed zingen")
    await h.handled(update_id)
    sent = len(sam.messages)
    original = next(u for u in h.server.all_updates if u["update_id"] == update_id)
    # Telegram sends it again after the bot confirmed it (an update fetched alone is
    # confirmed once its turn committed; that may reach the server after its replies).
    await h.server.wait_for(lambda: h.server.confirmed_offset > update_id, 10,
                            lambda: "the bot never confirmed the update")
    again = h.server.inject_update(dict(original))
    assert again == update_id
    await h.handled(update_id, times=2)
    assert len(sam.messages) == sent
    rows = await h.rows(Answer)
    assert [r.text for r in rows] == ["Ik kan goed zingen"]


async def test_an_update_fetched_alone_is_written_with_its_turn(h: Harness) -> None:
    """Updates that come one at a time: each is written to the inbox in its turn's own
    transaction (one commit, not a commit of its own before the turn), as Telegram sent it."""
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    events: list[tuple[int, str]] = []  # (the database connection, what it did)

    def statement(conn: Any, _cursor: object, sql: str, *_args: object) -> None:
        events.append((id(conn.connection.dbapi_connection), " ".join(sql.split()[:3])))

    def commit(conn: Any) -> None:
        events.append((id(conn.connection.dbapi_connection), "COMMIT"))

    engine = h.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        update_id = await sam.send_text("Ik kan goed zingen")
        await h.handled(update_id)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    # Each connection's transactions (the scheduler, or the replies-sent marks of the
    # update before, may have one of their own in between).
    transactions = [part for key in {k for k, _ in events}
                    for part in " | ".join(e for k, e in events if k == key).split("COMMIT")]
    (turn,) = [t for t in transactions if "INSERT INTO inbox" in t]
    assert "INSERT INTO answer" in turn, events
    done = [e for _k, e in events]
    assert done.count("INSERT INTO inbox") == 1 and "UPDATE inbox SET" not in done
    (row,) = await h.rows(Inbox, Inbox.update_id == update_id)
    assert row.state == "done"
    assert row.payload == next(u for u in h.server.all_updates if u["update_id"] == update_id)


async def test_a_turn_slower_than_the_wait_finds_its_update_in_the_inbox(
        h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the turn does not commit within WITH_TURN_SECONDS, the update is written to the
    inbox before Telegram is told it arrived, and the turn then takes it from there: every
    answer once, every inbox row done and kept as sent."""
    monkeypatch.setattr(inbox, "WITH_TURN_SECONDS", 0.0)
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    await h.say(sam, "Ik kan goed zingen")
    await h.tap(sam, "➡️ Verder")
    await h.say(sam, "Dat ik grappig ben")
    assert await stored_answers(h) == {"good_at": ["Ik kan goed zingen"],
                                       "appreciated": ["Dat ik grappig ben"]}
    rows = await h.rows(Inbox)
    assert rows and all(r.state == "done" for r in rows)
    sent = {u["update_id"]: u for u in h.server.all_updates}
    assert all(r.payload == sent[r.update_id] for r in rows)


async def test_a_failing_turn_while_the_database_hiccups_stores_the_update_first(
        h: Harness) -> None:
    """An update fetched alone whose turn fails while the inbox cannot be written either:
    the bot keeps trying, and Telegram is told the update arrived only once it is stored."""
    assert h.runner is not None
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    runner = h.runner
    real_route, real_add = runner.service._route, h.store.inbox_add_many
    failures = iter([True, True])  # the inbox's next two writes fail
    confirmed_when_stored: list[int] = []

    async def broken(unit, incoming):  # type: ignore[no-untyped-def]
        if incoming.input is not None and incoming.input.text == "boem":
            raise RuntimeError("the database went away")
        return await real_route(unit, incoming)

    async def flaky(rows):  # type: ignore[no-untyped-def]
        if next(failures, False):
            raise RuntimeError("the database went away")
        added = await real_add(rows)
        confirmed_when_stored.append(h.server.confirmed_offset)
        return added

    runner.service._route = broken  # type: ignore[method-assign]
    h.store.inbox_add_many = flaky  # type: ignore[method-assign]
    runner.inbox.retry_seconds = 0.01
    update_id = await sam.send_text("boem")
    await h.handled(update_id)
    await h.server.wait_for(lambda: h.server.confirmed_offset > update_id, 10,
                            lambda: "the update was never confirmed")
    assert confirmed_when_stored and confirmed_when_stored[0] <= update_id
    (row,) = await h.rows(Inbox, Inbox.update_id == update_id)
    assert row.payload == next(u for u in h.server.all_updates if u["update_id"] == update_id)
    assert row.state in {"new", "failed"}  # kept: handled again at the next start, or shown
