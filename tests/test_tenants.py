"""Many organisations, one deployment (issue 18): an organisation is a tenant. Nobody of one
organisation sees, invites, moves or erases anyone of another. The access module decides
(tested here over the real store, every role against every part), the bot refuses forged
buttons that carry the other organisation's ids (kindly, nothing changes, only denials in
the access log), and the CLI adds organisations and makes an admin's start link for one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect, select

from bot.service import access, agendas, inzage
from bot.service.types import Context
from bot.state import crypto
from bot.state.models import (
    Admin,
    AgendaItem,
    Agreement,
    Answer,
    AuditLog,
    Begeleider,
    CheckIn,
    Client,
    Inbox,
    Invite,
    Meeting,
    Naaste,
    Organisation,
    Person,
    Share,
    token_hash,
    utcnow,
)
from bot.state.store import Store
from localbotapi.server import UserHandle
from tests.harness import Harness, labels, texts
from tests.test_forged_ids import REFUSALS, denials, forge, seq_of, snapshot
from tests.test_operator_errors import one_clear_line, run_bot
from tests.test_triangle import admin_and_begeleider

ROLES = ("admin", "begeleider", "client", "naaste")
PARTS = (*access.ALL_PARTS, *access.ADMIN_PARTS)  # everything of a client, and the AVG's
HUGE = "99999999999999999999"


@dataclass(frozen=True)
class Tenant:
    """One organisation with one person in each role; its client has something in every
    part (answers to every question, a recording, topics of the naaste and the begeleider,
    a meeting, an agreement with a check-in) and shares everything with the naaste."""

    organisation: int
    name: str
    people: dict[str, int]  # role → person id
    rows: dict[str, int]  # role → the role's row id (admin, begeleider, client, naaste id)
    users: dict[str, int]  # role → Telegram user id
    names: dict[str, str]  # role → first name
    voice: int
    item: int
    agreement: int

    @property
    def client(self) -> int:
        return self.rows["client"]

    def acting(self, role: str) -> access.Acting:
        return access.Acting(role, self.rows[role])


async def tenant(store: Store, name: str, names: tuple[str, str, str, str],
                 first_user: int) -> Tenant:
    words = name.split()[-1].upper()  # "WEST": in every word of this organisation's client
    async with store.unit() as unit:
        organisation = await unit.add(Organisation(name=name))
        people = {role: await unit.add(Person(telegram_user_id=first_user + n,
                                              chat_id=first_user + n, name=names[n]))
                  for n, role in enumerate(ROLES)}
        admin = await unit.add(Admin(organisation_id=organisation.id,
                                     person_id=people["admin"].id, name=names[0]))
        begeleider = await unit.add(Begeleider(organisation_id=organisation.id,
                                               person_id=people["begeleider"].id,
                                               name=names[1]))
        client = await unit.add(Client(organisation_id=organisation.id,
                                       person_id=people["client"].id, name=names[2],
                                       begeleider_id=begeleider.id))
        naaste = await unit.add(Naaste(client_id=client.id, person_id=people["naaste"].id,
                                       name=names[3], relation="ouder"))
        for number, step in enumerate(access.SHAREABLE[:10], 1):  # the question steps
            await unit.add(Answer(client_id=client.id, step=step, item=1, kind="text",
                                  text=f"{words} {step} {number}",
                                  entered_by=people["client"].id))
        voice = await unit.add(Answer(client_id=client.id, step="agenda", item=2,
                                      kind="voice", text="", file_id=f"{words}-voice",
                                      duration=3, entered_by=people["client"].id))
        item = await unit.add(AgendaItem(client_id=client.id, owner_role="naaste",
                                         owner_person_id=people["naaste"].id, kind="topic",
                                         text=f"{words} topic of {names[3]}", position=1))
        await unit.add(AgendaItem(client_id=client.id, owner_role="begeleider",
                                  owner_person_id=people["begeleider"].id, kind="topic",
                                  text=f"{words} topic of {names[1]}", position=2))
        await unit.add(Meeting(client_id=client.id, starts_at=utcnow() + timedelta(days=20),
                               place=f"{words} office"))
        agreement = await unit.add(Agreement(client_id=client.id, text=f"{words} agreement",
                                             who="client", created_by=people["begeleider"].id,
                                             sent_at=utcnow()))
        await unit.add(CheckIn(client_id=client.id, agreement_id=agreement.id, mood="good",
                               text=f"{words} goes well"))
        for part in access.SHAREABLE:
            await unit.set_share(client.id, naaste.id, part, True)
        return Tenant(organisation.id, name, {r: p.id for r, p in people.items()},
                      {"admin": admin.id, "begeleider": begeleider.id, "client": client.id,
                       "naaste": naaste.id},
                      {role: first_user + n for n, role in enumerate(ROLES)},
                      dict(zip(ROLES, names, strict=True)), voice.id, item.id, agreement.id)


async def two_organisations(store: Store) -> tuple[Tenant, Tenant]:
    oost = await tenant(store, "Zorg Oost", ("Olga", "Otto", "Oscar", "Ona"), 8101)
    west = await tenant(store, "Zorg West", ("Wendy", "Willem", "Wim", "Wanda"), 8201)
    return oost, west


# Anything of West that someone of Oost might read: its people, its name, its client's words.
WEST = re.compile(r"Wendy|Willem|Wim|Wanda|Zorg West|WEST")


@pytest.fixture
async def store(db_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    crypto.install(crypto.ring_from_settings("", "", tmp_path / "data"))
    opened = Store(db_url)
    yield opened
    await opened.close()


def context() -> Context:
    return Context(ZoneInfo("Europe/Amsterdam"), 30, lambda token: token, None, None)


# ------------------------------------------------------------------ the access module
@pytest.mark.parametrize("role", ROLES)
async def test_no_role_of_one_organisation_reads_anything_of_another(store: Store,
                                                                    role: str) -> None:
    """Every role of one organisation against every part of the other's client, both ways,
    as the person (no role given) and in their role: 0 reads allowed, each one denied in
    the access log. The same person reads their own organisation's client (the test can
    fail)."""
    oost, west = await two_organisations(store)
    ctx = context()
    for me, other in ((oost, west), (west, oost)):
        viewer = me.people[role]
        for acting in (None, me.acting(role)):
            async with store.unit() as unit:
                assert (await access.relation(unit, viewer, other.client, acting)).role == "none"
                assert await access.read(unit, viewer, other.client, PARTS,
                                         acting=acting) == set()
                assert await access.read(unit, viewer, me.client, PARTS, acting=acting)
                agenda = await agendas.compiled(unit, viewer, other.client, role, utcnow(),
                                                ctx, acting=acting)
                assert not (agenda.visible or agenda.parts or agenda.meeting
                            or agenda.naasten or agenda.begeleider)
                assert await inzage.for_client(unit, ctx, viewer, other.client, acting) == []
        async with store.unit() as unit:
            acting = me.acting(role)
            for model, ref in ((Client, other.client), (Naaste, other.rows["naaste"]),
                               (Answer, other.voice), (AgendaItem, other.item),
                               (Agreement, other.agreement)):
                assert await access.refuse_forged(unit, viewer, model, ref, "agenda",
                                                  acting) == other.client, model
            assert not await access.may_move(unit, viewer, other.client,
                                             other.rows["begeleider"], acting)
            assert not await access.may_move(unit, viewer, me.client, other.rows["begeleider"],
                                             acting)
        log = await _rows(store, AuditLog, AuditLog.viewer_person_id == viewer,
                          AuditLog.client_id == other.client)
        assert {row.part for row in log} >= set(PARTS)
        assert [row.part for row in log if row.allowed] == []


async def test_a_client_linked_to_a_begeleider_elsewhere_is_nobodys(store: Store) -> None:
    """A begeleider reaches only clients of their own organisation, even when a row links a
    client of another organisation to them; an invite with a begeleider puts the client in
    the begeleider's organisation."""
    oost, west = await two_organisations(store)
    async with store.unit() as unit:
        client = await unit.get(Client, oost.client)
        assert client is not None
        client.begeleider_id = west.rows["begeleider"]
    async with store.unit() as unit:
        for acting in (None, west.acting("begeleider")):
            assert await access.read(unit, west.people["begeleider"], oost.client, PARTS,
                                     acting=acting) == set()
    kim, _token = await store.create_client_invite("Kim", 30,
                                                   begeleider_id=west.rows["begeleider"])
    assert kim.organisation_id == west.organisation


# ------------------------------------------------------------------ through the bot
async def press_role(h: Harness, user: UserHandle, person: int, data: str) -> None:
    """A forged role button: refused and logged. Only the person's role-menu session may
    appear (made by the first press of a role button); nothing else changes."""
    before, logged = await snapshot(h), await denials(h, person)
    message_id, _seq = await seq_of(user)
    seen = len(user.messages)
    await h.handled(await user.press_data(message_id, data))
    assert {m.text for m in user.messages[seen:]} <= REFUSALS
    after = await snapshot(h)
    assert {k: v for k, v in after.items() if k != "sessions"} == {
        k: v for k, v in before.items() if k != "sessions"}, data
    assert await denials(h, person) > logged, data


async def west_rows(h: Harness, west: Tenant) -> dict[str, Any]:
    """Everything of West's organisation, to compare before and after."""
    found: dict[str, Any] = {}
    of_client = [(model, model.client_id) for model in (
        Answer, AgendaItem, Agreement, CheckIn, Meeting, Share, Naaste)]
    of_organisation = [(model, model.organisation_id) for model in (
        Client, Admin, Begeleider, Invite)]
    async with h.store.unit() as unit:
        for model, column in [*of_client, *of_organisation]:
            key = west.client if column.key == "client_id" else west.organisation
            rows = (await unit.session.execute(select(model).where(column == key)
                                               .order_by(model.id))).scalars()
            found[model.__tablename__] = [
                {a.key: getattr(r, a.key) for a in inspect(model).column_attrs} for r in rows]
    return found


async def nothing_of_west_read(h: Harness, oost: Tenant, west: Tenant,
                               users: dict[str, UserHandle]) -> None:
    """No allowed read of West's client by anyone of Oost; nothing of West in their chats."""
    allowed = await h.rows(AuditLog, AuditLog.client_id == west.client,
                           AuditLog.allowed.is_(True),
                           AuditLog.viewer_person_id.in_(oost.people.values()))
    assert allowed == []
    for role, user in users.items():
        seen = "\n".join([texts(user.messages), *labels(user.messages)])
        assert not WEST.search(seen), (role, WEST.findall(seen))
    assert await h.rows(Inbox, Inbox.state == "failed") == []


async def test_every_role_sees_only_its_own_organisation(h: Harness) -> None:
    """Through the bot: each of Oost uses their screens and presses forged buttons carrying
    West's ids (the begeleider's client, recording and agreement; the naaste's topic; the
    client's naaste and recording; roles of West for everyone): refused, nothing of West
    changes or is read."""
    oost, west = await two_organisations(h.store)
    users = {role: h.server.user(oost.users[role], first_name=oost.names[role])
             for role in ROLES}
    before = await west_rows(h, west)

    otto = users["begeleider"]
    out = await h.act(otto, otto.send_command("/start"))
    assert "🧑‍💼 Oscar" in labels(out) and "Wim" not in texts(out)
    await forge(h, otto, oost.people["begeleider"], [
        f"{(await seq_of(otto))[1]}:op:{west.client}"])
    await h.tap(otto, "Oscar")
    seq = (await seq_of(otto))[1]
    await forge(h, otto, oost.people["begeleider"], [
        f"{seq}:pa:{west.voice}", f"{seq}:ae:{west.agreement}", f"{seq}:op:{west.client}"])
    out = await h.tap(otto, "📋 Agenda")
    assert "OOST topic of Ona" in texts(out)  # Oost's own agenda, with the naaste's topic

    ona = users["naaste"]
    out = await h.act(ona, ona.send_command("/start"))
    assert "OOST agenda 1" in texts(out)  # Oscar shares everything with Ona
    seq = (await seq_of(ona))[1]
    await forge(h, ona, oost.people["naaste"], [f"{seq}:ed:{west.item}",
                                                f"{seq}:rm:{west.item}"])

    oscar = users["client"]
    await h.act(oscar, oscar.send_command("/start"))
    await h.act(oscar, oscar.send_command("/delen"))
    seq = (await seq_of(oscar))[1]
    await forge(h, oscar, oost.people["client"], [f"{seq}:pk:{west.rows['naaste']}",
                                                  f"{seq}:pl:{west.voice}"])
    for command in ("/mijnlijst", "/wie_keek", "/afspraken"):
        await h.act(oscar, oscar.send_command(command))

    olga = users["admin"]
    out = await h.act(olga, olga.send_command("/start"))
    assert "Beheer van Zorg Oost" in texts(out)
    for role, user in users.items():
        for key in ("client", "naaste", "begeleider", "admin"):
            await press_role(h, user, oost.people[role], f"1:rol:{key}:{west.rows[key]}")

    assert await west_rows(h, west) == before
    await nothing_of_west_read(h, oost, west, users)


async def test_an_admin_cannot_invite_move_or_erase_anyone_of_another_organisation(
        h: Harness) -> None:
    oost, west = await two_organisations(h.store)
    olga = h.server.user(oost.users["admin"], first_name="Olga")
    person = oost.people["admin"]
    before = await west_rows(h, west)
    await h.act(olga, olga.send_command("/start"))

    async with h.store.unit() as unit:  # a second begeleider of Oost, to move Oscar to
        bas = await unit.add(Begeleider(organisation_id=oost.organisation, name="Bas"))

    # Move: West's client, or Oost's client to West's begeleider (or to nobody).
    out = await h.tap(olga, "🔀 Cliënt verplaatsen")
    assert labels(out) == ["Oscar", "⬅️ Terug"]
    await forge(h, olga, person, [f"{(await seq_of(olga))[1]}:ch:{west.client}"])
    out = await h.tap(olga, "Oscar")
    assert labels(out) == ["Bas", "Otto", "⬅️ Terug"]
    seq = (await seq_of(olga))[1]
    await forge(h, olga, person, [f"{seq}:ch:{west.rows['begeleider']}", f"{seq}:ch:{HUGE}"])
    moves = await h.rows(AuditLog, AuditLog.viewer_person_id == person,
                         AuditLog.part == "move")
    assert {(m.client_id, m.allowed) for m in moves} == {(oost.client, False)}
    out = await h.tap(olga, "Bas")  # within Oost it works
    assert "Oscar hoort nu bij Bas." in texts(out)
    (oscar,) = await h.rows(Client, Client.id == oost.client)
    assert oscar.begeleider_id == bas.id

    # Erase, the access log, inzage: West's client is refused at every step.
    for button in ("🗑️ Cliënt wissen", "📜 Toegangslog", "📂 Gegevens van een cliënt"):
        out = await h.tap(olga, button)
        assert "Wim" not in labels(out)
        await forge(h, olga, person, [f"{(await seq_of(olga))[1]}:ch:{west.client}"])
        await h.tap(olga, "⬅️ Terug")
    await h.tap(olga, "🗑️ Cliënt wissen")
    await h.tap(olga, "Oscar")
    await forge(h, olga, person, [f"{(await seq_of(olga))[1]}:ok:{west.client}"])
    await h.tap(olga, "⬅️ Terug")

    # Invite: a new begeleider is of Oost, and West's admin does not see them. (Last: the
    # snapshot of test_forged_ids cannot read invite rows.)
    await h.tap(olga, "➕ Begeleider uitnodigen")
    await h.say(olga, "Ben")
    (ben,) = await h.rows(Begeleider, Begeleider.name == "Ben")
    assert ben.organisation_id == oost.organisation
    assert [i.organisation_id for i in await h.rows(Invite, Invite.begeleider_id == ben.id)
            ] == [oost.organisation]
    wendy = h.server.user(west.users["admin"], first_name="Wendy")
    await h.act(wendy, wendy.send_command("/start"))
    await h.tap(wendy, "🔀 Cliënt verplaatsen")
    out = await h.tap(wendy, "Wim")
    assert labels(out) == ["Willem", "⬅️ Terug"]  # West's begeleiders only

    assert await west_rows(h, west) == before
    await nothing_of_west_read(h, oost, west, {"admin": olga})


# ------------------------------------------------------------------ the CLI
async def test_cli_organisations_and_an_admin_link_for_one(h: Harness, tmp_path: Path,
                                                          db_url: str) -> None:
    def cli(*args: str) -> Any:
        return asyncio.to_thread(run_bot, tmp_path, *args, DATABASE_URL=db_url,
                                 BOT_USERNAME="gm_bot")

    added = await cli("organisation", "add", "Zorg West")
    assert added.returncode == 0, added.stderr
    match = re.fullmatch(r"organisation (\d+): Zorg West", added.stdout.strip())
    assert match, added.stdout
    west_id = int(match.group(1))
    line = one_clear_line(await cli("organisation", "add", "  zorg WEST "))
    assert "already an organisation 'Zorg West'" in line and f"id {west_id}" in line
    assert (await cli("organisation", "add", "Zorg Oost")).returncode == 0
    listed = (await cli("organisation", "list")).stdout
    assert re.search(rf"\b{west_id}\s+0\s+0\s+0\s+default\s+none\s+Zorg West$", listed,
                     re.M), listed
    assert "Zorg Oost" in listed
    # West's own quiet hours, then back to the deployment's; nonsense is one line.
    done = await cli("organisation", "set", "Zorg West", "--quiet", "22:00-8:30")
    assert done.stdout.strip() == f"organisation {west_id}: Zorg West: quiet hours 22:00-08:30"
    (west,) = await h.rows(Organisation, Organisation.id == west_id)
    assert (west.quiet_start, west.quiet_end) == ("22:00", "08:30")
    listed = (await cli("organisation", "list")).stdout
    assert re.search(rf"\b{west_id}\s+0\s+0\s+0\s+22:00-08:30\s+none\s+Zorg West$", listed, re.M)
    line = one_clear_line(await cli("organisation", "set", str(west_id), "--quiet", "25:00-7"))
    assert "quiet hours are two local times like 21:00-09:00" in line
    assert (await cli("organisation", "set", str(west_id), "--quiet", "default")).returncode == 0
    (west,) = await h.rows(Organisation, Organisation.id == west_id)
    assert (west.quiet_start, west.quiet_end) == (None, None)

    # An admin link for West, by name and by id; the admin lands in West.
    for ref, user_id, name in (("zorg west", 8301, "Wendy"), (str(west_id), 8302, "Walt")):
        made = await cli("invite", "admin", "--name", name, "--organisation", ref)
        assert made.returncode == 0, made.stderr
        lines = made.stdout.strip().splitlines()
        assert lines[0].startswith(f"Start link for {name}, admin of Zorg West")
        assert lines[-2] == f"https://t.me/gm_bot?start={lines[-1]}"
        (invite,) = await h.rows(Invite, Invite.token_hash == token_hash(lines[-1]))
        assert (invite.role, invite.organisation_id) == ("admin", west_id)
        user = h.server.user(user_id, first_name=name)
        out = await h.act(user, user.send_command("/start", lines[-1]))
        assert "Beheer van Zorg West" in texts(out)
    assert {a.organisation_id for a in await h.rows(Admin)} == {west_id}

    line = one_clear_line(await cli("invite", "admin", "--name", "X", "--organisation",
                                    "Nergens"))
    assert "no organisation 'Nergens'" in line
    # The invite of before keeps working: without --organisation, the first organisation.
    plain = await cli("invite", "client", "--name", "Sam")
    assert plain.returncode == 0, plain.stderr
    (sam,) = await h.rows(Client, Client.name == "Sam")
    assert sam.organisation_id == west_id
    # A client and their begeleider are of one organisation.
    (oost,) = await h.rows(Organisation, Organisation.name == "Zorg Oost")
    made = await cli("invite", "begeleider", "--name", "Otto", "--organisation", "Zorg Oost")
    assert made.returncode == 0, made.stderr
    (otto,) = await h.rows(Begeleider, Begeleider.name == "Otto")
    assert otto.organisation_id == oost.id
    line = one_clear_line(await cli("invite", "client", "--name", "Kim", "--begeleider",
                                    str(otto.id), "--organisation", "Zorg West"))
    assert "not of 'Zorg West'" in line
    assert (await cli("invite", "client", "--name", "Kim", "--begeleider",
                      str(otto.id))).returncode == 0
    (kim,) = await h.rows(Client, Client.name == "Kim")
    assert (kim.organisation_id, kim.begeleider_id) == (oost.id, otto.id)
    assert await h.rows(Admin, Admin.name == "X") == []


async def _rows(store: Store, model: Any, *where: Any) -> list[Any]:
    async with store.unit() as unit:
        return list((await unit.session.execute(select(model).where(*where))).scalars())


# ------------------------------------------------------------------ quiet hours
async def test_an_admin_chooses_the_quiet_hours_of_their_organisation(h: Harness) -> None:
    """From /beheer: the choice, the ✅ on the one in use, back to the bot's own; a press
    with hours that are not on offer changes nothing."""
    fatima, _bram = await admin_and_begeleider(h)
    out = await h.tap(fatima, "🌙 Stille uren")
    assert "Nu: zoals de bot het doet." in texts(out)
    assert "✅ Zoals de bot het doet" in labels(out)
    out = await h.tap(fatima, "van 22:00 tot 08:00")
    assert "De stille uren zijn nu van 22:00 tot 08:00." in texts(out)
    (organisation,) = await h.rows(Organisation)
    assert (organisation.quiet_start, organisation.quiet_end) == ("22:00", "08:00")
    out = await h.tap(fatima, "🌙 Stille uren")
    assert "✅ van 22:00 tot 08:00" in labels(out)
    message_id, seq = await seq_of(fatima)
    update_id = await fatima.press_data(message_id, f"{seq}:qh:03:00-04:00")
    await h.handled(update_id)
    (organisation,) = await h.rows(Organisation)
    assert (organisation.quiet_start, organisation.quiet_end) == ("22:00", "08:00")
    await h.act(fatima, fatima.send_command("/beheer"))
    await h.tap(fatima, "🌙 Stille uren")
    await h.tap(fatima, "Zoals de bot het doet")
    (organisation,) = await h.rows(Organisation)
    assert (organisation.quiet_start, organisation.quiet_end) == (None, None)
