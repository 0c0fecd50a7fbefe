"""The compiled agenda (bot/agenda): every output, access by part, hostile text, size."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bot.agenda import fhir
from bot.agenda.compile import compile_agenda
from bot.agenda.export_json import to_dict, to_json, validate
from bot.agenda.model import PARTS, Agenda, Media, Playable, format_date
from bot.agenda.pdf import begeleider_pdf, client_pdf, printable
from bot.agenda.sample import seed_sample_agenda
from bot.agenda.telegram_text import LIMIT, pack, size, spoken_text, telegram_messages
from bot.dialogs.texts import t
from bot.state.migrate import upgrade
from bot.state.models import AgendaItem, Answer, DialogSession, Naaste, Person
from bot.state.unit import Unit
from pictos import PictoLibrary

NOW = datetime(2025, 11, 24, 12, 0, tzinfo=UTC)
ARTIFACTS = Path(__file__).resolve().parents[1] / "ci-artifacts"
HOSTILE_CORE = "<b>vet</b> <script>alert('x')</script> & &amp; 😀🫠👍🏽 שלום עולם مرحبا بك"
HOSTILE = (HOSTILE_CORE + " " + "lang verhaal " * 400)[:4096]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> PictoLibrary:
    return PictoLibrary.load(cache_dir=tmp_path_factory.mktemp("pictos"))


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'agenda.db'}"
    await upgrade(url)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as db:
        yield db
    await engine.dispose()


async def _compile(db: AsyncSession, client_id: int, parts: set[str], role: str,
                   now: datetime, **kwargs: Any) -> Agenda:
    """The agenda compiled through a unit of work over this test's session."""
    return await compile_agenda(Unit(db, is_postgres=False), client_id, parts, role, now,
                                **kwargs)


async def _agenda(db: AsyncSession, parts: set[str] | None = None, role: str = "begeleider",
                  **seed: int) -> Agenda:
    client_id = await seed_sample_agenda(db, NOW, **seed)
    await db.commit()
    return await _compile(db, client_id, set(PARTS) if parts is None else parts, role,
                                NOW)


async def _add_hostile(db: AsyncSession) -> None:
    """The hostile text as a client topic, a profile answer and a naaste's question."""
    naaste = (await db.scalars(Naaste.__table__.select())).first()
    db.add_all([
        Answer(client_id=1, step="agenda", item=90, text=HOSTILE, created_at=NOW),
        Answer(client_id=1, step="important", item=90, text=HOSTILE_CORE, created_at=NOW),
        AgendaItem(client_id=1, owner_role="naaste", owner_person_id=naaste, kind="question",
                   text=HOSTILE_CORE, position=99, created_at=NOW),
    ])
    await db.commit()


FOOTER = re.compile(r"\d+ / \d+\s*$|Pictos: OpenMoji.*$", re.M)


def _pdf_text(data: bytes) -> str:
    """The text of all pages, without the footers (an item may run on to the next page)."""
    pages = PdfReader(io.BytesIO(data)).pages
    return "".join(FOOTER.sub("", page.extract_text()) for page in pages)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _in_order(haystack: str, needles: list[str]) -> None:
    """Every needle occurs in `haystack`, each after the one before (whitespace ignored)."""
    text, at = _squash(haystack), 0
    for needle in needles:
        found = text.find(_squash(needle), at)
        assert found >= 0, f"missing or out of order: {needle[:60]!r}"
        at = found + len(_squash(needle))


def _client_texts(agenda: Agenda) -> list[str]:
    return [i.text for p in agenda.parts for i in p.items if i.text]


class _HtmlCheck(HTMLParser):
    """Telegram's HTML: only the tags we make, all closed, nothing else."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in {"b", "i"} and not attrs, tag
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _plain_message(html: str) -> str:
    check = _HtmlCheck()
    check.feed(html)
    check.close()
    assert not check.open, html[:80]
    return "".join(check.text)


def _check_messages(messages: list[str]) -> str:
    assert messages
    for message in messages:
        assert size(message) <= LIMIT
    return "".join(_plain_message(m) for m in messages)


def _render_png(pdf: bytes, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    source = ARTIFACTS / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", "-singlefile",
                    str(source), str(ARTIFACTS / name)], check=True, timeout=60)
    return ARTIFACTS / f"{name}.png"


# ------------------------------------------------------------------------------ PDFs
async def test_pdfs_hold_every_item_in_order(session: AsyncSession, lib: PictoLibrary) -> None:
    agenda = await _agenda(session)
    expected = _client_texts(agenda) + [c.text for c in agenda.naasten + agenda.begeleider]
    for render in (client_pdf, begeleider_pdf):
        text = _pdf_text(render(agenda, lib))
        _in_order(text, expected)
    assert "Mijn gesprek" in _pdf_text(client_pdf(agenda, lib))
    begeleider = _pdf_text(begeleider_pdf(agenda, lib))
    _in_order(begeleider, ["Anja de Vries (moeder)", "Wat Mila de Vries wil leren"])  # skipped
    assert "ingevuld door Els Bakker" not in begeleider  # (that is the Telegram wording)
    assert "begeleider Els Bakker" in begeleider


async def test_pictos_are_embedded_images(session: AsyncSession, lib: PictoLibrary) -> None:
    agenda = await _agenda(session)
    for name, render in (("client", client_pdf), ("begeleider", begeleider_pdf)):
        data = render(agenda, lib)
        first = PdfReader(io.BytesIO(data)).pages[0]
        assert len(first.images) >= 2, name
        if shutil.which("pdftoppm"):
            png = _render_png(data, f"agenda-{name}-page1")
            assert png.stat().st_size > 10_000


async def test_client_pdf_uses_large_type(session: AsyncSession, lib: PictoLibrary) -> None:
    agenda = await _agenda(session)
    sizes: list[float] = []

    def visit(text: str, cm: object, tm: list[float], fonts: object, size: float) -> None:
        if text.strip():
            sizes.append(size * tm[0])

    PdfReader(io.BytesIO(client_pdf(agenda, lib))).pages[0].extract_text(
        visitor_text=visit)
    body = [s for s in sizes if s > 11]  # the footer (page number 11 pt, credits) is small
    assert body and min(body) >= 16


# ------------------------------------------------------------------------------ access
async def test_viewer_without_a_part_gets_none_of_it(session: AsyncSession,
                                                     lib: PictoLibrary) -> None:
    hidden = {"bad_day", "naasten", "voice", "meeting"}
    agenda = await _agenda(session, set(PARTS) - hidden, role="naaste")
    full = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    secrets = [i.text for i in full.part("bad_day").items]  # type: ignore[union-attr]
    secrets += [c.text for c in full.naasten]
    secrets += ["AgADdemoVoice", "AwACAgQAAxkBAAIBY2ZdemoVoice", "In mijn eigen kamer.",
                "Woonlocatie De Linde"]
    assert agenda.part("bad_day") is None and agenda.meeting is None and not agenda.naasten
    outputs = {
        "telegram": "\n".join(telegram_messages(agenda)),
        "spoken": spoken_text(agenda),
        "client_pdf": _pdf_text(client_pdf(agenda, lib)),
        "begeleider_pdf": _pdf_text(begeleider_pdf(agenda, lib)),
        "json": to_json(agenda),
        "fhir": fhir.questionnaire_response(agenda).model_dump_json(),
    }
    for name, text in outputs.items():
        for secret in secrets:
            assert _squash(secret) not in _squash(unescape(text)), (name, secret)
    # …while what is shared is there.
    assert "Ik wil vaker naar de sportschool." in outputs["telegram"]


async def test_nothing_visible_gives_an_empty_agenda(session: AsyncSession) -> None:
    agenda = await _agenda(session, set())
    assert agenda.parts == () and agenda.item_count() == 0 and agenda.skipped == ()
    with pytest.raises(ValueError):
        await _compile(session, 1, {"everything"}, "client", NOW)


# ------------------------------------------------------------------------------ hostile text
async def test_hostile_text_survives_every_output(session: AsyncSession,
                                                  lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_hostile(session)
    agenda = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    assert HOSTILE in _client_texts(agenda)

    plain = _check_messages(telegram_messages(agenda))
    assert HOSTILE in plain and plain.count(HOSTILE_CORE) >= 3

    spoken = spoken_text(agenda)
    assert "<b>vet</b> <script>alert('x')</script> & &amp;" in spoken
    assert "שלום עולם مرحبا بك" in spoken

    for render in (client_pdf, begeleider_pdf):
        text = _pdf_text(render(agenda, lib))
        printed = printable(HOSTILE, with_fallback=True)
        assert "🫠" not in printed and "שלום" in printed  # unknown emoji dropped; Hebrew kept
        # Right-to-left words come out of pypdf in visual order: check the rest in order,
        # and each right-to-left word.
        rtl = "שלום עולם مرحبا بك"
        before, _, after = printed.partition(rtl)
        _in_order(text, [before, after])
        assert all(word in text for word in rtl.split())
        assert text.count("<script>alert('x')</script>") >= 3

    doc = json.loads(to_json(agenda))
    validate(doc)
    agenda_part = next(p for p in doc["parts"] if p["key"] == "agenda")
    assert HOSTILE in [i["text"] for i in agenda_part["items"]]

    response = fhir.questionnaire_response(agenda)
    texts = fhir.texts_by_link(type(response).model_validate_json(response.model_dump_json()))
    assert HOSTILE in texts["agenda.text"] and HOSTILE_CORE in texts["naasten.text"]


def test_a_part_longer_than_a_message_is_cut_between_lines() -> None:
    from bot.agenda.telegram_text import Line

    long_part = [Line("<b>Kop</b>")] + [Line("• ", f"regel {n} " + "x" * 90) for n in range(80)]
    messages = pack([[Line("<b>Eerst</b>")], long_part], 4096)
    assert len(messages) >= 3 and all(size(m) <= 4096 for m in messages)
    assert messages[0] == "<b>Eerst</b>"  # part boundary first
    assert all(line.startswith(("•", "<b>")) for m in messages for line in m.split("\n"))


# ------------------------------------------------------------------------------ size
async def test_sixty_items_and_ten_naasten_split_and_print(session: AsyncSession,
                                                           lib: PictoLibrary) -> None:
    agenda = await _agenda(session, extra_topics=54, extra_naasten=7)
    topics = agenda.part("agenda")
    assert topics is not None and len(topics.items) == 60 and len(agenda.naasten) == 10
    messages = telegram_messages(agenda, lib.emoji)
    plain = _check_messages(messages)
    assert len(messages) >= 2
    _in_order(plain, [i.text for i in topics.items if i.text])
    for render in (client_pdf, begeleider_pdf):
        data = render(agenda, lib)
        assert len(PdfReader(io.BytesIO(data)).pages) >= 2
        _in_order(_pdf_text(data), _client_texts(agenda))


# ------------------------------------------------------------------------------ JSON, FHIR
async def test_json_export_follows_its_schema(session: AsyncSession) -> None:
    agenda = await _agenda(session)
    doc = to_dict(agenda)
    validate(doc)
    validate(to_dict(await _compile(session, 1, {"agenda"}, "naaste", NOW)))
    assert doc["schema_version"].startswith("1.")
    assert doc["skipped"] == [{"step": "learn",
                               "title": "Wat Mila de Vries wil leren of proberen"}]
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        validate({**doc, "parts": [{"key": "secret"}]})


async def _lookup(media: Media) -> tuple[int, str]:
    return 5123, "2jmj7l5rSw0yVb/vlWAYkK/YBwk="


async def test_fhir_validates_and_round_trips(session: AsyncSession, lib: PictoLibrary) -> None:
    client_id = await seed_sample_agenda(session, NOW)
    await session.commit()
    agenda = await _compile(session, client_id, set(PARTS), "begeleider", NOW,
                                  media_lookup=_lookup)
    bundle = fhir.bundle(agenda, lib.card)
    raw = bundle.model_dump_json()
    again = type(bundle).model_validate_json(raw)
    assert again.model_dump_json() == raw
    assert json.loads(raw)["entry"][0]["resource"]["resourceType"] == "Questionnaire"

    questionnaire = fhir.questionnaire(lib.card)
    good_at = next(i for i in questionnaire.item if i.linkId == "good_at")
    media = good_at.extension[0]
    assert media.url == fhir.ITEM_MEDIA and media.valueAttachment.contentType == "image/png"
    assert media.valueAttachment.data and media.valueAttachment.size > 1000

    response = fhir.questionnaire_response(agenda)
    doc = json.loads(response.model_dump_json())
    assert doc["author"]["display"] == "Mila de Vries" and doc["source"]["type"] == "Patient"
    assert doc["authored"].startswith("2025-11-24")
    voice = [a["valueAttachment"] for i in doc["item"] if i["linkId"] == "agenda"
             for c in i["item"] if c["linkId"] == "agenda.media" for a in c["answer"]]
    assert voice == [{"contentType": "audio/ogg", "title": "spraakbericht", "duration": 42.0,
                      "size": 5123, "hash": "2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
                      "url": "urn:gespreksmaatje:telegram-file:AgADdemoVoice"}]
    # The export reads back to the same content.
    texts = fhir.texts_by_link(type(response).model_validate_json(response.model_dump_json()))
    for part in agenda.parts:
        assert texts.get(f"{part.key}.text", []) == [i.text for i in part.items if i.text]
    assert texts["naasten.text"] == [c.text for c in agenda.naasten]


# ------------------------------------------------------------------------------ relations
async def _add_anouk(db: AsyncSession) -> None:
    """A naaste whose relation is stored as a key, with a topic and an answer she typed in."""
    anouk = Person(name="Anouk")
    db.add(anouk)
    await db.flush()
    db.add_all([
        Naaste(client_id=1, person_id=anouk.id, name="Anouk", relation="broer_zus"),
        AgendaItem(client_id=1, owner_role="naaste", owner_person_id=anouk.id, kind="topic",
                   text="Samen naar de film.", position=50, created_at=NOW),
        Answer(client_id=1, step="good_at", item=9, text="Goed met dieren.", created_at=NOW,
               entered_by=anouk.id),
    ])
    await db.commit()


ANOUK = "Anouk (broer of zus)"


async def test_relation_shows_in_dutch_in_the_text(session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_anouk(session)
    for role in ("begeleider", "client"):
        agenda = await _compile(session, 1, set(PARTS), role, NOW)
        plain = _check_messages(telegram_messages(agenda))
        assert "broer_zus" not in plain, role
        assert f"Samen naar de film. — {ANOUK}" in plain, role
    agenda = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    assert f"(ingevuld door {ANOUK})" in _check_messages(telegram_messages(agenda))
    # Older free words (the demo's "moeder") stay as they are.
    assert "Anja de Vries (moeder)" in _check_messages(telegram_messages(agenda))


@pytest.mark.parametrize("render", [client_pdf, begeleider_pdf])
async def test_relation_shows_in_dutch_in_the_pdfs(
        session: AsyncSession, lib: PictoLibrary,
        render: Callable[[Agenda, PictoLibrary], bytes]) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_anouk(session)
    role = "client" if render is client_pdf else "begeleider"
    agenda = await _compile(session, 1, set(PARTS), role, NOW)
    text = _pdf_text(render(agenda, lib))
    assert "broer_zus" not in text
    _in_order(text, [ANOUK, "Samen naar de film."] if role == "client" else
              ["Goed met dieren.", ANOUK, "Samen naar de film.", ANOUK])


async def test_relation_in_json_keeps_the_key_and_adds_the_label(
        session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_anouk(session)
    doc = to_dict(await _compile(session, 1, set(PARTS), "begeleider", NOW))
    validate(doc)
    anouk = next(c["author"] for c in doc["naasten"] if c["author"]["name"] == "Anouk")
    assert anouk["relation"] == "broer_zus"
    assert anouk["relation_label"] == t("relation_broer_zus") == "Broer of zus"
    answer = next(i for p in doc["parts"] if p["key"] == "good_at" for i in p["items"]
                  if i["text"] == "Goed met dieren.")
    assert answer["author"]["relation_label"] == "Broer of zus"
    anja = next(c["author"] for c in doc["naasten"] if c["author"]["name"] == "Anja de Vries")
    assert anja["relation"] == anja["relation_label"] == "moeder"
    client = next(i["author"] for i in doc["parts"][0]["items"])
    assert client["relation"] == client["relation_label"] == ""
    # FHIR names the naaste the same way.
    agenda = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    texts = fhir.texts_by_link(fhir.questionnaire_response(agenda))
    assert ANOUK in texts["naasten.by"] and "broer_zus" not in str(texts)


# ------------------------------------------------------------------------------ own words
CHAIR_SAID = "Ik wil dat Bram begint."
CHAIR_SAID_2 = "En dan neem ik het over."
HOW_SAID = "Graag met de deur open."


async def _add_said(db: AsyncSession) -> dict[str, int]:
    """Typed words and a voice message at the button questions (chair, how); returns ids."""
    rows = {
        # Typed after tapping "Samen met iemand": a new item…
        "chair_text": Answer(client_id=1, step="meeting_chair", item=2, text=CHAIR_SAID,
                             created_at=NOW),
        # …and (robustness) a follow-up part of the choice's own item.
        "chair_part": Answer(client_id=1, step="meeting_chair", item=1, part=2,
                             text=CHAIR_SAID_2, created_at=NOW),
        "how_text": Answer(client_id=1, step="meeting_how", item=3, text=HOW_SAID,
                           created_at=NOW),
        "how_voice": Answer(client_id=1, step="meeting_how", item=4, kind="voice", text="",
                            file_id="AwACAgHowVoice", file_unique_id="AgADhowVoice",
                            duration=4.2, created_at=NOW),
    }
    db.add_all(rows.values())
    await db.commit()
    return {key: row.id for key, row in rows.items()}


async def test_own_words_at_choice_questions_show_everywhere(session: AsyncSession,
                                                             lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_said(session)
    agenda = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    meeting = agenda.meeting
    assert meeting is not None
    assert meeting.chair == "choice_chair_together"  # the button still counts
    assert meeting.how == ("how_break", "how_pictos")
    assert [i.text for i in meeting.chair_said] == [CHAIR_SAID_2, CHAIR_SAID]
    assert [(i.kind, i.text) for i in meeting.how_said] == [("text", HOW_SAID), ("voice", "")]

    chair, how = t("choice_chair_together"), f"{t('how_break')}, {t('how_pictos')}"
    plain = _check_messages(telegram_messages(agenda))
    _in_order(plain, [f"Wie leidt het gesprek: {chair}", CHAIR_SAID_2, CHAIR_SAID,
                      f"Hoe: {how}", HOW_SAID, "[spraakbericht 0:04]"])
    for role, render in (("client", client_pdf), ("begeleider", begeleider_pdf)):
        text = _pdf_text(render(await _compile(session, 1, set(PARTS), role, NOW), lib))
        _in_order(text, [chair, CHAIR_SAID_2, CHAIR_SAID, HOW_SAID, "spraakbericht 0:04"])

    doc = to_dict(agenda)
    validate(doc)
    assert doc["meeting"]["chair"] == {"key": "choice_chair_together", "label": chair}
    assert [i["text"] for i in doc["meeting"]["chair_said"]] == [CHAIR_SAID_2, CHAIR_SAID]
    assert [i["text"] for i in doc["meeting"]["how_said"]] == [HOW_SAID, ""]
    assert doc["meeting"]["how_said"][1]["media"][0]["file_id"] == "AwACAgHowVoice"

    response = fhir.questionnaire_response(agenda)
    raw = response.model_dump_json()
    texts = fhir.texts_by_link(type(response).model_validate_json(raw))
    assert texts["meeting_chair.said.text"] == [CHAIR_SAID_2, CHAIR_SAID]
    assert texts["meeting_how.said.text"] == [HOW_SAID]
    assert "urn:gespreksmaatje:telegram-file:AgADhowVoice" in raw
    # The Questionnaire declares the groups the response uses.
    meeting_q = next(i for i in fhir.questionnaire().item or [] if i.linkId == "meeting")
    assert {"meeting_chair.said", "meeting_how.said"} <= {
        i.linkId for i in meeting_q.item or []}


async def test_own_words_follow_the_voice_part(session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_said(session)
    agenda = await _compile(session, 1, set(PARTS) - {"voice"}, "naaste", NOW)
    assert agenda.meeting is not None
    assert [i.text for i in agenda.meeting.how_said] == [HOW_SAID]  # no recording
    assert "AgADhowVoice" not in to_json(agenda)


async def test_a_choice_or_own_words_is_no_skip(session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW)
    prep = await session.scalar(select(DialogSession))
    assert prep is not None
    prep.data = {"skipped": ["learn", "meeting_chair", "meeting_how"]}
    session.add(Answer(client_id=1, step="meeting_how", item=1, text=HOW_SAID,
                       created_at=NOW))
    await session.execute(delete(Answer).where(Answer.step == "meeting_how",
                                               Answer.kind == "choice"))
    await session.commit()
    agenda = await _compile(session, 1, set(PARTS), "client", NOW)
    assert agenda.skipped == ("learn",)  # chair: a button; how: own words only


# ------------------------------------------------------------------------------ "Ook gezegd"
EXTRA_TEXT = "Ik heb een nieuwe fiets!"


async def _add_extra(db: AsyncSession) -> dict[str, int]:
    rows = {
        "text": Answer(client_id=1, step="extra", item=1, text=EXTRA_TEXT, created_at=NOW),
        "photo": Answer(client_id=1, step="extra", item=2, kind="photo", text="Mijn fiets",
                        file_id="AgPhotoExtra", file_unique_id="AQADextra", created_at=NOW),
        "voice": Answer(client_id=1, step="extra", item=3, kind="voice", text="",
                        file_id="AwVoiceExtra", file_unique_id="AgADextraVoice",
                        duration=12.0, created_at=NOW),
    }
    db.add_all(rows.values())
    await db.commit()
    return {key: row.id for key, row in rows.items()}


async def test_extra_is_its_own_part_after_the_questions(session: AsyncSession,
                                                         lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_extra(session)
    for role in ("client", "begeleider"):
        agenda = await _compile(session, 1, set(PARTS), role, NOW)
        assert [p.key for p in agenda.parts][-2:] == ["learn", "extra"]
        extra = agenda.part("extra")
        assert extra is not None and extra.title == t("title_extra") == "Ook gezegd"
        assert lib.has(extra.picto_key)
        assert [i.text for i in extra.items] == [EXTRA_TEXT, "Mijn fiets", ""]
        naasten = "Van je naasten" if role == "client" else "Inbreng van naasten"
        learn = agenda.title("learn")  # "Wat ik …" for the client, "Wat Mila …" else
        plain = _check_messages(telegram_messages(agenda, lib.emoji))
        _in_order(plain, [learn, "Ook gezegd", EXTRA_TEXT, "[foto] Mijn fiets",
                          "[spraakbericht 0:12]", naasten])
        for render, title, after in ((client_pdf, t("title_learn"), "Van je naasten"),
                                     (begeleider_pdf, learn, "Inbreng van naasten")):
            _in_order(_pdf_text(render(agenda, lib)),
                      [title, "Ook gezegd", EXTRA_TEXT, "Mijn fiets", after])
        assert "Ik heb een nieuwe fiets" in spoken_text(agenda)

    doc = to_dict(agenda)
    validate(doc)
    assert doc["parts"][-1]["key"] == "extra"
    assert doc["parts"][-1]["title"] == "Ook gezegd door Mila de Vries"  # the begeleider's
    assert doc["parts"][-1]["items"][1]["media"][0]["kind"] == "photo"

    response = fhir.questionnaire_response(agenda)
    texts = fhir.texts_by_link(type(response).model_validate_json(response.model_dump_json()))
    assert texts["extra.text"] == [EXTRA_TEXT, "Mijn fiets"]
    assert "extra" in [i.linkId for i in fhir.questionnaire(lib.card).item or []]


async def test_extra_for_a_naaste_only_when_shared(session: AsyncSession,
                                                  lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW)
    await _add_extra(session)
    shared = {"agenda", "naasten"}
    hidden = await _compile(session, 1, shared, "naaste", NOW)
    assert hidden.part("extra") is None
    outputs = [_check_messages(telegram_messages(hidden)), to_json(hidden),
               _pdf_text(client_pdf(hidden, lib)), _pdf_text(begeleider_pdf(hidden, lib)),
               fhir.questionnaire_response(hidden).model_dump_json()]
    for text in outputs:
        assert "Ook gezegd" not in text and "fiets" not in text
    assert not hidden.playable()

    seen = await _compile(session, 1, shared | {"extra"}, "naaste", NOW)
    extra = seen.part("extra")
    assert extra is not None and [i.text for i in extra.items] == [EXTRA_TEXT, "Mijn fiets"]
    assert "AgADextraVoice" not in to_json(seen)  # a recording needs the voice part too
    validate(to_dict(seen))
    with_voice = await _compile(session, 1, shared | {"extra", "voice"}, "naaste", NOW)
    assert len(with_voice.part("extra").items) == 3  # type: ignore[union-attr]


async def test_no_extra_part_without_extra_words(session: AsyncSession) -> None:
    agenda = await _agenda(session)
    assert agenda.part("extra") is None
    assert "Ook gezegd" not in "".join(telegram_messages(agenda))


# ------------------------------------------------------------------------------ playback
_MARKER = re.compile(r"\[((?:spraakbericht|foto|video|geluid)[^\]]*)\]")


async def test_playable_lists_every_recording_in_the_order_shown(
        session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW, name="Sam")
    said = await _add_said(session)
    extra = await _add_extra(session)
    demo_voice = await session.scalar(
        select(Answer.id).where(Answer.file_unique_id == "AgADdemoVoice"))
    assert demo_voice is not None
    agenda = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    playable = agenda.playable()
    assert playable == [
        Playable(said["how_voice"], "voice", "Sam, spraakbericht 0:04"),
        Playable(demo_voice, "voice", "Sam, spraakbericht 0:42"),
        Playable(extra["photo"], "photo", "Sam, foto"),
        Playable(extra["voice"], "voice", "Sam, spraakbericht 0:12"),
    ]
    answer_id, kind, text = playable[0]  # a plain tuple too
    assert (answer_id, kind, text) == (said["how_voice"], "voice", "Sam, spraakbericht 0:04")
    # The Telegram text keeps a marker per recording, in the same order as the buttons.
    plain = _check_messages(telegram_messages(agenda))
    assert _MARKER.findall(plain) == [p.label.split(", ", 1)[1] for p in playable]
    # Each carries its file_id, kind and answer row.
    media = {m.answer_id: m for p in agenda.parts for i in p.items for m in i.media}
    assert media[extra["photo"]].file_id == "AgPhotoExtra"
    assert media[extra["photo"]].kind == "photo"
    # Without the voice part only the photo is left.
    naaste = await _compile(session, 1, set(PARTS) - {"voice"}, "naaste", NOW)
    assert naaste.playable() == [Playable(extra["photo"], "photo", "Sam, foto")]


# ------------------------------------------------------------------------------ who reads it
_HEADING = re.compile(r"<b>(.*?)</b>")
THIRD_PERSON = {
    "good_at": "Waar Sam goed in is", "appreciated": "Wat anderen fijn vinden aan Sam",
    "agenda": "Waar Sam over wil praten", "good_day": "Een goede dag voor Sam",
    "bad_day": "Een slechte dag voor Sam", "works": "Wat Sam helpt",
    "not_works": "Wat Sam niet helpt", "important": "Wat belangrijk is voor Sam",
    "future": "De wens van Sam voor later", "learn": "Wat Sam wil leren of proberen",
}


def _headings(messages: list[str]) -> set[str]:
    return {unescape(h) for m in messages for h in _HEADING.findall(m)}


async def test_headings_are_in_the_third_person_except_for_the_client(
        session: AsyncSession, lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW, name="Sam")
    first_person = {t(f"title_{key}") for key in THIRD_PERSON}
    for role in ("naaste", "begeleider"):
        agenda = await _compile(session, 1, set(PARTS), role, NOW)
        headings = _headings(telegram_messages(agenda))
        shown = {key for key in THIRD_PERSON if agenda.part(key) and (
            role == "begeleider" or agenda.part(key).items)}  # type: ignore[union-attr]
        assert {THIRD_PERSON[key] for key in shown} <= headings, role
        assert not headings & first_person, role
        assert {p["title"] for p in to_dict(agenda)["parts"]} >= {
            THIRD_PERSON[key] for key in shown}
    begeleider = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    assert "Waar Sam goed in is" in _pdf_text(begeleider_pdf(begeleider, lib))
    # The client's own copy, and the client's PDF whoever prints it, keep "ik".
    client_text = _pdf_text(client_pdf(begeleider, lib))
    assert t("title_good_at") in client_text and "Waar Sam goed in is" not in client_text
    client = await _compile(session, 1, set(PARTS), "client", NOW)
    headings = _headings(telegram_messages(client))
    assert t("title_good_at") in headings and not headings & set(THIRD_PERSON.values())


SKIP_WORDS = ("overgeslagen", "nog open", "weet ik nog niet", "vraag ernaar")


async def test_skipped_parts_reach_the_begeleider_and_never_a_naaste(
        session: AsyncSession, lib: PictoLibrary) -> None:
    await seed_sample_agenda(session, NOW, name="Sam")  # Sam skipped "learn"
    begeleider = await _compile(session, 1, set(PARTS), "begeleider", NOW)
    assert begeleider.skipped == ("learn",)
    assert "Overgeslagen" in _check_messages(telegram_messages(begeleider))
    assert "Overgeslagen" in _pdf_text(begeleider_pdf(begeleider, lib))
    assert to_dict(begeleider)["skipped"] == [{"step": "learn", "title": THIRD_PERSON["learn"]}]

    naaste = await _compile(session, 1, set(PARTS), "naaste", NOW)
    assert naaste.skipped == ()
    response = fhir.questionnaire_response(naaste)
    outputs = {
        "telegram": _check_messages(telegram_messages(naaste)),
        "client_pdf": _pdf_text(client_pdf(naaste, lib)),
        "begeleider_pdf": _pdf_text(begeleider_pdf(naaste, lib)),
        "fhir": str(fhir.texts_by_link(response)),
    }
    for name, text in outputs.items():
        assert not any(word in text.lower() for word in SKIP_WORDS), name
    assert to_dict(naaste)["skipped"] == [] and response.status == "completed"


async def test_a_naaste_reads_what_is_filled_in_without_the_date(
        session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW, name="Sam")
    agenda = await _compile(session, 1, set(PARTS), "naaste", NOW)
    messages = telegram_messages(agenda)
    plain = _check_messages(messages)
    assert messages[0].startswith("<b>Dit deelt Sam met je</b>")
    assert agenda.meeting is not None and agenda.meeting.starts_at is not None
    # The greeting above the agenda says the date; the agenda does not say it again.
    assert format_date(agenda.meeting.starts_at) not in plain and "Wanneer" not in plain
    assert "Woonlocatie De Linde" in plain  # the place is in the shared meeting part
    assert "(nog leeg)" not in plain and THIRD_PERSON["learn"] not in plain
    # Nothing filled in of what is shared: no messages at all (the dialog says it in words).
    assert telegram_messages(await _compile(session, 1, {"learn"}, "naaste", NOW)) == []
    assert telegram_messages(await _compile(session, 1, set(), "naaste", NOW)) == []
    # The begeleider still sees the empty part, and the date.
    begeleider = await _compile(session, 1, {"learn", "meeting"}, "begeleider", NOW)
    assert "(nog leeg)" in "".join(telegram_messages(begeleider))


# ------------------------------------------------------------------------------ odds and ends
async def test_removed_answers_and_items_stay_out(session: AsyncSession) -> None:
    await seed_sample_agenda(session, NOW)
    session.add_all([
        Answer(client_id=1, step="agenda", item=50, text="weggehaald", created_at=NOW,
               removed_at=NOW + timedelta(minutes=1)),
        AgendaItem(client_id=1, owner_role="naaste", kind="topic", text="ook weg",
                   removed_at=NOW),
        Person(name="los"),
    ])
    await session.commit()
    agenda = await _compile(session, 1, set(PARTS), "client", NOW)
    assert "weggehaald" not in to_json(agenda) and "ook weg" not in to_json(agenda)
    assert spoken_text(agenda).startswith("Dit is je lijst")
    assert telegram_messages(agenda)[0].startswith("<b>Mijn gesprek</b>")


def test_agenda_does_not_import_telegram() -> None:
    code = "import sys, bot.agenda, bot.agenda.fhir; print('telegram' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"
