"""A durable update queue: every fetched update is committed to the inbox table before
python-telegram-bot's Updater confirms it to Telegram.

The Updater awaits `update_queue.put(update)` for each fetched update and only then asks
Telegram for the next offset (which makes Telegram forget them). So committing inside `put`
means a crash can never lose an update that Telegram already forgot. To spend one commit on
a whole getUpdates batch instead of one per update, the bot hands each fetched batch to
`store_batch` first (one INSERT of all rows); `put` then only checks that its update is in.
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


class DurableUpdateQueue(asyncio.Queue[Any]):
    def __init__(self, store: Store, retry_seconds: float = 1.0) -> None:
        super().__init__()
        self.store = store
        self.retry_seconds = retry_seconds
        self._stored: set[int] = set()  # stored with their batch, not yet put

    async def store_batch(self, updates: Sequence[Update],
                          fetched: Sequence[dict[str, Any]] = ()) -> None:
        """Commit a fetched batch in one statement (before any of it is confirmed).
        `fetched`: the batch as Telegram's JSON, kept as it came where it is given."""
        if updates:
            as_sent = {item.get("update_id"): item for item in fetched}
            await self._retrying(updates[0].update_id,
                                 [_row(u, as_sent.get(u.update_id)) for u in updates])
            self._stored.update(u.update_id for u in updates)

    async def put(self, item: Any) -> None:
        if isinstance(item, Update):
            if item.update_id in self._stored:
                self._stored.discard(item.update_id)
            else:
                await self._retrying(item.update_id, [_row(item)])
            checkpoint("stored")  # stored, not yet confirmed to Telegram
        await super().put(item)

    async def _retrying(self, first_id: int,
                        rows: list[tuple[int, int | None, dict[str, Any]]]) -> None:
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


def _row(update: Update, as_sent: dict[str, Any] | None = None
         ) -> tuple[int, int | None, dict[str, Any]]:
    chat = update.effective_chat
    return update.update_id, chat.id if chat else None, as_sent or update.to_dict()
