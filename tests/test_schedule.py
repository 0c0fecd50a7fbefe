"""The pure schedule: which sends, when, and the note for a late date."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from bot.schedule import (
    AFTER_MEETING,
    BEGELEIDER_AGENDA,
    CLIENT_REMINDER,
    NAASTE_AGENDA,
    NAASTE_NUDGE,
    ClientState,
    Done,
    MeetingInfo,
    NaasteInfo,
    QuietHours,
    ScheduleSettings,
    days_before,
    in_quiet_hours,
    out_of_quiet,
    plan,
    reminder_text,
    schedule_text,
)

AMS = ZoneInfo("Europe/Amsterdam")
S = ScheduleSettings()
CLIENT = ClientState(person_id=1, begeleider_person_id=2)
NAASTEN = [NaasteInfo(10), NaasteInfo(11, added_something=True)]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS).astimezone(UTC)  # type: ignore[misc]


def by_kind(sends: object) -> dict[tuple[str, int], datetime]:
    return {(s.kind, s.person_id): s.due_at for s in sends}  # type: ignore[attr-defined]


def test_quiet_hours_move_to_nine() -> None:
    assert out_of_quiet(local(2025, 6, 2, 22, 30), S) == local(2025, 6, 3, 9, 0)
    assert out_of_quiet(local(2025, 6, 2, 3, 0), S) == local(2025, 6, 2, 9, 0)
    assert out_of_quiet(local(2025, 6, 2, 21, 0), S) == local(2025, 6, 3, 9, 0)
    assert out_of_quiet(local(2025, 6, 2, 12, 0), S) == local(2025, 6, 2, 12, 0)
    assert not in_quiet_hours(local(2025, 6, 2, 20, 59), S)
    assert in_quiet_hours(local(2025, 6, 2, 8, 59), S)
    assert not QuietHours(time(1), time(6)).contains(time(23))
    assert QuietHours(time(1), time(6)).contains(time(2))


def test_quiet_hours_come_from_the_settings() -> None:
    s = ScheduleSettings.from_settings(
        SimpleNamespace(tz_name="Europe/Amsterdam", quiet_start="22:00", quiet_end=8))
    assert s.quiet == QuietHours(time(22), time(8))
    assert out_of_quiet(local(2025, 6, 2, 21, 30), s) == local(2025, 6, 2, 21, 30)
    assert out_of_quiet(local(2025, 6, 2, 7, 0), s) == local(2025, 6, 2, 8, 0)


def test_days_before_keeps_the_local_time_across_dst() -> None:
    # Summer time starts on 30 March 2025: still 14:00 local two weeks earlier.
    assert days_before(local(2025, 3, 31, 14, 0), 14, S) == local(2025, 3, 17, 14, 0)


def test_a_meeting_in_a_month_gets_the_whole_schedule() -> None:
    now = local(2025, 3, 1, 13, 0)
    start = local(2025, 3, 31, 14, 0)
    result = plan(MeetingInfo(start, now), CLIENT, NAASTEN, [], now, S)
    assert by_kind(result.sends) == {
        (NAASTE_AGENDA, 10): local(2025, 3, 17, 14, 0),
        (NAASTE_AGENDA, 11): local(2025, 3, 17, 14, 0),
        (NAASTE_NUDGE, 10): local(2025, 3, 28, 14, 0),  # 11 added something: no nudge
        (BEGELEIDER_AGENDA, 2): local(2025, 3, 29, 14, 0),
        # reminders only in the last two weeks: the first 3 days after the agenda went out
        (CLIENT_REMINDER, 1): local(2025, 3, 20, 14, 0),
        (AFTER_MEETING, 1): local(2025, 4, 1, 10, 0),
    }
    assert result.note == ""


def test_an_early_morning_meeting_sends_at_nine_not_at_night() -> None:
    now = local(2025, 6, 1, 12, 0)
    start = local(2025, 7, 1, 8, 0)
    result = plan(MeetingInfo(start, now), CLIENT, NAASTEN, [], now, S)
    assert by_kind(result.sends)[(NAASTE_AGENDA, 10)] == local(2025, 6, 17, 9, 0)
    assert all(not in_quiet_hours(s.due_at, S) for s in result.sends)


def test_no_meeting_no_sends() -> None:
    result = plan(None, CLIENT, NAASTEN, [], local(2025, 6, 1, 12, 0), S)
    assert result.sends == () and result.note == ""


def test_a_meeting_in_five_days_sends_the_agenda_now_and_says_so() -> None:
    now = local(2025, 6, 2, 12, 0)
    start = local(2025, 6, 7, 11, 0)
    result = plan(MeetingInfo(start, now), CLIENT, NAASTEN, [], now, S)
    sends = by_kind(result.sends)
    assert sends[(NAASTE_AGENDA, 10)] == now and sends[(NAASTE_AGENDA, 11)] == now
    assert (NAASTE_NUDGE, 10) not in sends  # it would follow the agenda too closely
    assert sends[(BEGELEIDER_AGENDA, 2)] == local(2025, 6, 5, 11, 0)
    assert "over 5 dagen" in result.note
    assert "De agenda voor de naasten: nu meteen." in result.note
    assert "De agenda voor jou: donderdag 5 juni om 11:00." in result.note
    assert "Het tweede berichtje voor de naasten." in result.note


def test_a_late_date_set_at_night_waits_for_nine() -> None:
    now = local(2025, 6, 2, 23, 0)
    start = local(2025, 6, 4, 14, 0)
    result = plan(MeetingInfo(start, now), CLIENT, NAASTEN, [], now, S)
    sends = by_kind(result.sends)
    assert sends[(NAASTE_AGENDA, 10)] == local(2025, 6, 3, 9, 0)
    assert sends[(BEGELEIDER_AGENDA, 2)] == local(2025, 6, 3, 9, 0)
    assert "dinsdag 3 juni om 09:00" in result.note


def test_a_past_meeting_only_gets_the_check_afterwards() -> None:
    now = local(2025, 6, 4, 15, 0)
    start = local(2025, 6, 2, 14, 0)
    result = plan(MeetingInfo(start, now), CLIENT, NAASTEN, [], now, S)
    assert by_kind(result.sends) == {(AFTER_MEETING, 1): now}
    assert result.note.startswith("Deze datum is al voorbij.")
    assert "hoe het gesprek ging: nu meteen" in result.note


def test_a_long_past_meeting_gets_nothing() -> None:
    now = local(2025, 6, 30, 15, 0)
    result = plan(MeetingInfo(local(2025, 6, 2, 14, 0), now), CLIENT, NAASTEN, [], now, S)
    assert result.sends == ()
    assert "Ik stuur hierover geen berichten meer." in result.note


def test_what_went_out_is_not_planned_again() -> None:
    now = local(2025, 3, 18, 12, 0)
    start = local(2025, 3, 31, 14, 0)
    done = [Done(NAASTE_AGENDA, 10, local(2025, 3, 17, 14, 0)),
            Done(NAASTE_AGENDA, 11, local(2025, 3, 17, 14, 0))]
    sends = by_kind(plan(MeetingInfo(start, now), CLIENT, NAASTEN, done, now, S).sends)
    assert (NAASTE_AGENDA, 10) not in sends and (NAASTE_NUDGE, 10) in sends


def test_reminders_every_three_days_at_most_three() -> None:
    start = local(2025, 3, 31, 14, 0)
    meeting = MeetingInfo(start, local(2025, 3, 1, 12, 0))
    now = local(2025, 3, 21, 12, 0)
    one = [Done(CLIENT_REMINDER, 1, local(2025, 3, 20, 14, 0))]
    assert by_kind(plan(meeting, CLIENT, [], one, now, S).sends)[(CLIENT_REMINDER, 1)] == \
        local(2025, 3, 23, 14, 0)
    three = [*one, Done(CLIENT_REMINDER, 1, local(2025, 3, 23, 14, 0)),
             Done(CLIENT_REMINDER, 1, local(2025, 3, 26, 14, 0))]
    assert (CLIENT_REMINDER, 1) not in by_kind(plan(meeting, CLIENT, [], three, now, S).sends)


def test_a_busy_client_is_left_alone() -> None:
    start = local(2025, 3, 31, 14, 0)
    meeting = MeetingInfo(start, local(2025, 3, 1, 12, 0))
    now = local(2025, 3, 21, 12, 0)
    active = ClientState(1, 2, last_activity=local(2025, 3, 21, 11, 0))
    assert by_kind(plan(meeting, active, [], [], now, S).sends)[(CLIENT_REMINDER, 1)] == \
        local(2025, 3, 24, 11, 0)


def test_no_reminders_after_stop_when_off_or_finished() -> None:
    meeting = MeetingInfo(local(2025, 3, 31, 14, 0), local(2025, 3, 1, 12, 0))
    now = local(2025, 3, 21, 12, 0)
    for client in (ClientState(1, 2, stopped=True), ClientState(1, 2, reminders_on=False),
                   ClientState(1, 2, finished=True), ClientState(None, 2)):
        kinds = {s.kind for s in plan(meeting, client, [], [], now, S).sends}
        assert CLIENT_REMINDER not in kinds
    assert AFTER_MEETING not in {s.kind for s in plan(
        meeting, ClientState(1, 2, stopped=True), [], [], now, S).sends}


def test_no_reminder_in_the_last_half_day() -> None:
    start = local(2025, 3, 31, 14, 0)
    meeting = MeetingInfo(start, local(2025, 3, 1, 12, 0))
    done = [Done(CLIENT_REMINDER, 1, local(2025, 3, 28, 12, 0))]
    now = local(2025, 3, 29, 12, 0)
    assert CLIENT_REMINDER not in {s.kind for s in plan(meeting, CLIENT, [], done, now,
                                                        S).sends}


def test_texts_are_gentle_and_fill_in() -> None:
    first = reminder_text(1, name="Sam", date="dinsdag 8 juli")
    assert "Het mag, het hoeft niet." in first and "Sam" in first
    assert "laatste" in reminder_text(3, name="Sam", date="x")
    assert schedule_text("q_talked", item="werk").endswith("Is daarover gepraat?")
    assert timedelta(days=3) == S.reminder_every
