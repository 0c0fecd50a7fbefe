"""The naaste's conversation: the meeting date and exactly what the client shares; adding
topics, questions and what they appreciate; changing or removing their own items.

The home state has three screens. "home" (/start, and the planned messages): one greeting,
the date, who sees what, the shared agenda and the menu. "agenda" (the "📋 Agenda van …"
button): the date and the shared agenda again. "menu" (after adding something, or
"⬅️ Terug"): a short word and the buttons; the agenda is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from html import escape

from transitions import EventData

from bot.dialogs.buttons import as_id
from bot.dialogs.menu import MenuFlow, MenuOutcome, MenuTurn, arg_of, button, id_of, render_outcome
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Input, Reply, Session

KINDS = {"ask_topic": "topic", "ask_question": "question", "ask_appreciation": "appreciation"}


class Action(StrEnum):
    """The naaste's buttons (the values are the codes on the wire)."""

    HOME = "hm"  # the home screen; arg "agenda": the date and the shared agenda again
    TOPIC = "to"  # add a topic
    QUESTION = "qu"  # add a question
    APPRECIATION = "ap"  # add what they appreciate in the client
    MINE = "mi"  # their own items, to change or remove
    EDIT = "ed"  # arg: an own item's id, checked by the service
    REMOVE = "rm"  # arg: an own item's id, checked by the service
    BACK = "bk"  # one screen back
    ERASE = "er"  # erase everything they added for this client (a question follows)
    CONFIRM = "ok"  # yes, erase it


# Effects: what the service applies, in order (bot/service/naaste.py). "Own" items: the naaste's
# own agenda items (the client's `RemoveItem` is another effect).
@dataclass(frozen=True)
class Show:
    """Which home screen to show: "home" or "agenda" (the dialog renders it)."""

    screen: str


@dataclass(frozen=True)
class AddOwnItem:
    kind: str  # topic, question, appreciation
    text: str


@dataclass(frozen=True)
class EditOwnItem:
    item_id: int
    text: str


@dataclass(frozen=True)
class RemoveOwnItem:
    item_id: int


@dataclass(frozen=True)
class EraseOwn:
    """Everything this naaste added for the client goes for good (also what was removed)."""


Effect = Show | AddOwnItem | EditOwnItem | RemoveOwnItem | EraseOwn


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    text: str


@dataclass
class View:
    name: str
    client: str
    meeting: str | None  # the date written out: "dinsdag 8 december om 14:00"
    days: int | None = None  # calendar days from today to the meeting (below 0: past)
    shares: bool = False  # the client shares at least one part with this naaste
    shared: list[str] = field(default_factory=list)  # HTML messages of what is filled in
    mine: list[Item] = field(default_factory=list)


class Turn(MenuTurn[Effect]):
    def show(self, event: EventData) -> None:
        """/start greets; the agenda button (argument "agenda") shows the agenda again."""
        self.do(Show("agenda" if arg_of(event) == "agenda" else "home"))

    def add(self, event: EventData) -> None:
        source = event.transition.source if event.transition else ""
        self.do(AddOwnItem(KINDS_BY_STATE[source], arg_of(event).strip()))
        self.out.notes.append("n_added")

    def remember_item(self, event: EventData) -> None:
        self.session.data["item"] = id_of(event)

    def change(self, event: EventData) -> None:
        item_id = as_id(self.session.data.pop("item", ""))
        if item_id is not None:  # none: nothing to change (the service would find none)
            self.do(EditOwnItem(item_id, arg_of(event).strip()))
        self.out.notes.append("ack_changed")

    def remove_item(self, event: EventData) -> None:
        item_id = id_of(event)
        assert item_id is not None  # the transition's condition
        self.do(RemoveOwnItem(item_id))
        self.out.notes.append("ack_removed")

    def erase_own(self, event: EventData) -> None:
        self.do(EraseOwn())
        self.out.notes.append("n_erased")


FLOW = MenuFlow("naaste", Action, ["home", *KINDS, "mine", "ask_edit", "erase_mine"], [
    {"trigger": "home", "source": "*", "dest": "home", "before": "show"},
    {"trigger": "topic", "source": ["home", "mine"], "dest": "ask_topic"},
    {"trigger": "question", "source": ["home", "mine"], "dest": "ask_question"},
    {"trigger": "appreciation", "source": ["home", "mine"], "dest": "ask_appreciation"},
    {"trigger": "answer", "source": list(KINDS), "dest": "home", "before": "add"},
    {"trigger": "answer", "source": ["home", "mine"], "dest": "home", "before": "add"},
    {"trigger": "mine", "source": "*", "dest": "mine"},
    {"trigger": "edit", "source": "mine", "dest": "ask_edit", "conditions": "names_id",
     "before": "remember_item"},
    {"trigger": "answer", "source": "ask_edit", "dest": "mine", "before": "change"},
    {"trigger": "remove", "source": "mine", "dest": None, "conditions": "names_id",
     "before": "remove_item"},
    {"trigger": "back", "source": [*KINDS, "mine"], "dest": "home"},
    {"trigger": "back", "source": ["ask_edit", "erase_mine"], "dest": "mine"},
    {"trigger": "erase", "source": "mine", "dest": "erase_mine"},
    {"trigger": "confirm", "source": "erase_mine", "dest": "home", "before": "erase_own"},
], Turn)
# A message typed on the home screen or the list is a topic (nothing a person says is lost).
KINDS_BY_STATE = {**KINDS, "home": "topic", "mine": "topic"}

BUTTONS = {Action.HOME: "home", Action.TOPIC: "topic", Action.QUESTION: "question",
           Action.APPRECIATION: "appreciation", Action.MINE: "mine", Action.EDIT: "edit",
           Action.REMOVE: "remove", Action.BACK: "back", Action.ERASE: "erase",
           Action.CONFIRM: "confirm"}
COMMANDS = {"start": "home", "verder": "home", "lijst": "mine"}
# The service checks the item is this naaste's own.
ITEM_ID_ACTIONS = {Action.EDIT, Action.REMOVE}


def decide(session: Session, inp: Input, view: View) -> MenuOutcome[Effect]:
    return FLOW.decide(session, inp, BUTTONS, COMMANDS, view)


def screen(out: MenuOutcome[Effect]) -> str:
    """The home screen this outcome asks for: "home", "agenda" or (by default) "menu"."""
    return next((e.screen for e in out.effects if isinstance(e, Show)), "menu")


def render(session: Session, out: MenuOutcome[Effect], view: View) -> list[Reply]:
    shown = screen(out)
    if out.ask and not out.stale and session.step == "home" and shown == "menu":
        # "Dank je. Het staat op de lijst." and the buttons in one message.
        text = "\n".join([*(t(note) for note in out.notes), t("n_question")])
        return [Reply(text, buttons=menu_rows(session, view))]
    return render_outcome(out, [], lambda: ask(session, view, shown))


def ask(session: Session, view: View, shown: str = "menu") -> list[Reply]:
    state = session.step
    back = (button(session, t("btn_n_home"), Action.BACK),)
    if state == "home":
        return home(session, view, shown)
    if state == "mine":
        return _mine(session, view)
    if state == "ask_edit":
        return [Reply(t("n_edit"), buttons=(back,))]
    if state == "erase_mine":
        return [Reply(t("n_erase_confirm", client=escape(view.client)), buttons=(
            (button(session, t("btn_n_erase_yes"), Action.CONFIRM),),
            (button(session, t("btn_back"), Action.BACK),)))]
    key = {"ask_topic": "n_ask_topic", "ask_question": "n_ask_question",
           "ask_appreciation": "n_ask_appreciation"}[state]
    return [Reply(t(key, client=escape(view.client)), buttons=(back,))]


def home(session: Session, view: View, shown: str, prompt: str | None = None) -> list[Reply]:
    """One of the three home screens; `prompt` replaces "Wat wil je doen?" above the menu."""
    menu = Reply(prompt or t("n_question"), buttons=menu_rows(session, view))
    if shown == "menu":
        return [menu]
    client = escape(view.client)
    lines = when_lines(view)
    if shown == "home":
        lines = [t("n_home", name=escape(view.name), client=client), *lines,
                 t("n_who_sees", client=client)]
    first = Reply("\n".join(lines), picto="naaste" if shown == "home" else None)
    return [first, *shared_replies(view), menu]


def greeting(view: View, ending: str) -> str:
    """The planned reminder: hello, the date, and `ending` (one message)."""
    return "\n".join([t("n_home", name=escape(view.name), client=escape(view.client)),
                      *when_lines(view), ending])


def when_lines(view: View) -> list[str]:
    """"Sam heeft over 6 dagen een gesprek …" and "Het gesprek is op dinsdag 8 december"."""
    client = escape(view.client)
    if view.meeting is None:
        return [t("n_when", client=client, when=t("n_when_soon")), t("n_no_meeting")]
    if view.days is not None and view.days < 0:
        return [t("n_meeting_past", date=view.meeting)]
    when = t("n_when_soon") if view.days is None else relative_day(view.days)
    return [t("n_when", client=client, when=when), t("n_meeting", date=view.meeting)]


def relative_day(days: int) -> str:
    """"vandaag", "morgen", "over 1 week", "over 2 weken" (only when exact), "over 6 dagen"."""
    if days <= 0:
        return t("n_when_today")
    if days == 1:
        return t("n_when_tomorrow")
    if days == 7:
        return t("n_when_week")
    if days % 7 == 0:
        return t("n_when_weeks", n=days // 7)
    return t("n_when_days", n=days)


def shared_replies(view: View) -> list[Reply]:
    """What the client shares and has filled in; else one sentence that says which it is."""
    if view.shared:
        return [Reply(message) for message in view.shared]
    key = "n_shared_empty" if view.shares else "n_nothing_shared"
    return [Reply(t(key, client=escape(view.client)))]


def menu_rows(session: Session, view: View) -> tuple[tuple[Button, ...], ...]:
    return ((button(session, t("btn_n_topic"), Action.TOPIC),
             button(session, t("btn_n_question"), Action.QUESTION)),
            (button(session, t("btn_n_appreciation"), Action.APPRECIATION),
             button(session, t("btn_n_mine"), Action.MINE)),
            (button(session, t("btn_n_agenda", client=view.client), Action.HOME, "agenda"),))


def _mine(session: Session, view: View) -> list[Reply]:
    back = ((button(session, t("btn_n_home"), Action.BACK),),)
    if not view.mine:  # what they removed is still kept: erasing stays possible
        return [Reply(t("n_mine_empty"), buttons=(
            *back, (button(session, t("btn_n_erase"), Action.ERASE),)))]
    replies = [Reply(t("n_mine_intro"))]
    for item in view.mine:
        replies.append(Reply(escape(item.text), buttons=((
            button(session, t("btn_edit"), Action.EDIT, item.id),
            button(session, t("btn_remove"), Action.REMOVE, item.id)),)))
    replies.append(Reply(t("n_question"), buttons=(
        *back, (button(session, t("btn_n_erase"), Action.ERASE),))))
    return replies
