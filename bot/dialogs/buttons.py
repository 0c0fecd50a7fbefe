"""The one button codec: what a button carries is `<seq>:<action>[:<arg>]`.

`seq` numbers the screen the button was on (a button of an older screen, or a forged one, is
refused and changes nothing); `action` is a code of the flow's `Action` enum (a `StrEnum`
whose values are the short codes on the wire); `arg` names what it is about (an option, an
id). Telegram keeps at most 64 bytes. Every flow builds its buttons with `encode` and reads a
press with `decode` (or `pressed`) with its own `Action` enum, nowhere else: codes may repeat
across flows ("pl" plays an answer for the client, plans a meeting for the begeleider).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar, overload

from bot.dialogs.types import Input

LIMIT = 64  # bytes of callback data Telegram keeps
# Ids come from buttons a person can forge: anything outside a database integer is no id.
MAX_ID = 2**31 - 1

A = TypeVar("A", bound=StrEnum)
C = TypeVar("C", bound=str)


@dataclass(frozen=True)
class Pressed(Generic[C]):
    """A press: `action` is the flow's `Action` member (or the bare code, decoded without
    one)."""

    seq: int
    action: C
    arg: str = ""


def encode(seq: int, action: StrEnum, arg: object = "") -> str:
    return f"{seq}:{action}:{arg}" if arg != "" else f"{seq}:{action}"


@overload
def decode(data: str) -> Pressed[str] | None: ...
@overload
def decode(data: str, actions: type[A]) -> Pressed[A] | None: ...
def decode(data: str, actions: type[StrEnum] | None = None) -> Pressed[Any] | None:
    """The press, or None for anything malformed (no seq, too long) and, with `actions`,
    for a code that is not one of that flow's actions."""
    parts = data.split(":", 2)
    if len(parts) < 2 or not parts[0].isdigit() or len(data.encode()) > LIMIT:
        return None
    code: str = parts[1]
    if actions is not None:
        if code not in actions._value2member_map_:
            return None
        code = actions(code)
    return Pressed(int(parts[0]), code, parts[2] if len(parts) == 3 else "")


@overload
def pressed(inp: Input) -> Pressed[str] | None: ...
@overload
def pressed(inp: Input, actions: type[A]) -> Pressed[A] | None: ...
def pressed(inp: Input, actions: type[StrEnum] | None = None) -> Pressed[Any] | None:
    """The button this input pressed; None when it is no (well-formed) press of the flow."""
    if inp.kind != "button":
        return None
    return decode(inp.data) if actions is None else decode(inp.data, actions)


def action(inp: Input, actions: type[A]) -> A | None:
    """The flow's action of a pressed button, None for anything else."""
    press = pressed(inp, actions)
    return press.action if press is not None else None


def as_id(text: object) -> int | None:
    """A positive database id from button text, or None (forged, huge, negative, garbage)."""
    value = str(text)
    if not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
