"""Every message that asks or tells the client is also spoken: the text of a message as
it is said (no tags, no bullets, no emoji), and a message with its voice."""

from __future__ import annotations

import re
from html import unescape

from bot.dialogs.types import Button, Reply

_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2190-\u21FF\u2300-\u27BF\u2B00-\u2BFF\uFE0F]")


def plain(html_text: str) -> str:
    """Text to speak: no tags, no bullets, no emoji."""
    text = unescape(re.sub(r"<[^>]+>", "", html_text))
    text = _EMOJI.sub("", text.replace("•", ""))
    return re.sub(r"\s+", " ", text).strip()


def said(text: str, picto: str | None = None,
         buttons: tuple[tuple[Button, ...], ...] = ()) -> Reply:
    """A message that is also spoken (every message that asks or tells the client)."""
    return Reply(text, picto=picto, speak=plain(text), buttons=buttons)
