"""The begeleider's turn: their clients with progress, a new client (link + QR), the
meeting, naasten, topics, the agenda with playback, the exports. Ids from buttons are
checked in the role acted in (`access.Acting`) before anything is shown or changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_never

from bot import schedule
from bot.agenda.telegram_text import telegram_messages
from bot.dialogs import begeleider as begeleider_dialog
from bot.dialogs.begeleider import (
    AddTopic,
    CancelMeeting,
    Exports,
    NewClient,
    NewNaaste,
    Play,
    SetMeeting,
    SetPlace,
    ShowAgenda,
)
from bot.dialogs.buttons import pressed
from bot.dialogs.client_prep import QUESTION_STEPS
from bot.dialogs.effects import AuditCsv
from bot.dialogs.menu import MenuOutcome
from bot.dialogs.texts import t
from bot.dialogs.types import Input, Media
from bot.service import access, agendas, sessions
from bot.service.types import Context, TurnResult, refused
from bot.state.models import Answer, Begeleider, Client, Meeting, Naaste, utcnow
from bot.state.unit import PersonRow, Unit

FLOW = "begeleider"


async def turn(unit: Unit, ctx: Context, person: PersonRow, begeleider_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    begeleider = await unit.get(Begeleider, begeleider_id)
    assert begeleider is not None
    now = utcnow()
    row, session = await sessions.load(unit, person.id, FLOW, None, "home")
    acting = access.Acting("begeleider", begeleider.id)
    press = pressed(inp, begeleider_dialog.Action)
    if press and press.action in begeleider_dialog.CLIENT_ID_ACTIONS:
        # Checked in the role acted in (an admin who is also a begeleider reaches only
        # their own clients here); a denied press is logged and changes nothing.
        client_id = access.as_id(press.arg)
        if not await access.can(unit, person.id, client_id or 0, "progress", acting):
            return TurnResult(refused())
    if press and press.action == begeleider_dialog.Action.PLAY and await access.refuse_forged(
            unit, person.id, Answer, press.arg, "voice", acting) is not None:
        return TurnResult(refused())
    current = access.as_id(session.data.get("client", ""))
    if current is not None and (await access.relation(unit, person.id, current,
                                                      acting)).role == "none":
        session.data.pop("client", None)  # moved to another begeleider meanwhile
        session.step = "home"
    view = await _view(unit, person, begeleider, ctx, now)
    out = begeleider_dialog.decide(session, inp, view)
    results = await _apply_begeleider(unit, ctx, person, begeleider, out, now)
    if out.ask:
        session.seq += 1
    if out.effects:  # a new client, a meeting, a topic: the screen shows it
        view = await _view(unit, person, begeleider, ctx, now)
    view.results = results
    replies = begeleider_dialog.render(session, out, view)
    await sessions.save(unit, row, session, bool(replies))
    return TurnResult(replies, session.step)


async def _view(unit: Unit, person: PersonRow, begeleider: Begeleider,
                          ctx: Context, now: datetime) -> begeleider_dialog.View:
    view = begeleider_dialog.View(ctx.tz, now)
    for client in await unit.clients_of(begeleider.id):
        await access.read(unit, person.id, client.id, ["progress"], now,
                          access.Acting("begeleider", begeleider.id))
        view.clients.append(await _client_line(unit, client, ctx))
    return view


async def _client_line(unit: Unit, client: Client,
                       ctx: Context) -> begeleider_dialog.ClientLine:
    progress = await unit.progress(client.id, topics_step="agenda", place_step="meeting_where")
    meeting = await unit.meeting(client.id)
    last = progress.last_active
    return begeleider_dialog.ClientLine(
        client.id, client.name, len(progress.steps & set(QUESTION_STEPS)), len(QUESTION_STEPS),
        progress.topics, ctx.date(last) if last else t("b_never"),
        ctx.date(meeting.starts_at) if meeting and meeting.starts_at else None, progress.place)


async def _apply_begeleider(unit: Unit, ctx: Context, person: PersonRow, begeleider: Begeleider,
                            out: MenuOutcome[begeleider_dialog.Effect],
                            now: datetime) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for effect in out.effects:
        client_id = 0 if isinstance(effect, NewClient) else effect.client_id
        if client_id and not await access.can(unit, person.id, client_id, "progress",
                                              access.Acting("begeleider", begeleider.id)):
            continue  # not this begeleider's client (moved meanwhile)
        await _begeleider_effect(unit, ctx, person, begeleider, effect, client_id, now,
                                 results)
    return results


async def _begeleider_effect(unit: Unit, ctx: Context, person: PersonRow,
                             begeleider: Begeleider, effect: begeleider_dialog.Effect,
                             client_id: int, now: datetime, results: dict[str, Any]) -> None:
    match effect:
        case NewClient(name=name) if name:
            client = await unit.add(Client(organisation_id=begeleider.organisation_id,
                                           name=name, begeleider_id=begeleider.id))
            token = await unit.create_invite("client", begeleider.organisation_id,
                                             ctx.invite_days, now, person.id,
                                             client_id=client.id)
            results["client_link"] = (client.name, ctx.link(token), ctx.invite_days)
        case SetMeeting(starts_at=starts_at):
            meeting = await unit.meeting(client_id)
            if meeting is None:
                await unit.add(Meeting(client_id=client_id, starts_at=starts_at))
            else:
                meeting.starts_at = starts_at
                await unit.flush()
            plan = await schedule.plan_for_client(unit, client_id, now, ctx.settings)
            results["meeting"] = (ctx.date(starts_at), plan.note)
        case CancelMeeting():
            meeting = await unit.meeting(client_id)
            if meeting is not None:
                meeting.cancelled_at = now
                await unit.flush()
                await schedule.plan_for_client(unit, client_id, now, ctx.settings)
                results["cancelled"] = ctx.date(meeting.starts_at) if meeting.starts_at else ""
        case SetPlace(place=place):
            meeting = await unit.meeting(client_id)
            if meeting is not None:
                meeting.place = place
        case NewNaaste(name=name, relation=relation):
            owner = await unit.get(Client, client_id)
            assert owner is not None
            naaste = await unit.add(Naaste(client_id=client_id, name=name or "?",
                                           relation=relation))
            token = await unit.create_invite("naaste", owner.organisation_id, ctx.invite_days,
                                             now, person.id, naaste_id=naaste.id)
            results["naaste_link"] = (naaste.name, owner.name, ctx.link(token),
                                      ctx.invite_days)
        case AddTopic(text=text) if text:
            await unit.add_agenda_item(client_id, "begeleider", person.id, "topic", text)
        case ShowAgenda():
            agenda = await agendas.compiled(unit, person.id, client_id, "begeleider", now, ctx,
                                   acting=access.Acting("begeleider", begeleider.id))
            results["agenda"] = (telegram_messages(agenda, agendas.emoji(ctx))
                                 or [t("b_agenda_empty")])
            results["playable"] = (agenda.client_name, [(p.answer_id, p.label)
                                                        for p in agenda.playable()])
        case Play(answer_id=answer_id):
            answer = await unit.get(Answer, answer_id)
            if (answer is not None and answer.client_id == client_id and answer.file_id
                    and answer.removed_at is None and await access.can(
                        unit, person.id, client_id, "voice",
                        access.Acting("begeleider", begeleider.id))):
                results["play"] = Media(answer.kind, answer.file_id)
        case Exports():
            results["documents"] = await agendas.exports(unit, person.id, client_id, now, ctx,
                                                  access.Acting("begeleider", begeleider.id))
        case AuditCsv():
            results["documents"] = [await agendas.audit_csv(unit, client_id)]
        case NewClient() | AddTopic():
            pass  # no name, no text: nothing to add
        case _:
            assert_never(effect)
