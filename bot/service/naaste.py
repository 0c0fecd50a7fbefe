"""The naaste's turn: the meeting date and exactly what the client shares, their own
topics and questions (add, change, remove), and the planned messages before the meeting."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from html import unescape
from typing import assert_never

from bot import schedule
from bot.agenda.model import CLIENT_PARTS, plain
from bot.agenda.telegram_text import telegram_messages
from bot.dialogs import naaste as naaste_dialog
from bot.dialogs.buttons import pressed
from bot.dialogs.naaste import AddOwnItem, EditOwnItem, EraseOwn, RemoveOwnItem, Show
from bot.dialogs.texts import t
from bot.dialogs.types import Input, Reply, Session
from bot.service import access, agendas, sessions
from bot.service.types import Context, TurnResult, refused
from bot.state.erasure import erase_naaste_contributions
from bot.state.models import AgendaItem, Client, Naaste
from bot.state.unit import PersonRow, Unit

# Parts that hold something for a naaste to read ("voice" only adds recordings to them).
_SHOWN_PARTS = frozenset((*CLIENT_PARTS, "meeting"))


def flow(naaste: Naaste) -> str:
    """A naaste of two clients has a session per client."""
    return f"naaste:{naaste.id}"


async def turn(unit: Unit, ctx: Context, person: PersonRow, naaste_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    naaste = await unit.get(Naaste, naaste_id)
    assert naaste is not None
    now = ctx.now()
    row, session = await sessions.load(unit, person.id, flow(naaste), naaste.client_id, "home")
    press = pressed(inp, naaste_dialog.Action)
    if press and press.action in naaste_dialog.ITEM_ID_ACTIONS:
        item = await _own_item(unit, person, naaste, press.arg)
        if item is None:
            # Not this naaste's item: the denial is logged against the client it names.
            await access.refuse_forged(unit, person.id, AgendaItem, press.arg, "naasten",
                                       access.Acting("naaste", naaste.id))
            return TurnResult(refused())
    if inp.kind == "command" and inp.command == "stop":
        session.status = "stopped"
        await sessions.save(unit, row, session, True)
        return TurnResult([Reply(t("n_stopped"))], session.step)
    session.status = "active"
    out = naaste_dialog.decide(session, inp, naaste_dialog.View(person.name, "", None))
    for effect in out.effects:
        await _naaste_effect(unit, person, naaste, effect, now)
    if out.ask:
        session.seq += 1
    # The shared agenda is read (and logged) only for a screen that shows it.
    shown = naaste_dialog.screen(out) if out.ask and session.step == "home" else "menu"
    view = await _view(unit, ctx, person, naaste, now, with_shared=shown != "menu")
    _remember_seen(session, view, shown, now)
    replies = naaste_dialog.render(session, out, view)
    await sessions.save(unit, row, session, bool(replies))
    return TurnResult(replies, session.step)


async def scheduled(unit: Unit, ctx: Context, person: PersonRow, naaste: Naaste,
                    kind: str, now: datetime) -> list[Reply]:
    """A planned message to a naaste, `now` on the schedule's clock. "naaste_agenda" (two
    weeks before): the home screen, with an invitation above the buttons; "naaste_nudge"
    (three days before): hello, the date and the question, with the buttons."""
    row, session = await sessions.load(unit, person.id, flow(naaste), naaste.client_id, "home")
    if session.status == "stopped":
        return []  # after /stop a naaste gets no more messages (n_stopped says so)
    agenda = kind == schedule.NAASTE_AGENDA
    if agenda and await _agenda_seen(unit, ctx, session, naaste, now):
        return []  # joined late and saw it all a moment ago: no second greeting
    view = await _view(unit, ctx, person, naaste, now, with_shared=agenda)
    session.step, session.seq = "home", session.seq + 1
    if agenda:
        _remember_seen(session, view, "home", now)
        replies = naaste_dialog.home(session, view, "home", t("naaste_agenda_invite"))
    else:
        replies = [Reply(naaste_dialog.greeting(view, t("naaste_nudge")),
                         buttons=naaste_dialog.menu_rows(session, view))]
    await sessions.save(unit, row, session, False)
    # Unasked, so also spoken: the greeting and the date (not every naaste reads well).
    first = replies[0]
    return [replace(first, speak=plain(unescape(first.text))), *replies[1:]]


def _remember_seen(session: Session, view: naaste_dialog.View, shown: str,
                   now: datetime) -> None:
    """When the naaste last saw the date and the agenda (see `_agenda_seen`)."""
    if shown == "home" and view.meeting is not None:
        session.data["agenda_seen"] = now.isoformat()


async def _agenda_seen(unit: Unit, ctx: Context, session: Session, naaste: Naaste,
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


async def _view(unit: Unit, ctx: Context, person: PersonRow, naaste: Naaste,
                      now: datetime, with_shared: bool) -> naaste_dialog.View:
    client = await unit.get(Client, naaste.client_id)
    assert client is not None
    acting = access.Acting("naaste", naaste.id)
    parts = await access.read(unit, person.id, client.id, ["meeting_date"], now, acting)
    meeting = await unit.meeting(client.id) if "meeting_date" in parts else None
    starts_at = meeting.starts_at if meeting else None
    view = naaste_dialog.View(
        naaste.name, client.name, ctx.date(starts_at) if starts_at else None,
        schedule.days_until(starts_at, now, ctx.tz) if starts_at else None)
    if with_shared:
        agenda = await agendas.compiled(unit, person.id, client.id, "naaste", now, ctx,
                                        acting=acting)
        view.shares = bool(agenda.visible & _SHOWN_PARTS)
        view.shared = telegram_messages(agenda, agendas.emoji(ctx))  # [] when nothing is filled in
    view.mine = [naaste_dialog.Item(i.id, i.kind, i.text)
                 for i in await unit.agenda_items_by(client.id, person.id)]
    return view


async def _naaste_effect(unit: Unit, person: PersonRow, naaste: Naaste,
                         effect: naaste_dialog.Effect, now: datetime) -> None:
    match effect:
        case Show():
            pass  # which screen: the dialog renders it
        case AddOwnItem(kind=kind, text=text):
            if text:
                await unit.add_agenda_item(naaste.client_id, "naaste", person.id, kind, text)
        case EditOwnItem(item_id=item_id, text=text):
            item = await _own_item(unit, person, naaste, item_id)
            if item is not None and text:
                item.text = text
        case RemoveOwnItem(item_id=item_id):
            item = await _own_item(unit, person, naaste, item_id)
            if item is not None:
                item.removed_at = now
        case EraseOwn():
            await erase_naaste_contributions(unit, naaste.id)
        case _:
            assert_never(effect)


async def _own_item(unit: Unit, person: PersonRow, naaste: Naaste,
                    item_id: object) -> AgendaItem | None:
    """The naaste's own item that `item_id` (an id, or a button's text) names, if it is."""
    number = access.as_id(item_id)
    item = await unit.get(AgendaItem, number) if number is not None else None
    if (item is None or item.owner_person_id != person.id or item.client_id != naaste.client_id
            or item.removed_at is not None):
        return None
    return item
