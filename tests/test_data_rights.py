"""The client's data and care-grade protection (issue 17): start links kept only as a hash;
inzage for the client (/mijn_gegevens) and for an admin; the client's request to erase; an
admin's erasure after two questions (nothing of the client left in the database or the data
folder); a naaste erasing their own contributions."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import text

from bot.dialogs.texts import t
from bot.state.crypto import read_kept
from bot.state.models import AgendaItem, Answer, AuditLog, Base, Client, Person
from localbotapi.server import BotMessage
from tests.harness import Harness, texts
from tests.test_triangle import (
    admin_and_begeleider,
    client_with_topic,
    invite_naaste,
    new_client,
    start,
)


async def test_a_start_link_is_kept_only_as_a_hash(h: Harness) -> None:
    token = await h.enrol("Sam")
    async with h.store.unit() as unit:
        stored = [row[0] for row in (await unit.session.execute(
            text("SELECT token FROM invite"))).all()]
    assert len(stored) == 1 and token not in stored[0]  # the database cannot open it
    sam = h.server.user(1001, first_name="Sam")
    out = await start(h, sam, token)
    assert "Hoi Sam" in texts(out)  # the link itself still works, once
    stranger = h.server.user(1002, first_name="Kim")
    out = await start(h, stranger, stored[0])  # the stored hash is no link
    assert "Deze link werkt niet." in texts(out)


def _document(out: list[BotMessage], h: Harness, suffix: str) -> bytes:
    (found,) = [m for m in out if m.kind == "document"
                and m.raw["document"]["file_name"].endswith(suffix)]
    return h.server.file_bytes(found.raw["document"]["file_id"])


async def test_the_client_gets_everything_kept_about_them(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Op mezelf wonen")
    await h.act(sam, sam.send_voice(b"OggS-sams-voice", duration=5))  # a second topic
    lotte = await new_client(h, bram, "Lotte", 1002)
    await h.tap(lotte, "➡️ Beginnen")
    await h.say(lotte, "Geheim van Lotte")
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📋 Agenda")  # Bram looks: it is in Sam's access log

    out = await h.act(sam, sam.send_command("/mijn_gegevens"))
    assert "Dit is alles wat we van jou bewaren." in texts(out)
    data = json.loads(_document(out, h, ".json"))
    words = [a["text"] for a in data["answers"]]
    assert "Op mezelf wonen" in words and "Geheim van Lotte" not in json.dumps(data)
    assert data["client"]["name"] == "Sam"
    assert any(a["kind"] == "voice" for a in data["answers"])
    looked = {(e["who"], e["allowed"]) for e in data["access_log"]}
    assert ("Bram", True) in looked
    text = PdfReader(io.BytesIO(_document(out, h, ".pdf"))).pages[0].extract_text()
    assert "Op mezelf wonen" in text and "Geheim" not in text
    # Sam's own voice message comes back (by its Telegram file id).
    (voice,) = [a for a in await h.rows(Answer, Answer.kind == "voice")]
    assert voice.file_id in [m.raw.get("voice", {}).get("file_id") for m in out]
    # The read is in the access log as Sam's own, each part once.
    (person,) = await h.rows(Person, Person.telegram_user_id == 1001)
    own = [r.part for r in await h.rows(AuditLog, AuditLog.viewer_person_id == person.id)]
    assert "agenda" in own and len(own) == len(set(own))


async def test_the_client_asks_to_erase_and_the_staff_are_told(h: Harness) -> None:
    fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Op mezelf wonen")
    before = {user: len(user.messages) for user in (fatima, bram)}
    out = await h.act(sam, sam.send_command("/wissen"))
    assert "Je wilt dat we alles van jou wissen." in texts(out)
    assert "Tot dan blijft alles bewaard." in texts(out)
    for user in (fatima, bram):  # the admin and the begeleider, once each
        told = [m for m in user.messages[before[user]:] if "vraagt om alles van Sam" in m.content]
        assert len(told) == 1, user.describe()
    # Nothing is removed by the request itself; it is in the access log.
    assert [a.text for a in await h.rows(Answer, Answer.removed_at.is_(None))] == [
        "Op mezelf wonen"]
    (person,) = await h.rows(Person, Person.telegram_user_id == 1001)
    parts = [r.part for r in await h.rows(AuditLog, AuditLog.viewer_person_id == person.id)]
    assert parts.count("erasure_request") == 1


async def _everything(h: Harness) -> str:
    """Every row of every table, as text: where an erased person's words would still be."""
    parts: list[str] = []
    async with h.store.unit() as unit:
        for table in Base.metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in (await unit.session.execute(table.select()))]
    return "\n".join(parts)


def _files_holding(folder: Path, content: bytes) -> list[Path]:
    # Kept files are encrypted at rest: look in what they hold.
    return [p for p in folder.rglob("*") if p.is_file() and content in read_kept(p)]


async def test_an_admin_erases_a_client_after_two_questions(h: Harness) -> None:
    fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Geheim onderwerp van Sam")
    voice = b"OggS-" + bytes(range(200)) + b"-sams-own-voice"
    await h.act(sam, sam.send_voice(voice, duration=4))
    (kept,) = await h.rows(Answer, Answer.kind == "voice")
    assert kept.file_state == "kept" and _files_holding(h.settings.data_dir, voice)
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    await h.tap(anja, t("btn_n_topic"))
    await h.say(anja, "Anja's vraag over Sam")
    lotte = await new_client(h, bram, "Lotte", 1002)
    await h.tap(lotte, "➡️ Beginnen")
    await h.say(lotte, "Lotte blijft bewaard")
    (sam_client,) = await h.rows(Client, Client.name == "Sam")
    (lotte_client,) = await h.rows(Client, Client.name == "Lotte")
    assert "Geheim onderwerp van Sam" in await _everything(h)

    await h.act(fatima, fatima.send_command("/beheer"))
    await h.tap(fatima, "🗑️ Cliënt wissen")
    out = await h.tap(fatima, "Sam")
    assert "Dit kan niet terug." in texts(out)
    # A confirmation that names another client (forged, or an old screen) erases nobody.
    seq = out[-1].buttons[0][0][1].split(":")[0]
    out = await h.act(fatima, fatima.press_data(out[-1].message_id, f"{seq}:ok:{lotte_client.id}"))
    assert "Die knop hoort bij een eerdere vraag." in texts(out)
    out = await h.tap(fatima, "🗑️ Ja, doorgaan")
    assert "Laatste vraag" in texts(out)
    assert await h.rows(Answer, Answer.client_id == sam_client.id)  # nothing gone yet
    out = await h.tap(fatima, "🗑️ Ja, wis alles van Sam")
    assert "Alles van Sam is gewist." in texts(out)

    everything = await _everything(h)
    for words in ("Geheim onderwerp van Sam", "Anja's vraag over Sam", "sams-own-voice"):
        assert words not in everything, words
    assert "Lotte blijft bewaard" in everything  # only Sam's
    assert not _files_holding(h.settings.data_dir, voice)
    assert not await h.rows(Client, Client.id == sam_client.id)
    assert not await h.rows(Person, Person.telegram_user_id == 1001)
    assert not await h.rows(AgendaItem, AgendaItem.client_id == sam_client.id)
    (fatima_person,) = await h.rows(Person, Person.telegram_user_id == 500)
    erased = await h.rows(AuditLog, AuditLog.part == f"erased:{sam_client.id}")
    assert [(r.viewer_person_id, r.client_id, r.allowed) for r in erased] == [
        (fatima_person.id, None, True)]
    # Sam's chat is a stranger's now; Anja is still a person, with nobody to follow.
    out = await h.act(sam, sam.send_text("Hallo?"))
    assert "Sam" not in texts(out)
    out = await h.act(bram, bram.send_command("/clienten"))
    assert "Lotte" in texts(out) and "Sam" not in texts(out)


async def test_an_admin_gets_a_clients_data_for_a_written_request(h: Harness) -> None:
    fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Op mezelf wonen")
    await h.act(fatima, fatima.send_command("/beheer"))
    out = await h.tap(fatima, "📂 Gegevens van een cliënt")
    assert "Van wie wil je alle gegevens?" in texts(out)
    out = await h.tap(fatima, "Sam")
    assert "Dit zijn alle gegevens van Sam" in texts(out)
    data = json.loads(_document(out, h, ".json"))
    assert "Op mezelf wonen" in [a["text"] for a in data["answers"]]
    assert PdfReader(io.BytesIO(_document(out, h, ".pdf"))).pages
    (fatima_person,) = await h.rows(Person, Person.telegram_user_id == 500)
    reads = [r.part for r in await h.rows(AuditLog, AuditLog.viewer_person_id == fatima_person.id,
                                          AuditLog.allowed.is_(True))]
    assert reads.count("inzage") == 1
    out = await h.act(sam, sam.send_command("/wie_keek"))
    assert "Fatima" in texts(out)  # the client can see that the admin looked
    # A client id of nobody (forged) is refused and logged.
    await h.tap(fatima, "📂 Gegevens van een cliënt")
    seq = fatima.messages[-1].buttons[0][0][1].split(":")[0]
    out = await h.act(fatima, fatima.press_data(fatima.messages[-1].message_id,
                                                f"{seq}:ch:999"))
    assert not [m for m in out if m.kind == "document"]
    assert await h.rows(AuditLog, AuditLog.viewer_person_id == fatima_person.id,
                        AuditLog.allowed.is_(False))


async def test_a_naaste_erases_their_own_contributions(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await client_with_topic(h, bram, "Op mezelf wonen")
    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    for words in ("Vakantie plannen", "Oud idee"):
        await h.tap(anja, t("btn_n_topic"))
        await h.say(anja, words)
    out = await h.tap(anja, t("btn_n_mine"))
    (old,) = [m for m in out if m.content == "Oud idee"]
    await h.act(anja, anja.press(old, t("btn_remove")))  # removed, but still kept
    assert len(await h.rows(AgendaItem, AgendaItem.owner_role == "naaste")) == 2
    await h.tap(anja, t("btn_n_mine"))
    out = await h.tap(anja, t("btn_n_erase"))
    assert "Dit kan niet terug." in texts(out)
    out = await h.tap(anja, t("btn_n_erase_yes"))
    assert "Alles wat jij toevoegde, is gewist." in texts(out)
    assert not await h.rows(AgendaItem, AgendaItem.owner_role == "naaste")
    assert [a.text for a in await h.rows(Answer)] == ["Op mezelf wonen"]  # Sam's stays
