"""Claiming due rows exactly once across processes.

`claim_due` claims atomically (two bot processes on one PostgreSQL never send one row twice);
a claim carries its worker and time, so one that outlives `CLAIM_LEASE` (its process died
before it sent, or before it wrote 'sent') goes back to 'planned'. Every change of a claimed
row checks that the claim is still ours. The SQL lives in `bot.state.planned`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.state.planned import PlannedRow, PlannedSends
from bot.state.store import Store

# A claim this old belongs to a process that died: its row goes back to 'planned'.
CLAIM_LEASE = timedelta(minutes=10)


def _claim_tag(worker_id: str, now: datetime) -> str:
    """Who claimed, and when (so a claim of a dead process can expire)."""
    return f"{worker_id[:48]}@{int(now.timestamp())}"


def _claimed_at(tag: str | None) -> datetime | None:
    stamp = (tag or "").rpartition("@")[2]
    return datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None


async def claim_due(store: Store, now: datetime, worker_id: str,
                    limit: int = 25) -> list[PlannedRow]:
    """Claim up to `limit` due rows for this worker, oldest first."""
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
    """Claims older than `lease` belong to a process that died before it sent (or before it
    wrote 'sent'): they go back to 'planned'. Sending takes seconds, so a live claim is young."""
    async with store.unit() as unit:
        claimed = await PlannedSends(unit).claimed()
    freed = 0
    for row in claimed:
        at = _claimed_at(row.claimed_by)
        if at is None or now - at >= lease:
            freed += await release(store, row)
    return freed
