"""The plan on the database: `planned_send` rows in line with the pure plan.

The table is the truth; `plan_for_client` turns the plan of `plan.py` into rows (insert / move
/ cancel), through `bot.state.planned` (the SQL lives there).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.dialogs.client_prep import FLOW as CLIENT_FLOW
from bot.schedule.plan import (
    AFTER_MEETING,
    CHECK_IN,
    CLIENT_REMINDER,
    EVALUATION,
    CheckIns,
    ClientState,
    Done,
    MeetingInfo,
    NaasteInfo,
    Plan,
    ScheduleSettings,
    in_quiet_hours,
    plan,
    with_quiet,
)
from bot.state.planned import (
    ClientFacts,
    MeetingTimes,
    PlannedRow,
    PlannedSends,
    PrepSession,
)
from bot.state.store import Store, Unit

if TYPE_CHECKING:
    from bot.state.models import Person

PREP_FLOW = CLIENT_FLOW.name
# A late send moved by a 429 keeps its delay when re-planned within this time.
RETRY_HOLD = timedelta(minutes=15)


# --------------------------------------------------------------------------- the flag
def reminders_flag(prep: PrepSession | None) -> bool:
    """Reminders are on unless the client turned them off in /instellingen."""
    data = prep.data if prep is not None and prep.data else {}
    return bool(data.get("reminders", True))


async def reminders_enabled(unit: Unit, person: Person | int) -> bool:
    """The client's choice, from `dialog_session.data["reminders"]` of their client_prep."""
    person_id = person if isinstance(person, int) else person.id
    return reminders_flag(await PlannedSends(unit).prep_session(person_id, PREP_FLOW))


# --------------------------------------------------------------------------- planning
async def plan_for_client(unit: Unit, client_id: int, now: datetime,
                          settings: Any = None) -> Plan:
    """Bring the client's planned sends in line with the schedule (call it after the meeting
    date is set, changed or cancelled, and when a naaste joins). Returns the plan; its `note`
    is for the begeleider when the date is late or past."""
    s = ScheduleSettings.from_settings(settings)
    sends = PlannedSends(unit)
    facts = await sends.facts_for_plan(client_id, PREP_FLOW)
    if facts is None:
        return Plan(())
    if facts.client is not None:
        s = with_quiet(s, *facts.client.quiet)
    if facts.meeting is None or facts.client is None:
        result = Plan(())
    else:
        since = _round_start(facts.meeting, facts.rows)
        done = [Done(r.kind, r.person_id, r.sent_at or r.due_at) for r in facts.rows
                if _went(r) and (r.sent_at or r.due_at) >= since]
        info = MeetingInfo(facts.meeting.starts_at, since)
        naasten = [NaasteInfo(n.person_id, n.added_something) for n in facts.client.naasten]
        result = plan(info, _client_state(facts.client), naasten, done, now, s,
                      _check_ins(facts.client, facts.rows))
    await sends.save_plan(client_id, *_changes(
        result, [r for r in facts.rows if r.state == "planned"], now, s))
    return result


def _went(row: PlannedRow) -> bool:
    """Sent, being sent, or tried and given up (cancelled after a claim): not again."""
    return row.state in ("sent", "claimed") or (row.state == "cancelled"
                                                and row.claimed_by is not None)


def _round_start(meeting: MeetingTimes, rows: Sequence[PlannedRow]) -> datetime:
    """Sends count for this meeting from when it was made, or from the check after an earlier
    meeting (a reused meeting row starts a new round there)."""
    ends = [r.sent_at for r in rows if r.kind == AFTER_MEETING and r.state == "sent"
            and r.sent_at is not None and r.sent_at < meeting.starts_at]
    return max([meeting.created_at, *ends])


def _check_ins(client: ClientFacts, rows: Sequence[PlannedRow]) -> CheckIns | None:
    """From the first sending of the agreements; the last check-in of any round counts (a
    new meeting does not make the next one due at once)."""
    if client.agreements_sent_at is None:
        return None
    sent = [r.sent_at for r in rows if r.kind == CHECK_IN and r.sent_at is not None]
    asked = client.evaluation_at
    evaluated = asked is not None and any(r.kind == EVALUATION and _went(r) and
                                          (r.sent_at or r.due_at) >= asked for r in rows)
    return CheckIns(client.agreements_sent_at, client.check_in_days, max(sent, default=None),
                    asked, evaluated)


def _client_state(client: ClientFacts) -> ClientState:
    prep = client.prep
    moves = [m for m in (client.last_answer_at, prep.updated_at if prep else None)
             if m is not None]
    return ClientState(
        person_id=client.person_id, begeleider_person_id=client.begeleider_person_id,
        finished=prep is not None and prep.step == "done",
        stopped=prep is not None and prep.status == "stopped",
        reminders_on=reminders_flag(prep), last_activity=max(moves) if moves else None)


def _changes(result: Plan, planned: Sequence[PlannedRow], now: datetime, s: ScheduleSettings
             ) -> tuple[list[tuple[str, int, datetime]], list[tuple[int, datetime]], list[int]]:
    """Insert what is new, move what changed, cancel what no longer belongs."""
    existing: dict[tuple[str, int | None], PlannedRow] = {}  # planned rows by (kind, person)
    cancel: list[int] = []
    for row in planned:
        if (row.kind, row.person_id) in existing:
            cancel.append(row.id)  # a double row (should not happen): keep one
        else:
            existing[(row.kind, row.person_id)] = row
    add: list[tuple[str, int, datetime]] = []
    move: list[tuple[int, datetime]] = []
    for send in result.sends:
        match = existing.pop(send.key, None)
        if match is None:
            add.append((send.kind, send.person_id, send.due_at))
        elif match.due_at != send.due_at and not _held(match, send.asap, now, s):
            move.append((match.id, send.due_at))
    cancel += [row.id for row in existing.values()]
    return add, move, cancel


def _held(row: PlannedRow, asap: bool, now: datetime, s: ScheduleSettings) -> bool:
    """A late row that a 429 pushed a little into the future keeps that delay."""
    return (asap and now < row.due_at <= now + RETRY_HOLD
            and not in_quiet_hours(row.due_at, s))


async def replan_all(store: Store, now: datetime, settings: Any = None) -> int:
    """Re-plan every client with a meeting or planned sends (start-up, and once an hour)."""
    async with store.unit() as unit:
        client_ids = await PlannedSends(unit).clients_to_plan()
    await _replan(store, client_ids, now, settings)
    return len(client_ids)


async def replan_due(store: Store, now: datetime, settings: Any) -> None:
    """Just before sending: the client may have finished, stopped, answered; a naaste may
    have added something. The row then moves or goes."""
    async with store.unit() as unit:
        client_ids = await PlannedSends(unit).clients_due(now)
    await _replan(store, client_ids, now, settings)


async def _replan(store: Store, client_ids: Sequence[int], now: datetime,
                  settings: Any) -> None:
    for client_id in client_ids:  # one transaction each
        async with store.unit() as unit:
            await plan_for_client(unit, client_id, now, settings)


async def reminder_number(unit: Unit, client_id: int) -> int:
    """Which reminder this is for the current meeting (1, 2 or 3): for the text."""
    sends = PlannedSends(unit)
    rows = await sends.rows_of(client_id)
    meeting = await sends.meeting(client_id)
    since = (_round_start(meeting, rows) if meeting is not None
             else datetime.min.replace(tzinfo=UTC))
    return 1 + sum(1 for r in rows if r.kind == CLIENT_REMINDER and r.state == "sent"
                   and r.sent_at is not None and r.sent_at >= since)
