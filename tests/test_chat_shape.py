"""The shape of the client's chat, as a person who reads poorly meets it: a question is its
picto card with the question and the buttons under it, then its voice; every message that
asks or tells something is spoken; the list fits on a screen or two; buttons that look
alike do not do different things. Speech through the fake gTTS endpoint on localhost."""

from __future__ import annotations

from sqlalchemy import select

from bot.state.models import Answer, Client, DialogSession, Naaste, Share
from localbotapi.server import BotMessage
from tests.harness import Harness, labels, questions, texts

OPEN_STEPS = ["good_day", "bad_day", "works", "not_works", "important", "future", "learn",
              "meeting_where", "meeting_who"]



def check_shape(out: list[BotMessage], most: int = 3) -> None:
    """At most `most` messages; the buttons on the last one that is not a voice; every
    message with buttons or a question followed by a voice."""
    assert 0 < len(out) <= most, [m.kind for m in out]
    shown = [m for m in out if m.kind != "voice"]
    if any(m.buttons for m in shown):
        assert shown[-1].buttons, f"the buttons are not on the last message: {out}"
    for index, message in enumerate(out):
        if message.kind != "voice" and (message.buttons or "?" in message.content):
            assert any(m.kind == "voice" for m in out[index + 1:]), (
                f"not spoken: {message.content!r}")


async def test_a_whole_preparation_keeps_its_shape(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    assert [m.kind for m in sam.messages] == ["photo", "voice"]  # the welcome: card, voice
    check_shape(sam.messages)
    out = await h.tap(sam, "➡️ Beginnen")
    assert [m.kind for m in out] == ["photo", "voice"]
    assert questions(out) == ["Waar ben jij goed in?"]
    check_shape(out)
    for answer in ["koken", "fietsen"]:  # two messages: two items
        out = await h.say(sam, answer)
        check_shape(out, most=2)
        assert texts(out) == "Dank je.\nNog iets? Of tik op Verder."
        assert labels(out) == ["➡️ Verder", "⬅️ Terug", "⏸️ Pauze"]
    rows = await h.rows(Answer, Answer.step == "good_at")
    assert sorted((r.item, r.text) for r in rows) == [(1, "koken"), (2, "fietsen")]
    check_shape(await h.tap(sam, "➡️ Verder"))
    await h.say(sam, "Dat ik help")
    check_shape(await h.tap(sam, "➡️ Verder"))  # the agenda
    check_shape(await h.say(sam, "Op mezelf wonen"), most=2)  # "Dank je. Nog iets?"
    check_shape(await h.tap(sam, "➡️ Nee, verder"))
    for step in OPEN_STEPS:
        check_shape(await h.say(sam, f"antwoord {step}"), most=2)
        check_shape(await h.tap(sam, "➡️ Verder"))
    check_shape(await h.tap(sam, "Samen met iemand"))
    assert await h.tap(sam, "Kort") == []  # ticked in place: the caption is edited
    check_shape(await h.tap(sam, "👍 Klaar"))  # sharing: nobody yet
    review = await h.tap(sam, "➡️ Verder")
    check_shape(review, most=6)
    assert [m.kind for m in review][:2] == ["text", "photo"]
    assert review[0].content.startswith("Dit is je lijst.")
    assert "• koken\n• fietsen" in review[0].content
    assert review[1].button_texts() == ["👍 Ja, het klopt", "✏️ Iets veranderen"]
    assert h.server.uploads and any(m.kind == "voice" for m in review)
    done = await h.tap(sam, "👍 Ja, het klopt")
    check_shape(done)


async def test_every_note_is_spoken_with_its_question(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # a note and the next question: one message
    assert [m.kind for m in out] == ["photo", "voice"]
    assert out[0].content.startswith("Goed. Deze vraag komt later terug.")
    out = await h.tap(sam, "⏸️ Pauze")  # the pause menu, spoken
    assert [m.kind for m in out] == ["text", "voice"]
    assert labels(out) == ["➡️ Verder", "⏹️ Stoppen"]
    out = await h.tap(sam, "⏹️ Stoppen")  # /stop from the pause menu
    assert "we stoppen" in texts(out) and labels(out) == ["➡️ Verder"]
    (session,) = await h.rows(DialogSession)
    assert session.status == "stopped"
    out = await h.tap(sam, "➡️ Verder")
    assert "Fijn dat je er weer bent!" in texts(out)
    assert questions(out) == ["Wat vinden andere mensen fijn aan jou?"]
    check_shape(out)
    out = await h.act(sam, sam.send_command("/instellingen"))
    assert "Ik lees alles voor." in texts(out)  # the state in words, the action on a button
    assert labels(out) == ["🔇 Niet meer voorlezen", "🐢 Langzaam voorlezen",
                           "🔕 Geen herinneringen"]


async def test_help_and_skip_on_the_agenda_lead_where_they_say(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    for _ in range(2):
        await h.tap(sam, "🤷 Weet ik nog niet")
    out = await h.tap(sam, "💡 Help me kiezen")
    domains = [b for b in labels(out) if b not in {"🤷 Weet ik nog niet", "⬅️ Terug",
                                                   "⏸️ Pauze"}]
    assert len(domains) == 10 and "💶 Geld en rechten" in domains
    await h.tap(sam, "⬅️ Terug")
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # skipping offers the help first
    assert "Hier zijn onderwerpen om aan te denken" in texts(out)
    assert len([b for b in labels(out) if "Gezondheid" in b]) == 1
    (session,) = await h.rows(DialogSession)
    assert session.step == "agenda_domains" and "agenda" not in session.data.get("skipped", [])
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # and then it is skipped
    assert questions(out) == ["Denk aan een goede dag.\nWat gebeurt er op zo'n dag?"]
    (session,) = await h.rows(DialogSession)
    assert "agenda" in session.data["skipped"]
    assert all(b.split()[0] != "💡" for b in labels(out) if "Weet ik" in b)


async def test_sharing_simple_choice_first_and_removing_can_be_undone(hs: Harness) -> None:
    h = hs
    sam = await h.join(1001, "Sam")
    async with h.store.unit() as unit:
        client = (await unit.session.execute(select(Client))).scalar_one()
        unit.session.add(Naaste(client_id=client.id, name="Anja", relation="ouder"))
    out = await h.act(sam, sam.send_command("/delen"))
    check_shape(out)
    out = await h.tap(sam, "Anja (Ouder)")
    check_shape(out)
    assert labels(out) == ["Alles", "Alleen mijn onderwerpen", "✅ Niets", "Zelf kiezen",
                           "🚫 Weghalen", "⬅️ Terug"]
    assert "Twee weken voor je gesprek" in texts(out)  # what "zien" means
    out = await h.tap(sam, "Alleen mijn onderwerpen")
    assert "Goed. Anja ziet alleen je onderwerpen." in texts(out)
    assert {(s.part, s.allowed) for s in await h.rows(Share)} == {("agenda", True)}
    await h.tap(sam, "Anja (Ouder)")
    out = await h.tap(sam, "Zelf kiezen")  # the parts one by one, only when asked
    assert "✅ Mijn onderwerpen" in labels(out) and "⬜ Goede dag" in labels(out)
    assert await h.tap(sam, "⬜ Goede dag") == []  # ticked in place
    out = await h.tap(sam, "👍 Klaar")
    assert "Anja (Ouder): mijn onderwerpen, goede dag" in texts(out)
    await h.tap(sam, "Anja (Ouder)")
    out = await h.tap(sam, "🚫 Weghalen")  # asks once more
    assert "Wil je Anja echt weghalen?" in texts(out)
    assert labels(out) == ["🚫 Ja, weghalen", "⬅️ Nee, terug"]
    out = await h.tap(sam, "🚫 Ja, weghalen")
    assert "Anja ziet nu niets meer van jou." in texts(out) and "↩️ Toch niet" in labels(out)
    (anja,) = await h.rows(Naaste)
    assert anja.removed_at is not None
    out = await h.tap(sam, "↩️ Toch niet")
    assert "Anja doet weer mee." in texts(out)
    (anja,) = await h.rows(Naaste)
    assert anja.removed_at is None
    assert {s.part for s in await h.rows(Share) if s.allowed} == {"agenda", "good_day"}
