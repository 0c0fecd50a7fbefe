"""Inzage, the AVG's right of access: everything the organisation keeps about a client, for
the client (`/mijn_gegevens`). As documents: an easy-read PDF (every round's answers, the
agreements, who looked) and a JSON file with all of it (removed answers and their dates too),
the client's own voice messages and photos sent back, and a short spoken explanation. The
read goes through the access module like any other (logged once)."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from bot.dialogs.client_prep import STEPS
from bot.dialogs.spoken import plain
from bot.dialogs.texts import all_texts, t
from bot.dialogs.types import Document, Media, Reply
from bot.service import access
from bot.service.types import Context
from bot.state.models import Answer, AuditLog, Client, Person
from bot.state.unit import Unit

FILES_SENT = 30  # voice messages and photos sent back at most (all are in the JSON)
KINDS_WITH_FILES = {"voice", "photo", "video", "video_note", "audio"}


async def for_client(unit: Unit, ctx: Context, person_id: int, client_id: int,
                     acting: access.Acting | None = None) -> list[Reply]:
    """What `/mijn_gegevens` sends: the explanation, the PDF, the JSON, the files. The same
    for an admin (`acting` as admin, for a written request): one read of "inzage" in the
    access log, and nothing when it is not allowed."""
    now = ctx.now()
    acting = acting or access.Acting("client", client_id)
    parts = access.ALL_PARTS if acting.role == "client" else ["inzage"]
    if not await access.read(unit, person_id, client_id, parts, now, acting):
        return []  # not this person's own data, nor their organisation's client
    answers = await unit.all_answers(client_id)
    data = await collect(unit, client_id, now, answers)
    stamp = now.astimezone(ctx.tz).strftime("%Y-%m-%d")
    if acting.role == "client":
        intro = t("inzage_intro")
        replies = [Reply(intro, speak=plain(intro))]
    else:
        replies = [Reply(t("a_inzage_intro", name=escape(data["client"]["name"])))]
    prefix = "mijn-gegevens" if acting.role == "client" else f"gegevens-client-{client_id}"
    own = "" if acting.role == "client" else "_admin"  # "van jou" or "van Sam"
    replies.append(Reply(t(f"inzage_json{own}"), document=Document(
        f"{prefix}-{stamp}.json", json.dumps(data, ensure_ascii=False, indent=2).encode())))
    pictos = ctx.pictos
    if pictos is not None:
        from bot.agenda import pdf

        looks = [t("wie_keek_line", name=look.name, date=ctx.date(look.at),
                   role=t(f"role_{look.role}") if look.role in access.ROLES else "")
                 for look in await access.who_looked(unit, client_id, limit=200)]
        sections = _sections(data, looks)
        replies.insert(1, Reply(t(f"inzage_pdf{own}"), document=Document(
            f"{prefix}-{stamp}.pdf",
            make=lambda: pdf.sections_pdf(t("inzage_title"), sections, pictos))))
    files = [a for a in answers if a.kind in KINDS_WITH_FILES and a.file_id]
    if files:
        replies.append(Reply(t(f"inzage_files{own}", count=len(files))))
        replies += [Reply("", media=Media(a.kind, a.file_id or "")) for a in files[:FILES_SENT]]
    return replies


async def collect(unit: Unit, client_id: int, now: datetime,
                  answers: list[Answer]) -> dict[str, Any]:
    """Everything kept about the client (`answers`: every answer part they gave), as plain
    data (the JSON file)."""
    client = await unit.get(Client, client_id)
    assert client is not None
    shares: dict[int, list[str]] = {}
    for naaste_id, part in await unit.shares(client_id):
        shares.setdefault(naaste_id, []).append(part)
    return {
        "made_at": _time(now),
        "client": {"id": client.id, "name": client.name, "round": client.round,
                   "created_at": _time(client.created_at)},
        "answers": [_answer(a) for a in answers],
        "agreements": [{"text": a.text, "who": a.who, "picto": a.picto,
                        "created_at": _time(a.created_at), "sent_at": _time(a.sent_at)}
                       for a in await unit.agreements(client_id)],
        "check_ins": [{"agreement_id": c.agreement_id, "mood": c.mood, "kind": c.kind,
                       "text": c.text, "answered_at": _time(c.answered_at)}
                      for c in await unit.check_ins(client_id)],
        "naasten": [{"name": n.name, "relation": n.relation,
                     "sees": sorted(shares.get(n.id, []))}
                    for n in await unit.naasten(client_id)],
        "access_log": await _access_log(unit, await unit.audit_rows(client_id), client),
    }


def _answer(a: Answer) -> dict[str, Any]:
    return {"round": a.round or "current", "part": a.step, "item": a.item, "piece": a.part,
            "kind": a.kind, "text": a.text, "tag": a.tag, "duration": a.duration,
            "file": a.file_state, "transcript": a.transcript,
            "transcript_state": a.transcript_state, "created_at": _time(a.created_at),
            "changed_at": _time(a.changed_at), "removed_at": _time(a.removed_at)}


async def _access_log(unit: Unit, rows: list[AuditLog], client: Client) -> list[dict[str, Any]]:
    names: dict[int | None, str] = {}
    for row in rows:
        if row.viewer_person_id not in names:
            person = (await unit.get(Person, row.viewer_person_id)
                      if row.viewer_person_id is not None else None)
            names[row.viewer_person_id] = person.name if person is not None else ""
    return [{"who": "ik" if r.viewer_person_id == client.person_id
             else names[r.viewer_person_id], "part": r.part, "allowed": r.allowed,
             "at": _time(r.at)} for r in rows]


def _sections(data: dict[str, Any], looks: list[str]) -> list[tuple[str, str, list[str]]]:
    """The easy-read PDF: per round (the current one first) per part its words, then the
    agreements and who looked (as `/wie_keek` says it: a line per person per day)."""
    steps = {s.key for s in STEPS}  # each part's picto has its step's name
    sections: list[tuple[str, str, list[str]]] = []
    rounds = sorted({a["round"] for a in data["answers"]}, key=lambda r: (r != "current", r))
    for number in rounds:
        heading = (t("inzage_now") if number == "current"
                   else t("inzage_round", number=number))
        for step in dict.fromkeys(a["part"] for a in data["answers"] if a["round"] == number):
            lines = [_line(a) for a in data["answers"] if a["round"] == number
                     and a["part"] == step]
            title = t(f"title_{step}") if f"title_{step}" in all_texts() else step
            sections.append((f"{heading}: {title}", step if step in steps else "review",
                             lines))
    if data["agreements"]:
        sections.append((t("agreements_intro"), "agreements",
                         [a["text"] for a in data["agreements"]]))
    sections.append((t("inzage_looked"), "sharing", looks or [t("wie_keek_none")]))
    return sections


def _line(answer: dict[str, Any]) -> str:
    text = answer["text"]
    if answer["kind"] in KINDS_WITH_FILES:  # a recording or photo: what it is, its caption
        text = " ".join(filter(None, [f"[{t('media_' + answer['kind'])}]", text]))
    elif answer["kind"] == "choice" and text in all_texts():
        text = t(text)
    return f"{text} {t('inzage_removed')}" if answer["removed_at"] else text


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
