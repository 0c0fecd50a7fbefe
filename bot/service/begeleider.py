"""The begeleider's turn: their clients with progress, a new client (link + QR), the
meeting, naasten, topics, the agenda with playback, the exports. Ids from buttons are
checked in the role acted in (`access.Acting`) before anything is shown or changed."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any, assert_never

from bot.agenda.telegram_text import telegram_messages
from bot.dialogs import begeleider as begeleider_dialog
from bot.dialogs import check_in, client_prep, history
from bot.dialogs.agreements import for_client as agreements_for_client
from bot.dialogs.agreements import for_naaste as agreements_for_naaste
from bot.dialogs.begeleider import (
    AddAgreement,
    AddTopic,
    CancelMeeting,
    ChangeAgreement,
    Exports,
    NewClient,
    NewNaaste,
    PlanEvaluation,
    Play,
    RemoveAgreement,
    SendAgreements,
    SetCheckIns,
    SetMeeting,
    SetPicturesFirst,
    SetPlace,
    ShowAgenda,
    ShowHistory,
)
from bot.dialogs.buttons import pressed
from bot.dialogs.client_prep import QUESTION_STEPS
from bot.dialogs.effects import AuditCsv
from bot.dialogs.menu import MenuOutcome
from bot.dialogs.texts import t
from bot.dialogs.types import Input, Media, Reply
from bot.service import access, agendas, sessions
from bot.service import client as client_turn
from bot.service.types import Context, TurnResult, refused
from bot.state.models import Agreement, Answer, Begeleider, Client, Meeting, Naaste
from bot.state.unit import PersonRow, Unit

FLOW = "begeleider"
# Buttons that name a row of the client on screen: the row, and the part a forged one is
# denied as (in the access log, against the client it belongs to).
_NAMED: dict[str, tuple[type[Answer] | type[Agreement], str]] = {
    begeleider_dialog.Action.PLAY: (Answer, "voice"),
    begeleider_dialog.Action.EDIT_AGREEMENT: (Agreement, "agreements")}


async def turn(unit: Unit, ctx: Context, person: PersonRow, begeleider_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    begeleider = await unit.get(Begeleider, begeleider_id)
    assert begeleider is not None
    now = ctx.now()
    row, session = await sessions.load(unit, person.id, FLOW, None, "home")
    acting = access.Acting("begeleider", begeleider.id)
    press = pressed(inp, begeleider_dialog.Action)
    if press and press.action in begeleider_dialog.CLIENT_ID_ACTIONS:
        # Checked in the role acted in (an admin who is also a begeleider reaches only
        # their own clients here); a denied press is logged and changes nothing.
        client_id = access.as_id(press.arg)
        if not await access.can(unit, person.id, client_id or 0, "progress", acting):
            return TurnResult(refused())
    named = _NAMED.get(press.action) if press else None
    if press and named and await access.refuse_forged(unit, person.id, named[0], press.arg,
                                                      named[1], acting) is not None:
        return TurnResult(refused())  # a recording or agreement of someone else's client
    current = access.as_id(session.data.get("client", ""))
    if current is not None and (await access.relation(unit, person.id, current,
                                                      acting)).role == "none":
        session.data.pop("client", None)  # moved to another begeleider meanwhile
        session.step = "home"
    shown = session.step in begeleider_dialog.AGREEMENT_STATES
    view = await _view(unit, person, begeleider, ctx, now, session.data.get("client"), shown)
    out = begeleider_dialog.decide(session, inp, view)
    also: list[tuple[int, Reply]] = []
    results = await _apply_begeleider(unit, ctx, person, begeleider, out, now, also)
    if out.ask:
        session.seq += 1
    showing = session.step in begeleider_dialog.AGREEMENT_STATES
    if out.effects or showing != shown:  # a new client, a meeting, the agreements screen
        view = await _view(unit, person, begeleider, ctx, now, session.data.get("client"),
                           showing)
    view.results = results
    replies = begeleider_dialog.render(session, out, view)
    await sessions.save(unit, row, session, bool(replies))
    return TurnResult(replies, session.step, also=also)


async def _view(unit: Unit, person: PersonRow, begeleider: Begeleider, ctx: Context,
                now: datetime, on_screen: object = None,
                agreements: bool = False) -> begeleider_dialog.View:
    """Every client's line; with `agreements` (their screens only: each read is in the
    access log) the agreements, topics and check-ins of the client on screen."""
    view = begeleider_dialog.View(ctx.tz, now)
    acting = access.Acting("begeleider", begeleider.id)
    current = access.as_id(on_screen)
    for client in await unit.clients_of(begeleider.id):
        if not await access.read(unit, person.id, client.id, ["progress"], now, acting):
            continue  # linked to this begeleider, but of another organisation
        view.clients.append(await _client_line(unit, client, ctx))
        if agreements and client.id == current and await access.can(
                unit, person.id, client.id, "agreements", acting):
            view.agreements = client_turn.agreement_lines(await unit.agreements(client.id))
            if await access.can(unit, person.id, client.id, "agenda", acting):
                view.topics = [" ".join(a.text for a in parts) for parts in _topics(
                    await unit.answers_of(client.id, ["agenda"]))]
            view.check_in_days = client.check_in_days
            for answer in await unit.check_ins(client.id):
                if answer.agreement_id is None:
                    continue  # an evaluation's last words: in the line the begeleider got
                view.timeline.setdefault(answer.agreement_id, []).append(
                    f"{check_in.mood_mark(answer.mood)} {ctx.date(answer.answered_at, False)}"
                    + (f" “{escape(answer.text)}”" if answer.text else ""))
    return view


async def _next_round(unit: Unit, client_id: int) -> int:
    """Start the client's next round: last round's answers and topics stay as they were (as
    history); the client's preparation starts again at the welcome."""
    number = await unit.start_round(client_id)
    owner = await unit.get(Client, client_id)
    if owner is not None and owner.person_id is not None:
        row, session = await sessions.load(unit, owner.person_id, client_prep.FLOW.name,
                                           client_id, "welcome")
        client_prep.next_round(session, number)
        session.seq += 1  # the buttons of the last round's screens are old now
        await sessions.save(unit, row, session, False)
    return number


async def _replan(ctx: Context, unit: Unit, client_id: int, now: datetime) -> Any:
    """The client's planned sends after a change (the schedule's plan: its note is for the
    begeleider when the date is late)."""
    return await ctx.replan(unit, client_id, now, ctx.settings)


def _topics(rows: list[Answer]) -> list[list[Answer]]:
    """The client's topics (text parts per item, in order)."""
    items: dict[int, list[Answer]] = {}
    for row in rows:
        if row.kind == "text" and row.text:
            items.setdefault(row.item, []).append(row)
    return [items[n] for n in sorted(items)]


async def _client_line(unit: Unit, client: Client,
                       ctx: Context) -> begeleider_dialog.ClientLine:
    progress = await unit.progress(client.id, topics_step="agenda", place_step="meeting_where")
    meeting = await unit.meeting(client.id)
    last = progress.last_active
    return begeleider_dialog.ClientLine(
        client.id, client.name, len(progress.steps & set(QUESTION_STEPS)), len(QUESTION_STEPS),
        progress.topics, ctx.date(last) if last else t("b_never"),
        ctx.date(meeting.starts_at) if meeting and meeting.starts_at else None, progress.place,
        client.pictures_first)


async def _apply_begeleider(unit: Unit, ctx: Context, person: PersonRow, begeleider: Begeleider,
                            out: MenuOutcome[begeleider_dialog.Effect],
                            now: datetime, also: list[tuple[int, Reply]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for effect in out.effects:
        client_id = 0 if isinstance(effect, NewClient) else effect.client_id
        if client_id and not await access.can(unit, person.id, client_id, "progress",
                                              access.Acting("begeleider", begeleider.id)):
            continue  # not this begeleider's client (moved meanwhile)
        await _begeleider_effect(unit, ctx, person, begeleider, effect, client_id, now,
                                 results, also)
    return results


async def _agreement_effect(unit: Unit, ctx: Context, person: PersonRow,
                            effect: AddAgreement | ChangeAgreement | RemoveAgreement
                            | SendAgreements, client_id: int, now: datetime,
                            results: dict[str, Any], also: list[tuple[int, Reply]]) -> None:
    """Agreements are written here; the client gets them on "send", and a change to
    agreements they already have at once (the client sees what their begeleider changed)."""
    match effect:
        case AddAgreement(text=text, who=who, picto=picto, topic=topic):
            meeting = await unit.meeting(client_id)
            await unit.add(Agreement(
                client_id=client_id, meeting_id=meeting.id if meeting else None, text=text,
                who=who, picto=picto, topic=topic, created_by=person.id, created_at=now,
                changed_at=now))
            return
        case ChangeAgreement(agreement_id=agreement_id) | RemoveAgreement(
                agreement_id=agreement_id):
            row = await unit.get(Agreement, agreement_id)
            if row is None or row.client_id != client_id or row.removed_at is not None:
                return  # not the client's (a forged or old id): nothing changes
            was_sent = row.sent_at is not None
            if isinstance(effect, ChangeAgreement):
                row.text, row.changed_at = effect.text, now
            else:
                row.removed_at = now
            await unit.flush()
            if not was_sent:
                return
        case SendAgreements():
            pass
        case _:
            assert_never(effect)
    # Send (or send again after a change): every current agreement, marked as sent.
    rows = await unit.agreements(client_id)
    owner = await unit.get(Client, client_id)
    chat = await unit.client_chat(client_id)
    changed = isinstance(effect, ChangeAgreement | RemoveAgreement)
    name = owner.name if owner else ""
    if chat is not None:
        for row in rows:
            row.sent_at = now
        replies = agreements_for_client(client_turn.agreement_lines(rows), changed=changed) or (
            [] if not changed else [Reply(t("agreements_none"))])
        replies += agendas.agreements_document(ctx, client_turn.agreement_lines(rows))
        also.extend((chat, reply) for reply in replies)
        # Naasten get them when the client shares their agreements with them (the read is
        # theirs: it is checked and logged as such).
        for naaste in await unit.naasten(client_id):
            naaste_chat = await unit.person_chat(naaste.person_id) if naaste.person_id else None
            if naaste_chat is not None and await access.can(unit, naaste.person_id or 0,
                                                            client_id, "agreements"):
                also.extend((naaste_chat, reply) for reply in agreements_for_naaste(
                    client_turn.agreement_lines(rows), name, changed=changed))
    if changed and chat is not None:
        results["agreements_changed"] = name
    else:
        results["agreements_sent"] = (name, chat is not None)


async def _begeleider_effect(unit: Unit, ctx: Context, person: PersonRow,
                             begeleider: Begeleider, effect: begeleider_dialog.Effect,
                             client_id: int, now: datetime, results: dict[str, Any],
                             also: list[tuple[int, Reply]]) -> None:
    match effect:
        case AddAgreement() | ChangeAgreement() | RemoveAgreement() | SendAgreements():
            await _agreement_effect(unit, ctx, person, effect, client_id, now, results, also)
            if isinstance(effect, SendAgreements):  # the first check-in is planned now
                await _replan(ctx, unit, client_id, now)
        case PlanEvaluation(when=when):
            owner = await unit.get(Client, client_id)
            if owner is not None:
                owner.evaluation_at = when or now
                await unit.flush()
                await _replan(ctx, unit, client_id, now)
                results["evaluation"] = (owner.name, ctx.date(when) if when else "")
        case ShowHistory():
            owner = await unit.get(Client, client_id)
            allowed = await access.read(unit, person.id, client_id, history.ORDER, now,
                                        access.Acting("begeleider", begeleider.id))
            rounds = await client_turn.earlier_rounds(unit, client_id, allowed)
            results["history"] = history.for_begeleider(rounds, owner.name if owner else "")
        case SetPicturesFirst(on=on):
            owner = await unit.get(Client, client_id)
            if owner is not None:
                owner.pictures_first = on
        case SetCheckIns(days=days):
            owner = await unit.get(Client, client_id)
            if owner is not None:
                owner.check_in_days = days
                await unit.flush()
                await _replan(ctx, unit, client_id, now)
        case NewClient(name=name) if name:
            client = await unit.add(Client(organisation_id=begeleider.organisation_id,
                                           name=name, begeleider_id=begeleider.id))
            token = await unit.create_invite("client", begeleider.organisation_id,
                                             ctx.invite_days, now, person.id,
                                             client_id=client.id)
            results["client_link"] = (client.name, ctx.link(token), ctx.invite_days)
        case SetMeeting(starts_at=starts_at):
            meeting = await unit.meeting(client_id)
            if meeting is not None and meeting.starts_at is not None and meeting.starts_at < now:
                # The last meeting was held: the next one has a round of its own.
                results["round"] = await _next_round(unit, client_id)
                meeting = None
            if meeting is None:
                await unit.add(Meeting(client_id=client_id, starts_at=starts_at))
            else:
                meeting.starts_at = starts_at
                await unit.flush()
            plan = await _replan(ctx, unit, client_id, now)
            results["meeting"] = (ctx.date(starts_at), plan.note)
        case CancelMeeting():
            meeting = await unit.meeting(client_id)
            if meeting is not None:
                meeting.cancelled_at = now
                await unit.flush()
                await _replan(ctx, unit, client_id, now)
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
