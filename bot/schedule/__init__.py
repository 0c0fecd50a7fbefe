"""The schedule: plan (pure: what is due when), claim (exactly once across processes), send
(within Telegram's limits).

- `plan.py`: the two-week schedule as a pure function, quiet hours, the texts;
- `rows.py`: the plan as `planned_send` rows (insert / move / cancel), the reminder number;
- `claim.py`: due rows claimed atomically, claims of a dead process taken over;
- `send.py`: the `Dispatcher` (pacing, `retry_after`, quiet hours) and `startup`;
- `housekeeping.py`: what is kept how long (the inbox's words, the access log), run by the
  Dispatcher once a day across processes.
The SQL is in `bot/state/planned.py`; nothing here imports SQLAlchemy.

`bot.schedule.plan` is the function `plan` (re-exported below); take other names of the
module with `from bot.schedule.plan import …`.
"""

from bot.schedule.claim import CLAIM_LEASE, claim_due, release_stale
from bot.schedule.plan import (
    AFTER_MEETING,
    BEGELEIDER_AGENDA,
    CHECK_IN,
    CLIENT_REMINDER,
    EVALUATION,
    KINDS,
    NAASTE_AGENDA,
    NAASTE_NUDGE,
    ClientState,
    Done,
    MeetingInfo,
    NaasteInfo,
    Plan,
    QuietHours,
    ScheduleSettings,
    Send,
    days_before,
    days_until,
    in_quiet_hours,
    out_of_quiet,
    plan,
    reminder_text,
    say_when,
    schedule_text,
)
from bot.schedule.rows import (
    plan_for_client,
    reminder_number,
    reminders_enabled,
    reminders_flag,
    replan_all,
)
from bot.schedule.send import Dispatcher, SendFn, SendLater, Undeliverable, startup
from bot.state.planned import PlannedRow

__all__ = [
    "AFTER_MEETING", "BEGELEIDER_AGENDA", "CHECK_IN", "CLAIM_LEASE", "CLIENT_REMINDER",
    "EVALUATION", "KINDS",
    "NAASTE_AGENDA", "NAASTE_NUDGE", "ClientState", "Dispatcher", "Done", "MeetingInfo",
    "NaasteInfo", "Plan", "PlannedRow", "QuietHours", "ScheduleSettings", "Send", "SendFn",
    "SendLater", "Undeliverable", "claim_due", "days_before", "days_until", "in_quiet_hours",
    "out_of_quiet", "plan", "plan_for_client", "release_stale", "reminder_number",
    "reminder_text", "reminders_enabled", "reminders_flag", "replan_all", "say_when",
    "schedule_text", "startup",
]
