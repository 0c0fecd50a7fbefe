"""Housekeeping the schedule runs like its other planned work: nothing is kept longer than it
is needed. Each job runs at most once per period across all bot processes (claimed in the
database, `Store.claim_job`), and logs how much it removed, never what.

- `empty_inbox`: handled updates keep their id (a redelivery is still recognised) but lose
  their payload — a person's words — after `INBOX_KEEP_DAYS` (default 7).
- `purge_audit`: the access log is kept `AUDIT_KEEP_DAYS` (default five years, the NEN 7513
  habit); it holds who looked at which part when, no content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.state.store import Store

log = logging.getLogger(__name__)

EVERY = timedelta(hours=24)  # how often each job runs (at most)


@dataclass(frozen=True)
class Keeping:
    """How long what is kept (days)."""

    inbox_days: int = 7
    audit_days: int = 1826

    @classmethod
    def from_settings(cls, settings: Any) -> Keeping:
        if settings is None:
            return cls()
        return cls(int(getattr(settings, "inbox_keep_days", cls.inbox_days)),
                   int(getattr(settings, "audit_keep_days", cls.audit_days)))


async def run(store: Store, now: datetime, keeping: Keeping) -> dict[str, int]:
    """The jobs that are due, each claimed first; what each removed (for the log, tests)."""
    done: dict[str, int] = {}
    if await store.claim_job("empty_inbox", now, EVERY):
        done["empty_inbox"] = await store.empty_inbox(now - timedelta(days=keeping.inbox_days))
    if await store.claim_job("purge_audit", now, EVERY):
        done["purge_audit"] = await store.purge_audit(now - timedelta(days=keeping.audit_days))
    if any(done.values()):
        log.info("housekeeping: %s", ", ".join(f"{job} {n}" for job, n in done.items()))
    return done
