"""An organisation's own look: its pictures for choosing with pictures, the words under its
pictures, and its own wording of some texts (what it calls the meeting, its name in the
welcome). One deployment serves many organisations, so the look is per turn: the service
wears the look of the organisation the person acts for (`wearing`), and `t()` and the picto
mat read it (`current`). Outside any turn the deployment's own look holds.

Pure: plain data, no I/O. The service builds looks from an organisation's row and files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Look:
    """`sets`: per question the pictures to place (None: the bot's own, see picto_mat);
    `words`: the word under a picture; `texts`: text keys worded the organisation's way."""

    organisation_id: int | None = None  # None: the deployment's look
    sets: Mapping[str, tuple[str, ...]] | None = None
    words: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    texts: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


_deployment = Look()
_worn: ContextVar[Look | None] = ContextVar("look", default=None)


def current() -> Look:
    """The look of this turn (the deployment's outside a turn)."""
    return _worn.get() or _deployment


def deployment() -> Look:
    return _deployment


def set_deployment(look: Look) -> None:
    """The deployment's own look (its PICTO_MANIFEST), once at start-up."""
    global _deployment
    _deployment = look


@contextmanager
def wearing(look: Look | None) -> Iterator[Look]:
    """Everything inside (texts, pictures) in `look`; None: the deployment's."""
    token = _worn.set(look)
    try:
        yield current()
    finally:
        _worn.reset(token)
