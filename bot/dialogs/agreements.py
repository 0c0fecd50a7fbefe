"""The agreements ('afspraken') of the meeting, as the client gets them: one readable
message (numbered lines: what, and who does it), a picture (picto + words per agreement)
and the same words spoken. Pure: the service gives the rows, this gives the replies."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.dialogs.client_prep import DOMAINS
from bot.dialogs.spoken import plain, said
from bot.dialogs.texts import t
from bot.dialogs.types import BoardRow, Reply

# Who does it. The begeleider chooses; the client reads it from their own side ("Jij").
WHO = ("client", "begeleider", "samen", "anders")
PICTO = "agreements"  # the picto of an agreement without one of its own
# What the begeleider can choose from: the life domains the client also chose topics from.
PICTOS = DOMAINS
MAX_TEXT = 300  # one agreement is a short line


@dataclass(frozen=True)
class AgreementLine:
    id: int
    text: str
    who: str  # one of WHO
    picto: str | None = None
    topic: str | None = None  # the client's topic it is about


def for_client(lines: list[AgreementLine], changed: bool = False) -> list[Reply]:
    """"Dit hebben we afgesproken" (after a correction: what changed is said first) with
    every agreement; [] when there are none."""
    if not lines:
        return []
    intro = t("agreements_changed" if changed else "agreements_intro")
    numbered = _numbered(lines, "agreements_who_client_")
    text = f"<b>{intro}</b>\n\n" + "\n".join(numbered)
    board = tuple(BoardRow(line.picto or PICTO, who_title(line), line.text) for line in lines)
    spoken = " ".join([plain(intro)] + [plain(n) + "." for n in numbered])
    # The words to read first; then the picture (its caption short, under the picture)
    # with the voice: the same shape as the client's list.
    return [Reply(text), Reply(intro, picto=PICTO, board=board, speak=spoken,
                                readback=True)]


def who_title(line: AgreementLine) -> str:
    """Who does it, as a heading the client reads ("Dat doe jij"): picture and PDF."""
    return t(f"agreements_who_client_{line.who}").capitalize()


def none_yet() -> list[Reply]:
    """/afspraken before there are any."""
    return [said(t("agreements_none"))]


def for_begeleider(lines: list[AgreementLine], client: str,
                   timeline: dict[int, list[str]] | None = None) -> str:
    """The begeleider's overview of the client's agreements (their screen's text), each
    with how it went so far (`timeline`: agreement id → "🙂 3 jan" marks, oldest first)."""
    if not lines:
        return t("b_agreements_empty", client=escape(client))
    numbered = [row + (f"\n    {t('b_agreement_topic', topic=escape(line.topic))}"
                       if line.topic else "")
                for row, line in zip(_numbered(lines, "agreements_who_", client), lines,
                                     strict=True)]
    timeline = timeline or {}
    rows = [row + ("\n    " + " · ".join(timeline[line.id]) if timeline.get(line.id) else "")
            for row, line in zip(numbered, lines, strict=True)]
    return t("b_agreements", client=escape(client)) + "\n" + "\n".join(rows)


def for_naaste(lines: list[AgreementLine], client: str, changed: bool = False) -> list[Reply]:
    """What a naaste gets when the client shares their agreements (also spoken: not every
    naaste reads well)."""
    if not lines:
        return []
    intro = t("agreements_naaste_changed" if changed else "agreements_naaste_intro",
              client=escape(client))
    numbered = _numbered(lines, "agreements_who_naaste_", client)
    text = f"<b>{intro}</b>\n\n" + "\n".join(numbered)
    return [Reply(text, speak=" ".join([plain(intro)] + [plain(n) + "." for n in numbered]),
                  readback=True)]


def _numbered(lines: list[AgreementLine], who_key: str, client: str = "") -> list[str]:
    """"1. <what> (<who>)": who from the reader's side (`who_key` + the agreement's who)."""
    return [t("agreements_line", n=n, text=escape(line.text),
              who=t(who_key + line.who, client=escape(client)))
            for n, line in enumerate(lines, 1)]
