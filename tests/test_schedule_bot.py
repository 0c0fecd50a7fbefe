"""The schedule through the real bot with a controllable clock: the agenda to naasten two
weeks ahead, to the begeleider two days ahead, gentle reminders, and the check after the
meeting whose answers reach the begeleider. Nothing goes out at night."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock
from bot.state.models import Answer, PlannedSend
from bot.telegram.app import BotRunner
from bot.telegram.media import build_media
from localbotapi.server import UserHandle
from tests.harness import Harness, harness, texts
from tests.test_triangle import (
    admin_and_begeleider,
    client_with_topic,
    invite_naaste,
    new_client,
    share,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
async def hc(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Harness, FakeClock]]:
    async with harness(db_url, tmp_path) as h:
        clock = FakeClock(datetime.now(UTC))
        media = build_media(h.settings, h.store)
        h.runner = BotRunner(h.settings, h.store, media=media, poll_timeout=1, clock=clock,
                             schedule_every=0)
        await h.start_bot(runner=h.runner)
        yield h, clock


async def tick(h: Harness) -> None:
    assert h.runner is not None
    await h.runner.dispatcher.tick()


def arrived(user: UserHandle, since: int) -> str:
    return texts(user.messages[since:])


async def test_a_month_of_schedule(hc: tuple[Harness, FakeClock]) -> None:
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Op mezelf wonen")
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await share(h, sam, "Anja (Ouder)", "Alleen mijn onderwerpen")

    meeting = await plan_meeting(h, bram, 30)
    assert {r.kind for r in await h.rows(PlannedSend)} >= {
        "naaste_agenda", "naaste_nudge", "begeleider_agenda", "client_reminder", "after_meeting"}

    start = {u.chat_id: len(u.messages) for u in (sam, bram, anja)}
    seen: dict[int, list[tuple[datetime, str]]] = {u.chat_id: [] for u in (sam, bram, anja)}
    end = meeting + timedelta(days=3)
    while clock.now() < end:
        clock.advance(timedelta(hours=1))
        before = {u.chat_id: len(u.messages) for u in (sam, bram, anja)}
        await tick(h)
        for user in (sam, bram, anja):
            for message in user.messages[before[user.chat_id]:]:
                seen[user.chat_id].append((clock.now(), message.content))
        if any("Is daarover gepraat?" in text for _at, text in seen[sam.chat_id]):
            break

    for chat, events in seen.items():
        for at, _text in events:
            local = at.astimezone(AMSTERDAM)
            assert 9 <= local.hour < 21, f"chat {chat} got a message at night: {local}"
    naaste_texts = [text for _at, text in seen[anja.chat_id]]
    assert sum("Sam heeft over 2 weken een gesprek" in x for x in naaste_texts) == 1
    assert "Op mezelf wonen" in "\n".join(naaste_texts)  # what Sam shares
    agenda_at = next(at for at, x in seen[anja.chat_id] if "over 2 weken" in x)
    assert timedelta(days=13) < meeting - agenda_at <= timedelta(days=14, hours=1)
    agenda = [x for at, x in seen[anja.chat_id] if at == agenda_at]
    assert sum("Hoi Anja" in x for x in agenda) == 1  # one greeting, the date once
    assert sum("Het gesprek is op" in x for x in agenda) == 1
    assert "Dit deelt Sam met je" in "\n".join(agenda)
    nudge = [x for _at, x in seen[anja.chat_id] if "Het mag, het hoeft niet" in x]
    assert len(nudge) == 1 and "Sam heeft over 3 dagen een gesprek" in nudge[0]
    begeleider = [(at, x) for at, x in seen[bram.chat_id] if "Hier is de agenda" in x]
    assert len(begeleider) == 1
    assert timedelta(days=1) < meeting - begeleider[0][0] <= timedelta(days=2, hours=1)
    reminders = [at for at, x in seen[sam.chat_id] if "Het mag, het hoeft niet" in x
                 or "Het hoeft niet" in x]
    assert 1 <= len(reminders) <= 3
    assert all(b - a >= timedelta(days=3) for a, b in zip(reminders, reminders[1:],
                                                            strict=False))
    check_at, check = next((at, x) for at, x in seen[sam.chat_id] if "gepraat?" in x)
    assert "Is daarover gepraat?" in check and "Op mezelf wonen" in check
    assert check_at.astimezone(AMSTERDAM).date() == (meeting + timedelta(days=1)).date()

    # Sam answers; the answers reach the begeleider.
    await h.tap(sam, "🙂 Ja")
    out = await h.say(sam, "Het was fijn, iedereen luisterde")
    assert "Ik geef het door aan je begeleider." in texts(out)
    report = bram.messages[-1].content
    assert "Sam vertelt over het gesprek" in report and "Op mezelf wonen: Ja" in report
    assert "Het was fijn, iedereen luisterde" in report
    assert [r.tag for r in await h.rows(Answer, Answer.step == "talked")] == ["talked_yes"]
    assert start  # (messages before the month are not counted)


async def test_no_reminders_after_stop_or_when_turned_off(hc: tuple[Harness, FakeClock]) -> None:
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.act(sam, sam.send_command("/instellingen"))
    await h.tap(sam, "🔕 Geen herinneringen")
    meeting = (datetime.now(AMSTERDAM) + timedelta(days=10)).replace(hour=14, minute=0)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    out = await h.say(bram, meeting.strftime("%d-%m-%Y %H:%M"))
    await h.say(bram, "Thuis")
    note = texts(bram.messages[-3:])
    assert "Het gesprek is al over" in note or "Dit stuur ik" in note, note
    sent_before = len(sam.messages)
    for _ in range(24 * 9):
        clock.advance(timedelta(hours=1))
        await tick(h)
    reminders = [m for m in sam.messages[sent_before:] if "hoeft niet" in m.content]
    assert reminders == []
    assert out is not None


async def test_a_cancelled_meeting_sends_nothing(hc: tuple[Harness, FakeClock]) -> None:
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    meeting = (datetime.now(AMSTERDAM) + timedelta(days=20)).replace(hour=14, minute=0)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    await h.say(bram, meeting.strftime("%d-%m-%Y %H:%M"))
    await h.say(bram, "Thuis")
    assert any(r.state == "planned" for r in await h.rows(PlannedSend))
    out = await h.tap(bram, "❌ Gesprek afzeggen")
    assert "is afgezegd" in texts(out)
    assert {r.state for r in await h.rows(PlannedSend)} == {"cancelled"}
    before = (len(sam.messages), len(anja.messages))
    for _ in range(24 * 25):
        clock.advance(timedelta(hours=1))
        await tick(h)
    assert (len(sam.messages), len(anja.messages)) == before


async def plan_meeting(h: Harness, bram: UserHandle, days: int) -> datetime:
    meeting = (datetime.now(AMSTERDAM) + timedelta(days=days)).replace(
        hour=14, minute=0, second=0, microsecond=0)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    await h.say(bram, meeting.strftime("%d-%m-%Y %H:%M"))
    await h.say(bram, "Op kantoor")
    return meeting


async def until_something_for(h: Harness, clock: FakeClock, user: UserHandle,
                              hours: int = 24) -> list[str]:
    """Tick hour by hour (quiet hours may hold a message until 09:00) until `user` gets
    something; what arrived."""
    before = len(user.messages)
    for _ in range(hours):
        await tick(h)
        if len(user.messages) > before:
            return [m.content for m in user.messages[before:]]
        clock.advance(timedelta(hours=1))
    return []


async def test_the_agenda_six_days_ahead_says_six_days(hc: tuple[Harness, FakeClock]) -> None:
    """A date set late: the agenda goes out at once and counts from the schedule's clock."""
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)  # no date yet
    meeting = await plan_meeting(h, bram, 6)
    out = await until_something_for(h, clock, anja)
    days = (meeting.date() - clock.now().astimezone(AMSTERDAM).date()).days
    assert days in {5, 6}  # 5 when the quiet night held it until the next morning
    text = "\n".join(out)
    assert f"Sam heeft over {days} dagen een gesprek" in text, text
    assert "twee weken" not in text and "2 weken" not in text
    assert text.count("Het gesprek is op ") == 1 and text.count("Hoi Anja") == 1
    assert text.count("Sam kiest zelf wat jij ziet.") == 1
    assert "Sam deelt nog niets met je." in text and "Hier zie je" not in text
    assert "Wil jij ook iets bespreken" in out[-1]  # the invitation carries the buttons
    assert "📋 Agenda van Sam" in [b for row in anja.messages[-1].buttons for b, _ in row]


async def test_a_naaste_who_joins_late_is_greeted_once(hc: tuple[Harness, FakeClock]) -> None:
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    await plan_meeting(h, bram, 6)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    assert "Sam heeft over 6 dagen een gesprek" in texts(anja.messages)
    assert await until_something_for(h, clock, anja) == []  # no second greeting
    assert {r.state for r in await h.rows(PlannedSend, PlannedSend.kind == "naaste_agenda")} \
        == {"sent"}


async def test_no_planned_message_after_a_naaste_said_stop(
        hc: tuple[Harness, FakeClock]) -> None:
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    out = await h.act(anja, anja.send_command("/stop"))
    assert "Je krijgt geen berichten meer" in texts(out)
    await plan_meeting(h, bram, 6)
    assert await until_something_for(h, clock, anja) == []
