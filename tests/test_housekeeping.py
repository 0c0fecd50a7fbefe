"""Housekeeping (issue 17): handled updates lose their words after INBOX_KEEP_DAYS (their id
stays: a redelivery is still handled once), the access log is kept AUDIT_KEEP_DAYS, a
finished round's answers go RETENTION_DAYS after its meeting (the begeleider told a week
before, once), and each job runs once per day across processes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.clock import FakeClock
from bot.schedule import housekeeping
from bot.state.models import Answer, AuditLog, Inbox
from bot.state.store import Store
from localbotapi.server import UserHandle
from tests.harness import Harness, texts
from tests.test_schedule_bot import hc, plan_meeting  # noqa: F401 (the fixture)
from tests.test_triangle import admin_and_begeleider, client_with_topic

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
        assert done.removed == {"empty_inbox": 2, "purge_audit": 1, "retention": 0}
        assert await _inbox(store) == {1: ("done", False), 2: ("failed", False),
                                       3: ("new", True), 4: ("done", True)}
        async with store.unit() as unit:
            kept = (await unit.session.execute(select(AuditLog.at))).scalars().all()
        assert [NOW - at for at in kept] == [timedelta(days=10)]
        # A redelivered old update is still known: it is not stored (nor handled) again.
        assert not await store.inbox_add(1, 100, {"message": {"text": "woorden 1"}})
        # Within the day nothing runs again; a day later it does.
        assert (await housekeeping.run(store, NOW + timedelta(hours=23),
                                       housekeeping.Keeping())).removed == {}
        assert set((await housekeeping.run(store, NOW + timedelta(hours=24),
                                           housekeeping.Keeping())).removed) == {
            "empty_inbox", "purge_audit", "retention"}
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


async def _pass_until(h: Harness, clock: FakeClock, user: UserHandle, words: str,
                      hours: int = 24) -> list[str]:
    """Passes hour by hour (a notice waits out the night) until `user` got `words`."""
    assert h.runner is not None
    for _ in range(hours):
        await h.runner.dispatcher.pass_now()
        found = [m.content for m in user.messages if words in m.content]
        if found:
            return found
        clock.advance(timedelta(hours=1))
    return []


async def test_an_old_round_goes_a_year_after_its_meeting_told_a_week_before(  # noqa: F811
        hc: tuple[Harness, FakeClock]) -> None:  # noqa: F811
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Onderwerp van ronde een")
    first = await plan_meeting(h, bram, 2)
    clock.advance(timedelta(days=3))  # the meeting was held; the next one starts round 2
    await plan_meeting(h, bram, 30)
    await h.act(sam, sam.send_command("/verder"))
    await h.say(sam, "Onderwerp van ronde twee")
    assert {a.round for a in await h.rows(Answer)} == {1, None}

    clock.advance(first - clock.now() + timedelta(days=365 - 7))
    notices = await _pass_until(h, clock, bram, "Let op: over een week")
    assert len(notices) == 1 and "Sam" in notices[0] and "ronde 1" in notices[0]
    assert h.runner is not None
    await h.runner.dispatcher.pass_now()  # told once, not again
    assert len([m for m in bram.messages if "Let op: over een week" in m.content]) == 1
    assert {a.round for a in await h.rows(Answer)} == {1, None}  # nothing gone yet

    clock.advance(timedelta(days=7, hours=1))
    await h.runner.dispatcher.pass_now()
    assert [a.text for a in await h.rows(Answer)] == ["Onderwerp van ronde twee"]
