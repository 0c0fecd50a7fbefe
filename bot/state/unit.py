"""One unit of work: one transaction, and every query the service needs, by name.

The service never writes SQL: it calls these methods. The client's hot path (claim, person
and roles, dialog session, answers, a new answer) uses Core statements on the connection:
one round trip each, no ORM bookkeeping. The rarer paths use the ORM.
"""

from __future__ import annotations

import copy
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    Organisation,
    Person,
    Share,
    UtcDateTime,
    token_hash,
    utcnow,
)


@dataclass(frozen=True)
class Redeemed:
    client: Client | None
    reason: str  # "ok", "unknown", "used", "expired", "taken"
    role: str = ""
    ref_id: int = 0


@dataclass
class PersonRow:
    """A person as the turn needs them (read with their roles in one statement)."""

    id: int
    chat_id: int | None
    name: str
    blocked_bot: bool


@dataclass(frozen=True)
class RoleRow:
    kind: str  # "client", "begeleider", "naaste", "admin"
    id: int
    client_name: str = ""  # the client's name (for a client and a naaste)
    organisation_id: int | None = None  # a naaste's: their client's


@dataclass(frozen=True)
class Progress:
    """How far a client is, for the begeleider's list."""

    steps: set[str]  # steps with an answer
    topics: int  # items of the topics step
    last_active: datetime | None
    place: str | None  # the client's own words on where to meet


@dataclass
class SessionRow:
    """A dialog session as stored; `save_session` writes it back."""

    id: int
    step: str
    status: str
    seq: int
    data: dict[str, Any]
    reply_pending: bool
    updated_at: datetime


_Row = TypeVar("_Row")

# The hot path's statements, built once.
_PERSON_ID = (select(Person.id).where(Person.telegram_user_id == bindparam("uid"))
              .scalar_subquery())
_NONE = literal(None, Integer)
# The person's row carries their session of one flow (the client's, asked for by name), so
# the client's turn reads person, roles and session in one statement. On PostgreSQL the
# session comes row-locked, as `session_row` would lock it, so another process's turn on
# the same session waits for ours (FOR UPDATE inside a CTE: a UNION cannot lock; SQLite,
# one writer at a time, has no FOR UPDATE and SQLAlchemy leaves it out there).
_SESSION_OF_FLOW = (
    select(DialogSession).join(Person, Person.id == DialogSession.person_id)
    .where(Person.telegram_user_id == bindparam("uid"), DialogSession.flow == bindparam("flow"))
    .with_for_update(of=DialogSession).cte("session_of_flow"))
_NO_SESSION = (_NONE, literal(None, String), literal(None, String), _NONE,
               literal(None, JSON), literal(None, Boolean), literal(None, UtcDateTime))
_PERSON_AND_ROLES = union_all(
    select(literal("person"), Person.id, Person.name, Person.chat_id,
           Person.blocked_bot.cast(Integer), _SESSION_OF_FLOW.c.id, _SESSION_OF_FLOW.c.step,
           _SESSION_OF_FLOW.c.status, _SESSION_OF_FLOW.c.seq, _SESSION_OF_FLOW.c.data,
           _SESSION_OF_FLOW.c.reply_pending, _SESSION_OF_FLOW.c.updated_at)
    .outerjoin(_SESSION_OF_FLOW, _SESSION_OF_FLOW.c.person_id == Person.id)
    .where(Person.telegram_user_id == bindparam("uid")),
    # A role's row: its kind, id, client's name and organisation (in the chat id's place).
    select(literal("client"), Client.id, Client.name, Client.organisation_id, _NONE,
           *_NO_SESSION).where(Client.person_id == _PERSON_ID),
    select(literal("begeleider"), Begeleider.id, literal(""), Begeleider.organisation_id,
           _NONE, *_NO_SESSION).where(Begeleider.person_id == _PERSON_ID),
    select(literal("naaste"), Naaste.id, Client.name, Client.organisation_id, _NONE,
           *_NO_SESSION).join(Client, Client.id == Naaste.client_id).where(
        Naaste.person_id == _PERSON_ID, Naaste.removed_at.is_(None)),
    select(literal("admin"), Admin.id, literal(""), Admin.organisation_id, _NONE,
           *_NO_SESSION).where(Admin.person_id == _PERSON_ID),
)
# What "current" means for an answer and an agenda item, in one place: not removed, and of
# the round the client prepares now (round NULL; an earlier round's rows carry its number).
CURRENT_ANSWER = (Answer.removed_at.is_(None), Answer.round.is_(None))
CURRENT_ITEM = (AgendaItem.removed_at.is_(None), AgendaItem.round.is_(None))
_SESSION = select(DialogSession.id, DialogSession.step, DialogSession.status,
                  DialogSession.seq, DialogSession.data, DialogSession.reply_pending,
                  DialogSession.updated_at).where(
    DialogSession.person_id == bindparam("person_id"), DialogSession.flow == bindparam("flow"))
_ANSWER_COLUMNS = (Answer.id, Answer.step, Answer.item, Answer.part, Answer.kind, Answer.text,
                   Answer.tag, Answer.duration, Answer.file_id, Answer.file_state,
                   Answer.message_id, Answer.transcript, Answer.transcript_state)
_ANSWERS = select(*_ANSWER_COLUMNS).where(
    Answer.client_id == bindparam("client_id"), *CURRENT_ANSWER).order_by(
    Answer.step, Answer.item, Answer.part, Answer.id)
_ROLE_ORDER = ("client", "begeleider", "naaste", "admin")
# The hot path's writes, built once on the tables (not the ORM classes): no ORM DML
# bookkeeping per call, and the statement's cache key is computed once.
_SESSIONS = cast(Table, DialogSession.__table__)
_INBOX = cast(Table, Inbox.__table__)
_ANSWER_TABLE = cast(Table, Answer.__table__)
_CLAIM = update(_INBOX).where(_INBOX.c.update_id == bindparam("uid"),
                              _INBOX.c.state == "new").values(state="done",
                                                              handled_at=bindparam("now"))
_ADD_DONE_PG, _ADD_DONE_SQLITE = (
    insert_(_INBOX).values(update_id=bindparam("uid"), chat_id=bindparam("chat_id"),
                           payload=bindparam("payload", type_=_INBOX.c.payload.type),
                           state="done", received_at=bindparam("now"),
                           handled_at=bindparam("now"))
    .on_conflict_do_nothing(index_elements=["update_id"]).returning(_INBOX.c.update_id)
    for insert_ in (postgresql_insert, sqlite_insert))
_SAVE_SESSION = update(_SESSIONS).where(_SESSIONS.c.id == bindparam("sid")).values(
    step=bindparam("step"), status=bindparam("status"), seq=bindparam("seq"),
    data=bindparam("data", type_=_SESSIONS.c.data.type),
    reply_pending=bindparam("reply_pending"), updated_at=bindparam("updated_at"))
_INSERT_ANSWER = insert(_ANSWER_TABLE).returning(_ANSWER_TABLE.c.id)


class Unit:
    """One transaction. Reads lock what they will change (on PostgreSQL)."""

    def __init__(self, session: AsyncSession, is_postgres: bool) -> None:
        self.session = session
        self.is_postgres = is_postgres
        # Reads already in the access log in this transaction (bot/service/access.py logs
        # each once).
        self.audited: set[tuple[int, int | None, str, bool]] = set()
        # Names of the clients read with a person's roles (saves the client's own read).
        self.client_names: dict[int, str] = {}
        # Sessions read with the person (person id, flow) → row, taken once by session_row.
        self._prefetched: dict[tuple[int, str], SessionRow] = {}
        # Kept files of rows removed in this transaction: removed after the commit.
        self.files_to_remove: list[Path] = []

    def remove_after_commit(self, paths: Iterable[Path]) -> None:
        self.files_to_remove += paths

    # --- the inbox: claim the update and mark it done, in the turn's transaction -------
    async def claim(self, update_id: int, chat_id: int | None,
                    fetched: dict[str, Any] | None = None) -> bool:
        """True if this update is ours to handle: it is marked done now, and the mark is
        committed with the turn's effects (a rollback leaves it new). One statement in the
        usual case. On SQLite the UPDATE takes the write lock first, so a second handler of
        the same update (two pollers, a redelivery) waits for our commit and then finds it
        done; on PostgreSQL the row lock does the same. `fetched`: the update is not in the
        inbox yet (fetched alone): it is written now, as done, with its payload."""
        now = utcnow()
        if fetched is not None and await self._add_done(update_id, chat_id, fetched, now):
            return True
        claimed = await self._execute(_CLAIM, {"uid": update_id, "now": now})
        if claimed.rowcount == 1:
            return True
        # Not in the inbox (handled straight from a test or the sweep): ours if we add it.
        return fetched is None and await self._add_done(update_id, chat_id, None, now)

    async def _add_done(self, update_id: int, chat_id: int | None,
                        payload: dict[str, Any] | None, now: datetime) -> bool:
        """The update into the inbox as done; False when it is there already (told by
        RETURNING: psycopg gives no rowcount for this INSERT)."""
        added = await self._execute(_ADD_DONE_PG if self.is_postgres else _ADD_DONE_SQLITE, {
            "uid": update_id, "chat_id": chat_id, "payload": payload, "now": now})
        return added.first() is not None

    async def earlier_waiting(self, chat_id: int | None, update_id: int
                              ) -> tuple[int, dict[str, Any]] | None:
        """Several processes on one PostgreSQL (the caller holds the chat, see
        `Store.chat_held`): the chat's earliest update still waiting before `update_id`,
        stored by another process that died or has not got to it yet; it goes first. None:
        this one's turn. One process on SQLite: the order is its own, nothing to read."""
        if not self.is_postgres or chat_id is None:
            return None
        earlier = (await self._execute(
            select(Inbox.update_id, Inbox.payload)
            .where(Inbox.chat_id == chat_id, Inbox.state == "new",
                   Inbox.update_id < update_id)
            .order_by(Inbox.update_id).limit(1))).first()
        return None if earlier is None else (earlier.update_id, earlier.payload or {})

    async def forget_update(self, update_id: int) -> None:
        """Keep nothing of this update (group chats, strangers)."""
        await self._execute(update(Inbox).where(Inbox.update_id == update_id)
                            .values(payload=None))

    # --- people -----------------------------------------------------------------------
    async def person_and_roles(self, telegram_user_id: int, flow: str = ""
                               ) -> tuple[PersonRow | None, list[RoleRow]]:
        """The person and every role they have, in one statement (this runs on every
        update): roles in menu order (client, begeleider, naaste, admin), then by id.
        With `flow`, the person's session of that flow comes along (see `session_row`)."""
        rows = (await self._execute(_PERSON_AND_ROLES,
                                    {"uid": telegram_user_id, "flow": flow})).all()
        person = None
        for r in rows:
            if r[0] == "person":
                person = PersonRow(int(r[1]), r[3], str(r[2]), bool(r[4]))
                if r[5] is not None:  # locked on PostgreSQL, as session_row would
                    self._prefetched[(person.id, flow)] = SessionRow(
                        r[5], r[6], r[7], r[8], r[9] or {}, r[10], r[11])
        roles = sorted((RoleRow(str(r[0]), int(r[1]), str(r[2] or ""), r[3])
                        for r in rows if r[0] != "person"),
                       key=lambda role: (_ROLE_ORDER.index(role.kind), role.id))
        self.client_names.update((r.id, r.client_name) for r in roles if r.kind == "client")
        return person, roles

    async def person(self, telegram_user_id: int) -> Person | None:
        result = await self.session.execute(
            select(Person).where(Person.telegram_user_id == telegram_user_id))
        return result.scalar_one_or_none()

    async def seen_in(self, person: PersonRow, chat_id: int) -> None:
        """The person writes from this chat and has not blocked the bot (written only when
        that changes)."""
        if person.chat_id != chat_id or person.blocked_bot:
            person.chat_id, person.blocked_bot = chat_id, False
            await self._execute(update(Person).where(Person.id == person.id)
                                .values(chat_id=chat_id, blocked_bot=False))

    # --- the dialog session (Core: read once, written once per turn) --------------------
    async def session_row(self, person_id: int, flow: str, client_id: int | None,
                          initial: str) -> SessionRow:
        """The person's session of this flow (locked on PostgreSQL), made when missing."""
        prefetched = self._prefetched.pop((person_id, flow), None)
        if prefetched is not None:  # read a moment ago with the person, in this transaction
            prefetched.data = _copy(prefetched.data)
            return prefetched
        query = _SESSION.with_for_update() if self.is_postgres else _SESSION
        row = (await self._execute(query, {"person_id": person_id, "flow": flow})).first()
        if row is not None:
            # A copy: the session's data is changed in place by the dialog.
            return SessionRow(row[0], row[1], row[2], row[3], _copy(row[4]), row[5], row[6])
        now = utcnow()
        made = await self._execute(insert(DialogSession).values(
            person_id=person_id, flow=flow, client_id=client_id, step=initial,
            status="active", seq=0, data={}, reply_pending=False, updated_at=now)
            .returning(DialogSession.id))
        return SessionRow(int(made.scalar_one()), initial, "active", 0, {}, False, now)

    async def save_session(self, row: SessionRow) -> None:
        row.updated_at = utcnow()
        await self._execute(_SAVE_SESSION, {
            "sid": row.id, "step": row.step, "status": row.status, "seq": row.seq,
            "data": row.data, "reply_pending": row.reply_pending,
            "updated_at": row.updated_at})

    # --- answers ------------------------------------------------------------------------
    async def answer_rows(self, client_id: int) -> list[Any]:
        """The client's current answers as rows of `ANSWER_FIELDS`, by step, item, part."""
        return list((await self._execute(_ANSWERS, {"client_id": client_id})).all())

    async def insert_answer(self, **values: Any) -> int:
        """One new answer part (item and part numbered by the caller); its id."""
        values.setdefault("created_at", utcnow())
        made = await self._execute(_INSERT_ANSWER, values)
        return int(made.scalar_one())

    async def remove_answers(self, client_id: int, step: str, *, item: int | None = None,
                             tag: str | None = None) -> None:
        """Mark an item's (or a tag's) parts removed; they stay for the history."""
        where = [Answer.client_id == client_id, Answer.step == step,
                 *CURRENT_ANSWER]
        where.append(Answer.item == item if item is not None else Answer.tag == tag)
        await self._execute(update(Answer).where(*where).values(removed_at=utcnow()))

    async def client(self, client_id: int) -> Client | None:
        return await self.session.get(Client, client_id)

    async def set_blocked(self, person_id: int, blocked: bool) -> None:
        await self._execute(update(Person).where(Person.id == person_id)
                            .values(blocked_bot=blocked))

    async def is_client_token(self, token: str) -> bool:
        """An invite link that is unknown or for a client (not for another role)."""
        role = await self.session.scalar(select(Invite.role).where(
            Invite.token_hash == token_hash(token)))
        return role is None or role == "client"

    # --- naasten and sharing ----------------------------------------------------------
    async def naasten(self, client_id: int) -> list[Naaste]:
        """The client's naasten (not removed), oldest first."""
        return list((await self.session.execute(select(Naaste).where(
            Naaste.client_id == client_id, Naaste.removed_at.is_(None))
            .order_by(Naaste.id))).scalars())

    async def naaste_of(self, client_id: int, person_id: int) -> Naaste | None:
        return (await self.session.execute(select(Naaste).where(
            Naaste.client_id == client_id, Naaste.person_id == person_id,
            Naaste.removed_at.is_(None)))).scalar_one_or_none()

    async def naaste_belongs(self, naaste_id: int, client_id: int) -> bool:
        naaste = await self.session.get(Naaste, naaste_id)
        return naaste is not None and naaste.client_id == client_id

    async def set_naaste_removed(self, naaste_id: int, client_id: int, removed: bool) -> None:
        naaste = await self.session.get(Naaste, naaste_id)
        if naaste is not None and naaste.client_id == client_id:
            naaste.removed_at = utcnow() if removed else None

    async def shares(self, client_id: int) -> list[tuple[int, str]]:
        """(naaste id, part) for every part the client shares with a naaste."""
        rows = await self.session.execute(select(Share.naaste_id, Share.part).where(
            Share.client_id == client_id, Share.allowed.is_(True),
            Share.naaste_id.is_not(None)))
        return [(naaste_id, part) for naaste_id, part in rows if naaste_id is not None]

    async def admin_in(self, person_id: int, organisation_id: int) -> Admin | None:
        return (await self.session.execute(select(Admin).where(
            Admin.person_id == person_id, Admin.organisation_id == organisation_id))
        ).scalar_one_or_none()

    async def shared_parts(self, client_id: int, naaste_id: int) -> set[str]:
        rows = await self.session.execute(select(Share.part).where(
            Share.client_id == client_id, Share.naaste_id == naaste_id,
            Share.allowed.is_(True)))
        return {part for (part,) in rows}

    # --- the access log -----------------------------------------------------------------
    def audit(self, viewer_person_id: int, client_id: int | None, part: str, allowed: bool,
              at: datetime) -> None:
        self.session.add(AuditLog(viewer_person_id=viewer_person_id, client_id=client_id,
                                  part=part, allowed=allowed, at=at))

    async def allowed_reads(self, client_id: int, without: tuple[str, ...]
                            ) -> list[tuple[int | None, datetime, str]]:
        """(viewer person id, when, viewer's name) of allowed reads of this client, newest
        first, leaving out the parts in `without`."""
        rows = await self.session.execute(
            select(AuditLog.viewer_person_id, AuditLog.at, Person.name)
            .join(Person, Person.id == AuditLog.viewer_person_id)
            .where(AuditLog.client_id == client_id, AuditLog.allowed.is_(True),
                   AuditLog.part.not_in(without))
            .order_by(AuditLog.at.desc()))
        return [(person_id, at, name) for person_id, at, name in rows]

    async def audit_rows(self, client_id: int) -> list[AuditLog]:
        result = await self.session.execute(
            select(AuditLog).where(AuditLog.client_id == client_id).order_by(AuditLog.id))
        return list(result.scalars())

    async def clients_of(self, begeleider_id: int) -> list[Client]:
        return list((await self.session.execute(select(Client).where(
            Client.begeleider_id == begeleider_id).order_by(Client.name))).scalars())

    async def readback_offline(self, person_id: int) -> bool:
        """Whether an organisation this person belongs to (in any role; a naaste through
        their client's) wants read-backs made offline only. Asked only for a turn whose
        replies read someone's words back."""
        mine = union_all(
            *[select(role.organisation_id).where(role.person_id == person_id)
              for role in (Client, Begeleider, Admin)],
            select(Client.organisation_id).join(Naaste, Naaste.client_id == Client.id)
            .where(Naaste.person_id == person_id, Naaste.removed_at.is_(None)))
        return bool(await self.session.scalar(select(Organisation.id).where(
            Organisation.id.in_(mine), Organisation.readback_offline.is_(True)).limit(1)))

    async def organisation_look(self, organisation_id: int) -> tuple[str | None, Any]:
        """(its picto manifest's path, its own texts) of an organisation's look."""
        row = (await self.session.execute(
            select(Organisation.picto_manifest, Organisation.texts)
            .where(Organisation.id == organisation_id))).first()
        return (row[0], row[1]) if row is not None else (None, None)

    async def people_of(self, organisation_id: int
                        ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        """(id, name) of the organisation's clients and of its begeleiders, by name."""
        clients = await self.session.execute(select(Client.id, Client.name).where(
            Client.organisation_id == organisation_id).order_by(Client.name))
        begeleiders = await self.session.execute(select(Begeleider.id, Begeleider.name).where(
            Begeleider.organisation_id == organisation_id).order_by(Begeleider.name))
        return [(i, n) for i, n in clients], [(i, n) for i, n in begeleiders]

    async def progress(self, client_id: int, topics_step: str, place_step: str) -> Progress:
        current = (Answer.client_id == client_id, *CURRENT_ANSWER)
        steps = set((await self.session.execute(
            select(Answer.step).where(*current).distinct())).scalars())
        topics = await self.session.scalar(select(func.count(func.distinct(Answer.item)))
                                           .where(*current, Answer.step == topics_step))
        last = await self.session.scalar(select(DialogSession.updated_at).where(
            DialogSession.client_id == client_id))
        place = (await self.session.execute(select(Answer.text).where(
            *current, Answer.step == place_step, Answer.kind == "text")
            .order_by(Answer.id))).scalars().first()
        return Progress(steps, int(topics or 0), last, place)

    async def kept_file_path(self, file_id: str) -> str | None:
        """Where the file of an answer is kept on disk (None: not kept)."""
        return await self.session.scalar(select(Answer.file_path).where(
            Answer.file_id == file_id, Answer.file_state == "kept"))

    async def person_names(self) -> dict[int, str]:
        rows = await self.session.execute(select(Person.id, Person.name))
        return {person_id: name for person_id, name in rows}

    # --- what an agenda is compiled from (bot/agenda/compile.py) -------------------------
    async def answers_of(self, client_id: int, steps: Sequence[str]) -> list[Answer]:
        """The client's current answers of these steps, by step, item, part."""
        return list((await self.session.scalars(
            select(Answer).where(Answer.client_id == client_id, Answer.step.in_(steps),
                                 *CURRENT_ANSWER)
            .order_by(Answer.step, Answer.item, Answer.part, Answer.id))).all())

    async def all_answers(self, client_id: int) -> list[Answer]:
        """Every answer part the client ever gave: every round, removed ones too (inzage)."""
        return list((await self.session.scalars(
            select(Answer).where(Answer.client_id == client_id)
            .order_by(Answer.round.is_(None), Answer.round, Answer.step, Answer.item,
                      Answer.part, Answer.id))).all())

    async def agenda_items_of(self, client_id: int, roles: Sequence[str]) -> list[AgendaItem]:
        """The items these roles (naaste, begeleider) put on the client's agenda, in order."""
        return list((await self.session.scalars(
            select(AgendaItem).where(AgendaItem.client_id == client_id,
                                     AgendaItem.owner_role.in_(roles),
                                     *CURRENT_ITEM)
            .order_by(AgendaItem.position, AgendaItem.created_at, AgendaItem.id))).all())

    async def authors(self, client_id: int, person_ids: set[int]) -> tuple[
            list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str, str]]]:
        """Names of these people: as persons, as begeleiders, as this client's naasten
        (person id, name[, relation])."""
        people = await self.session.execute(select(Person.id, Person.name).where(
            Person.id.in_(person_ids)))
        begeleiders = await self.session.execute(
            select(Begeleider.person_id, Begeleider.name).where(
                Begeleider.person_id.in_(person_ids)))
        naasten = await self.session.execute(
            select(Naaste.person_id, Naaste.name, Naaste.relation)
            .where(Naaste.client_id == client_id, Naaste.person_id.in_(person_ids)))
        return ([(i, n) for i, n in people], [(i, n) for i, n in begeleiders if i is not None],
                [(i, n, r) for i, n, r in naasten if i is not None])

    async def meetings(self, client_id: int) -> list[Meeting]:
        """The client's meetings that are not cancelled, by date."""
        return list((await self.session.scalars(select(Meeting).where(
            Meeting.client_id == client_id, Meeting.cancelled_at.is_(None))
            .order_by(Meeting.starts_at))).all())

    async def session_data(self, person_id: int, flow: str) -> dict[str, Any]:
        data = await self.session.scalar(select(DialogSession.data).where(
            DialogSession.person_id == person_id, DialogSession.flow == flow))
        return dict(data or {})

    # --- agenda items (the topics of naasten and begeleiders) ---------------------------
    async def add_agenda_item(self, client_id: int, role: str, person_id: int, kind: str,
                              text: str) -> None:
        """A topic or question at the end of the client's agenda."""
        top = await self.session.scalar(select(func.max(AgendaItem.position)).where(
            AgendaItem.client_id == client_id))
        self.session.add(AgendaItem(client_id=client_id, owner_role=role,
                                    owner_person_id=person_id, kind=kind, text=text,
                                    position=(top or 0) + 1))

    async def agenda_items_by(self, client_id: int, person_id: int) -> list[AgendaItem]:
        """One person's items on a client's agenda (not removed), in order."""
        return list((await self.session.execute(select(AgendaItem).where(
            AgendaItem.client_id == client_id, AgendaItem.owner_person_id == person_id,
            *CURRENT_ITEM)
            .order_by(AgendaItem.position))).scalars())

    async def earlier_rounds(self, client_id: int) -> list[tuple[int, str, str]]:
        """The words (text answers) of the client's earlier rounds: (round, step, text), by
        round, step, item, part."""
        rows = await self._execute(
            select(Answer.round, Answer.step, Answer.text).where(
                Answer.client_id == client_id, Answer.round.is_not(None),
                Answer.removed_at.is_(None), Answer.kind == "text")
            .order_by(Answer.round, Answer.step, Answer.item, Answer.part, Answer.id))
        return [(int(r), str(s), str(x)) for r, s, x in rows]

    async def previous_answers(self, client_id: int) -> dict[str, str]:
        """Last round's words per question (text answers, parts joined), for "Klopt dit
        nog?" in the next round."""
        rows = await self._execute(
            select(Answer.step, Answer.text).join(Client, Client.id == Answer.client_id)
            .where(Answer.client_id == client_id, Answer.round == Client.round - 1,
                   Answer.removed_at.is_(None), Answer.kind == "text")
            .order_by(Answer.step, Answer.item, Answer.part, Answer.id))
        words: dict[str, list[str]] = {}
        for step, text_ in rows:
            words.setdefault(step, []).append(text_)
        return {step: "\n".join(texts) for step, texts in words.items()}

    async def previous_offers(self, client_id: int, topics_step: str, talked_step: str,
                              open_tags: Sequence[str]) -> list[tuple[str, str, str]]:
        """What the next round offers for the agenda: last round's topics (`topics_step`)
        whose answer the day after (`talked_step`) has one of `open_tags` (talked about a bit,
        or not), then every agreement with the mood of its last check-in."""
        client = await self.session.get(Client, client_id)
        assert client is not None
        last = (Answer.client_id == client_id, Answer.round == client.round - 1,
                Answer.removed_at.is_(None))
        topics = (await self.session.execute(
            select(Answer.item, Answer.text).where(*last, Answer.step == topics_step,
                                                   Answer.kind == "text")
            .order_by(Answer.item, Answer.part))).all()
        open_items = set((await self.session.execute(select(Answer.item).where(
            *last, Answer.step == talked_step, Answer.tag.in_(open_tags)))).scalars())
        words: dict[int, list[str]] = {}
        for item, text_ in topics:
            if item in open_items:
                words.setdefault(item, []).append(text_)
        offers = [("topic", " ".join(parts), "") for parts in words.values()]
        moods = await self.agreement_moods(client_id)
        offers += [("agreement", a.text, (moods.get(a.id) or [""])[-1])
                   for a in await self.agreements(client_id) if a.sent_at is not None]
        return offers

    async def keep_previous(self, client_id: int, step: str, person_id: int) -> None:
        """Last round's answer to this question is this round's too: a copy (the old rows
        stay as they were, in their round)."""
        client = await self.session.get(Client, client_id)
        assert client is not None
        old = (await self.session.execute(select(Answer).where(
            Answer.client_id == client_id, Answer.step == step,
            Answer.round == client.round - 1, Answer.removed_at.is_(None))
            .order_by(Answer.item, Answer.part))).scalars().all()
        for row in old:
            self.session.add(Answer(
                client_id=client_id, step=step, item=row.item, part=row.part, kind=row.kind,
                text=row.text, tag=row.tag, file_id=row.file_id,
                file_unique_id=row.file_unique_id, duration=row.duration,
                file_state=row.file_state, file_path=row.file_path, file_size=row.file_size,
                checksum=row.checksum, entered_by=person_id))
        await self.session.flush()

    async def start_round(self, client_id: int) -> int:
        """The next round of the client: the current answers and topics get the number of
        the round they belong to (nothing else of them changes); the new round is empty.
        Returns the new round's number."""
        client = await self.session.get(Client, client_id)
        assert client is not None
        done = client.round
        await self._execute(update(Answer).where(Answer.client_id == client_id,
                                                 Answer.round.is_(None)).values(round=done))
        await self._execute(update(AgendaItem).where(AgendaItem.client_id == client_id,
                                                     AgendaItem.round.is_(None))
                            .values(round=done))
        client.round = done + 1
        await self.session.flush()
        return client.round

    async def agreements(self, client_id: int) -> list[Agreement]:
        """The client's agreements (not removed), oldest first."""
        result = await self.session.execute(select(Agreement).where(
            Agreement.client_id == client_id, Agreement.removed_at.is_(None))
            .order_by(Agreement.id))
        return list(result.scalars())

    async def agreement_moods(self, client_id: int) -> dict[int, list[str]]:
        """The moods of each agreement's check-ins, oldest first (an evaluation's last
        words belong to no agreement and are left out)."""
        moods: dict[int, list[str]] = {}
        for answer in await self.check_ins(client_id):
            if answer.agreement_id is not None:
                moods.setdefault(answer.agreement_id, []).append(answer.mood)
        return moods

    async def check_ins(self, client_id: int) -> list[CheckIn]:
        """The client's check-in answers, oldest first."""
        result = await self.session.execute(select(CheckIn).where(
            CheckIn.client_id == client_id).order_by(CheckIn.id))
        return list(result.scalars())

    async def person_chat(self, person_id: int) -> int | None:
        """A person's chat, unless they blocked the bot."""
        return await self.session.scalar(select(Person.chat_id).where(
            Person.id == person_id, Person.blocked_bot.is_(False)))

    async def client_chat(self, client_id: int) -> int | None:
        """The client's own chat, if they joined and have not blocked the bot."""
        return await self.session.scalar(
            select(Person.chat_id).join(Client, Client.person_id == Person.id)
            .where(Client.id == client_id, Person.blocked_bot.is_(False)))

    async def begeleider_chat(self, client_id: int) -> int | None:
        """The chat of the client's begeleider, if they joined."""
        return await self.session.scalar(
            select(Person.chat_id).join(Begeleider, Begeleider.person_id == Person.id)
            .join(Client, Client.begeleider_id == Begeleider.id)
            .where(Client.id == client_id))

    async def admin_chats(self, organisation_id: int) -> list[int]:
        """The chats of the organisation's admins who joined (and did not block the bot)."""
        return [chat for chat in (await self.session.scalars(
            select(Person.chat_id).join(Admin, Admin.person_id == Person.id)
            .where(Admin.organisation_id == organisation_id,
                   Person.blocked_bot.is_not(True)).order_by(Admin.id))).all()
            if chat is not None]

    async def get(self, model: type[_Row], ident: int) -> _Row | None:
        """A row by its id (from this transaction's identity map when it is there)."""
        return await self.session.get(model, ident)

    async def add(self, row: _Row) -> _Row:
        """A new row, written now (so it has its id)."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def flush(self) -> None:
        """Write what the ORM holds (the commit follows when the unit ends)."""
        await self.session.flush()

    async def execute_many(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        await self._execute(statement, rows)

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        """A Core statement on the transaction's connection (no ORM bookkeeping)."""
        session = self.session
        if session.new or session.dirty or session.deleted:
            await session.flush()  # the ORM's pending writes first, so Core reads see them
        connection = await session.connection()
        return await connection.execute(statement, params or {})

    async def client_of(self, person: Person) -> Client | None:
        result = await self.session.execute(select(Client).where(Client.person_id == person.id))
        return result.scalar_one_or_none()

    async def default_organisation(self) -> Organisation:
        organisation = (await self.session.execute(
            select(Organisation).order_by(Organisation.id).limit(1))).scalar_one_or_none()
        if organisation is None:
            organisation = Organisation(name="Mijn organisatie")
            self.session.add(organisation)
            await self.session.flush()
        return organisation

    async def create_invite(self, role: str, organisation_id: int, days: int,
                            now: datetime | None = None, created_by: int | None = None,
                            **refs: int) -> str:
        """A one-time start token for `role`; refs: client_id, begeleider_id, naaste_id,
        admin_id (what the person will be linked to)."""
        now = now or utcnow()
        token = secrets.token_urlsafe(24)
        self.session.add(Invite(token_hash=token_hash(token), role=role,
                                organisation_id=organisation_id,
                                created_by=created_by, expires_at=now + timedelta(days=days),
                                **refs))
        return token

    async def redeem_invite(self, token: str, telegram_user_id: int, chat_id: int,
                            name: str, now: datetime) -> Redeemed:
        hashed = token_hash(token)
        query = select(Invite).where(Invite.token_hash == hashed)
        if self.is_postgres:
            query = query.with_for_update()
        invite = (await self.session.execute(query)).scalar_one_or_none()
        # Found by its hash; compared once more in constant time (no timing hint).
        if invite is None or not hmac.compare_digest(invite.token_hash, hashed):
            return Redeemed(None, "unknown")
        if invite.used_at is not None:
            return Redeemed(None, "used")
        if invite.expires_at <= now:
            return Redeemed(None, "expired")
        target = await self._invite_target(invite)
        if target is None or getattr(target, "person_id", None) is not None:
            return Redeemed(None, "used")
        person = await self.person(telegram_user_id)
        if invite.role == "client" and person is not None \
                and await self.client_of(person) is not None:
            return Redeemed(None, "taken")
        # Claim the link atomically: of two people pressing it at once, one wins (SQLite
        # reads outside a transaction, so the check above alone would let both through).
        claimed = await self.session.execute(
            update(Invite).where(Invite.token_hash == hashed, Invite.used_at.is_(None))
            .values(used_at=now).execution_options(synchronize_session=False))
        if getattr(claimed, "rowcount", 1) != 1:
            return Redeemed(None, "used")
        if person is None:  # only now: a refused link leaves no person without a role
            person = Person(telegram_user_id=telegram_user_id, chat_id=chat_id, name=name)
            self.session.add(person)
            await self.session.flush()
        target.person_id = person.id
        invite.used_at = now
        invite.used_by = person.id
        client = target if isinstance(target, Client) else None
        return Redeemed(client, "ok", invite.role, int(target.id))

    async def _invite_target(self, invite: Invite) -> Client | Begeleider | Naaste | Admin | None:
        refs: dict[str, tuple[type[Client] | type[Begeleider] | type[Naaste] | type[Admin],
                              int | None]] = {
            "client": (Client, invite.client_id), "begeleider": (Begeleider, invite.begeleider_id),
            "naaste": (Naaste, invite.naaste_id), "admin": (Admin, invite.admin_id)}
        model, ref = refs.get(invite.role, (Client, None))
        if ref is None:
            return None
        target = await self.session.get(model, ref)
        if isinstance(target, Naaste) and target.removed_at is not None:
            return None
        return target if isinstance(target, Client | Begeleider | Naaste | Admin) else None

    # --- the dialog -------------------------------------------------------------------
    async def load_session(self, person_id: int, flow: str, client_id: int | None,
                           initial: str) -> DialogSession:
        query = select(DialogSession).where(DialogSession.person_id == person_id,
                                            DialogSession.flow == flow)
        if self.is_postgres:
            query = query.with_for_update()
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            row = DialogSession(person_id=person_id, flow=flow, client_id=client_id,
                                step=initial, status="active", seq=0, data={})
            self.session.add(row)
            await self.session.flush()
        return row

    async def answers(self, client_id: int) -> list[Answer]:
        """The client's current answers (not removed), by step, item, part."""
        result = await self.session.execute(
            select(Answer).where(Answer.client_id == client_id, *CURRENT_ANSWER)
            .order_by(Answer.step, Answer.item, Answer.part, Answer.id))
        return list(result.scalars())

    async def meeting(self, client_id: int) -> Meeting | None:
        result = await self.session.execute(
            select(Meeting).where(Meeting.client_id == client_id, Meeting.cancelled_at.is_(None))
            .order_by(Meeting.id.desc()).limit(1))
        return result.scalar_one_or_none()

    async def _current(self, client_id: int, *where: Any) -> list[Answer]:
        result = await self.session.execute(
            select(Answer).where(Answer.client_id == client_id, *CURRENT_ANSWER, *where)
            .order_by(Answer.item, Answer.part))
        return list(result.scalars())

    async def add_part(self, answer: Answer, replace: bool = False) -> None:
        """Add one message to an answer. `answer.item` 0 means a new item at the end;
        `replace` first removes the item's earlier parts (they stay, marked removed)."""
        client_id, step = answer.client_id, answer.step
        if not answer.item:
            top = await self.session.scalar(select(func.max(Answer.item)).where(
                Answer.client_id == client_id, Answer.step == step,
                *CURRENT_ANSWER))
            answer.item = (top or 0) + 1
        if replace:
            await self.remove(client_id, Answer.step == step, Answer.item == answer.item)
        last_part = await self.session.scalar(select(func.max(Answer.part)).where(
            Answer.client_id == client_id, Answer.step == step, Answer.item == answer.item,
            *CURRENT_ANSWER))
        answer.part = (last_part or 0) + 1
        self.session.add(answer)

    async def remove(self, client_id: int, *where: Any) -> None:
        now = utcnow()
        for answer in await self._current(client_id, *where):
            answer.removed_at = now

    async def move_item_up(self, client_id: int, step: str, item: int) -> None:
        rows = await self._current(client_id, Answer.step == step)
        items = sorted({r.item for r in rows})
        if item not in items or items.index(item) == 0:
            return
        above = items[items.index(item) - 1]
        for row in rows:  # swap the two item numbers
            if row.item == item:
                row.item = above
            elif row.item == above:
                row.item = item

    # --- voice answers written out (issue 19) ------------------------------------------
    async def transcript_to_ask(self, answer_id: int, words: str, kinds: Sequence[str]
                                ) -> tuple[int, int] | None:
        """Keep what the engine heard in a voice answer, waiting for the client's word;
        (client id, the client's person id) — None when the answer is gone, is not of
        `kinds` (recordings) or not current, or was written out already."""
        answer = await self.session.get(Answer, answer_id)
        if (answer is None or answer.kind not in kinds
                or answer.removed_at is not None or answer.transcript_state is not None):
            return None
        client = await self.session.get(Client, answer.client_id)
        if client is None or client.person_id is None:
            return None
        answer.transcript, answer.transcript_state = words, "pending"
        await self.session.flush()
        return client.id, client.person_id

    async def set_transcript(self, client_id: int, answer_id: int, state: str) -> None:
        """The client's word on a transcript that waits for it (their own answer only)."""
        await self._execute(update(Answer).where(
            Answer.id == answer_id, Answer.client_id == client_id,
            Answer.transcript_state == "pending").values(transcript_state=state))

    async def edit_by_message(self, client_id: int, message_id: int, text: str) -> None:
        """An edited Telegram message changes its answer; the old text goes to history."""
        now = utcnow()
        for answer in await self._current(client_id, Answer.message_id == message_id):
            self.session.add(AnswerHistory(answer_id=answer.id, old_text=answer.text,
                                           changed_at=now))
            answer.text = text
            answer.changed_at = now

    async def set_share(self, client_id: int, naaste_id: int | None, part: str,
                        allowed: bool) -> None:
        row = (await self.session.execute(select(Share).where(
            Share.client_id == client_id,
            Share.naaste_id.is_(None) if naaste_id is None else Share.naaste_id == naaste_id,
            Share.part == part))).scalar_one_or_none()
        if row is None:
            self.session.add(Share(client_id=client_id, naaste_id=naaste_id, part=part,
                                   allowed=allowed, changed_at=utcnow()))
        else:
            row.allowed = allowed
            row.changed_at = utcnow()




ANSWER_FIELDS = tuple(column.key for column in _ANSWER_COLUMNS)


def _copy(data: Any) -> dict[str, Any]:
    return copy.deepcopy(data) if data else {}
