"""Check-ins between meetings (issue 15): when the plan asks (pure), and what the client
goes through over the in-memory unit of work: a mood per agreement, words or a voice
message after it, one short line to the begeleider at the end."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.dialogs.texts import t
from bot.dialogs.types import Input
from bot.schedule.plan import CHECK_IN, EVALUATION, CheckIns, ClientState, MeetingInfo, plan
from bot.state.models import Agreement, CheckIn, utcnow
from tests.test_service import SAM, World, staff, texts

AMS = ZoneInfo("Europe/Amsterdam")
CLIENT = ClientState(person_id=1, begeleider_person_id=2, finished=True)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


def check_ins(now: datetime, check: CheckIns | None,
              client: ClientState = CLIENT) -> list[datetime]:
    meeting = MeetingInfo(local(2027, 1, 5, 14), local(2026, 12, 1, 10))
    return [s.due_at.astimezone(AMS) for s in plan(meeting, client, [], [], now,
                                                   check_ins=check).sends
            if s.kind == CHECK_IN]


def test_the_first_check_in_comes_a_rhythm_after_the_agreements_were_sent() -> None:
    sent = local(2027, 1, 6, 15, 30)
    assert check_ins(sent, CheckIns(sent, 28)) == [local(2027, 2, 3, 15, 30)]
    # Then a rhythm after the last one; never more often than once a week.
    last = local(2027, 2, 3, 15, 31)
    assert check_ins(last, CheckIns(sent, 28, last)) == [local(2027, 3, 3, 15, 31)]
    assert check_ins(sent, CheckIns(sent, 2)) == [local(2027, 1, 13, 15, 30)]


def test_a_check_in_never_comes_at_night() -> None:
    sent = local(2027, 1, 6, 22, 15)
    assert check_ins(sent, CheckIns(sent, 14)) == [local(2027, 1, 21, 9, 0)]


def test_no_check_in_after_stop_with_reminders_off_or_when_the_begeleider_said_never() -> None:
    sent = local(2027, 1, 6, 15)
    assert check_ins(sent, CheckIns(sent, 28), replace(CLIENT, stopped=True)) == []
    assert check_ins(sent, CheckIns(sent, 28), replace(CLIENT, reminders_on=False)) == []
    assert check_ins(sent, CheckIns(sent, 0)) == []
    assert check_ins(sent, None) == []


async def test_the_client_answers_a_check_in_and_the_begeleider_gets_one_line() -> None:
    w = World()
    staff(w)
    await w.command(SAM, "start")
    swim = w.store.add(Agreement(client_id=w.client.id, text="Elke week zwemmen",
                                 who="client", removed_at=None, sent_at=utcnow()))
    call = w.store.add(Agreement(client_id=w.client.id, text="Jan belt de sportschool",
                                 who="begeleider", removed_at=None, sent_at=utcnow()))
    asked = await w.service.scheduled(CHECK_IN, w.client.id, w.sam.id)
    assert asked is not None and texts(asked)[0].startswith(t("check_in_intro"))
    assert "Elke week zwemmen" in texts(asked)[0] and asked.replies[0].speak
    data = {b.label: b.data for row in asked.replies[0].buttons for b in row}
    # An old screen's button does nothing; the mood of this one is stored.
    stale_seq = int(data[t("btn_mood_bad")].split(":")[0]) - 1
    await w.send(SAM, Input("button", utcnow(), data=f"{stale_seq}:hg:bad"))
    assert w.store.tables.of(CheckIn) == {}
    words = await w.send(SAM, Input("button", utcnow(), data=data[t("btn_mood_ok")]))
    assert words is not None and t("check_in_words") in texts(words)[0]
    second = await w.say(SAM, "Het water is te koud")
    assert second is not None and "Jan belt de sportschool" in texts(second)[0]
    data = {b.label: b.data for row in second.replies[0].buttons for b in row}
    done = await w.send(SAM, Input("button", utcnow(), data=data[t("btn_check_in_skip")]))
    assert done is not None and t("check_in_done") in texts(done)[0]
    rows = list(w.store.tables.of(CheckIn).values())
    assert [(r.agreement_id, r.mood, r.text) for r in rows] == [
        (swim.id, "ok", "Het water is te koud")]
    ((chat, report),) = done.also
    assert chat == 33 and "😐 Elke week zwemmen “Het water is te koud”" in report.text
    assert call.id not in {r.agreement_id for r in rows}  # skipped: nothing stored
    # The words were the check-in's, not an answer of the preparation.
    assert "Het water is te koud" not in [a.text for a in w.answers()]
    # After the check-in, a message is the preparation's again.
    assert await w.say(SAM, "Nog iets") is not None
    assert len(w.store.tables.of(CheckIn)) == 1


async def test_a_voice_message_after_the_mood_is_kept_with_it() -> None:
    w = World()
    await w.command(SAM, "start")
    w.store.add(Agreement(client_id=w.client.id, text="Samen koken", who="samen",
                          removed_at=None, sent_at=utcnow()))
    asked = await w.service.scheduled(CHECK_IN, w.client.id, w.sam.id)
    assert asked is not None
    data = {b.label: b.data for row in asked.replies[0].buttons for b in row}
    await w.send(SAM, Input("button", utcnow(), data=data[t("btn_mood_good")]))
    done = await w.send(SAM, Input("voice", utcnow(), file_id="v1", file_unique_id="u1",
                                   duration=4.0, message_id=77))
    assert done is not None and t("check_in_done") in texts(done)[-1]
    (row,) = w.store.tables.of(CheckIn).values()
    assert (row.mood, row.kind, row.file_id) == ("good", "voice", "v1")


def test_week_rhythm_is_the_floor() -> None:
    sent = local(2027, 1, 6, 15, 30)
    assert check_ins(sent + timedelta(days=1), CheckIns(sent, 1)) == [
        local(2027, 1, 13, 15, 30)]


def test_an_evaluation_goes_out_when_asked_never_at_night_and_once() -> None:
    sent = local(2027, 1, 6, 15)
    asked = local(2027, 2, 1, 22, 30)
    meeting = MeetingInfo(local(2027, 1, 5, 14), local(2026, 12, 1, 10))
    due = [s.due_at.astimezone(AMS) for s in plan(
        meeting, CLIENT, [], [], asked, check_ins=CheckIns(sent, 28, None, asked)).sends
        if s.kind == EVALUATION]
    assert due == [local(2027, 2, 2, 9, 0)]
    assert [s for s in plan(meeting, CLIENT, [], [], asked, check_ins=CheckIns(
        sent, 28, None, asked, evaluated=True)).sends if s.kind == EVALUATION] == []
    assert [s for s in plan(meeting, replace(CLIENT, stopped=True), [], [], asked,
                            check_ins=CheckIns(sent, 28, None, asked)).sends
            if s.kind == EVALUATION] == []


async def test_an_evaluation_asks_each_agreement_then_one_open_question() -> None:
    w = World()
    staff(w)
    await w.command(SAM, "start")
    w.store.add(Agreement(client_id=w.client.id, text="Elke week zwemmen", who="client",
                          removed_at=None, sent_at=utcnow()))
    asked = await w.service.scheduled(EVALUATION, w.client.id, w.sam.id)
    assert asked is not None and texts(asked)[0].startswith(t("evaluation_intro"))
    data = {b.label: b.data for row in asked.replies[0].buttons for b in row}
    words = await w.send(SAM, Input("button", utcnow(), data=data[t("btn_mood_good")]))
    assert words is not None
    data = {b.label: b.data for row in words.replies[0].buttons for b in row}
    last = await w.send(SAM, Input("button", utcnow(), data=data[t("btn_next")]))
    assert last is not None and t("evaluation_last") in texts(last)[0]
    done = await w.say(SAM, "Ik wil vaker met Jan praten")
    assert done is not None and t("check_in_done") in texts(done)[-1]
    rows = sorted(w.store.tables.of(CheckIn).values(), key=lambda r: r.id)
    assert [(r.agreement_id is None, r.mood, r.text) for r in rows] == [
        (False, "good", ""), (True, "note", "Ik wil vaker met Jan praten")]
    ((_chat, report),) = done.also
    assert "💬 “Ik wil vaker met Jan praten”" in report.text
    # The words were the evaluation's, not an answer of the preparation.
    assert "Ik wil vaker met Jan praten" not in [a.text for a in w.answers()]
