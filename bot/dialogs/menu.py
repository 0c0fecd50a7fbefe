"""A small engine for the menu-like flows of begeleider, naaste and admin: the states and
transitions are data, run by ONE shared `transitions` machine per flow (like the client's).

The dialog decides (triggers, typed effects), the service applies the effects and loads a `view`
(the data the replies show), then the dialog renders. Ids in buttons are only proposals:
the service checks them against the person's relations before anything happens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from transitions import EventData, Machine

from bot.dialogs.buttons import as_id, decode, encode
from bot.dialogs.flow import fire, mermaid
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Input, Reply, Session

E = TypeVar("E")  # the flow's effects: frozen dataclasses, one per effect
A = TypeVar("A", bound=StrEnum)  # the flow's button actions


@dataclass
class MenuOutcome(Generic[E]):
    effects: list[E] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ask: bool = False
    stale: bool = False


class MenuTurn(Generic[E]):
    state: str

    def __init__(self, session: Session, inp: Input, context: Any = None) -> None:
        self.session = session
        self.input = inp
        self.context = context
        self.out: MenuOutcome[E] = MenuOutcome()

    def do(self, effect: E) -> None:
        self.out.effects.append(effect)

    def names_id(self, event: EventData) -> bool:
        """The button names an id (`as_id`); the service checks it is the person's."""
        return id_of(event) is not None


class MenuFlow(Generic[E, A]):
    def __init__(self, name: str, actions: type[A], states: list[str],
                 transitions: list[dict[str, Any]], model_class: type[MenuTurn[E]]) -> None:
        self.name = name
        self.actions = actions  # the flow's buttons are read with its own Action enum
        self.model_class = model_class
        self.machine = Machine(model=None, states=states, initial=states[0],
                               auto_transitions=False, send_event=True)
        for transition in transitions:
            self.machine.add_transition(**transition)

    def fire(self, turn: MenuTurn[E], trigger: str, **kwargs: Any) -> bool:
        return fire(self.machine, turn, trigger, **kwargs)

    def decide(self, session: Session, inp: Input, buttons: Mapping[A, str],
               commands: Mapping[str, str], context: Any = None) -> MenuOutcome[E]:
        """Map an input to a trigger: a message answers, a button names its trigger, a
        command jumps. `buttons`: action → trigger; `commands`: command → trigger."""
        turn = self.model_class(session, inp, context)
        if inp.kind == "button":
            press = decode(inp.data, self.actions)
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


def render_outcome(out: MenuOutcome[Any], extra: list[Reply],
                   ask: Callable[[], list[Reply]]) -> list[Reply]:
    """The common shape of a menu flow's replies: notes, what the effects produced, then
    the current screen again when the state moved."""
    if out.stale:
        return [Reply(t("stale_button"))]
    replies = [Reply(t(note)) for note in out.notes] + extra
    if out.ask:
        replies += ask()
    return replies


def button(session: Session, label: str, action: StrEnum, arg: object = "",
           picto: str | None = None) -> Button:
    return Button(label, encode(session.seq, action, arg), picto)


def arg_of(event: EventData) -> str:
    return str(event.kwargs.get("arg", ""))


def id_of(event: EventData) -> int | None:
    """The id a button's argument names, None for anything that is no id (`as_id`)."""
    return as_id(arg_of(event))
