"""Rounds (issue 15): every meeting has its own round. Planning the next meeting after the
last one was held starts a new round: the preparation begins again, the agenda holds only
the new round, and nothing of the earlier round is lost or changed. Existing data migrates
into round 1."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from pypdf import PdfReader
from sqlalchemy import create_engine, text

from bot.agenda import fhir
from bot.agenda.compile import compile_agenda
from bot.agenda.export_json import to_dict, validate
from bot.agenda.model import PARTS
from bot.agenda.pdf import begeleider_pdf
from bot.dialogs.texts import t
from bot.state.migrate import alembic_config, upgrade
from bot.state.models import AgendaItem, Agreement, Answer, CheckIn, Client, token_hash, utcnow
from bot.state.store import Store
from pictos import PictoLibrary
from tests import conftest
from tests.harness import Harness, texts
from tests.test_agreements_bot import send_agreement
from tests.test_service import SAM, World, staff, started, tap
from tests.test_service import texts as replies_of
from tests.test_triangle import admin_and_begeleider, client_with_topic


@pytest.fixture(params=conftest._databases())
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet) on SQLite or the private PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"m_{uuid.uuid4().hex[:12]}"
    conftest._pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{conftest.POSTGRES}/{name}"
    finally:
        conftest._pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sync(url: str) -> str:
    """The same database for a plain (not async) engine: psycopg serves both."""
    return url.replace("+aiosqlite", "")


async def test_existing_data_becomes_round_1_and_a_new_round_keeps_it(empty_db: str) -> None:
    # The schema before agreements and rounds (Alembic runs its own loop: a thread).
    await asyncio.to_thread(command.upgrade, alembic_config(empty_db), "0003")
    engine = create_engine(_sync(empty_db))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisation (id, name, created_at) "
                          "VALUES (1, 'Org', :now)"), {"now": now})
        conn.execute(text("INSERT INTO client (id, organisation_id, name, created_at) "
                          "VALUES (1, 1, 'Sam', :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO answer (id, client_id, step, item, part, kind, text, created_at) "
            "VALUES (1, 1, 'agenda', 1, 1, 'text', 'Op mezelf wonen', :now)"), {"now": now})
        conn.execute(text(
            "INSERT INTO agenda_item (id, client_id, owner_role, kind, text, position, "
            "created_at) VALUES (1, 1, 'begeleider', 'topic', 'Sporten', 1, :now)"),
            {"now": now})
        # A start link sent before tokens were kept as a hash (migration 0007).
        conn.execute(text(
            "INSERT INTO invite (id, token, role, organisation_id, client_id, created_at, "
            "expires_at) VALUES (1, 'link-sent-before', 'client', 1, 1, :now, :later)"),
            {"now": now, "later": now + timedelta(days=30)})
    engine.dispose()
    await upgrade(empty_db)
    store = Store(empty_db)
    try:
        async with store.unit() as unit:
            client = await unit.get(Client, 1)
            assert client is not None and client.round == 1
            assert [a.text for a in await unit.answers(1)] == ["Op mezelf wonen"]
            assert [i.text for i in await unit.agenda_items_of(1, ["begeleider"])] == ["Sporten"]
            assert await unit.start_round(1) == 2
        async with store.unit() as unit:
            assert await unit.answers(1) == []
            assert await unit.agenda_items_of(1, ["begeleider"]) == []
            (old,) = (await unit.session.execute(text("SELECT text, round, removed_at FROM "
                                                      "answer WHERE id = 1"))).all()
            assert tuple(old) == ("Op mezelf wonen", 1, None)
            (kept,) = (await unit.session.execute(text("SELECT token FROM invite"))).all()
            assert kept[0] == token_hash("link-sent-before") != "link-sent-before"
        async with store.unit() as unit:  # the link sent before still works, once
            redeemed = await unit.redeem_invite("link-sent-before", 4242, 4242, "Sam", now)
            assert redeemed.reason == "ok" and redeemed.client is not None
    finally:
        await store.close()


async def test_the_next_meeting_starts_a_new_round(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, "Op mezelf wonen")
    # The first meeting was yesterday; the agreements were sent.
    await h.act(bram, bram.send_command("/clienten"))
    await h.tap(bram, "Sam")
    await h.tap(bram, "📅 Gesprek plannen")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    await h.say(bram, yesterday.strftime("%d-%m-%Y 14:00"))
    await h.say(bram, "Op kantoor")
    await send_agreement(h, bram, "Elke week zwemmen", "Samen", topic="Op mezelf wonen")
    (made,) = await h.rows(Agreement)
    assert made.topic == "Op mezelf wonen"  # linked to Sam's topic

    # Bram plans the next meeting: round 2.
    await h.tap(bram, "⬅️ Terug")
    await h.tap(bram, "📅 Gesprek plannen")
    out = await h.say(bram, (datetime.now(UTC) + timedelta(days=30)).strftime("%d-%m-%Y 14:00"))
    assert "dit wordt ronde 2" in texts(out)
    await h.say(bram, "Op de groep")
    (client,) = await h.rows(Client)
    assert client.round == 2

    # Sam starts again from the welcome; the old topic is not in the new list.
    out = await h.act(sam, sam.send_command("/verder"))
    assert "Beginnen" in str([m.button_texts() for m in out])
    await h.tap(sam, "➡️ Beginnen")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.tap(sam, "🤷 Weet ik nog niet")
    await h.say(sam, "Ander werk")
    before = len(bram.messages)
    await h.act(bram, bram.send_command("/agenda"))
    agenda = texts(bram.messages[before:])
    assert "Ander werk" in agenda and "Op mezelf wonen" not in agenda
    # "Sinds de vorige keer": the agreement, in the agenda and in the exports.
    assert "Sinds de vorige keer" in agenda and "Elke week zwemmen" in agenda
    async with h.store.unit() as unit:
        compiled = await compile_agenda(unit, client.id, set(PARTS), "begeleider",
                                        datetime.now(UTC))
    doc = to_dict(compiled)
    validate(doc)
    assert doc["round"] == 2 and doc["since_last"] == [
        {"text": "Elke week zwemmen", "who": "samen", "moods": []}]
    exported = fhir.bundle(compiled)
    kinds = [e.resource.get_resource_type() for e in exported.entry or []]
    assert kinds == ["Questionnaire", "QuestionnaireResponse", "Goal", "CarePlan"]
    response, goal, care_plan = (e.resource for e in (exported.entry or [])[1:])
    assert response.identifier[0].value == f"{client.id}:2"
    assert goal.description.text == "Elke week zwemmen"
    assert care_plan.supportingInfo[0].reference == (exported.entry or [])[1].fullUrl
    pdf = PdfReader(io.BytesIO(begeleider_pdf(compiled, PictoLibrary.load())))
    printed = "".join(page.extract_text() for page in pdf.pages)
    assert "Elke week zwemmen" in printed and "Gesprek 2" in printed

    # Nothing of round 1 is lost or changed; the agreements stay.
    old = {a.text: (a.round, a.removed_at) for a in await h.rows(Answer)}
    assert old["Op mezelf wonen"] == (1, None)
    assert old["Ander werk"] == (None, None)
    assert [a.text for a in await h.rows(Agreement)] == ["Elke week zwemmen"]
    assert await h.rows(AgendaItem) == []


async def test_the_next_round_asks_klopt_dit_nog_with_last_times_answer() -> None:
    """Round 2: last time's answer is shown and said; "Ja, klopt nog" copies it into this
    round (the old rows stay in round 1), "Nee, nu anders" asks the question plainly."""
    w = World()
    question = await started(w)
    await w.say(SAM, "Ik kan goed tekenen")
    async with w.store.unit() as unit:
        assert await unit.start_round(w.client.id) == 2
    # The begeleider's next meeting: the preparation starts again (as _next_round does).
    (key,) = [k for k in w.store.tables.sessions if k[1] == "client_prep"]
    w.store.tables.sessions[key].step = "welcome"
    w.store.tables.sessions[key].data = {"round": 2}
    assert question is not None
    welcome = await w.command(SAM, "verder")
    asked = await w.press(SAM, welcome, t("btn_start"))
    assert asked is not None
    shown = asked.replies[0]
    assert t("previous_answer", answer="Ik kan goed tekenen") in shown.text
    assert shown.speak is not None and "Ik kan goed tekenen" in shown.speak
    kept = await w.press(SAM, asked, t("btn_keep_previous"))
    assert kept is not None and t("kept_previous") in kept.replies[0].text
    rows = sorted(w.store.tables.of(Answer).values(), key=lambda a: a.id)
    assert [(a.step, a.text, a.round) for a in rows] == [
        ("good_at", "Ik kan goed tekenen", 1), ("good_at", "Ik kan goed tekenen", None)]
    # The next question had an answer last time too? Not here: asked plainly.
    assert t("previous_still") not in kept.replies[0].text


async def test_the_next_round_offers_open_topics_and_agreements_one_at_a_time() -> None:
    """Round 2's agenda question first offers what was not (fully) talked about last time
    and each agreement with how it went; only a yes puts it on the agenda."""
    w = World()
    await started(w)
    for item, (topic, talked) in enumerate([("Op mezelf wonen", "talked_no"),
                                            ("Ander werk", "talked_yes")], 1):
        w.store.add(Answer(client_id=w.client.id, step="agenda", item=item, part=1,
                           kind="text", text=topic, removed_at=None, round=None))
        w.store.add(Answer(client_id=w.client.id, step="talked", item=item, part=1,
                           kind="choice", text=talked, tag=talked, removed_at=None,
                           round=None))
    swim = w.store.add(Agreement(client_id=w.client.id, text="Elke week zwemmen",
                                 who="client", removed_at=None, sent_at=utcnow()))
    w.store.add(CheckIn(client_id=w.client.id, agreement_id=swim.id, mood="bad", text=""))
    async with w.store.unit() as unit:
        await unit.start_round(w.client.id)
    (key,) = [k for k in w.store.tables.sessions if k[1] == "client_prep"]
    w.store.tables.sessions[key].step, w.store.tables.sessions[key].data = "agenda", {
        "round": 2}

    offer = await w.command(SAM, "verder")
    assert offer is not None
    assert t("offer_topic", topic="Op mezelf wonen") in offer.replies[0].text
    assert offer.replies[0].speak
    second = await w.press(SAM, offer, t("btn_offer_yes"))
    assert second is not None and t("offer_added") in second.replies[0].text
    assert "Elke week zwemmen" in second.replies[0].text
    assert t("offer_went_bad").strip() in second.replies[0].text
    asked = await w.press(SAM, second, t("btn_offer_no"))
    assert asked is not None and t("q_agenda_next") in asked.replies[0].text
    now = [(a.step, a.text) for a in w.answers() if a.round is None]
    assert now == [("agenda", "Op mezelf wonen")]  # "Ander werk" was talked about: not offered
    # An old offer's button does nothing now.
    again = await w.press(SAM, offer, t("btn_offer_yes"))
    assert again is not None and [(a.step, a.text) for a in w.answers()
                                  if a.round is None] == now


async def test_earlier_rounds_are_read_back_to_the_client_and_shown_to_the_begeleider() -> None:
    w = World()
    staff(w)
    await started(w)
    await w.say(SAM, "Ik kan goed tekenen")
    assert replies_of(await w.command(SAM, "vorige")) == [t("history_none")]
    async with w.store.unit() as unit:
        await unit.start_round(w.client.id)
    await w.say(SAM, "Ik kan goed zingen")  # round 2's answer: not in the history
    heard = await w.command(SAM, "vorige")
    assert heard is not None
    (reply,) = heard.replies
    assert t("history_round", n=1) in reply.text and "Ik kan goed tekenen" in reply.text
    assert "zingen" not in reply.text
    assert reply.speak is not None and "Ik kan goed tekenen" in reply.speak
    home = await w.command(33, "start")
    screen = await tap(w, 33, home, "op", w.client.id)
    shown = await tap(w, 33, screen, "hi")
    assert shown is not None and any("Ik kan goed tekenen" in r.text for r in shown.replies)
    reads = {a.part for a in w.store.tables.audit if a.viewer_person_id != w.sam.id}
    assert "good_at" in reads  # the begeleider's look is in the access log
