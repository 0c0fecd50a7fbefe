"""The client's turn: load the session and answers, let the client flow decide, write its
typed effects, render. The hot path of the bot: every statement here is counted (see
bench/dialog_load.py "SQL statements per update")."""

from __future__ import annotations

from datetime import datetime
from html import escape

from bot import schedule
from bot.dialogs import agreements, check_in, client_prep, history, picto_mat
from bot.dialogs.buttons import pressed
from bot.dialogs.spoken import plain
from bot.dialogs.texts import t
from bot.dialogs.types import (
    AddPart,
    Answers,
    AnswerView,
    EditByMessage,
    Effect,
    Input,
    KeepPrevious,
    MoveItemUp,
    NaasteView,
    RemoveItem,
    RemoveNaaste,
    RemoveTag,
    Reply,
    RestoreNaaste,
    Session,
    SetShare,
    SetTranscript,
)
from bot.service import access, agendas, inzage, sessions
from bot.service.types import Context, TurnResult
from bot.state.models import Agreement, Answer, CheckIn, Client, Naaste
from bot.state.unit import PersonRow, RoleRow, SessionRow, Unit

FLOW = client_prep.FLOW.name
FIRST_STEP = "welcome"


async def turn(unit: Unit, ctx: Context, person: PersonRow, client_id: int, inp: Input,
               update_id: int = 0) -> TurnResult:
    row, session = await sessions.load(unit, person.id, FLOW, client_id, FIRST_STEP)
    name = await _client_name(unit, client_id, person)
    if check_in.handles(session, inp):  # between meetings: how the agreements go
        return await _check_in(unit, ctx, row, session, client_id, name, inp)
    if inp.kind == "command" and inp.command == "vorige":
        allowed = await access.read(unit, person.id, client_id, history.ORDER)
        return TurnResult(history.for_client(await earlier_rounds(unit, client_id, allowed)),
                          session.step)
    if inp.kind == "command" and inp.command == "mijn_gegevens":  # inzage (AVG)
        return TurnResult(await inzage.for_client(unit, ctx, person.id, client_id),
                          session.step)
    if inp.kind == "command" and inp.command == "wissen":
        return await _erasure_asked(unit, ctx, person, client_id, name, session.step)
    if inp.kind == "command" and inp.command == "afspraken":
        return TurnResult(await _agreements(unit, ctx, person, client_id), session.step)
    if inp.kind == "command" and inp.command in {"wie_keek", "mijnlijst"}:
        owner = await unit.client(client_id)
        assert owner is not None
        replies = (await _who_looked(unit, ctx, client_id) if inp.command == "wie_keek"
                   else await agendas.client_copy(unit, ctx, person, owner))
        return TurnResult(replies, session.step)
    sharing = session.step.startswith("sharing") or (
        inp.kind == "command" and inp.command == "delen")
    answers = await _answers(unit, client_id, sharing)
    await _earlier(unit, client_id, answers, session)
    out = client_prep.decide(session, answers, inp)
    if out.stale and await _forged(unit, person, client_id, inp):
        return TurnResult([Reply(t("b_not_yours"))], session.step)
    in_memory = await _apply(unit, client_id, person.id, out.effects, update_id, answers)
    if out.ask:
        session.seq += 1
    now_sharing = session.step.startswith("sharing")
    if (out.effects and not in_memory) or now_sharing != sharing:
        answers = await _answers(unit, client_id, now_sharing)
    await _earlier(unit, client_id, answers, session)
    replies = client_prep.render(session, answers, out,
                                 await _context(unit, ctx, client_id, name, session, answers), inp)
    also = []
    if out.feedback_given:
        chat = await unit.begeleider_chat(client_id)
        if chat is not None:
            also.append((chat, Reply(client_prep.after_meeting_report(name, answers))))
    await sessions.save(unit, row, session, pending=bool(replies))
    return TurnResult(replies, session.step, client_prep.preference(session, "speech"),
                      client_prep.preference(session, "slow"), also)


async def ask_current(unit: Unit, ctx: Context, person: PersonRow, client_id: int,
                      only_active: bool = False, unsent_before: datetime | None = None
                      ) -> tuple[list[Reply], str]:
    """The client's current question with fresh buttons (stored before it is sent).
    `unsent_before`: only if the replies of a turn that ended before then are not out."""
    row, session = await sessions.load(unit, person.id, FLOW, client_id, FIRST_STEP)
    if only_active and session.status != "active":
        return [], session.step
    if unsent_before is not None and (
            not row.reply_pending or row.updated_at > unsent_before):
        return [], session.step  # answered since, or another process asked already
    session.seq += 1
    name = await _client_name(unit, client_id, person)
    answers = await _answers(unit, client_id)
    await _earlier(unit, client_id, answers, session)
    replies = client_prep.ask(session, answers,
                              await _context(unit, ctx, client_id, name, session, answers))
    await sessions.save(unit, row, session, pending=True)
    return replies, session.step


async def scheduled(unit: Unit, ctx: Context, kind: str, person_id: int,
                    owner: Client) -> list[Reply]:
    """The client's planned messages: a reminder, or the questions after the meeting."""
    row, session = await sessions.load(unit, person_id, FLOW, owner.id, FIRST_STEP)
    session.seq += 1
    if kind in {schedule.CHECK_IN, schedule.EVALUATION}:
        replies = check_in.start(session, await _agreement_lines(unit, owner.id), ctx.now(),
                                 evaluation=kind == schedule.EVALUATION)
    elif kind == schedule.CLIENT_REMINDER:
        meeting = await unit.meeting(owner.id)
        date = ctx.date(meeting.starts_at) if meeting and meeting.starts_at else ""
        number = await schedule.reminder_number(unit, owner.id)
        text = schedule.reminder_text(number, name=escape(owner.name), date=date)
        replies = [Reply(f"{text}\n{t('client_reminder_how')}", speak=plain(text),
                         buttons=client_prep.reminder_buttons(session))]
    else:
        answers = await _answers(unit, owner.id, False)
        out = client_prep.start_after_meeting(session, answers)
        intro = t("after_meeting_intro", name=escape(owner.name))
        replies = [Reply(intro, speak=plain(intro)), *client_prep.render(
            session, answers, out, client_prep.Context(owner.name),
            Input("command", ctx.now(), command="check"))]
    await sessions.save(unit, row, session, pending=False)
    return replies


async def blocked(unit: Unit, person: PersonRow, clients: list[RoleRow],
                  is_blocked: bool) -> None:
    """A person who blocks the bot: pause the session, send nothing."""
    await unit.set_blocked(person.id, is_blocked)
    if is_blocked and clients:
        row = await unit.session_row(person.id, FLOW, clients[0].id, FIRST_STEP)
        if row.status == "active":
            row.status = "paused"
            await unit.save_session(row)


# ------------------------------------------------------------------ reading
async def _client_name(unit: Unit, client_id: int, person: PersonRow) -> str:
    name = unit.client_names.get(client_id)
    if name is None:
        owner = await unit.client(client_id)
        name = owner.name if owner else person.name
    return name


async def _earlier(unit: Unit, client_id: int, answers: Answers, session: Session) -> None:
    """From the second round on, what the step on screen needs of the last round: its words
    at an open question ("Klopt dit nog?"), the offers at the agenda question. Read only
    there, so the other updates stay as cheap as in the first round."""
    if client_prep.round_of(session) <= 1:
        return
    step = session.step
    if not answers.previous and client_prep.FLOW.step_of(step).kind == "open":
        answers.previous = await unit.previous_answers(client_id)
    if not answers.offers and step == client_prep.FLOW.topics:
        answers.offers = await unit.previous_offers(
            client_id, step, client_prep.FLOW.check_step, client_prep.OPEN_TALKED)


async def _answers(unit: Unit, client_id: int, with_naasten: bool = True) -> Answers:
    """The client's answers; with the naasten and shares only where a screen shows them
    (the sharing step), to keep the other updates cheap."""
    answers = Answers([AnswerView(*row) for row in await unit.answer_rows(client_id)])
    if not with_naasten:
        return answers
    answers.naasten = [NaasteView(n.id, n.name, n.relation)
                       for n in await unit.naasten(client_id)]
    for naaste_id, part in await unit.shares(client_id):
        answers.shares.setdefault(naaste_id, set()).add(part)
    return answers


async def _context(unit: Unit, ctx: Context, client_id: int, name: str, session: Session,
                   answers: Answers) -> client_prep.Context:
    """Only the welcome shows the meeting date, and the begeleider's "pictures first" only
    matters where the mat would open by itself: other turns skip those queries."""
    step = session.step
    if picto_mat.opens_by_itself(session, answers):
        owner = await unit.client(client_id)
        return client_prep.Context(name, pictures_first=bool(owner and owner.pictures_first),
                                   transcribing=ctx.transcribing)
    if step != FIRST_STEP:
        return client_prep.Context(name, transcribing=ctx.transcribing)
    meeting = await unit.meeting(client_id)
    when = meeting.starts_at if meeting else None
    return client_prep.Context(name, ctx.date(when) if when else None,
                               transcribing=ctx.transcribing)


async def _agreements(unit: Unit, ctx: Context, person: PersonRow,
                      client_id: int) -> list[Reply]:
    """/afspraken: the agreements of the meeting, as the begeleider sent them (and the PDF)."""
    if not await access.can(unit, person.id, client_id, "agreements"):
        return agreements.none_yet()
    lines = await _agreement_lines(unit, client_id)
    return [*agreements.for_client(lines), *agendas.agreements_document(ctx, lines)] or (
        agreements.none_yet())


async def earlier_rounds(unit: Unit, client_id: int,
                         parts: set[str] | None = None) -> list[history.Round]:
    """The client's earlier rounds, only `parts` (steps) when given."""
    rounds: dict[int, dict[str, list[str]]] = {}
    for number, step, words in await unit.earlier_rounds(client_id):
        if parts is None or step in parts:
            rounds.setdefault(number, {}).setdefault(step, []).append(words)
    return sorted(rounds.items())


def agreement_lines(rows: list[Agreement]) -> list[agreements.AgreementLine]:
    """The agreement rows as the dialogs read them."""
    return [agreements.AgreementLine(r.id, r.text, r.who, r.picto, r.topic) for r in rows]


async def _agreement_lines(unit: Unit, client_id: int) -> list[agreements.AgreementLine]:
    return agreement_lines(await unit.agreements(client_id))


async def _check_in(unit: Unit, ctx: Context, row: SessionRow, session: Session,
                    client_id: int, name: str, inp: Input) -> TurnResult:
    """A mood, or the words after it: stored at once; at the end the begeleider gets one
    short line per agreement (busy people read a line, not a report)."""
    mood_row, started = check_in.mood_row(session), check_in.started_at(session)
    lines = await _agreement_lines(unit, client_id)
    out, words = check_in.step(session, inp, lines), None
    if out.mood is not None and out.agreement_id is not None:
        made = await unit.add(CheckIn(client_id=client_id, agreement_id=out.agreement_id,
                                      mood=out.mood, text="", answered_at=ctx.now()))
        check_in.remember_row(session, made.id)
    elif out.words is not None and out.agreement_id is None:  # an evaluation's last words
        words = await unit.add(CheckIn(client_id=client_id, agreement_id=None, mood="note",
                                       text="", answered_at=ctx.now()))
    elif out.words is not None and mood_row is not None:
        words = await unit.get(CheckIn, mood_row)
    if words is not None and out.words is not None:
        words.kind, words.text, words.file_id = (out.words.kind, out.words.text,
                                                 out.words.file_id)
        await unit.flush()
    if out.replies:
        session.seq += 1
    also = []
    if out.finished:
        chat = await unit.begeleider_chat(client_id)
        if chat is not None:
            answers = [check_in.Answer(r.agreement_id, r.mood, r.kind, r.text)
                       for r in await unit.check_ins(client_id)
                       if started is None or r.answered_at >= started]
            also.append((chat, Reply(check_in.report(name, answers, lines))))
    await sessions.save(unit, row, session, pending=bool(out.replies))
    return TurnResult(out.replies, session.step, also=also)



async def _who_looked(unit: Unit, ctx: Context, client_id: int) -> list[Reply]:
    looks = await access.who_looked(unit, client_id)
    if not looks:
        text = t("wie_keek_none")
    else:
        lines = [t("wie_keek_line", name=escape(look.name), role=t(f"role_{look.role}")
                   if look.role in access.ROLES else "", date=ctx.date(look.at))
                 for look in looks]
        text = t("wie_keek_intro") + "\n" + "\n".join(lines)
    return [Reply(text, speak=plain(text))]


async def _erasure_asked(unit: Unit, ctx: Context, person: PersonRow, client_id: int,
                         name: str, step: str) -> TurnResult:
    """/wissen: a care record is not erased by the client alone. The begeleider and the
    organisation's admins are told at once; the request is in the access log; nothing is
    removed until an admin does it."""
    owner = await unit.client(client_id)
    assert owner is not None
    unit.audit(person.id, client_id, "erasure_request", True, ctx.now())
    note = Reply(t("wissen_to_staff", name=escape(name)))
    chats = [await unit.begeleider_chat(client_id), *await unit.admin_chats(
        owner.organisation_id)]
    also = [(chat, note) for chat in dict.fromkeys(c for c in chats if c is not None)]
    asked = t("wissen_asked")
    return TurnResult([Reply(asked, speak=plain(asked))], step, also=also)


async def _forged(unit: Unit, person: PersonRow, client_id: int, inp: Input) -> bool:
    """A refused button whose id names another client's naaste or answer: logged as a
    denied read in the access log."""
    press = pressed(inp)
    model, part = {"pk": (Naaste, "naasten"), "pl": (Answer, "voice")}.get(
        press.action if press else "", (None, ""))
    if model is None or press is None:
        return False
    return await access.refuse_forged(unit, person.id, model, press.arg, part,
                                      access.Acting("client", client_id)) is not None


# ------------------------------------------------------------------ writing
async def _apply(unit: Unit, client_id: int, person_id: int, effects: list[Effect],
                 update_id: int, answers: Answers) -> bool:
    """Write the dialog's effects. True when `answers` was kept up to date in memory (only
    new parts: the common case, a person saying something), so it need not be read again."""
    in_memory = True
    for effect in effects:
        match effect:
            case AddPart():
                await _add_part(unit, client_id, person_id, effect, update_id, answers)
            case RemoveItem(step=step, item=item):
                await unit.remove_answers(client_id, step, item=item)
                in_memory = False
            case RemoveTag(step=step, tag=tag):
                await unit.remove_answers(client_id, step, tag=tag)
                in_memory = False
            case MoveItemUp(step=step, item=item):
                await unit.move_item_up(client_id, step, item)
                in_memory = False
            case KeepPrevious(step=step):
                await unit.keep_previous(client_id, step, person_id)
                in_memory = False
            case SetTranscript(answer_id=answer_id, state=state):
                await unit.set_transcript(client_id, answer_id, state)
                in_memory = False
            case EditByMessage(message_id=message_id, text=text):
                await unit.edit_by_message(client_id, message_id, text)
                in_memory = False
            case SetShare(naaste_id=naaste_id, part=part, allowed=allowed):
                if await unit.naaste_belongs(naaste_id, client_id):
                    await unit.set_share(client_id, naaste_id, part, allowed)
                in_memory = False
            case RemoveNaaste(naaste_id=naaste_id) | RestoreNaaste(naaste_id=naaste_id):
                await unit.set_naaste_removed(naaste_id, client_id,
                                              isinstance(effect, RemoveNaaste))
                in_memory = False
    return in_memory


async def _add_part(unit: Unit, client_id: int, person_id: int, effect: AddPart,
                    update_id: int, answers: Answers) -> None:
    """One message of an answer: a new item at the end (item None), or one more part of an
    item; `replace` first removes the item's earlier parts (they stay, marked removed).
    Numbered from the answers in memory (read at the start of this turn, under the
    session's lock), and `answers` is kept up to date."""
    step = effect.step
    rows = [r for r in answers.rows if r.step == step]
    item = effect.item or max((r.item for r in rows), default=0) + 1
    if effect.replace and any(r.item == item for r in rows):
        await unit.remove_answers(client_id, step, item=item)
        answers.rows = [r for r in answers.rows if not (r.step == step and r.item == item)]
        rows = [r for r in rows if r.item != item]
    part = max((r.part for r in rows if r.item == item), default=0) + 1
    answer_id = await unit.insert_answer(
        client_id=client_id, step=step, item=item, part=part, kind=effect.kind,
        text=effect.text, tag=effect.tag, file_id=effect.file_id,
        file_unique_id=effect.file_unique_id, duration=effect.duration,
        message_id=effect.message_id, update_id=update_id or None, entered_by=person_id)
    view = AnswerView(answer_id, step, item, part, effect.kind, effect.text, effect.tag,
                      effect.duration, effect.file_id, None, effect.message_id)
    answers.rows = sorted([*answers.rows, view], key=lambda r: (r.step, r.item, r.part, r.id))


__all__ = ["FLOW", "ask_current", "blocked", "scheduled", "turn"]
