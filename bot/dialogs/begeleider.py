"""The begeleider's conversation: their clients with progress, a new client (link + QR),
and per client: plan the meeting, invite a naaste (link + QR), add own topics, see the
agenda (text, PDFs, exports) and who looked (CSV), and after the meeting the agreements
(add, change, remove, send them to the client)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from transitions import EventData

from bot.dialogs.agreements import MAX_TEXT as AGREEMENT_MAX
from bot.dialogs.agreements import PICTOS, WHO, AgreementLine, for_begeleider
from bot.dialogs.buttons import as_id, pressed
from bot.dialogs.effects import AuditCsv
from bot.dialogs.menu import MenuFlow, MenuOutcome, MenuTurn, arg_of, button, id_of, render_outcome
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Document, Input, Reply, Session

RELATIONS = ("ouder", "broer_zus", "partner", "kind", "vriend", "mentor", "curator",
             "bewindvoerder", "anders")


class Action(StrEnum):
    """The begeleider's buttons (the values are the codes on the wire)."""

    HOME = "hm"  # back to the list of clients
    OPEN = "op"  # arg: a client id, checked by the service
    NEW_CLIENT = "nc"  # invite a new client
    PLAN = "pl"  # plan the meeting (date, then place)
    INVITE_NAASTE = "nv"  # invite a naaste of the client
    TOPIC = "tp"  # add an own topic
    AGENDA = "ag"  # the agenda (text, with ▶️ buttons for the recordings)
    EXPORTS = "ex"  # the PDFs and the JSON/FHIR exports
    AUDIT = "au"  # who looked (the access log as CSV)
    RELATION = "rl"  # arg: one of RELATIONS
    SAME_PLACE = "sp"  # the place the client gave
    BACK = "bk"  # one screen back
    CANCEL = "cx"  # cancel the meeting
    PLAY = "pa"  # arg: an answer id (a recording), checked by the service
    AGREEMENTS = "af"  # the agreements of the meeting
    ADD_AGREEMENT = "aa"
    WHO = "wh"  # arg: one of agreements.WHO
    PICTO = "pc"  # arg: one of agreements.PICTOS, or "" for none
    LINK = "lk"  # arg: the number of one of the client's topics, or "" for none
    EDIT_AGREEMENT = "ae"  # arg: an agreement id of the client on screen
    REMOVE_AGREEMENT = "ar"
    SEND_AGREEMENTS = "as"
    RHYTHM = "cr"  # arg: days between check-ins, one of RHYTHMS
    HISTORY = "hi"  # the client's earlier rounds
    EVALUATE = "ev"  # plan a short evaluation: the check-ins and one open question
    EVALUATE_NOW = "en"  # … now (as soon as allowed)
    PICTURES = "pf"  # arg "on"/"off": questions start with choosing with pictures


# Effects: what the service applies, in order (bot/service/begeleider.py).
@dataclass(frozen=True)
class NewClient:
    """A new client of this begeleider, and an invite link for them."""

    name: str


@dataclass(frozen=True)
class SetMeeting:
    client_id: int
    starts_at: datetime  # aware, UTC


@dataclass(frozen=True)
class SetPlace:
    client_id: int
    place: str


@dataclass(frozen=True)
class CancelMeeting:
    client_id: int


@dataclass(frozen=True)
class NewNaaste:
    """A naaste of the client, and an invite link for them."""

    client_id: int
    name: str
    relation: str  # one of RELATIONS


@dataclass(frozen=True)
class AddTopic:
    client_id: int
    text: str


@dataclass(frozen=True)
class ShowAgenda:
    client_id: int


@dataclass(frozen=True)
class Play:
    """Play one recording (or show one photo) of the client's again."""

    client_id: int
    answer_id: int


@dataclass(frozen=True)
class Exports:
    client_id: int


@dataclass(frozen=True)
class AddAgreement:
    client_id: int
    text: str
    who: str  # one of agreements.WHO
    picto: str | None = None  # one of agreements.PICTOS
    topic: str | None = None  # the client's topic it is about (its words)


@dataclass(frozen=True)
class ChangeAgreement:
    client_id: int
    agreement_id: int
    text: str


@dataclass(frozen=True)
class RemoveAgreement:
    client_id: int
    agreement_id: int


@dataclass(frozen=True)
class PlanEvaluation:
    client_id: int
    when: datetime | None = None  # aware, UTC; None: now


@dataclass(frozen=True)
class ShowHistory:
    client_id: int


@dataclass(frozen=True)
class SetPicturesFirst:
    """Questions that can be answered with pictures start with them for this client."""

    client_id: int
    on: bool


@dataclass(frozen=True)
class SetCheckIns:
    """How often the client is asked how the agreements go (days; 0: never)."""

    client_id: int
    days: int


@dataclass(frozen=True)
class SendAgreements:
    """Send the client their agreements (message, picture, voice)."""

    client_id: int


Effect = (NewClient | SetMeeting | SetPlace | CancelMeeting | NewNaaste | AddTopic
          | ShowAgenda | Play | Exports | AuditCsv | AddAgreement | ChangeAgreement
          | RemoveAgreement | SendAgreements | SetCheckIns | SetPicturesFirst | ShowHistory
          | PlanEvaluation)
# The begeleider's choice of check-in rhythm (days; 0: no check-ins).
RHYTHMS = (14, 28, 56, 0)


@dataclass(frozen=True)
class ClientLine:
    id: int
    name: str
    done: int
    total: int
    items: int
    last: str  # already formatted
    meeting: str | None
    place_hint: str | None = None
    pictures_first: bool = False


@dataclass
class View:
    """What the replies show; `results` holds what applying the effects produced."""

    tz: ZoneInfo
    now: datetime
    clients: list[ClientLine] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    agreements: list[AgreementLine] = field(default_factory=list)  # of the client on screen
    timeline: dict[int, list[str]] = field(default_factory=dict)  # agreement id → check-ins
    topics: list[str] = field(default_factory=list)  # the client's topics (this round)
    check_in_days: int = 28  # of the client on screen

    def agreement(self, agreement_id: int | None) -> AgreementLine | None:
        return next((a for a in self.agreements if a.id == agreement_id), None)

    def client(self, client_id: int | None) -> ClientLine | None:
        return next((c for c in self.clients if c.id == client_id), None)


class Turn(MenuTurn[Effect]):
    context: View

    def is_date(self, event: EventData) -> bool:
        return parse_when(arg_of(event), self.context.now, self.context.tz) is not None

    def pick_client(self, event: EventData) -> None:
        self.session.data["client"] = id_of(event)

    def create_client(self, event: EventData) -> None:
        self.do(NewClient(arg_of(event).strip()[:100]))

    def set_date(self, event: EventData) -> None:
        when = parse_when(arg_of(event), self.context.now, self.context.tz)
        assert when is not None
        self.do(SetMeeting(self._client(), when))

    def bad_date(self, event: EventData) -> None:
        self.out.notes.append("b_bad_date")

    def set_place(self, event: EventData) -> None:
        self.do(SetPlace(self._client(), arg_of(event).strip()[:300]))

    def use_place_hint(self, event: EventData) -> None:
        line = self.context.client(self._client())
        self.do(SetPlace(self._client(), (line.place_hint if line else None) or ""))

    def remember_name(self, event: EventData) -> None:
        self.session.data["naaste_name"] = arg_of(event).strip()[:100]

    def create_naaste(self, event: EventData) -> None:
        self.do(NewNaaste(self._client(), str(self.session.data.pop("naaste_name", "")),
                          arg_of(event)))

    def add_topic(self, event: EventData) -> None:
        self.do(AddTopic(self._client(), arg_of(event).strip()))
        self.out.notes.append("b_topic_added")

    def cancel_meeting(self, event: EventData) -> None:
        self.do(CancelMeeting(self._client()))

    def show_agenda(self, event: EventData) -> None:
        self.do(ShowAgenda(self._client()))

    def send_exports(self, event: EventData) -> None:
        self.do(Exports(self._client()))

    def play_answer(self, event: EventData) -> None:
        answer_id = id_of(event)
        assert answer_id is not None  # the transition's condition
        self.do(Play(self._client(), answer_id))

    def plan_evaluation(self, event: EventData) -> None:
        self.do(PlanEvaluation(self._client()))

    def plan_evaluation_at(self, event: EventData) -> None:
        when = parse_when(arg_of(event), self.context.now, self.context.tz)
        assert when is not None
        self.do(PlanEvaluation(self._client(), when))

    def show_history(self, event: EventData) -> None:
        self.do(ShowHistory(self._client()))

    def send_audit(self, event: EventData) -> None:
        self.do(AuditCsv(self._client()))

    def remember_agreement(self, event: EventData) -> None:
        self.session.data["agreement_text"] = arg_of(event).strip()[:AGREEMENT_MAX]

    def remember_who(self, event: EventData) -> None:
        self.session.data["agreement_who"] = arg_of(event)

    def remember_picto(self, event: EventData) -> None:
        self.session.data["agreement_picto"] = arg_of(event)

    def has_topics(self, event: EventData) -> bool:
        return bool(self.context.topics)

    def is_topic(self, event: EventData) -> bool:
        arg = arg_of(event)
        return arg == "" or (arg.isdigit() and int(arg) < len(self.context.topics))

    def remember_topic(self, event: EventData) -> None:
        arg = arg_of(event)
        self.session.data["agreement_topic"] = self.context.topics[int(arg)] if arg else ""

    def create_agreement(self, event: EventData) -> None:
        """The last answer is in: what, who, the picto and (if asked) the topic."""
        data = self.session.data
        text, who = str(data.pop("agreement_text", "")), str(data.pop("agreement_who", ""))
        picto = str(data.pop("agreement_picto", "")) or None
        topic = str(data.pop("agreement_topic", "")) or None
        if text and who in WHO:
            self.do(AddAgreement(self._client(), text, who, picto, topic))
            self.out.notes.append("b_agreement_added")

    def knows_agreement(self, event: EventData) -> bool:
        """An agreement of the client on screen (an old or forged id is not)."""
        return self.context.agreement(id_of(event)) is not None

    def pick_agreement(self, event: EventData) -> None:
        self.session.data["agreement"] = id_of(event)

    def change_agreement(self, event: EventData) -> None:
        text = arg_of(event).strip()[:AGREEMENT_MAX]
        agreement_id = as_id(self.session.data.pop("agreement", ""))
        if text and agreement_id is not None:
            self.do(ChangeAgreement(self._client(), agreement_id, text))
            self.out.notes.append("b_agreement_changed")

    def take_out_agreement(self, event: EventData) -> None:
        agreement_id = as_id(self.session.data.pop("agreement", ""))
        if agreement_id is not None:
            self.do(RemoveAgreement(self._client(), agreement_id))
            self.out.notes.append("b_agreement_removed")

    def deliver_agreements(self, event: EventData) -> None:
        self.do(SendAgreements(self._client()))

    def set_pictures(self, event: EventData) -> None:
        self.do(SetPicturesFirst(self._client(), arg_of(event) == "on"))

    def set_rhythm(self, event: EventData) -> None:
        self.do(SetCheckIns(self._client(), int(arg_of(event))))

    def has_agreements(self, event: EventData) -> bool:
        return bool(self.context.agreements)

    def has_client(self, event: EventData) -> bool:
        return self.context.client(self._client()) is not None

    def only_client(self, event: EventData) -> bool:
        return len(self.context.clients) == 1

    def pick_only_client(self, event: EventData) -> None:
        self.session.data["client"] = self.context.clients[0].id

    def pick_first(self, event: EventData) -> None:
        self.out.notes.append("b_pick_client_first")

    def _client(self) -> int:
        """The client on screen (0: none)."""
        return as_id(self.session.data.get("client", "")) or 0


ASKING = ["ask_client_name", "ask_date", "ask_place", "ask_naaste_name", "ask_relation",
          "ask_topic", "ask_agreement", "ask_who", "ask_picto", "ask_agreement_change",
          "ask_evaluation", "ask_link"]
# The screens that show (or ask about) the client's agreements: only these read them.
AGREEMENT_STATES = frozenset({"agreements", "ask_agreement", "ask_who", "ask_picto",
                              "ask_link", "ask_agreement_change", "ask_evaluation"})
FLOW = MenuFlow("begeleider", Action, ["home", "client", "agreements", *ASKING], [
    {"trigger": "home", "source": "*", "dest": "home"},
    {"trigger": "open", "source": ["home", "client"], "dest": "client",
     "conditions": "names_id", "before": "pick_client"},
    {"trigger": "new_client", "source": "*", "dest": "ask_client_name"},
    {"trigger": "answer", "source": "ask_client_name", "dest": "home",
     "before": "create_client"},
    {"trigger": "plan", "source": "client", "dest": "ask_date"},
    {"trigger": "answer", "source": "ask_date", "dest": "ask_place", "conditions": "is_date",
     "before": "set_date"},
    {"trigger": "answer", "source": "ask_date", "dest": None, "before": "bad_date"},
    {"trigger": "answer", "source": "ask_place", "dest": "client", "before": "set_place"},
    {"trigger": "same_place", "source": "ask_place", "dest": "client",
     "before": "use_place_hint"},
    {"trigger": "invite_naaste", "source": "client", "dest": "ask_naaste_name"},
    {"trigger": "answer", "source": "ask_naaste_name", "dest": "ask_relation",
     "before": "remember_name"},
    {"trigger": "relation", "source": "ask_relation", "dest": "client",
     "before": "create_naaste"},
    {"trigger": "topic", "source": "client", "dest": "ask_topic"},
    {"trigger": "answer", "source": "ask_topic", "dest": "client", "before": "add_topic"},
    {"trigger": "agenda", "source": "client", "dest": None, "before": "show_agenda"},
    # /agenda elsewhere: the client on screen, the only client, or first choose one.
    {"trigger": "agenda", "source": ASKING, "dest": "client", "conditions": "has_client",
     "before": "show_agenda"},
    {"trigger": "agenda", "source": ["home", *ASKING], "dest": "client",
     "conditions": "only_client", "before": ["pick_only_client", "show_agenda"]},
    {"trigger": "agenda", "source": ["home", *ASKING], "dest": "home", "before": "pick_first"},
    {"trigger": "cancel", "source": "client", "dest": None, "before": "cancel_meeting"},
    {"trigger": "exports", "source": "client", "dest": None, "before": "send_exports"},
    {"trigger": "play", "source": "client", "dest": None, "conditions": "names_id",
     "before": "play_answer"},
    {"trigger": "audit", "source": "client", "dest": None, "before": "send_audit"},
    {"trigger": "history", "source": "client", "dest": None, "before": "show_history"},
    # After the meeting: the agreements (add: what, then who; change or remove; send).
    {"trigger": "agreements", "source": ["client", "agreements"], "dest": "agreements"},
    {"trigger": "add_agreement", "source": "agreements", "dest": "ask_agreement"},
    {"trigger": "answer", "source": "ask_agreement", "dest": "ask_who",
     "before": "remember_agreement"},
    {"trigger": "who", "source": "ask_who", "dest": "ask_picto", "before": "remember_who"},
    {"trigger": "picto", "source": "ask_picto", "dest": "ask_link", "conditions": "has_topics",
     "before": "remember_picto"},
    {"trigger": "picto", "source": "ask_picto", "dest": "agreements",
     "before": ["remember_picto", "create_agreement"]},
    {"trigger": "link", "source": "ask_link", "dest": "agreements", "conditions": "is_topic",
     "before": ["remember_topic", "create_agreement"]},
    {"trigger": "edit_agreement", "source": "agreements", "dest": "ask_agreement_change",
     "conditions": "knows_agreement", "before": "pick_agreement"},
    {"trigger": "answer", "source": "ask_agreement_change", "dest": "agreements",
     "before": "change_agreement"},
    {"trigger": "remove_agreement", "source": "ask_agreement_change", "dest": "agreements",
     "before": "take_out_agreement"},
    {"trigger": "send_agreements", "source": "agreements", "dest": None,
     "conditions": "has_agreements", "before": "deliver_agreements"},
    {"trigger": "evaluate", "source": "agreements", "dest": "ask_evaluation",
     "conditions": "has_agreements"},
    {"trigger": "evaluate_now", "source": "ask_evaluation", "dest": "agreements",
     "before": "plan_evaluation"},
    {"trigger": "answer", "source": "ask_evaluation", "dest": "agreements",
     "conditions": "is_date", "before": "plan_evaluation_at"},
    {"trigger": "answer", "source": "ask_evaluation", "dest": None, "before": "bad_date"},
    {"trigger": "rhythm", "source": "agreements", "dest": "agreements",
     "before": "set_rhythm"},
    {"trigger": "pictures", "source": "client", "dest": "client", "before": "set_pictures"},
    {"trigger": "back", "source": ["ask_agreement", "ask_who", "ask_picto",
                                   "ask_agreement_change", "ask_evaluation", "ask_link"],
     "dest": "agreements"},
    {"trigger": "back", "source": ["ask_date", "ask_place", "ask_naaste_name", "ask_relation",
                                   "ask_topic", "agreements"], "dest": "client"},
    {"trigger": "back", "source": ["client", "ask_client_name"], "dest": "home"},
], Turn)

BUTTONS = {Action.HOME: "home", Action.OPEN: "open", Action.NEW_CLIENT: "new_client",
           Action.PLAN: "plan", Action.INVITE_NAASTE: "invite_naaste", Action.TOPIC: "topic",
           Action.AGENDA: "agenda", Action.EXPORTS: "exports", Action.AUDIT: "audit",
           Action.RELATION: "relation", Action.SAME_PLACE: "same_place", Action.BACK: "back",
           Action.CANCEL: "cancel", Action.PLAY: "play", Action.AGREEMENTS: "agreements",
           Action.ADD_AGREEMENT: "add_agreement", Action.WHO: "who", Action.PICTO: "picto",
           Action.EDIT_AGREEMENT: "edit_agreement", Action.REMOVE_AGREEMENT: "remove_agreement",
           Action.SEND_AGREEMENTS: "send_agreements", Action.RHYTHM: "rhythm",
           Action.HISTORY: "history", Action.EVALUATE: "evaluate",
           Action.EVALUATE_NOW: "evaluate_now", Action.LINK: "link",
           Action.PICTURES: "pictures"}
COMMANDS = {"clienten": "home", "start": "home", "nieuwe_client": "new_client",
            "verder": "home", "agenda": "agenda"}
# Telegram allows 100 buttons under a message: the first 30 recordings, in agenda order.
MAX_PLAY_BUTTONS = 30
# Buttons whose argument is one of a fixed set: anything else is an old or forged press.
CHOICES: dict[Action, frozenset[str]] = {
    Action.RELATION: frozenset(RELATIONS), Action.WHO: frozenset(WHO),
    Action.PICTO: frozenset({*PICTOS, ""}), Action.RHYTHM: frozenset(map(str, RHYTHMS)),
    Action.PICTURES: frozenset({"on", "off"})}
# Buttons whose argument is a client id: the service checks it through the access module.
CLIENT_ID_ACTIONS = {Action.OPEN}


def decide(session: Session, inp: Input, view: View) -> MenuOutcome[Effect]:
    press = pressed(inp, Action)
    if press is not None and press.action in CHOICES and press.arg not in CHOICES[
            press.action]:
        return MenuOutcome(stale=True)
    out = FLOW.decide(session, inp, BUTTONS, COMMANDS, view)
    if press is not None and press.action in {Action.PLAY, Action.SEND_AGREEMENTS}:
        out.ask = False  # playing an answer, sending: the screen (and its buttons) stays
    return out


def render(session: Session, out: MenuOutcome[Effect], view: View) -> list[Reply]:
    return render_outcome(out, _results(session, view), lambda: ask(session, view))


def _results(session: Session, view: View) -> list[Reply]:
    results = view.results
    replies: list[Reply] = []
    if "client_link" in results:
        name, link, days = results["client_link"]
        invite = t("b_invite_client", name=escape(name), days=count(days, "b_days"))
        replies.append(Reply(f"{invite}\n{link}", qr=link))
    if "naaste_link" in results:
        name, client, link, days = results["naaste_link"]
        replies.append(Reply(t("b_invite_naaste", name=escape(name), client=escape(client),
                               days=count(days, "b_days")) + f"\n{link}", qr=link))
    if "round" in results:
        replies.append(Reply(t("b_new_round", n=results["round"])))
    if "meeting" in results:
        when, note = results["meeting"]
        replies.append(Reply("\n".join(filter(None, [t("b_meeting_set", date=when), note]))))
    if "cancelled" in results:
        replies.append(Reply(t("b_meeting_cancelled", date=results["cancelled"])))
    replies += results.get("history", [])
    for message in results.get("agenda", []):
        replies.append(Reply(message))
    client, playable = results.get("playable", ("", []))
    if playable:  # voice answers playable, photos to see (PRODUCT.md)
        rows = [(button(session, f"▶️ {label}", Action.PLAY, answer_id),)
                for answer_id, label in playable[:MAX_PLAY_BUTTONS]]
        replies.append(Reply(t("b_play_intro", client=escape(client)), buttons=tuple(rows)))
    if "play" in results:
        media = results["play"]
        replies.append(Reply(t(f"media_{media.kind}").capitalize(), media=media))
    if "agreements_sent" in results:
        client, delivered = results["agreements_sent"]
        replies.append(Reply(t("b_agreements_sent" if delivered else "b_agreements_not_sent",
                               client=escape(client))))
    if "evaluation" in results:
        client, when = results["evaluation"]
        replies.append(Reply(t("b_evaluation_planned_at", client=escape(client), date=when)
                             if when else t("b_evaluation_planned", client=escape(client))))
    if "agreements_changed" in results:
        replies.append(Reply(t("b_agreements_change_sent",
                               client=escape(results["agreements_changed"]))))
    for document in results.get("documents", []):
        assert isinstance(document, Document)
        replies.append(Reply(escape(document.filename), document=document))
    return replies


def ask(session: Session, view: View) -> list[Reply]:
    state = session.step
    current = view.client(int(session.data.get("client", 0)))
    if state == "home" or (current is None and state != "ask_client_name"):
        return [_home(session, view)]
    if state == "client" and current is not None:
        return [_client(session, current)]
    back = (button(session, t("btn_back"), Action.BACK),)
    if state == "ask_place" and current is not None and current.place_hint:
        hint = t("b_place_hint", name=escape(current.name), place=escape(current.place_hint))
        return [Reply(f"{t('b_ask_place')}\n{hint}",
                      buttons=((button(session, t("btn_b_place_same"), Action.SAME_PLACE),), back))]
    if state == "ask_relation" and current is not None:
        name = escape(str(session.data.get("naaste_name", "")))
        rows = [tuple(button(session, t(f"relation_{r}"), Action.RELATION, r)
                      for r in RELATIONS[i:i + 3]) for i in range(0, len(RELATIONS), 3)]
        return [Reply(t("b_ask_relation", name=name, client=escape(current.name)),
                      buttons=(*rows, back))]
    if state == "agreements" and current is not None:
        return [_agreements(session, view, current)]
    if state == "ask_who" and current is not None:
        rows = [tuple(button(session, t(f"btn_b_who_{w}", client=current.name), Action.WHO, w)
                      for w in WHO[i:i + 2]) for i in (0, 2)]
        return [Reply(t("b_ask_who"), buttons=(*rows, back))]
    if state == "ask_link" and current is not None:
        rows = [(button(session, _short(topic), Action.LINK, n),)
                for n, topic in enumerate(view.topics[:MAX_LINKS])]
        return [Reply(t("b_ask_link", client=escape(current.name)), buttons=(
            *rows, (button(session, t("btn_b_link_none"), Action.LINK, ""),), back))]
    if state == "ask_evaluation" and current is not None:
        return [Reply(t("b_ask_evaluation", client=escape(current.name)), buttons=(
            (button(session, t("btn_b_evaluate_now"), Action.EVALUATE_NOW),), back))]
    if state == "ask_picto" and current is not None:
        pictos = [button(session, t(key), Action.PICTO, key, key) for key in PICTOS]
        rows = [tuple(pictos[i:i + 2]) for i in range(0, len(pictos), 2)]
        rows.append((button(session, t("btn_b_picto_none"), Action.PICTO, ""),))
        return [Reply(t("b_ask_picto"), buttons=(*rows, back))]
    if state == "ask_agreement_change" and current is not None:
        line = view.agreement(as_id(session.data.get("agreement", "")))
        if line is not None:
            n = view.agreements.index(line) + 1
            return [Reply(t("b_ask_agreement_change", n=n, text=escape(line.text)), buttons=(
                (button(session, t("btn_b_agreement_remove"), Action.REMOVE_AGREEMENT),),
                back))]
    if state == "ask_naaste_name" and current is not None:  # first a word with the client
        return [Reply(t("b_ask_naaste_name", client=escape(current.name)), buttons=(back,))]
    key = {"ask_client_name": "b_ask_client_name", "ask_date": "b_ask_date",
           "ask_place": "b_ask_place", "ask_topic": "b_ask_topic",
           "ask_agreement": "b_ask_agreement", "ask_who": "b_ask_who",
           "ask_agreement_change": "b_ask_agreement"}[state]
    return [Reply(t(key), buttons=(back,))]


def _home(session: Session, view: View) -> Reply:
    lines = [t("b_home") if view.clients else t("b_home_empty")]
    for c in view.clients:
        lines.append("• " + t("b_client_line", name=escape(c.name), **_counts(c), last=c.last,
                              meeting=c.meeting or t("b_no_meeting")))
    rows = [(button(session, c.name, Action.OPEN, c.id, "begeleider"),) for c in view.clients]
    return Reply("\n".join(lines), buttons=(*rows, (button(session, t("btn_b_new_client"),
                                                           Action.NEW_CLIENT),)))


def _client(session: Session, c: ClientLine) -> Reply:
    text = t("b_client", name=escape(c.name)) + "\n" + t(
        "b_client_detail", **_counts(c), last=c.last, meeting=c.meeting or t("b_no_meeting"))
    rows: tuple[tuple[Button, ...], ...] = (
        (button(session, t("btn_b_date"), Action.PLAN),
         button(session, t("btn_b_naaste"), Action.INVITE_NAASTE)),
        (button(session, t("btn_b_topic"), Action.TOPIC),
         button(session, t("btn_b_agenda"), Action.AGENDA)),
        (button(session, t("btn_b_pdf"), Action.EXPORTS),
         button(session, t("btn_b_audit"), Action.AUDIT)),
        (button(session, t("btn_b_agreements"), Action.AGREEMENTS),
         button(session, t("btn_b_history"), Action.HISTORY)),
        (button(session, t("btn_b_pictures_on" if c.pictures_first else "btn_b_pictures_off"),
                Action.PICTURES, "off" if c.pictures_first else "on"),),
        *(((button(session, t("btn_b_cancel"), Action.CANCEL),),) if c.meeting else ()),
        (button(session, t("btn_b_back"), Action.HOME),),
    )
    return Reply(text, buttons=rows)


def _agreements(session: Session, view: View, c: ClientLine) -> Reply:
    lines = view.agreements
    text = for_begeleider(lines, c.name, view.timeline)
    if lines:
        text += "\n\n" + t("b_agreements_how", client=escape(c.name))
        text += "\n" + t("b_check_in_rhythm", rhythm=rhythm_label(view.check_in_days))
    edits = [button(session, f"✏️ {n}", Action.EDIT_AGREEMENT, line.id)
             for n, line in enumerate(lines, 1)]
    rows: list[tuple[Button, ...]] = [tuple(edits[i:i + 4]) for i in range(0, len(edits), 4)]
    rows.append((button(session, t("btn_b_agreement_add"), Action.ADD_AGREEMENT),))
    if lines:
        rows.append((button(session, t("btn_b_agreements_send", client=c.name),
                            Action.SEND_AGREEMENTS),))
        rows.append((button(session, t("btn_b_evaluate"), Action.EVALUATE),))
        rhythms = [button(session, ("✅ " if days == view.check_in_days else "")
                          + t("btn_b_rhythm", label=rhythm_label(days)), Action.RHYTHM, days)
                   for days in RHYTHMS]
        rows += [tuple(rhythms[i:i + 2]) for i in range(0, len(rhythms), 2)]
    rows.append((button(session, t("btn_back"), Action.BACK),))
    return Reply(text, buttons=tuple(rows))


MAX_LINKS = 10  # the first topics of the client, one button each


def _short(text: str, room: int = 40) -> str:
    return text if len(text) <= room else text[:room - 1].rstrip() + "…"


def rhythm_label(days: int) -> str:
    return t("b_rhythm_days", weeks=days // 7) if days else t("b_rhythm_off")


def count(n: int, key: str, **values: object) -> str:
    """"1 onderwerp", "2 onderwerpen": the text `<key>_one` for 1, else `<key>_many`."""
    return t(f"{key}_one" if n == 1 else f"{key}_many", n=n, **values)


def _counts(c: ClientLine) -> dict[str, str]:
    """"1 van 14 delen klaar" and "1 onderwerp", for the client's line and screen."""
    return {"parts": count(c.total, "b_parts", done=c.done), "topics": count(c.items, "b_topics")}


_DATE = re.compile(
    r"^\s*(\d{1,2})[-/.](\d{1,2})(?:[-/.](\d{2,4}))?(?:\s+(\d{1,2})[:.](\d{2}))?\s*$")


# A meeting date further than this from now is a typo (and the schedule's arithmetic on a
# date near the year 9999 would overflow).
YEARS_AROUND = 5


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """"15-12-2026 14:00", "15-12 14:00", "15/12/26" → an aware datetime (UTC)."""
    match = _DATE.match(text)
    if not match:
        return None
    day, month, year, hour, minute = match.groups()
    local_now = now.astimezone(tz)
    year_value = int(year) + (2000 if year and len(year) == 2 else 0) if year else local_now.year
    try:
        moment = datetime(year_value, int(month), int(day), int(hour or 10), int(minute or 0),
                          tzinfo=tz)
    except ValueError:
        return None
    if not year and moment < local_now - timedelta(days=1):
        moment = moment.replace(year=moment.year + 1)  # "15-1" in December: next year
    if abs(moment.year - local_now.year) > YEARS_AROUND:  # "31-12-9999": surely a typo
        return None
    return moment.astimezone(ZoneInfo("UTC"))
