"""The triangle: admin, begeleider, client and naaste in the bot; the client's sharing
choices; every read through the access module, every read and denial in the audit log."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.service import access
from bot.state.models import (
    AgendaItem,
    AuditLog,
    Begeleider,
    Client,
    Meeting,
    Naaste,
    Person,
    token_hash,
)
from localbotapi.server import BotMessage, UserHandle
from tests.harness import Harness, labels, texts

LINK = re.compile(r"https://t\.me/gespreksmaatje_bot\?start=([\w-]+)")


def token_in(messages: list[BotMessage]) -> str:
    match = LINK.search(texts(messages))
    assert match, texts(messages)
    return match.group(1)


async def start(h: Harness, user: UserHandle, token: str) -> list[BotMessage]:
    return await h.act(user, user.send_command("/start", token))


async def admin_and_begeleider(h: Harness) -> tuple[UserHandle, UserHandle]:
    token = await h.store.create_role_invite("admin", "Fatima", 30)
    fatima = h.server.user(500, first_name="Fatima")
    out = await start(h, fatima, token)
    assert "Beheer van Mijn organisatie" in texts(out)
    await h.tap(fatima, "➕ Begeleider uitnodigen")
    out = await h.say(fatima, "Bram")
    assert any(m.kind == "photo" for m in out), "a QR code of the link"
    bram = h.server.user(600, first_name="Bram")
    out = await start(h, bram, token_in(out))
    assert "Je bent nu begeleider" in texts(out)
    return fatima, bram


async def new_client(h: Harness, bram: UserHandle, name: str, user_id: int) -> UserHandle:
    await h.act(bram, bram.send_command("/nieuwe_client"))
    out = await h.say(bram, name)
    assert f"Deze link is voor {name}" in texts(out) and any(m.kind == "photo" for m in out)
    client = h.server.user(user_id, first_name=name)
    out = await start(h, client, token_in(out))
    assert f"Hoi {name}" in texts(out)
    return client


async def client_with_topic(h: Harness, bram: UserHandle, topic: str) -> UserHandle:
    """Sam joins, skips the first two questions and names one topic."""
    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.say(sam, topic)
    return sam


async def invite_naaste(h: Harness, bram: UserHandle, client: str, name: str,
                        relation: str, user_id: int) -> UserHandle:
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, client)
    await h.tap(bram, "👪 Naaste uitnodigen")
    await h.say(bram, name)
    out = await h.tap(bram, relation)
    naaste = h.server.user(user_id, first_name=name)
    await start(h, naaste, token_in(out))
    return naaste


async def share(h: Harness, client: UserHandle, naaste: str, choice: str) -> None:
    """The client opens /delen, taps the naaste ("Anja (Ouder)") and a simple choice."""
    await h.act(client, client.send_command("/delen"))
    await h.tap(client, naaste)
    await h.tap(client, choice)


async def test_begeleider_full_flow(h: Harness) -> None:
    fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Ik wil op mezelf wonen")
    voice = b"OggS" + bytes(range(256)) * 4
    await h.act(sam, sam.send_voice(voice, duration=7))

    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    out = await h.say(bram, "dertien december")
    assert "Die datum begrijp ik niet" in texts(out)
    when = (datetime.now(UTC) + timedelta(days=30)).strftime("%d-%m-%Y")
    out = await h.say(bram, f"{when} 14:00")
    assert "Waar is het gesprek?" in texts(out)
    await h.say(bram, "Op kantoor")
    (meeting,) = await h.rows(Meeting)
    assert meeting.place == "Op kantoor" and meeting.starts_at is not None

    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    assert "Sam deelt nog niets met je." in texts(anja.messages)
    assert "Ik wil op mezelf wonen" not in texts(anja.messages)

    # Sam shares the topics with Anja.
    out = await h.act(sam, sam.send_command("/delen"))
    assert "Anja (Ouder): nog niets" in texts(out)
    await h.tap(sam, "Anja (Ouder)")
    await h.tap(sam, "Alleen mijn onderwerpen")

    out = await h.act(anja, anja.send_command("/start"))
    assert "Ik wil op mezelf wonen" in texts(out)
    assert "Waar Sam over wil praten" in texts(out)  # the heading in the third person
    await h.tap(anja, "➕ Onderwerp")
    out = await h.say(anja, "Samen op vakantie")
    assert "Het staat op de lijst" in texts(out)
    assert "Ik wil op mezelf wonen" not in texts(out)  # the agenda is not sent again

    await h.act(bram, bram.send_command("/clienten"))
    clients = texts(bram.messages[-1:])
    assert re.search(r"Sam: 1 van \d+ delen klaar, 2 onderwerpen", clients), clients
    await h.tap(bram, "Sam")
    await h.tap(bram, "➕ Eigen onderwerp")
    await h.say(bram, "Dagbesteding")
    out = await h.tap(bram, "📋 Agenda")
    agenda = texts(out)
    for text in ("Ik wil op mezelf wonen", "Samen op vakantie", "Anja", "Dagbesteding",
                 "Waar Sam over wil praten", "Overgeslagen"):
        assert text in agenda
    out = await h.tap(bram, "📄 PDF en export")
    names = [m.raw.get("document", {}).get("file_name") for m in out if m.kind == "document"]
    assert {n.split("-")[-1] for n in names} == {"begeleider.pdf", "client.pdf",
                                                 "begeleider.json", "fhir.json"}
    (fhir_doc,) = [m for m in out if m.kind == "document" and m.raw["document"][
        "file_name"].endswith("fhir.json")]
    bundle = h.server.file_bytes(fhir_doc.file_id).decode()
    digest = base64.b64encode(hashlib.sha1(voice).digest()).decode()
    assert '"contentType": "audio/ogg"' in bundle and digest in bundle  # the kept file
    assert f'"size": "{len(voice)}"' in bundle or f'"size": {len(voice)}' in bundle

    out = await h.act(sam, sam.send_command("/wie_keek"))
    assert "Anja (naaste)" in texts(out) and "Bram (begeleider)" in texts(out)

    await h.tap(fatima, "📜 Toegangslog")  # the admin exports the access log as CSV
    out = await h.tap(fatima, "Sam")
    (csv_file,) = [m for m in out if m.kind == "document"]
    log = h.server.file_bytes(csv_file.file_id).decode()
    assert log.startswith("at,viewer_person_id,viewer,part,allowed")
    assert ",Anja,agenda,yes" in log and ",Anja,good_day,no" in log


async def test_revoking_a_share_or_removing_a_naaste_denies_the_next_read(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Geheim onderwerp")
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await share(h, sam, "Anja (Ouder)", "Alles")
    out = await h.act(anja, anja.send_command("/start"))
    assert "Geheim onderwerp" in texts(out)
    await h.act(sam, sam.send_command("/delen"))
    await h.tap(sam, "Anja (Ouder)")
    await h.tap(sam, "Zelf kiezen")
    await h.tap(sam, "✅ Mijn onderwerpen")  # off again, at once
    out = await h.act(anja, anja.send_command("/start"))
    assert "Geheim onderwerp" not in texts(out)
    (naaste,) = await h.rows(Naaste)
    denied = await h.rows(AuditLog, AuditLog.viewer_person_id.is_not(None),
                          AuditLog.part == "agenda", AuditLog.allowed.is_(False))
    assert denied, "the denied read is in the audit log"
    await h.tap(sam, "👍 Klaar")
    await h.tap(sam, "Anja (Ouder)")
    await h.tap(sam, "🚫 Weghalen")
    await h.tap(sam, "🚫 Ja, weghalen")
    out = await h.act(anja, anja.send_command("/start"))
    assert "Je hebt een link nodig" in texts(out)
    (naaste,) = await h.rows(Naaste)
    assert naaste.removed_at is not None


async def test_forged_buttons_are_refused_and_logged(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await new_client(h, bram, "Noor", 1002)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    piet = await invite_naaste(h, bram, "Noor", "Piet", "Mentor", 2002)
    await h.tap(piet, "➕ Onderwerp")
    await h.say(piet, "Piets onderwerp over Noor")
    (piets_item,) = await h.rows(AgendaItem)
    noor = (await h.rows(Client, Client.name == "Noor"))[0]
    piets_naaste = (await h.rows(Naaste, Naaste.name == "Piet"))[0]

    home = [m for m in anja.messages if m.buttons][-1]
    seq = home.buttons[0][0][1].split(":")[0]  # type: ignore[union-attr]
    for data in (f"{seq}:ed:{piets_item.id}", f"{seq}:rm:{piets_item.id}",
                 f"{seq}:rol:naaste:{piets_naaste.id}"):
        update_id = await anja.press_data(home.message_id, data)
        await h.handled(update_id)
        assert anja.messages[-1].text == "Deze cliënt hoort niet bij jou."
    (still,) = await h.rows(AgendaItem)
    assert still.removed_at is None and still.text == "Piets onderwerp over Noor"
    anja_person = (await h.rows(Person, Person.telegram_user_id == 2001))[0]
    denials = await h.rows(AuditLog, AuditLog.viewer_person_id == anja_person.id,
                           AuditLog.client_id == noor.id, AuditLog.allowed.is_(False))
    assert len(denials) == 3

    # A begeleider pressing "open" for a client of another begeleider.
    (other,) = [b for b in await h.rows(Begeleider)]
    async with h.store.unit() as unit:
        stranger_client = Client(organisation_id=other.organisation_id, name="Elders")
        unit.session.add(stranger_client)
    elsewhere = (await h.rows(Client, Client.name == "Elders"))[0]
    await h.act(bram, bram.send_command("/clienten"))
    listing = [m for m in bram.messages if m.buttons][-1]
    seq = listing.buttons[0][0][1].split(":")[0]  # type: ignore[union-attr]
    update_id = await bram.press_data(listing.message_id, f"{seq}:op:{elsewhere.id}")
    await h.handled(update_id)
    assert bram.messages[-1].text == "Deze cliënt hoort niet bij jou."
    assert sam.messages  # Sam saw nothing of this


async def test_invite_links_single_use_expired_and_reused(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await h.act(bram, bram.send_command("/nieuwe_client"))
    token = token_in(await h.say(bram, "Sam"))
    sam = h.server.user(1001, first_name="Sam")
    await start(h, sam, token)
    intruder = h.server.user(9999, first_name="X")
    out = await start(h, intruder, token)
    assert "Deze link werkt niet." in texts(out)
    token = await h.store.create_role_invite("begeleider", "Els", 1)
    async with h.store.unit() as unit:
        from bot.state.models import Invite

        invite = (await unit.session.execute(select(Invite).where(
            Invite.token_hash == token_hash(token)))).scalar_one()
        invite.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    out = await start(h, intruder, token)
    assert "Deze link werkt niet." in texts(out)
    assert await h.rows(Person, Person.telegram_user_id == 9999) == []


async def test_a_person_with_two_roles_switches_with_a_menu(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "👪 Naaste uitnodigen")
    await h.say(bram, "Bram")
    out = await h.tap(bram, "Vriend(in)")
    out = await start(h, bram, token_in(out))  # Bram is also Sam's friend
    assert "Hoi Bram! Je bent naaste van Sam." in texts(out)
    out = await h.act(bram, bram.send_command("/rol"))
    assert {"Begeleider", "Naaste van Sam"} <= set(labels(out))
    out = await h.tap(bram, "Begeleider")
    assert "Je bent nu: Begeleider." in texts(out)
    assert "Je cliënten." in texts(out)


# ------------------------------------------------------------------ the access matrix
ROLES = ["client", "begeleider", "naaste", "admin", "stranger"]


@pytest.mark.parametrize(("role", "own", "shared"), list(itertools.product(
    ROLES, [True, False], [True, False])))
async def test_access_matrix(h: Harness, role: str, own: bool, shared: bool) -> None:
    """Every role × part × shared or not × own client or another → exactly what is allowed."""
    async with h.store.unit() as unit:
        organisation = await unit.default_organisation()
        people = {name: Person(telegram_user_id=i, name=name)
                  for i, name in enumerate(["c1", "c2", "b1", "b2", "n1", "a1", "s1"], 1)}
        unit.session.add_all(people.values())
        await unit.session.flush()
        b1 = Begeleider(organisation_id=organisation.id, person_id=people["b1"].id, name="b1")
        b2 = Begeleider(organisation_id=organisation.id, person_id=people["b2"].id, name="b2")
        unit.session.add_all([b1, b2])
        await unit.session.flush()
        mine = Client(organisation_id=organisation.id, person_id=people["c1"].id, name="c1",
                      begeleider_id=b1.id)
        other = Client(organisation_id=organisation.id, person_id=people["c2"].id, name="c2",
                       begeleider_id=b2.id)
        unit.session.add_all([mine, other])
        await unit.session.flush()
        naaste = Naaste(client_id=mine.id, person_id=people["n1"].id, name="n1",
                        relation="ouder")
        unit.session.add(naaste)
        from bot.state.models import Admin

        unit.session.add(Admin(organisation_id=organisation.id, person_id=people["a1"].id,
                               name="a1"))
        await unit.session.flush()
        for part in access.SHAREABLE:
            await unit.set_share(mine.id, naaste.id, part, shared)
        viewer = {"client": people["c1"], "begeleider": people["b1"], "naaste": people["n1"],
                  "admin": people["a1"], "stranger": people["s1"]}[role]
        target = mine if own else other
        got = await access.read(unit, viewer.id, target.id, access.ALL_PARTS)
    everything = set(access.ALL_PARTS)
    expected = {
        "client": everything if own else set(),
        "begeleider": everything if own else set(),
        "naaste": ({"meeting_date"} | (set(access.SHAREABLE) if shared else set()))
        if own else set(),
        "admin": {"progress"},
        "stranger": set(),
    }[role]
    assert got == expected
    audit = await h.rows(AuditLog, AuditLog.viewer_person_id == viewer.id)
    assert len(audit) == len(access.ALL_PARTS)
    assert {a.part for a in audit if a.allowed} == expected


def test_dialog_and_access_agree_on_what_can_be_shared() -> None:
    from bot.dialogs.client_prep import SHARE_PARTS

    assert SHARE_PARTS == access.SHAREABLE
