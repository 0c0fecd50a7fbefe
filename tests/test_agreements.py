"""Agreements after the meeting (issue 15), over the in-memory unit of work: the begeleider
records them (what, who), sends them, corrects one; the client gets "Dit hebben we
afgesproken" as one message with a picture and a voice, sees the correction at once, and
reads them again with /afspraken. Ids from buttons are checked: another client's agreement
cannot be changed."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.dialogs.texts import t
from bot.dialogs.types import Input
from bot.service import Outgoing
from bot.state.models import Agreement, Client, Naaste, Share, utcnow
from tests.test_service import SAM, World, said, staff, tap, texts


def _agreements(w: World) -> list[Agreement]:
    rows = w.store.tables.of(Agreement).values()
    return sorted((a for a in rows if a.removed_at is None), key=lambda a: a.id)


async def _screen(w: World) -> Outgoing | None:
    home = await w.command(33, "start")
    client = await tap(w, 33, home, "op", w.client.id)
    return await tap(w, 33, client, "af")


async def _add(w: World, screen: Outgoing | None, text: str, who: str,
               picto: str = "") -> Outgoing | None:
    asked = await tap(w, 33, screen, "aa")
    assert said(asked, "b_ask_agreement")
    who_screen = await w.say(33, text)
    assert said(who_screen, "b_ask_who")
    picto_screen = await tap(w, 33, who_screen, "wh", who)
    assert said(picto_screen, "b_ask_picto")
    return await tap(w, 33, picto_screen, "pc", picto)


async def test_agreements_are_recorded_sent_corrected_and_read_again() -> None:
    w = World()
    staff(w)
    await w.command(SAM, "start")  # Sam has joined (the bot knows Sam's chat)
    screen = await _screen(w)
    assert said(screen, "b_agreements_empty", client="Sam")
    screen = await _add(w, screen, "Ik ga elke week zwemmen", "client", "domain_health")
    assert said(screen, "b_agreement_added")
    screen = await _add(w, screen, "Jan belt de sportschool", "begeleider")
    assert [(a.text, a.who, a.picto, a.sent_at) for a in _agreements(w)] == [
        ("Ik ga elke week zwemmen", "client", "domain_health", None),
        ("Jan belt de sportschool", "begeleider", None, None)]
    assert "1. Ik ga elke week zwemmen (Sam)" in texts(screen)[-1]

    sent = await tap(w, 33, screen, "as")
    assert sent is not None and said(sent, "b_agreements_sent", client="Sam")
    ((chat, message), (chat_too, picture)) = sent.also
    assert chat == chat_too == SAM
    assert message.text.startswith(f"<b>{t('agreements_intro')}</b>")
    assert "1. Ik ga elke week zwemmen (dat doe jij)" in message.text
    assert "2. Jan belt de sportschool (dat doet je begeleider)" in message.text
    assert picture.speak and "zwemmen" in picture.speak  # spoken too
    assert [(row.picto, row.words) for row in picture.board] == [
        ("domain_health", "Ik ga elke week zwemmen"), ("agreements", "Jan belt de sportschool")]
    assert all(a.sent_at is not None for a in _agreements(w))
    assert w.replans == [w.client.id]  # the first check-in is planned

    # A correction after sending: the client gets the whole list again, said as a change.
    first = _agreements(w)[0]
    change = await tap(w, 33, screen, "ae", first.id)  # the screen stays after sending
    assert said(change, "b_ask_agreement_change", n=1, text="Ik ga elke week zwemmen")
    changed = await w.say(33, "Ik ga twee keer per week zwemmen")
    assert changed is not None and said(changed, "b_agreements_change_sent", client="Sam")
    ((chat, message), _picture) = changed.also
    assert chat == SAM and t("agreements_changed") in message.text
    assert "Ik ga twee keer per week zwemmen" in message.text

    # Sam reads them again, any time.
    again = await w.command(SAM, "afspraken")
    assert again is not None and "Ik ga twee keer per week zwemmen" in texts(again)[0]


async def test_another_clients_agreement_cannot_be_changed() -> None:
    w = World()
    staff(w)
    other = w.store.add(Client(organisation_id=w.org.id, name="Lies", person_id=None,
                               begeleider_id=None))
    theirs = w.store.add(Agreement(client_id=other.id, text="Lies gaat verhuizen",
                                   who="client", removed_at=None))
    screen = await _screen(w)
    screen = await _add(w, screen, "Samen koken op vrijdag", "samen")
    assert screen is not None
    seq = screen.replies[-1].buttons[0][0].data.split(":")[0]
    forged = await w.send(33, Input("button", utcnow(), data=f"{seq}:ae:{theirs.id}"))
    assert forged is not None
    await w.say(33, "Veranderd door een ander")
    assert theirs.text == "Lies gaat verhuizen"
    assert [a.text for a in _agreements(w) if a.client_id == w.client.id] == [
        "Samen koken op vrijdag"]


async def test_without_agreements_the_client_hears_that_there_are_none() -> None:
    w = World()
    await w.command(SAM, "start")
    reply = await w.command(SAM, "afspraken")
    assert reply is not None and texts(reply) == [t("agreements_none")]
    assert reply.replies[0].speak


async def test_a_naaste_gets_the_agreements_only_when_the_client_shares_them() -> None:
    w = World()
    staff(w)
    await w.command(SAM, "start")
    anja, piet = w.person(44, "Anja"), w.person(55, "Piet")
    for person, shared in ((anja, True), (piet, False)):
        naaste = w.store.add(Naaste(client_id=w.client.id, name=person.name, relation="ouder",
                                    person_id=person.id, removed_at=None))
        w.store.add(Share(client_id=w.client.id, naaste_id=naaste.id, part="agreements",
                          allowed=shared))
    screen = await _add(w, await _screen(w), "Samen koken op vrijdag", "samen")
    sent = await tap(w, 33, screen, "as")
    assert sent is not None
    to_anja = [reply for chat, reply in sent.also if chat == 44]
    assert [chat for chat, _ in sent.also] == [SAM, SAM, 44]
    assert to_anja[0].text.startswith("<b>" + t("agreements_naaste_intro", client="Sam"))
    assert "Samen koken op vrijdag (dat doen ze samen)" in to_anja[0].text
    assert to_anja[0].speak
    # Anja's read is in the access log as hers; Piet's denied one too.
    reads = {(a.viewer_person_id, a.allowed) for a in w.store.tables.audit
             if a.part == "agreements"}
    assert (anja.id, True) in reads and (piet.id, False) in reads


async def test_the_begeleider_plans_an_evaluation_for_a_date() -> None:
    w = World()
    staff(w)
    await w.command(SAM, "start")
    screen = await _add(w, await _screen(w), "Samen koken op vrijdag", "samen")
    sent = await tap(w, 33, screen, "as")
    assert sent is not None
    asked = await tap(w, 33, screen, "ev")
    assert said(asked, "b_ask_evaluation", client="Sam")
    wrong = await w.say(33, "volgende week")
    assert said(wrong, "b_bad_date")
    when = (utcnow() + timedelta(days=9)).astimezone(ZoneInfo("Europe/Amsterdam"))
    planned = await w.say(33, when.strftime("%d-%m-%Y 10:00"))
    assert planned is not None and any("krijgt de vragen over de afspraken op" in r.text
                                       for r in planned.replies)
    client = w.store.tables.of(Client)[w.client.id]
    assert client.evaluation_at is not None
    assert client.evaluation_at.astimezone(ZoneInfo("Europe/Amsterdam")).hour == 10
    assert w.replans[-1] == w.client.id  # the schedule plans it


async def test_only_the_agreements_screens_read_the_agreements() -> None:
    """The client screen does not read (and log) the agreements or topics; their screen
    does, once."""
    w = World()
    jan, _ = staff(w)
    home = await w.command(33, "start")
    before = len(w.store.tables.audit)
    client = await tap(w, 33, home, "op", w.client.id)
    assert {a.part for a in w.store.tables.audit[before:]} == {"progress"}
    before = len(w.store.tables.audit)
    await tap(w, 33, client, "af")
    parts = [a.part for a in w.store.tables.audit[before:] if a.viewer_person_id == jan.id]
    assert sorted(parts) == ["agenda", "agreements", "progress"]
