"""The service layer: one update in → one transaction → replies out.

It wires the pure dialogs to the store: claim the update (a redelivered one is skipped),
find the person, run the dialog, write its effects and the new dialog state, mark the
update done, commit. Only after the commit does the caller send the replies.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.dialogs import client_prep
from bot.dialogs.texts import t
from bot.dialogs.types import (
    AddPart,
    Answers,
    AnswerView,
    EditByMessage,
    Effect,
    Input,
    MoveItemUp,
    RemoveItem,
    RemoveTag,
    Reply,
    Session,
    SetShare,
)
from bot.faults import checkpoint
from bot.state.models import Answer, Client, DialogSession, Person, utcnow
from bot.state.store import Store, Unit

log = logging.getLogger("gespreksmaatje.updates")

FLOW = client_prep.FLOW.name


@dataclass(frozen=True)
class Incoming:
    """An update, as far as the service cares. `event`: "", "blocked", "unblocked",
    "added_to_group"."""

    update_id: int
    chat_id: int | None
    chat_type: str
    user_id: int | None
    user_name: str
    input: Input | None
    event: str = ""


@dataclass
class Outgoing:
    chat_id: int
    replies: list[Reply] = field(default_factory=list)
    person_id: int | None = None
    stale: bool = False


@dataclass
class _Result:
    outgoing: Outgoing | None = None
    forget: bool = False  # keep nothing of this update (group chats, strangers)
    who: str = "-"
    step: str = "-"


class Conversation:
    def __init__(self, store: Store, tz: ZoneInfo) -> None:
        self.store = store
        self.tz = tz

    async def handle(self, incoming: Incoming) -> Outgoing | None:
        """Handle one update exactly once. None: nothing to send (or handled before)."""
        started = time.perf_counter()
        async with self.store.unit() as unit:
            if not await unit.claim_update(incoming.update_id):
                log.info("update=%d duplicate skipped", incoming.update_id)
                return None
            result = await self._route(unit, incoming)
            await unit.mark_done(incoming.update_id, incoming.chat_id, forget=result.forget)
            await unit.session.flush()
            checkpoint("handling")  # everything written, not yet committed
        log.info("update=%d who=%s step=%s ms=%.1f", incoming.update_id, result.who,
                 result.step, (time.perf_counter() - started) * 1000)
        return result.outgoing

    async def current_question(self, telegram_user_id: int) -> Outgoing | None:
        """Ask the current question again (after a crash between commit and reply)."""
        async with self.store.unit() as unit:
            person = await unit.person(telegram_user_id)
            client = await unit.client_of(person) if person else None
            if person is None or client is None or person.chat_id is None:
                return None
            row = await unit.load_session(person.id, FLOW, client.id, "welcome")
            session = _session(row)
            if session.status != "active":
                return None
            session.seq += 1
            answers = _answers(await unit.answers(client.id))
            replies = client_prep.ask(session, answers, await self._context(unit, client))
            _save(row, session, reply_pending=True)
            return Outgoing(person.chat_id, replies, person.id)

    async def replies_sent(self, person_id: int) -> None:
        await self.store.reply_sent(person_id, FLOW)

    # ------------------------------------------------------------------ routing
    async def _route(self, unit: Unit, incoming: Incoming) -> _Result:
        if incoming.chat_type != "private":
            if incoming.event == "added_to_group" and incoming.chat_id is not None:
                return _Result(Outgoing(incoming.chat_id, [Reply(t("group_only_private"))]),
                               forget=True, who="group")
            return _Result(forget=True, who="group")
        if incoming.user_id is None or incoming.chat_id is None:
            return _Result(forget=True)
        person = await unit.person(incoming.user_id)
        if incoming.event in {"blocked", "unblocked"}:
            if person is not None:
                await self._blocked(unit, person, incoming.event == "blocked")
            return _Result(forget=person is None, who=str(person.id if person else "-"))
        inp = incoming.input
        if inp is None:
            return _Result(forget=person is None)
        client = await unit.client_of(person) if person else None
        if inp.kind == "command" and inp.command == "start" and inp.arg and client is None:
            return await self._redeem(unit, incoming, inp)
        if person is None or client is None:
            return _Result(Outgoing(incoming.chat_id, [Reply(t("stranger"))]), forget=True,
                           who="stranger")
        return await self._client_turn(unit, incoming.chat_id, person, client, inp,
                                       incoming.update_id)

    async def _redeem(self, unit: Unit, incoming: Incoming, inp: Input) -> _Result:
        assert incoming.user_id is not None and incoming.chat_id is not None
        redeemed = await unit.redeem_invite(inp.arg, incoming.user_id, incoming.chat_id,
                                            incoming.user_name, inp.sent_at)
        if redeemed.client is None:
            return _Result(Outgoing(incoming.chat_id, [Reply(t("invite_invalid"))]),
                           forget=True, who="stranger")
        person = await unit.person(incoming.user_id)
        assert person is not None
        person.chat_id = incoming.chat_id
        row = await unit.load_session(person.id, FLOW, redeemed.client.id, "welcome")
        session = _session(row)
        session.seq += 1
        replies = client_prep.ask(session, Answers(),
                                  await self._context(unit, redeemed.client))
        _save(row, session, reply_pending=True)
        return _Result(Outgoing(incoming.chat_id, replies, person.id), who=f"p{person.id}",
                       step=session.step)

    async def _client_turn(self, unit: Unit, chat_id: int, person: Person, client: Client,
                           inp: Input, update_id: int) -> _Result:
        person.chat_id = chat_id
        if person.blocked_bot:
            person.blocked_bot = False
        row = await unit.load_session(person.id, FLOW, client.id, "welcome")
        session = _session(row)
        answers = _answers(await unit.answers(client.id))
        out = client_prep.decide(session, answers, inp)
        await _apply(unit, client.id, person.id, out.effects, update_id)
        if out.ask:
            session.seq += 1
        if out.effects:
            answers = _answers(await unit.answers(client.id))
        replies = client_prep.render(session, answers, out, await self._context(unit, client),
                                     inp)
        _save(row, session, reply_pending=bool(replies))
        return _Result(Outgoing(chat_id, replies, person.id, stale=out.stale),
                       who=f"p{person.id}", step=session.step)

    async def _blocked(self, unit: Unit, person: Person, blocked: bool) -> None:
        """A person who blocks the bot: pause the session, send nothing."""
        await unit.set_blocked(person, blocked)
        client = await unit.client_of(person)
        if blocked and client is not None:
            row = await unit.load_session(person.id, FLOW, client.id, "welcome")
            if row.status == "active":
                row.status = "paused"

    async def _context(self, unit: Unit, client: Client) -> client_prep.Context:
        meeting = await unit.meeting(client.id)
        when = meeting.starts_at if meeting else None
        return client_prep.Context(client.name, dutch_date(when, self.tz) if when else None)


def dutch_date(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return t("date_format", weekday=t("weekdays").split()[local.weekday()], day=local.day,
             month=t("months").split()[local.month - 1], time=local.strftime("%H:%M"))


def _session(row: DialogSession) -> Session:
    # A deep copy: SQLAlchemy sees a JSON change only when the new value differs from the
    # loaded one, so the loaded one must never be mutated in place.
    return Session(step=row.step, status=row.status, seq=row.seq,
                   data=copy.deepcopy(row.data or {}))


def _save(row: DialogSession, session: Session, reply_pending: bool) -> None:
    row.step, row.status, row.seq = session.step, session.status, session.seq
    row.data = session.data
    row.reply_pending = reply_pending
    row.updated_at = utcnow()


def _answers(rows: list[Answer]) -> Answers:
    return Answers([AnswerView(a.id, a.step, a.item, a.part, a.kind, a.text, a.tag,
                               a.duration, a.file_id) for a in rows])


async def _apply(unit: Unit, client_id: int, person_id: int, effects: list[Effect],
                 update_id: int) -> None:
    """Translate the dialog's effects into the store's writes."""
    for effect in effects:
        if isinstance(effect, AddPart):
            await unit.add_part(Answer(
                client_id=client_id, step=effect.step, item=effect.item or 0, kind=effect.kind,
                text=effect.text, tag=effect.tag, file_id=effect.file_id,
                file_unique_id=effect.file_unique_id, duration=effect.duration,
                message_id=effect.message_id, update_id=update_id, entered_by=person_id,
            ), replace=effect.replace)
        elif isinstance(effect, RemoveItem):
            await unit.remove(client_id, Answer.step == effect.step, Answer.item == effect.item)
        elif isinstance(effect, RemoveTag):
            await unit.remove(client_id, Answer.step == effect.step, Answer.tag == effect.tag)
        elif isinstance(effect, MoveItemUp):
            await unit.move_item_up(client_id, effect.step, effect.item)
        elif isinstance(effect, EditByMessage):
            await unit.edit_by_message(client_id, effect.message_id, effect.text)
        elif isinstance(effect, SetShare):
            await unit.set_share(client_id, None, effect.part, effect.allowed)
