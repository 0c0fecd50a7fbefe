"""What goes into a dialog and what comes out. Plain data: no Telegram, no SQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Button:
    label: str
    data: str
    picto: str | None = None  # the sender may echo this picto's emoji in the label


@dataclass(frozen=True)
class Media:
    """A file a person sent earlier, to show or play back (by Telegram file id)."""

    kind: str
    file_id: str


@dataclass(frozen=True)
class Reply:
    """One message out. `text` is HTML with every user text escaped; `picto` is a picto key:
    its card goes out with the text as caption and the buttons under it (so they stay in
    view); `board` is a picture of the list instead of a card, `mat` the picture of a picto
    mat (per place its picto key and the keys of the cards placed there); `speak` is plain
    text to send as a voice message after it."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    picto: str | None = None
    board: tuple[BoardRow, ...] = ()
    mat: tuple[tuple[str, tuple[str, ...]], ...] = ()
    speak: str | None = None
    media: Media | None = None
    edit: bool = False  # replace the message whose button was pressed, instead of a new one
    qr: str | None = None  # a link to send as a QR code image after the text
    document: Document | None = None
    readback: bool = False  # `speak` holds a person's words: never kept, maybe offline only


@dataclass(frozen=True)
class BoardRow:
    """One part on the picture of the list: its picto, its title, the client's words."""

    picto: str
    title: str
    words: str


@dataclass(frozen=True)
class Document:
    """A file to send. `make` builds it after the commit, in a worker thread (a PDF of a
    long agenda must not hold the database or the event loop)."""

    filename: str
    data: bytes = b""
    make: Callable[[], bytes] | None = None

    async def content(self) -> bytes:
        return self.data if self.make is None else await asyncio.to_thread(self.make)


@dataclass(frozen=True)
class Input:
    """One thing a person did. kind: text, button, command, voice, photo, video, video_note,
    audio, edit, unusable."""

    kind: str
    sent_at: datetime
    text: str = ""
    command: str = ""
    arg: str = ""
    data: str = ""
    file_id: str | None = None
    file_unique_id: str | None = None
    duration: float | None = None
    message_id: int | None = None
    forwarded: bool = False  # someone else's words, passed on by the person

    @property
    def is_message(self) -> bool:
        return self.kind in {"text", "voice", "photo", "video", "video_note", "audio"}


@dataclass(frozen=True)
class AnswerView:
    id: int
    step: str
    item: int
    part: int
    kind: str
    text: str
    tag: str | None = None
    duration: float | None = None
    file_id: str | None = None
    file_state: str | None = None  # "kept", "not_kept", or None (not yet)
    message_id: int | None = None  # the person's message this part came from
    transcript: str | None = None  # a voice answer written out (issue 19)
    transcript_state: str | None = None  # pending, confirmed, rejected, dismissed

    @property
    def confirmed_words(self) -> str | None:
        """The written-out voice answer, once the client said it is right."""
        return self.transcript if self.transcript_state == "confirmed" else None


@dataclass(frozen=True)
class NaasteView:
    id: int
    name: str
    relation: str


@dataclass
class Answers:
    """The client's current (not removed) answers, ordered by step, item, part; and the
    client's naasten with what each may see."""

    rows: list[AnswerView] = field(default_factory=list)
    naasten: list[NaasteView] = field(default_factory=list)
    shares: dict[int, set[str]] = field(default_factory=dict)
    # From the second round on: what the client said last time, per open question (words).
    previous: dict[str, str] = field(default_factory=dict)
    # … and what to offer for the agenda again, one at a time: (kind, text, mood) with kind
    # "topic" (not or only a bit talked about) or "agreement" (mood: its last check-in).
    offers: list[tuple[str, str, str]] = field(default_factory=list)

    def items(self, step: str) -> list[list[AnswerView]]:
        grouped: dict[int, list[AnswerView]] = {}
        for row in self.rows:
            if row.step == step:
                grouped.setdefault(row.item, []).append(row)
        return [sorted(parts, key=lambda r: r.part) for _, parts in sorted(grouped.items())]

    def has(self, step: str) -> bool:
        return any(row.step == step for row in self.rows)

    def tags(self, step: str) -> set[str]:
        return {row.tag for row in self.rows if row.step == step and row.tag}


@dataclass
class Session:
    """Where one person is in one flow; `data` holds small JSON-able facts of the dialog."""

    step: str
    status: str = "active"
    seq: int = 0
    data: dict[str, Any] = field(default_factory=dict)


# Effects: what the store must write, in order, in the same transaction.
@dataclass(frozen=True)
class AddPart:
    step: str
    item: int | None  # None: a new item at the end
    kind: str
    text: str
    tag: str | None = None
    file_id: str | None = None
    file_unique_id: str | None = None
    duration: float | None = None
    message_id: int | None = None
    replace: bool = False  # remove the item's earlier parts first (kept in history)


@dataclass(frozen=True)
class KeepPrevious:
    """"Klopt dit nog?" — yes: last round's answer to this question is this round's too."""

    step: str


@dataclass(frozen=True)
class RemoveItem:
    step: str
    item: int


@dataclass(frozen=True)
class RemoveTag:
    step: str
    tag: str


@dataclass(frozen=True)
class MoveItemUp:
    step: str
    item: int


@dataclass(frozen=True)
class EditByMessage:
    message_id: int
    text: str


@dataclass(frozen=True)
class SetShare:
    naaste_id: int
    part: str
    allowed: bool


@dataclass(frozen=True)
class RemoveNaaste:
    naaste_id: int


@dataclass(frozen=True)
class RestoreNaaste:
    """Undo a removal the client just made."""

    naaste_id: int


@dataclass(frozen=True)
class SetTranscript:
    """The client's word on a written-out voice answer (confirmed, rejected, dismissed)."""

    answer_id: int
    state: str


Effect = (AddPart | RemoveItem | RemoveTag | MoveItemUp | EditByMessage | SetShare
          | RemoveNaaste | RestoreNaaste | KeepPrevious | SetTranscript)
