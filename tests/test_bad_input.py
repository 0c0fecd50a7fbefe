"""Bad input gets a short, friendly answer and changes nothing it should not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.dialogs.client_prep import FLOW
from bot.dialogs.texts import t
from bot.state.models import Answer, DialogSession, Inbox, Invite, Person, token_hash
from tests.harness import Harness, questions, texts

NOT_USABLE = "Dit kan ik niet gebruiken."


async def joined(h: Harness) -> object:
    sam = await h.join(1001, "Sam")
    await h.tap(sam, "➡️ Beginnen")
    return sam


async def state(h: Harness) -> tuple[str, int, str]:
    (row,) = await h.rows(DialogSession)
    return row.step, row.seq, row.status


async def test_unusable_messages_change_nothing(h: Harness) -> None:
    sam = await joined(h)
    before = await state(h)
    for send in (sam.send_sticker(), sam.send_animation(), sam.send_location(52.1, 5.1),
                 sam.send_contact("+31612345678", "Anja"), sam.send_poll("Ja?", ["ja", "nee"]),
                 sam.send_document(b"%PDF-1.4", "plan.pdf", "application/pdf")):
        out = await h.act(sam, send)
        assert texts(out).startswith(NOT_USABLE)
    assert await state(h) == before
    assert await h.rows(Answer) == []


async def test_long_and_emoji_only_texts_are_answers(h: Harness) -> None:
    sam = await joined(h)
    long_text = ("Ik wil graag vertellen over mijn dag. " * 200)[:4096]
    await h.say(sam, long_text)
    await h.say(sam, "👍🎨")
    rows = sorted(await h.rows(Answer), key=lambda r: r.id)
    assert [r.text for r in rows] == [long_text, "👍🎨"]


async def test_commands_out_of_place(h: Harness) -> None:
    sam = await joined(h)
    before = await state(h)
    out = await h.act(sam, sam.send_command("/bestaatniet"))
    assert "Dat ken ik niet." in texts(out)
    assert questions(out) == ["Waar ben jij goed in?"]
    out = await h.act(sam, sam.send_command("/start"))
    assert "Je bent al aangemeld." in texts(out)
    out = await h.act(sam, sam.send_command("/start", "someone-elses-token"))
    assert "Je bent al aangemeld." in texts(out)
    step, _seq, status = await state(h)
    assert (step, status) == (before[0], before[2])
    assert await h.rows(Answer) == []


async def test_stale_forged_and_malformed_buttons(h: Harness) -> None:
    sam = await joined(h)
    question = [m for m in sam.messages if m.buttons][-1]
    before = await state(h)
    seq = before[1]
    for data in (f"{seq - 1}:sk", f"{seq}:zz", f"{seq}:ch:domain_health", f"{seq}:rm:99",
                 "garbage", "", f"{seq}:cg:not_a_step", "9" * 64):
        update_id = await sam.press_data(question.message_id, data)
        await h.handled(update_id)
        await sam.wait_for_callback_answer(update_id)  # answered, no spinner
        assert sam.messages[-1].text == "Die knop hoort bij een eerdere vraag.", data
    assert sam.messages[-1].text == "Die knop hoort bij een eerdere vraag."
    assert await state(h) == before
    assert await h.rows(Answer) == []


async def test_group_chat_gets_one_polite_line_and_nothing_is_stored(h: Harness) -> None:
    sam = h.server.user(2001, first_name="Sam")
    group = h.server.group(-5001, "Familie")
    update_id = await group.add_bot(sam)
    await h.handled(update_id)
    assert [m.text for m in group.messages] == [
        "Ik werk alleen in een chat met één persoon.\nStuur me een bericht in een eigen chat."]
    update_id = await group.send_text(sam, "Hallo bot, wat vind je van mijn plan?")
    await h.handled(update_id)
    assert len(group.messages) == 1  # then nothing
    assert await h.rows(Person) == [] and await h.rows(Answer) == []
    assert all(row.payload is None for row in await h.rows(Inbox))


async def test_blocking_the_bot_pauses_the_session(h: Harness) -> None:
    sam = await joined(h)
    update_id = await sam.block_bot()
    await h.handled(update_id)
    assert (await state(h))[2] == "paused"
    update_id = await sam.unblock_bot()
    await h.handled(update_id)
    out = await h.say(sam, "Ik ben er weer")
    assert "Fijn dat je er weer bent!" in texts(out)
    assert (await state(h))[2] == "active"


async def test_strangers_and_bad_links(h: Harness) -> None:
    stranger = h.server.user(3001, first_name="Onbekend")
    out = await h.say(stranger, "hallo")
    assert "Je hebt een link nodig om mee te doen." in texts(out)
    out = await h.act(stranger, stranger.send_command("/start"))
    assert "Je hebt een link nodig" in texts(out)
    out = await h.act(stranger, stranger.send_command("/start", "not-a-token"))
    assert "Deze link werkt niet." in texts(out)
    assert await h.rows(Person) == []

    token = await h.enrol("Sam")
    async with h.store.unit() as unit:  # make it expired
        (invite,) = (await unit.session.execute(
            Invite.__table__.select().where(Invite.token_hash == token_hash(token)))).all()
        row = await unit.session.get(Invite, invite.id)
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    out = await h.act(stranger, stranger.send_command("/start", token))
    assert "Deze link werkt niet." in texts(out)

    token = await h.enrol("Noor")
    noor = h.server.user(3002, first_name="Noor")
    out = await h.act(noor, noor.send_command("/start", token))
    assert "Hoi Noor" in texts(out)
    out = await h.act(stranger, stranger.send_command("/start", token))  # used once already
    assert "Deze link werkt niet." in texts(out)
    persons = await h.rows(Person)
    assert [p.telegram_user_id for p in persons] == [3002]


async def test_every_state_accepts_a_message_or_explains(h: Harness) -> None:
    """No state leaves a typed message without a place to go."""
    for state_name in FLOW.machine.states:
        assert "answer" in FLOW.triggers(state_name), state_name


async def test_a_failing_update_is_kept_and_the_person_hears_it(h: Harness) -> None:
    """A bug in handling one update: the raw update stays (marked failed, not replayed),
    the person gets one kind line, and the next message works."""
    sam = await joined(h)
    assert h.runner is not None
    conversation = h.runner.service
    real = conversation._route

    async def broken(unit, incoming):  # type: ignore[no-untyped-def]
        if incoming.input is not None and incoming.input.text == "boem":
            raise RuntimeError("a bug")
        return await real(unit, incoming)

    conversation._route = broken  # type: ignore[method-assign]
    update_id = await sam.send_text("boem")
    await h.handled(update_id)
    assert sam.messages[-1].text == t("error_sorry")
    (row,) = await h.rows(Inbox, Inbox.update_id == update_id)
    assert row.state == "failed" and row.payload is not None
    # What is kept is the update as Telegram sent it, to the letter.
    assert row.payload == next(u for u in h.server.all_updates if u["update_id"] == update_id)
    assert await h.rows(Answer) == []
    out = await h.say(sam, "Tekenen")
    assert "Dank je." in texts(out)
    assert len(await h.rows(Answer)) == 1


def test_a_meeting_date_years_away_is_no_date() -> None:
    """Found by the fuzzer: "31-12-9999" was taken, and planning the day after the meeting
    overflowed. A date more than five years from now is a typo: the begeleider is asked
    again (the usual "Die datum begrijp ik niet")."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.dialogs.begeleider import parse_when

    now, tz = datetime(2026, 12, 6, 12, tzinfo=UTC), ZoneInfo("Europe/Amsterdam")
    assert parse_when("31-12-9999", now, tz) is None
    assert parse_when("1-1-2032", now, tz) is None
    assert parse_when("1-1-2031 10:00", now, tz) == datetime(2031, 1, 1, 9, tzinfo=UTC)
    assert parse_when("1-6-2025", now, tz) is not None  # a meeting held last year: fine
