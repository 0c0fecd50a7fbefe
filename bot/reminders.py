"""The schedule on the database: plan, claim, send.

The `planned_send` table is the truth; memory only paces. `plan_for_client` turns the pure plan
of `bot/schedule.py` into rows (insert / move / cancel); `claim_due` claims due rows atomically
(two bot processes on one PostgreSQL never send one row twice); `Dispatcher` sends claimed rows
through a callback of the bot, within Telegram's rate limits, and marks them sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.clock import Clock
from bot.dialogs.client_prep import FLOW as CLIENT_FLOW
from bot.schedule import (
    AFTER_MEETING,
    CLIENT_REMINDER,
    ClientState,
    Done,
    MeetingInfo,
    NaasteInfo,
    Plan,
    ScheduleSettings,
    in_quiet_hours,
    out_of_quiet,
    plan,
)
from bot.state.models import (
    AgendaItem,
    Answer,
    Begeleider,
    Client,
    DialogSession,
    Meeting,
    Naaste,
    Person,
    PlannedSend,
)
from bot.state.store import Store, Unit

log = logging.getLogger(__name__)

SendFn = Callable[[PlannedSend], Awaitable[None]]
PREP_FLOW = CLIENT_FLOW.name
# A late send moved by a 429 keeps its delay when re-planned within this time.
RETRY_HOLD = timedelta(minutes=15)
# A claim this old belongs to a process that died: its row goes back to 'planned'.
CLAIM_LEASE = timedelta(minutes=10)


class SendLater(Exception):
    """Raised by the send callback: try this row again after `retry_after` (Telegram's 429,
    or a network error). Any exception with a `retry_after` attribute (like
    `telegram.error.RetryAfter`) is treated the same way."""

    def __init__(self, retry_after: float | timedelta) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after = retry_after


class Undeliverable(Exception):
    """Raised by the send callback: this row can never go out (the person blocked the bot,
    the chat is gone). The row is cancelled (its claim kept: not planned again)."""


# --------------------------------------------------------------------------- the flag
def reminders_flag(session: DialogSession | None) -> bool:
    """Reminders are on unless the client turned them off in /instellingen."""
    data = session.data if session is not None and session.data else {}
    return bool(data.get("reminders", True))


async def reminders_enabled(unit: Unit, person: Person | int) -> bool:
    """The client's choice, from `dialog_session.data["reminders"]` of their client_prep."""
    person_id = person if isinstance(person, int) else person.id
    return reminders_flag(await _prep_session(unit, person_id))


async def _prep_session(unit: Unit, person_id: int | None) -> DialogSession | None:
    if person_id is None:
        return None
    return (await unit.session.execute(select(DialogSession).where(
        DialogSession.person_id == person_id, DialogSession.flow == PREP_FLOW))
    ).scalar_one_or_none()


# --------------------------------------------------------------------------- planning
async def plan_for_client(unit: Unit, client_id: int, now: datetime,
                          settings: Any = None) -> Plan:
    """Bring the client's planned sends in line with the schedule (call it after the meeting
    date is set, changed or cancelled, and when a naaste joins). Returns the plan; its `note`
    is for the begeleider when the date is late or past."""
    s = ScheduleSettings.from_settings(settings)
    client = await _lock_client(unit, client_id)
    if client is None:
        return Plan(())
    rows = list((await unit.session.execute(
        select(PlannedSend).where(PlannedSend.client_id == client_id)
        .order_by(PlannedSend.id))).scalars())
    meeting = await unit.meeting(client_id)
    if meeting is None or meeting.starts_at is None:
        result = Plan(())
    else:
        since = _round_start(meeting, rows)
        done = [Done(r.kind, r.person_id, r.sent_at or r.due_at) for r in rows
                if _went(r) and (r.sent_at or r.due_at) >= since]
        info = MeetingInfo(meeting.starts_at, since)
        result = plan(info, await _client_state(unit, client), await _naasten(unit, client_id),
                      done, now, s)
    _apply(unit, client_id, result, [r for r in rows if r.state == "planned"], now, s)
    return result


async def _lock_client(unit: Unit, client_id: int) -> Client | None:
    """On PostgreSQL, two processes re-planning one client take turns (no double rows)."""
    query = select(Client).where(Client.id == client_id)
    if unit.is_postgres:
        query = query.with_for_update()
    return (await unit.session.execute(query)).scalar_one_or_none()


def _went(row: PlannedSend) -> bool:
    """Sent, being sent, or tried and given up (cancelled after a claim): not again."""
    return row.state in ("sent", "claimed") or (row.state == "cancelled"
                                                and row.claimed_by is not None)


def _round_start(meeting: Meeting, rows: Sequence[PlannedSend]) -> datetime:
    """Sends count for this meeting from when it was made, or from the check after an earlier
    meeting (a reused meeting row starts a new round there)."""
    assert meeting.starts_at is not None
    ends = [r.sent_at for r in rows if r.kind == AFTER_MEETING and r.state == "sent"
            and r.sent_at is not None and r.sent_at < meeting.starts_at]
    return max([meeting.created_at, *ends])


def _reachable(person: Person | None) -> int | None:
    return person.id if person is not None and not person.blocked_bot else None


async def _client_state(unit: Unit, client: Client) -> ClientState:
    person = await unit.session.get(Person, client.person_id) if client.person_id else None
    begeleider = (await unit.session.get(Begeleider, client.begeleider_id)
                  if client.begeleider_id else None)
    coach = (await unit.session.get(Person, begeleider.person_id)
             if begeleider is not None and begeleider.person_id else None)
    session = await _prep_session(unit, client.person_id)
    last_answer = await unit.session.scalar(
        select(func.max(Answer.created_at)).where(Answer.client_id == client.id))
    moves = [m for m in (last_answer, session.updated_at if session else None) if m is not None]
    return ClientState(
        person_id=_reachable(person), begeleider_person_id=_reachable(coach),
        finished=session is not None and session.step == "done",
        stopped=session is not None and session.status == "stopped",
        reminders_on=reminders_flag(session), last_activity=max(moves) if moves else None)


async def _naasten(unit: Unit, client_id: int) -> list[NaasteInfo]:
    added = set((await unit.session.execute(
        select(AgendaItem.owner_person_id).where(
            AgendaItem.client_id == client_id, AgendaItem.removed_at.is_(None)))).scalars())
    rows = (await unit.session.execute(
        select(Naaste, Person).outerjoin(Person, Person.id == Naaste.person_id)
        .where(Naaste.client_id == client_id, Naaste.removed_at.is_(None))
        .order_by(Naaste.id))).all()
    return [NaasteInfo(_reachable(person), person is not None and person.id in added)
            for _naaste, person in rows]


def _apply(unit: Unit, client_id: int, result: Plan, planned: Sequence[PlannedSend],
           now: datetime, s: ScheduleSettings) -> None:
    """Insert what is new, move what changed, cancel what no longer belongs."""
    existing: dict[tuple[str, int | None], PlannedSend] = {}  # planned rows by (kind, person)
    for row in planned:
        if (row.kind, row.person_id) in existing:
            row.state = "cancelled"  # a double row (should not happen): keep one
        else:
            existing[(row.kind, row.person_id)] = row
    for send in result.sends:
        match = existing.pop(send.key, None)
        if match is None:
            unit.session.add(PlannedSend(kind=send.kind, client_id=client_id,
                                         person_id=send.person_id, due_at=send.due_at,
                                         state="planned"))
        elif match.due_at != send.due_at and not _held(match, send.asap, now, s):
            match.due_at = send.due_at
    for row in existing.values():
        row.state = "cancelled"


def _held(row: PlannedSend, asap: bool, now: datetime, s: ScheduleSettings) -> bool:
    """A late row that a 429 pushed a little into the future keeps that delay."""
    return (asap and now < row.due_at <= now + RETRY_HOLD
            and not in_quiet_hours(row.due_at, s))


async def replan_all(store: Store, now: datetime, settings: Any = None) -> int:
    """Re-plan every client with a meeting or planned sends (start-up, and once an hour)."""
    async with store.unit() as unit:
        with_meeting = set((await unit.session.execute(
            select(Meeting.client_id).distinct())).scalars())
        with_rows = set((await unit.session.execute(
            select(PlannedSend.client_id).where(PlannedSend.state == "planned")
            .distinct())).scalars())
    for client_id in sorted(with_meeting | with_rows):
        async with store.unit() as unit:
            await plan_for_client(unit, client_id, now, settings)
    return len(with_meeting | with_rows)


async def _replan_due(store: Store, now: datetime, settings: Any) -> None:
    """Just before sending: the client may have finished, stopped, answered; a naaste may
    have added something. The row then moves or goes."""
    async with store.unit() as unit:
        due = list((await unit.session.execute(
            select(PlannedSend.client_id).where(PlannedSend.state == "planned",
                                                PlannedSend.due_at <= now)
            .distinct())).scalars())
    for client_id in due:
        async with store.unit() as unit:
            await plan_for_client(unit, client_id, now, settings)


# --------------------------------------------------------------------------- claiming
def _claim_tag(worker_id: str, now: datetime) -> str:
    """Who claimed, and when (so a claim of a dead process can expire)."""
    return f"{worker_id[:48]}@{int(now.timestamp())}"


def _claimed_at(tag: str | None) -> datetime | None:
    stamp = (tag or "").rpartition("@")[2]
    return datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None


async def claim_due(store: Store, now: datetime, worker_id: str,
                    limit: int = 25) -> list[PlannedSend]:
    """Claim up to `limit` due rows for this worker, oldest first. One statement: on
    PostgreSQL the picking skips rows another process holds, and the outer WHERE re-checks
    the state after the lock; on SQLite one statement is atomic by itself."""
    # MATERIALIZED: PostgreSQL may otherwise run the subquery more than once and claim
    # more than `limit` rows.
    pick = (select(PlannedSend.id)
            .where(PlannedSend.state == "planned", PlannedSend.due_at <= now)
            .order_by(PlannedSend.due_at, PlannedSend.id).limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked").prefix_with("MATERIALIZED"))
    claim = (update(PlannedSend)
             .where(PlannedSend.id.in_(select(pick.c.id)), PlannedSend.state == "planned")
             .values(state="claimed", claimed_by=_claim_tag(worker_id, now))
             .returning(PlannedSend)
             .execution_options(synchronize_session=False))
    async with store.unit() as unit:
        rows = list((await unit.session.execute(claim)).scalars())
    return sorted(rows, key=lambda r: (r.due_at, r.id))


async def _finish(store: Store, row: PlannedSend, **values: Any) -> bool:
    """Change a row we hold; False when our claim was lost meanwhile."""
    async with store.unit() as unit:
        result = await unit.session.execute(
            update(PlannedSend)
            .where(PlannedSend.id == row.id, PlannedSend.state == "claimed",
                   PlannedSend.claimed_by == row.claimed_by)
            .values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


async def mark_sent(store: Store, row: PlannedSend, now: datetime) -> bool:
    return await _finish(store, row, state="sent", sent_at=now)


async def release(store: Store, row: PlannedSend, due_at: datetime) -> bool:
    """Give a claimed row back, due at `due_at`."""
    return await _finish(store, row, state="planned", claimed_by=None, due_at=due_at)


async def release_stale(store: Store, now: datetime, lease: timedelta = CLAIM_LEASE) -> int:
    """Claims older than `lease` belong to a process that died before it sent (or before it
    wrote 'sent'): they go back to 'planned'. Sending takes seconds, so a live claim is young."""
    async with store.unit() as unit:
        claimed = list((await unit.session.execute(
            select(PlannedSend).where(PlannedSend.state == "claimed"))).scalars())
    freed = 0
    for row in claimed:
        at = _claimed_at(row.claimed_by)
        if at is None or now - at >= lease:
            freed += await _finish(store, row, state="planned", claimed_by=None)
    return freed


async def reminder_number(unit: Unit, client_id: int) -> int:
    """Which reminder this is for the current meeting (1, 2 or 3): for the text."""
    rows = list((await unit.session.execute(select(PlannedSend).where(
        PlannedSend.client_id == client_id))).scalars())
    meeting = await unit.meeting(client_id)
    since = (_round_start(meeting, rows) if meeting is not None and meeting.starts_at
             else datetime.min.replace(tzinfo=UTC))
    return 1 + sum(1 for r in rows if r.kind == CLIENT_REMINDER and r.state == "sent"
                   and r.sent_at is not None and r.sent_at >= since)


# --------------------------------------------------------------------------- sending
def _retry_seconds(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return None


def default_worker_id() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """Sends what is due through `send(row)`; the bot's callback decides what the message
    is. Paces to `rate` messages/s overall and one per `per_chat` seconds per person, honours
    a `retry_after`, never sends in quiet hours."""

    def __init__(self, store: Store, clock: Clock, send: SendFn, rate: float = 25.0, *,
                 per_chat: float = 1.0, settings: Any = None, worker_id: str | None = None,
                 batch: int = 25, replan_every: timedelta = timedelta(hours=1),
                 lease: timedelta = CLAIM_LEASE) -> None:
        self.store, self.clock, self.send = store, clock, send
        self.interval = 1.0 / rate
        self.per_chat = timedelta(seconds=per_chat)
        self.settings = ScheduleSettings.from_settings(settings)
        self.worker_id = worker_id or default_worker_id()
        self.batch, self.replan_every, self.lease = batch, replan_every, lease
        self._next_slot: datetime | None = None
        self._last_by_person: dict[int | None, datetime] = {}
        self._paused_until: datetime | None = None
        self._last_replan: datetime | None = None
        self._busy = asyncio.Lock()

    async def tick(self, _context: object = None) -> int:
        """One pass; fits PTB's `job_queue.run_repeating(dispatcher.tick, interval=30)`.
        A pass still running makes the next one a no-op."""
        if self._busy.locked():
            return 0
        async with self._busy:
            return await self.run_once()

    async def run_once(self) -> int:
        """Send everything that is due now; returns how many went out."""
        now = self.clock.now()
        await release_stale(self.store, now, self.lease)
        if self._last_replan is None or now - self._last_replan >= self.replan_every:
            await replan_all(self.store, now, self.settings)
            self._last_replan = now
        sent = 0
        while not self._paused(now):
            await _replan_due(self.store, now, self.settings)
            rows = await claim_due(self.store, now, self.worker_id, self.batch)
            if not rows:
                break
            sent += await self._send_batch(rows)
            now = self.clock.now()
        return sent

    async def run_forever(self, poll: timedelta = timedelta(seconds=30)) -> None:
        """Alternative to the JobQueue: a task of its own (cancel it to stop)."""
        while True:
            await self.tick()
            await self.clock.sleep(poll.total_seconds())

    def _paused(self, now: datetime) -> bool:
        return self._paused_until is not None and now < self._paused_until

    async def _send_batch(self, rows: list[PlannedSend]) -> int:
        pending, sent, clients = list(rows), 0, set()
        try:
            while pending:
                row = pending[0]
                await self._pace(row.person_id)
                now = self.clock.now()
                if in_quiet_hours(now, self.settings) or self._paused(now):
                    break  # the rest goes back (in finally), due after the quiet / pause
                pending.pop(0)
                if await self._send_one(row, now):
                    sent += 1
                    clients.add(row.client_id)
        finally:
            await self._give_back(pending)
        for client_id in clients:  # e.g. plan the next reminder now this one went out
            async with self.store.unit() as unit:
                await plan_for_client(unit, client_id, self.clock.now(), self.settings)
        return sent

    async def _send_one(self, row: PlannedSend, now: datetime) -> bool:
        self._next_slot = now + timedelta(seconds=self.interval)
        self._last_by_person[row.person_id] = now
        try:
            await self.send(row)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the callback may raise anything
            await self._failed(row, error, now)
            return False
        if not await mark_sent(self.store, row, self.clock.now()):
            log.warning("planned_send %s went out, but its claim had expired", row.id)
        return True

    async def _failed(self, row: PlannedSend, error: Exception, now: datetime) -> None:
        retry = _retry_seconds(error)
        if retry is not None:
            until = now + timedelta(seconds=retry)
            self._paused_until = until  # Telegram's flood limit holds for the whole bot
            await release(self.store, row, out_of_quiet(until, self.settings))
        elif isinstance(error, Undeliverable):
            await _finish(self.store, row, state="cancelled")
        else:  # a bug in the callback must not resend every tick
            log.exception("planned_send %s could not be sent; cancelled", row.id,
                          exc_info=error)
            await _finish(self.store, row, state="cancelled")

    async def _pace(self, person_id: int | None) -> None:
        now = self.clock.now()
        ready = max([now, *([self._next_slot] if self._next_slot else [])])
        last = self._last_by_person.get(person_id)
        if last is not None:
            ready = max(ready, last + self.per_chat)
        if ready > now:
            await self.clock.sleep((ready - now).total_seconds())
        if len(self._last_by_person) > 10_000:  # forget chats that are long free again
            cutoff = self.clock.now() - self.per_chat
            self._last_by_person = {k: v for k, v in self._last_by_person.items() if v > cutoff}

    async def _give_back(self, rows: Sequence[PlannedSend]) -> None:
        now = self.clock.now()
        later = max([now, *([self._paused_until] if self._paused(now) and self._paused_until
                            else [])])
        for row in rows:
            await release(self.store, row, max(row.due_at, out_of_quiet(later, self.settings)))


async def startup(store: Store, clock: Clock, dispatcher: Dispatcher | None = None,
                  settings: Any = None) -> int:
    """At start-up: re-plan every client from the database (what became due while the bot
    was down is due now, or at 09:00 when it is quiet now) and, given a dispatcher, send it.
    Returns how many went out."""
    now = clock.now()
    await release_stale(store, now, dispatcher.lease if dispatcher else CLAIM_LEASE)
    await replan_all(store, now, dispatcher.settings if dispatcher else settings)
    if dispatcher is None:
        return 0
    dispatcher._last_replan = now
    return await dispatcher.tick()
