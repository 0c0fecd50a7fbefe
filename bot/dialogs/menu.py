"""A small engine for the menu-like flows of begeleider, naaste and admin: the states and
transitions are data, run by ONE shared `transitions` machine per flow (like the client's).

The dialog decides (triggers, effects), the service applies the effects and loads a `view`
(the data the replies show), then the dialog renders. Ids in buttons are only proposals:
the service checks them against the person's relations before anything happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from transitions import EventData, Machine

from bot.dialogs.buttons import decode, encode
from bot.dialogs.flow import fire, mermaid
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Input, Reply, Session

MENU_ACTIONS = {"ans": "answer"}


@dataclass(frozen=True)
class Do:
    """An effect of a menu flow: `what` names it, `args` carries plain values."""

    what: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class MenuOutcome:
    effects: list[Do] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ask: bool = False
    stale: bool = False


class MenuTurn:
    state: str

    def __init__(self, session: Session, inp: Input, context: Any = None) -> None:
        self.session = session
        self.input = inp
        self.context = context
        self.out = MenuOutcome()

    def do(self, what: str, **args: Any) -> None:
        self.out.effects.append(Do(what, args))


class MenuFlow:
    def __init__(self, name: str, states: list[str], transitions: list[dict[str, Any]],
                 model_class: type[MenuTurn]) -> None:
        self.name = name
        self.model_class = model_class
        self.machine = Machine(model=None, states=states, initial=states[0],
                               auto_transitions=False, send_event=True)
        for transition in transitions:
            self.machine.add_transition(**transition)

    def fire(self, turn: MenuTurn, trigger: str, **kwargs: Any) -> bool:
        return fire(self.machine, turn, trigger, **kwargs)

    def decide(self, session: Session, inp: Input, buttons: dict[str, str],
               commands: dict[str, str], context: Any = None) -> MenuOutcome:
        """Map an input to a trigger: a message answers, a button names its trigger, a
        command jumps. `buttons`: action → trigger; `commands`: command → trigger."""
        turn = self.model_class(session, inp, context)
        if inp.kind == "button":
            press = decode(inp.data)
            if press is None or press.seq != session.seq or press.action not in buttons:
                turn.out.stale = True
                return turn.out
            if not self.fire(turn, buttons[press.action], arg=press.arg):
                turn.out.stale = True
            return turn.out
        if inp.kind == "command":
            trigger = commands.get(inp.command)
            if trigger is None or not self.fire(turn, trigger, arg=inp.arg):
                turn.out.notes.append("unknown_command")
                turn.out.ask = True
            return turn.out
        if inp.kind == "text":
            if not self.fire(turn, "answer", arg=inp.text):
                turn.out.ask = True
            return turn.out
        # Only typed text is read here: say plainly that anything else was not kept.
        turn.out.notes.append("menu_edit_ignored" if inp.kind == "edit" else "menu_not_usable")
        return turn.out

    def mermaid(self) -> str:
        return mermaid(self.machine, str(self.machine.initial))


def render_outcome(out: MenuOutcome, extra: list[Reply],
                   ask: Callable[[], list[Reply]]) -> list[Reply]:
    """The common shape of a menu flow's replies: notes, what the effects produced, then
    the current screen again when the state moved."""
    if out.stale:
        return [Reply(t("stale_button"))]
    replies = [Reply(t(note)) for note in out.notes] + extra
    if out.ask:
        replies += ask()
    return replies


def button(session: Session, label: str, action: str, arg: object = "",
           picto: str | None = None) -> Button:
    return Button(label, encode(session.seq, action, arg), picto)


def arg_of(event: EventData) -> str:
    return str(event.kwargs.get("arg", ""))
