"""Claiming due rows exactly once across processes.

`claim_due` claims atomically (two bot processes on one PostgreSQL never send one row twice);
a claim carries its worker and time. A claim goes back to 'planned' when its worker's
process is gone (PostgreSQL: nobody holds the worker's alive lock, `Store.workers_gone`; a
worker holds it before it claims) or, failing that, once it outlives `CLAIM_LEASE` (its
process died before it sent, or before it wrote 'sent'). Every change of a claimed row
checks that the claim is still ours. The SQL lives in `bot.state.planned`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.state.planned import PlannedRow, PlannedSends
from bot.state.store import Store

# A claim this old belongs to a process that died: its row goes back to 'planned'.
CLAIM_LEASE = timedelta(minutes=10)
# A claim of a worker known to be gone goes back once this old: sending takes seconds, so
# a lost lock (the database restarted under a live process) never frees a send under way.
GONE_AFTER = timedelta(minutes=1)


def _claim_tag(worker_id: str, now: datetime) -> str:
    """Who claimed, and when (so a claim of a dead process can expire)."""
    return f"{worker_id[:48]}@{int(now.timestamp())}"


def _claimed_at(tag: str | None) -> datetime | None:
    stamp = (tag or "").rpartition("@")[2]
    return datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None


def _claimed_by(tag: str | None) -> str:
    return (tag or "").rpartition("@")[0]


async def claim_due(store: Store, now: datetime, worker_id: str,
                    limit: int = 25) -> list[PlannedRow]:
    """Claim up to `limit` due rows for this worker, oldest first (it says it is alive
    first, so that no other process takes its claims for a dead one's)."""
    await store.keep_alive(worker_id[:48])
    async with store.unit() as unit:
        rows = await PlannedSends(unit).claim_due(now, limit, _claim_tag(worker_id, now))
    return sorted(rows, key=lambda r: (r.due_at, r.id))


async def mark_sent(store: Store, row: PlannedRow, now: datetime) -> bool:
    """False when our claim was lost meanwhile (likewise below)."""
    async with store.unit() as unit:
        return await PlannedSends(unit).mark_sent(row.id, row.claimed_by, now)


async def release(store: Store, row: PlannedRow, due_at: datetime | None = None) -> bool:
    """Give a claimed row back (due at `due_at`, when given)."""
    async with store.unit() as unit:
        return await PlannedSends(unit).release(row.id, row.claimed_by, due_at)


async def cancel(store: Store, row: PlannedRow) -> bool:
    """A claimed row that can never go out; its claim is kept (not planned again)."""
    async with store.unit() as unit:
        return await PlannedSends(unit).cancel_claimed(row.id, row.claimed_by)


async def release_stale(store: Store, now: datetime, lease: timedelta = CLAIM_LEASE) -> int:
    """Claims of a process that died before it sent (or before it wrote 'sent') go back to
    'planned': a minute after the claim when its worker is known to be gone, else once
    older than `lease` (sending takes seconds, so a live claim is young)."""
    async with store.unit() as unit:
        claimed = await PlannedSends(unit).claimed()
    gone = await store.workers_gone({_claimed_by(row.claimed_by) for row in claimed})
    freed = 0
    for row in claimed:
        at, by = _claimed_at(row.claimed_by), _claimed_by(row.claimed_by)
        if at is None or now - at >= lease or (now - at >= GONE_AFTER and by in gone):
            freed += await release(store, row)
    return freed
