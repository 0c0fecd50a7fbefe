"""A voice answer written out (issue 19): "Ik hoorde: ‘…’. Klopt dat?" — the client
confirms, says it again, or lets it be. Only a confirmed transcript is shown as the client's
words; the voice always stays.

Pure, like the rest of the flow. The question comes after the answer was stored (the
speech-to-text engine is slow), so the client may have moved on meanwhile: its buttons name
the answer instead of the question's seq, and a press counts only while that answer's
transcript still waits for the client's word."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from html import escape

from bot.dialogs.buttons import encode, pressed
from bot.dialogs.spoken import plain
from bot.dialogs.texts import t
from bot.dialogs.types import Answers, Button, Effect, Input, Reply, SetTranscript

PENDING, CONFIRMED, REJECTED, DISMISSED = "pending", "confirmed", "rejected", "dismissed"
KINDS = ("voice", "audio", "video_note")  # the answers a speech-to-text engine can hear
SEQ = 0  # the buttons carry the answer's id, not a question's seq (see above)


class Action(StrEnum):
    YES = "hj"  # arg: the answer id; "✅ Ja"
    NO = "hn"  # "✏️ Nee, ik zeg het anders"
    LEAVE = "hl"  # "Laat maar"


STATES = {Action.YES: CONFIRMED, Action.NO: REJECTED, Action.LEAVE: DISMISSED}
NOTES = {Action.YES: "heard_confirmed", Action.NO: "heard_again", Action.LEAVE: "heard_left"}


def question(answer_id: int, words: str) -> Reply:
    """What the client hears and reads after a voice answer was written out."""
    text = t("heard", words=escape(words))
    return Reply(text, speak=plain(text), readback=True, buttons=(
        (Button(t("btn_heard_yes"), encode(SEQ, Action.YES, answer_id)),),
        (Button(t("btn_heard_no"), encode(SEQ, Action.NO, answer_id)),),
        (Button(t("btn_heard_leave"), encode(SEQ, Action.LEAVE, answer_id)),)))


def handles(inp: Input) -> bool:
    return pressed(inp, Action) is not None


@dataclass
class Outcome:
    effects: list[Effect] = field(default_factory=list)
    note: str = ""
    stale: bool = False  # not this client's, or already answered: nothing changed


def decide(answers: Answers, inp: Input) -> Outcome:
    press = pressed(inp, Action)
    out = Outcome()
    waiting = press is not None and press.arg.isdigit() and any(
        r.id == int(press.arg) and r.transcript_state == PENDING for r in answers.rows)
    if press is None or not waiting:
        out.stale = True
        return out
    out.effects.append(SetTranscript(int(press.arg), STATES[press.action]))
    out.note = NOTES[press.action]
    return out


def shown(words: str) -> str:
    """A confirmed transcript beside its recording, as the client's list shows it."""
    return t("heard_shown", words=words)
