"""Earlier rounds, to read back: `/vorige` for the client (spoken), "📚 Vorige rondes" for
the begeleider. Pure: the service gives each round's words per question."""

from __future__ import annotations

from html import escape

from bot.dialogs.client_prep import STEPS
from bot.dialogs.spoken import plain, said
from bot.dialogs.texts import t
from bot.dialogs.types import Reply

# The questions in the order they are asked (the meeting's own questions are left out:
# where and who were about that meeting).
ORDER = [s.key for s in STEPS if s.kind in {"open", "list"} and not s.key.startswith(
    "meeting_")]

Round = tuple[int, dict[str, list[str]]]  # (number, step → the words, in order)


def for_client(rounds: list[Round]) -> list[Reply]:
    """One message per earlier round, newest first, each spoken."""
    if not rounds:
        return [said(t("history_none"))]
    replies = []
    for number, words in sorted(rounds, reverse=True):
        blocks = [f"<b>{t('history_round', n=number)}</b>"] + [
            f"<b>{t('title_' + step)}</b>\n" + "\n".join(f"• {escape(w)}" for w in words[step])
            for step in ORDER if words.get(step)]
        text = "\n\n".join(blocks) if len(blocks) > 1 else (
            f"<b>{t('history_round', n=number)}</b>\n{t('history_empty')}")
        spoken = " ".join([t("history_round", n=number)] + [
            f"{t('title_' + step)}: {'. '.join(words[step])}." for step in ORDER
            if words.get(step)])
        replies.append(Reply(text, speak=plain(spoken), readback=True))
    return replies


def for_begeleider(rounds: list[Round], client: str) -> list[Reply]:
    """The same under a heading with the client's name (not spoken)."""
    if not rounds:
        return [Reply(t("b_history_none", client=escape(client)))]
    return [Reply(t("b_history_head", client=escape(client)) + "\n\n" + reply.text)
            for reply in for_client(rounds)]
