"""The defects of issue 12, each driven through the local Bot API as a person would meet
them: words kept but hidden, the sharing skip, the trap before "Beginnen", long answers and
long lists, playback for the begeleider, labels instead of keys, misleading answers."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.state.models import Answer, AuditLog, Inbox, Person
from localbotapi.server import BotMessage, UserHandle
from tests.harness import Harness, labels, questions, texts
from tests.test_triangle import admin_and_begeleider, invite_naaste, new_client, token_in

TEXT_LIMIT = 4096


async def extra_texts(h: Harness) -> list[str]:
    rows = await h.rows(Answer, Answer.step == "extra", Answer.removed_at.is_(None))
    return [r.text for r in sorted(rows, key=lambda r: (r.item, r.part))]


def visible(message: BotMessage) -> int:
    return len(message.text or "")


async def no_failures(h: Harness) -> None:
    assert await h.rows(Inbox, Inbox.state == "failed") == []


async def begeleider_agenda(h: Harness, bram: UserHandle, client: str) -> list[BotMessage]:
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, client)
    return await h.tap(bram, "📋 Agenda")


async def test_words_outside_questions_are_kept_and_shown(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    out = await h.say(sam, "Ik heb er zin in")  # at the welcome
    assert "Ook gezegd" in texts(out) and len(out) == 1  # not the whole welcome again
    await h.tap(sam, "➡️ Beginnen")
    forwarded = sam._message_update({"text": "Groetjes van mama", "forward_origin": {
        "type": "user", "date": 0,
        "sender_user": {"id": 4242, "is_bot": False, "first_name": "Mama"}}})
    out = await h.act(sam, asyncio.sleep(0, forwarded))
    assert "komt van iemand anders" in texts(out)
    assert await h.rows(Answer, Answer.step == "good_at") == []  # not Sam's own answer
    await h.act(sam, sam.send_command("/delen"))
    await h.say(sam, "Mama mag alles zien")  # at the sharing step
    await h.act(sam, sam.send_command("/stop"))
    out = await h.say(sam, "Nog één ding")  # after /stop
    assert "We zijn gestopt" in texts(out) and "Ook gezegd" in texts(out)
    assert await extra_texts(h) == ["Ik heb er zin in", "Groetjes van mama",
                                    "Mama mag alles zien", "Nog één ding"]
    (tagged,) = await h.rows(Answer, Answer.tag == "forwarded")
    assert tagged.text == "Groetjes van mama"

    out = await h.act(sam, sam.send_command("/lijst"))
    listing = texts(out)
    for said in ("Ik heb er zin in", "Groetjes van mama", "Mama mag alles zien",
                 "Nog één ding"):
        assert said in listing
    agenda = texts(await begeleider_agenda(h, bram, "Sam"))
    assert "Ook gezegd" in agenda and "Nog één ding" in agenda
    await no_failures(h)


async def test_own_words_at_chair_and_how_reach_the_agenda(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    for _ in range(12):  # skip to the chair question
        out = await h.tap(sam, "🤷 Weet ik nog niet")
        if any("leiden" in q for q in questions(out)):
            break
    await h.say(sam, "Samen met mijn zus")
    await h.tap(sam, "➡️ Verder")
    await h.say(sam, "Met muziek erbij")
    agenda = texts(await begeleider_agenda(h, bram, "Sam"))
    assert "Samen met mijn zus" in agenda and "Met muziek erbij" in agenda


async def test_skipping_the_sharing_step_and_the_list_before_beginning(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    out = await h.act(sam, sam.send_command("/delen"))  # before "Beginnen"
    out = await h.tap(sam, "🤷 Weet ik nog niet")
    assert "Je deelt nu nog niets" in texts(out)
    assert "Er ging iets mis" not in texts(sam.messages)
    out = await h.tap(sam, "➡️ Verder met de vragen")  # back where Sam left for sharing
    assert "Hoi Sam" in texts(out) and "Die knop hoort" not in texts(out)
    await h.tap(sam, "➡️ Beginnen")
    out = await h.act(sam, sam.send_command("/lijst"))
    out = await h.act(sam, sam.send_command("/verder"))  # /verder too leads back
    assert questions(out) == ["Waar ben jij goed in?"]
    await no_failures(h)


async def test_a_long_answer_keeps_the_list_readable(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    long = ("<b>koken</b> & fietsen " * 400)[:TEXT_LIMIT]
    await h.say(sam, long)
    await h.say(sam, "ä" * TEXT_LIMIT)
    await h.tap(sam, "➡️ Verder")
    await h.say(sam, "kort " * 800)
    await h.say(sam, "en nog meer " * 300)  # Telegram's split of one long text
    for _ in range(3):
        out = await h.act(sam, sam.send_command("/lijst"))
        assert all(visible(m) <= TEXT_LIMIT for m in out)
        assert "koken" in texts(out) and "Er ging iets mis" not in texts(out)
    assert not h.server.bot_errors
    await no_failures(h)


async def test_long_lists_are_paged(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.tap(sam, "🤷 Weet ik nog niet")
    for number in range(1, 91):
        await h.say(sam, f"Onderwerp {number}")
    out = await h.act(sam, sam.send_command("/lijst"))
    assert len(out) <= 40 and all(visible(m) <= TEXT_LIMIT for m in out)
    await h.tap(sam, "✏️ Iets veranderen")
    out = await h.tap(sam, "Waar ik over wil praten")
    shown = [m for m in out if m.content.startswith("Onderwerp ")]
    assert len(shown) == 8 and "Onderwerp 1 tot 8 van 90." in texts(out)
    out = await h.tap(sam, "⏩ Volgende")
    assert "Onderwerp 9 tot 16 van 90." in texts(out)
    await no_failures(h)


async def test_begeleider_plays_voice_and_sees_photo_answers(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    await h.act(sam, sam.send_voice(b"OggS" + bytes(200), duration=4))
    await h.act(sam, sam.send_photo(b"\xff\xd8\xff" + bytes(100)))
    out = await begeleider_agenda(h, bram, "Sam")
    plays = [label for label in labels(out) if label.startswith("▶️")]
    assert any("spraakbericht 0:04" in p for p in plays) and any("foto" in p for p in plays)
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    voice_label = next(p for p in plays if "spraakbericht" in p)
    out = await h.tap(bram, voice_label)
    (sent,) = [m for m in out if m.kind == "voice"]
    assert sent.raw["voice"]["file_unique_id"] == voice.file_unique_id  # Sam's own voice
    # The client sees the photo again from the list.
    await h.act(sam, sam.send_command("/lijst"))
    await h.tap(sam, "✏️ Iets veranderen")
    await h.tap(sam, "Waar ik goed in ben")
    out = await h.tap(sam, "🖼️ Foto")
    assert [m.kind for m in out if m.kind == "photo"] == ["photo"]


async def test_people_read_labels_not_keys(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    anouk = await invite_naaste(h, bram, "Sam", "Anouk", "Broer of zus", 2001)
    await h.tap(anouk, "➕ Onderwerp")
    await h.say(anouk, "Samen op vakantie")
    agenda = texts(await begeleider_agenda(h, bram, "Sam"))
    assert "broer_zus" not in agenda and "Anouk (broer of zus)" in agenda
    assert sam.messages


async def test_honest_answers_instead_of_misleading_ones(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await new_client(h, bram, "Sam", 1001)
    await h.tap(sam, "➡️ Beginnen")
    command_id = await sam.send_command("/lijst")
    await h.handled(command_id)
    sent = sam.sent_message_ids[-1]
    out = await h.act(sam, sam.edit(sent, "/lijst graag"))
    assert "Dat bericht was geen antwoord" in texts(out)
    assert "Ik heb je antwoord aangepast" not in texts(out)

    anja = await invite_naaste(h, bram, "Sam", "Anja", "Ouder", 2001)
    out = await h.act(anja, anja.send_voice(b"OggS" + bytes(50), duration=2))
    assert "Ik heb dit niet bewaard" in texts(out)
    assert "spraakbericht" not in texts(out)
    out = await h.act(bram, bram.send_sticker())
    assert "Ik heb dit niet bewaard" in texts(out)

    out = await h.act(bram, bram.send_command("/clienten"))
    out = await h.act(bram, bram.send_command("/agenda"))  # one client: her agenda
    assert "Sam" in texts(out) and "Dat ken ik niet" not in texts(out)

    # Anja saw only the date: she did not look at Sam's list.
    out = await h.act(sam, sam.send_command("/wie_keek"))
    assert "Anja" not in texts(out)

    group = h.server.group(-5001, "Familie")
    await h.act(sam, group.add_bot(sam))
    await h.act(sam, group.send_text(sam, "/start"))
    assert len(group.messages) == 2 and group.messages[-1].text == group.messages[0].text
    await no_failures(h)


async def test_forged_huge_and_missing_ids_are_refused_not_failed(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await new_client(h, bram, "Sam", 1001)
    await h.act(bram, bram.send_command("/clienten"))
    listing = [m for m in bram.messages if m.buttons][-1]
    seq = str(listing.buttons[0][0][1]).split(":")[0]
    for data in (f"{seq}:op:99999999999999999999", f"{seq}:op:424242",
                 f"{seq}:rol:client:" + "9" * 20, f"{seq}:op:-7"):
        update_id = await bram.press_data(listing.message_id, data)
        await h.handled(update_id)
        assert bram.messages[-1].text == "Deze cliënt hoort niet bij jou.", data
        assert await bram.wait_for_callback_answer(update_id)
    person = (await h.rows(Person, Person.telegram_user_id == 600))[0]
    orphans = await h.rows(AuditLog, AuditLog.viewer_person_id == person.id,
                           AuditLog.client_id.is_(None))
    assert orphans and not any(a.allowed for a in orphans)
    await no_failures(h)


async def test_two_people_race_for_one_invite_link(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    await h.act(bram, bram.send_command("/nieuwe_client"))
    token = token_in(await h.say(bram, "Sam"))
    first, second = h.server.user(3001, first_name="Een"), h.server.user(3002, first_name="Twee")
    ids = [await first.send_command("/start", token), await second.send_command("/start", token)]
    for update_id in ids:
        await h.handled(update_id)
    people = await h.rows(Person, Person.telegram_user_id.in_([3001, 3002]))
    assert len(people) == 1  # the loser keeps no person row without a role
    assert "Deze link werkt niet." in texts(second.messages) or \
        "Deze link werkt niet." in texts(first.messages)
    assert not re.search(r"Er ging iets mis", texts(first.messages + second.messages))


async def test_a_split_long_text_stays_one_item_wherever_it_lands(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    first, rest = "a" * 4096, "en de rest van het verhaal"
    await h.say(sam, first)  # at the welcome: "Ook gezegd"
    await h.say(sam, rest)  # Telegram's second half, right after
    rows = await h.rows(Answer, Answer.step == "extra")
    assert {r.item for r in rows} == {1} and len(rows) == 2
    out = await h.act(sam, sam.send_command("/ik wil over koken praten"))
    assert "Dat ken ik niet" not in texts(out)  # words after a slash are words
    assert "/ik wil over koken praten" in await extra_texts(h)


async def test_an_older_settings_screen_sets_what_it_shows(h: Harness) -> None:
    sam = await h.join(1001, "Sam")
    await h.act(sam, sam.send_command("/instellingen"))
    old = sam.messages[-1]
    await h.act(sam, sam.send_command("/instellingen"))
    new = sam.messages[-1]
    label = next(t for row in new.buttons for t, _ in row if "voorlezen" in t)
    await h.act(sam, sam.press(new, label))
    await h.act(sam, sam.press(old, label))  # the same choice again, on the older screen
    from bot.state.models import DialogSession

    (session,) = await h.rows(DialogSession, DialogSession.flow == "client_prep")
    assert session.data.get("speech") is False  # off once, not off and on again
    assert not h.server.bot_errors


async def test_two_polling_processes_lose_nothing_and_say_so_once(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    from bot.telegram.app import BotRunner

    second = BotRunner(h.settings, h.store, media=None, poll_timeout=1)
    second.listeners.append(h._on_handled)
    stop = asyncio.Event()
    task = asyncio.create_task(second.serve(stop))
    try:
        # Either poller may skip an update the other one handles: wait for quiet each time.
        sam = await h.join(1001, "Sam")
        await h.server.wait_idle()
        await h.tap(sam, "➡️ Beginnen")
        await h.server.wait_idle()
        for number in range(6):
            await h.say(sam, f"Antwoord {number}")
            await h.server.wait_idle()
        await h.server.wait_for(lambda: "409 Conflict" in caplog.text, 15,
                                lambda: "the two pollers never met")
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert [f"Antwoord {n}" for n in range(6)] == [
        r.text for r in sorted(await h.rows(Answer, Answer.step == "good_at"),
                               key=lambda r: r.part)]
    assert 1 <= caplog.text.count("Another process is polling") <= 2  # once per poller
    said = texts(sam.messages)  # each update handled once: no second go at the link
    assert said.count("Hoi Sam!") == 1 and "Deze link werkt niet" not in said
    assert said.count("Nog iets? Of tik op Verder.") == 6
    assert "Telegram unreachable" not in caplog.text
