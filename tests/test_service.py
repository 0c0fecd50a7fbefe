"""The turn kernel and the client's turn over the in-memory unit of work: fast, no
database, no Telegram. The same behaviour is proved end to end through the local Bot API in
the other test files; these pin the service's own rules."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.dialogs.buttons import decode
from bot.dialogs.texts import t
from bot.dialogs.types import Input, Reply
from bot.schedule import Plan
from bot.service import Incoming, Outgoing, Service, TurnResult
from bot.service.types import EarlierFirst
from bot.state.models import (
    Admin,
    AgendaItem,
    Answer,
    Begeleider,
    Client,
    Invite,
    Naaste,
    Person,
    token_hash,
    utcnow,
)
from tests.fake_unit import FakeStore, organisation

TZ = ZoneInfo("Europe/Amsterdam")
SAM = 11


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.org = organisation(self.store)
        self.service = Service(self.store, TZ)  # type: ignore[arg-type]
        # The schedule's SQL is not faked: re-plans are recorded (client ids) instead.
        self.replans: list[int] = []
        self.service.context = replace(self.service.context, replan=self._replan)
        self.next_update = 100
        self.sam = self.person(SAM, "Sam")
        self.client = self.store.add(Client(organisation_id=self.org.id, name="Sam",
                                            person_id=self.sam.id, begeleider_id=None))

    async def _replan(self, unit: Any, client_id: int, now: Any, settings: Any) -> Plan:
        self.replans.append(client_id)
        return Plan(())

    def person(self, user_id: int, name: str) -> Person:
        return self.store.add(Person(telegram_user_id=user_id, chat_id=user_id, name=name,
                                     blocked_bot=False))

    async def send(self, user_id: int, inp: Input, chat_type: str = "private",
                   update_id: int | None = None) -> Outgoing | None:
        if update_id is None:
            self.next_update += 1
            update_id = self.next_update
        result = await self.service.handle(Incoming(update_id, user_id, chat_type, user_id,
                                                    "Sam", inp))
        assert not isinstance(result, EarlierFirst)  # one process: never
        return result

    async def say(self, user_id: int, text: str) -> Outgoing | None:
        return await self.send(user_id, Input("text", utcnow(), text=text,
                                              message_id=self.next_update + 1))

    async def command(self, user_id: int, name: str) -> Outgoing | None:
        return await self.send(user_id, Input("command", utcnow(), command=name))

    async def press(self, user_id: int, out: Outgoing | None, label: str) -> Outgoing | None:
        return await self.send(user_id, Input("button", utcnow(), data=data_of(out, label)))

    def answers(self) -> list[Answer]:
        rows = self.store.tables.of(Answer).values()
        return sorted((a for a in rows if a.removed_at is None), key=lambda a: a.id)


def texts(out: Outgoing | None) -> list[str]:
    assert out is not None
    return [reply.text for reply in out.replies]


def data_of(out: Outgoing | None, label: str) -> str:
    assert out is not None
    for reply in out.replies:
        for row in reply.buttons:
            for button in row:
                if button.label == label:
                    return button.data
    raise AssertionError(f"no button {label!r} in {texts(out)}")


def said(out: Outgoing | None, key: str, **values: Any) -> bool:
    return any(t(key, **values) in text for text in texts(out))


def test_the_fake_unit_has_the_real_units_methods() -> None:
    """Each method of the fake takes what the real one takes (so a change to the unit of
    work that the fake does not follow fails here, not in a confusing way elsewhere)."""
    import inspect

    from bot.state.unit import Unit
    from tests.fake_unit import FakeUnit

    names = [n for n, _ in inspect.getmembers(FakeUnit, inspect.isfunction)
             if not n.startswith("_")]
    assert len(names) > 30
    for name in names:
        real = getattr(Unit, name, None)
        assert real is not None, f"the real unit has no {name}"
        assert list(inspect.signature(getattr(FakeUnit, name)).parameters) == list(
            inspect.signature(real).parameters), name


@pytest.fixture
def w() -> World:
    return World()


async def started(w: World) -> Outgoing | None:
    welcome = await w.command(SAM, "start")
    return await w.press(SAM, welcome, t("btn_start"))


async def test_each_message_is_an_item_and_the_answers_are_numbered(w: World) -> None:
    question = await started(w)
    assert question is not None and question.replies
    first = await w.say(SAM, "Ik kan goed tekenen")
    assert said(first, "ack_more")
    await w.say(SAM, "En koken")
    rows = w.answers()
    assert [(a.text, a.item, a.part) for a in rows] == [("Ik kan goed tekenen", 1, 1),
                                                        ("En koken", 2, 1)]
    assert rows[0].step == rows[1].step and rows[0].entered_by == w.sam.id
    assert rows[0].update_id is not None  # the file keeper finds an update's answers by it


async def test_a_redelivered_update_is_handled_once(w: World) -> None:
    await started(w)
    inp = Input("text", utcnow(), text="Tekenen", message_id=5)
    first = await w.send(SAM, inp, update_id=900)
    again = await w.send(SAM, inp, update_id=900)
    assert first is not None and again is None
    assert [a.text for a in w.answers()] == ["Tekenen"]


async def test_a_failing_turn_is_rolled_back_whole(w: World, monkeypatch: Any) -> None:
    await started(w)
    from bot.service import client

    def broken(*args: Any) -> list[Reply]:
        raise RuntimeError("a bug in rendering")

    monkeypatch.setattr(client.client_prep, "render", broken)
    with pytest.raises(RuntimeError):
        await w.send(SAM, Input("text", utcnow(), text="Tekenen"), update_id=901)
    assert w.answers() == []  # the answer written before the bug is gone with it
    assert w.store.tables.inbox.get(901, "new") == "new"  # not marked done: kept for later


async def test_a_stale_button_changes_nothing(w: World) -> None:
    welcome = await w.command(SAM, "start")
    question = await w.press(SAM, welcome, t("btn_start"))
    before = w.store.tables.sessions[(w.sam.id, "client_prep")].step
    again = await w.press(SAM, welcome, t("btn_start"))  # the welcome's button, pressed again
    assert said(again, "stale_button")
    assert w.store.tables.sessions[(w.sam.id, "client_prep")].step == before
    assert question is not None and w.answers() == []


async def test_replies_sent_are_marked_later_together(w: World) -> None:
    out = await w.command(SAM, "start")
    assert out is not None and out.sent_mark is not None
    w.service.replies_sent(out)
    w.service.replies_sent(Outgoing(SAM))  # nothing to mark: no turn behind it
    assert w.store.sent == []  # not one write per reply
    await w.service.close()
    assert w.store.sent == [out.sent_mark]


async def test_a_stranger_and_a_group_leave_nothing(w: World) -> None:
    stranger = await w.say(99, "Hallo")
    assert texts(stranger) == [t("stranger")]
    group = await w.send(SAM, Input("command", utcnow(), command="start"), chat_type="group")
    assert texts(group) == [t("group_only_private")]
    assert w.store.tables.forgotten == {w.next_update - 1, w.next_update}
    assert w.answers() == []


async def test_the_role_menu_has_seq_checked_buttons(w: World) -> None:
    """A person with two roles chooses one; an old menu's button, and a forged one, are
    refused (the forged one is logged as a denied read)."""
    ann = w.person(22, "Ann")
    w.store.add(Begeleider(organisation_id=w.org.id, name="Ann", person_id=ann.id))
    naaste = w.store.add(Naaste(client_id=w.client.id, name="Ann", relation="zus",
                                person_id=ann.id, removed_at=None))
    turns: list[tuple[int, str]] = []

    async def naaste_turn(unit: Any, ctx: Any, person: Any, ref: int, inp: Input,
                          update_id: int) -> TurnResult:
        turns.append((ref, inp.command))
        return TurnResult([Reply("naaste home")])

    w.service.handlers["naaste"] = naaste_turn  # the kernel routes by its table
    menu = await w.command(22, "start")
    assert texts(menu) == [t("q_role")]
    role_data = data_of(menu, t("role_pick_naaste", name="Sam"))
    press = decode(role_data)
    assert press is not None and press.arg == f"naaste:{naaste.id}" and press.seq > 0
    chosen = await w.send(22, Input("button", utcnow(), data=role_data))
    assert texts(chosen) == [t("role_switched", role=t("role_pick_naaste", name="Sam")),
                             "naaste home"]
    assert turns == [(naaste.id, "start")]
    menu_again = await w.command(22, "rol")
    stale = await w.send(22, Input("button", utcnow(), data=role_data))  # the first menu's
    assert texts(stale) == [t("q_role")]  # asked again with fresh buttons, nothing chosen
    assert data_of(menu_again, t("role_pick_naaste", name="Sam")) != role_data
    denied_before = len(w.store.tables.audit)
    forged = await w.send(22, Input("button", utcnow(), data=f"{press.seq}:rol:naaste:999"))
    assert texts(forged) == [t("b_not_yours")]
    assert [a.allowed for a in w.store.tables.audit[denied_before:]] == [False]


# ------------------------------------------------------------------ the other roles
def data_for(out: Outgoing | None, action: str, arg: object = None) -> str:
    """The data of the button with this action (and argument) on the newest screen."""
    assert out is not None
    for reply in reversed(out.replies):
        for row in reply.buttons:
            for button in row:
                press = decode(button.data)
                if press and press.action == action and (arg is None or press.arg == str(arg)):
                    return button.data
    raise AssertionError(f"no {action}:{arg} button in {texts(out)}")


async def tap(w: World, user_id: int, out: Outgoing | None, action: str,
              arg: object = None) -> Outgoing | None:
    return await w.send(user_id, Input("button", utcnow(), data=data_for(out, action, arg)))


def staff(w: World) -> tuple[Person, Begeleider]:
    """Jan, Sam's begeleider."""
    jan = w.person(33, "Jan")
    begeleider = w.store.add(Begeleider(organisation_id=w.org.id, name="Jan",
                                        person_id=jan.id))
    w.client.begeleider_id = begeleider.id
    return jan, begeleider


async def test_the_begeleider_makes_a_new_client_with_an_invite(w: World) -> None:
    jan, begeleider = staff(w)
    home = await w.command(33, "start")
    assert said(home, "b_home")
    # The home screen reads each client's progress once (one audit row), though it is
    # checked and then shown.
    assert [(a.viewer_person_id, a.client_id, a.part) for a in w.store.tables.audit] == [
        (jan.id, w.client.id, "progress")]
    asked = await tap(w, 33, home, "nc")
    assert said(asked, "b_ask_client_name")
    invited = await w.say(33, "Noor")
    noor = next(c for c in w.store.tables.of(Client).values() if c.name == "Noor")
    assert noor.begeleider_id == begeleider.id and noor.organisation_id == w.org.id
    (invite,) = [i for i in w.store.tables.of(Invite).values() if i.client_id == noor.id]
    sent = [token for text in texts(invited) for token in re.findall(r"start=([\w-]+)", text)]
    assert invite.role == "client" and [token_hash(token) for token in sent] == [
        invite.token_hash]


async def test_the_begeleider_cannot_open_another_begeleiders_client(w: World) -> None:
    staff(w)
    other = w.store.add(Client(organisation_id=w.org.id, name="Lies", person_id=None,
                               begeleider_id=None))
    home = await w.command(33, "start")
    seq = decode(data_for(home, "nc"))
    assert seq is not None
    before = len(w.store.tables.audit)
    refused = await w.send(33, Input("button", utcnow(), data=f"{seq.seq}:op:{other.id}"))
    assert texts(refused) == [t("b_not_yours")]
    assert [(a.client_id, a.allowed) for a in w.store.tables.audit[before:]] == [
        (other.id, False)]


async def test_a_naaste_adds_and_removes_a_topic(w: World) -> None:
    ann = w.person(44, "Ann")
    w.store.add(Naaste(client_id=w.client.id, name="Ann", relation="zus", person_id=ann.id,
                       removed_at=None))
    home = await w.command(44, "start")
    assert said(home, "n_home", name="Ann", client="Sam")
    assert said(home, "n_nothing_shared", client="Sam")  # Sam shares nothing yet
    asked = await tap(w, 44, home, "to")
    assert said(asked, "n_ask_topic")
    added = await w.say(44, "Samen op vakantie")
    assert said(added, "n_added")
    (item,) = w.store.tables.of(AgendaItem).values()
    assert (item.text, item.owner_role, item.owner_person_id) == ("Samen op vakantie",
                                                                  "naaste", ann.id)
    mine = await tap(w, 44, added, "mi")
    await tap(w, 44, mine, "rm", item.id)
    assert item.removed_at is not None


async def test_the_admin_moves_a_client_to_another_begeleider(w: World) -> None:
    _jan, _begeleider = staff(w)
    els = w.store.add(Begeleider(organisation_id=w.org.id, name="Els", person_id=None))
    boss = w.person(55, "Bo")
    w.store.add(Admin(organisation_id=w.org.id, name="Bo", person_id=boss.id))
    home = await w.command(55, "start")
    assert said(home, "a_home", organisation="Zorg")
    pick = await tap(w, 55, home, "mv")
    to_whom = await tap(w, 55, pick, "ch", w.client.id)
    moved = await tap(w, 55, to_whom, "ch", els.id)
    assert w.client.begeleider_id == els.id
    assert said(moved, "a_moved", name="Sam", begeleider="Els")
