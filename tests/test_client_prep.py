"""The client's whole preparation, driven as a person would over the local Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.state.models import Answer, DialogSession, Share
from tests.harness import Harness, labels, questions, texts

OPEN_STEPS = ["good_day", "bad_day", "works", "not_works", "important", "future", "learn",
              "meeting_where", "meeting_who"]


async def answers_of(h: Harness, step: str) -> list[str]:
    rows = await h.rows(Answer, Answer.step == step, Answer.removed_at.is_(None))
    return [r.text for r in sorted(rows, key=lambda r: (r.item, r.part))]


async def session_of(h: Harness) -> DialogSession:
    (row,) = await h.rows(DialogSession)
    return row


async def go_to_agenda(h: Harness, user_id: int = 1001, name: str = "Sam") -> object:
    user = await h.join(user_id, name)
    await h.tap(user, "➡️ Beginnen")
    await h.say(user, "Ik kan goed tekenen")
    await h.tap(user, "➡️ Verder")
    await h.say(user, "Dat ik goed luister")
    await h.tap(user, "➡️ Verder")
    return user


async def test_whole_preparation_start_to_review(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    welcome = texts(sam.messages)
    assert "Hoi Sam" in welcome and "De datum van je gesprek weten we nog niet" in welcome
    assert "Je begeleider kan lezen" in welcome
    (card,) = sam.messages  # one message: the card, the welcome under it, one button
    assert card.kind == "photo" and card.button_texts() == ["➡️ Beginnen"]

    out = await h.tap(sam, "➡️ Beginnen")
    assert questions(out) == ["Waar ben jij goed in?"]
    assert {"🤷 Weet ik nog niet", "⬅️ Terug", "🔁 Nog eens horen", "⏸️ Pauze"} <= set(
        labels(out))
    (card,) = out  # the picto card carries the question and the buttons (speech is off)
    assert card.kind == "photo" and "Waar ben jij goed in?" in card.content
    out = await h.say(sam, "Ik kan goed tekenen")
    assert [m.content for m in out] == ["Dank je.\nNog iets? Of tik op Verder."]
    await h.say(sam, "En fietsen")  # a second message is a second item
    out = await h.tap(sam, "➡️ Verder")
    assert questions(out) == ["Wat vinden andere mensen fijn aan jou?"]
    await h.say(sam, "Dat ik grappig ben")
    out = await h.tap(sam, "➡️ Verder")
    assert questions(out) == ["Waar wil jij het over hebben in je gesprek?"]

    out = await h.say(sam, "Ik wil op mezelf wonen")
    assert questions(out) == ["Nog iets?"]
    out = await h.tap(sam, "➕ Ja, nog iets")
    assert questions(out) == ["Waar wil je nog meer over praten?"]
    await h.say(sam, "Meer geld voor de bus")
    out = await h.tap(sam, "💡 Help me kiezen")
    domains = [b for b in labels(out) if b not in {"➡️ Verder", "⬅️ Terug", "⏸️ Pauze"}]
    assert len(domains) == 10 and "🩺 Gezondheid" in domains and "🏠 Wonen" in domains
    out = await h.tap(sam, "Dagbesteding en vrije tijd")
    assert "Je koos: dagbesteding en vrije tijd." in texts(out)
    await h.say(sam, "Ik wil ander werk")
    out = await h.tap(sam, "➡️ Nee, verder")
    assert questions(out) == ["Denk aan een goede dag.\nWat gebeurt er op zo'n dag?"]

    for step in OPEN_STEPS:
        await h.say(sam, f"antwoord {step}")
        await h.tap(sam, "➡️ Verder")
    out = await h.tap(sam, "Samen met iemand")
    assert "Hoe wil je dat het gesprek gaat?" in texts(out)
    out = await h.tap(sam, "Met een pauze")
    assert out == []  # toggled in place: the same message, edited
    how = [m for m in sam.messages if m.content.startswith("Hoe wil je")][-1]
    ticked = [b for b in how.button_texts() if b.startswith("✅ ") and b != "👍 Klaar"]
    assert how.edited and ticked == ["✅ ☕ Met een pauze"]  # the tick first, then the picto
    await h.tap(sam, "Kort")
    await h.tap(sam, "Kort")  # and off again
    out = await h.tap(sam, "👍 Klaar")
    assert "Er zijn nog geen naasten bij Gespreksmaatje." in texts(out)
    out = await h.tap(sam, "➡️ Verder")

    review = texts(out)
    assert review.startswith("Dit is je lijst.")
    for title, content in [("Waar ik goed in ben", "• Ik kan goed tekenen\n• En fietsen"),
                           ("Waar ik over wil praten", "• Ik wil op mezelf wonen\n"
                            "• Meer geld voor de bus\n• Ik wil ander werk"),
                           ("Wie het gesprek leidt", "• Samen met iemand"),
                           ("Hoe het gesprek gaat", "• Met een pauze")]:
        assert f"{title}\n{content}" in review
    assert "open" not in review and "Weet ik nog niet" not in review
    assert len(out) == 2 and out[1].kind == "photo"  # the list; its picture with the buttons
    assert out[1].button_texts() == ["👍 Ja, het klopt", "✏️ Iets veranderen"]
    out = await h.tap(sam, "👍 Ja, het klopt")
    assert "Je lijst is klaar" in texts(out)

    assert await answers_of(h, "good_at") == ["Ik kan goed tekenen", "En fietsen"]
    assert await answers_of(h, "agenda") == ["Ik wil op mezelf wonen", "Meer geld voor de bus",
                                             "Ik wil ander werk"]
    # Texts are encrypted at rest (random nonces): compare in Python, not in SQL.
    (domain_item,) = [a for a in await h.rows(Answer) if a.text == "Ik wil ander werk"]
    assert domain_item.tag == "domain_daytime"
    for step in OPEN_STEPS:
        assert await answers_of(h, step) == [f"antwoord {step}"]
    assert await answers_of(h, "meeting_how") == ["how_break"]
    assert await h.rows(Share) == []  # nothing is shared until the client chooses
    assert (await session_of(h)).step == "done"
    for message in sam.messages:  # one question per message, always
        assert message.content.count("?") <= 1, message.content

    # Coming back after confirming: a message is added to the topics, nothing lost.
    out = await h.say(sam, "Nog iets over mijn fiets")
    assert "bij je onderwerpen gezet" in texts(out)
    assert (await answers_of(h, "agenda"))[-1] == "Nog iets over mijn fiets"


async def test_skipped_question_comes_back_at_the_review(h: Harness) -> None:
    sam = await go_to_agenda(h)
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # agenda: the help first
    assert "Hier zijn onderwerpen om aan te denken" in texts(out)
    assert len([b for b in labels(out) if b.startswith("💡")]) == 0
    await h.tap(sam, "🤷 Weet ik nog niet")  # agenda: still nothing, skipped
    out = await h.tap(sam, "🤷 Weet ik nog niet")  # good day
    assert "Deze vraag komt later terug" in texts(out)
    for _ in range(8):
        await h.tap(sam, "🤷 Weet ik nog niet")
    await h.tap(sam, "Ja, ik leid het gesprek")
    await h.tap(sam, "👍 Klaar")
    out = await h.tap(sam, "➡️ Verder")
    assert "Er zijn nog 10 vragen open." in texts(out)
    out = await h.tap(sam, "📝 Open vragen doen")
    assert questions(out) == ["Waar wil jij het over hebben in je gesprek?"]
    await h.say(sam, "Mijn kamer")
    out = await h.tap(sam, "➡️ Nee, verder")
    assert texts(out).startswith("Dit is je lijst.")  # back at the review
    assert "• Waar ik over wil praten" not in texts(out)
    assert await answers_of(h, "agenda") == ["Mijn kamer"]


async def test_pause_and_resume_days_later(h: Harness) -> None:
    sam = await go_to_agenda(h)
    out = await h.tap(sam, "⏸️ Pauze")
    assert "We gaan later verder" in texts(out)
    assert (await session_of(h)).status == "paused"
    out = await h.act(sam, sam.send_command("/verder"))
    assert "Fijn dat je er weer bent!" in texts(out)
    assert questions(out) == ["Waar wil jij het over hebben in je gesprek?"]
    await h.tap(sam, "⏸️ Pauze")
    # Any message resumes; it is no answer to the open question ("Hoi, ik ben er weer"):
    # kept under "Ook gezegd", and the question comes again first.
    out = await h.say(sam, "Hoi ik ben er weer")
    assert "Fijn dat je er weer bent!" in texts(out)
    assert "Ook gezegd" in texts(out)
    assert questions(out)[-1] == "Waar wil jij het over hebben in je gesprek?"
    assert await answers_of(h, "agenda") == []
    assert await answers_of(h, "extra") == ["Hoi ik ben er weer"]
    assert (await session_of(h)).status == "active"


async def test_back_and_again(h: Harness) -> None:
    sam = await go_to_agenda(h)
    out = await h.tap(sam, "⬅️ Terug")
    assert "Je antwoord nu:\n• Dat ik goed luister" in texts(out)
    assert questions(out) == ["Wat vinden andere mensen fijn aan jou?"]
    old = [m for m in sam.messages if m.buttons][-1]
    out = await h.tap(sam, "🔁 Nog eens horen")
    assert questions(out) == ["Wat vinden andere mensen fijn aan jou?"]
    before = (await session_of(h)).seq
    out = await h.act(sam, sam.press(old, "⬅️ Terug"))  # a button of the older copy
    assert texts(out) == "Die knop hoort bij een eerdere vraag."
    assert (await session_of(h)).step == "appreciated" and (await session_of(h)).seq == before


async def test_stop_keeps_everything(h: Harness) -> None:
    sam = await go_to_agenda(h)
    out = await h.act(sam, sam.send_command("/stop"))
    assert "Alles wat je hebt verteld, blijft bewaard" in texts(out)
    out = await h.say(sam, "hallo?")
    assert "We zijn gestopt." in texts(out)
    assert await answers_of(h, "good_at") == ["Ik kan goed tekenen"]
    assert await answers_of(h, "agenda") == []
    out = await h.act(sam, sam.send_command("/verder"))
    assert questions(out) == ["Waar wil jij het over hebben in je gesprek?"]


async def test_change_remove_reorder_add_from_the_list(h: Harness) -> None:
    sam = await go_to_agenda(h)
    for topic in ["Wonen", "Werk", "Vakantie"]:
        await h.say(sam, topic)
        await h.tap(sam, "➕ Ja, nog iets")
    out = await h.act(sam, sam.send_command("/lijst"))
    assert texts(out).startswith("Dit is je lijst.")
    assert "➡️ Verder met de vragen" in labels(out)
    assert len(out) == 2  # the list as text; its picture with the buttons (speech off)
    out = await h.tap(sam, "✏️ Iets veranderen")  # one menu of the parts
    assert "Waar ik over wil praten" in labels(out) or "🗣️ Waar ik over wil praten" in labels(out)
    out = await h.tap(sam, "Waar ik over wil praten")
    items = [m for m in out if m.text in {"Wonen", "Werk", "Vakantie"}]
    assert [m.text for m in items] == ["Wonen", "Werk", "Vakantie"]
    await h.act(sam, sam.press(items[2], "⬆️ Omhoog"))
    assert await answers_of(h, "agenda") == ["Wonen", "Vakantie", "Werk"]
    out = await h.act(sam, sam.press(sam.messages[-2], "🗑️ Weg"))  # "Werk", now last
    assert "Ik heb het weggehaald." in texts(out)
    assert await answers_of(h, "agenda") == ["Wonen", "Vakantie"]
    removed = [a for a in await h.rows(Answer) if a.text == "Werk"]
    assert removed[0].removed_at is not None  # kept, marked removed
    first = [m for m in out if m.text == "Wonen"][0]
    out = await h.act(sam, sam.press(first, "✏️ Veranderen"))
    await h.say(sam, "Op mezelf wonen")
    await h.tap(sam, "➕ Erbij")
    await h.say(sam, "Sporten")
    assert await answers_of(h, "agenda") == ["Op mezelf wonen", "Vakantie", "Sporten"]
    out = await h.tap(sam, "📋 Terug naar de lijst")
    assert texts(out).startswith("Dit is je lijst.")
    await h.tap(sam, "✏️ Iets veranderen")
    out = await h.tap(sam, "Waar ik goed in ben")  # an open question: its answers, one by one
    (answer,) = [m for m in out if m.content == "Ik kan goed tekenen"]
    assert "⬆️ Omhoog" not in answer.button_texts()  # order only matters for the topics
    await h.act(sam, sam.press(answer, "✏️ Veranderen"))
    out = await h.say(sam, "Ik kan goed koken")  # replaces that answer
    assert "Ik heb het veranderd." in texts(out)
    assert await answers_of(h, "good_at") == ["Ik kan goed koken"]
    await h.tap(sam, "📋 Terug naar de lijst")
    await h.tap(sam, "✏️ Iets veranderen")
    out = await h.tap(sam, "Wat mij helpt")  # still empty: the question itself
    assert questions(out) == ["Wat helpt jou?"]
    await h.say(sam, "Een vaste dag")
    out = await h.tap(sam, "➡️ Verder")
    assert texts(out).startswith("Dit is je lijst.")  # and back to the list
    assert await answers_of(h, "works") == ["Een vaste dag"]
    out = await h.tap(sam, "➡️ Verder met de vragen")
    assert questions(out) == ["Waar wil jij het over hebben in je gesprek?"] or questions(
        out) == ["Waar wil je nog meer over praten?"]


async def test_long_text_split_by_telegram_is_kept_whole(h: Harness) -> None:
    sam = await go_to_agenda(h)
    first, rest = "a" * 4096, "b" * 900
    await h.say(sam, first)
    await h.say(sam, rest)  # Telegram sends the rest at once as a second message
    rows = await h.rows(Answer, Answer.step == "agenda")
    assert [(r.item, r.part, len(r.text)) for r in sorted(rows, key=lambda r: r.id)] == [
        (1, 1, 4096), (1, 2, 900)]


async def test_photos_voice_and_video_are_answers(h: Harness) -> None:
    sam = await go_to_agenda(h)
    out = await h.act(sam, sam.send_voice(b"OggS-fake-voice", duration=12))
    assert "Dank je voor je spraakbericht." in texts(out)
    await h.act(sam, sam.send_photo(b"\xff\xd8fake-jpeg", caption="Mijn kamer"))
    await h.act(sam, sam.send_video(b"fake-mp4", duration=3))
    rows = sorted(await h.rows(Answer, Answer.step == "agenda"), key=lambda r: r.id)
    assert [(r.kind, r.text, r.duration) for r in rows] == [
        ("voice", "", 12.0), ("photo", "Mijn kamer", None), ("video", "", 3.0)]
    assert all(r.file_id for r in rows)
    out = await h.act(sam, sam.send_command("/lijst"))
    assert "• [spraakbericht, 0:12]\n• [foto] Mijn kamer\n• [video, 0:03]" in texts(out)


async def test_editing_a_sent_message_updates_the_answer(h: Harness) -> None:
    sam = await go_to_agenda(h)
    await h.say(sam, "Ik wil verhuizn")
    message_id = sam.sent_message_ids[-1]
    out = await h.act(sam, sam.edit(message_id, "Ik wil verhuizen"))
    assert "Ik heb je antwoord aangepast." in texts(out)
    assert await answers_of(h, "agenda") == ["Ik wil verhuizen"]
    from bot.state.models import AnswerHistory

    (history,) = await h.rows(AnswerHistory)
    assert history.old_text == "Ik wil verhuizn"


async def test_two_clients_never_see_each_other(h: Harness) -> None:
    import asyncio

    sam = await h.join(1001, "Sam")
    noor = await h.join(1002, "Noor")
    await asyncio.gather(h.tap(sam, "➡️ Beginnen"), h.tap(noor, "➡️ Beginnen"))
    await asyncio.gather(h.say(sam, "Geheim van Sam"), h.say(noor, "Geheim van Noor"))
    await asyncio.gather(h.tap(sam, "➡️ Verder"), h.tap(noor, "➡️ Verder"))
    await asyncio.gather(h.act(sam, sam.send_command("/lijst")),
                         h.act(noor, noor.send_command("/lijst")))
    assert "Geheim van Sam" in texts(sam.messages) and "Noor" not in texts(sam.messages)
    assert "Geheim van Noor" in texts(noor.messages) and "Sam" not in texts(noor.messages)
    async with h.store.unit() as unit:
        per_client = (await unit.session.execute(
            select(Answer.client_id, func.count()).group_by(Answer.client_id))).all()
    assert sorted(count for _, count in per_client) == [1, 1]
