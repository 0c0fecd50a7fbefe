"""Choosing with pictures, the pure parts (issue 16): the option sets, the mat's turns over
in-memory answers, the picture of the mat, and a mat in the agenda's outputs (text, both
PDFs with the picture, JSON, FHIR with coded answers). tests/test_picto_mat_bot.py drives
the same through the real bot."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncSession

from bot.agenda import fhir
from bot.agenda.export_json import to_dict, validate
from bot.agenda.model import PARTS
from bot.agenda.pdf import begeleider_pdf, client_pdf
from bot.agenda.sample import seed_sample_agenda
from bot.agenda.telegram_text import telegram_messages
from bot.dialogs import client_prep, picto_mat
from bot.dialogs.texts import t
from bot.dialogs.types import AddPart, Answers, AnswerView, Input, Reply, Session
from bot.state.models import Answer
from pictos import PictoLibrary
from tests.test_agenda import (  # noqa: F401 (fixtures)
    NOW,
    _agenda,
    _compile,
    _pdf_text,
    lib,
    session,
)

WORKS = ["• Fijn: Rust", "• Weet ik niet: Telefoon", "• Niet fijn: Alleen zijn"]


def test_every_set_is_easy_words_and_pictures_of_both_kinds() -> None:
    pictos = PictoLibrary.load()
    assert set(client_prep.DOMAINS) <= set(picto_mat.option_sets())  # every life domain
    for step, options in picto_mat.option_sets().items():
        assert step in client_prep.DOMAINS or client_prep.FLOW.step_of(step).kind == "open"
        assert 6 <= len(options) <= 10 and len(set(options)) == len(options), step
        for option in options:
            assert pictos.has(option) and pictos.word(option) == t(option), option
            assert len(t(option).split()) <= 2, option  # one or two words under a picture
    # Never steering: every set holds things many like and things many do not.
    liked, disliked = {"mat_music", "mat_friends", "mat_help", "mat_quiet", "mat_family",
                       "mat_walk"}, {
        "mat_noise", "mat_busy", "mat_waiting", "mat_alone", "mat_work", "mat_phone",
        "mat_dentist"}
    for step, options in picto_mat.option_sets().items():
        assert set(options) & liked and set(options) & disliked, step


class Client:
    """Sam at "a good day" (or another step), pressing buttons; effects applied as the
    service would."""

    def __init__(self, step: str = "good_day", **data: object) -> None:
        self.session = Session(step=step, seq=1, data=dict(data))
        self.answers = Answers()
        self.replies = client_prep.ask(self.session, self.answers, client_prep.Context("Sam"))

    def press(self, label: str) -> client_prep.Outcome:
        data = next(b.data for r in self.replies for row in r.buttons for b in row
                    if b.label == label)
        return self.press_data(data)

    def press_data(self, data: str) -> client_prep.Outcome:
        inp = Input(kind="button", data=data, sent_at=datetime.now(UTC))
        out = client_prep.decide(self.session, self.answers, inp)
        for effect in out.effects:
            assert isinstance(effect, AddPart) and effect.kind == picto_mat.KIND
            if effect.replace:
                self.answers.rows = [r for r in self.answers.rows if r.item != effect.item]
            item = effect.item or 1 + max((r.item for r in self.answers.rows), default=0)
            self.answers.rows.append(AnswerView(len(self.answers.rows) + 1, effect.step, item,
                                                1, effect.kind, effect.text, effect.tag))
        if out.ask:
            self.session.seq += 1
        self.replies = client_prep.render(self.session, self.answers, out,
                                          client_prep.Context("Sam"), inp)
        return out

    @property
    def shown(self) -> Reply:
        return self.replies[0]


def test_placing_every_picture_then_the_mat_then_closing_it() -> None:
    sam = Client()
    out = sam.press("🖼️ Kiezen met plaatjes")
    assert not out.stale and sam.shown.picto == "mat_music"
    assert sam.shown.speak and "Muziek" in sam.shown.speak  # every picture is also spoken
    places = ["🙂 Fijn", "🙁 Niet fijn"]
    for number in range(len(picto_mat.option_sets()["good_day"])):
        sam.press(places[number % 2])
    assert sam.shown.mat == (
        ("mat_fine", ("mat_music", "mat_cooking", "mat_work", "mat_outside", "mat_busy")),
        ("mat_unsure", ()),
        ("mat_not_fine", ("mat_walk", "mat_friends", "mat_tv", "mat_noise")))
    assert sam.shown.speak is not None and sam.shown.speak.endswith("Klopt het zo?")
    assert "Niet fijn: wandelen, vrienden, tv kijken, lawaai." in sam.shown.speak
    sam.press("✅ Ja, klopt")
    assert "mat" not in sam.session.data and sam.session.step == "good_day"
    assert sam.shown.text.startswith(t("mat_saved"))
    assert len(sam.answers.rows) == 9


def test_a_picture_pressed_twice_is_placed_once() -> None:
    sam = Client()
    sam.press("🖼️ Kiezen met plaatjes")
    old = sam.replies
    sam.press("🙂 Fijn")
    sam.replies = old  # the first picture's buttons, pressed again
    assert sam.press("🙁 Niet fijn").stale
    assert [r.tag for r in sam.answers.rows] == ["mat_music.fine"]


def test_a_life_domain_of_the_agenda_with_pictures() -> None:
    """On the agenda, after "Wonen": its things one by one; each placed one is a topic of
    the agenda under Wonen; "Klopt" goes on to "anything more?"."""
    sam = Client("agenda_domain", domain="domain_housing")
    assert "🖼️ Kiezen met plaatjes" in [b.label for row in sam.shown.buttons for b in row]
    sam.press("🖼️ Kiezen met plaatjes")
    housing = picto_mat.option_sets()["domain_housing"]
    assert sam.shown.picto == housing[0] == "mat_room"
    sam.press("🙂 Fijn")
    sam.press("🙁 Niet fijn")
    for _ in housing[2:]:
        sam.press("⏭️ Sla over")
    assert sam.shown.mat is not None and sam.shown.mat[0] == ("mat_fine", ("mat_room",))
    assert [(r.step, r.tag, r.text) for r in sam.answers.rows] == [
        ("agenda", "domain_housing/mat_room.fine", "Fijn: Mijn kamer"),
        ("agenda", "domain_housing/mat_housemates.not_fine", "Niet fijn: Huisgenoten")]
    sam.press("✅ Ja, klopt")
    assert sam.session.step == "agenda_more" and "domain" not in sam.session.data
    assert sam.shown.text.startswith(t("mat_saved"))

    # Another domain has its own mat: what was placed for Wonen is not on it.
    sam.session.step, sam.session.data["domain"] = "agenda_domain", "domain_social"
    sam.replies = client_prep.ask(sam.session, sam.answers, client_prep.Context("Sam"))
    sam.press("🖼️ Kiezen met plaatjes")
    assert sam.shown.picto == "mat_family" and "Plaatje 1 van 8" in sam.shown.text
    # Without a domain chosen there are no pictures, and a forged start changes nothing.
    sam.session.data.pop("mat")
    sam.session.data.pop("domain")
    assert not picto_mat.offered(sam.session)
    assert sam.press_data(f"{sam.session.seq}:mt").stale


def test_the_mat_picture_is_drawn_once_from_our_own_pictures(lib: PictoLibrary) -> None:  # noqa: F811
    columns = [("mat_fine", ["mat_music"]), ("mat_unsure", []), ("mat_not_fine", ["mat_noise"])]
    first = lib.mat(columns)
    assert first[:2] == b"\xff\xd8"  # a JPEG
    assert lib.mat(columns) is first  # kept: the same bytes object, not drawn again


async def test_a_mat_in_the_agenda_outputs(session: AsyncSession,  # noqa: F811
                                           lib: PictoLibrary) -> None:  # noqa: F811
    agenda = await _agenda(session)
    works = next(p for p in agenda.parts if p.key == "works")
    assert [i.kind for i in works.items][-3:] == ["mat", "mat", "mat"]
    text = "\n".join(telegram_messages(agenda))
    assert all(line in text for line in WORKS), text

    for make in (client_pdf, begeleider_pdf):
        data = make(agenda, lib)
        assert "Fijn: Rust" in _pdf_text(data) and "Niet fijn: Alleen zijn" in _pdf_text(data)
        # The mat's picture is in the PDF (the sample has no other JPEG image).
        images = [img for page in PdfReader(io.BytesIO(data)).pages for img in page.images]
        assert any(img.name.endswith(".jpg") for img in images), make.__name__

    doc = to_dict(agenda)
    validate(doc)
    items = next(p for p in doc["parts"] if p["key"] == "works")["items"]
    assert items[-1]["mat"] == {"picture": "mat_alone", "word": "Alleen zijn",
                                "place": "not_fine"}
    assert "mat" not in items[0]

    response = json.loads(fhir.questionnaire_response(agenda).model_dump_json())
    works_items = [i for i in response["item"] if i["linkId"] == "works"]
    codes = [(c["linkId"], c["answer"][0]["valueCoding"]["code"]) for i in works_items
             for c in i["item"] if c["linkId"] in {"works.picture", "works.place"}]
    assert codes == [("works.picture", "mat_quiet"), ("works.place", "fine"),
                     ("works.picture", "mat_phone"), ("works.place", "unsure"),
                     ("works.picture", "mat_alone"), ("works.place", "not_fine")]
    questionnaire = fhir.questionnaire(lib.card)
    group = next(i for i in questionnaire.item if i.linkId == "works")
    place = next(i for i in group.item if i.linkId == "works.place")
    assert [o.valueCoding.code for o in place.answerOption] == list(picto_mat.PLACES)


async def test_a_life_domains_pictures_in_the_agenda_outputs(
        session: AsyncSession, lib: PictoLibrary) -> None:  # noqa: F811
    client_id = await seed_sample_agenda(session, NOW)
    session.add(Answer(client_id=client_id, step="agenda", item=50, kind="mat",
                       text="Niet fijn: Lawaai", tag="domain_housing/mat_noise.not_fine",
                       created_at=NOW))
    await session.commit()
    agenda = await _compile(session, client_id, set(PARTS), "begeleider", NOW)
    assert "• <i>Wonen:</i> Niet fijn: Lawaai" in "\n".join(telegram_messages(agenda))
    for make in (client_pdf, begeleider_pdf):
        assert "Wonen: Niet fijn: Lawaai" in _pdf_text(make(agenda, lib)), make.__name__

    doc = to_dict(agenda)
    validate(doc)
    items = next(p for p in doc["parts"] if p["key"] == "agenda")["items"]
    assert items[-1]["mat"] == {"picture": "mat_noise", "word": "Lawaai", "place": "not_fine",
                                "domain": "domain_housing"}

    response = json.loads(fhir.questionnaire_response(agenda).model_dump_json())
    last = [i for i in response["item"] if i["linkId"] == "agenda"][-1]
    codes = {c["linkId"]: c["answer"][0]["valueCoding"]["code"] for c in last["item"]
             if "valueCoding" in c["answer"][0]}
    assert codes == {"agenda.domain": "domain_housing", "agenda.picture": "mat_noise",
                     "agenda.place": "not_fine"}
    group = next(i for i in fhir.questionnaire(lib.card).item if i.linkId == "agenda")
    pictures = next(i for i in group.item if i.linkId == "agenda.picture")
    assert "mat_room" in [o.valueCoding.code for o in pictures.answerOption]
