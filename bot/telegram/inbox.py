"""A durable update queue: every fetched update is committed to the inbox table before
python-telegram-bot's Updater confirms it to Telegram.

The Updater awaits `update_queue.put(update)` for each fetched update and only then asks
Telegram for the next offset (which makes Telegram forget them). So committing inside `put`
means a crash can never lose an update that Telegram already forgot. To spend one commit on
a whole getUpdates batch instead of one per update, the bot hands each fetched batch to
`store_batch` first (one INSERT of all rows); `put` then only checks that its update is in.

A batch of ONE update (updates coming one at a time) is not written on its own: its turn
writes it, in the turn's own commit, one commit instead of two. The offset still moves only
after that commit, because `put` waits for it (`settled`), at most `WITH_TURN_SECONDS`:
past that (the chat is busy) the update is written here as above, and the turn finds it
there. A turn that fails has it written here too (`store_now`), kept for the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from telegram import Update

from bot.faults import checkpoint
from bot.state.store import Store

log = logging.getLogger("gespreksmaatje.inbox")

# How long `put` waits for the turn of an update that its turn writes (it commits within a
# few milliseconds unless its chat is still busy with the update before it).
WITH_TURN_SECONDS = 0.05

Row = tuple[int, int | None, dict[str, Any]]


class DurableUpdateQueue(asyncio.Queue[Any]):
    def __init__(self, store: Store, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self.store = store
        self.retry_seconds = retry_seconds
        self._stored: set[int] = set()  # stored with their batch, not yet put
        # Fetched alone, to be written by their turn: the row, and the turn's commit.
        self._by_turn: dict[int, tuple[Row, asyncio.Future[None]]] = {}

    async def store_batch(self, updates: Sequence[Update],
                          fetched: Sequence[dict[str, Any]] = ()) -> None:
        """Commit a fetched batch in one statement (before any of it is confirmed); a
        batch of one is left to its turn. `fetched`: the batch as Telegram's JSON, kept as
        it came where it is given."""
        if not updates:
            return
        as_sent = {item.get("update_id"): item for item in fetched}
        rows = [_row(u, as_sent.get(u.update_id)) for u in updates]
        if len(rows) == 1:
            self._by_turn[rows[0][0]] = (rows[0], asyncio.get_running_loop().create_future())
            return
        await self._retrying(updates[0].update_id, rows)
        self._stored.update(u.update_id for u in updates)

    def unstored(self, update_id: int) -> dict[str, Any] | None:
        """The update as fetched, when its turn is to write it (None: it is in the inbox,
        or it will be by the time the turn looks)."""
        entry = self._by_turn.get(update_id)
        return entry[0][2] if entry is not None else None

    def settled(self, update_id: int) -> None:
        """The update is in the inbox: its turn committed it (or failed, and `store_now`
        wrote it). Never called otherwise: then `put` writes it after its wait."""
        entry = self._by_turn.get(update_id)
        if entry is not None and not entry[1].done():
            entry[1].set_result(None)

    async def store_now(self, update_id: int) -> bool:
        """One try to write an update its turn was to write (the turn failed): kept as
        fetched. True: it is in the inbox now (or was never left to its turn). False: the
        database failed too; `put` then writes it, retrying, before the offset moves."""
        entry = self._by_turn.get(update_id)
        if entry is None:
            return True
        try:
            await self.store.inbox_add_many([entry[0]])
        except Exception:  # noqa: BLE001 - any database error: put's retries take over
            return False
        return True

    async def put(self, item: Any) -> None:
        if isinstance(item, Update):
            entry = self._by_turn.get(item.update_id)
            if entry is not None:
                await self._put_with_turn(item, *entry)
                return
            if item.update_id in self._stored:
                self._stored.discard(item.update_id)
            else:
                await self._retrying(item.update_id, [_row(item)])
            checkpoint("stored")  # stored, not yet confirmed to Telegram
        await super().put(item)

    async def _put_with_turn(self, update: Update, row: Row,
                             committed: asyncio.Future[None]) -> None:
        """Hand the update on, then return (so the Updater may confirm its offset) only
        once its turn committed it, or it was written here."""
        try:
            await super().put(update)
            try:
                await asyncio.wait_for(asyncio.shield(committed), WITH_TURN_SECONDS)
            except TimeoutError:  # its turn has not committed yet: write it here
                await self._retrying(update.update_id, [row])
            checkpoint("stored")  # stored, not yet confirmed to Telegram
        finally:
            del self._by_turn[update.update_id]

    async def _retrying(self, first_id: int, rows: list[Row]) -> None:
        delay, failing = self.retry_seconds, False
        while True:  # until stored: the offset must not move past an unstored update
            try:
                await self.store.inbox_add_many(rows)
                if failing:
                    log.warning("database reachable again; inbox writes resumed")
                return
            except Exception as error:  # noqa: BLE001 - any database error: wait and retry
                if not failing:
                    log.error("cannot store update %d in the inbox (%s); retrying",
                              first_id, type(error).__name__)
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)


def _row(update: Update, as_sent: dict[str, Any] | None = None) -> Row:
    chat = update.effective_chat
    return update.update_id, chat.id if chat else None, as_sent or update.to_dict()
