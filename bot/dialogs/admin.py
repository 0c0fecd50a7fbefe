"""The organisation's admin: invite begeleiders, move clients between begeleiders, a
client's access log; for the AVG a client's data (inzage) and erasure after two questions;
whether read-backs of people's words may go to gTTS; the organisation's quiet hours."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from html import escape

from transitions import EventData

from bot.dialogs.buttons import as_id
from bot.dialogs.effects import AuditCsv
from bot.dialogs.menu import MenuFlow, MenuOutcome, MenuTurn, arg_of, button, id_of, render_outcome
from bot.dialogs.texts import t
from bot.dialogs.types import Document, Input, Reply, Session


class Action(StrEnum):
    """The admin's buttons (the values are the codes on the wire)."""

    HOME = "hm"  # the admin's home screen
    INVITE = "ib"  # invite a new begeleider
    MOVE = "mv"  # move a client to another begeleider
    CHOOSE = "ch"  # arg: a client id or a begeleider id (the screen says which)
    BACK = "bk"  # back to the home screen
    LOG = "lg"  # a client's access log
    INZAGE = "iz"  # everything kept about a client (a written request for inzage)
    ERASE = "er"  # erase a client (two confirmations follow)
    CONFIRM = "ok"  # arg: the client id the confirmation is about
    READBACK = "rb"  # read-backs of people's words: offline only, or with gTTS again
    QUIET = "qh"  # the organisation's quiet hours: the choice, then arg: one of QUIET_HOURS


# The quiet hours an admin may choose (no planned message in between); DEFAULT: the
# deployment's (QUIET_START-QUIET_END).
DEFAULT = "default"
QUIET_HOURS = (DEFAULT, "20:00-08:00", "21:00-08:00", "21:00-09:00", "22:00-08:00", "22:00-09:00")


# Effects: what the service applies, in order (bot/service/admin.py).
@dataclass(frozen=True)
class NewBegeleider:
    """A begeleider of this organisation, and an invite link for them."""

    name: str


@dataclass(frozen=True)
class MoveClient:
    client_id: int
    begeleider_id: int


@dataclass(frozen=True)
class Inzage:
    client_id: int


@dataclass(frozen=True)
class EraseClient:
    client_id: int


@dataclass(frozen=True)
class ReadbackOffline:
    """The organisation's choice: read-backs of people's words made on the server only."""

    offline: bool


@dataclass(frozen=True)
class QuietHours:
    """The organisation's own quiet hours ("21:00-09:00"), or DEFAULT for the deployment's."""

    hours: str


Effect = (NewBegeleider | MoveClient | AuditCsv | Inzage | EraseClient | ReadbackOffline
          | QuietHours)


@dataclass
class View:
    organisation: str
    readback_offline: bool = False
    quiet: str = DEFAULT  # its own quiet hours ("21:00-09:00"), or the deployment's
    clients: list[tuple[int, str]] = field(default_factory=list)
    begeleiders: list[tuple[int, str]] = field(default_factory=list)
    results: dict[str, tuple[str, ...]] = field(default_factory=dict)
    documents: list[Document] = field(default_factory=list)
    sent: list[Reply] = field(default_factory=list)  # what an effect sends (the inzage)


class Turn(MenuTurn[Effect]):
    context: View

    def create_begeleider(self, event: EventData) -> None:
        self.do(NewBegeleider(arg_of(event).strip()[:100]))

    def pick_client(self, event: EventData) -> None:
        self.session.data["client"] = id_of(event)

    def audit(self, event: EventData) -> None:
        self.do(AuditCsv(self._known(event)))

    def give_inzage(self, event: EventData) -> None:
        self.do(Inzage(self._known(event)))

    def switch_readback(self, event: EventData) -> None:
        self.do(ReadbackOffline(not self.context.readback_offline))

    def set_quiet(self, event: EventData) -> None:
        self.do(QuietHours(str(arg_of(event))))

    def quiet_known(self, event: EventData) -> bool:
        return arg_of(event) in QUIET_HOURS

    def erase_client(self, event: EventData) -> None:
        self.session.data.pop("client", None)
        self.do(EraseClient(self._known(event)))

    def confirm_fits(self, event: EventData) -> bool:
        """A confirmation names the client the question was about (not another one)."""
        return id_of(event) is not None and id_of(event) == self.session.data.get("client")

    def move_client(self, event: EventData) -> None:
        client_id = as_id(self.session.data.pop("client", ""))
        if client_id is not None:  # none: nothing to move (the service would find none)
            self.do(MoveClient(client_id, self._known(event)))

    def client_known(self, event: EventData) -> bool:
        return id_of(event) in {c for c, _ in self.context.clients}

    def begeleider_known(self, event: EventData) -> bool:
        return id_of(event) in {b for b, _ in self.context.begeleiders}

    def _known(self, event: EventData) -> int:
        """The id of a press the conditions found on screen."""
        number = id_of(event)
        assert number is not None
        return number


FLOW = MenuFlow("admin", Action, ["home", "ask_begeleider", "pick_client", "pick_begeleider",
                         "pick_audit", "pick_inzage", "pick_erase", "confirm_erase",
                         "confirm_again", "pick_quiet"], [
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
    {"trigger": "readback", "source": "home", "dest": "home", "before": "switch_readback"},
    {"trigger": "quiet", "source": "home", "dest": "pick_quiet"},
    {"trigger": "quiet", "source": "pick_quiet", "dest": "home",
     "conditions": "quiet_known", "before": "set_quiet"},
    {"trigger": "inzage", "source": "home", "dest": "pick_inzage"},
    {"trigger": "choose", "source": "pick_inzage", "dest": "home",
     "conditions": "client_known", "before": "give_inzage"},
    # Erasing cannot be undone: the client, then twice "yes" naming that same client.
    {"trigger": "erase", "source": "home", "dest": "pick_erase"},
    {"trigger": "choose", "source": "pick_erase", "dest": "confirm_erase",
     "conditions": "client_known", "before": "pick_client"},
    {"trigger": "confirm", "source": "confirm_erase", "dest": "confirm_again",
     "conditions": "confirm_fits"},
    {"trigger": "confirm", "source": "confirm_again", "dest": "home",
     "conditions": ["confirm_fits", "client_known"], "before": "erase_client"},
    {"trigger": "back", "source": ["ask_begeleider", "pick_client", "pick_begeleider",
                                   "pick_audit", "pick_inzage", "pick_erase", "confirm_erase",
                                   "confirm_again", "pick_quiet"], "dest": "home"},
], Turn)

BUTTONS = {Action.HOME: "home", Action.INVITE: "invite", Action.MOVE: "move",
           Action.CHOOSE: "choose", Action.BACK: "back", Action.LOG: "log",
           Action.INZAGE: "inzage", Action.ERASE: "erase", Action.CONFIRM: "confirm",
           Action.READBACK: "readback", Action.QUIET: "quiet"}
COMMANDS = {"start": "home", "verder": "home", "begeleider_uitnodigen": "invite",
            "beheer": "home"}


def decide(session: Session, inp: Input, view: View) -> MenuOutcome[Effect]:
    return FLOW.decide(session, inp, BUTTONS, COMMANDS, view)


def render(session: Session, out: MenuOutcome[Effect], view: View) -> list[Reply]:
    replies: list[Reply] = []
    if "begeleider_link" in view.results:
        name, link, days = view.results["begeleider_link"]
        replies.append(Reply(f"{t('a_invite_begeleider', name=escape(name), days=days)}\n{link}",
                             qr=link))
    if "moved" in view.results:
        client, begeleider = view.results["moved"]
        replies.append(Reply(t("a_moved", name=escape(client), begeleider=escape(begeleider))))
    if "erased" in view.results:
        replies.append(Reply(t("a_erased", name=escape(view.results["erased"][0]))))
    if "readback" in view.results:
        replies.append(Reply(t("a_readback_" + view.results["readback"][0])))
    if "quiet" in view.results:
        replies.append(Reply(t("a_quiet_set", hours=_hours(view.results["quiet"][0]))))
    replies += view.sent
    replies += [Reply(escape(d.filename), document=d) for d in view.documents]
    return render_outcome(out, replies, lambda: ask(session, view))


def ask(session: Session, view: View) -> list[Reply]:
    state = session.step
    back = (button(session, t("btn_a_home"), Action.BACK),)
    if state == "ask_begeleider":
        return [Reply(t("a_ask_begeleider"), buttons=(back,))]
    if state in {"confirm_erase", "confirm_again"}:
        client = session.data.get("client")
        name = escape(next((n for c, n in view.clients if c == client), ""))
        first = state == "confirm_erase"
        text = t("a_erase_confirm" if first else "a_erase_again", name=name)
        label = t("btn_a_erase_yes") if first else t("btn_a_erase_sure", name=name)
        return [Reply(text, buttons=((button(session, label, Action.CONFIRM, client),),
                                     back))]
    if state == "pick_quiet":
        rows = [(button(session, ("✅ " if hours == view.quiet else "") + (
            t("btn_a_quiet_default") if hours == DEFAULT else _hours(hours)), Action.QUIET,
            hours),) for hours in QUIET_HOURS]
        return [Reply(t("a_pick_quiet", hours=_hours(view.quiet)), buttons=(*rows, back))]
    if state in {"pick_client", "pick_begeleider", "pick_audit", "pick_inzage", "pick_erase"}:
        people = view.begeleiders if state == "pick_begeleider" else view.clients
        if not people:
            return [Reply(t("a_nobody"), buttons=(back,))]
        name = next((n for c, n in view.clients if c == session.data.get("client")), "")
        text = {"pick_client": t("a_pick_client"), "pick_audit": t("a_pick_audit"),
                "pick_inzage": t("a_pick_inzage"), "pick_erase": t("a_pick_erase")}.get(
            state) or t("a_pick_begeleider", name=escape(name))
        rows = [(button(session, n, Action.CHOOSE, i),) for i, n in people]
        return [Reply(text, buttons=(*rows, back))]
    return [Reply(t("a_home", organisation=escape(view.organisation)), picto="admin",
                  buttons=((button(session, t("btn_a_invite"), Action.INVITE),),
                           (button(session, t("btn_a_move"), Action.MOVE),),
                           (button(session, t("btn_a_audit"), Action.LOG),),
                           (button(session, t("btn_a_inzage"), Action.INZAGE),),
                           (button(session, t("btn_a_erase"), Action.ERASE),),
                           (button(session, t("btn_a_readback_google" if view.readback_offline
                                              else "btn_a_readback_offline"),
                                   Action.READBACK),),
                           (button(session, t("btn_a_quiet"), Action.QUIET),)))]


def _hours(hours: str) -> str:
    """"21:00-09:00" as the admin reads it: "21:00 tot 09:00"."""
    if hours == DEFAULT:
        return t("a_quiet_default")
    start, _, end = hours.partition("-")
    return t("a_quiet_hours", start=start, end=end)
