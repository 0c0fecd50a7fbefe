"""The client's data and care-grade protection (issue 17), as far as it is built: start
links kept only as a hash; inzage (/mijn_gegevens)."""

from __future__ import annotations

import io
import json

from pypdf import PdfReader
from sqlalchemy import text

from bot.state.models import Answer, AuditLog, Person
from localbotapi.server import BotMessage
from tests.harness import Harness, texts
from tests.test_triangle import admin_and_begeleider, client_with_topic, new_client, start


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
