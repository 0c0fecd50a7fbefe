"""The naaste's conversation: the meeting date and exactly what the client shares; adding
topics, questions and what they appreciate; changing or removing their own items."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from transitions import EventData

from bot.dialogs.menu import MenuFlow, MenuOutcome, MenuTurn, arg_of, button, render_outcome
from bot.dialogs.texts import t
from bot.dialogs.types import Input, Reply, Session

KINDS = {"ask_topic": "topic", "ask_question": "question", "ask_appreciation": "appreciation"}


@dataclass(frozen=True)
class Item:
    id: int
    kind: str
    text: str


@dataclass
class View:
    name: str
    client: str
    meeting: str | None
    shared: list[str] = field(default_factory=list)  # HTML messages of the shared agenda
    mine: list[Item] = field(default_factory=list)


class Turn(MenuTurn):
    def add(self, event: EventData) -> None:
        source = event.transition.source if event.transition else ""
        self.do("add_item", kind=KINDS_BY_STATE[source], text=arg_of(event).strip())
        self.out.notes.append("n_added")

    def remember_item(self, event: EventData) -> None:
        self.session.data["item"] = int(arg_of(event))

    def change(self, event: EventData) -> None:
        self.do("edit_item", item_id=int(self.session.data.pop("item", 0)),
                text=arg_of(event).strip())
        self.out.notes.append("ack_changed")

    def remove_item(self, event: EventData) -> None:
        self.do("remove_item", item_id=int(arg_of(event)))
        self.out.notes.append("ack_removed")


FLOW = MenuFlow("naaste", ["home", *KINDS, "mine", "ask_edit"], [
    {"trigger": "home", "source": "*", "dest": "home"},
    {"trigger": "topic", "source": ["home", "mine"], "dest": "ask_topic"},
    {"trigger": "question", "source": ["home", "mine"], "dest": "ask_question"},
    {"trigger": "appreciation", "source": ["home", "mine"], "dest": "ask_appreciation"},
    {"trigger": "answer", "source": list(KINDS), "dest": "home", "before": "add"},
    {"trigger": "answer", "source": ["home", "mine"], "dest": "home", "before": "add"},
    {"trigger": "mine", "source": "*", "dest": "mine"},
    {"trigger": "edit", "source": "mine", "dest": "ask_edit", "before": "remember_item"},
    {"trigger": "answer", "source": "ask_edit", "dest": "mine", "before": "change"},
    {"trigger": "remove", "source": "mine", "dest": None, "before": "remove_item"},
    {"trigger": "back", "source": [*KINDS, "mine"], "dest": "home"},
    {"trigger": "back", "source": "ask_edit", "dest": "mine"},
], Turn)
# A message typed on the home screen or the list is a topic (nothing a person says is lost).
KINDS_BY_STATE = {**KINDS, "home": "topic", "mine": "topic"}

BUTTONS = {"hm": "home", "to": "topic", "qu": "question", "ap": "appreciation", "mi": "mine",
           "ed": "edit", "rm": "remove", "bk": "back"}
COMMANDS = {"start": "home", "verder": "home", "lijst": "mine"}
ITEM_ID_ACTIONS = {"ed", "rm"}  # the service checks the item is this naaste's own


def decide(session: Session, inp: Input, view: View) -> MenuOutcome:
    return FLOW.decide(session, inp, BUTTONS, COMMANDS, view)


def render(session: Session, out: MenuOutcome, view: View) -> list[Reply]:
    return render_outcome(out, [], lambda: ask(session, view))


def ask(session: Session, view: View) -> list[Reply]:
    state = session.step
    back = (button(session, t("btn_n_home"), "bk"),)
    if state == "home":
        return _home(session, view)
    if state == "mine":
        return _mine(session, view)
    if state == "ask_edit":
        return [Reply(t("n_edit"), buttons=(back,))]
    key = {"ask_topic": "n_ask_topic", "ask_question": "n_ask_question",
           "ask_appreciation": "n_ask_appreciation"}[state]
    return [Reply(t(key, client=escape(view.client)), buttons=(back,))]


def _home(session: Session, view: View) -> list[Reply]:
    intro = t("n_home", name=escape(view.name), client=escape(view.client))
    when = (t("n_meeting", date=view.meeting) if view.meeting else t("n_no_meeting"))
    replies = [Reply(f"{intro}\n{when}", picto="naaste")]
    replies += [Reply(message) for message in view.shared] or [
        Reply(t("n_nothing_shared", client=escape(view.client)))]
    rows = ((button(session, t("btn_n_topic"), "to"), button(session, t("btn_n_question"), "qu")),
            (button(session, t("btn_n_appreciation"), "ap"),
             button(session, t("btn_n_mine"), "mi")))
    replies.append(Reply(t("n_question"), buttons=rows))
    return replies


def _mine(session: Session, view: View) -> list[Reply]:
    if not view.mine:
        return [Reply(t("n_mine_empty"), buttons=((button(session, t("btn_n_home"), "bk"),),))]
    replies = [Reply(t("n_mine_intro"))]
    for item in view.mine:
        replies.append(Reply(escape(item.text), buttons=((
            button(session, t("btn_edit"), "ed", item.id),
            button(session, t("btn_remove"), "rm", item.id)),)))
    replies.append(Reply(t("n_question"), buttons=((button(session, t("btn_n_home"), "bk"),),)))
    return replies
