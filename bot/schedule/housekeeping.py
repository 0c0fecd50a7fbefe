"""Housekeeping the schedule runs like its other planned work: nothing is kept longer than it
is needed. Each job runs at most once per period across all bot processes (claimed in the
database, `Store.claim_job`), and logs how much it removed, never what.

- `empty_inbox`: handled updates keep their id (a redelivery is still recognised) but lose
  their payload — a person's words — after `INBOX_KEEP_DAYS` (default 7).
- `purge_audit`: the access log is kept `AUDIT_KEEP_DAYS` (default five years, the NEN 7513
  habit); it holds who looked at which part when, no content.
- `retention`: a finished round's answers, their files and its topics go `RETENTION_DAYS`
  (default 365) after the round's meeting. The begeleider is told a week before (once per
  round, not at night); a round is never removed less than a week after that notice, so a
  late notice (the bot was down, the setting was lowered) moves the removal, not the notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.state.erasure import ClosedRound, closed_rounds, erase_round
from bot.state.store import Store

log = logging.getLogger(__name__)

EVERY = timedelta(hours=24)  # how often each job runs (at most)
NOTICE_BEFORE = timedelta(days=7)  # the begeleider hears this long before a round goes
ONCE = timedelta(days=365 * 100)  # a claim that is never due again
NOTICE = "retention_notice"  # job names "retention_notice:<client id>:<round>"


@dataclass(frozen=True)
class Keeping:
    """How long what is kept (days)."""

    inbox_days: int = 7
    audit_days: int = 1826
    retention_days: int = 365

    @classmethod
    def from_settings(cls, settings: Any) -> Keeping:
        if settings is None:
            return cls()
        return cls(int(getattr(settings, "inbox_keep_days", cls.inbox_days)),
                   int(getattr(settings, "audit_keep_days", cls.audit_days)),
                   int(getattr(settings, "retention_days", cls.retention_days)))


@dataclass(frozen=True)
class Notice:
    """Tell the begeleider: this round of this client goes at `goes_at`."""

    round: ClosedRound
    goes_at: datetime


@dataclass
class Done:
    removed: dict[str, int]  # per job, how many rows (for the log, tests)
    notices: list[Notice]  # to send now; each claimed, so no other process sends it


async def run(store: Store, now: datetime, keeping: Keeping, quiet: bool = False) -> Done:
    """The jobs that are due, each claimed first, and the retention notices to send now
    (none in quiet hours: they wait for the morning)."""
    removed: dict[str, int] = {}
    if await store.claim_job("empty_inbox", now, EVERY):
        removed["empty_inbox"] = await store.empty_inbox(
            now - timedelta(days=keeping.inbox_days))
    if await store.claim_job("purge_audit", now, EVERY):
        removed["purge_audit"] = await store.purge_audit(
            now - timedelta(days=keeping.audit_days))
    notices = [] if quiet else await _notices(store, now, keeping)
    if await store.claim_job("retention", now, EVERY):
        removed["retention"] = await _retention(store, now, keeping)
    if any(removed.values()) or notices:
        log.info("housekeeping: %s", ", ".join(
            [f"{job} {n}" for job, n in removed.items()] + [f"notices {len(notices)}"]))
    return Done(removed, notices)


def _goes_at(closed: ClosedRound, keeping: Keeping) -> datetime:
    return closed.meeting_at + timedelta(days=keeping.retention_days)


async def _notices(store: Store, now: datetime, keeping: Keeping) -> list[Notice]:
    async with store.unit() as unit:
        rounds = await closed_rounds(unit)
    notices = []
    for closed in rounds:
        goes_at = _goes_at(closed, keeping)
        if (closed.begeleider_person_id is not None and now >= goes_at - NOTICE_BEFORE
                and await store.claim_job(f"{NOTICE}:{closed.client_id}:{closed.round}",
                                          now, ONCE)):
            notices.append(Notice(closed, max(goes_at, now + NOTICE_BEFORE)))
    return notices


async def _retention(store: Store, now: datetime, keeping: Keeping) -> int:
    """Rounds past their time, whose begeleider was told at least a week ago (or who has
    none to tell), removed; how many rows."""
    told = await store.job_runs(f"{NOTICE}:")
    removed = 0
    async with store.unit() as unit:
        for closed in await closed_rounds(unit):
            notice = told.get(f"{NOTICE}:{closed.client_id}:{closed.round}")
            ready = (notice is not None and notice <= now - NOTICE_BEFORE) or (
                closed.begeleider_person_id is None)
            if now >= _goes_at(closed, keeping) and ready:
                removed += await erase_round(unit, closed.client_id, closed.round)
    return removed
