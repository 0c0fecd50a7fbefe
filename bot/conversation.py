"""The service layer: one update in → one transaction → replies out.

It wires the pure dialogs to the store: claim the update (a redelivered one is skipped),
find the person, run the dialog, write its effects and the new dialog state, mark the
update done, commit. Only after the commit does the caller send the replies.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import literal, select, union_all

from bot import access, reminders, roles, schedule
from bot.dialogs import client_prep
from bot.dialogs.buttons import pressed
from bot.dialogs.texts import dutch_date, t
from bot.dialogs.types import (
    AddPart,
    Answers,
    AnswerView,
    Button,
    EditByMessage,
    Effect,
    Input,
    MoveItemUp,
    NaasteView,
    RemoveItem,
    RemoveNaaste,
    RemoveTag,
    Reply,
    RestoreNaaste,
    Session,
    SetShare,
)
from bot.faults import checkpoint
from bot.state.models import (
    Admin,
    Answer,
    Begeleider,
    Client,
    DialogSession,
    Naaste,
    Person,
    Share,
    utcnow,
)
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
    speech: bool = True  # the person's choices in /instellingen
    slow: bool = False
    also: list[tuple[int, Reply]] = field(default_factory=list)  # to other chats


@dataclass
class _Result:
    outgoing: Outgoing | None = None
    forget: bool = False  # keep nothing of this update (group chats, strangers)
    who: str = "-"
    step: str = "-"


@dataclass(frozen=True)
class Role:
    """One of a person's roles: ("client", client id), ("naaste", naaste id), …"""

    kind: str
    id: int
    label: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


class Conversation:
    def __init__(self, store: Store, tz: ZoneInfo, invite_days: int = 30,
                 pictos: Any = None, settings: Any = None) -> None:
        self.store = store
        self.tz = tz
        self.invite_days = invite_days
        self.pictos = pictos
        self.settings = settings  # for the schedule: quiet hours
        self.bot_username = "<bot username>"  # set once the bot knows its name (getMe)

    def link(self, token: str) -> str:
        return f"https://t.me/{self.bot_username}?start={token}"

    def role_context(self) -> roles.RoleContext:
        return roles.RoleContext(self.tz, self.invite_days, self.link, self.pictos,
                                 lambda moment: dutch_date(moment, self.tz), self.settings)

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
            replies, _step = await self._ask_current(unit, person, client, only_active=True)
            return Outgoing(person.chat_id, replies, person.id) if replies else None

    async def _ask_current(self, unit: Unit, person: Person, client: Client,
                           only_active: bool = False) -> tuple[list[Reply], str]:
        """The client's current question with fresh buttons (stored before it is sent)."""
        row = await unit.load_session(person.id, FLOW, client.id, "welcome")
        session = _session(row)
        if only_active and session.status != "active":
            return [], session.step
        session.seq += 1
        replies = client_prep.ask(session, await self._answers(unit, client.id),
                                  await self._context(unit, client, session.step))
        _save(row, session, reply_pending=True)
        return replies, session.step

    async def scheduled(self, kind: str, client_id: int, person_id: int | None,
                        now: datetime | None = None) -> Outgoing | None:
        """A planned message (bot/reminders.py) as replies, in one transaction; None when
        there is nothing to send (anymore). `now`: the schedule's clock."""
        async with self.store.unit() as unit:
            person = await unit.session.get(Person, person_id) if person_id else None
            client = await unit.session.get(Client, client_id)
            if person is None or person.chat_id is None or client is None:
                return None
            meeting = await unit.meeting(client_id)
            date = dutch_date(meeting.starts_at, self.tz) if meeting and meeting.starts_at \
                else ""
            if kind in {"client_reminder", "after_meeting"}:
                replies = await self._scheduled_client(unit, kind, person, client, date)
            elif kind in {"naaste_agenda", "naaste_nudge"}:
                replies = await self._scheduled_naaste(unit, kind, person, client,
                                                       now or utcnow())
            else:
                replies = await roles.begeleider_agenda(unit, self.role_context(), person,
                                                        client, date)
            return Outgoing(person.chat_id, replies, person.id) if replies else None

    async def _scheduled_client(self, unit: Unit, kind: str, person: Person, client: Client,
                                date: str) -> list[Reply]:
        row = await unit.load_session(person.id, FLOW, client.id, "welcome")
        session = _session(row)
        session.seq += 1
        if kind == "client_reminder":
            number = await reminders.reminder_number(unit, client.id)
            text = schedule.reminder_text(number, name=escape(client.name), date=date)
            replies = [Reply(f"{text}\n{t('client_reminder_how')}", speak=client_prep.plain(text),
                             buttons=client_prep.reminder_buttons(session))]
        else:
            answers = await self._answers(unit, client.id, False)
            out = client_prep.start_after_meeting(session, answers)
            intro = t("after_meeting_intro", name=escape(client.name))
            replies = [Reply(intro, speak=client_prep.plain(intro)), *client_prep.render(
                session, answers, out, client_prep.Context(client.name),
                Input("command", utcnow(), command="check"))]
        _save(row, session, reply_pending=False)
        return replies

    async def _scheduled_naaste(self, unit: Unit, kind: str, person: Person, client: Client,
                                now: datetime) -> list[Reply]:
        naaste = (await unit.session.execute(select(Naaste).where(
            Naaste.client_id == client.id, Naaste.person_id == person.id,
            Naaste.removed_at.is_(None)))).scalar_one_or_none()
        if naaste is None:
            return []
        # "Over 6 dagen" counts from the schedule's clock.
        return await roles.naaste_agenda(unit, self.role_context(), person, naaste, kind, now)

    async def replies_sent(self, person_id: int) -> None:
        await self.store.reply_sent(person_id)

    # ------------------------------------------------------------------ routing
    async def _route(self, unit: Unit, incoming: Incoming) -> _Result:
        if incoming.chat_type != "private":
            # Added to a group, or a command in one (/start): the same one polite line;
            # other group messages get nothing (no echo in a family's group chat).
            asked = incoming.input is not None and incoming.input.kind == "command"
            if (incoming.event == "added_to_group" or asked) and incoming.chat_id is not None:
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
        if inp.kind == "command" and inp.command == "start" and inp.arg:
            client = await unit.client_of(person) if person else None
            if client is None or not await self._is_client_token(unit, inp.arg):
                return await self._redeem(unit, incoming, inp)
        if inp.kind == "command" and inp.command == "over":
            return _Result(Outgoing(incoming.chat_id, [self._about()]), forget=person is None,
                           who="about")
        mine = await self._roles(unit, person) if person else []
        if person is None or not mine:
            return _Result(Outgoing(incoming.chat_id, [Reply(t("stranger"))]), forget=True,
                           who="stranger")
        person.chat_id = incoming.chat_id
        role = await self._active_role(unit, person, mine, inp)
        if role is None:  # several roles and none chosen, or /rol, or a role button
            return await self._role_menu(unit, person, mine, inp, incoming.chat_id)
        return await self._turn_as(unit, incoming, person, role, inp)

    async def _turn_as(self, unit: Unit, incoming: Incoming, person: Person, role: Role,
                       inp: Input) -> _Result:
        assert incoming.chat_id is not None
        now = utcnow()
        who = f"p{person.id}:{role.kind}"
        if role.kind == "client":
            client = await unit.session.get(Client, role.id)
            assert client is not None
            return await self._client_turn(unit, incoming.chat_id, person, client, inp,
                                           incoming.update_id)
        ctx = self.role_context()
        if role.kind == "begeleider":
            begeleider = await unit.session.get(Begeleider, role.id)
            assert begeleider is not None
            replies = await roles.begeleider_turn(unit, ctx, person, begeleider, inp, now)
        elif role.kind == "naaste":
            naaste = await unit.session.get(Naaste, role.id)
            assert naaste is not None
            replies = await roles.naaste_turn(unit, ctx, person, naaste, inp, now)
        else:
            admin = await unit.session.get(Admin, role.id)
            assert admin is not None
            replies = await roles.admin_turn(unit, ctx, person, admin, inp, now)
        return _Result(Outgoing(incoming.chat_id, replies, person.id), who=who)

    def _about(self) -> Reply:
        lines = self.pictos.attribution() if self.pictos is not None else []
        lines = [t("over_openmoji") if "OpenMoji" in line else escape(line) for line in lines]
        text = t("over") + "\n" + "\n".join(lines)
        return Reply(text.strip(), speak=client_prep.plain(t("over")))

    async def _roles(self, unit: Unit, person: Person) -> list[Role]:
        """Every role of this person, in one round trip (this runs on every update)."""
        pid = person.id
        query = union_all(
            select(literal("client"), Client.id, literal("")).where(Client.person_id == pid),
            select(literal("begeleider"), Begeleider.id, literal("")).where(
                Begeleider.person_id == pid),
            select(literal("naaste"), Naaste.id, Client.name).join(
                Client, Client.id == Naaste.client_id).where(
                Naaste.person_id == pid, Naaste.removed_at.is_(None)),
            select(literal("admin"), Admin.id, literal("")).where(Admin.person_id == pid),
        )
        labels = {"client": "role_pick_client", "begeleider": "role_pick_begeleider",
                  "naaste": "role_pick_naaste", "admin": "role_pick_admin"}
        order = list(labels)
        rows = sorted((await unit.session.execute(query)).all(),
                      key=lambda r: (order.index(r[0]), r[1]))
        return [Role(kind, int(ref), t(labels[kind], name=name)) for kind, ref, name in rows]

    async def _active_role(self, unit: Unit, person: Person, mine: list[Role],
                           inp: Input) -> Role | None:
        """The role this input is for; None asks the person to choose."""
        if inp.kind == "command" and inp.command == "rol" and len(mine) > 1:
            return None
        if inp.kind == "button" and inp.data.startswith("rol:"):
            return None
        if len(mine) == 1:
            return mine[0]
        row = await unit.load_session(person.id, "roles", None, "menu")
        active = str((row.data or {}).get("active", ""))
        return next((r for r in mine if r.key == active), None)

    async def _role_menu(self, unit: Unit, person: Person, mine: list[Role], inp: Input,
                         chat_id: int) -> _Result:
        row = await unit.load_session(person.id, "roles", None, "menu")
        if inp.kind == "button" and inp.data.startswith("rol:"):
            chosen = next((r for r in mine if f"rol:{r.key}" == inp.data), None)
            if chosen is None:
                await self._deny_forged_role(unit, person, inp.data)
                return _Result(Outgoing(chat_id, [Reply(t("b_not_yours"))], person.id),
                               who=f"p{person.id}")
            row.data = {"active": chosen.key}
            start = Input("command", inp.sent_at, command="start")
            result = await self._turn_as(unit, Incoming(0, chat_id, "private", None, "", start),
                                         person, chosen, start)
            if result.outgoing is not None:
                result.outgoing.replies.insert(0, Reply(t("role_switched", role=chosen.label)))
            return result
        buttons = tuple((Button(r.label, f"rol:{r.key}"),) for r in mine)
        return _Result(Outgoing(chat_id, [Reply(t("q_role"), buttons=buttons)], person.id),
                       who=f"p{person.id}")

    async def _deny_forged_role(self, unit: Unit, person: Person, data: str) -> None:
        """A role button for a relation this person does not have: audit the denial."""
        _, kind, ref = (data.split(":") + ["", ""])[:3]
        number = access.as_id(ref)
        client_id = number or 0
        if kind == "naaste" and number is not None:
            naaste = await unit.session.get(Naaste, number)
            client_id = naaste.client_id if naaste else 0
        elif kind not in {"client", "naaste"}:
            client_id = 0
        await access.read(unit, person.id, client_id, ["agenda"],
                          acting=access.Acting("none", 0))

    async def _is_client_token(self, unit: Unit, token: str) -> bool:
        from bot.state.models import Invite

        invite = (await unit.session.execute(select(Invite).where(
            Invite.token == token))).scalar_one_or_none()
        return invite is None or invite.role == "client"

    async def _redeem(self, unit: Unit, incoming: Incoming, inp: Input) -> _Result:
        assert incoming.user_id is not None and incoming.chat_id is not None
        redeemed = await unit.redeem_invite(inp.arg, incoming.user_id, incoming.chat_id,
                                            incoming.user_name, inp.sent_at)
        if redeemed.reason != "ok":
            person = await unit.person(incoming.user_id)
            key = "already_linked" if redeemed.reason == "taken" else "invite_invalid"
            return _Result(Outgoing(incoming.chat_id, [Reply(t(key))]), forget=person is None,
                           who="stranger")
        person = await unit.person(incoming.user_id)
        assert person is not None
        person.chat_id = incoming.chat_id
        if redeemed.client is not None:
            replies, step = await self._ask_current(unit, person, redeemed.client)
            return _Result(Outgoing(incoming.chat_id, replies, person.id),
                           who=f"p{person.id}", step=step)
        role = Role(redeemed.role, redeemed.ref_id, "")
        if role.kind == "naaste":  # a naaste who joins late still gets the agenda
            naaste = await unit.session.get(Naaste, role.id)
            if naaste is not None:
                await unit.session.flush()
                await reminders.plan_for_client(unit, naaste.client_id, utcnow(), self.settings)
        roles_row = await unit.load_session(person.id, "roles", None, "menu")
        roles_row.data = {"active": role.key}  # the new role is the one in use now
        start = Input("command", inp.sent_at, command="start")
        result = await self._turn_as(unit, incoming, person, role, start)
        welcome = {"begeleider": "invite_accepted_begeleider", "admin": "invite_accepted_admin"}
        if result.outgoing is not None and role.kind in welcome:
            result.outgoing.replies.insert(0, Reply(t(welcome[role.kind],
                                                      name=escape(person.name))))
        return result

    async def _client_turn(self, unit: Unit, chat_id: int, person: Person, client: Client,
                           inp: Input, update_id: int) -> _Result:
        person.chat_id = chat_id
        if person.blocked_bot:
            person.blocked_bot = False
        row = await unit.load_session(person.id, FLOW, client.id, "welcome")
        session = _session(row)
        if inp.kind == "command" and inp.command in {"wie_keek", "mijnlijst"}:
            replies = (await self._who_looked(unit, client) if inp.command == "wie_keek"
                       else await roles.client_copy(unit, self.role_context(), person, client))
            return _Result(Outgoing(chat_id, replies, person.id), who=f"p{person.id}",
                           step=session.step)
        sharing = session.step.startswith("sharing") or (
            inp.kind == "command" and inp.command == "delen")
        answers = await self._answers(unit, client.id, sharing)
        out = client_prep.decide(session, answers, inp)
        if out.stale and await self._forged(unit, person, client, inp):
            return _Result(Outgoing(chat_id, [Reply(t("b_not_yours"))], person.id),
                           who=f"p{person.id}", step=session.step)
        await _apply(unit, client.id, person.id, out.effects, update_id)
        if out.ask:
            session.seq += 1
        if out.effects or session.step.startswith("sharing") != sharing:
            answers = await self._answers(unit, client.id, session.step.startswith("sharing"))
        replies = client_prep.render(session, answers, out,
                                     await self._context(unit, client, session.step),
                                     inp)
        also = []
        if session.data.pop("feedback_given", False):
            chat = await self._begeleider_chat(unit, client)
            if chat is not None:
                also.append((chat, Reply(client_prep.after_meeting_report(client.name,
                                                                          answers))))
        _save(row, session, reply_pending=bool(replies))
        return _Result(Outgoing(chat_id, replies, person.id,
                                speech=client_prep.preference(session, "speech"),
                                slow=client_prep.preference(session, "slow"), also=also),
                       who=f"p{person.id}", step=session.step)

    async def _forged(self, unit: Unit, person: Person, client: Client, inp: Input) -> bool:
        """A refused button whose id names another client's naaste or answer: logged as a
        denied read in the access log."""
        press = pressed(inp)
        model, part = {"pk": (Naaste, "naasten"), "pl": (Answer, "voice")}.get(
            press.action if press else "", (None, ""))
        if model is None or press is None:
            return False
        return await access.refuse_forged(unit, person.id, model, press.arg, part,
                                          access.Acting("client", client.id)) is not None

    async def _answers(self, unit: Unit, client_id: int, with_naasten: bool = True) -> Answers:
        """The client's answers; with the naasten and shares only where a screen shows them
        (the sharing step), to keep the other updates cheap."""
        answers = _answers(await unit.answers(client_id))
        if not with_naasten:
            return answers
        naasten = (await unit.session.execute(select(Naaste).where(
            Naaste.client_id == client_id, Naaste.removed_at.is_(None))
            .order_by(Naaste.id))).scalars()
        answers.naasten = [NaasteView(n.id, n.name, n.relation) for n in naasten]
        shares = await unit.session.execute(select(Share.naaste_id, Share.part).where(
            Share.client_id == client_id, Share.allowed.is_(True),
            Share.naaste_id.is_not(None)))
        for naaste_id, part in shares:
            if naaste_id is not None:
                answers.shares.setdefault(naaste_id, set()).add(part)
        return answers

    async def _who_looked(self, unit: Unit, client: Client) -> list[Reply]:
        looks = await access.who_looked(unit, client.id)
        if not looks:
            text = t("wie_keek_none")
        else:
            lines = [t("wie_keek_line", name=escape(look.name), role=t(f"role_{look.role}")
                       if look.role in access.ROLES else "", date=dutch_date(look.at, self.tz))
                     for look in looks]
            text = t("wie_keek_intro") + "\n" + "\n".join(lines)
        return [Reply(text, speak=client_prep.plain(text))]

    async def _begeleider_chat(self, unit: Unit, client: Client) -> int | None:
        if client.begeleider_id is None:
            return None
        begeleider = await unit.session.get(Begeleider, client.begeleider_id)
        person = await unit.session.get(Person, begeleider.person_id) if (
            begeleider and begeleider.person_id) else None
        return person.chat_id if person else None

    async def _blocked(self, unit: Unit, person: Person, blocked: bool) -> None:
        """A person who blocks the bot: pause the session, send nothing."""
        await unit.set_blocked(person, blocked)
        client = await unit.client_of(person)
        if blocked and client is not None:
            row = await unit.load_session(person.id, FLOW, client.id, "welcome")
            if row.status == "active":
                row.status = "paused"

    async def _context(self, unit: Unit, client: Client,
                       step: str = "welcome") -> client_prep.Context:
        """Only the welcome shows the meeting date: other steps skip that query."""
        if step != "welcome":
            return client_prep.Context(client.name)
        meeting = await unit.meeting(client.id)
        when = meeting.starts_at if meeting else None
        return client_prep.Context(client.name, dutch_date(when, self.tz) if when else None)


# One way to read and write a dialog session, shared with the other roles' turns.
_session = roles.session_of


def _save(row: DialogSession, session: Session, reply_pending: bool) -> None:
    roles.save(row, session, reply_pending)


def _answers(rows: list[Answer]) -> Answers:
    return Answers([AnswerView(a.id, a.step, a.item, a.part, a.kind, a.text, a.tag,
                               a.duration, a.file_id, a.file_state, a.message_id)
                    for a in rows])


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
            naaste = await unit.session.get(Naaste, effect.naaste_id)
            if naaste is not None and naaste.client_id == client_id:
                await unit.set_share(client_id, effect.naaste_id, effect.part, effect.allowed)
        elif isinstance(effect, RemoveNaaste | RestoreNaaste):
            naaste = await unit.session.get(Naaste, effect.naaste_id)
            if naaste is not None and naaste.client_id == client_id:
                naaste.removed_at = utcnow() if isinstance(effect, RemoveNaaste) else None
