"""Two whole cycles through the real bot with the controllable clock (issue 15): Sam
prepares, the meeting is held, Sam says what was talked about, Bram sends the agreements,
three check-ins come a month apart, Bram plans the next meeting: round 2 offers the topic
that was not talked about and the agreement with how it went, and the second meeting's
agenda holds round 2 with "Sinds de vorige keer". Nothing of round 1 changes."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.clock import FakeClock
from bot.state.models import Answer, CheckIn, Client
from localbotapi.server import UserHandle
from tests.harness import Harness, texts
from tests.test_agreements_bot import send_agreement
from tests.test_check_ins_bot import STEP, next_check_in
from tests.test_schedule_bot import hc, tick  # noqa: F401 (the fixture)
from tests.test_triangle import admin_and_begeleider, new_client

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


async def plan(h: Harness, bram: UserHandle, clock: FakeClock, days: int) -> str:
    when = (clock.now() + timedelta(days=days)).astimezone(AMSTERDAM).replace(
        hour=14, minute=0, second=0, microsecond=0)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    out = await h.say(bram, when.strftime("%d-%m-%Y %H:%M"))
    await h.say(bram, "Op kantoor")
    return texts(out)


async def until_for(h: Harness, clock: FakeClock, user: UserHandle, words: str,
                    days: int = 10) -> None:
    end = clock.now() + timedelta(days=days)
    while clock.now() < end:
        clock.advance(STEP)
        before = len(user.messages)
        await tick(h)
        if words in texts(user.messages[before:]):
            return
    raise AssertionError(f"never came: {words}")


async def test_two_whole_cycles(hc: tuple[Harness, FakeClock]) -> None:  # noqa: F811
    h, clock = hc
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    await h.say(sam, "Ik kan goed tekenen")
    await h.tap(sam, "➡️ Verder")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.say(sam, "Op mezelf wonen")
    await h.tap(sam, "➕ Ja, nog iets")
    await h.say(sam, "Ander werk")
    assert "dit wordt ronde" not in await plan(h, bram, clock, 3)

    # The day after the meeting: one topic talked about, one not.
    await until_for(h, clock, sam, "Is daarover gepraat?")
    await h.tap(sam, "❌ Nee")
    await h.tap(sam, "🙂 Ja")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await send_agreement(h, bram, "Elke week zwemmen", "Sam", "Gezondheid")

    for mood in ("🙂 Goed", "😐 Gaat wel", "🙁 Niet goed"):
        index, _when = await next_check_in(h, clock, sam)
        await h.act(sam, sam.press(sam.messages[index], mood))
        await h.tap(sam, "Verder")
    assert len(await h.rows(CheckIn)) == 3

    # The next meeting: round 2 starts from round 1.
    assert "dit wordt ronde 2" in await plan(h, bram, clock, 20)
    (client,) = await h.rows(Client)
    assert client.round == 2
    out = await h.act(sam, sam.send_command("/verder"))
    await h.tap(sam, "➡️ Beginnen")
    out = texts(sam.messages[-2:])
    assert "Vorige keer zei je" in out and "Ik kan goed tekenen" in out
    await h.tap(sam, "👍 Ja, klopt nog")
    await h.tap(sam, "🤷 Weet ik nog niet")
    offer = texts(sam.messages[-2:])
    assert "Op mezelf wonen" in offer and "Ander werk" not in offer
    await h.tap(sam, "👍 Ja, weer praten")
    offer = texts(sam.messages[-2:])
    assert "Elke week zwemmen" in offer and "Het ging niet goed" in offer
    await h.tap(sam, "👎 Nee")
    await h.say(sam, "Een eigen sleutel")

    before = len(bram.messages)
    await h.act(bram, bram.send_command("/agenda"))
    agenda = texts(bram.messages[before:])
    assert "Op mezelf wonen" in agenda and "Een eigen sleutel" in agenda
    assert "Ander werk" not in agenda and "Ik kan goed tekenen" in agenda
    assert "Sinds de vorige keer" in agenda and "Elke week zwemmen" in agenda
    # Round 1 is as it was.
    old = sorted((a.step, a.text) for a in await h.rows(Answer, Answer.round == 1)
                 if a.step in {"good_at", "agenda"})
    assert old == [("agenda", "Ander werk"), ("agenda", "Op mezelf wonen"),
                   ("good_at", "Ik kan goed tekenen")]
