"""An in-memory unit of work for fast tests of the service (no database, no Telegram).

It keeps the same rows as bot/state (the ORM classes as plain objects) in dicts, and gives
the methods of `bot.state.unit.Unit` that the turn kernel, the client's turn and the access
module call. A unit that raises is rolled back (the tables are copied when it begins).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot.state.models import (
    Admin,
    AgendaItem,
    Agreement,
    Answer,
    AuditLog,
    Begeleider,
    CheckIn,
    Client,
    Invite,
    Meeting,
    Naaste,
    Organisation,
    Person,
    Share,
    token_hash,
    utcnow,
)
from bot.state.unit import ANSWER_FIELDS, PersonRow, Progress, RoleRow, SessionRow

_Row = TypeVar("_Row")
ROLE_ORDER = ("client", "begeleider", "naaste", "admin")


@dataclass
class Tables:
    rows: dict[type, dict[int, Any]] = field(default_factory=dict)
    sessions: dict[tuple[int, str], SessionRow] = field(default_factory=dict)
    inbox: dict[int, str] = field(default_factory=dict)  # update id → state
    forgotten: set[int] = field(default_factory=set)
    audit: list[AuditLog] = field(default_factory=list)

    def of(self, model: type[_Row]) -> dict[int, _Row]:
        return self.rows.setdefault(model, {})


class FakeStore:
    """`store.unit()` as in bot/state/store.py, over `Tables` in memory."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.ids = itertools.count(1)
        self.commits = 0
        self.sent: list[tuple[int, datetime]] = []

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[FakeUnit]:
        before = copy.deepcopy(self.tables)
        try:
            yield FakeUnit(self)
        except BaseException:
            self.tables = before  # rolled back
            raise
        self.commits += 1

    async def replies_sent(self, marks: list[tuple[int, datetime]]) -> None:
        self.sent.extend(marks)

    def add(self, row: _Row) -> _Row:
        """Put a row in (as if committed earlier), with a new id when it has none."""
        if getattr(row, "id", None) is None:
            row.id = next(self.ids)  # type: ignore[attr-defined]
        self.tables.of(type(row))[row.id] = row  # type: ignore[attr-defined]
        return row


class FakeUnit:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.is_postgres = False
        self.audited: set[tuple[int, int | None, str, bool]] = set()
        self.client_names: dict[int, str] = {}

    @property
    def t(self) -> Tables:
        return self.store.tables

    # --- inbox ---------------------------------------------------------------------------
    async def earlier_waiting(self, chat_id: int | None, update_id: int
                              ) -> tuple[int, dict[str, Any]] | None:
        return None  # one process: the order is the caller's

    async def claim(self, update_id: int, chat_id: int | None,
                    fetched: dict[str, Any] | None = None) -> bool:
        if self.t.inbox.get(update_id, "new") != "new":
            return False
        self.t.inbox[update_id] = "done"
        return True

    async def forget_update(self, update_id: int) -> None:
        self.t.forgotten.add(update_id)

    async def flush(self) -> None:
        pass

    async def get(self, model: type[_Row], ident: int) -> _Row | None:
        return self.t.of(model).get(ident)

    # --- people --------------------------------------------------------------------------
    async def person_and_roles(self, telegram_user_id: int, flow: str = ""
                               ) -> tuple[PersonRow | None, list[RoleRow]]:
        person = next((p for p in self.t.of(Person).values()
                       if p.telegram_user_id == telegram_user_id), None)
        if person is None:
            return None, []
        clients = self.t.of(Client)
        roles = [RoleRow("client", c.id, c.name) for c in clients.values()
                 if c.person_id == person.id]
        roles += [RoleRow("begeleider", b.id) for b in self.t.of(Begeleider).values()
                  if b.person_id == person.id]
        roles += [RoleRow("naaste", n.id, clients[n.client_id].name)
                  for n in self.t.of(Naaste).values()
                  if n.person_id == person.id and n.removed_at is None]
        roles += [RoleRow("admin", a.id) for a in self.t.of(Admin).values()
                  if a.person_id == person.id]
        roles.sort(key=lambda r: (ROLE_ORDER.index(r.kind), r.id))
        self.client_names.update((r.id, r.client_name) for r in roles if r.kind == "client")
        return PersonRow(person.id, person.chat_id, person.name,
                         bool(person.blocked_bot)), roles

    async def seen_in(self, person: PersonRow, chat_id: int) -> None:
        row = self.t.of(Person)[person.id]
        row.chat_id, row.blocked_bot = chat_id, False
        person.chat_id, person.blocked_bot = chat_id, False

    async def set_blocked(self, person_id: int, blocked: bool) -> None:
        self.t.of(Person)[person_id].blocked_bot = blocked

    async def is_client_token(self, token: str) -> bool:
        invite = next((i for i in self.t.of(Invite).values()
                       if i.token_hash == token_hash(token)), None)
        return invite is None or invite.role == "client"

    async def client(self, client_id: int) -> Client | None:
        return self.t.of(Client).get(client_id)

    # --- the dialog session --------------------------------------------------------------
    async def session_row(self, person_id: int, flow: str, client_id: int | None,
                          initial: str) -> SessionRow:
        row = self.t.sessions.get((person_id, flow))
        if row is None:
            row = SessionRow(next(self.store.ids), initial, "active", 0, {}, False, utcnow())
            self.t.sessions[(person_id, flow)] = row
        return copy.deepcopy(row)

    async def save_session(self, row: SessionRow) -> None:
        row.updated_at = utcnow()
        key = next(k for k, v in self.t.sessions.items() if v.id == row.id)
        self.t.sessions[key] = copy.deepcopy(row)

    # --- answers -------------------------------------------------------------------------
    def _current(self, client_id: int) -> list[Answer]:
        return [a for a in self.t.of(Answer).values()
                if a.client_id == client_id and a.removed_at is None
                and a.round is None]

    async def answer_rows(self, client_id: int) -> list[tuple[Any, ...]]:
        rows = sorted(self._current(client_id), key=lambda a: (a.step, a.item, a.part, a.id))
        return [tuple(getattr(a, name) for name in ANSWER_FIELDS) for a in rows]

    async def insert_answer(self, **values: Any) -> int:
        values.setdefault("file_state", None)
        values.setdefault("removed_at", None)
        return int(self.store.add(Answer(**values)).id)

    async def remove_answers(self, client_id: int, step: str, *, item: int | None = None,
                             tag: str | None = None) -> None:
        for answer in self._current(client_id):
            if answer.step == step and (answer.item == item if item is not None
                                        else answer.tag == tag):
                answer.removed_at = utcnow()

    def _previous(self, client_id: int, step: str | None = None) -> list[Answer]:
        client = self.t.of(Client)[client_id]
        return sorted((a for a in self.t.of(Answer).values()
                       if a.client_id == client_id and a.removed_at is None
                       and a.round == (client.round or 1) - 1
                       and (step is None or a.step == step)),
                      key=lambda a: (a.step, a.item, a.part, a.id))

    async def earlier_rounds(self, client_id: int) -> list[tuple[int, str, str]]:
        rows = sorted((a for a in self.t.of(Answer).values()
                       if a.client_id == client_id and a.round is not None
                       and a.removed_at is None and a.kind == "text"),
                      key=lambda a: (a.round, a.step, a.item, a.part, a.id))
        return [(a.round, a.step, a.text) for a in rows]

    async def previous_answers(self, client_id: int) -> dict[str, str]:
        words: dict[str, list[str]] = {}
        for a in self._previous(client_id):
            if a.kind == "text":
                words.setdefault(a.step, []).append(a.text)
        return {step: "\n".join(texts) for step, texts in words.items()}

    async def previous_offers(self, client_id: int, topics_step: str, talked_step: str,
                              open_tags: Any) -> list[tuple[str, str, str]]:
        last = self._previous(client_id)
        open_items = {a.item for a in last if a.step == talked_step and a.tag in open_tags}
        offers = [("topic", a.text, "") for a in last
                  if a.step == topics_step and a.kind == "text" and a.item in open_items]
        moods = await self.agreement_moods(client_id)
        return offers + [("agreement", a.text, (moods.get(a.id) or [""])[-1])
                         for a in await self.agreements(client_id) if a.sent_at is not None]

    async def agreement_moods(self, client_id: int) -> dict[int, list[str]]:
        moods: dict[int, list[str]] = {}
        for answer in await self.check_ins(client_id):
            if answer.agreement_id is not None:
                moods.setdefault(answer.agreement_id, []).append(answer.mood)
        return moods

    async def keep_previous(self, client_id: int, step: str, person_id: int) -> None:
        for a in self._previous(client_id, step):
            self.store.add(Answer(client_id=client_id, step=step, item=a.item, part=a.part,
                                  kind=a.kind, text=a.text, tag=a.tag, file_id=a.file_id,
                                  entered_by=person_id, removed_at=None, round=None,
                                  created_at=utcnow()))

    async def start_round(self, client_id: int) -> int:
        client = self.t.of(Client)[client_id]
        done = client.round or 1
        for row in [*self.t.of(Answer).values(), *self.t.of(AgendaItem).values()]:
            if row.client_id == client_id and row.round is None:
                row.round = done
        client.round = done + 1
        return client.round

    async def move_item_up(self, client_id: int, step: str, item: int) -> None:
        rows = [a for a in self._current(client_id) if a.step == step]
        items = sorted({a.item for a in rows})
        if item not in items or items.index(item) == 0:
            return
        above = items[items.index(item) - 1]
        for row in rows:  # swap the two item numbers
            if row.item in {item, above}:
                row.item = above if row.item == item else item

    async def edit_by_message(self, client_id: int, message_id: int, text: str) -> None:
        for answer in self._current(client_id):
            if answer.message_id == message_id:
                answer.text = text
                answer.changed_at = utcnow()

    async def meeting(self, client_id: int) -> Meeting | None:
        meetings = [m for m in self.t.of(Meeting).values()
                    if m.client_id == client_id and m.cancelled_at is None]
        return max(meetings, key=lambda m: m.id, default=None)

    # --- naasten, sharing, access --------------------------------------------------------
    async def naasten(self, client_id: int) -> list[Naaste]:
        return sorted((n for n in self.t.of(Naaste).values()
                       if n.client_id == client_id and n.removed_at is None),
                      key=lambda n: n.id)

    async def naaste_of(self, client_id: int, person_id: int) -> Naaste | None:
        return next((n for n in await self.naasten(client_id) if n.person_id == person_id),
                    None)

    async def shares(self, client_id: int) -> list[tuple[int, str]]:
        return [(s.naaste_id, s.part) for s in self.t.of(Share).values()
                if s.client_id == client_id and s.allowed and s.naaste_id is not None]

    async def agreements(self, client_id: int) -> list[Agreement]:
        return sorted((a for a in self.t.of(Agreement).values()
                       if a.client_id == client_id and a.removed_at is None),
                      key=lambda a: a.id)

    async def check_ins(self, client_id: int) -> list[CheckIn]:
        return sorted((c for c in self.t.of(CheckIn).values() if c.client_id == client_id),
                      key=lambda c: c.id)

    async def person_chat(self, person_id: int) -> int | None:
        person = self.t.of(Person).get(person_id)
        return person.chat_id if person is not None and not person.blocked_bot else None

    async def client_chat(self, client_id: int) -> int | None:
        client = self.t.of(Client).get(client_id)
        person = self.t.of(Person).get(client.person_id) if client and client.person_id else None
        return person.chat_id if person is not None and not person.blocked_bot else None

    async def naaste_belongs(self, naaste_id: int, client_id: int) -> bool:
        naaste = self.t.of(Naaste).get(naaste_id)
        return naaste is not None and naaste.client_id == client_id

    async def set_naaste_removed(self, naaste_id: int, client_id: int, removed: bool) -> None:
        naaste = self.t.of(Naaste).get(naaste_id)
        if naaste is not None and naaste.client_id == client_id:
            naaste.removed_at = utcnow() if removed else None

    async def set_share(self, client_id: int, naaste_id: int | None, part: str,
                        allowed: bool) -> None:
        row = next((s for s in self.t.of(Share).values() if s.client_id == client_id
                    and s.naaste_id == naaste_id and s.part == part), None)
        if row is None:
            self.store.add(Share(client_id=client_id, naaste_id=naaste_id, part=part,
                                 allowed=allowed, changed_at=utcnow()))
        else:
            row.allowed = allowed
            row.changed_at = utcnow()

    async def shared_parts(self, client_id: int, naaste_id: int) -> set[str]:
        return {part for n, part in await self.shares(client_id) if n == naaste_id}

    async def admin_in(self, person_id: int, organisation_id: int) -> Admin | None:
        return next((a for a in self.t.of(Admin).values()
                     if a.person_id == person_id and a.organisation_id == organisation_id),
                    None)

    async def begeleider_chat(self, client_id: int) -> int | None:
        client = self.t.of(Client)[client_id]
        begeleider = self.t.of(Begeleider).get(client.begeleider_id or 0)
        person = self.t.of(Person).get(begeleider.person_id or 0) if begeleider else None
        return person.chat_id if person else None

    async def admin_chats(self, organisation_id: int) -> list[int]:
        people = [self.t.of(Person).get(a.person_id or 0) for a in self.t.of(Admin).values()
                  if a.organisation_id == organisation_id]
        return [p.chat_id for p in people if p is not None and p.chat_id is not None
                and not p.blocked_bot]

    def audit(self, viewer_person_id: int, client_id: int | None, part: str, allowed: bool,
              at: datetime) -> None:
        self.t.audit.append(AuditLog(viewer_person_id=viewer_person_id, client_id=client_id,
                                     part=part, allowed=allowed, at=at))


    # --- what the begeleider's and admin's screens show ----------------------------------
    async def add(self, row: _Row) -> _Row:
        for column in type(row).__table__.columns:  # type: ignore[attr-defined]
            if getattr(row, column.key, None) is None and column.default is not None \
                    and column.default.is_scalar:
                setattr(row, column.key, column.default.arg)
        return self.store.add(row)

    async def create_invite(self, role: str, organisation_id: int, days: int,
                            now: datetime | None = None, created_by: int | None = None,
                            **refs: int) -> str:
        token = f"token-{next(self.store.ids)}"
        self.store.add(Invite(token_hash=token_hash(token), role=role,
                              organisation_id=organisation_id,
                              created_by=created_by, **refs))
        return token

    async def clients_of(self, begeleider_id: int) -> list[Client]:
        return sorted((c for c in self.t.of(Client).values()
                       if c.begeleider_id == begeleider_id), key=lambda c: c.name)

    async def people_of(self, organisation_id: int
                        ) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        def of(model: type[Any]) -> list[tuple[int, str]]:
            return sorted(((r.id, r.name) for r in self.t.of(model).values()
                           if r.organisation_id == organisation_id), key=lambda r: r[1])
        return of(Client), of(Begeleider)

    async def progress(self, client_id: int, topics_step: str, place_step: str) -> Progress:
        rows = self._current(client_id)
        places = [a.text for a in sorted(rows, key=lambda a: a.id)
                  if a.step == place_step and a.kind == "text"]
        return Progress({a.step for a in rows},
                        len({a.item for a in rows if a.step == topics_step}), None,
                        places[0] if places else None)

    async def person_names(self) -> dict[int, str]:
        return {p.id: p.name for p in self.t.of(Person).values()}

    async def add_agenda_item(self, client_id: int, role: str, person_id: int, kind: str,
                              text: str) -> None:
        top = max((i.position for i in self.t.of(AgendaItem).values()
                   if i.client_id == client_id), default=0)
        self.store.add(AgendaItem(client_id=client_id, owner_role=role,
                                  owner_person_id=person_id, kind=kind, text=text,
                                  position=top + 1, created_at=utcnow(), removed_at=None))

    async def agenda_items_by(self, client_id: int, person_id: int) -> list[AgendaItem]:
        return sorted((i for i in self.t.of(AgendaItem).values() if i.client_id == client_id
                       and i.owner_person_id == person_id and i.removed_at is None
                       and i.round is None),
                      key=lambda i: i.position)

    # --- what an agenda is compiled from -------------------------------------------------
    async def answers_of(self, client_id: int, steps: Any) -> list[Answer]:
        return sorted((a for a in self._current(client_id) if a.step in steps),
                      key=lambda a: (a.step, a.item, a.part, a.id))

    async def all_answers(self, client_id: int) -> list[Answer]:
        return sorted((a for a in self.t.of(Answer).values() if a.client_id == client_id),
                      key=lambda a: (a.round is None, a.round or 0, a.step, a.item, a.part,
                                     a.id))

    async def agenda_items_of(self, client_id: int, roles: Any) -> list[AgendaItem]:
        return sorted((i for i in self.t.of(AgendaItem).values() if i.client_id == client_id
                       and i.owner_role in roles and i.removed_at is None
                       and i.round is None),
                      key=lambda i: (i.position, i.id))

    async def authors(self, client_id: int, person_ids: set[int]) -> tuple[
            list[tuple[int, str]], list[tuple[int, str]], list[tuple[int, str, str]]]:
        people = [(p.id, p.name) for p in self.t.of(Person).values() if p.id in person_ids]
        begeleiders = [(b.person_id, b.name) for b in self.t.of(Begeleider).values()
                       if b.person_id in person_ids]
        naasten = [(n.person_id, n.name, n.relation) for n in self.t.of(Naaste).values()
                   if n.client_id == client_id and n.person_id in person_ids]
        return people, begeleiders, naasten

    async def meetings(self, client_id: int) -> list[Meeting]:
        return sorted((m for m in self.t.of(Meeting).values()
                       if m.client_id == client_id and m.cancelled_at is None),
                      key=lambda m: m.starts_at or utcnow())

    async def session_data(self, person_id: int, flow: str) -> dict[str, Any]:
        row = self.t.sessions.get((person_id, flow))
        return dict(row.data) if row else {}

    async def organisation_look(self, organisation_id: int) -> tuple[str | None, Any]:
        row = self.t.of(Organisation).get(organisation_id)
        return (row.picto_manifest, row.texts) if row is not None else (None, None)

    async def readback_offline(self, person_id: int) -> bool:
        mine = {r.organisation_id for kind in (Client, Begeleider, Admin)
                for r in self.t.of(kind).values() if r.person_id == person_id}
        clients = self.t.of(Client)
        mine |= {clients[n.client_id].organisation_id for n in self.t.of(Naaste).values()
                 if n.person_id == person_id and n.removed_at is None}
        return any(o.readback_offline for o in self.t.of(Organisation).values()
                   if o.id in mine)


def organisation(store: FakeStore) -> Organisation:
    return store.add(Organisation(name="Zorg"))
