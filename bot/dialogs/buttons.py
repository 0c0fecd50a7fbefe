"""The one button codec: what a button carries is `<seq>:<action>[:<arg>]`.

`seq` numbers the screen the button was on (a button of an older screen, or a forged one, is
refused and changes nothing); `action` is a short code of the flow; `arg` names what it is
about (an option, an id). Telegram keeps at most 64 bytes. Every flow builds its buttons with
`encode` and reads a press with `decode` (or `pressed`), nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogs.types import Input

LIMIT = 64  # bytes of callback data Telegram keeps


@dataclass(frozen=True)
class Pressed:
    seq: int
    action: str
    arg: str = ""


def encode(seq: int, action: str, arg: object = "") -> str:
    return f"{seq}:{action}:{arg}" if arg != "" else f"{seq}:{action}"


def decode(data: str) -> Pressed | None:
    """The press, or None for anything malformed (no seq, too long)."""
    parts = data.split(":", 2)
    if len(parts) < 2 or not parts[0].isdigit() or len(data.encode()) > LIMIT:
        return None
    return Pressed(int(parts[0]), parts[1], parts[2] if len(parts) == 3 else "")


def pressed(inp: Input) -> Pressed | None:
    """The button this input pressed; None when it is no (well-formed) press."""
    return decode(inp.data) if inp.kind == "button" else None


def action(inp: Input) -> str:
    """The action of a pressed button, "" for anything else."""
    press = pressed(inp)
    return press.action if press is not None else ""
