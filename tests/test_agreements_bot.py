"""Agreements after the meeting, end to end through the local Bot API (speech on, against
the fake gTTS): Bram records two agreements for Sam and sends them; Sam gets one message
"Dit hebben we afgesproken", the picture of the agreements and a voice message; Bram
corrects one and Sam sees the change at once; /afspraken shows them again. The rows are
in the database, marked as sent."""

from __future__ import annotations

from bot.state.models import Agreement
from localbotapi.server import UserHandle
from tests.harness import Harness, texts
from tests.test_triangle import admin_and_begeleider, new_client


async def test_the_begeleider_sends_agreements_and_the_client_sees_a_correction(
        hs: Harness) -> None:
    h = hs
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    out = await h.tap(bram, "🤝 Afspraken")
    assert "Nog geen afspraken" in texts(out)
    await h.tap(bram, "➕ Afspraak erbij")
    out = await h.say(bram, "Ik ga elke week zwemmen")
    assert "Wie doet het?" in texts(out)
    out = await h.tap(bram, "Sam")
    assert "Welk plaatje past erbij?" in texts(out)
    await h.tap(bram, "Gezondheid")
    await h.tap(bram, "➕ Afspraak erbij")
    await h.say(bram, "Bram belt de sportschool")
    await h.tap(bram, "Ik")
    out = await h.tap(bram, "Zonder plaatje")
    assert "1. Ik ga elke week zwemmen (Sam)" in texts(out)
    assert "2. Bram belt de sportschool (jij)" in texts(out)
    assert [a.sent_at for a in await h.rows(Agreement)] == [None, None]

    before = len(sam.messages)
    out = await h.tap(bram, "📨 Stuur naar Sam")
    assert "Sam heeft de afspraken gekregen" in texts(out)
    got = sam.messages[before:]
    assert [m.kind for m in got] == ["text", "photo", "voice", "document"]
    assert got[3].raw["document"]["file_name"].startswith("afspraken-")  # easy read, printable
    assert got[0].content.startswith("Dit hebben we afgesproken.")
    assert "1. Ik ga elke week zwemmen (dat doe jij)" in got[0].content
    assert "2. Bram belt de sportschool (dat doet je begeleider)" in got[0].content
    assert all(a.sent_at is not None for a in await h.rows(Agreement))

    before = len(sam.messages)
    await h.tap(bram, "✏️ 1")
    out = await h.say(bram, "Ik ga twee keer per week zwemmen")
    assert "Sam krijgt de verandering meteen te zien" in texts(out)
    changed = sam.messages[before:]
    assert "Er is iets veranderd aan je afspraken" in texts(changed)
    assert "Ik ga twee keer per week zwemmen" in texts(changed)
    assert "Ik ga elke week zwemmen" not in texts(changed)

    out = await h.act(sam, sam.send_command("/afspraken"))
    assert "Ik ga twee keer per week zwemmen" in texts(out)
    assert any(m.kind == "voice" for m in out)
    (first, _second) = sorted(await h.rows(Agreement), key=lambda a: a.id)
    assert (first.text, first.who, first.picto) == ("Ik ga twee keer per week zwemmen",
                                                    "client", "domain_health")


async def send_agreement(h: Harness, bram: UserHandle, text: str, who: str,
                         picto: str = "Zonder plaatje", topic: str | None = None) -> None:
    """From Bram's client screen of Sam: one agreement (what, who, picto and, when Sam has
    topics, the topic it is about), then send."""
    await h.tap(bram, "🤝 Afspraken")
    await h.tap(bram, "➕ Afspraak erbij")
    await h.say(bram, text)
    await h.tap(bram, who)
    out = await h.tap(bram, picto)
    if "Gaat de afspraak over een onderwerp" in texts(out):
        await h.tap(bram, topic or "Over geen onderwerp")
    await h.tap(bram, "📨 Stuur naar Sam")
