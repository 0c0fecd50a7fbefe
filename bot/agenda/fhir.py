"""HL7 FHIR export: a `Questionnaire` describing the preparation and a `QuestionnaireResponse`
with one client's answers, built and validated with `fhir.resources`.

FHIR release: R5 (5.0.0), the default models of fhir.resources 8 (R4B/R4 live in
submodules). Why R5: it is the current normative-track release the installed library
models by default, and its `Attachment.duration` carries the length of a voice answer
natively (R4 would need an extension). The SDC `itemMedia` extension is used as in SDC;
a system that only reads R4 can map this one-to-one (same item/answer structure).

Structure (linkIds): one repeating group per part ("agenda", "good_at", …); each
repetition is one item in the client's words: "<part>.text" (valueString), "<part>.media"
(valueAttachment; audio/ogg for a voice answer, with size and hash when known) and, for
the agenda, "agenda.domain" (valueCoding). The part "extra" ("Ook gezegd": what the client
sent when no question was open) is such a group too. "meeting" holds where/who/chair/how,
and "meeting_chair.said" / "meeting_how.said" (repeating groups like a part, with ".text"
and ".media") for what the client typed or said there besides the buttons; "naasten" and
"begeleider" hold contributions with "<x>.by"; "skipped" lists skipped questions.

Rounds and agreements: the response's identifier names the client's round
(`urn:gespreksmaatje:round`); from the second round on, the agreements made so far are
`Goal` resources (description, who does it and the check-ins' moods as notes,
achievementStatus from the last check-in) tied together by one `CarePlan` whose
supportingInfo is the QuestionnaireResponse.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path

from fhir.resources.annotation import Annotation
from fhir.resources.attachment import Attachment
from fhir.resources.bundle import Bundle, BundleEntry
from fhir.resources.careplan import CarePlan
from fhir.resources.codeableconcept import CodeableConcept
from fhir.resources.coding import Coding
from fhir.resources.extension import Extension
from fhir.resources.goal import Goal
from fhir.resources.identifier import Identifier
from fhir.resources.questionnaire import (
    Questionnaire,
    QuestionnaireItem,
    QuestionnaireItemAnswerOption,
)
from fhir.resources.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.reference import Reference

from bot.agenda.model import (
    CLIENT_PARTS,
    CONTRIBUTION_KINDS,
    EXTRA,
    PROFILE_PARTS,
    SECTION_PICTOS,
    Agenda,
    Contribution,
    Item,
    Media,
    label,
    since_moods,
    since_who,
)
from bot.dialogs import picto_mat
from bot.dialogs.client_prep import CHAIR, DOMAINS, HOW
from bot.dialogs.texts import t

FHIR_RELEASE = "R5"
ROUND_SYSTEM = "urn:gespreksmaatje:round"  # identifier value: "<client id>:<round>"
ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"
# How the last check-in went → the Goal's achievementStatus (none yet: in progress).
ACHIEVEMENT = {"good": "improving", "ok": "no-change", "bad": "worsening", "": "in-progress"}
ITEM_MEDIA = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-itemMedia"
QUESTIONNAIRE_URL = "urn:gespreksmaatje:Questionnaire:voorbereiding"
QUESTIONNAIRE_VERSION = "1.1.0"
OPTION_SYSTEM = "urn:gespreksmaatje:CodeSystem:option"
MIME = {"voice": "audio/ogg", "audio": "audio/mpeg", "photo": "image/jpeg",
        "video": "video/mp4", "video_note": "video/mp4"}

PictoCard = Callable[[str], Path]  # picto key -> PNG card (PictoLibrary.card)


# ------------------------------------------------------------------------------ Questionnaire
def questionnaire(card: PictoCard | None = None, embed: bool = True) -> Questionnaire:
    """The preparation as a Questionnaire; `card` adds each question's picto (itemMedia)."""
    items = [_part_group(key, card, embed) for key in CLIENT_PARTS]
    items += [_meeting_group(card, embed), _contribution_group("naasten", card, embed),
              _contribution_group("begeleider", card, embed),
              _question("skipped", label("skipped"), "coding", repeats=True,
                        options=[(k, t(f"title_{k}")) for k in PROFILE_PARTS])]
    return Questionnaire(
        url=QUESTIONNAIRE_URL, version=QUESTIONNAIRE_VERSION, name="Gespreksvoorbereiding",
        title="Voorbereiding ondersteuningsplangesprek", status="active", language="nl",
        subjectType=["Patient"], item=items)


def _media_ext(key: str, card: PictoCard | None, embed: bool) -> list[Extension] | None:
    if card is None:
        return None
    data = card(key).read_bytes()
    attachment = Attachment(
        contentType="image/png", title=key, size=len(data),
        hash=base64.b64encode(hashlib.sha1(data).digest()),
        data=base64.b64encode(data) if embed else None,
        url=None if embed else f"urn:gespreksmaatje:picto:{key}")
    return [Extension(url=ITEM_MEDIA, valueAttachment=attachment)]


def _question(link_id: str, text: str, kind: str, repeats: bool = False,
              options: Iterable[tuple[str, str]] = (),
              extension: list[Extension] | None = None) -> QuestionnaireItem:
    answer_options = [QuestionnaireItemAnswerOption(
        valueCoding=Coding(system=OPTION_SYSTEM, code=k, display=d)) for k, d in options]
    return QuestionnaireItem(linkId=link_id, text=text, type=kind, repeats=repeats or None,
                             answerOption=answer_options or None, extension=extension)


def _part_group(key: str, card: PictoCard | None, embed: bool) -> QuestionnaireItem:
    # "Ook gezegd" is no question: its title says what it holds.
    question = t(f"title_{key}") if key == EXTRA else t(f"q_{key}")
    group = _said_group(key, question, t(f"title_{key}"),
                        _media_ext(SECTION_PICTOS.get(key, key), card, embed))
    if key == "agenda":
        assert group.item is not None
        group.item.append(_question("agenda.domain", t("q_agenda_domains").splitlines()[0],
                                    "coding", options=[(d, t(d)) for d in DOMAINS]))
    pictures = picto_mat.pictures_for(key)
    if pictures:  # answered with pictures: the picture and its place
        assert group.item is not None
        group.item += [
            _question(f"{key}.picture", t("btn_mat").split(" ", 1)[-1], "coding",
                      options=[(o, picto_mat.word(o)) for o in pictures]),
            _question(f"{key}.place", t("mat_question"), "coding",
                      options=[(p, t(f"mat_{p}")) for p in picto_mat.PLACES])]
    return group


def _said_group(key: str, question: str, text: str,
                extension: list[Extension] | None = None) -> QuestionnaireItem:
    """A repeating group: one repetition per item, in own words and/or a recording."""
    group = _question(key, question, "group", repeats=True, extension=extension)
    group.item = [_question(f"{key}.text", text, "text"),
                  _question(f"{key}.media", t("media_voice"), "attachment", repeats=True),
                  _question(f"{key}.transcript", t("heard_fhir"), "text", repeats=True)]
    return group


def _meeting_group(card: PictoCard | None, embed: bool) -> QuestionnaireItem:
    group = _question("meeting", label("meeting"), "group",
                      extension=_media_ext(SECTION_PICTOS["meeting"], card, embed))
    group.item = [
        _question("meeting.date", label("when"), "dateTime"),
        _question("meeting.place", label("place"), "string"),
        _question("meeting_where", t("q_meeting_where"), "text", repeats=True,
                  extension=_media_ext("meeting_where", card, embed)),
        _question("meeting_who", t("q_meeting_who"), "text", repeats=True,
                  extension=_media_ext("meeting_who", card, embed)),
        _question("meeting_chair", t("q_meeting_chair"), "coding",
                  options=[(o, t(o)) for o in CHAIR],
                  extension=_media_ext("meeting_chair", card, embed)),
        _said_group("meeting_chair.said", f"{label('chair')}: {label('own_words')}",
                    t("title_meeting_chair")),
        _question("meeting_how", t("q_meeting_how").splitlines()[0], "coding", repeats=True,
                  options=[(o, t(o)) for o in HOW],
                  extension=_media_ext("meeting_how", card, embed)),
        _said_group("meeting_how.said", f"{label('how')}: {label('own_words')}",
                    t("title_meeting_how")),
    ]
    return group


def _contribution_group(key: str, card: PictoCard | None, embed: bool) -> QuestionnaireItem:
    group = _question(key, label(f"{key}_b"), "group", repeats=True,
                      extension=_media_ext(SECTION_PICTOS[key], card, embed))
    group.item = [
        _question(f"{key}.kind", "Soort", "coding",
                  options=[(k, label(f"kind_{k}")) for k in CONTRIBUTION_KINDS]),
        _question(f"{key}.text", "Tekst", "text"),
        _question(f"{key}.by", "Van", "string"),
    ]
    return group


# ------------------------------------------------------------------------------ Response
def questionnaire_response(agenda: Agenda) -> QuestionnaireResponse:
    """The client's answers (only the parts in `agenda`, i.e. what the viewer may see)."""
    items: list[QuestionnaireResponseItem] = []
    for part in agenda.parts:
        # A repeating group answers with one QR item per repetition, same linkId.
        items += [_item_group(part.key, item) for item in part.items]
    if agenda.meeting is not None:
        items.append(_meeting_answers(agenda))
    for key, entries in (("naasten", agenda.naasten), ("begeleider", agenda.begeleider)):
        items += [_contribution_group_answer(key, c) for c in entries]
    if agenda.skipped:
        items.append(_answers("skipped", [_coding(s, t(f"title_{s}"))
                                          for s in agenda.skipped]))
    client = Reference(type="Patient", display=agenda.client_name)
    return QuestionnaireResponse(
        identifier=[Identifier(system=ROUND_SYSTEM, value=f"{agenda.client_id}:{agenda.round}")],
        questionnaire=f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
        status="in-progress" if agenda.skipped else "completed",
        language="nl", subject=client, author=client, source=client,
        authored=agenda.generated_at, item=items or None)


def _answers(link_id: str, answers: list[QuestionnaireResponseItemAnswer],
             text: str | None = None) -> QuestionnaireResponseItem:
    return QuestionnaireResponseItem(linkId=link_id, text=text, answer=answers or None)


def _string(text: str) -> QuestionnaireResponseItemAnswer:
    return QuestionnaireResponseItemAnswer(valueString=text)


def _coding(code: str, display: str) -> QuestionnaireResponseItemAnswer:
    return QuestionnaireResponseItemAnswer(
        valueCoding=Coding(system=OPTION_SYSTEM, code=code, display=display))


def attachment(media: Media) -> Attachment:
    """A recording as Attachment: type, length; size and hash once someone fetched it."""
    return Attachment(
        contentType=MIME.get(media.kind, "application/octet-stream"),
        title=t(f"media_{media.kind}") if media.kind in MIME else media.kind,
        duration=Decimal(str(media.duration)) if media.duration is not None else None,
        size=media.size, hash=media.sha1_b64.encode("ascii") if media.sha1_b64 else None,
        url=f"urn:gespreksmaatje:telegram-file:{media.file_unique_id}")


def _item_group(key: str, item: Item) -> QuestionnaireResponseItem:
    children = []
    if item.text:
        text = t(item.text) if item.kind == "choice" else item.text
        children.append(_answers(f"{key}.text", [_string(text)]))
    if item.media:
        children.append(_answers(f"{key}.media", [
            QuestionnaireResponseItemAnswer(valueAttachment=attachment(m))
            for m in item.media]))
        heard = [m.transcript for m in item.media if m.transcript]
        if heard:  # confirmed by the client; the recording above stays the answer
            children.append(_answers(f"{key}.transcript", [_string(w) for w in heard]))
    if key == "agenda" and item.domain in DOMAINS:
        children.append(_answers("agenda.domain", [_coding(item.domain, t(item.domain))]))
    placed = picto_mat.reading(item.kind, item.tag)
    if placed is not None:  # a picture on the mat: which one, and where on the scale
        picture, place = placed
        children.append(_answers(f"{key}.picture", [_coding(picture, picto_mat.word(picture))]))
        children.append(_answers(f"{key}.place", [_coding(place, t(f"mat_{place}"))]))
    return QuestionnaireResponseItem(linkId=key, item=children or None)


def _meeting_answers(agenda: Agenda) -> QuestionnaireResponseItem:
    meeting = agenda.meeting
    assert meeting is not None
    children = []
    if meeting.starts_at is not None:
        children.append(_answers("meeting.date", [QuestionnaireResponseItemAnswer(
            valueDateTime=meeting.starts_at)]))
    if meeting.place:
        children.append(_answers("meeting.place", [_string(meeting.place)]))
    for link_id, entries in (("meeting_where", meeting.where), ("meeting_who", meeting.who)):
        texts = [_string(i.text) for i in entries if i.text]
        if texts:
            children.append(_answers(link_id, texts))
    if meeting.chair:
        children.append(_answers("meeting_chair", [_coding(meeting.chair, t(meeting.chair))]))
    children += [_item_group("meeting_chair.said", i) for i in meeting.chair_said]
    if meeting.how:
        children.append(_answers("meeting_how", [_coding(h, t(h)) for h in meeting.how]))
    children += [_item_group("meeting_how.said", i) for i in meeting.how_said]
    return QuestionnaireResponseItem(linkId="meeting", item=children or None)


def _contribution_group_answer(key: str, entry: Contribution) -> QuestionnaireResponseItem:
    children = [_answers(f"{key}.kind", [_coding(entry.kind, label(f"kind_{entry.kind}"))]),
                _answers(f"{key}.text", [_string(entry.text)])]
    if entry.author.display():
        children.append(_answers(f"{key}.by", [_string(entry.author.display())]))
    return QuestionnaireResponseItem(linkId=key, item=children)


# ------------------------------------------------------------------------------ bundle, reading
def bundle(agenda: Agenda, card: PictoCard | None = None, embed: bool = True) -> Bundle:
    """Questionnaire and response together, to hand to a care-record system as one file."""
    entries = [BundleEntry(fullUrl="urn:uuid:" + _uuid(agenda, "q"),
                           resource=questionnaire(card, embed)),
               BundleEntry(fullUrl="urn:uuid:" + _uuid(agenda, "qr"),
                           resource=questionnaire_response(agenda))]
    entries += _agreements(agenda)
    return Bundle(type="collection", timestamp=agenda.generated_at,
                  entry=entries)


def _agreements(agenda: Agenda) -> list[BundleEntry]:
    """The agreements so far as Goals, and a CarePlan that ties them to the response."""
    if not agenda.since_last:
        return []
    client = Reference(type="Patient", display=agenda.client_name)
    goals = []
    for n, agreement in enumerate(agenda.since_last, 1):
        last = agreement.moods[-1] if agreement.moods else ""
        notes = [Annotation(text=since_who(agreement, "begeleider", agenda.client_name))]
        if agreement.moods:
            notes.append(Annotation(text=since_moods(agreement)))
        goals.append(BundleEntry(fullUrl="urn:uuid:" + _uuid(agenda, f"goal{n}"), resource=Goal(
            lifecycleStatus="active", subject=client, note=notes,
            description=CodeableConcept(text=agreement.text),
            achievementStatus=CodeableConcept(coding=[Coding(
                system=ACHIEVEMENT_SYSTEM, code=ACHIEVEMENT[last])]))))
    plan = CarePlan(
        status="active", intent="plan", subject=client, title=label("since_last"),
        goal=[Reference(reference=str(g.fullUrl)) for g in goals],
        supportingInfo=[Reference(reference="urn:uuid:" + _uuid(agenda, "qr"))])
    return [*goals, BundleEntry(fullUrl="urn:uuid:" + _uuid(agenda, "careplan"),
                                resource=plan)]


def _uuid(agenda: Agenda, kind: str) -> str:
    # Stable per client, moment and resource: the same export gives the same ids.
    seed = f"gespreksmaatje:{agenda.client_id}:{agenda.generated_at.isoformat()}:{kind}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def texts_by_link(response: QuestionnaireResponse) -> dict[str, list[str]]:
    """Every valueString per linkId, in order: to check that an export reads back."""
    out: dict[str, list[str]] = {}

    def walk(items: Iterable[QuestionnaireResponseItem] | None) -> None:
        for item in items or []:
            for answer in item.answer or []:
                if answer.valueString is not None:
                    out.setdefault(str(item.linkId), []).append(answer.valueString)
                walk(answer.item)
            walk(item.item)

    walk(response.item)
    return out
