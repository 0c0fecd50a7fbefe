"""Check-ins between meetings through the real bot with a controllable clock (issue 15):
Bram sends Sam's agreements after the meeting; every four weeks Sam is asked how they go
(never at night), answers with a mood (and once with words); Bram's agreements screen shows
the timeline and he gets one line after each check-in. After /stop no more come."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from bot.state.models import CheckIn
from localbotapi.server import UserHandle
from tests.harness import Harness, texts
from tests.test_agreements_bot import send_agreement
from tests.test_schedule_bot import hc, plan_meeting, tick  # noqa: F401 (the fixture)
from tests.test_triangle import admin_and_begeleider, new_client

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
STEP = timedelta(hours=6)  # a tick every six hours: a 09:00 send goes out before 15:00


async def next_check_in(h: Harness, clock: FakeClock, sam: UserHandle,
                        days: int = 40) -> tuple[int, str]:
    """Tick until Sam is asked how the agreements go: (message index, local time)."""
    end = clock.now() + timedelta(days=days)
    while clock.now() < end:
        clock.advance(STEP)
        before = len(sam.messages)
        await tick(h)
        for i, message in enumerate(sam.messages[before:], before):
            if "Hoe gaat het met deze afspraak?" in message.content:
                return i, clock.now().astimezone(AMSTERDAM).isoformat()
    raise AssertionError("no check-in came")


async def sam_with_an_agreement(h: Harness, who: str, picto: str = "Zonder plaatje"
                                ) -> tuple[UserHandle, UserHandle]:
    """Bram, and Sam whose meeting is tomorrow and who got "Elke week zwemmen"."""
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await plan_meeting(h, bram, 1)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await send_agreement(h, bram, "Elke week zwemmen", who, picto)
    return bram, sam


async def test_three_check_ins_a_month_apart(hc: tuple[Harness, FakeClock]) -> None:  # noqa: F811
    h, clock = hc
    bram, sam = await sam_with_an_agreement(h, "Sam", "Gezondheid")
    sent_at = clock.now()

    asked_at = []
    for mood, words in (("🙂 Goed", None), ("😐 Gaat wel", "Het water is koud"),
                        ("🙁 Niet goed", None)):
        index, when = await next_check_in(h, clock, sam)
        asked_at.append(clock.now())
        local_hour = clock.now().astimezone(AMSTERDAM).hour
        assert 9 <= local_hour < 21, f"a check-in at night: {when}"
        before_bram = len(bram.messages)
        await h.act(sam, sam.press(sam.messages[index], mood))
        if words:
            await h.say(sam, words)
        else:
            await h.tap(sam, "Verder")
        assert "Sam over de afspraken" in texts(bram.messages[before_bram:])
    gaps = [b - a for a, b in zip([sent_at, *asked_at], asked_at, strict=False)]
    assert all(timedelta(days=28) <= gap < timedelta(days=29) for gap in gaps), gaps
    rows = sorted(await h.rows(CheckIn), key=lambda r: r.id)
    assert [(r.mood, r.text) for r in rows] == [("good", ""), ("ok", "Het water is koud"),
                                                 ("bad", "")]
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    out = await h.tap(bram, "🤝 Afspraken")
    assert "🙂" in texts(out) and "😐" in texts(out) and "“Het water is koud”" in texts(out)

    # After /stop, no more.
    await h.act(sam, sam.send_command("/stop"))
    before = len(sam.messages)
    for _ in range(4 * 35):
        clock.advance(STEP)
        await tick(h)
    assert "Hoe gaat het met deze afspraak?" not in texts(sam.messages[before:])


async def test_the_begeleider_plans_an_evaluation(hc: tuple[Harness, FakeClock]) -> None:  # noqa: F811
    h, clock = hc
    bram, sam = await sam_with_an_agreement(h, "Samen")
    out = await h.tap(bram, "📝 Evaluatie plannen")
    assert "Wanneer krijgt Sam de vragen" in texts(out)
    out = await h.tap(bram, "Nu")
    assert "Sam krijgt de vragen over de afspraken" in texts(out)
    before = len(sam.messages)
    for _ in range(8):  # at most two days of ticks: it goes out at once, or at 09:00
        clock.advance(STEP)
        await tick(h)
        if "wil graag weten hoe het gaat" in texts(sam.messages[before:]):
            break
    assert "Je begeleider wil graag weten hoe het gaat" in texts(sam.messages[before:])
    assert 9 <= clock.now().astimezone(AMSTERDAM).hour < 21  # never at night
    await h.tap(sam, "😐 Gaat wel")
    await h.tap(sam, "Verder")
    out = await h.say(sam, "Zwemmen is leuk maar het water is koud")
    assert "Dank je wel!" in texts(out)
    report = texts(bram.messages[-2:])
    assert "😐 Elke week zwemmen" in report and "💬 “Zwemmen is leuk" in report
    rows = await h.rows(CheckIn)
    assert sorted(r.mood for r in rows) == ["note", "ok"]
