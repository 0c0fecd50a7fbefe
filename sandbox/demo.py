"""The sandbox's people, and `--demo` seeding: an organisation where everybody is linked.

Why fixed Telegram ids: the local Bot API server forgets its chats on restart, but the
sandbox database does not; fixed ids let a restarted sandbox find its people again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.state.models import (
    Admin,
    Begeleider,
    Client,
    Invite,
    Meeting,
    Naaste,
    Organisation,
    Person,
    utcnow,
)
from bot.state.store import Store

DEMO_ORGANISATION = "Zorggroep De Linde (demo)"
MEETING_PLACE = "De Linde, huiskamer"
INVITE_DAYS = 30


@dataclass(frozen=True)
class Persona:
    """A Telegram user the page can act as (each has its own private chat)."""

    key: str
    name: str
    role: str  # shown in the switcher: cliënt, begeleider, moeder, mentor
    user_id: int

    @property
    def label(self) -> str:
        return f"{self.name} · {self.role}"


CLIENT = Persona("client", "Sam", "cliënt", 1001)
BEGELEIDER = Persona("begeleider", "Bram", "begeleider", 2001)
MOTHER = Persona("naaste", "Anja", "moeder", 3001)
MENTOR = Persona("mentor", "Pieter", "mentor", 3002)
ADMIN_USER_ID = 4001  # the demo admin has a person row but no chat on the page
PERSONAS: tuple[Persona, ...] = (CLIENT, BEGELEIDER, MOTHER, MENTOR)


async def seed_demo(store: Store, tz: ZoneInfo, now: datetime | None = None) -> bool:
    """Create the demo organisation once; False when it is already there."""
    now = now or utcnow()
    async with store.unit() as unit:
        session = unit.session
        if await unit.person(CLIENT.user_id) is not None:
            return False
        org = Organisation(name=DEMO_ORGANISATION)
        people = {p.key: _person(p) for p in PERSONAS}
        admin_person = Person(telegram_user_id=ADMIN_USER_ID, chat_id=ADMIN_USER_ID,
                              name="Fatima")
        session.add_all([org, admin_person, *people.values()])
        await session.flush()
        session.add(Admin(organisation_id=org.id, person_id=admin_person.id, name="Fatima"))
        coach = Begeleider(organisation_id=org.id, person_id=people["begeleider"].id,
                           name=BEGELEIDER.name)
        session.add(coach)
        await session.flush()
        client = Client(organisation_id=org.id, person_id=people["client"].id,
                        begeleider_id=coach.id, name=CLIENT.name)
        session.add(client)
        await session.flush()
        for persona in (MOTHER, MENTOR):
            session.add(Naaste(client_id=client.id, person_id=people[persona.key].id,
                               name=persona.name, relation=persona.role))
        session.add(Meeting(client_id=client.id, starts_at=meeting_time(now, tz),
                            place=MEETING_PLACE))
    return True


def meeting_time(now: datetime, tz: ZoneInfo) -> datetime:
    """Three weeks ahead at 10:00 local time: a date a visitor recognises as 'soon'."""
    day = (now.astimezone(tz) + timedelta(days=21)).date()
    return datetime.combine(day, time(10, 0), tzinfo=tz)


def _person(persona: Persona) -> Person:
    return Person(telegram_user_id=persona.user_id, chat_id=persona.user_id, name=persona.name)


async def client_start_arg(store: Store, persona: Persona = CLIENT) -> str:
    """The argument for the client's first `/start`: '' when already linked (a demo, or a
    restarted sandbox), else a start token. The database keeps only a hash of a token, so
    an open one cannot be handed out again: the persona's client (not yet linked) gets a
    new one and its older open links are closed (they do not pile up)."""
    now = utcnow()
    async with store.unit() as unit:
        person = await unit.person(persona.user_id)
        if person is not None and await unit.client_of(person) is not None:
            return ""
        waiting = (await unit.session.execute(
            select(Client).where(Client.name == persona.name, Client.person_id.is_(None))
            .order_by(Client.id.desc()).limit(1))).scalar_one_or_none()
        if waiting is not None:
            await unit.session.execute(
                update(Invite).where(Invite.client_id == waiting.id, Invite.used_at.is_(None),
                                     Invite.expires_at > now).values(expires_at=now))
            return await unit.create_invite("client", waiting.organisation_id, INVITE_DAYS,
                                            now, client_id=waiting.id)
    _client, token = await store.create_client_invite(persona.name, INVITE_DAYS)
    return token
