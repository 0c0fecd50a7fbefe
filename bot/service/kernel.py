"""The turn kernel: one update in → one transaction → replies out, for every role.

claim the update (a redelivered one is skipped) → find the person and their roles → route
to the role's handler (`HANDLERS`) → the handler loads, decides (pure dialogs), applies its
typed effects and renders → mark done, one commit. Only after the commit does the caller
send the replies, and then tells `replies_sent`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from bot import schedule
from bot.dialogs import client_prep, transcript
from bot.dialogs.buttons import encode, pressed
from bot.dialogs.look import Look, wearing
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Input, Reply
from bot.faults import checkpoint
from bot.service import access, admin, agendas, begeleider, client, naaste
from bot.service.looks import Looks
from bot.service.types import (
    ROLE_KINDS,
    Context,
    EarlierFirst,
    Incoming,
    Outgoing,
    Role,
    TurnResult,
)
from bot.state.models import Answer, Naaste, Person, utcnow
from bot.state.store import Store
from bot.state.unit import PersonRow, RoleRow, Unit

log = logging.getLogger("gespreksmaatje.updates")

ROLES_FLOW = "roles"  # the session that remembers which role a person acts in


class Action(StrEnum):
    """The buttons of the role menu (a person with several roles)."""

    ROLE = "rol"  # arg: the role's key, "naaste:12"


ROLE = Action.ROLE
# Replies-sent marks are written together, this long after the first one (one commit for
# many turns; a crash in between only re-asks a question that was already sent).
SENT_FLUSH_SECONDS = 0.2


@dataclass
class _Routed:
    outgoing: Outgoing | None = None
    forget: bool = False  # keep nothing of this update (group chats, strangers)
    who: str = "-"
    step: str = "-"


# A role's turn: (unit, context, person, the role's id, input, update id) → result.
Handler = Callable[[Unit, Context, PersonRow, int, Input, int], Awaitable[TurnResult]]


class Service:
    def __init__(self, store: Store, tz: ZoneInfo, invite_days: int = 30,
                 looks: Looks | None = None, settings: Any = None,
                 now: Callable[[], datetime] | None = None, shared: bool = False) -> None:
        self.store = store
        # Each organisation's own pictures and texts, worn for its people's turns.
        self.looks = looks or Looks(None)
        # Other processes handle updates too (webhook on PostgreSQL): a chat's earlier
        # update still waiting goes first.
        self.shared = shared
        self.bot_username = "<bot username>"  # set once the bot knows its name (getMe)
        self.context = Context(tz, invite_days, self.link, self.looks, settings,
                               now=now or utcnow)
        self.handlers: dict[str, Handler] = {
            "client": client.turn, "begeleider": begeleider.turn, "naaste": naaste.turn,
            "admin": admin.turn}
        self._sent: list[tuple[int, datetime]] = []
        self._flushing: asyncio.Task[None] | None = None

    def link(self, token: str) -> str:
        return f"https://t.me/{self.bot_username}?start={token}"

    # ------------------------------------------------------------------ one update
    async def handle(self, incoming: Incoming) -> Outgoing | EarlierFirst | None:
        """Handle one update exactly once. None: nothing to send (or handled before).
        EarlierFirst: its chat has an older update waiting, which must go first."""
        started = time.perf_counter()
        async with self.store.unit() as unit:
            earlier = (await unit.earlier_waiting(incoming.chat_id, incoming.update_id)
                       if self.shared else None)
            if earlier is not None:
                return EarlierFirst(*earlier)
            if not await unit.claim(incoming.update_id, incoming.chat_id, incoming.fetched):
                log.info("update=%d duplicate skipped", incoming.update_id)
                return None
            routed = await self._route(unit, incoming)
            if routed.forget:
                await unit.forget_update(incoming.update_id)
            await unit.flush()
            checkpoint("handling")  # everything written, not yet committed
            turn_end = utcnow()
        log.info("update=%d who=%s step=%s ms=%.1f", incoming.update_id, routed.who,
                 routed.step, (time.perf_counter() - started) * 1000)
        if routed.outgoing is not None and routed.outgoing.person_id is not None:
            routed.outgoing.sent_mark = (routed.outgoing.person_id, turn_end)
        return routed.outgoing

    async def _route(self, unit: Unit, incoming: Incoming) -> _Routed:
        if incoming.chat_type != "private":
            # Added to a group, or a command in one (/start): the same one polite line;
            # other group messages get nothing (no echo in a family's group chat).
            asked = incoming.input is not None and incoming.input.kind == "command"
            if (incoming.event == "added_to_group" or asked) and incoming.chat_id is not None:
                return _Routed(Outgoing(incoming.chat_id, [Reply(t("group_only_private"))]),
                               forget=True, who="group")
            return _Routed(forget=True, who="group")
        if incoming.user_id is None or incoming.chat_id is None:
            return _Routed(forget=True)
        chat_id = incoming.chat_id
        person, rows = await unit.person_and_roles(incoming.user_id, client.FLOW)
        if incoming.event in {"blocked", "unblocked"}:
            if person is not None:
                await client.blocked(unit, person, [r for r in rows if r.kind == "client"],
                                     incoming.event == "blocked")
            return _Routed(forget=person is None, who=str(person.id if person else "-"))
        inp = incoming.input
        if inp is None:
            return _Routed(forget=person is None)
        if inp.kind == "command" and inp.command == "start" and inp.arg:
            is_client = any(r.kind == "client" for r in rows)
            if not is_client or not await unit.is_client_token(inp.arg):
                return await self._redeem(unit, incoming, inp)
        if inp.kind == "command" and inp.command == "over":  # in their organisation's look
            async with self._worn(unit, rows[0].organisation_id if rows else None) as look:
                about = self._about()
            return _Routed(Outgoing(chat_id, [about], look=look), forget=person is None,
                           who="about")
        if person is None or not rows:
            return _Routed(Outgoing(chat_id, [Reply(t("stranger"))]), forget=True,
                           who="stranger")
        mine = [await self._role(unit, r) for r in rows]
        await unit.seen_in(person, chat_id)
        if _asks_role(inp, len(mine)):
            return await self._role_menu(unit, person, mine, inp, chat_id)
        role = mine[0] if len(mine) == 1 else await self._active_role(unit, person, mine)
        if role is None:  # several roles and none chosen yet
            return await self._role_menu(unit, person, mine, inp, chat_id)
        return await self._turn_as(unit, chat_id, person, role, inp, incoming.update_id)

    async def _turn_as(self, unit: Unit, chat_id: int, person: PersonRow, role: Role,
                       inp: Input, update_id: int = 0) -> _Routed:
        async with self._worn(unit, role.organisation_id) as look:
            result = await self.handlers[role.kind](unit, self.context, person, role.id, inp,
                                                    update_id)
        offline = (result.speech and any(r.readback for r in result.replies)
                   and await unit.readback_offline(person.id))
        return _Routed(Outgoing(chat_id, result.replies, person.id, speech=result.speech,
                                slow=result.slow, also=result.also, offline=offline,
                                look=look),
                       who=f"p{person.id}:{role.kind}", step=result.step)

    @asynccontextmanager
    async def _worn(self, unit: Unit, organisation_id: int | None) -> AsyncIterator[Look]:
        """Everything inside in the texts and pictures of this organisation (its look,
        which the caller also gives the replies it sends)."""
        with wearing(await self.looks.of(unit, organisation_id, self.context.now)) as look:
            yield look

    async def _role(self, unit: Unit, row: RoleRow) -> Role:
        """A role, named as its organisation names it (for the role menu)."""
        async with self._worn(unit, row.organisation_id):
            return Role(row.kind, row.id, t(f"role_pick_{row.kind}", name=row.client_name),
                        row.organisation_id)

    # ------------------------------------------------------------------ several roles
    async def _active_role(self, unit: Unit, person: PersonRow, mine: list[Role]
                           ) -> Role | None:
        row = await unit.session_row(person.id, ROLES_FLOW, None, "menu")
        active = str(row.data.get("active", ""))
        return next((r for r in mine if r.key == active), None)

    async def _role_menu(self, unit: Unit, person: PersonRow, mine: list[Role], inp: Input,
                         chat_id: int) -> _Routed:
        """The role menu (buttons with a seq, like every other button), or the choice
        pressed in it."""
        row = await unit.session_row(person.id, ROLES_FLOW, None, "menu")
        press = pressed(inp)
        if press is not None and press.action == ROLE:
            chosen = next((r for r in mine if r.key == press.arg), None)
            if chosen is None:
                await _deny_forged_role(unit, person, press.arg)
                return _Routed(Outgoing(chat_id, [Reply(t("b_not_yours"))], person.id),
                               who=f"p{person.id}")
            if press.seq == row.seq:
                row.data = {"active": chosen.key}
                await unit.save_session(row)
                start = replace(inp, kind="command", command="start", data="")
                routed = await self._turn_as(unit, chat_id, person, chosen, start)
                if routed.outgoing is not None:
                    with wearing(routed.outgoing.look):
                        routed.outgoing.replies.insert(
                            0, Reply(t("role_switched", role=chosen.label)))
                return routed
        # Asked (/rol), a stale choice, or none made yet: the menu with fresh buttons.
        row.seq += 1
        await unit.save_session(row)
        buttons = tuple((Button(r.label, encode(row.seq, ROLE, r.key)),) for r in mine)
        return _Routed(Outgoing(chat_id, [Reply(t("q_role"), buttons=buttons)], person.id),
                       who=f"p{person.id}")

    # ------------------------------------------------------------------ invite links
    async def _redeem(self, unit: Unit, incoming: Incoming, inp: Input) -> _Routed:
        assert incoming.user_id is not None and incoming.chat_id is not None
        chat_id = incoming.chat_id
        redeemed = await unit.redeem_invite(inp.arg, incoming.user_id, chat_id,
                                            incoming.user_name, inp.sent_at)
        person, rows = await unit.person_and_roles(incoming.user_id)
        if redeemed.reason != "ok" or person is None:
            key = "already_linked" if redeemed.reason == "taken" else "invite_invalid"
            return _Routed(Outgoing(chat_id, [Reply(t(key))]), forget=person is None,
                           who="stranger")
        await unit.seen_in(person, chat_id)
        joined_as = next((r for r in rows if (r.kind, r.id) == (redeemed.role, redeemed.ref_id)),
                         None)
        role = Role(redeemed.role, redeemed.ref_id,
                    organisation_id=joined_as.organisation_id if joined_as else None)
        if role.kind == "client":  # the welcome, as the first question
            async with self._worn(unit, role.organisation_id) as look:
                replies, step = await client.ask_current(unit, self.context, person, role.id)
            return _Routed(Outgoing(chat_id, replies, person.id, look=look),
                           who=f"p{person.id}", step=step)
        if role.kind == "naaste":  # a naaste who joins late still gets the agenda
            joined = await unit.get(Naaste, role.id)
            if joined is not None:
                await unit.flush()
                await self.context.replan(unit, joined.client_id, self.context.now(),
                                          self.context.settings)
        row = await unit.session_row(person.id, ROLES_FLOW, None, "menu")
        row.data = {"active": role.key}  # the new role is the one in use now
        await unit.save_session(row)
        start = Input("command", inp.sent_at, command="start")
        routed = await self._turn_as(unit, chat_id, person, role, start)
        welcome = {"begeleider": "invite_accepted_begeleider", "admin": "invite_accepted_admin"}
        if routed.outgoing is not None and role.kind in welcome:
            with wearing(routed.outgoing.look):
                routed.outgoing.replies.insert(0, Reply(t(welcome[role.kind],
                                                          name=escape(person.name))))
        return routed

    def _about(self) -> Reply:
        pictos = self.context.pictos
        lines = pictos.attribution() if pictos is not None else []
        lines = [t("over_openmoji") if "OpenMoji" in line else escape(line) for line in lines]
        about = t("over") + (f"\n{t('over_transcribe')}" if self.context.transcribing else "")
        text = about + "\n" + "\n".join(lines)
        return Reply(text.strip(), speak=client_prep.plain(about))

    # ------------------------------------------------------------------ after the send
    def replies_sent(self, outgoing: Outgoing) -> None:
        """The replies of this turn are out. Written a moment later together with others
        (one commit for many turns): if the process dies before that, the start-up sweep
        asks the question again, which is what it does for any reply it is unsure of."""
        if not isinstance(outgoing.sent_mark, tuple):
            return
        self._sent.append(outgoing.sent_mark)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_later())

    async def replies_sent_now(self, outgoing: Outgoing) -> None:
        """Mark at once (a re-ask: another process checks the mark right after)."""
        if isinstance(outgoing.sent_mark, tuple):
            await self.store.replies_sent([outgoing.sent_mark])

    async def _flush_later(self) -> None:
        await asyncio.sleep(SENT_FLUSH_SECONDS)
        await self.flush_sent()

    async def flush_sent(self) -> None:
        marks, self._sent = self._sent, []
        try:
            await self.store.replies_sent(marks)
        except Exception as error:  # noqa: BLE001 - only a re-ask at worst; say so once
            log.warning("could not mark %d replies as sent (%s); they may be asked again "
                        "after a restart", len(marks), type(error).__name__)

    async def close(self) -> None:
        """Write the last replies-sent marks. A flush under way (or due within
        SENT_FLUSH_SECONDS) is let finish, not cancelled: cut in the middle of its query,
        the database connection's close would never end once the store is closed."""
        if self._flushing is not None:
            await self._flushing
        await self.flush_sent()

    # ------------------------------------------------------------------ outside a turn
    async def current_question(self, telegram_user_id: int,
                               unsent_before: datetime | None = None) -> Outgoing | None:
        """Ask the current question again (after a crash between commit and reply);
        `unsent_before`: only if the last turn ended before then and its replies are still
        not marked sent (checked again here, while the caller holds the chat)."""
        async with self.store.unit() as unit:
            person, rows = await unit.person_and_roles(telegram_user_id)
            mine = next((r for r in rows if r.kind == "client"), None)
            if person is None or mine is None or person.chat_id is None:
                return None
            async with self._worn(unit, mine.organisation_id) as look:
                replies, _step = await client.ask_current(
                    unit, self.context, person, mine.id, only_active=True,
                    unsent_before=unsent_before)
            turn_end = utcnow()
            if not replies:
                return None
            return await _spoken(unit, Outgoing(person.chat_id, replies, person.id,
                                                sent_mark=(person.id, turn_end), look=look))

    async def transcript_wanted(self, answer_id: int) -> bool:
        """Whether a voice answer should go to the speech-to-text engine: the client has not
        switched it off in /instellingen (issue 19)."""
        async with self.store.unit() as unit:
            answer = await unit.get(Answer, answer_id)
            owner = await unit.client(answer.client_id) if answer is not None else None
            if owner is None or owner.person_id is None or answer is None \
                    or answer.entered_by != owner.person_id:
                return False  # a recording a begeleider added is not the client's to confirm
            data = await unit.session_data(owner.person_id, client.FLOW)
        return bool(data.get("transcribe", client_prep.PREFERENCES["transcribe"]))

    async def heard(self, answer_id: int, words: str) -> Outgoing | None:
        """What the engine heard in a voice answer: kept, waiting for the client's word, and
        asked ("Ik hoorde: … Klopt dat?"). None when there is nothing to ask (anymore)."""
        async with self.store.unit() as unit:
            found = await unit.transcript_to_ask(answer_id, words, transcript.KINDS)
            if found is None:
                return None
            client_id, person_id = found
            chat = await unit.person_chat(person_id)
            owner = await unit.client(client_id)
            if chat is None or owner is None:
                return None
            async with self._worn(unit, owner.organisation_id) as look:
                replies = [transcript.question(answer_id, words)]
            return await _spoken(unit, Outgoing(chat, replies, person_id, look=look))

    async def retention_notice(self, notice: Any) -> Outgoing | None:
        """A week before a finished round's answers and topics go (housekeeping): tell the
        begeleider, with the dates. `notice`: a `bot.schedule.housekeeping.Notice`."""
        closed = notice.round
        async with self.store.unit() as unit:
            chat = await unit.person_chat(closed.begeleider_person_id)
            owner = await unit.client(closed.client_id)
            if chat is None:
                return None
            async with self._worn(unit, owner.organisation_id if owner else None) as look:
                text = t("retention_notice", name=escape(closed.client_name),
                         round=closed.round,
                         meeting=self.context.date(closed.meeting_at, with_time=False),
                         when=self.context.date(notice.goes_at, with_time=False))
        return Outgoing(chat, [Reply(text)], None, look=look)

    async def scheduled(self, kind: str, client_id: int, person_id: int | None,
                        now: datetime | None = None) -> Outgoing | None:
        """A planned message (the schedule) as replies, in one transaction; None when there
        is nothing to send (anymore). `now`: the schedule's clock."""
        async with self.store.unit() as unit:
            row = await unit.get(Person, person_id) if person_id else None
            owner = await unit.client(client_id)
            if row is None or row.chat_id is None or owner is None:
                return None
            person = PersonRow(row.id, row.chat_id, row.name, row.blocked_bot)
            async with self._worn(unit, owner.organisation_id) as look:
                replies = await self._planned(unit, kind, person, owner, now)
            if not replies:
                return None
            return await _spoken(unit, Outgoing(row.chat_id, replies, person.id, look=look))

    async def _planned(self, unit: Unit, kind: str, person: PersonRow, owner: Any,
                       now: datetime | None) -> list[Reply]:
        if kind in {schedule.CLIENT_REMINDER, schedule.AFTER_MEETING, schedule.CHECK_IN,
                    schedule.EVALUATION}:
            return await client.scheduled(unit, self.context, kind, person.id, owner)
        if kind in {schedule.NAASTE_AGENDA, schedule.NAASTE_NUDGE}:
            mine = await unit.naaste_of(owner.id, person.id)
            return [] if mine is None else await naaste.scheduled(
                unit, self.context, person, mine, kind, now or self.context.now())
        meeting = await unit.meeting(owner.id)
        date = self.context.date(meeting.starts_at) if meeting and meeting.starts_at else ""
        return await agendas.begeleider_agenda(unit, self.context, person, owner, date)


async def _spoken(unit: Unit, outgoing: Outgoing) -> Outgoing:
    """Replies sent outside a turn, spoken as the person chose in /instellingen (a client's
    choices; others have the defaults), read-backs made as their organisation chose."""
    assert outgoing.person_id is not None
    data = await unit.session_data(outgoing.person_id, client.FLOW)
    outgoing.speech, outgoing.slow = (bool(data.get(name, client_prep.PREFERENCES[name]))
                                      for name in ("speech", "slow"))
    outgoing.offline = outgoing.speech and any(r.readback for r in outgoing.replies) and \
        await unit.readback_offline(outgoing.person_id)
    return outgoing


def _asks_role(inp: Input, roles_count: int) -> bool:
    """/rol (with more than one role), or a press in the role menu (a forged one too)."""
    if inp.kind == "command":
        return inp.command == "rol" and roles_count > 1
    press = pressed(inp)
    return press is not None and press.action == ROLE


async def _deny_forged_role(unit: Unit, person: PersonRow, key: str) -> None:
    """A role button for a relation this person does not have: audit the denial."""
    kind, _, ref = key.partition(":")
    number = access.as_id(ref)
    client_id = number or 0
    if kind == "naaste" and number is not None:
        naaste = await unit.get(Naaste, number)
        client_id = naaste.client_id if naaste else 0
    elif kind not in {"client", "naaste"}:
        client_id = 0
    await access.read(unit, person.id, client_id, ["agenda"],
                      acting=access.Acting("none", 0))


__all__ = ["ROLE_KINDS", "Context", "Handler", "Service"]
