"""A durable update queue: every fetched update is committed to the inbox table before
python-telegram-bot's Updater confirms it to Telegram.

The Updater awaits `update_queue.put(update)` for each fetched update and only then asks
Telegram for the next offset (which makes Telegram forget them). So committing inside `put`
means a crash can never lose an update that Telegram already forgot.
"""

from __future__ import annotations

import asyncio
import logging
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

    async def put(self, item: Any) -> None:
        if isinstance(item, Update):
            await self._store(item)
            checkpoint("stored")  # stored, not yet confirmed to Telegram
        await super().put(item)

    async def _store(self, update: Update) -> None:
        chat = update.effective_chat
        payload = update.to_dict()
        delay, failing = self.retry_seconds, False
        while True:  # until stored: the offset must not move past an unstored update
            try:
                await self.store.inbox_add(update.update_id, chat.id if chat else None, payload)
                if failing:
                    log.warning("database reachable again; inbox writes resumed")
                return
            except Exception as error:  # noqa: BLE001 - any database error: wait and retry
                if not failing:
                    log.error("cannot store update %d in the inbox (%s); retrying",
                              update.update_id, type(error).__name__)
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
