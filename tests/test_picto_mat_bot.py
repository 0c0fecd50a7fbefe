"""Choosing with pictures through the real bot (issue 16): Sam answers "a good day" by
placing pictures on the mat, moves one, says it is right; the choices are answers in the
database, in /lijst and in the begeleider's agenda. An old or forged mat button changes
nothing; a mat left in the middle goes on where it was, also after a restart."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader

from bot.__main__ import main as bot_cli
from bot.dialogs import look, picto_mat
from bot.state.models import Answer, Client
from localbotapi.server import BotMessage, UserHandle
from pictos import PictoLibrary
from tests.harness import Harness, harness, labels, texts
from tests.test_client_prep import go_to_agenda
from tests.test_triangle import admin_and_begeleider, new_client

GOOD_DAY = picto_mat.option_sets()["good_day"]  # Muziek, Wandelen, Koken, …


async def to_good_day(h: Harness) -> UserHandle:
    sam = await go_to_agenda(h)
    await h.say(sam, "Mijn fiets")
    out = await h.tap(sam, "Nee, verder")
    assert "Denk aan een goede dag." in texts(out)
    assert "🖼️ Kiezen met plaatjes" in labels(out)
    return sam  # type: ignore[return-value]


async def mat_rows(h: Harness) -> dict[str, str]:
    """Picture -> place, as stored."""
    rows = await h.rows(Answer, Answer.step == "good_day", Answer.kind == "mat",
                        Answer.removed_at.is_(None))
    return dict(r.tag.split(".") for r in rows)


def card(out: list[BotMessage]) -> BotMessage:
    """The picture asked about now: its card, with the three places under it."""
    (message,) = [m for m in out if m.kind == "photo" and "Hoe vind je dit?" in m.content]
    return message


async def test_a_whole_mat_by_buttons_then_one_moved(h: Harness) -> None:
    sam = await to_good_day(h)
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")
    first = card(out)
    assert "Plaatje 1 van 9." in first.content and "Muziek" in first.content
    assert [label for row in first.buttons for label, _ in row] == [
        "🙂 Fijn", "🤔 Weet ik niet", "🙁 Niet fijn", "⏭️ Sla over", "✋ Stop met plaatjes"]

    places = ["🙂 Fijn", "🙂 Fijn", "🙁 Niet fijn", "🤔 Weet ik niet", "⏭️ Sla over",
              "🙂 Fijn", "🙂 Fijn", "🙁 Niet fijn", "🙁 Niet fijn"]
    for number, place in enumerate(places, 1):
        out = await h.tap(sam, place)
        if number < len(places):
            assert f"Plaatje {number + 1} van 9." in card(out).content
    # The whole mat: one picture with the summary as its caption, and its voice.
    (mat,) = [m for m in out if m.kind == "photo"]
    assert "Fijn: muziek, wandelen, tv kijken, buiten zijn." in mat.content
    assert "Weet ik niet: vrienden." in mat.content
    assert "Niet fijn: koken, lawaai, drukte." in mat.content and "Klopt het zo?" in mat.content
    assert await mat_rows(h) == {
        "mat_music": "fine", "mat_walk": "fine", "mat_cooking": "not_fine",
        "mat_friends": "unsure", "mat_tv": "fine", "mat_outside": "fine",
        "mat_noise": "not_fine", "mat_busy": "not_fine"}  # work was skipped: not stored

    out = await h.tap(sam, "↔️ Plaatje verplaatsen")
    assert "Welk plaatje wil je verplaatsen?" in texts(out)
    assert "Werk" not in labels(out)  # only what is on the mat
    out = await h.tap(sam, "Tv kijken")
    assert "Tv kijken" in card(out).content
    out = await h.tap(sam, "🙁 Niet fijn")
    assert "Niet fijn: koken, tv kijken, lawaai, drukte." in texts(out)
    rows = await h.rows(Answer, Answer.step == "good_day", Answer.tag.like("mat_tv.%"))
    assert sorted((r.tag, r.removed_at is None) for r in rows) == [
        ("mat_tv.fine", False), ("mat_tv.not_fine", True)]  # the move keeps its history

    out = await h.tap(sam, "✅ Ja, klopt")
    assert "Ik heb je keuze bewaard." in texts(out)
    assert "Denk aan een goede dag." in texts(out)  # the question: words may follow
    assert "• Niet fijn: Tv kijken" in texts(out)
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "Niet fijn: Tv kijken" in texts(out) and "Fijn: Muziek" in texts(out)


async def test_an_old_or_forged_mat_button_changes_nothing(h: Harness) -> None:
    sam = await to_good_day(h)
    first = card(await h.tap(sam, "🖼️ Kiezen met plaatjes"))
    await h.tap(sam, "🙂 Fijn")  # Muziek
    out = await h.act(sam, sam.press(first, "🙁 Niet fijn"))  # Muziek's card again
    assert "Die knop hoort bij een eerdere vraag." in texts(out)
    now = card([m for m in sam.messages if m.kind == "photo"][-1:])  # Wandelen's card
    seq = now.buttons[0][0][1].split(":")[0]
    for forged in (f"{seq}:mp:0.fine", f"{seq}:mp:1.great", f"{seq}:mp:x.fine",
                   f"{seq}:mv:1", f"{seq}:mk", f"{seq}:mq:7", f"{seq}:mw"):
        out = await h.act(sam, sam.press_data(now.message_id, forged))
        assert "Die knop hoort bij een eerdere vraag." in texts(out), forged
    assert await mat_rows(h) == {"mat_music": "fine"}
    # The same screen's own button still works: the refusals were not about an old seq.
    out = await h.act(sam, sam.press_data(now.message_id, f"{seq}:mp:1.unsure"))
    assert "Koken" in card(out).content
    assert await mat_rows(h) == {"mat_music": "fine", "mat_walk": "unsure"}


async def test_a_mat_left_in_the_middle_goes_on_where_it_was(h: Harness) -> None:
    sam = await to_good_day(h)
    await h.tap(sam, "🖼️ Kiezen met plaatjes")
    await h.tap(sam, "🙂 Fijn")
    await h.tap(sam, "🤔 Weet ik niet")
    await h.act(sam, sam.send_command("/stop"))
    await h.stop_bot()  # days pass; the bot is restarted meanwhile
    await h.start_bot()
    out = await h.act(sam, sam.send_command("/verder"))
    assert "Plaatje 3 van 9." in card(out).content and "Koken" in card(out).content
    out = await h.tap(sam, "✋ Stop met plaatjes")
    assert "Wat je koos, is bewaard." in texts(out)
    assert await mat_rows(h) == {"mat_music": "fine", "mat_walk": "unsure"}


async def test_the_agenda_by_life_domain_with_pictures(h: Harness) -> None:
    """"Help me kiezen" → Wonen → the pictures of Wonen; each one placed is a topic under
    Wonen, in /lijst and in the begeleider's agenda."""
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    sam = await go_to_agenda(h)
    await h.tap(sam, "💡 Help me kiezen")
    out = await h.tap(sam, "Wonen")
    assert "Je koos: wonen." in texts(out) and "🖼️ Kiezen met plaatjes" in labels(out)
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")
    assert "Plaatje 1 van 8." in card(out).content and "Mijn kamer" in card(out).content
    await h.tap(sam, "🙂 Fijn")  # Mijn kamer
    await h.tap(sam, "🙁 Niet fijn")  # Huisgenoten
    out = await h.tap(sam, "✋ Stop met plaatjes")
    assert "Wat je koos, is bewaard." in texts(out)
    assert "Je koos: wonen." in texts(out)  # still the domain: words may follow, or more
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")  # goes on at the third picture
    assert "Plaatje 3 van 8." in card(out).content and "Eten" in card(out).content
    for _ in range(6):
        out = await h.tap(sam, "⏭️ Sla over")
    assert "Fijn: mijn kamer." in texts(out) and "Niet fijn: huisgenoten." in texts(out)
    out = await h.tap(sam, "✅ Ja, klopt")
    assert "Ik heb je keuze bewaard." in texts(out) and "Nog iets?" in texts(out)
    rows = await h.rows(Answer, Answer.step == "agenda", Answer.kind == "mat")
    assert sorted(r.tag for r in rows) == ["domain_housing/mat_housemates.not_fine",
                                           "domain_housing/mat_room.fine"]

    out = await h.act(sam, sam.send_command("/lijst"))
    assert "Niet fijn: Huisgenoten" in texts(out)
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    out = await h.tap(bram, "📋 Agenda")
    assert "Wonen: Fijn: Mijn kamer" in texts(out).replace("<i>", "").replace("</i>", "")
    out = await h.tap(bram, "📄 PDF en export")
    files = {m.raw["document"]["file_name"].split("-")[-1]: h.server.file_bytes(m.file_id)
             for m in out if m.kind == "document"}
    for name in ("begeleider.pdf", "client.pdf"):
        reader = PdfReader(io.BytesIO(files[name]))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert "Wonen: Niet fijn: Huisgenoten" in text, name
        assert any(i.name.endswith(".jpg") for page in reader.pages for i in page.images)
    bundle = json.loads(files["fhir.json"])
    codes = [(c["linkId"], c["answer"][0]["valueCoding"]["code"])
             for entry in bundle["entry"] if entry["resource"]["resourceType"] ==
             "QuestionnaireResponse" for item in entry["resource"]["item"]
             if item["linkId"] == "agenda" for c in item.get("item", [])
             if "valueCoding" in c["answer"][0]]
    assert ("agenda.picture", "mat_housemates") in codes and (
        "agenda.place", "not_fine") in codes and ("agenda.domain", "domain_housing") in codes


async def test_the_begeleider_makes_pictures_first_for_a_client(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.act(bram, bram.send_command("/clienten"))
    out = await h.tap(bram, "Sam")
    assert "🖼️ Plaatjes eerst: uit" in labels(out)
    out = await h.tap(bram, "🖼️ Plaatjes eerst: uit")
    assert "🖼️ Plaatjes eerst: aan ✅" in labels(out)
    (client,) = await h.rows(Client, Client.name == "Sam")
    assert client.pictures_first

    await h.tap(sam, "➡️ Beginnen")
    out = await h.say(sam, "Tekenen")  # good at: no pictures for this question
    assert "Hoe vind je dit?" not in texts(out)
    await h.tap(sam, "➡️ Verder")
    await h.tap(sam, "🤷 Weet ik nog niet")  # appreciated
    await h.tap(sam, "🤷 Weet ik nog niet")  # agenda: the help first
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # agenda skipped: a good day, as pictures
    assert "Je ziet steeds één plaatje." in card(out).content
    assert "Muziek" in card(out).content
    out = await h.tap(sam, "✋ Stop met plaatjes")
    assert "Denk aan een goede dag." in texts(out) and "Hoe vind je dit?" not in texts(out)
    out = await h.tap(sam, "🔁 Nog eens horen")  # the question again: the mat stays closed
    assert "Denk aan een goede dag." in texts(out) and "Hoe vind je dit?" not in texts(out)
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")  # unless Sam opens it
    assert "Muziek" in card(out).content

    out = await h.tap(bram, "🖼️ Plaatjes eerst: aan ✅")  # and off again
    assert "🖼️ Plaatjes eerst: uit" in labels(out)
    (client,) = await h.rows(Client, Client.name == "Sam")
    assert not client.pictures_first


@pytest.fixture
async def own_pictures(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A bot whose organisation's manifest gives "a good day" pictures of its own: a photo
    of the day centre "De Horst" and two of ours, one with another word."""
    Image.new("RGB", (320, 240), (40, 140, 60)).save(tmp_path / "horst.jpg")
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(
        "name: Zorg BV\npictos:\n  mat_horst: {file: horst.jpg, word: \"De Horst\"}\n"
        "  mat_music: {openmoji: 1F3B8, word: Gitaar}\n"
        "mat:\n  good_day: [mat_horst, mat_music, mat_walk]\n", encoding="utf-8")
    try:
        async with harness(db_url, tmp_path) as h:
            h.settings = h.settings.model_copy(update={"picto_manifest": manifest,
                                                       "picto_cache_dir": tmp_path / "cards"})
            await h.start_bot()
            yield h
    finally:
        look.set_deployment(look.Look())  # the next test's bot: the bot's own pictures


async def test_an_organisations_own_pictures_on_the_mat(own_pictures: Harness) -> None:
    h = own_pictures
    sam = await to_good_day(h)
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")
    first = card(out)
    assert "Plaatje 1 van 3." in first.content and "De Horst" in first.content
    library = PictoLibrary.load(h.settings.picto_manifest, h.settings.picto_cache_dir)
    assert h.server.file_bytes(first.file_id) == library.card("mat_horst").read_bytes()
    out = await h.tap(sam, "🙂 Fijn")
    assert "Gitaar" in card(out).content  # the organisation's word under our picture
    await h.tap(sam, "🙁 Niet fijn")
    out = await h.tap(sam, "⏭️ Sla over")
    assert "Fijn: de horst." in texts(out) and "Niet fijn: gitaar." in texts(out)
    await h.tap(sam, "✅ Ja, klopt")
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "Fijn: De Horst" in texts(out) and "Niet fijn: Gitaar" in texts(out)


def test_the_bot_checks_the_questions_a_manifest_names(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("pictos:\n  stopped: {openmoji: 1F6D1}\n"
                        "mat:\n  good_at: [mat_music, mat_walk]\n", encoding="utf-8")
    assert bot_cli(["pictos", "check", str(manifest)]) == 1
    assert "mat 'good_at': not a question that can be answered with pictures" in (
        capsys.readouterr().out)


async def test_words_and_a_voice_message_about_a_picture(h: Harness) -> None:
    sam = await to_good_day(h)
    await h.tap(sam, "🖼️ Kiezen met plaatjes")
    for place in ["🙂 Fijn", "🙂 Fijn", "🙁 Niet fijn"]:
        await h.tap(sam, place)
    out = await h.tap(sam, "✋ Stop met plaatjes")
    out = await h.tap(sam, "🖼️ Kiezen met plaatjes")  # again: the rest, then the whole mat
    for _ in range(6):
        out = await h.tap(sam, "⏭️ Sla over")
    assert "Klopt het zo?" in texts(out)
    out = await h.tap(sam, "💬 Iets zeggen bij een plaatje")
    assert "Over welk plaatje wil je iets zeggen?" in texts(out)
    assert labels(out)[:3] == ["🎵 Muziek", "🚶 Wandelen", "🍳 Koken"]
    out = await h.tap(sam, "Koken")
    assert "Wat wil je zeggen over Koken?" in texts(out)
    out = await h.say(sam, "alleen met hulp")
    assert "Ik heb het bij het plaatje gezet." in texts(out)
    assert "Koken: alleen met hulp" in texts(out) and "Klopt het zo?" in texts(out)
    await h.tap(sam, "💬 Iets zeggen bij een plaatje")
    await h.tap(sam, "Muziek")
    out = await h.act(sam, sam.send_voice(b"OggS-fake-voice", duration=4))
    assert "Muziek (spraakbericht)" in texts(out)
    rows = await h.rows(Answer, Answer.step == "good_day", Answer.tag.like("%.words"))
    assert sorted((r.tag, r.kind, r.text) for r in rows) == [
        ("mat_cooking.words", "text", "Koken: alleen met hulp"),
        ("mat_music.words", "voice", "Muziek")]
    await h.tap(sam, "✅ Ja, klopt")
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "Koken: alleen met hulp" in texts(out)
