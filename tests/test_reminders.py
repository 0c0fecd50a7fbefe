"""The schedule on the database: planning, claiming, sending, restarting, rate limits.
Time is a FakeClock throughout; nothing waits for real time."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from bot.clock import FakeClock
from bot.schedule import (
    Dispatcher,
    PlannedRow,
    ScheduleSettings,
    SendLater,
    Undeliverable,
    claim_due,
    in_quiet_hours,
    plan_for_client,
    release_stale,
    reminder_number,
    reminders_enabled,
    startup,
)
from bot.state.migrate import upgrade
from bot.state.models import (
    AgendaItem,
    Answer,
    Begeleider,
    Client,
    DialogSession,
    Meeting,
    Naaste,
    Organisation,
    Person,
    PlannedSend,
)
from bot.state.store import Store

AMS = ZoneInfo("Europe/Amsterdam")
S = ScheduleSettings()
_ids = itertools.count(1000)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS).astimezone(UTC)  # type: ignore[misc]


@dataclass
class World:
    client_id: int
    client_person: int
    coach_person: int
    naaste_persons: list[int]
    meeting_id: int


@dataclass
class Outbox:
    """The bot's send callback in the tests: records what went to whom, and when."""

    clock: FakeClock
    sent: list[tuple[datetime, str, int | None, int]] = field(default_factory=list)

    async def __call__(self, row: PlannedRow) -> None:
        self.sent.append((self.clock.now(), row.kind, row.person_id, row.id))
        await asyncio.sleep(0)

    def kinds(self) -> list[tuple[str, int | None]]:
        return [(kind, person) for _, kind, person, _ in self.sent]


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await upgrade(db_url)
    opened = Store(db_url)
    yield opened
    await opened.close()


async def _person(store: Store, name: str) -> int:
    async with store.unit() as unit:
        number = next(_ids)
        person = Person(telegram_user_id=number, chat_id=number, name=name)
        unit.session.add(person)
        await unit.session.flush()
        return person.id


async def make_world(store: Store, now: datetime, starts_at: datetime,
                     naasten: int = 2) -> World:
    client_person = await _person(store, "Sam")
    coach_person = await _person(store, "Bea")
    naaste_persons = [await _person(store, f"naaste {i}") for i in range(naasten)]
    async with store.unit() as unit:
        organisation = Organisation(name="Zorg")
        unit.session.add(organisation)
        await unit.session.flush()
        coach = Begeleider(organisation_id=organisation.id, person_id=coach_person, name="Bea")
        unit.session.add(coach)
        await unit.session.flush()
        client = Client(organisation_id=organisation.id, person_id=client_person,
                        begeleider_id=coach.id, name="Sam")
        unit.session.add(client)
        await unit.session.flush()
        for i, person_id in enumerate(naaste_persons):
            unit.session.add(Naaste(client_id=client.id, person_id=person_id,
                                    name=f"naaste {i}", relation="zus"))
        meeting = Meeting(client_id=client.id, starts_at=starts_at, created_at=now)
        unit.session.add(meeting)
        await unit.session.flush()
        return World(client.id, client_person, coach_person, naaste_persons, meeting.id)


async def plan(store: Store, world: World, now: datetime) -> str:
    async with store.unit() as unit:
        return (await plan_for_client(unit, world.client_id, now, S)).note


async def rows(store: Store, world: World | None = None) -> list[PlannedSend]:
    async with store.unit() as unit:
        query = select(PlannedSend).order_by(PlannedSend.id)
        if world is not None:
            query = query.where(PlannedSend.client_id == world.client_id)
        return list((await unit.session.execute(query)).scalars())


async def set_session(store: Store, world: World, **values: object) -> None:
    async with store.unit() as unit:
        session = (await unit.session.execute(select(DialogSession).where(
            DialogSession.person_id == world.client_person))).scalar_one_or_none()
        if session is None:
            session = DialogSession(person_id=world.client_person, client_id=world.client_id,
                                    flow="client_prep", step="q_agenda", data={},
                                    updated_at=local(2025, 3, 1, 12, 0))
            unit.session.add(session)
        for key, value in values.items():
            setattr(session, key, value)


async def walk(dispatcher: Dispatcher, clock: FakeClock, until: datetime,
               step: timedelta = timedelta(hours=1)) -> None:
    """Move the clock step by step, letting the dispatcher work at every step."""
    while clock.now() < until:
        clock.advance(step)
        await dispatcher.tick()


# --------------------------------------------------------------------------- a month
async def test_a_month_day_by_day_sends_exactly_the_schedule(store: Store) -> None:
    clock = FakeClock(local(2025, 3, 1, 13, 0))
    world = await make_world(store, clock.now(), local(2025, 3, 31, 14, 0))
    assert await plan(store, world, clock.now()) == ""
    outbox = Outbox(clock)
    dispatcher = Dispatcher(store, clock, outbox, settings=S)
    n0, n1 = world.naaste_persons
    await walk(dispatcher, clock, local(2025, 3, 20, 9, 0))
    async with store.unit() as unit:  # naaste 1 adds a topic: no nudge for them
        unit.session.add(AgendaItem(client_id=world.client_id, owner_role="naaste",
                                    owner_person_id=n1, text="De verhuizing"))
    await walk(dispatcher, clock, local(2025, 4, 5, 12, 0))
    got = {(kind, person): at for at, kind, person, _ in outbox.sent}
    assert len(outbox.sent) == len(got) + 2  # only the reminders repeat
    expected = {
        ("naaste_agenda", n0): local(2025, 3, 17, 14, 0),
        ("naaste_agenda", n1): local(2025, 3, 17, 14, 0),
        ("naaste_nudge", n0): local(2025, 3, 28, 14, 0),
        ("begeleider_agenda", world.coach_person): local(2025, 3, 29, 14, 0),
        ("after_meeting", world.client_person): local(2025, 4, 1, 10, 0),
    }
    for key, at in expected.items():
        assert abs(got.pop(key) - at) < timedelta(seconds=5), key
    reminders = [at for at, kind, _, _ in outbox.sent if kind == "client_reminder"]
    assert [r.astimezone(AMS).strftime("%d %H:%M") for r in reminders] == [
        "20 14:00", "23 14:00", "26 14:00"]
    assert not any(in_quiet_hours(at, S) for at, *_ in outbox.sent)
    cancelled = [(r.kind, r.person_id) for r in await rows(store) if r.state != "sent"]
    assert cancelled == [("naaste_nudge", n1)]  # planned, then dropped when n1 added a topic


# --------------------------------------------------------------------------- re-planning
async def test_an_organisation_keeps_its_own_quiet_hours(store: Store) -> None:
    """Zorg keeps 13:00-15:00 quiet: the naasten's agenda (due at the meeting's time of day,
    14:00) waits until 15:00 and goes out then; the deployment's 21:00-09:00 is not used."""
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 6, 2, 14, 0))
    async with store.unit() as unit:
        client = await unit.session.get(Client, world.client_id)
        assert client is not None
        organisation = await unit.session.get(Organisation, client.organisation_id)
        assert organisation is not None
        organisation.quiet_start, organisation.quiet_end = "13:00", "15:00"
    await plan(store, world, clock.now())
    due = {(r.kind, r.person_id): r.due_at for r in await rows(store, world)}
    assert due[("naaste_agenda", world.naaste_persons[0])] == local(2025, 5, 19, 15, 0)
    outbox = Outbox(clock)
    dispatcher = Dispatcher(store, clock, outbox, settings=S)
    await walk(dispatcher, clock, local(2025, 5, 19, 12, 0), timedelta(hours=6))
    await walk(dispatcher, clock, local(2025, 5, 19, 16, 0), timedelta(minutes=30))
    agendas = [when for when, kind, _person, _row in outbox.sent if kind == "naaste_agenda"]
    assert agendas and all(when >= local(2025, 5, 19, 15, 0) for when in agendas)
    assert not any(local(2025, 5, 19, 13, 0) <= when < local(2025, 5, 19, 15, 0)
                   for when, *_rest in outbox.sent)


async def test_a_new_date_moves_the_rows_and_cancelling_cancels_them(store: Store) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 6, 2, 14, 0))
    await plan(store, world, clock.now())
    before = {(r.kind, r.person_id): (r.id, r.due_at) for r in await rows(store)}
    assert before[("naaste_agenda", world.naaste_persons[0])][1] == local(2025, 5, 19, 14, 0)
    async with store.unit() as unit:
        meeting = await unit.session.get(Meeting, world.meeting_id)
        assert meeting is not None
        meeting.starts_at = local(2025, 6, 12, 10, 0)
    assert await plan(store, world, clock.now()) == ""
    after = {(r.kind, r.person_id): (r.id, r.due_at) for r in await rows(store)
             if r.state == "planned"}
    assert after.keys() == before.keys()
    assert after[("naaste_agenda", world.naaste_persons[0])] == (
        before[("naaste_agenda", world.naaste_persons[0])][0], local(2025, 5, 29, 10, 0))
    # The date moves to next week: a note for the begeleider, the agenda goes now.
    async with store.unit() as unit:
        meeting = await unit.session.get(Meeting, world.meeting_id)
        assert meeting is not None
        meeting.starts_at = local(2025, 5, 8, 14, 0)
    note = await plan(store, world, clock.now())
    assert "over 7 dagen" in note and "De agenda voor de naasten: nu meteen." in note
    async with store.unit() as unit:
        meeting = await unit.session.get(Meeting, world.meeting_id)
        assert meeting is not None
        meeting.cancelled_at = clock.now()
    await plan(store, world, clock.now())
    assert {r.state for r in await rows(store)} == {"cancelled"}
    outbox = Outbox(clock)
    await walk(Dispatcher(store, clock, outbox, settings=S), clock, local(2025, 6, 20, 12, 0),
               timedelta(hours=6))
    assert outbox.sent == []


async def test_a_naaste_who_joins_late_still_gets_the_agenda(store: Store) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 5, 20, 14, 0), naasten=1)
    outbox = Outbox(clock)
    dispatcher = Dispatcher(store, clock, outbox, settings=S)
    await plan(store, world, clock.now())
    await walk(dispatcher, clock, local(2025, 5, 10, 12, 0))
    late = await _person(store, "oom")
    async with store.unit() as unit:
        unit.session.add(Naaste(client_id=world.client_id, person_id=late, name="oom",
                                relation="oom"))
    await walk(dispatcher, clock, local(2025, 5, 10, 14, 0))  # the hourly re-plan finds them
    assert ("naaste_agenda", late) in outbox.kinds()


# --------------------------------------------------------------------------- restarts
class Crash(BaseException):
    """The process dies in the middle of a batch."""


async def test_restart_in_the_middle_loses_and_duplicates_nothing(store: Store,
                                                                  db_url: str) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 5, 20, 14, 0), naasten=6)
    await plan(store, world, clock.now())
    clock.set(local(2025, 5, 6, 14, 0))  # the naaste agendas are due
    delivered: list[tuple[str, int | None]] = []

    async def dies_after_two(row: PlannedRow) -> None:
        if len(delivered) == 2:
            raise Crash
        delivered.append((row.kind, row.person_id))

    first = Dispatcher(store, clock, dies_after_two, settings=S, worker_id="first", batch=4)
    with pytest.raises(Crash):
        await first.tick()
    # A hard crash as well: another worker claimed rows and vanished before sending.
    orphans = await claim_due(store, clock.now(), "vanished", limit=2)
    assert len(orphans) == 2
    # The bot is down for a while; it comes back at night: nothing goes out until 09:00.
    clock.set(local(2025, 5, 18, 23, 0))
    second_store = Store(db_url)
    outbox = Outbox(clock)
    second = Dispatcher(second_store, clock, outbox, settings=S, worker_id="second")
    assert await startup(second_store, clock, second) == 0
    await walk(second, clock, local(2025, 5, 25, 12, 0), timedelta(minutes=30))
    await second_store.close()
    everything = delivered + outbox.kinds()
    naasten = [("naaste_agenda", p) for p in world.naaste_persons]
    assert sorted(k for k in everything if k[0] == "naaste_agenda") == sorted(naasten)
    assert everything.count(("begeleider_agenda", world.coach_person)) == 1
    assert everything.count(("after_meeting", world.client_person)) == 1
    # After the downtime: one reminder, not a pile; nothing at night.
    assert everything.count(("client_reminder", world.client_person)) == 1
    assert min(at for at, *_ in outbox.sent) == local(2025, 5, 19, 9, 0)
    assert not any(in_quiet_hours(at, S) for at, *_ in outbox.sent)
    # The naasten whose agenda only came after the downtime get no nudge right behind it.
    late = {p for at, kind, p, _ in outbox.sent if kind == "naaste_agenda"}
    assert len(late) == 4
    assert sorted((r.kind, r.person_id) for r in await rows(store) if r.state != "sent") == \
        sorted(("naaste_nudge", p) for p in late)
    assert sorted(p for _, kind, p, _ in outbox.sent if kind == "naaste_nudge") == \
        sorted(set(world.naaste_persons) - late)


@pytest.mark.skipif(not os.environ.get("TEST_POSTGRES_URL"), reason="needs PostgreSQL")
async def test_two_processes_on_one_postgres_send_each_row_once(store: Store,
                                                                db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("two processes share PostgreSQL, not SQLite")
    start = local(2025, 5, 1, 12, 0)
    worlds = [await make_world(store, start, local(2025, 5, 20, 14, 0), naasten=20)
              for _ in range(5)]
    for world in worlds:
        await plan(store, world, start)
    stores = [Store(db_url), Store(db_url)]
    clocks = [FakeClock(local(2025, 5, 6, 14, 0)) for _ in stores]
    outboxes = [Outbox(clock) for clock in clocks]
    dispatchers = [Dispatcher(s, c, o, rate=1000.0, settings=S, worker_id=f"w{i}", batch=7)
                   for i, (s, c, o) in enumerate(zip(stores, clocks, outboxes, strict=True))]
    for _ in range(3):  # a few passes, all at once
        await asyncio.gather(*(d.tick() for d in dispatchers))
    for s in stores:
        await s.close()
    ids = [row_id for outbox in outboxes for *_, row_id in outbox.sent]
    assert len(ids) == len(set(ids)) == 100
    sent = [r for r in await rows(store) if r.state == "sent"]
    assert sorted(r.id for r in sent) == sorted(ids)
    assert {r.kind for r in sent} == {"naaste_agenda"}


@pytest.mark.skipif(not os.environ.get("TEST_POSTGRES_URL"), reason="needs PostgreSQL")
async def test_concurrent_claims_on_postgres_never_overlap(store: Store, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("two processes share PostgreSQL, not SQLite")
    start = local(2025, 5, 1, 12, 0)
    world = await make_world(store, start, local(2025, 5, 20, 14, 0), naasten=100)
    await plan(store, world, start)
    stores = [Store(db_url), Store(db_url)]
    now = local(2025, 5, 6, 14, 0)
    batches = await asyncio.gather(*(claim_due(stores[i % 2], now, f"w{i}", limit=7)
                                     for i in range(20)))
    for s in stores:
        await s.close()
    ids = [row.id for batch in batches for row in batch]
    assert all(len(batch) <= 7 for batch in batches)
    assert len(ids) == len(set(ids)) == 100
    assert sum(1 for batch in batches if batch) >= 15  # they really ran side by side


# --------------------------------------------------------------------------- the limits
@pytest.mark.parametrize("story", ["silent", "stops", "off", "finishes", "busy"])
async def test_reminder_limits_hold_over_a_month(store: Store, story: str) -> None:
    clock = FakeClock(local(2025, 9, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 10, 1, 15, 0), naasten=0)
    await set_session(store, world)
    await plan(store, world, clock.now())
    outbox = Outbox(clock)
    dispatcher = Dispatcher(store, clock, outbox, settings=S)
    await walk(dispatcher, clock, local(2025, 9, 21, 12, 0))  # the first reminder is out
    assert len([k for k in outbox.kinds() if k[0] == "client_reminder"]) == 1
    async with store.unit() as unit:
        assert await reminder_number(unit, world.client_id) == 2
        assert await reminders_enabled(unit, world.client_person)
    if story == "stops":
        await set_session(store, world, status="stopped")
    elif story == "off":
        await set_session(store, world, data={"reminders": False})
        async with store.unit() as unit:
            assert not await reminders_enabled(unit, world.client_person)
    elif story == "finishes":
        await set_session(store, world, step="done")
    elif story == "busy":  # the client answers every afternoon: no more reminders
        for day in range(21, 31):
            await walk(dispatcher, clock, local(2025, 9, day, 16, 0))
            async with store.unit() as unit:
                unit.session.add(Answer(client_id=world.client_id, step="q_agenda",
                                        text="werk", created_at=clock.now()))
    await walk(dispatcher, clock, local(2025, 10, 3, 12, 0))
    reminders = [at for at, kind, _, _ in outbox.sent if kind == "client_reminder"]
    expected = {"silent": 3, "stops": 1, "off": 1, "finishes": 1, "busy": 1}[story]
    assert len(reminders) == expected
    assert all(b - a >= timedelta(days=3) for a, b in itertools.pairwise(reminders))
    assert not any(in_quiet_hours(at, S) for at in reminders)
    assert all(at < local(2025, 10, 1, 3, 0) for at in reminders)
    after = [k for k in outbox.kinds() if k[0] == "after_meeting"]
    assert len(after) == (0 if story == "stops" else 1)


# --------------------------------------------------------------------------- Telegram's limits
async def test_a_burst_of_200_naasten_keeps_to_the_rate(store: Store) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 5, 20, 14, 0), naasten=200)
    await plan(store, world, clock.now())
    clock.set(local(2025, 5, 6, 14, 0))
    outbox = Outbox(clock)
    sent = await Dispatcher(store, clock, outbox, rate=25.0, settings=S).tick()
    assert sent == 200
    per_second: dict[int, int] = {}
    for at, *_ in outbox.sent:
        second = int((at - outbox.sent[0][0]).total_seconds())
        per_second[second] = per_second.get(second, 0) + 1
    assert max(per_second.values()) <= 25
    assert outbox.sent[-1][0] - outbox.sent[0][0] < timedelta(seconds=9)  # and no dawdling
    assert len({person for _, _, person, _ in outbox.sent}) == 200


async def test_one_chat_gets_at_most_one_message_a_second(store: Store) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    worlds = [await make_world(store, clock.now(), local(2025, 5, 20, 14, 0), naasten=1)
              for _ in range(5)]
    shared = worlds[0].naaste_persons[0]  # one aunt is naaste of five clients
    async with store.unit() as unit:
        for world in worlds[1:]:
            naaste = (await unit.session.execute(select(Naaste).where(
                Naaste.client_id == world.client_id))).scalar_one()
            naaste.person_id = shared
    for world in worlds:
        await plan(store, world, clock.now())
    clock.set(local(2025, 5, 6, 14, 0))
    outbox = Outbox(clock)
    assert await Dispatcher(store, clock, outbox, settings=S).tick() == 5
    times = [at for at, *_ in outbox.sent]
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(times))


async def test_retry_after_is_honoured_and_nothing_is_lost(store: Store) -> None:
    clock = FakeClock(local(2025, 5, 1, 12, 0))
    world = await make_world(store, clock.now(), local(2025, 5, 20, 14, 0), naasten=10)
    await plan(store, world, clock.now())
    clock.set(local(2025, 5, 6, 14, 0))
    outbox = Outbox(clock)
    calls = 0

    async def flaky(row: PlannedRow) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise SendLater(30)
        if row.person_id == world.naaste_persons[-1]:
            raise Undeliverable("blocked")
        await outbox(row)

    dispatcher = Dispatcher(store, clock, flaky, settings=S)
    assert await dispatcher.tick() == 3
    hit = clock.now()
    clock.advance(timedelta(seconds=10))
    assert await dispatcher.tick() == 0  # still waiting
    clock.advance(timedelta(seconds=25))
    assert await dispatcher.tick() == 6
    assert all(at >= hit + timedelta(seconds=30) for at, *_ in outbox.sent[3:])
    ids = [row_id for *_, row_id in outbox.sent]
    assert len(ids) == len(set(ids)) == 9
    states = [r.state for r in await rows(store) if r.kind == "naaste_agenda"]
    assert sorted(states) == ["cancelled"] + ["sent"] * 9  # the blocked one is not retried


async def test_the_claims_of_a_process_that_died_are_taken_over_at_once(
        store: Store, db_url: str) -> None:
    """PostgreSQL: a process claims due rows and dies before it sends them. Its claims are
    not waited out (CLAIM_LEASE, ten minutes): its worker's alive lock went with its
    connection, so the next pass of another process sends them, each once. While it lives,
    its claims are its own, however old."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two processes share PostgreSQL, not SQLite")
    start = local(2025, 5, 1, 12, 0)
    world = await make_world(store, start, local(2025, 5, 20, 14, 0), naasten=6)
    await plan(store, world, start)
    now = local(2025, 5, 6, 14, 0)
    dying, living = Store(db_url), Store(db_url)
    try:
        claimed = await claim_due(dying, now, "dying-worker", limit=4)
        assert len(claimed) == 4
        later = now + timedelta(minutes=5)  # well within the lease
        assert await release_stale(living, later) == 0  # the claimer lives: its claims stay
        await dying.close()  # the process dies: its connections go
        # Not in the first minute after the claim (sending takes seconds: a lock lost
        # with a live process's connection never frees a send under way).
        assert await release_stale(living, now + timedelta(seconds=30)) == 0
        clock = FakeClock(later)
        outbox = Outbox(clock)
        dispatcher = Dispatcher(living, clock, outbox, rate=1000.0, settings=S,
                                worker_id="living-worker")
        assert await dispatcher.tick() == 6
        assert sorted(row_id for *_, row_id in outbox.sent) == sorted(
            r.id for r in await rows(store, world) if r.kind == "naaste_agenda")
        assert {r.state for r in await rows(store, world) if r.kind == "naaste_agenda"} == {
            "sent"}
    finally:
        await dying.close()
        await living.close()


async def test_a_worker_takes_its_alive_lock_again_after_losing_its_connection(
        db_url: str) -> None:
    """PostgreSQL: the connection that holds a worker's alive lock is lost (here: its
    server process is ended, as in a database restart). Others see the worker gone; at its
    next claim it takes the lock again and is alive once more."""
    if not db_url.startswith("postgresql"):
        pytest.skip("two processes share PostgreSQL, not SQLite")
    worker, other = Store(db_url), Store(db_url)
    try:
        await worker.keep_alive("w1")
        assert await other.workers_gone({"w1", "nobody"}) == {"nobody"}
        async with other.engine.connect() as connection:
            await connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND classid = 18253 AND objsubid = 2 "
                "AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"))
        assert await other.workers_gone({"w1"}) == {"w1"}
        await worker.keep_alive("w1")  # what claim_due does before each claim
        assert await other.workers_gone({"w1"}) == set()
    finally:
        await worker.close()
        await other.close()
