"""Erasure (the AVG's right to be forgotten), in the turn's transaction: everything kept
about one client, one naaste's own contributions, or a finished round past its retention.
The rows go; the kept files go after the commit (`Unit.remove_after_commit`), so a failed
erasure leaves nothing half done.

The access log keeps its rows (who looked when, never content), without the erased client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, or_, select, union, update

from bot.state.models import (
    Admin,
    AgendaItem,
    Agreement,
    Answer,
    AnswerHistory,
    AuditLog,
    Begeleider,
    CheckIn,
    Client,
    DialogSession,
    Inbox,
    Invite,
    Meeting,
    Naaste,
    Person,
    PlannedSend,
    Share,
)
from bot.state.unit import Unit

HANDLED = ("done", "failed")  # inbox rows no longer needed to handle an update


async def erase_client(unit: Unit, client_id: int) -> int:
    """Remove the client and everything about them: answers (and their history and files),
    agenda items (the naasten's and the begeleider's too), agreements, check-ins, shares,
    meetings, planned sends, invites, dialog sessions, the naasten's link to the client,
    and the message payloads in the inbox from the client's chat. The client's person goes
    too unless they have another role. How many answers there were."""
    session = unit.session
    client = await session.get(Client, client_id)
    if client is None:
        return 0
    answers = select(Answer.id).where(Answer.client_id == client_id)
    files = (await session.execute(select(Answer.file_path).where(
        Answer.client_id == client_id, Answer.file_path.is_not(None)))).scalars().all()
    count = len((await session.execute(answers)).all())
    naasten = select(Naaste.id).where(Naaste.client_id == client_id)
    naaste_people = (await session.execute(select(Naaste.person_id).where(
        Naaste.client_id == client_id, Naaste.person_id.is_not(None)))).scalars().all()
    await session.execute(delete(AnswerHistory).where(AnswerHistory.answer_id.in_(answers)))
    await session.execute(delete(CheckIn).where(CheckIn.client_id == client_id))
    for model in (Answer, Agreement, AgendaItem, Share, PlannedSend, DialogSession):
        await session.execute(delete(model).where(model.client_id == client_id))
    await session.execute(delete(Invite).where(or_(Invite.client_id == client_id,
                                                   Invite.naaste_id.in_(naasten))))
    await session.execute(delete(Meeting).where(Meeting.client_id == client_id))
    await session.execute(delete(Naaste).where(Naaste.client_id == client_id))
    await session.execute(update(AuditLog).where(AuditLog.client_id == client_id)
                          .values(client_id=None))
    person = await session.get(Person, client.person_id) if client.person_id else None
    await session.delete(client)
    await session.flush()
    if person is not None:
        await _empty_inbox(unit, person.chat_id, handled_only=False)
        if not await _has_roles(unit, person.id):
            await _remove_person(unit, person)
    for naaste_person in set(naaste_people):  # their messages about the client, if handled
        naaste = await session.get(Person, naaste_person)
        if naaste is not None:
            await _empty_inbox(unit, naaste.chat_id, handled_only=True)
    unit.remove_after_commit(Path(p) for p in files if p)
    return count


async def erase_naaste_contributions(unit: Unit, naaste_id: int) -> int:
    """A naaste's own topics, questions and words of appreciation for one client, and the
    payloads of their handled messages; how many were removed."""
    naaste = await unit.session.get(Naaste, naaste_id)
    if naaste is None or naaste.person_id is None:
        return 0
    result = await unit.session.execute(delete(AgendaItem).where(
        AgendaItem.client_id == naaste.client_id, AgendaItem.owner_role == "naaste",
        AgendaItem.owner_person_id == naaste.person_id).returning(AgendaItem.id))
    removed = len(result.all())
    person = await unit.session.get(Person, naaste.person_id)
    if person is not None:
        await _empty_inbox(unit, person.chat_id, handled_only=True)
    return removed


async def _empty_inbox(unit: Unit, chat_id: int | None, handled_only: bool) -> None:
    if chat_id is None:
        return
    query = update(Inbox).where(Inbox.chat_id == chat_id, Inbox.payload.is_not(None))
    if handled_only:
        query = query.where(Inbox.state.in_(HANDLED))
    await unit.session.execute(query.values(payload=None))


async def _has_roles(unit: Unit, person_id: int) -> bool:
    for model in (Admin, Begeleider, Naaste, Client):
        found = await unit.session.scalar(select(model.id).where(
            model.person_id == person_id).limit(1))
        if found is not None:
            return True
    return False


async def _remove_person(unit: Unit, person: Person) -> None:
    """The person's name and Telegram ids go; what others did stays, without them."""
    session, pid = unit.session, person.id
    await session.execute(delete(DialogSession).where(DialogSession.person_id == pid))
    await session.execute(delete(PlannedSend).where(PlannedSend.person_id == pid))
    await session.execute(update(AuditLog).where(AuditLog.viewer_person_id == pid)
                          .values(viewer_person_id=None))
    await session.execute(update(Invite).where(Invite.used_by == pid).values(used_by=None))
    await session.execute(update(Invite).where(Invite.created_by == pid)
                          .values(created_by=None))
    await session.execute(update(Answer).where(Answer.entered_by == pid).values(entered_by=None))
    await session.execute(update(AgendaItem).where(AgendaItem.owner_person_id == pid)
                          .values(owner_person_id=None))
    await session.execute(update(Agreement).where(Agreement.created_by == pid)
                          .values(created_by=None))
    await session.delete(person)


@dataclass(frozen=True)
class ClosedRound:
    """A finished round that still holds content, and the meeting that ended it."""

    client_id: int
    round: int
    meeting_at: datetime
    client_name: str
    begeleider_person_id: int | None


async def closed_rounds(unit: Unit) -> list[ClosedRound]:
    """Every finished round with answers or topics left. A round ends with its meeting: the
    k-th meeting of a client that was not cancelled (in the order they were planned) is the
    meeting of round k (a held meeting starts the next round, bot/service/begeleider.py)."""
    session = unit.session
    with_content = union(
        select(Answer.client_id, Answer.round).where(Answer.round.is_not(None)),
        select(AgendaItem.client_id, AgendaItem.round).where(AgendaItem.round.is_not(None)))
    rounds = [(c, n) for c, n in (await session.execute(with_content)).all()
              if n is not None]
    if not rounds:
        return []
    clients = {c for c, _ in rounds}
    meetings: dict[int, list[datetime | None]] = {}
    for client_id, starts_at in await session.execute(
            select(Meeting.client_id, Meeting.starts_at)
            .where(Meeting.client_id.in_(clients), Meeting.cancelled_at.is_(None))
            .order_by(Meeting.id)):
        meetings.setdefault(client_id, []).append(starts_at)
    people = dict((await session.execute(
        select(Client.id, Begeleider.person_id).join(Begeleider, Begeleider.id ==
                                                     Client.begeleider_id)
        .where(Client.id.in_(clients)))).all())
    names = dict((await session.execute(select(Client.id, Client.name).where(
        Client.id.in_(clients)))).all())
    found = []
    for client_id, number in sorted(rounds):
        held = meetings.get(client_id, [])
        meeting_at = held[number - 1] if 0 < number <= len(held) else None
        if meeting_at is not None:  # no meeting known: nothing to count from, kept
            found.append(ClosedRound(client_id, number, meeting_at, names.get(client_id, ""),
                                     people.get(client_id)))
    return found


async def erase_round(unit: Unit, client_id: int, number: int) -> int:
    """A finished round's answers (their history and kept files) and topics removed; how
    many rows. The agreements made at its meeting stay: they may still be the client's."""
    session = unit.session
    answers = select(Answer.id).where(Answer.client_id == client_id, Answer.round == number)
    files = (await session.execute(select(Answer.file_path).where(
        Answer.client_id == client_id, Answer.round == number,
        Answer.file_path.is_not(None)))).scalars().all()
    await session.execute(delete(AnswerHistory).where(AnswerHistory.answer_id.in_(answers)))
    removed = 0
    for model in (Answer, AgendaItem):
        result = await session.execute(delete(model).where(
            model.client_id == client_id, model.round == number).returning(model.id))
        removed += len(result.all())
    unit.remove_after_commit(Path(p) for p in files if p)
    return removed
