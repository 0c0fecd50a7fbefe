"""aiosqlite with one trip to its thread per statement.

aiosqlite runs each SQLite call on a thread of its own, and SQLAlchemy's adapter makes up to
four calls for one statement: open a cursor, execute, fetch the rows, close the cursor. Each
call is a trip: wake the thread, then wake the event loop with the answer. Those trips were
the largest part of what a statement cost the bot's one busy thread (bench/dialog_load.py,
py-spy). Here the cursor is opened, the statement run, its rows fetched and the cursor closed
in one trip; the adapter then reads the rows from memory. Plugged in through SQLAlchemy's
`async_creator` (documented for exactly this: a driver connection made our way); commit,
rollback and closing stay aiosqlite's own.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite


class OneTripCursor:
    """What SQLAlchemy's adapter needs of an aiosqlite cursor, each statement one trip."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        pass

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None
                      ) -> OneTripCursor:
        await self._connection._execute(self._run, "execute", sql, parameters or ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]
                          ) -> OneTripCursor:
        await self._connection._execute(self._run, "executemany", sql, parameters)
        return self

    def _run(self, how: str, sql: str, parameters: Any) -> None:
        """On the connection's thread: the statement, its rows and what it tells."""
        cursor = self._connection._conn.cursor()
        try:
            getattr(cursor, how)(sql, parameters)
            self.description = cursor.description
            self._rows = deque(cursor.fetchall()) if cursor.description else deque()
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            cursor.close()

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(len(self._rows), size or self.arraysize)
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


def connect(path: str, **kwargs: Any) -> OneTripConnection:
    """Like `aiosqlite.connect`; await it (SQLAlchemy's adapter does) to open it."""
    connection = OneTripConnection(lambda: sqlite3.connect(path, **kwargs), 64)
    # As SQLAlchemy does for aiosqlite's own: a connection never closed must not keep the
    # process alive.
    connection._thread.daemon = True
    return connection
