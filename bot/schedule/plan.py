"""The two-week schedule, as a pure function: meeting + people + progress + what went out +
now → the planned sends. No SQL, no Telegram: `rows.py` stores the plan, `claim.py` and
`send.py` send it.

Kinds (the bot decides what each message says; texts in `bot/dialogs/texts/nl.yaml`):
- `naaste_agenda`: 14 days before, per naaste (what the client shares, and an invitation);
- `naaste_nudge`: 3 days before, once, only to a naaste who added nothing;
- `begeleider_agenda`: 2 days before, the compiled agenda;
- `client_reminder`: while the preparation is not finished: one every 3 days at most, 3 in all,
  none after /stop or with reminders off;
- `after_meeting`: the day after, at 10:00 local: "Is er over gepraat?";
- `check_in`: after the agreements were sent, every `check_in_days` (the begeleider's
  choice, default 28, never more often than weekly): "Hoe gaat het met je afspraken?", all
  agreements in one go; not after /stop or with reminders off.
Nothing is due in quiet hours (default 21:00-09:00 local): such a time moves to 09:00.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogs.texts import dutch_date, t

NAASTE_AGENDA = "naaste_agenda"
NAASTE_NUDGE = "naaste_nudge"
BEGELEIDER_AGENDA = "begeleider_agenda"
CLIENT_REMINDER = "client_reminder"
AFTER_MEETING = "after_meeting"
CHECK_IN = "check_in"
EVALUATION = "evaluation"  # the begeleider asked for one: the check-ins + one open question
KINDS = (NAASTE_AGENDA, NAASTE_NUDGE, BEGELEIDER_AGENDA, CLIENT_REMINDER, AFTER_MEETING)



# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock times; `start` after `end` means the quiet runs over midnight."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class ScheduleSettings:
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Europe/Amsterdam"))
    quiet: QuietHours = field(default_factory=QuietHours)
    naaste_days: int = 14
    nudge_days: int = 3
    begeleider_days: int = 2
    reminder_every: timedelta = timedelta(days=3)
    reminder_max: int = 3
    # Reminders only in the last two weeks: earlier they are forgotten before the meeting.
    reminder_window_days: int = 14
    # No reminder on the last half day: then it would only press.
    reminder_stop_before: timedelta = timedelta(hours=12)
    after_meeting_at: time = time(10, 0)
    # Asking "how did it go" a month later makes no sense.
    after_meeting_window: timedelta = timedelta(days=7)
    # A nudge right after a late agenda would press: only when the agenda had time to land.
    nudge_min_gap: timedelta = timedelta(days=4)

    @classmethod
    def from_settings(cls, settings: Any) -> ScheduleSettings:
        """From `bot.settings.Settings` (tz_name; quiet_start / quiet_end when present)."""
        if settings is None:
            return cls()
        if isinstance(settings, ScheduleSettings):
            return settings
        tz = ZoneInfo(str(getattr(settings, "tz_name", "Europe/Amsterdam")))
        quiet = QuietHours(_as_time(getattr(settings, "quiet_start", None), time(21, 0)),
                           _as_time(getattr(settings, "quiet_end", None), time(9, 0)))
        return cls(tz=tz, quiet=quiet)


def with_quiet(settings: ScheduleSettings, start: str | None, end: str | None
               ) -> ScheduleSettings:
    """These settings with an organisation's own quiet hours (None: the deployment's)."""
    if not start or not end:
        return settings
    return replace(settings, quiet=QuietHours(_as_time(start, settings.quiet.start),
                                              _as_time(end, settings.quiet.end)))


def _as_time(value: object, default: time) -> time:
    """A time, an hour (21) or "21:00"."""
    if value is None or value == "":
        return default
    if isinstance(value, time):
        return value
    if isinstance(value, int):
        return time(value, 0)
    hours, _, minutes = str(value).strip().partition(":")
    return time(int(hours), int(minutes or 0))


# --------------------------------------------------------------------------- inputs / output
@dataclass(frozen=True)
class MeetingInfo:
    starts_at: datetime
    set_at: datetime  # when the begeleider set it: the first reminder counts from here


@dataclass(frozen=True)
class ClientState:
    person_id: int | None  # None: not linked to Telegram yet (or blocked the bot)
    begeleider_person_id: int | None = None
    finished: bool = False  # the preparation reached its last step
    stopped: bool = False  # /stop
    reminders_on: bool = True  # "Geen herinneringen" in /instellingen turns it off
    last_activity: datetime | None = None  # the client's last answer or move


@dataclass(frozen=True)
class NaasteInfo:
    person_id: int | None
    added_something: bool = False


@dataclass(frozen=True)
class CheckIns:
    """The client's agreements, for the check-ins between meetings."""

    first_sent: datetime  # when the client first got the agreements
    every_days: int  # the begeleider's rhythm (0: no check-ins)
    last: datetime | None = None  # the last check-in that went out (any round)
    evaluation_at: datetime | None = None  # the begeleider asked for an evaluation then
    evaluated: bool = False  # … and it went out


MIN_CHECK_IN_DAYS = 7  # at most one check-in message a week


@dataclass(frozen=True)
class Done:
    """A send that went out (or is going out) for this meeting."""

    kind: str
    person_id: int | None
    at: datetime


@dataclass(frozen=True)
class Send:
    kind: str
    person_id: int
    due_at: datetime
    asap: bool = False  # its regular time had passed: as soon as allowed

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.person_id)


@dataclass(frozen=True)
class Plan:
    sends: tuple[Send, ...]
    note: str = ""  # for the begeleider, when the date was set late or in the past


# --------------------------------------------------------------------------- time helpers
def in_quiet_hours(at: datetime, settings: ScheduleSettings) -> bool:
    return settings.quiet.contains(at.astimezone(settings.tz).time())


def out_of_quiet(at: datetime, settings: ScheduleSettings) -> datetime:
    """`at`, or the end of the quiet hours it falls in (09:00 local)."""
    local = at.astimezone(settings.tz)
    if not settings.quiet.contains(local.time()):
        return at
    day = local.date() if local.time() < settings.quiet.end else local.date() + timedelta(days=1)
    return datetime.combine(day, settings.quiet.end, tzinfo=settings.tz).astimezone(UTC)


def days_before(at: datetime, days: int, settings: ScheduleSettings) -> datetime:
    """The same local wall-clock time `days` earlier (also across a DST change)."""
    local = at.astimezone(settings.tz).replace(tzinfo=None) - timedelta(days=days)
    return local.replace(tzinfo=settings.tz).astimezone(UTC)


def days_until(at: datetime, now: datetime, tz: tzinfo) -> int:
    """Calendar days from today to `at`, in the local zone: 0 today, 1 tomorrow, -1 yesterday
    (so a meeting at 09:00 tomorrow is "tomorrow" also at 21:00 tonight)."""
    return (at.astimezone(tz).date() - now.astimezone(tz).date()).days


def _when(desired: datetime, now: datetime, settings: ScheduleSettings) -> tuple[datetime, bool]:
    """The due time: `desired`, or now when it has passed; never in quiet hours."""
    if desired >= now:
        return out_of_quiet(desired, settings), False
    return out_of_quiet(now, settings), True


# --------------------------------------------------------------------------- the plan
def plan(meeting: MeetingInfo | None, client: ClientState, naasten: Sequence[NaasteInfo],
         done: Sequence[Done], now: datetime,
         settings: ScheduleSettings | None = None, check_ins: CheckIns | None = None) -> Plan:
    """Everything that should still go out for this meeting. `done` holds what went out for
    it already; no meeting (or a cancelled one) → nothing."""
    s = settings or ScheduleSettings()
    if meeting is None:
        return Plan(())
    done_at = {(d.kind, d.person_id): d.at for d in done}
    sends = [*_naaste_sends(meeting, naasten, done_at, now, s),
             *_begeleider_send(meeting, client, done_at, now, s),
             *_reminder(meeting, client, done, now, s),
             *_after_meeting(meeting, client, done_at, now, s),
             *_check_in(client, check_ins, now, s),
             *_evaluation(client, check_ins, now, s)]
    nudges = any(n.person_id is not None and not n.added_something for n in naasten)
    return Plan(tuple(sends), _note(meeting, sends, done, now, s, nudges))


def _naaste_sends(meeting: MeetingInfo, naasten: Sequence[NaasteInfo],
                  done_at: dict[tuple[str, int | None], datetime], now: datetime,
                  s: ScheduleSettings) -> list[Send]:
    sends: list[Send] = []
    start = meeting.starts_at
    for naaste in naasten:
        pid = naaste.person_id
        if pid is None:
            continue  # not on Telegram yet: planned when they join (re-plan then)
        agenda_at = done_at.get((NAASTE_AGENDA, pid))
        if agenda_at is None:
            due, asap = _when(days_before(start, s.naaste_days, s), now, s)
            if due >= start:
                continue
            sends.append(Send(NAASTE_AGENDA, pid, due, asap))
            agenda_at = due
        if naaste.added_something or (NAASTE_NUDGE, pid) in done_at:
            continue
        due, asap = _when(days_before(start, s.nudge_days, s), now, s)
        if due < start and due - agenda_at >= s.nudge_min_gap:
            sends.append(Send(NAASTE_NUDGE, pid, due, asap))
    return sends


def _begeleider_send(meeting: MeetingInfo, client: ClientState,
                     done_at: dict[tuple[str, int | None], datetime], now: datetime,
                     s: ScheduleSettings) -> list[Send]:
    pid = client.begeleider_person_id
    if pid is None or (BEGELEIDER_AGENDA, pid) in done_at:
        return []
    due, asap = _when(days_before(meeting.starts_at, s.begeleider_days, s), now, s)
    return [Send(BEGELEIDER_AGENDA, pid, due, asap)] if due < meeting.starts_at else []


def _reminder(meeting: MeetingInfo, client: ClientState, done: Sequence[Done], now: datetime,
              s: ScheduleSettings) -> list[Send]:
    """Only the next reminder: it counts from the last reminder or the client's last move,
    so a client who is busy preparing is left alone."""
    pid = client.person_id
    if pid is None or client.finished or client.stopped or not client.reminders_on:
        return []
    sent = sorted(d.at for d in done if d.kind == CLIENT_REMINDER)
    if len(sent) >= s.reminder_max:
        return []
    window = days_before(meeting.starts_at, s.reminder_window_days, s)
    anchor = max([meeting.set_at, window, *sent[-1:],
                  *([client.last_activity] if client.last_activity else [])])
    due, asap = _when(anchor + s.reminder_every, now, s)
    if due > meeting.starts_at - s.reminder_stop_before:
        return []
    return [Send(CLIENT_REMINDER, pid, due, asap)]


def _after_meeting(meeting: MeetingInfo, client: ClientState,
                   done_at: dict[tuple[str, int | None], datetime], now: datetime,
                   s: ScheduleSettings) -> list[Send]:
    """Not after /stop: somebody who said stop gets no questions from us."""
    pid = client.person_id
    if pid is None or client.stopped or (AFTER_MEETING, pid) in done_at:
        return []
    day = meeting.starts_at.astimezone(s.tz).date() + timedelta(days=1)
    desired = datetime.combine(day, s.after_meeting_at, tzinfo=s.tz).astimezone(UTC)
    due, asap = _when(desired, now, s)
    if due > meeting.starts_at + s.after_meeting_window:
        return []
    return [Send(AFTER_MEETING, pid, due, asap)]


def _check_in(client: ClientState, check_ins: CheckIns | None, now: datetime,
              s: ScheduleSettings) -> list[Send]:
    """The next check-in: a rhythm after the last one (or after the agreements were sent)."""
    pid = client.person_id
    if (pid is None or check_ins is None or check_ins.every_days <= 0 or client.stopped
            or not client.reminders_on):
        return []
    anchor = max([check_ins.first_sent, *([check_ins.last] if check_ins.last else [])])
    every = timedelta(days=max(check_ins.every_days, MIN_CHECK_IN_DAYS))
    due, asap = _when(anchor + every, now, s)
    return [Send(CHECK_IN, pid, due, asap)]


def _evaluation(client: ClientState, check_ins: CheckIns | None, now: datetime,
                s: ScheduleSettings) -> list[Send]:
    """As soon as the begeleider asks (never at night); not after /stop."""
    pid = client.person_id
    if (pid is None or check_ins is None or check_ins.evaluation_at is None
            or check_ins.evaluated or client.stopped):
        return []
    due, asap = _when(check_ins.evaluation_at, now, s)
    return [Send(EVALUATION, pid, due, asap)]


# --------------------------------------------------------------------------- the note
def _note(meeting: MeetingInfo, sends: Sequence[Send], done: Sequence[Done], now: datetime,
          s: ScheduleSettings, nudges: bool) -> str:
    """Only when the date is late or past: what will still go out, and what not."""
    start = meeting.starts_at
    if start - now >= timedelta(days=s.naaste_days):
        return ""
    lines = [_note_head(start, now, s)]
    planned: dict[str, datetime] = {}
    for send in sends:
        planned[send.kind] = min(planned.get(send.kind, send.due_at), send.due_at)
    if planned:
        lines.append(schedule_text("note_will"))
        lines += [schedule_text(f"note_line_{kind}", when=say_when(planned[kind], now, s))
                  for kind in KINDS if kind in planned]
    else:
        lines.append(schedule_text("note_will_none"))
    went = {d.kind for d in done}
    skipped = [kind for kind in (NAASTE_AGENDA, NAASTE_NUDGE, BEGELEIDER_AGENDA, AFTER_MEETING)
               if kind not in planned and kind not in went
               and _was_expected(kind, start, now, s, nudges)]
    if skipped:
        lines.append(schedule_text("note_wont"))
        lines += [schedule_text(f"note_skip_{kind}") for kind in skipped]
    return "\n".join(lines)


def _note_head(start: datetime, now: datetime, s: ScheduleSettings) -> str:
    if start <= now:
        return schedule_text("note_past")
    days = days_until(start, now, s.tz)
    if days <= 0:
        return schedule_text("note_soon_today")
    return schedule_text("note_soon_one") if days == 1 else schedule_text("note_soon", days=days)


def _was_expected(kind: str, start: datetime, now: datetime, s: ScheduleSettings,
                  nudges: bool) -> bool:
    """Would this kind normally have gone out (so its absence is worth a word)?"""
    if kind == AFTER_MEETING:
        return start <= now
    if kind == NAASTE_NUDGE:  # skipped when the agenda itself is late
        return nudges and days_before(start, s.naaste_days, s) < now
    days = {NAASTE_AGENDA: s.naaste_days, NAASTE_NUDGE: s.nudge_days,
            BEGELEIDER_AGENDA: s.begeleider_days}[kind]
    return days_before(start, days, s) < now


def say_when(at: datetime, now: datetime, settings: ScheduleSettings) -> str:
    """"nu meteen", or "dinsdag 8 december om 09:00" in the local zone."""
    if at <= now + timedelta(minutes=1):
        return schedule_text("when_now")
    return dutch_date(at, settings.tz)


# --------------------------------------------------------------------------- texts
def schedule_text(key: str, **values: object) -> str:
    """The text for `key` (all texts live in `bot/dialogs/texts/nl.yaml`)."""
    return t(key, **values)


def reminder_text(number: int, **values: object) -> str:
    """The `number`-th reminder (1..3): each a little different, none pressing."""
    return schedule_text(f"client_reminder_{min(max(number, 1), 3)}", **values)
