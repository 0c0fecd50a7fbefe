"""The only code that writes. One unit of work (one transaction) per update.

`Store` owns the engine; `Unit` is one transaction: claim the update, read what the dialog
needs, apply its effects, save the dialog state, mark the update done, commit.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.state.models import (
    Admin,
    Answer,
    AnswerHistory,
    Begeleider,
    Client,
    DialogSession,
    Inbox,
    Invite,
    Meeting,
    Naaste,
    Organisation,
    Person,
    PictoCache,
    Share,
    SpeechCache,
    utcnow,
)


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A few long-lived connections: opening one costs a thread and three PRAGMAs, and
        # SQLite has one writer at a time anyway, so waiting beats opening more.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=4,
                                     max_overflow=0, pool_timeout=60)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL keeps readers and the writer apart; NORMAL is durable against a process
            # crash (kill -9), which is the failure we promise to survive.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


@dataclass(frozen=True)
class Redeemed:
    client: Client | None
    reason: str  # "ok", "unknown", "used", "expired", "taken"
    role: str = ""
    ref_id: int = 0


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_postgres = url.startswith("postgresql")

    async def close(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self._sessions() as session, session.begin():
            yield Unit(session, self.is_postgres)

    # --- the inbox: each in its own short transaction ---------------------------------
    async def inbox_add(self, update_id: int, chat_id: int | None,
                        payload: dict[str, Any]) -> bool:
        """Store a fetched update (committed). False if it was there already."""
        insert = postgresql_insert if self.is_postgres else sqlite_insert
        statement = insert(Inbox).values(
            update_id=update_id, chat_id=chat_id, payload=payload, state="new",
            received_at=utcnow()).on_conflict_do_nothing(index_elements=["update_id"])
        async with self.unit() as unit:
            result = await unit.session.execute(statement)
        return bool(getattr(result, "rowcount", 1))

    async def inbox_failed(self, update_id: int) -> None:
        """Handling failed: keep the update for the operator, do not replay it."""
        async with self.unit() as unit:
            await unit.session.execute(update(Inbox).where(
                Inbox.update_id == update_id, Inbox.state == "new").values(state="failed"))

    async def inbox_pending(self) -> list[tuple[int, dict[str, Any]]]:
        async with self.unit() as unit:
            rows = await unit.session.execute(
                select(Inbox.update_id, Inbox.payload)
                .where(Inbox.state == "new").order_by(Inbox.update_id))
            return [(r.update_id, r.payload or {}) for r in rows]

    async def sessions_awaiting_reply(self) -> list[int]:
        """Telegram user ids whose last replies may not have gone out (crash after commit)."""
        async with self.unit() as unit:
            rows = await unit.session.execute(
                select(Person.telegram_user_id).join(
                    DialogSession, DialogSession.person_id == Person.id)
                .where(DialogSession.reply_pending.is_(True)))
            return [r[0] for r in rows if r[0] is not None]

    async def reply_sent(self, person_id: int) -> None:
        """The replies of this person's last update are out (whatever flow they were in)."""
        async with self.unit() as unit:
            await unit.session.execute(
                update(DialogSession)
                .where(DialogSession.person_id == person_id,
                       DialogSession.reply_pending.is_(True))
                .values(reply_pending=False))

    # --- caches of Telegram file ids --------------------------------------------------
    async def file_id(self, table: type[SpeechCache] | type[PictoCache], key: str) -> str | None:
        async with self.unit() as unit:
            row = await unit.session.get(table, key)
            return str(getattr(row, "file_id", "")) or None

    async def remember_file_id(self, table: type[SpeechCache] | type[PictoCache], key: str,
                               file_id: str) -> None:
        try:
            async with self.unit() as unit:
                row = await unit.session.get(table, key)
                if row is None:
                    unit.session.add(table(key=key, file_id=file_id))
                else:
                    row.file_id = file_id  # type: ignore[attr-defined]
        except IntegrityError:  # another process stored it first: theirs is as good
            pass

    # --- enrolment (CLI) --------------------------------------------------------------
    async def create_client_invite(self, name: str, days: int, now: datetime | None = None,
                                   begeleider_id: int | None = None) -> tuple[Client, str]:
        now = now or utcnow()
        async with self.unit() as unit:
            organisation = await unit.default_organisation()
            client = Client(organisation_id=organisation.id, name=name,
                            begeleider_id=begeleider_id)
            unit.session.add(client)
            await unit.session.flush()
            token = await unit.create_invite("client", organisation.id, days, now,
                                             client_id=client.id)
        return client, token

    async def create_role_invite(self, role: str, name: str, days: int) -> str:
        """CLI: a begeleider or admin of the (default) organisation, with a start token."""
        async with self.unit() as unit:
            organisation = await unit.default_organisation()
            model = Begeleider if role == "begeleider" else Admin
            row = model(organisation_id=organisation.id, name=name)
            unit.session.add(row)
            await unit.session.flush()
            refs = {f"{role}_id": row.id}
            return await unit.create_invite(role, organisation.id, days, None, None, **refs)

    async def set_meeting(self, client_id: int, starts_at: datetime | None) -> None:
        async with self.unit() as unit:
            meeting = await unit.meeting(client_id)
            if meeting is None:
                unit.session.add(Meeting(client_id=client_id, starts_at=starts_at))
            else:
                meeting.starts_at = starts_at


class Unit:
    """One transaction. Reads lock what they will change (on PostgreSQL)."""

    def __init__(self, session: AsyncSession, is_postgres: bool) -> None:
        self.session = session
        self.is_postgres = is_postgres
        # Reads already in the access log in this transaction (bot/access.py logs each once).
        self.audited: set[tuple[int, int | None, str, bool]] = set()

    # --- inbox ------------------------------------------------------------------------
    async def claim_update(self, update_id: int) -> bool:
        """True if this update still has to be handled (and is now locked for us)."""
        query = select(Inbox).where(Inbox.update_id == update_id)
        if self.is_postgres:
            query = query.with_for_update()
        else:
            # SQLite reads outside a transaction: take the write lock first (a write that
            # changes nothing), so a second handler of the same update (two pollers, a
            # redelivery) waits for this commit and then sees the update done.
            await self.session.execute(update(Inbox).where(Inbox.update_id == update_id)
                                       .values(state=Inbox.state)
                                       .execution_options(synchronize_session=False))
        row = (await self.session.execute(query)).scalar_one_or_none()
        return row is None or row.state == "new"

    async def mark_done(self, update_id: int, chat_id: int | None, forget: bool = False) -> None:
        """Done in the same commit as the effects. `forget` drops the raw update (group chats
        and strangers: we keep nothing of theirs)."""
        row = await self.session.get(Inbox, update_id)
        if row is None:
            row = Inbox(update_id=update_id, chat_id=chat_id, payload=None)
            self.session.add(row)
        row.state = "done"
        row.handled_at = utcnow()
        if forget:
            row.payload = None

    # --- people -----------------------------------------------------------------------
    async def person(self, telegram_user_id: int) -> Person | None:
        result = await self.session.execute(
            select(Person).where(Person.telegram_user_id == telegram_user_id))
        return result.scalar_one_or_none()

    async def client_of(self, person: Person) -> Client | None:
        result = await self.session.execute(select(Client).where(Client.person_id == person.id))
        return result.scalar_one_or_none()

    async def set_blocked(self, person: Person, blocked: bool) -> None:
        person.blocked_bot = blocked

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
        self.session.add(Invite(token=token, role=role, organisation_id=organisation_id,
                                created_by=created_by, expires_at=now + timedelta(days=days),
                                **refs))
        return token

    async def redeem_invite(self, token: str, telegram_user_id: int, chat_id: int,
                            name: str, now: datetime) -> Redeemed:
        query = select(Invite).where(Invite.token == token)
        if self.is_postgres:
            query = query.with_for_update()
        invite = (await self.session.execute(query)).scalar_one_or_none()
        if invite is None:
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
            update(Invite).where(Invite.token == token, Invite.used_at.is_(None))
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
            select(Answer).where(Answer.client_id == client_id, Answer.removed_at.is_(None))
            .order_by(Answer.step, Answer.item, Answer.part, Answer.id))
        return list(result.scalars())

    async def meeting(self, client_id: int) -> Meeting | None:
        result = await self.session.execute(
            select(Meeting).where(Meeting.client_id == client_id, Meeting.cancelled_at.is_(None))
            .order_by(Meeting.id.desc()).limit(1))
        return result.scalar_one_or_none()

    async def _current(self, client_id: int, *where: Any) -> list[Answer]:
        result = await self.session.execute(
            select(Answer).where(Answer.client_id == client_id, Answer.removed_at.is_(None),
                                 *where).order_by(Answer.item, Answer.part))
        return list(result.scalars())

    async def add_part(self, answer: Answer, replace: bool = False) -> None:
        """Add one message to an answer. `answer.item` 0 means a new item at the end;
        `replace` first removes the item's earlier parts (they stay, marked removed)."""
        client_id, step = answer.client_id, answer.step
        if not answer.item:
            top = await self.session.scalar(select(func.max(Answer.item)).where(
                Answer.client_id == client_id, Answer.step == step,
                Answer.removed_at.is_(None)))
            answer.item = (top or 0) + 1
        if replace:
            await self.remove(client_id, Answer.step == step, Answer.item == answer.item)
        last_part = await self.session.scalar(select(func.max(Answer.part)).where(
            Answer.client_id == client_id, Answer.step == step, Answer.item == answer.item,
            Answer.removed_at.is_(None)))
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


