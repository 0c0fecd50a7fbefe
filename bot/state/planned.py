"""The schedule's SQL: the `planned_send` table, and the facts a plan is made from.

`PlannedSends(unit)` works in the caller's transaction. `bot/schedule/` (plan, claim, send)
reads and writes only through it and gets plain dataclasses back, so it needs no SQLAlchemy;
this module knows nothing of the schedule (kinds, quiet hours, leases are the caller's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from bot.state.models import (
    AgendaItem,
    Agreement,
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
from bot.state.store import Unit
from bot.state.unit import CURRENT_ITEM


@dataclass(frozen=True)
class PlannedRow:
    """One `planned_send` row. state: planned, claimed, sent or cancelled."""

    id: int
    kind: str
    client_id: int
    person_id: int | None
    due_at: datetime
    state: str
    claimed_by: str | None = None
    sent_at: datetime | None = None


_COLUMNS = (PlannedSend.id, PlannedSend.kind, PlannedSend.client_id, PlannedSend.person_id,
            PlannedSend.due_at, PlannedSend.state, PlannedSend.claimed_by, PlannedSend.sent_at)


@dataclass(frozen=True)
class MeetingTimes:
    """The client's current meeting (not cancelled, with a date)."""

    starts_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class PrepSession:
    """Where the client is in their preparation flow."""

    step: str
    status: str
    data: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class NaasteFacts:
    person_id: int | None  # None: not on Telegram yet, or blocked the bot
    added_something: bool  # has a topic on the agenda (not removed)


@dataclass(frozen=True)
class ClientFacts:
    person_id: int | None  # None: not linked to Telegram yet, or blocked the bot
    begeleider_person_id: int | None  # likewise
    prep: PrepSession | None
    last_answer_at: datetime | None
    naasten: tuple[NaasteFacts, ...]
    agreements_sent_at: datetime | None = None  # the first sending of the agreements
    check_in_days: int = 0  # the rhythm of the check-ins (0: none)
    evaluation_at: datetime | None = None  # the begeleider asked for an evaluation
    quiet: tuple[str | None, str | None] = (None, None)  # the organisation's own quiet hours


@dataclass(frozen=True)
class PlanFacts:
    rows: tuple[PlannedRow, ...]  # all of the client's rows, by id
    meeting: MeetingTimes | None
    client: ClientFacts | None  # read only when there is a meeting


class PlannedSends:
    """The planned sends and what they are planned from, in one unit of work."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit
        self.session = unit.session

    # --- what a plan is made from ---------------------------------------------------
    async def facts_for_plan(self, client_id: int, prep_flow: str) -> PlanFacts | None:
        """Everything the plan of one client needs; None when there is no such client. On
        PostgreSQL the client row stays locked to the end of the transaction, so two
        processes re-planning one client take turns (no double rows)."""
        query = select(Client).where(Client.id == client_id)
        if self.unit.is_postgres:
            query = query.with_for_update()
        client = (await self.session.execute(query)).scalar_one_or_none()
        if client is None:
            return None
        rows = tuple(await self.rows_of(client_id))
        meeting = await self.meeting(client_id)
        if meeting is None:
            return PlanFacts(rows, None, None)
        return PlanFacts(rows, meeting, await self._client_facts(client, prep_flow))

    async def rows_of(self, client_id: int) -> list[PlannedRow]:
        return await self._rows(select(*_COLUMNS).where(PlannedSend.client_id == client_id)
                                .order_by(PlannedSend.id))

    async def meeting(self, client_id: int) -> MeetingTimes | None:
        meeting = await self.unit.meeting(client_id)
        if meeting is None or meeting.starts_at is None:
            return None
        return MeetingTimes(meeting.starts_at, meeting.created_at)

    async def prep_session(self, person_id: int | None, flow: str) -> PrepSession | None:
        if person_id is None:
            return None
        row = (await self.session.execute(select(DialogSession).where(
            DialogSession.person_id == person_id, DialogSession.flow == flow))
        ).scalar_one_or_none()
        if row is None:
            return None
        return PrepSession(row.step, row.status, dict(row.data or {}), row.updated_at)

    async def _client_facts(self, client: Client, prep_flow: str) -> ClientFacts:
        person = await self.session.get(Person, client.person_id) if client.person_id else None
        begeleider = (await self.session.get(Begeleider, client.begeleider_id)
                      if client.begeleider_id else None)
        coach = (await self.session.get(Person, begeleider.person_id)
                 if begeleider is not None and begeleider.person_id else None)
        prep = await self.prep_session(client.person_id, prep_flow)
        last_answer = await self.session.scalar(
            select(func.max(Answer.created_at)).where(Answer.client_id == client.id))
        agreements_sent = await self.session.scalar(
            select(func.min(Agreement.sent_at)).where(Agreement.client_id == client.id,
                                                      Agreement.removed_at.is_(None)))
        return ClientFacts(_reachable(person), _reachable(coach), prep, last_answer,
                           await self._naasten(client.id), agreements_sent,
                           client.check_in_days or 0, client.evaluation_at,
                           await self.quiet_hours(client.id))

    async def quiet_hours(self, client_id: int) -> tuple[str | None, str | None]:
        """The quiet hours of the client's organisation, if it has its own."""
        row = (await self.session.execute(
            select(Organisation.quiet_start, Organisation.quiet_end)
            .join(Client, Client.organisation_id == Organisation.id)
            .where(Client.id == client_id))).first()
        return (row.quiet_start, row.quiet_end) if row is not None else (None, None)

    async def _naasten(self, client_id: int) -> tuple[NaasteFacts, ...]:
        added = set((await self.session.execute(
            select(AgendaItem.owner_person_id).where(
                AgendaItem.client_id == client_id, *CURRENT_ITEM))).scalars())
        rows = (await self.session.execute(
            select(Naaste, Person).outerjoin(Person, Person.id == Naaste.person_id)
            .where(Naaste.client_id == client_id, Naaste.removed_at.is_(None))
            .order_by(Naaste.id))).all()
        return tuple(NaasteFacts(_reachable(person), person is not None and person.id in added)
                     for _naaste, person in rows)

    # --- the plan's rows --------------------------------------------------------------
    async def save_plan(self, client_id: int, add: Sequence[tuple[str, int, datetime]],
                        move: Sequence[tuple[int, datetime]], cancel: Sequence[int]) -> None:
        """New rows (kind, person, due), planned rows moved (id, due), rows cancelled (id)."""
        if cancel:
            await self.session.execute(
                update(PlannedSend).where(PlannedSend.id.in_(cancel))
                .values(state="cancelled").execution_options(synchronize_session=False))
        if move:
            await self.session.execute(update(PlannedSend),
                                       [{"id": row_id, "due_at": due} for row_id, due in move])
        if add:
            await self.session.execute(insert(PlannedSend), [
                {"kind": kind, "client_id": client_id, "person_id": person_id,
                 "due_at": due, "state": "planned"} for kind, person_id, due in add])

    async def clients_to_plan(self) -> list[int]:
        """Every client with a meeting (even a cancelled one) or with planned rows."""
        with_meeting = set((await self.session.execute(
            select(Meeting.client_id).distinct())).scalars())
        with_rows = set((await self.session.execute(
            select(PlannedSend.client_id).where(PlannedSend.state == "planned")
            .distinct())).scalars())
        return sorted(with_meeting | with_rows)

    async def clients_due(self, now: datetime) -> list[int]:
        """Clients with a planned row due by `now`."""
        return list((await self.session.execute(
            select(PlannedSend.client_id).where(PlannedSend.state == "planned",
                                                PlannedSend.due_at <= now)
            .distinct())).scalars())

    # --- claims -----------------------------------------------------------------------
    async def claim_due(self, now: datetime, limit: int, owner: str) -> list[PlannedRow]:
        """Claim up to `limit` rows due by `now` for `owner`, oldest first. One statement:
        on PostgreSQL the picking skips rows another process holds, and the outer WHERE
        re-checks the state after the lock; on SQLite one statement is atomic by itself."""
        # MATERIALIZED: PostgreSQL may otherwise run the subquery more than once and claim
        # more than `limit` rows.
        pick = (select(PlannedSend.id)
                .where(PlannedSend.state == "planned", PlannedSend.due_at <= now)
                .order_by(PlannedSend.due_at, PlannedSend.id).limit(limit)
                .with_for_update(skip_locked=True)
                .cte("picked").prefix_with("MATERIALIZED"))
        return await self._rows(
            update(PlannedSend)
            .where(PlannedSend.id.in_(select(pick.c.id)), PlannedSend.state == "planned")
            .values(state="claimed", claimed_by=owner)
            .returning(*_COLUMNS)
            .execution_options(synchronize_session=False))

    async def claimed(self) -> list[PlannedRow]:
        return await self._rows(select(*_COLUMNS).where(PlannedSend.state == "claimed"))

    async def mark_sent(self, row_id: int, claimed_by: str | None, at: datetime) -> bool:
        """False when the claim `claimed_by` on the row was lost meanwhile (likewise below)."""
        return await self._if_held(row_id, claimed_by, state="sent", sent_at=at)

    async def release(self, row_id: int, claimed_by: str | None,
                      due_at: datetime | None = None) -> bool:
        """The claimed row goes back to 'planned' (due at `due_at`, when given)."""
        values: dict[str, Any] = {"due_at": due_at} if due_at is not None else {}
        return await self._if_held(row_id, claimed_by, state="planned", claimed_by=None,
                                   **values)

    async def cancel_claimed(self, row_id: int, claimed_by: str | None) -> bool:
        """Cancelled, its claim kept (so it is not planned again)."""
        return await self._if_held(row_id, claimed_by, state="cancelled")

    async def _if_held(self, row_id: int, holder: str | None, **values: Any) -> bool:
        result = await self.session.execute(
            update(PlannedSend)
            .where(PlannedSend.id == row_id, PlannedSend.state == "claimed",
                   PlannedSend.claimed_by == holder)
            .values(**values).execution_options(synchronize_session=False))
        return bool(getattr(result, "rowcount", 0))

    async def _rows(self, statement: Any) -> list[PlannedRow]:
        return [PlannedRow(*row) for row in await self.session.execute(statement)]


def _reachable(person: Person | None) -> int | None:
    return person.id if person is not None and not person.blocked_bot else None
