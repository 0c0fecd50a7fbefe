"""What a naaste and the begeleider read (issue 13): the date relative to today, one
greeting, texts that fit what is shared, no agenda again after each addition, headings in
the third person, the client's skipped parts for the begeleider only, plural forms, and a
word to ask the client before inviting a naaste."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.agenda.model import format_date
from bot.dialogs import begeleider, naaste
from bot.dialogs.menu import MenuOutcome
from bot.dialogs.types import Session
from bot.schedule import days_until
from localbotapi.server import BotMessage
from tests.harness import Harness, labels, texts
from tests.test_schedule_bot import plan_meeting
from tests.test_triangle import (
    admin_and_begeleider,
    client_with_topic,
    invite_naaste,
    new_client,
    share,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WHO_SEES = "Sam kiest zelf wat jij ziet. Sam en de begeleider lezen wat jij toevoegt."
SKIP_WORDS = ("Overgeslagen", "Nog open", "weet ik nog niet", "vraag ernaar")


def buttons(message: BotMessage) -> list[str]:
    return [text for row in message.buttons for text, _ in row]


# ------------------------------------------------------------------------------ in the bot
async def test_home_greets_once_and_says_the_date_relative_to_today(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    meeting = await plan_meeting(h, bram, 6)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    text = texts(anja.messages)
    assert "Sam heeft over 6 dagen een gesprek" in text
    assert f"Het gesprek is op {format_date(meeting)}." in text  # the date itself too
    assert "twee weken" not in text
    assert text.count("Hoi Anja") == 1 and text.count("Het gesprek is op") == 1
    assert text.count(WHO_SEES) == 1
    # Nothing shared: only that, no "Hier zie je …" before it.
    assert "Sam deelt nog niets met je." in text and "Hier zie je" not in text
    assert "📋 Agenda van Sam" in labels(anja.messages)


async def test_shared_but_nothing_written_yet_says_so(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await share(h, sam, "Anja (Ouder)", "Alleen mijn onderwerpen")
    out = await h.act(anja, anja.send_command("/start"))
    assert "Sam heeft nog niets opgeschreven dat jij mag zien." in texts(out)
    assert "deelt nog niets" not in texts(out)


async def test_adding_gives_a_short_word_not_the_agenda_again(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Ik wil op mezelf wonen")
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await share(h, sam, "Anja (Ouder)", "Alleen mijn onderwerpen")
    out = await h.act(anja, anja.send_command("/start"))
    assert "Ik wil op mezelf wonen" in texts(out) and "Dit deelt Sam met je" in texts(out)

    for button, words in (("➕ Onderwerp", "Samen op vakantie"),
                          ("❓ Vraag", "Hoe gaat het met koken?"),
                          ("💛 Wat ik waardeer", "Sam is altijd vrolijk.")):
        await h.tap(anja, button)
        out = await h.say(anja, words)
        assert len(out) == 1, texts(out)  # one message: the word and the buttons
        assert out[0].content == "Dank je. Het staat op de lijst voor het gesprek.\n" \
            "Wat wil je doen?"
        assert "📋 Agenda van Sam" in buttons(out[0])

    # "⬅️ Terug" from a question: the buttons again, without the whole agenda.
    await h.tap(anja, "❓ Vraag")
    out = await h.tap(anja, "⬅️ Terug")
    assert [m.content for m in out] == ["Wat wil je doen?"]
    # The agenda on request: the date and what Sam shares, without a second hello.
    out = await h.tap(anja, "📋 Agenda van Sam")
    assert "Ik wil op mezelf wonen" in texts(out) and "Hoi Anja" not in texts(out)
    assert "Sam heeft binnenkort een gesprek" in texts(out) and WHO_SEES not in texts(out)
    assert buttons(out[-1]) and "Wat wil je doen?" in out[-1].content
    # /start greets and shows it all again.
    out = await h.act(anja, anja.send_command("/start"))
    assert texts(out).count("Hoi Anja") == 1 and "Ik wil op mezelf wonen" in texts(out)


async def test_headings_in_the_third_person_and_skipped_parts_for_the_begeleider_only(
        h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Ik wil op mezelf wonen")  # two questions skipped
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await share(h, sam, "Anja (Ouder)", "Alles")
    seen = texts(await h.act(anja, anja.send_command("/start")))
    assert "Waar Sam over wil praten" in seen and "Ik wil op mezelf wonen" in seen
    assert "Waar ik" not in seen
    assert not any(word in seen for word in SKIP_WORDS), seen
    assert "Waar Sam goed in is" not in seen  # skipped, so empty: a naaste sees nothing of it

    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    agenda = texts(await h.tap(bram, "📋 Agenda"))
    assert "Waar Sam over wil praten" in agenda and "Waar ik" not in agenda
    assert re.search(r"Overgeslagen.*\n• Waar Sam goed in is\n• Wat anderen fijn vinden aan Sam",
                     agenda), agenda


async def test_begeleider_reads_counts_right_and_asks_the_client_first(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Noor", 1002)
    await client_with_topic(h, bram, "Ik wil op mezelf wonen")
    out = await h.act(bram, bram.send_command("/clienten"))
    listing = texts(out)
    assert re.search(r"Sam: 1 van \d+ delen klaar, 1 onderwerp, ", listing), listing
    assert re.search(r"Noor: 0 van \d+ delen klaar, 0 onderwerpen, ", listing), listing
    out = await h.tap(bram, "Sam")
    assert re.search(r"1 van \d+ delen klaar\. 1 onderwerp\.\n", texts(out)), texts(out)
    out = await h.tap(bram, "👪 Naaste uitnodigen")
    assert texts(out) == "Vraag eerst aan Sam of dat goed is.\nHoe heet de naaste? Typ de naam."
    await h.say(bram, "Anja")
    out = await h.tap(bram, "Ouder")
    assert "Hij werkt één keer en 30 dagen lang." in texts(out)


# ------------------------------------------------------------------------------ pure parts
@pytest.mark.parametrize(("days", "said"), [
    (0, "vandaag"), (1, "morgen"), (2, "over 2 dagen"), (6, "over 6 dagen"),
    (7, "over 1 week"), (13, "over 13 dagen"), (14, "over 2 weken"), (21, "over 3 weken"),
    (30, "over 30 dagen")])
def test_relative_day(days: int, said: str) -> None:
    assert naaste.relative_day(days) == said


def _local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM).astimezone(UTC)


def test_days_until_counts_calendar_days_in_the_local_zone() -> None:
    assert days_until(_local(2025, 12, 9, 9, 0), _local(2025, 12, 8, 23, 30), AMSTERDAM) == 1
    assert days_until(_local(2025, 12, 8, 9, 0), _local(2025, 12, 8, 23, 30), AMSTERDAM) == 0
    assert days_until(_local(2025, 12, 7, 14, 0), _local(2025, 12, 8, 9, 0), AMSTERDAM) == -1
    # 00:30 local is still the day before in UTC: the local day counts.
    assert days_until(_local(2025, 12, 14, 14, 0), _local(2025, 12, 8, 0, 30), AMSTERDAM) == 6
    # Across the change to summer time (30 March 2025).
    assert days_until(_local(2025, 4, 5, 14, 0), _local(2025, 3, 29, 14, 0), AMSTERDAM) == 7


def _view(**values: object) -> naaste.View:
    view = naaste.View("Anja", "Sam", "dinsdag 8 december om 14:00", 6)
    for key, value in values.items():
        setattr(view, key, value)
    return view


def test_when_lines() -> None:
    assert naaste.when_lines(_view()) == [
        "Sam heeft over 6 dagen een gesprek over zijn of haar leven en hulp.",
        "Het gesprek is op dinsdag 8 december om 14:00."]
    assert naaste.when_lines(_view(meeting=None, days=None)) == [
        "Sam heeft binnenkort een gesprek over zijn of haar leven en hulp.",
        "De datum van het gesprek is nog niet bekend."]
    assert naaste.when_lines(_view(days=-2)) == [
        "Het gesprek was op dinsdag 8 december om 14:00."]


def _screen(shown: str, view: naaste.View) -> list[str]:
    session = Session(step="home", seq=3)
    out: MenuOutcome[naaste.Effect] = MenuOutcome(
        effects=[naaste.Show(shown)] if shown != "menu" else [], ask=True)
    return [r.text for r in naaste.render(session, out, view)]


def test_the_three_home_screens() -> None:
    shared = _view(shares=True, shared=["<b>Dit deelt Sam met je</b>\n• koken"])
    home = _screen("home", shared)
    assert home[0] == ("Hoi Anja! Je bent naaste van Sam.\n"
                       "Sam heeft over 6 dagen een gesprek over zijn of haar leven en hulp.\n"
                       f"Het gesprek is op dinsdag 8 december om 14:00.\n{WHO_SEES}")
    assert home[1:] == ["<b>Dit deelt Sam met je</b>\n• koken", "Wat wil je doen?"]
    agenda = _screen("agenda", shared)
    assert len(agenda) == 3 and "Hoi" not in agenda[0] and WHO_SEES not in agenda[0]
    assert _screen("menu", shared) == ["Wat wil je doen?"]
    # What is shared decides the sentence.
    assert _screen("home", _view())[1] == "Sam deelt nog niets met je."
    assert _screen("home", _view(shares=True))[1] == (
        "Sam heeft nog niets opgeschreven dat jij mag zien.")


def test_a_short_word_and_the_buttons_after_adding() -> None:
    session = Session(step="home", seq=3)
    replies = naaste.render(session, MenuOutcome(notes=["n_added"], ask=True), _view())
    assert [r.text for r in replies] == [
        "Dank je. Het staat op de lijst voor het gesprek.\nWat wil je doen?"]
    assert [b.label for row in replies[0].buttons for b in row][-1] == "📋 Agenda van Sam"


def test_plural_forms() -> None:
    assert begeleider.count(1, "b_topics") == "1 onderwerp"
    assert begeleider.count(0, "b_topics") == "0 onderwerpen"
    assert begeleider.count(2, "b_topics") == "2 onderwerpen"
    assert begeleider.count(14, "b_parts", done=1) == "1 van 14 delen klaar"
    assert begeleider.count(1, "b_parts", done=1) == "1 van 1 deel klaar"
    assert begeleider.count(1, "b_days") == "1 dag"
    line = begeleider.ClientLine(1, "Sam", 1, 14, 1, "vandaag", None)
    view = begeleider.View(AMSTERDAM, datetime.now(UTC), [line])
    assert "Sam: 1 van 14 delen klaar, 1 onderwerp, laatst actief vandaag" in \
        begeleider.ask(Session(step="home"), view)[0].text

