"""Sending within Telegram's limits.

`Dispatcher` sends claimed rows through a callback of the bot (which decides what the message
says), paced to Telegram's limits, honouring a `retry_after`, never in quiet hours, and marks
them sent; `startup` re-plans from the database and sends what became due while the bot was
down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.ops import metrics
from bot.schedule import housekeeping
from bot.schedule.claim import CLAIM_LEASE, cancel, claim_due, mark_sent, release, release_stale
from bot.schedule.plan import ScheduleSettings, in_quiet_hours, out_of_quiet, with_quiet
from bot.schedule.rows import plan_for_client, replan_all, replan_due
from bot.state.planned import PlannedRow, PlannedSends
from bot.state.store import Store

log = logging.getLogger(__name__)

SendFn = Callable[[PlannedRow], Awaitable[None]]
# How often this process asks whether a housekeeping job is due (the claim decides).
HOUSEKEEPING_CHECK = timedelta(hours=1)


class SendLater(Exception):
    """Raised by the send callback: try this row again after `retry_after` (Telegram's 429,
    or a network error). Any exception with a `retry_after` attribute (like
    `telegram.error.RetryAfter`) is treated the same way."""

    def __init__(self, retry_after: float | timedelta) -> None:
        super().__init__(f"retry after {retry_after}")
        self.retry_after = retry_after


class Undeliverable(Exception):
    """Raised by the send callback: this row can never go out (the person blocked the bot,
    the chat is gone). The row is cancelled (its claim kept: not planned again)."""


def _retry_seconds(error: BaseException) -> float | None:
    value = getattr(error, "retry_after", None)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    return None


def default_worker_id() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """Sends what is due through `send(row)`; the bot's callback decides what the message
    is. Paces to `rate` messages/s overall and one per `per_chat` seconds per person, honours
    a `retry_after`, never sends in quiet hours."""

    def __init__(self, store: Store, clock: Clock, send: SendFn, rate: float = 25.0, *,
                 per_chat: float = 1.0, settings: Any = None, worker_id: str | None = None,
                 batch: int = 25, replan_every: timedelta = timedelta(hours=1),
                 lease: timedelta = CLAIM_LEASE,
                 notify: Callable[[housekeeping.Notice], Awaitable[None]] | None = None
                 ) -> None:
        self.store, self.clock, self.send = store, clock, send
        self.notify = notify  # tells a begeleider that a round's content goes soon
        self.interval = 1.0 / rate
        self.per_chat = timedelta(seconds=per_chat)
        self.settings = ScheduleSettings.from_settings(settings)
        self.keeping = housekeeping.Keeping.from_settings(settings)
        self.worker_id = worker_id or default_worker_id()
        self.batch, self.replan_every, self.lease = batch, replan_every, lease
        self._next_slot: datetime | None = None
        self._last_by_person: dict[int | None, datetime] = {}
        self._paused_until: datetime | None = None
        self._last_replan: datetime | None = None
        self._next_housekeeping: datetime | None = None
        self._busy = asyncio.Lock()

    async def tick(self, _context: object = None) -> int:
        """One pass; fits PTB's `job_queue.run_repeating(dispatcher.tick, interval=30)`.
        A pass still running makes the next one a no-op."""
        if self._busy.locked():
            return 0
        async with self._busy:
            return await self.run_once()

    async def pass_now(self) -> int:
        """One pass, after the one under way (if any) is done: unlike `tick`, never a no-op
        (tests, and an operator's command)."""
        async with self._busy:
            return await self.run_once()

    async def run_once(self) -> int:
        """Send everything that is due now; returns how many went out."""
        now = self.clock.now()
        await release_stale(self.store, now, self.lease)
        if self._next_housekeeping is None or now >= self._next_housekeeping:
            done = await housekeeping.run(self.store, now, self.keeping,  # claimed: once
                                          quiet=in_quiet_hours(now, self.settings))
            self._next_housekeeping = now + HOUSEKEEPING_CHECK
            for notice in done.notices:
                await self._notify(notice)
        if self._last_replan is None or now - self._last_replan >= self.replan_every:
            await replan_all(self.store, now, self.settings)
            self._last_replan = now
        sent = 0
        while not self._paused(now):
            await replan_due(self.store, now, self.settings)
            rows = await claim_due(self.store, now, self.worker_id, self.batch)
            if not rows:
                break
            metrics.PLANNED_DUE.inc(len(rows))
            sent += await self._send_batch(rows)
            now = self.clock.now()
        return sent

    async def _notify(self, notice: housekeeping.Notice) -> None:
        """One try (the notice is claimed: no other process sends it); a failure is logged
        and the removal still waits a week after the claim."""
        if self.notify is None:
            return
        try:
            await self.notify(notice)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the callback may raise anything
            log.warning("retention notice for client %s round %s not sent: %s",
                        notice.round.client_id, notice.round.round, type(error).__name__)

    async def run_forever(self, poll: timedelta = timedelta(seconds=30)) -> None:
        """Alternative to the JobQueue: a task of its own (cancel it to stop)."""
        while True:
            await self.tick()
            await self.clock.sleep(poll.total_seconds())

    def _paused(self, now: datetime) -> bool:
        return self._paused_until is not None and now < self._paused_until

    async def _send_batch(self, rows: list[PlannedRow]) -> int:
        pending, sent, clients = list(rows), 0, set()
        quiet: dict[int, ScheduleSettings] = {}  # each client's organisation's quiet hours
        try:
            while pending:
                row = pending[0]
                await self._pace(row.person_id)
                now = self.clock.now()
                if self._paused(now):
                    break  # the rest goes back (in finally), due after the pause
                if row.client_id not in quiet:
                    quiet[row.client_id] = await self._settings_of(row.client_id)
                if in_quiet_hours(now, quiet[row.client_id]):
                    pending.pop(0)
                    await self._give_back([row], quiet[row.client_id])  # due after the quiet
                    continue
                pending.pop(0)
                if await self._send_one(row, now):
                    sent += 1
                    clients.add(row.client_id)
        finally:
            await self._give_back(pending)
        for client_id in clients:  # e.g. plan the next reminder now this one went out
            async with self.store.unit() as unit:
                await plan_for_client(unit, client_id, self.clock.now(), self.settings)
        return sent

    async def _send_one(self, row: PlannedRow, now: datetime) -> bool:
        self._next_slot = now + timedelta(seconds=self.interval)
        self._last_by_person[row.person_id] = now
        try:
            await self.send(row)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the callback may raise anything
            await self._failed(row, error, now)
            return False
        if not await mark_sent(self.store, row, self.clock.now()):
            log.warning("planned_send %s went out, but its claim had expired", row.id)
        metrics.PLANNED_SENT.inc()
        return True

    async def _failed(self, row: PlannedRow, error: Exception, now: datetime) -> None:
        retry = _retry_seconds(error)
        if retry is not None:
            until = now + timedelta(seconds=retry)
            self._paused_until = until  # Telegram's flood limit holds for the whole bot
            await release(self.store, row, out_of_quiet(until, self.settings))
        elif isinstance(error, Undeliverable):
            await cancel(self.store, row)
        else:  # a bug in the callback must not resend every tick
            log.exception("planned_send %s could not be sent; cancelled", row.id,
                          exc_info=error)
            await cancel(self.store, row)

    async def _pace(self, person_id: int | None) -> None:
        now = self.clock.now()
        ready = max([now, *([self._next_slot] if self._next_slot else [])])
        last = self._last_by_person.get(person_id)
        if last is not None:
            ready = max(ready, last + self.per_chat)
        if ready > now:
            await self.clock.sleep((ready - now).total_seconds())
        if len(self._last_by_person) > 10_000:  # forget chats that are long free again
            cutoff = self.clock.now() - self.per_chat
            self._last_by_person = {k: v for k, v in self._last_by_person.items() if v > cutoff}

    async def _settings_of(self, client_id: int) -> ScheduleSettings:
        """The schedule's settings with the client's organisation's own quiet hours."""
        async with self.store.unit() as unit:
            return with_quiet(self.settings, *await PlannedSends(unit).quiet_hours(client_id))

    async def _give_back(self, rows: Sequence[PlannedRow],
                         settings: ScheduleSettings | None = None) -> None:
        now = self.clock.now()
        later = max([now, *([self._paused_until] if self._paused(now) and self._paused_until
                            else [])])
        quiet = settings or self.settings
        for row in rows:
            await release(self.store, row, max(row.due_at, out_of_quiet(later, quiet)))


async def startup(store: Store, clock: Clock, dispatcher: Dispatcher | None = None,
                  settings: Any = None) -> int:
    """At start-up: re-plan every client from the database (what became due while the bot
    was down is due now, or at 09:00 when it is quiet now) and, given a dispatcher, send it.
    Returns how many went out."""
    now = clock.now()
    await release_stale(store, now, dispatcher.lease if dispatcher else CLAIM_LEASE)
    await replan_all(store, now, dispatcher.settings if dispatcher else settings)
    if dispatcher is None:
        return 0
    dispatcher._last_replan = now
    return await dispatcher.tick()
