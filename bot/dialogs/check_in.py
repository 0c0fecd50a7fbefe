"""The check-in between meetings: "Hoe gaat het met: <afspraak>?" for each agreement, one at
a time, with 🙂 / 😐 / 🙁 (picto, spoken) and then room for words or a voice message.

Pure: the state lives in the client's session (`session.data["check_in"]`: the agreements
still to ask and whether words may come now); the service stores what the client says.
Its buttons have codes of their own, so a check-in press is never read as a press of the
preparation (and the other way round)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from html import escape

from bot.dialogs.agreements import PICTO, AgreementLine
from bot.dialogs.buttons import encode, pressed
from bot.dialogs.spoken import plain, said
from bot.dialogs.texts import t
from bot.dialogs.types import Button, Input, Reply, Session

MOODS = ("good", "ok", "bad")
KEY = "check_in"  # in session.data


class Action(StrEnum):
    MOOD = "hg"  # arg: one of MOODS
    NEXT = "hw"  # no words (or no more): the next agreement


@dataclass
class Step:
    """What the client's input did. `mood` / `words`: to store for `agreement_id`."""

    agreement_id: int | None = None
    mood: str | None = None
    words: Input | None = None
    replies: list[Reply] = field(default_factory=list)
    finished: bool = False


@dataclass(frozen=True)
class Answer:
    """One stored answer, for the begeleider's line (no agreement: an evaluation's last
    words)."""

    agreement_id: int | None
    mood: str
    kind: str | None = None
    text: str = ""


def start(session: Session, lines: list[AgreementLine], now: datetime,
          evaluation: bool = False) -> list[Reply]:
    """The first question of a check-in (the session's seq is already the new one). An
    evaluation (the begeleider planned one) ends with one open question."""
    if not lines:
        session.data.pop(KEY, None)
        return []
    session.data[KEY] = {"ids": [line.id for line in lines], "words": False,
                         "started": now.isoformat(), "evaluation": evaluation}
    intro = t("evaluation_intro" if evaluation else "check_in_intro")
    first = _ask(session, lines[0])
    return [Reply(f"{intro}\n\n{first.text}", picto=first.picto, buttons=first.buttons,
                  speak=f"{plain(intro)} {first.speak}")]


def started_at(session: Session) -> datetime | None:
    state = session.data.get(KEY) or {}
    return datetime.fromisoformat(state["started"]) if state.get("started") else None


def mood_row(session: Session) -> int | None:
    """The stored mood the words that come now belong to."""
    state = session.data.get(KEY) or {}
    return int(state["row"]) if state.get("words") and state.get("row") else None


def remember_row(session: Session, row_id: int) -> None:
    session.data[KEY]["row"] = row_id


def handles(session: Session, inp: Input) -> bool:
    """A check-in press of the current screen, or the words it asked for."""
    state = session.data.get(KEY)
    if not state:
        return False
    press = pressed(inp, Action)
    if press is not None:
        return press.seq == session.seq
    return bool(state.get("words")) and inp.is_message


def step(session: Session, inp: Input, lines: list[AgreementLine]) -> Step:
    """One input of the check-in (`handles` said yes). Mutates the session; the service bumps
    the seq before rendering when replies ask something new."""
    state = session.data[KEY]
    if state.get("closing"):  # the evaluation's last question: words, or "Nee, klaar"
        session.data.pop(KEY, None)
        words = inp if pressed(inp, Action) is None else None
        note = t("check_in_thanks_words") if words is not None else ""
        return Step(words=words, finished=True,
                    replies=[said("\n".join(filter(None, [note, t("check_in_done")])))])
    known = {line.id: line for line in lines}
    ids = [i for i in state["ids"] if i in known]  # an agreement removed meanwhile: skipped
    if not ids:
        session.data.pop(KEY, None)
        return Step(finished=True, replies=[said(t("check_in_done"))])
    current = ids[0]
    press = pressed(inp, Action)
    out = Step(agreement_id=current)
    if press is not None and press.action == Action.MOOD and press.arg in MOODS:
        out.mood = press.arg
        state["words"] = True
        out.replies = [said(t(f"check_in_after_{press.arg}") + "\n" + t("check_in_words"),
                             buttons=((Button(t("btn_next"), encode(session.seq + 1,
                                                                    Action.NEXT)),),))]
        return out
    if press is None:  # the words after the mood
        out.words = inp
    rest = ids[1:]
    state["ids"], state["words"] = rest, False
    note = t("check_in_thanks_words") if out.words is not None else ""
    if rest:
        question = _ask(session, known[rest[0]], next_seq=True)
        if note:
            question = Reply(f"{note}\n\n{question.text}", picto=question.picto,
                             buttons=question.buttons, speak=f"{plain(note)} {question.speak}")
        out.replies = [question]
    elif state.get("evaluation"):  # one open question to end with
        state["closing"], state["words"] = True, True
        out.replies = [said("\n\n".join(filter(None, [note, t("evaluation_last")])), buttons=(
            (Button(t("btn_evaluation_done"), encode(session.seq + 1, Action.NEXT)),),))]
    else:
        session.data.pop(KEY, None)
        out.finished = True
        out.replies = [said("\n".join(filter(None, [note, t("check_in_done")])))]
    return out


def _ask(session: Session, line: AgreementLine, next_seq: bool = False) -> Reply:
    seq = session.seq + 1 if next_seq else session.seq
    text = t("check_in_question", text=escape(line.text))
    buttons = (tuple(Button(t(f"btn_mood_{m}"), encode(seq, Action.MOOD, m))
                     for m in MOODS), (Button(t("btn_check_in_skip"), encode(seq, Action.NEXT)),))
    return Reply(text, picto=line.picto or PICTO, buttons=buttons, speak=plain(text))


def mood_mark(mood: str) -> str:
    """🙂 / 😐 / 🙁 for the begeleider's timeline."""
    return {"good": "🙂", "ok": "😐", "bad": "🙁"}.get(mood, "·")


def report(client: str, answers: list[Answer], lines: list[AgreementLine]) -> str:
    """For the begeleider: one line per agreement the client answered."""
    text_of = {line.id: line.text for line in lines}
    out = [t("b_check_in_report", client=escape(client))]
    for answer in answers:
        if answer.agreement_id is None:  # the evaluation's last words
            out.append(f"💬 “{escape(answer.text)}”" if answer.text else
                       f"💬 ({t('media_' + (answer.kind or 'voice'))})")
            continue
        words = (f" “{escape(answer.text)}”" if answer.text else
                 f" ({t('media_' + answer.kind)})" if answer.kind and answer.kind != "text"
                 else "")
        out.append(f"{mood_mark(answer.mood)} {escape(text_of.get(answer.agreement_id, '?'))}"
                   f"{words}")
    return "\n".join(out)
