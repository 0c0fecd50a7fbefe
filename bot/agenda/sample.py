"""A sample agenda: one client with a filled-in preparation (for docs/, the benchmark and
tests; the sandbox's people are seeded by sandbox/demo.py).

Every text is made up. `extra_topics` adds agenda topics beyond the usual ones, to make a
long agenda.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.dialogs.client_prep import FLOW as CLIENT_FLOW
from bot.dialogs.texts import t
from bot.state.models import (
    AgendaItem,
    Answer,
    Begeleider,
    Client,
    DialogSession,
    Meeting,
    Naaste,
    Organisation,
    Person,
)


class Rows(Protocol):
    """Where the rows go: an ORM session (tests) or the unit of work (its add and flush)."""

    def add(self, row: Any) -> Any: ...

    async def flush(self) -> Any: ...


TOPICS = [
    ("Ik wil vaker naar de sportschool.", "domain_health"),
    ("Ik wil een eigen sleutel van mijn kamer.", "domain_housing"),
    ("Ik wil zelf mijn boodschappen betalen.", "domain_money"),
    ("Mijn werk bij de bakkerij: ik wil meer uren.", None),
    ("Ik mis mijn vriend Sander. Hij woont nu ver weg.", "domain_social"),
]
PROFILE = {
    "good_at": ["Ik kan heel goed tekenen.", "Ik help graag anderen."],
    "appreciated": ["Ik ben altijd op tijd.", "Ik maak mensen aan het lachen."],
    "good_day": ["Uitslapen, dan naar de bakkerij. 's Avonds voetbal kijken met Sander."],
    "bad_day": ["Als het druk en lawaaiig is in de groep."],
    "works": ["Eén ding tegelijk uitleggen.", "Een plaatje op de koelkast."],
    "not_works": ["Als mensen boos praten."],
    "important": ["Mijn kat Tijger.", "Mijn moeder elke zondag bellen."],
    "future": ["Ik woon alleen in een appartement, met Tijger."],
    # "learn" is left out: the demo client skipped it.
}
NAASTEN = [
    ("Anja de Vries", "moeder", "question", "Hoe gaat het met het geld van de maand?"),
    ("Kees de Vries", "broer", "topic", "Vakantie in de zomer samen plannen."),
    ("Anja de Vries", "moeder", "appreciation", "Je bent zo zorgzaam voor Tijger."),
]
BEGELEIDER = ["Evaluatie van de dagbesteding.", "Medicatie: nieuwe afspraken met de arts."]


async def seed_sample_agenda(session: Rows, now: datetime, extra_topics: int = 0,
                    extra_naasten: int = 0, name: str = "Mila de Vries") -> int:
    """Insert one demo client and everything around it; returns the client id."""
    org = Organisation(name="Zorg Demo")
    session.add(org)
    await session.flush()
    coach_person = Person(name="Els Bakker", telegram_user_id=None)
    client_person = Person(name=name)
    session.add(coach_person)
    session.add(client_person)
    await session.flush()
    coach = Begeleider(organisation_id=org.id, person_id=coach_person.id, name="Els Bakker")
    session.add(coach)
    await session.flush()
    client = Client(organisation_id=org.id, person_id=client_person.id,
                    begeleider_id=coach.id, name=name)
    session.add(client)
    await session.flush()
    session.add(Meeting(client_id=client.id, starts_at=now + timedelta(days=14, hours=2),
                        place="Woonlocatie De Linde, kamer 3"))
    start = now - timedelta(days=10)
    answers = _answers(client.id, start, extra_topics, coach_person.id)
    for answer in answers:
        session.add(answer)
    await _naasten(session, client.id, start, extra_naasten)
    for position, text in enumerate(BEGELEIDER):
        session.add(AgendaItem(client_id=client.id, owner_role="begeleider",
                               owner_person_id=coach_person.id, kind="topic", text=text,
                               position=position, created_at=start + timedelta(days=5)))
    session.add(DialogSession(person_id=client_person.id, client_id=client.id,
                              flow=CLIENT_FLOW.name, step="review",
                              data={"skipped": ["learn", "bad_day"]}))
    await session.flush()
    return client.id


def _answers(client_id: int, start: datetime, extra_topics: int,
             coach_person: int) -> list[Answer]:
    rows: list[Answer] = []

    def add(step: str, item: int, text: str, **kw: object) -> None:
        when = start + timedelta(hours=len(rows))
        rows.append(Answer(client_id=client_id, step=step, item=item, text=text,
                           created_at=when, **kw))

    for step in ("good_at", "appreciated"):
        for n, text in enumerate(PROFILE[step], 1):
            add(step, n, text)
    topics = TOPICS + [(f"Onderwerp {n}: iets wat ik nog wil zeggen over mijn week.", None)
                       for n in range(1, extra_topics + 1)]
    for n, (text, tag) in enumerate(topics, 1):
        add("agenda", n, text, tag=tag)
    add("agenda", len(topics) + 1, "", kind="voice", file_id="AwACAgQAAxkBAAIBY2ZdemoVoice",
        file_unique_id="AgADdemoVoice", duration=42.0)
    for step in ("good_day", "bad_day", "works", "not_works", "important", "future"):
        for n, text in enumerate(PROFILE[step], 1):
            add(step, n, text)
    rows[-1].entered_by = coach_person  # the begeleider typed this one in, with the client
    # What helps, also chosen with pictures (the picto mat): one item per picture placed.
    placed = (("mat_quiet", "fine"), ("mat_phone", "unsure"), ("mat_alone", "not_fine"))
    for n, (picture, place) in enumerate(placed, len(PROFILE["works"]) + 1):
        add("works", n, f"{t('mat_' + place)}: {t(picture)}", kind="mat",
            tag=f"{picture}.{place}")
    add("meeting_where", 1, "In mijn eigen kamer.")
    add("meeting_who", 1, "Els, mijn moeder en Kees.")
    add("meeting_chair", 1, "choice_chair_together", kind="choice", tag="choice_chair_together")
    for n, option in enumerate(("how_break", "how_pictos"), 1):
        add("meeting_how", n, option, kind="choice", tag=option)
    return rows


async def _naasten(session: Rows, client_id: int, start: datetime,
                   extra: int) -> None:
    people: dict[str, int] = {}
    entries = NAASTEN + [("Anja de Vries", "moeder", "question",
                          f"Vraag {n}: hoe gaat het met slapen?") for n in range(1, extra + 1)]
    for position, (name, relation, kind, text) in enumerate(entries):
        if name not in people:
            person = Person(name=name)
            session.add(person)
            await session.flush()
            session.add(Naaste(client_id=client_id, person_id=person.id, name=name,
                               relation=relation))
            people[name] = person.id
        session.add(AgendaItem(client_id=client_id, owner_role="naaste",
                               owner_person_id=people[name], kind=kind, text=text,
                               position=position, created_at=start + timedelta(days=3)))
