"""The service side of the begeleider's, naaste's and admin's conversations: load what the
dialog shows (every read of client data through `bot.access`), apply its effects.

Same shape as the client's turn: decide → apply → load the view → render, in one
transaction; ids that come from buttons are checked against the person's relations first.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import csv
import hashlib
import io
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape, unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot import access, reminders, schedule
from bot.agenda.compile import compile_agenda
from bot.agenda.model import CLIENT_PARTS, plain
from bot.agenda.telegram_text import spoken_text, telegram_messages
from bot.dialogs import admin as admin_dialog
from bot.dialogs import begeleider as begeleider_dialog
from bot.dialogs import naaste as naaste_dialog
from bot.dialogs.buttons import pressed
from bot.dialogs.client_prep import FLOW as CLIENT_FLOW
from bot.dialogs.menu import Do, MenuOutcome
from bot.dialogs.texts import t
from bot.dialogs.types import Document, Input, Media, Reply, Session
from bot.state.models import (
    Admin,
    AgendaItem,
    Answer,
    Begeleider,
    Client,
    DialogSession,
    Meeting,
    Naaste,
    Organisation,
    Person,
    utcnow,
)
from bot.state.store import Unit
from pictos import PictoLibrary

QUESTION_STEPS = [s.key for s in CLIENT_FLOW.question_steps if s.kind != "share"]
# Parts that hold something for a naaste to read ("voice" only adds recordings to them).
_SHOWN_PARTS = frozenset((*CLIENT_PARTS, "meeting"))


@dataclass(frozen=True)
class RoleContext:
    """What every role turn needs from the running bot."""

    tz: ZoneInfo
    invite_days: int
    link: Any  # (token) -> deep link
    pictos: PictoLibrary | None
    date: Any  # (datetime) -> Dutch date text
    settings: Any = None  # bot.settings.Settings, for the schedule (quiet hours)


def session_of(row: DialogSession) -> Session:
    # A deep copy: SQLAlchemy sees a JSON change only when the new value differs from the
    # loaded one, so the loaded one must never be mutated in place.
    return Session(step=row.step, status=row.status, seq=row.seq,
                   data=copy.deepcopy(row.data or {}))


def save(row: DialogSession, session: Session, pending: bool) -> None:
    row.step, row.status, row.seq, row.data = (session.step, session.status, session.seq,
                                               session.data)
    row.reply_pending = pending
    row.updated_at = utcnow()


def refused() -> list[Reply]:
    return [Reply(t("b_not_yours"))]


# ----------------------------------------------------------------------- begeleider
async def begeleider_turn(unit: Unit, ctx: RoleContext, person: Person, begeleider: Begeleider,
                          inp: Input, now: datetime) -> list[Reply]:
    row = await unit.load_session(person.id, "begeleider", None, "home")
    session = session_of(row)
    acting = access.Acting("begeleider", begeleider.id)
    press = pressed(inp)
    if press and press.action in begeleider_dialog.CLIENT_ID_ACTIONS:
        # Checked in the role acted in (an admin who is also a begeleider reaches only
        # their own clients here); a denied press is logged and changes nothing.
        client_id = access.as_id(press.arg)
        if not await access.can(unit, person.id, client_id or 0, "progress", acting):
            return refused()
    if press and press.action == "pa" and await access.refuse_forged(
            unit, person.id, Answer, press.arg, "voice", acting) is not None:
        return refused()
    current = access.as_id(session.data.get("client", ""))
    if current is not None and (await access.relation(unit, person.id, current,
                                                      acting)).role == "none":
        session.data.pop("client", None)  # moved to another begeleider meanwhile
        session.step = "home"
    view = await begeleider_view(unit, person, begeleider, ctx, now)
    out = begeleider_dialog.decide(session, inp, view)
    results = await _apply_begeleider(unit, ctx, person, begeleider, out, now)
    if out.ask:
        session.seq += 1
    if out.effects:  # a new client, a meeting, a topic: the screen shows it
        view = await begeleider_view(unit, person, begeleider, ctx, now)
    view.results = results
    replies = begeleider_dialog.render(session, out, view)
    save(row, session, bool(replies))
    return replies


async def begeleider_view(unit: Unit, person: Person, begeleider: Begeleider,
                          ctx: RoleContext, now: datetime) -> begeleider_dialog.View:
    view = begeleider_dialog.View(ctx.tz, now)
    clients = (await unit.session.execute(select(Client).where(
        Client.begeleider_id == begeleider.id).order_by(Client.name))).scalars()
    for client in clients:
        await access.read(unit, person.id, client.id, ["progress"], now,
                          access.Acting("begeleider", begeleider.id))
        view.clients.append(await _client_line(unit, client, ctx))
    return view


async def _client_line(unit: Unit, client: Client,
                       ctx: RoleContext) -> begeleider_dialog.ClientLine:
    steps = set((await unit.session.execute(select(Answer.step).where(
        Answer.client_id == client.id, Answer.removed_at.is_(None)).distinct())).scalars())
    items = await unit.session.scalar(select(func.count(func.distinct(Answer.item))).where(
        Answer.client_id == client.id, Answer.step == "agenda", Answer.removed_at.is_(None)))
    last = await unit.session.scalar(select(DialogSession.updated_at).where(
        DialogSession.client_id == client.id))
    meeting = await unit.meeting(client.id)
    place = (await unit.session.execute(select(Answer.text).where(
        Answer.client_id == client.id, Answer.step == "meeting_where", Answer.kind == "text",
        Answer.removed_at.is_(None)).order_by(Answer.id))).scalars().first()
    return begeleider_dialog.ClientLine(
        client.id, client.name, len(steps & set(QUESTION_STEPS)), len(QUESTION_STEPS),
        int(items or 0), ctx.date(last) if last else t("b_never"),
        ctx.date(meeting.starts_at) if meeting and meeting.starts_at else None, place)


async def _apply_begeleider(unit: Unit, ctx: RoleContext, person: Person, begeleider: Begeleider,
                            out: MenuOutcome, now: datetime) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for effect in out.effects:
        args = effect.args
        client_id = int(args.get("client_id", 0))
        if client_id and not await access.can(unit, person.id, client_id, "progress",
                                              access.Acting("begeleider", begeleider.id)):
            continue  # not this begeleider's client (moved meanwhile)
        await _begeleider_effect(unit, ctx, person, begeleider, effect, client_id, now,
                                 results)
    return results


async def _begeleider_effect(unit: Unit, ctx: RoleContext, person: Person,
                             begeleider: Begeleider, effect: Do, client_id: int,
                             now: datetime, results: dict[str, Any]) -> None:
    args = effect.args
    if effect.what == "new_client" and args["name"]:
        client = Client(organisation_id=begeleider.organisation_id, name=args["name"],
                        begeleider_id=begeleider.id)
        unit.session.add(client)
        await unit.session.flush()
        token = await unit.create_invite("client", begeleider.organisation_id,
                                         ctx.invite_days, now, person.id, client_id=client.id)
        results["client_link"] = (client.name, ctx.link(token), ctx.invite_days)
    elif effect.what == "set_meeting":
        starts_at = datetime.fromisoformat(args["starts_at"])
        meeting = await unit.meeting(client_id)
        if meeting is None:
            unit.session.add(Meeting(client_id=client_id, starts_at=starts_at))
        else:
            meeting.starts_at = starts_at
        await unit.session.flush()
        plan = await reminders.plan_for_client(unit, client_id, now, ctx.settings)
        results["meeting"] = (ctx.date(starts_at), plan.note)
    elif effect.what == "cancel_meeting":
        meeting = await unit.meeting(client_id)
        if meeting is not None:
            meeting.cancelled_at = now
            await unit.session.flush()
            await reminders.plan_for_client(unit, client_id, now, ctx.settings)
            results["cancelled"] = ctx.date(meeting.starts_at) if meeting.starts_at else ""
    elif effect.what == "set_place":
        meeting = await unit.meeting(client_id)
        if meeting is not None:
            meeting.place = args["place"]
    elif effect.what == "new_naaste":
        owner = await unit.session.get(Client, client_id)
        assert owner is not None
        naaste = Naaste(client_id=client_id, name=args["name"] or "?", relation=args["relation"])
        unit.session.add(naaste)
        await unit.session.flush()
        token = await unit.create_invite("naaste", owner.organisation_id, ctx.invite_days,
                                         now, person.id, naaste_id=naaste.id)
        results["naaste_link"] = (naaste.name, owner.name, ctx.link(token), ctx.invite_days)
    elif effect.what == "add_topic" and args["text"]:
        await add_agenda_item(unit, client_id, "begeleider", person.id, "topic", args["text"])
    elif effect.what == "agenda":
        agenda = await _agenda(unit, person.id, client_id, "begeleider", now, ctx,
                               acting=access.Acting("begeleider", begeleider.id))
        results["agenda"] = telegram_messages(agenda, _emoji(ctx)) or [t("b_agenda_empty")]
        results["playable"] = (agenda.client_name, [(p.answer_id, p.label)
                                                    for p in agenda.playable()])
    elif effect.what == "play":
        answer_id = access.as_id(args.get("answer_id", ""))
        answer = await unit.session.get(Answer, answer_id) if answer_id else None
        if (answer is not None and answer.client_id == client_id and answer.file_id
                and answer.removed_at is None and await access.can(
                    unit, person.id, client_id, "voice",
                    access.Acting("begeleider", begeleider.id))):
            results["play"] = Media(answer.kind, answer.file_id)
    elif effect.what == "exports":
        results["documents"] = await _exports(unit, person.id, client_id, now, ctx,
                                              access.Acting("begeleider", begeleider.id))
    elif effect.what == "audit_csv":
        results["documents"] = [await audit_csv(unit, client_id)]


async def _agenda(unit: Unit, viewer_id: int, client_id: int, role: str, now: datetime,
                  ctx: RoleContext, with_files: bool = False,
                  acting: access.Acting | None = None) -> Any:
    parts = await access.read(unit, viewer_id, client_id, access.ALL_PARTS, now, acting)
    agenda_parts = parts & set(_agenda_parts())
    lookup = _kept_file(unit) if with_files else None
    return await compile_agenda(unit.session, client_id, agenda_parts, role, now,
                                tz_name=str(ctx.tz), media_lookup=lookup)


def _kept_file(unit: Unit) -> Any:
    """Size and SHA-1 (base64, as FHIR's Attachment.hash wants) of a kept answer file."""
    async def lookup(media: Any) -> tuple[int, str] | None:
        path = await unit.session.scalar(select(Answer.file_path).where(
            Answer.file_id == media.file_id, Answer.file_state == "kept"))
        if not path:
            return None
        data = await asyncio.to_thread(Path(path).read_bytes)
        return len(data), base64.b64encode(hashlib.sha1(data).digest()).decode()
    return lookup


def _agenda_parts() -> tuple[str, ...]:
    from bot.agenda.model import PARTS

    return PARTS


def _emoji(ctx: RoleContext) -> Any:
    pictos = ctx.pictos
    if pictos is None:
        return None
    return lambda key: pictos.emoji(key) if pictos.has(key) else ""


async def _exports(unit: Unit, viewer_id: int, client_id: int, now: datetime,
                   ctx: RoleContext, acting: access.Acting | None = None) -> list[Document]:
    # Imported here: the PDF and FHIR libraries are large and most updates never need them.
    from bot.agenda import export_json, fhir, pdf

    agenda = await _agenda(unit, viewer_id, client_id, "begeleider", now, ctx, with_files=True,
                           acting=acting)
    stamp = now.astimezone(ctx.tz).strftime("%Y-%m-%d")
    documents = [Document(f"gesprek-{stamp}-begeleider.json", export_json.to_json(
        agenda).encode())]
    pictos = ctx.pictos
    if pictos is not None:  # made after the commit, in a worker thread
        documents = [
            Document(f"gesprek-{stamp}-begeleider.pdf",
                     make=lambda: pdf.begeleider_pdf(agenda, pictos)),
            Document(f"gesprek-{stamp}-client.pdf", make=lambda: pdf.client_pdf(agenda, pictos)),
            *documents,
            Document(f"gesprek-{stamp}-fhir.json", make=lambda: fhir.bundle(
                agenda, pictos.card).model_dump_json(indent=2).encode()),
        ]
    return documents


async def begeleider_agenda(unit: Unit, ctx: RoleContext, person: Person, client: Client,
                            date: str) -> list[Reply]:
    """Two days before the meeting: the agenda and both PDFs, unasked."""
    now = utcnow()
    agenda = await _agenda(unit, person.id, client.id, "begeleider", now, ctx)
    replies = [Reply(t("begeleider_agenda_intro", client=escape(client.name), date=date))]
    replies += [Reply(m) for m in telegram_messages(agenda, _emoji(ctx))]
    documents = await _exports(unit, person.id, client.id, now, ctx)
    replies += [Reply(escape(d.filename), document=d) for d in documents
                if d.filename.endswith(".pdf")]
    return replies


async def client_copy(unit: Unit, ctx: RoleContext, person: Person,
                      client: Client) -> list[Reply]:
    """`/mijnlijst`: the client's own agenda as messages, read aloud, and the easy-read PDF."""
    now = utcnow()
    agenda = await _agenda(unit, person.id, client.id, "client", now, ctx,
                           acting=access.Acting("client", client.id))
    replies = [Reply(message) for message in telegram_messages(agenda, _emoji(ctx))]
    if replies:
        replies[0] = Reply(replies[0].text, speak=spoken_text(agenda))
    pictos = ctx.pictos
    if pictos is not None:
        from bot.agenda import pdf

        stamp = now.astimezone(ctx.tz).strftime("%Y-%m-%d")
        replies.append(Reply(t("my_list_pdf"), document=Document(
            f"mijn-gesprek-{stamp}.pdf", make=lambda: pdf.client_pdf(agenda, pictos))))
    return replies


async def audit_csv(unit: Unit, client_id: int) -> Document:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["at", "viewer_person_id", "viewer", "part", "allowed"])
    names = {p.id: p.name for p in (await unit.session.execute(select(Person))).scalars()}
    for row in await access.audit_rows(unit, client_id):
        writer.writerow([row.at.isoformat(), row.viewer_person_id,
                         names.get(row.viewer_person_id or 0, ""), row.part,
                         "yes" if row.allowed else "no"])
    return Document(f"toegang-client-{client_id}.csv", buffer.getvalue().encode())


async def add_agenda_item(unit: Unit, client_id: int, role: str, person_id: int, kind: str,
                          text: str) -> None:
    top = await unit.session.scalar(select(func.max(AgendaItem.position)).where(
        AgendaItem.client_id == client_id))
    unit.session.add(AgendaItem(client_id=client_id, owner_role=role, owner_person_id=person_id,
                                kind=kind, text=text, position=(top or 0) + 1))


# ----------------------------------------------------------------------- naaste
async def naaste_turn(unit: Unit, ctx: RoleContext, person: Person, naaste: Naaste,
                      inp: Input, now: datetime) -> list[Reply]:
    row = await unit.load_session(person.id, f"naaste:{naaste.id}", naaste.client_id, "home")
    session = session_of(row)
    press = pressed(inp)
    if press and press.action in naaste_dialog.ITEM_ID_ACTIONS:
        item = await _own_item(unit, person, naaste, press.arg)
        if item is None:
            # Not this naaste's item: the denial is logged against the client it names.
            await access.refuse_forged(unit, person.id, AgendaItem, press.arg, "naasten",
                                       access.Acting("naaste", naaste.id))
            return refused()
    if inp.kind == "command" and inp.command == "stop":
        session.status = "stopped"
        save(row, session, True)
        return [Reply(t("n_stopped"))]
    session.status = "active"
    out = naaste_dialog.decide(session, inp, naaste_dialog.View(person.name, "", None))
    for effect in out.effects:
        await _naaste_effect(unit, person, naaste, effect)
    if out.ask:
        session.seq += 1
    # The shared agenda is read (and logged) only for a screen that shows it.
    shown = naaste_dialog.screen(out) if out.ask and session.step == "home" else "menu"
    view = await naaste_view(unit, ctx, person, naaste, now, with_shared=shown != "menu")
    _remember_seen(session, view, shown, now)
    replies = naaste_dialog.render(session, out, view)
    save(row, session, bool(replies))
    return replies


async def naaste_agenda(unit: Unit, ctx: RoleContext, person: Person, naaste: Naaste,
                        kind: str, now: datetime) -> list[Reply]:
    """A planned message to a naaste, `now` on the schedule's clock. "naaste_agenda" (two
    weeks before): the home screen, with an invitation above the buttons; "naaste_nudge"
    (three days before): hello, the date and the question, with the buttons."""
    row = await unit.load_session(person.id, f"naaste:{naaste.id}", naaste.client_id, "home")
    session = session_of(row)
    if session.status == "stopped":
        return []  # after /stop a naaste gets no more messages (n_stopped says so)
    agenda = kind == schedule.NAASTE_AGENDA
    if agenda and await _agenda_seen(unit, ctx, session, naaste, now):
        return []  # joined late and saw it all a moment ago: no second greeting
    view = await naaste_view(unit, ctx, person, naaste, now, with_shared=agenda)
    session.step, session.seq = "home", session.seq + 1
    if agenda:
        _remember_seen(session, view, "home", now)
        replies = naaste_dialog.home(session, view, "home", t("naaste_agenda_invite"))
    else:
        replies = [Reply(naaste_dialog.greeting(view, t("naaste_nudge")),
                         buttons=naaste_dialog.menu_rows(session, view))]
    save(row, session, False)
    # Unasked, so also spoken: the greeting and the date (not every naaste reads well).
    first = replies[0]
    return [replace(first, speak=plain(unescape(first.text))), *replies[1:]]


def _remember_seen(session: Session, view: naaste_dialog.View, shown: str,
                   now: datetime) -> None:
    """When the naaste last saw the date and the agenda (see `_agenda_seen`)."""
    if shown == "home" and view.meeting is not None:
        session.data["agenda_seen"] = now.isoformat()


async def _agenda_seen(unit: Unit, ctx: RoleContext, session: Session, naaste: Naaste,
                       now: datetime) -> bool:
    """The two-week agenda is late (a naaste who joined in the last two weeks gets it at
    once), and the naaste saw the home screen with the date since it was due."""
    seen = session.data.get("agenda_seen")
    meeting = await unit.meeting(naaste.client_id)
    if not isinstance(seen, str) or meeting is None or meeting.starts_at is None:
        return False
    settings = schedule.ScheduleSettings.from_settings(ctx.settings)
    due = schedule.days_before(meeting.starts_at, settings.naaste_days, settings)
    return due <= datetime.fromisoformat(seen) <= now


async def naaste_view(unit: Unit, ctx: RoleContext, person: Person, naaste: Naaste,
                      now: datetime, with_shared: bool) -> naaste_dialog.View:
    client = await unit.session.get(Client, naaste.client_id)
    assert client is not None
    acting = access.Acting("naaste", naaste.id)
    parts = await access.read(unit, person.id, client.id, ["meeting_date"], now, acting)
    meeting = await unit.meeting(client.id) if "meeting_date" in parts else None
    starts_at = meeting.starts_at if meeting else None
    view = naaste_dialog.View(
        naaste.name, client.name, ctx.date(starts_at) if starts_at else None,
        schedule.days_until(starts_at, now, ctx.tz) if starts_at else None)
    if with_shared:
        agenda = await _agenda(unit, person.id, client.id, "naaste", now, ctx, acting=acting)
        view.shares = bool(agenda.visible & _SHOWN_PARTS)
        view.shared = telegram_messages(agenda, _emoji(ctx))  # [] when nothing is filled in
    mine = await unit.session.execute(select(AgendaItem).where(
        AgendaItem.client_id == client.id, AgendaItem.owner_person_id == person.id,
        AgendaItem.removed_at.is_(None)).order_by(AgendaItem.position))
    view.mine = [naaste_dialog.Item(i.id, i.kind, i.text) for i in mine.scalars()]
    return view


async def _naaste_effect(unit: Unit, person: Person, naaste: Naaste, effect: Do) -> None:
    args = effect.args
    if effect.what == "show":
        return  # which screen: the dialog renders it
    if effect.what == "add_item" and args["text"]:
        await add_agenda_item(unit, naaste.client_id, "naaste", person.id, args["kind"],
                              args["text"])
        return
    item = await _own_item(unit, person, naaste, str(args.get("item_id", "")))
    if item is None:
        return
    if effect.what == "edit_item" and args["text"]:
        item.text = args["text"]
    elif effect.what == "remove_item":
        item.removed_at = utcnow()


async def _own_item(unit: Unit, person: Person, naaste: Naaste, item_id: str) -> AgendaItem | None:
    number = access.as_id(item_id)
    item = await unit.session.get(AgendaItem, number) if number is not None else None
    if (item is None or item.owner_person_id != person.id or item.client_id != naaste.client_id
            or item.removed_at is not None):
        return None
    return item


# ----------------------------------------------------------------------- admin
async def admin_turn(unit: Unit, ctx: RoleContext, person: Person, admin: Admin, inp: Input,
                     now: datetime) -> list[Reply]:
    row = await unit.load_session(person.id, "admin", None, "home")
    session = session_of(row)
    view = await admin_view(unit, admin)
    out = admin_dialog.decide(session, inp, view)
    press = pressed(inp)
    if out.stale and press and press.action == "ch" and session.step != "pick_begeleider" \
            and await access.refuse_forged(unit, person.id, Client, press.arg, "progress",
                                           access.Acting("admin", admin.id)) is not None:
        return refused()  # a client of another organisation, or none at all
    for effect in out.effects:
        await _admin_effect(unit, ctx, person, admin, effect, view, now)
    if out.ask:
        session.seq += 1
    results, documents = view.results, view.documents
    view = await admin_view(unit, admin)
    view.results, view.documents = results, documents
    replies = admin_dialog.render(session, out, view)
    save(row, session, bool(replies))
    return replies


async def admin_view(unit: Unit, admin: Admin) -> admin_dialog.View:
    organisation = await unit.session.get(Organisation, admin.organisation_id)
    clients = await unit.session.execute(select(Client.id, Client.name).where(
        Client.organisation_id == admin.organisation_id).order_by(Client.name))
    begeleiders = await unit.session.execute(select(Begeleider.id, Begeleider.name).where(
        Begeleider.organisation_id == admin.organisation_id).order_by(Begeleider.name))
    return admin_dialog.View(organisation.name if organisation else "",
                             [(i, n) for i, n in clients], [(i, n) for i, n in begeleiders])


async def _admin_effect(unit: Unit, ctx: RoleContext, person: Person, admin: Admin, effect: Do,
                        view: admin_dialog.View, now: datetime) -> None:
    args = effect.args
    if effect.what == "new_begeleider" and args["name"]:
        begeleider = Begeleider(organisation_id=admin.organisation_id, name=args["name"])
        unit.session.add(begeleider)
        await unit.session.flush()
        token = await unit.create_invite("begeleider", admin.organisation_id, ctx.invite_days,
                                         now, person.id, begeleider_id=begeleider.id)
        view.results["begeleider_link"] = (begeleider.name, ctx.link(token),
                                           str(ctx.invite_days))
    elif effect.what == "audit_csv":
        client = await unit.session.get(Client, int(args["client_id"]))
        if client is not None and await access.can(unit, person.id, client.id, "progress",
                                                   access.Acting("admin", admin.id)):
            view.documents.append(await audit_csv(unit, client.id))
    elif effect.what == "move_client":
        client = await unit.session.get(Client, int(args["client_id"]))
        target = await unit.session.get(Begeleider, int(args["begeleider_id"]))
        if (client is None or target is None or client.organisation_id != admin.organisation_id
                or target.organisation_id != admin.organisation_id):
            return
        client.begeleider_id = target.id
        view.results["moved"] = (client.name, target.name)

