"""Split Telegram HTML into messages that fit: at most 4,096 characters of text per message
(1,024 per caption), counted as Telegram does (after the tags, in UTF-16 code units).

A cut falls on a line break where one fits, else between words; a word longer than a whole
message is cut between characters. Tags open at a cut are closed at the end of one part and
opened again at the start of the next, so every part is valid HTML on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape, unescape

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

_TOKENS = re.compile(r"(<[^>]*>|\n|[ \t]+)")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")


def visible_length(text: str) -> int:
    """Length of plain text as Telegram counts it (UTF-16 code units)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass(frozen=True)
class _Atom:
    text: str  # as HTML
    length: int  # visible length
    kind: str  # "tag", "newline", "space", "word"
    stack: tuple[tuple[str, str], ...]  # open tags (name, opening tag) after this atom


def _atoms(html: str, limit: int) -> list[_Atom]:
    atoms: list[_Atom] = []
    stack: list[tuple[str, str]] = []
    for token in _TOKENS.split(html):
        if not token:
            continue
        if token.startswith("<") and token.endswith(">"):
            match = _TAG_NAME.match(token)
            name = match.group(1).lower() if match else ""
            if token.startswith("</"):
                for index in range(len(stack) - 1, -1, -1):
                    if stack[index][0] == name:
                        del stack[index:]
                        break
            else:
                stack.append((name, token))
            atoms.append(_Atom(token, 0, "tag", tuple(stack)))
            continue
        kind = "newline" if token == "\n" else "space" if token.isspace() else "word"
        plain = unescape(token)
        for piece in _pieces(plain, limit) if kind == "word" else [plain]:
            atoms.append(_Atom(escape(piece, quote=False) if kind == "word" else token,
                               visible_length(piece), kind, tuple(stack)))
    return atoms


def _pieces(word: str, limit: int) -> list[str]:
    """A word longer than a whole message, cut between characters."""
    if visible_length(word) <= limit:
        return [word]
    pieces, current, size = [], "", 0
    for ch in word:
        width = visible_length(ch)
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
        current += ch
        size += width
    return [*pieces, current] if current else pieces


def split_html(html: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`html` as one or more parts of at most `limit` visible characters each."""
    if visible_length(unescape(re.sub(r"<[^>]*>", "", html))) <= limit:
        return [html]
    atoms = _atoms(html, limit)
    parts: list[str] = []
    start = 0
    while start < len(atoms):
        end, resume = _cut(atoms, start, limit)
        part = _render(atoms, start, end)
        if part.strip():
            parts.append(part)
        start = resume
    return parts


def _cut(atoms: list[_Atom], start: int, limit: int) -> tuple[int, int]:
    """(end, next start) of the part that begins at `start`."""
    size = 0
    newline: int | None = None
    space: int | None = None
    for index in range(start, len(atoms)):
        atom = atoms[index]
        if size + atom.length > limit:
            cut = newline if newline is not None else space
            if cut is None:
                return index, index
            return cut, cut + 1  # the break itself is dropped
        if atom.kind == "newline":
            newline = index
        elif atom.kind == "space":
            space = index
        size += atom.length
    return len(atoms), len(atoms)


def _render(atoms: list[_Atom], start: int, end: int) -> str:
    before = atoms[start - 1].stack if start > 0 else ()
    after = atoms[end - 1].stack if end > start else before
    body = "".join(atom.text for atom in atoms[start:end])
    opening = "".join(tag for _, tag in before)
    closing = "".join(f"</{name}>" for name, _ in reversed(after))
    return (opening + body + closing).strip("\n ")


SPEECH_PIECE = 600  # characters: a voice message of well under a minute
SPEECH_PIECES = 3


def speech_pieces(text: str, size: int = SPEECH_PIECE, most: int = SPEECH_PIECES) -> list[str]:
    """A long text to speak, as a few short voice messages cut after a sentence (each is
    made and sent on its own, so the first plays while the next is made). A very long list
    is read up to `most` pieces; the text above it holds everything."""
    sentences = re.split(r"(?<=[.!?:])\s+", text.strip())
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        while len(sentence) > size:  # one very long sentence: cut between words
            head = sentence[:size].rsplit(" ", 1)[0] or sentence[:size]
            pieces, current = _flush(pieces, current), ""
            pieces.append(head)
            sentence = sentence[len(head):].strip()
        if current and len(current) + 1 + len(sentence) > size:
            pieces, current = _flush(pieces, current), ""
        current = f"{current} {sentence}".strip()
    pieces = _flush(pieces, current)
    if len(pieces) > most:
        pieces = pieces[:most]
        pieces[-1] = pieces[-1].rstrip(".!?:") + " …"
    return pieces


def _flush(pieces: list[str], current: str) -> list[str]:
    return [*pieces, current] if current else pieces
