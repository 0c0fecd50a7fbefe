"""The organisation's admin: invite begeleiders, move clients between begeleiders."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from transitions import EventData

from bot.dialogs.menu import MenuFlow, MenuOutcome, MenuTurn, arg_of, button, render_outcome
from bot.dialogs.texts import t
from bot.dialogs.types import Document, Input, Reply, Session


@dataclass
class View:
    organisation: str
    clients: list[tuple[int, str]] = field(default_factory=list)
    begeleiders: list[tuple[int, str]] = field(default_factory=list)
    results: dict[str, tuple[str, ...]] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)


class Turn(MenuTurn):
    context: View

    def create_begeleider(self, event: EventData) -> None:
        self.do("new_begeleider", name=arg_of(event).strip()[:100])

    def pick_client(self, event: EventData) -> None:
        self.session.data["client"] = int(arg_of(event))

    def audit(self, event: EventData) -> None:
        self.do("audit_csv", client_id=int(arg_of(event)))

    def move_client(self, event: EventData) -> None:
        self.do("move_client", client_id=int(self.session.data.pop("client", 0)),
                begeleider_id=int(arg_of(event)))

    def client_known(self, event: EventData) -> bool:
        return any(str(c) == arg_of(event) for c, _ in self.context.clients)

    def begeleider_known(self, event: EventData) -> bool:
        return any(str(b) == arg_of(event) for b, _ in self.context.begeleiders)


FLOW = MenuFlow("admin", ["home", "ask_begeleider", "pick_client", "pick_begeleider",
                         "pick_audit"], [
    {"trigger": "home", "source": "*", "dest": "home"},
    {"trigger": "invite", "source": "home", "dest": "ask_begeleider"},
    {"trigger": "answer", "source": "ask_begeleider", "dest": "home",
     "before": "create_begeleider"},
    {"trigger": "move", "source": "home", "dest": "pick_client"},
    {"trigger": "choose", "source": "pick_client", "dest": "pick_begeleider",
     "conditions": "client_known", "before": "pick_client"},
    {"trigger": "choose", "source": "pick_begeleider", "dest": "home",
     "conditions": "begeleider_known", "before": "move_client"},
    {"trigger": "log", "source": "home", "dest": "pick_audit"},
    {"trigger": "choose", "source": "pick_audit", "dest": "home",
     "conditions": "client_known", "before": "audit"},
    {"trigger": "back", "source": ["ask_begeleider", "pick_client", "pick_begeleider",
                                   "pick_audit"], "dest": "home"},
], Turn)

BUTTONS = {"hm": "home", "ib": "invite", "mv": "move", "ch": "choose", "bk": "back",
           "lg": "log"}
COMMANDS = {"start": "home", "verder": "home", "begeleider_uitnodigen": "invite",
            "beheer": "home"}


def decide(session: Session, inp: Input, view: View) -> MenuOutcome:
    return FLOW.decide(session, inp, BUTTONS, COMMANDS, view)


def render(session: Session, out: MenuOutcome, view: View) -> list[Reply]:
    replies: list[Reply] = []
    if "begeleider_link" in view.results:
        name, link, days = view.results["begeleider_link"]
        replies.append(Reply(f"{t('a_invite_begeleider', name=escape(name), days=days)}\n{link}",
                             qr=link))
    if "moved" in view.results:
        client, begeleider = view.results["moved"]
        replies.append(Reply(t("a_moved", name=escape(client), begeleider=escape(begeleider))))
    replies += [Reply(escape(d.filename), document=d) for d in view.documents]
    return render_outcome(out, replies, lambda: ask(session, view))


def ask(session: Session, view: View) -> list[Reply]:
    state = session.step
    back = (button(session, t("btn_a_home"), "bk"),)
    if state == "ask_begeleider":
        return [Reply(t("a_ask_begeleider"), buttons=(back,))]
    if state in {"pick_client", "pick_begeleider", "pick_audit"}:
        people = view.begeleiders if state == "pick_begeleider" else view.clients
        if not people:
            return [Reply(t("a_nobody"), buttons=(back,))]
        name = next((n for c, n in view.clients if c == session.data.get("client")), "")
        text = {"pick_client": t("a_pick_client"), "pick_audit": t("a_pick_audit")}.get(
            state) or t("a_pick_begeleider", name=escape(name))
        rows = [(button(session, n, "ch", i),) for i, n in people]
        return [Reply(text, buttons=(*rows, back))]
    return [Reply(t("a_home", organisation=escape(view.organisation)), picto="admin",
                  buttons=((button(session, t("btn_a_invite"), "ib"),),
                           (button(session, t("btn_a_move"), "mv"),),
                           (button(session, t("btn_a_audit"), "lg"),)))]
