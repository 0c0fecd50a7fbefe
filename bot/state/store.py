"""The only code that writes. One unit of work (one transaction) per update.

`Store` owns the engine; `Unit` is one transaction: claim the update, read what the dialog
needs, apply its effects, save the dialog state, mark the update done, commit.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    event,
    func,
    inspect,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

# The database's errors under the names the rest of the bot uses (it does not import SQLAlchemy).
from sqlalchemy.exc import OperationalError as DatabaseUnreachable  # noqa: F401
from sqlalchemy.exc import SQLAlchemyError as DatabaseError  # noqa: F401
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from bot.state import crypto, sqlite_driver
from bot.state.models import (
    Admin,
    Answer,
    AuditLog,
    Begeleider,
    Client,
    DialogSession,
    Housekeeping,
    Inbox,
    Meeting,
    Organisation,
    Person,
    PictoCache,
    SpeechCache,
    utcnow,
)
from bot.state.unit import Redeemed, Unit


class SqlStats:
    """Statements and commits of this process (the benchmark's "SQL per update" rows).
    Counted only when GESPREKSMAATJE_SQL_STATS is set; the bot logs them when it stops."""

    statements = 0
    commits = 0

    @classmethod
    def attach(cls, engine: AsyncEngine) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def _statement(*_args: Any) -> None:
            cls.statements += 1

        @event.listens_for(engine.sync_engine, "commit")
        def _commit(*_args: Any) -> None:
            cls.commits += 1

    @classmethod
    def line(cls) -> str:
        return f"sql statements={cls.statements} commits={cls.commits} {crypto.Counts.line()}"


_FILE_CACHES: dict[str, type[PictoCache] | type[SpeechCache]] = {
    "picto": PictoCache, "speech": SpeechCache}

__all__ = ["DatabaseError", "DatabaseUnreachable", "Redeemed", "SqlStats", "Store", "Unit",
           "make_engine"]


def make_engine(url: str) -> AsyncEngine:
    engine = _make_engine(url)
    if os.environ.get("GESPREKSMAATJE_SQL_STATS"):
        SqlStats.attach(engine)
    return engine


def _make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A few long-lived connections: opening one costs a thread and three PRAGMAs, and
        # SQLite has one writer at a time anyway, so waiting beats opening more.
        # hide_parameters: an error names the statement, never the values (a person's words).
        # Each statement one trip to the connection's thread (sqlite_driver); an in-memory
        # database (one per connection) keeps SQLAlchemy's own way.
        one_trip = ({"async_creator": lambda: sqlite_driver.connect(
                        path, timeout=30, check_same_thread=False)}
                    if path and path != ":memory:" and "?" not in url else {})
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=4,
                                     max_overflow=0, pool_timeout=60, hide_parameters=True,
                                     **one_trip)

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
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                               hide_parameters=True)


# Fetched updates into the inbox: one Core statement built once (its compiled form is cached
# whatever the batch's size), sent as one multi-row INSERT by SQLAlchemy's insertmanyvalues.
_INBOX_TABLE = cast(Table, Inbox.__table__)
_ADD_TO_INBOX_PG, _ADD_TO_INBOX_SQLITE = (
    insert(_INBOX_TABLE).on_conflict_do_nothing(index_elements=["update_id"])
    .returning(_INBOX_TABLE.c.update_id) for insert in (postgresql_insert, sqlite_insert))

# Chats held at once by one process (each holds a connection of its own while it waits).
CHATS_HELD = 32
# The advisory locks that say a worker (a process's dispatcher) is alive: the two-key form,
# this first key, so they never meet the chats' one-key locks.
_WORKERS = 0x474D  # "GM"


def _worker_key(worker_id: str) -> int:
    """A worker id as the lock's second key (a signed 32-bit number)."""
    return int.from_bytes(zlib.crc32(worker_id.encode()).to_bytes(4, "big"), "big",
                          signed=True)


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.is_postgres = url.startswith("postgresql")
        # PostgreSQL: the connections that hold advisory locks (chats, see `chat_held`; the
        # workers' alive locks, see `keep_alive`), apart from the turns' pool so that a
        # process whose every holder waits for a turn cannot starve.
        self._locks = create_async_engine(
            url, pool_size=CHATS_HELD, max_overflow=0, pool_timeout=3600,
            pool_pre_ping=True, isolation_level="AUTOCOMMIT",
            hide_parameters=True) if self.is_postgres else None
        # Workers of this process that hold their "alive" lock: the connection holding it.
        self._alive: dict[str, AsyncConnection] = {}

    async def close(self) -> None:
        for connection in self._alive.values():
            await connection.close()
        self._alive.clear()
        await self.engine.dispose()
        if self._locks is not None:
            await self._locks.dispose()

    async def keep_alive(self, worker_id: str) -> None:
        """Several processes on PostgreSQL: hold this worker's "alive" lock (a session
        advisory lock on a connection of its own) while this process lives, so that another
        process can tell its claims from those of a process that died (`workers_gone`).
        Taken again if the connection was lost; nothing on SQLite (one process)."""
        if self._locks is None:
            return
        held = self._alive.get(worker_id)
        if held is not None:
            try:  # still ours? (a restarted database took the lock with the connection)
                await held.execute(select(1))
                return
            except DatabaseError:
                del self._alive[worker_id]
                with contextlib.suppress(DatabaseError):
                    await held.close()
        connection = await self._locks.connect()
        await connection.execute(select(func.pg_advisory_lock(_WORKERS,
                                                              _worker_key(worker_id))))
        self._alive[worker_id] = connection

    async def workers_gone(self, worker_ids: set[str]) -> set[str]:
        """Of these workers, those whose process is gone: nobody holds their alive lock (a
        process that dies lets go with its connection). On SQLite: none known."""
        if self._locks is None or not worker_ids:
            return set()
        gone = set()
        async with self._locks.connect() as connection:
            for worker_id in worker_ids - set(self._alive):
                key = (_WORKERS, _worker_key(worker_id))
                if await connection.scalar(select(func.pg_try_advisory_lock(*key))):
                    await connection.execute(select(func.pg_advisory_unlock(*key)))
                    gone.add(worker_id)
        return gone

    @asynccontextmanager
    async def chat_held(self, chat_id: int | None) -> AsyncIterator[None]:
        """Several processes on one PostgreSQL: no other process handles an update of this
        chat, or sends it replies of one, until the block ends (a session advisory lock on
        a connection of its own; a process that dies lets go with its connection). One
        process on SQLite: nothing to hold, its per-chat lock keeps the order."""
        if self._locks is None or chat_id is None:
            yield
            return
        async with self._locks.connect() as connection:
            await connection.execute(select(func.pg_advisory_lock(chat_id)))
            try:
                yield
            finally:
                await connection.execute(select(func.pg_advisory_unlock(chat_id)))

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        async with self._sessions() as session, session.begin():
            unit = Unit(session, self.is_postgres)
            yield unit
        if unit.files_to_remove:  # only once the rows that named them are gone for good
            _remove_files(unit.files_to_remove)

    # --- the inbox: each in its own short transaction ---------------------------------
    async def inbox_add(self, update_id: int, chat_id: int | None,
                        payload: dict[str, Any]) -> bool:
        """Store a fetched update (committed). False if it was there already."""
        return await self.inbox_add_many([(update_id, chat_id, payload)]) == 1

    async def inbox_add_many(self, rows: list[tuple[int, int | None, dict[str, Any]]]) -> int:
        """Store fetched updates (update id, chat id, payload), one statement and one
        commit for all; those already there are left as they are. How many were new."""
        now = utcnow()
        values = [{"update_id": update_id, "chat_id": chat_id, "payload": payload,
                   "state": "new", "received_at": now} for update_id, chat_id, payload in rows]
        statement = _ADD_TO_INBOX_PG if self.is_postgres else _ADD_TO_INBOX_SQLITE
        # A connection of its own, no ORM session (a fifth of the cost at one update a batch);
        # RETURNING: PostgreSQL gives no rowcount here.
        async with self.engine.begin() as connection:
            return len((await connection.execute(statement, values)).all())

    async def inbox_failed(self, update_id: int) -> None:
        """Handling failed: keep the update for the operator, do not replay it."""
        async with self.unit() as unit:
            await unit.session.execute(update(Inbox).where(
                Inbox.update_id == update_id, Inbox.state == "new").values(state="failed"))

    async def move_kept_files(self, old_dir: str, new_dir: str) -> int:
        """The kept answer files now live under `new_dir` (a restore into another DATA_DIR):
        point their paths there. How many were moved."""
        async with self.unit() as unit:
            moved = await unit.session.execute(
                update(Answer).where(Answer.file_path.startswith(old_dir + "/", autoescape=True))
                .values(file_path=literal(new_dir) + func.substr(Answer.file_path,
                                                                 len(old_dir) + 1))
                .returning(Answer.id).execution_options(synchronize_session=False))
            return len(moved.all())

    async def table_names(self) -> list[str]:
        """The tables the database has (a restore goes only into an empty one)."""
        async with self.engine.connect() as connection:
            return await connection.run_sync(lambda c: inspect(c).get_table_names())

    async def inbox_backlog(self) -> tuple[int, datetime | None]:
        """How many fetched updates wait (state new), and when the oldest came in."""
        async with self.unit() as unit:
            row = (await unit.session.execute(select(func.count(), func.min(Inbox.received_at))
                                              .where(Inbox.state == "new"))).one()
            return int(row[0]), row[1]

    async def inbox_pending(self, received_before: datetime | None = None
                            ) -> list[tuple[int, dict[str, Any]]]:
        """Stored updates not handled yet, oldest first; with `received_before`, only those
        waiting since then (left by a process that died, when several share the database)."""
        waiting = [Inbox.state == "new"]
        if received_before is not None:
            waiting.append(Inbox.received_at < received_before)
        async with self.unit() as unit:
            rows = await unit.session.execute(
                select(Inbox.update_id, Inbox.payload).where(*waiting)
                .order_by(Inbox.update_id))
            return [(r.update_id, r.payload or {}) for r in rows]

    # --- housekeeping (bot/schedule/housekeeping.py) ------------------------------------
    async def claim_job(self, job: str, now: datetime, every: timedelta) -> bool:
        """True for the one process that may run `job` now: it last ran `every` ago or
        never. One conditional UPDATE (or the first INSERT) decides, also between processes."""
        insert = postgresql_insert if self.is_postgres else sqlite_insert
        async with self.unit() as unit:  # RETURNING: what was claimed, on both databases
            claimed = await unit.session.execute(
                update(Housekeeping).where(Housekeeping.job == job,
                                           Housekeeping.last_run <= now - every)
                .values(last_run=now).returning(Housekeeping.job)
                .execution_options(synchronize_session=False))
            if claimed.first() is not None:
                return True
            made = await unit.session.execute(
                insert(Housekeeping).values(job=job, last_run=now)
                .on_conflict_do_nothing(index_elements=["job"]).returning(Housekeeping.job))
            return made.first() is not None

    async def job_runs(self, prefix: str) -> dict[str, datetime]:
        """When each housekeeping job whose name starts with `prefix` last ran."""
        async with self.unit() as unit:
            rows = await unit.session.execute(select(Housekeeping.job, Housekeeping.last_run)
                                              .where(Housekeeping.job.startswith(prefix)))
            return {job: last_run for job, last_run in rows}

    async def empty_inbox(self, before: datetime) -> int:
        """Handled updates received before `before` keep their id (a redelivery is still
        known) but no longer their payload: the person's words. How many were emptied."""
        async with self.unit() as unit:
            emptied = await unit.session.execute(
                update(Inbox).where(Inbox.state != "new", Inbox.received_at < before,
                                    Inbox.payload.is_not(None))
                .values(payload=None).execution_options(synchronize_session=False))
        return int(getattr(emptied, "rowcount", 0))

    async def purge_audit(self, before: datetime) -> int:
        """Access-log rows older than `before` removed. How many."""
        async with self.unit() as unit:
            removed = await unit.session.execute(
                delete(AuditLog).where(AuditLog.at < before)
                .execution_options(synchronize_session=False))
        return int(getattr(removed, "rowcount", 0))

    async def sessions_awaiting_reply(self, before: datetime) -> list[int]:
        """Telegram user ids whose last replies may not have gone out (crash after commit):
        turns that ended `before` (this process's start) and are not marked sent."""
        async with self.unit() as unit:
            rows = await unit.session.execute(
                select(Person.telegram_user_id).join(
                    DialogSession, DialogSession.person_id == Person.id)
                .where(DialogSession.reply_pending.is_(True),
                       DialogSession.updated_at <= before))
            return [r[0] for r in rows if r[0] is not None]

    async def replies_sent(self, marks: list[tuple[int, datetime]]) -> None:
        """These turns' replies are out: (person id, end of the turn) each, one statement
        for all. A session saved after that turn (a newer question) stays pending."""
        if not marks:
            return
        statement = (update(DialogSession).where(
            DialogSession.person_id == bindparam("b_person"),
            DialogSession.updated_at <= bindparam("b_until"),
            DialogSession.reply_pending.is_(True)).values(reply_pending=False))
        async with self.unit() as unit:
            await unit.execute_many(statement, [{"b_person": person, "b_until": until}
                                                for person, until in marks])

    async def chat_of(self, person_id: int | None) -> int | None:
        """The chat a person writes from (None: never joined, or no such person)."""
        if not person_id:
            return None
        async with self.unit() as unit:
            return await unit.session.scalar(select(Person.chat_id).where(
                Person.id == person_id))

    # --- files of answers (kept on disk after the commit) ------------------------------
    async def files_to_keep(self, update_id: int | None) -> list[int]:
        """Answers with a Telegram file not yet kept: of one update, or all (None)."""
        query = select(Answer.id).where(Answer.file_id.is_not(None),
                                        Answer.file_state.is_(None))
        if update_id is not None:
            query = query.where(Answer.update_id == update_id)
        async with self.unit() as unit:
            return list((await unit.session.execute(query)).scalars())

    async def answer_file(self, answer_id: int) -> tuple[str, str, int, int | None]:
        """(file id, kind, client id, chat of who sent it) of an answer with a file."""
        async with self.unit() as unit:
            answer = await unit.session.get(Answer, answer_id)
            assert answer is not None and answer.file_id is not None
            chat = await unit.session.scalar(select(Person.chat_id).where(
                Person.id == answer.entered_by)) if answer.entered_by else None
            return answer.file_id, answer.kind, answer.client_id, chat

    async def mark_file(self, answer_id: int, state: str, path: str | None = None,
                        size: int | None = None, checksum: str | None = None,
                        duration: float | None = None) -> None:
        async with self.unit() as unit:
            answer = await unit.session.get(Answer, answer_id)
            assert answer is not None
            answer.file_state, answer.file_path = state, path
            answer.file_size, answer.checksum = size, checksum
            if duration and not answer.duration:
                answer.duration = duration

    # --- caches of Telegram file ids ("picto" cards, "speech" clips) --------------------
    async def file_id(self, cache: str, key: str) -> str | None:
        async with self.unit() as unit:
            row = await unit.session.get(_FILE_CACHES[cache], key)
            return str(getattr(row, "file_id", "")) or None

    async def remember_file_id(self, cache: str, key: str, file_id: str) -> None:
        table = _FILE_CACHES[cache]
        insert = postgresql_insert if self.is_postgres else sqlite_insert
        async with self.unit() as unit:  # a newer id replaces an older one
            await unit.session.execute(insert(table).values(key=key, file_id=file_id)
                                       .on_conflict_do_update(index_elements=["key"],
                                                              set_={"file_id": file_id}))

    # --- enrolment (CLI) --------------------------------------------------------------
    async def create_client_invite(self, name: str, days: int, now: datetime | None = None,
                                   begeleider_id: int | None = None,
                                   organisation_id: int | None = None) -> tuple[Client, str]:
        """A client with a start token, in `organisation_id`; without it in their
        begeleider's organisation, else the first one. The caller checks that a begeleider
        given is of the organisation given (`begeleider_organisation`)."""
        now = now or utcnow()
        async with self.unit() as unit:
            if organisation_id is None and begeleider_id is not None:
                begeleider = await unit.get(Begeleider, begeleider_id)
                organisation_id = begeleider.organisation_id if begeleider else None
            if organisation_id is None:
                organisation_id = (await unit.default_organisation()).id
            client = Client(organisation_id=organisation_id, name=name,
                            begeleider_id=begeleider_id)
            unit.session.add(client)
            await unit.session.flush()
            token = await unit.create_invite("client", organisation_id, days, now,
                                             client_id=client.id)
        return client, token

    async def create_role_invite(self, role: str, name: str, days: int,
                                 organisation_id: int | None = None) -> str:
        """CLI: a begeleider or admin of an organisation (None: the first one), with a
        start token."""
        async with self.unit() as unit:
            organisation_id = organisation_id or (await unit.default_organisation()).id
            model = Begeleider if role == "begeleider" else Admin
            row = model(organisation_id=organisation_id, name=name)
            unit.session.add(row)
            await unit.session.flush()
            refs = {f"{role}_id": row.id}
            return await unit.create_invite(role, organisation_id, days, None, None, **refs)

    # --- organisations: the tenants of one deployment (CLI) ----------------------------
    async def add_organisation(self, name: str) -> tuple[int, str] | None:
        """A new organisation: (id, name); None when one has that name already (compared
        without case and surrounding spaces)."""
        async with self.unit() as unit:
            if await _organisation_named(unit, name) is not None:
                return None
            organisation = await unit.add(Organisation(name=name.strip()))
            return organisation.id, organisation.name

    async def set_organisation(self, organisation_id: int, **values: Any) -> None:
        """An organisation's own settings (columns of its row): quiet hours ("HH:MM"; None:
        the deployment's), its picto manifest's path and its own texts (None: the
        deployment's). Its clients' plans follow at the schedule's next re-plan, its look
        within a minute (`bot/service/looks.py`)."""
        async with self.unit() as unit:
            await unit.session.execute(update(Organisation).where(
                Organisation.id == organisation_id).values(**values))

    async def organisations(self) -> list[OrganisationRow]:
        """Every organisation with the number of its people and its own settings, by id."""
        async with self.unit() as unit:
            counts = [select(func.count()).where(model.organisation_id == Organisation.id)
                      .correlate(Organisation).scalar_subquery()
                      for model in (Admin, Begeleider, Client)]
            rows = await unit.session.execute(
                select(Organisation.id, Organisation.name, *counts, Organisation.quiet_start,
                       Organisation.quiet_end, Organisation.picto_manifest,
                       Organisation.texts).order_by(Organisation.id))
            return [OrganisationRow(int(i), str(n), int(a), int(b), int(c),
                                    f"{qs}-{qe}" if qs and qe else "", manifest or "",
                                    len(texts or {}))
                    for i, n, a, b, c, qs, qe, manifest, texts in rows]

    async def find_organisation(self, ref: str) -> tuple[int, str] | None:
        """The organisation `ref` names: its id (digits), else its name; (id, name)."""
        async with self.unit() as unit:
            number = _row_id(ref)
            found = await unit.get(Organisation, number) if number is not None else None
            found = found or await _organisation_named(unit, ref)
            return (found.id, found.name) if found is not None else None

    async def begeleider_organisation(self, begeleider_id: int) -> int | None:
        """The organisation of a begeleider (None: no such begeleider)."""
        async with self.unit() as unit:
            number = _row_id(begeleider_id)
            begeleider = await unit.get(Begeleider, number) if number is not None else None
            return begeleider.organisation_id if begeleider is not None else None

    async def set_meeting(self, client_id: int, starts_at: datetime | None) -> None:
        async with self.unit() as unit:
            meeting = await unit.meeting(client_id)
            if meeting is None:
                unit.session.add(Meeting(client_id=client_id, starts_at=starts_at))
            else:
                meeting.starts_at = starts_at


def _row_id(ref: object) -> int | None:
    """`ref` as a row id: a positive number that fits the database's integer column."""
    text = str(ref).strip()
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 2**31 else None


@dataclass(frozen=True)
class OrganisationRow:
    """An organisation as the operator's list shows it ("" where it has the deployment's)."""

    id: int
    name: str
    admins: int
    begeleiders: int
    clients: int
    quiet: str  # "21:00-09:00"
    pictos: str  # its picto manifest's path
    texts: int  # how many texts it words its own way


async def _organisation_named(unit: Unit, name: str) -> Organisation | None:
    """The organisation with this name, compared without case and surrounding spaces (in
    Python: SQLite's lower() knows only ASCII). There are few organisations."""
    wanted = name.strip().casefold()
    rows = (await unit.session.execute(select(Organisation).order_by(Organisation.id))).scalars()
    return next((row for row in rows if row.name.strip().casefold() == wanted), None)


def _remove_files(paths: list[Path]) -> None:
    """Kept answer files of erased answers, and their folder once it is empty."""
    for path in paths:
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # other files are still there, or it is gone
            path.parent.rmdir()
