"""Housekeeping (issue 17): handled updates lose their words after INBOX_KEEP_DAYS (their id
stays: a redelivery is still handled once), the access log is kept AUDIT_KEEP_DAYS, and each
job runs once per day across processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.clock import FakeClock
from bot.schedule import housekeeping
from bot.state.models import AuditLog, Inbox
from bot.state.store import Store
from tests.harness import Harness, texts
from tests.test_schedule_bot import hc  # noqa: F401 (the fixture)

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


async def _inbox(store: Store) -> dict[int, tuple[str, bool]]:
    async with store.unit() as unit:
        rows = (await unit.session.execute(select(Inbox))).scalars()
        return {r.update_id: (r.state, r.payload is not None) for r in rows}


async def test_old_words_go_new_and_unhandled_stay(db_url: str) -> None:
    store = Store(db_url)
    try:
        for update_id, days_ago in ((1, 10), (2, 10), (3, 10), (4, 2)):
            await store.inbox_add(update_id, 100, {"message": {"text": f"woorden {update_id}"}})
            async with store.unit() as unit:
                row = await unit.session.get(Inbox, update_id)
                assert row is not None
                row.received_at = NOW - timedelta(days=days_ago)
                row.state = {1: "done", 2: "failed", 3: "new", 4: "done"}[update_id]
        async with store.unit() as unit:
            for days_ago in (2000, 10):
                unit.session.add(AuditLog(viewer_person_id=None, client_id=None, part="agenda",
                                          allowed=True, at=NOW - timedelta(days=days_ago)))
        done = await housekeeping.run(store, NOW, housekeeping.Keeping(7, 1826))
        assert done == {"empty_inbox": 2, "purge_audit": 1}
        assert await _inbox(store) == {1: ("done", False), 2: ("failed", False),
                                       3: ("new", True), 4: ("done", True)}
        async with store.unit() as unit:
            kept = (await unit.session.execute(select(AuditLog.at))).scalars().all()
        assert [NOW - at for at in kept] == [timedelta(days=10)]
        # A redelivered old update is still known: it is not stored (nor handled) again.
        assert not await store.inbox_add(1, 100, {"message": {"text": "woorden 1"}})
        # Within the day nothing runs again; a day later it does.
        assert await housekeeping.run(store, NOW + timedelta(hours=23),
                                      housekeeping.Keeping()) == {}
        assert set(await housekeeping.run(store, NOW + timedelta(hours=24),
                                          housekeeping.Keeping())) == {"empty_inbox",
                                                                       "purge_audit"}
    finally:
        await store.close()


async def test_two_processes_claim_a_job_once(db_url: str) -> None:
    first, second = Store(db_url), Store(db_url)
    try:
        claims = await asyncio.gather(*(store.claim_job("empty_inbox", NOW, timedelta(days=1))
                                        for store in (first, second, first, second)))
        assert sorted(claims) == [False, False, False, True]
    finally:
        await first.close()
        await second.close()


async def test_the_running_bot_empties_the_inbox_a_week_on(  # noqa: F811
        hc: tuple[Harness, FakeClock]) -> None:  # noqa: F811
    h, clock = hc
    sam = await h.join(1001, "Sam")
    out = await h.tap(sam, "➡️ Beginnen")
    assert "Waar ben jij goed in?" in texts(out)
    await h.say(sam, "Ik kan goed tekenen")
    assert all(kept for _state, kept in (await _inbox(h.store)).values())
    clock.advance(timedelta(days=8))
    assert h.runner is not None  # a pass now, after the start-up pass if that still runs
    await h.runner.dispatcher.pass_now()
    inbox = await _inbox(h.store)
    assert inbox and all(state == "done" and not kept for state, kept in inbox.values())
