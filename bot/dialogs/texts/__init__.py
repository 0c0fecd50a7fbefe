"""Every text a person reads, by key, from `nl.yaml`; an organisation may word some of
them its own way (its look, see `bot/dialogs/look.py`; checked by `own_texts_problems`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from string import Formatter

import yaml

from bot.dialogs.look import current

_FILE = Path(__file__).with_name("nl.yaml")
# Texts an organisation may not word its own way: lists the code takes apart.
FIXED = frozenset({"weekdays", "months"})
OWN_TEXT_MAX = 1000  # characters; a message people must read and hear stays short
_TAG = re.compile(r"</?[a-z]+>")
_BARE_AMPERSAND = re.compile(r"&(?!(amp|lt|gt|quot);)")


@cache
def all_texts() -> dict[str, str]:
    with _FILE.open(encoding="utf-8") as handle:
        texts = yaml.safe_load(handle)
    return {str(key): str(value) for key, value in texts.items()}


def t(key: str, **values: object) -> str:
    """The text for `key` (worded the organisation's way, if it has), with `{name}`-style
    values filled in."""
    text = current().texts.get(key) or all_texts()[key]
    return text.format(**values) if values else text


def dutch_date(moment: datetime, tz: tzinfo, with_time: bool = True) -> str:
    """"dinsdag 8 december om 14:00" (or "dinsdag 8 december 2026"), in the zone `tz`:
    the one place that writes a date for people."""
    local = moment.astimezone(tz)
    weekday = t("weekdays").split()[local.weekday()]
    month = t("months").split()[local.month - 1]
    if not with_time:
        return f"{weekday} {local.day} {month} {local.year}"
    return t("date_format", weekday=weekday, day=local.day, month=month,
             time=local.strftime("%H:%M"))


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def own_texts_problems(own: Mapping[object, object]) -> list[str]:
    """What is wrong with an organisation's own texts, one line each (nothing: usable).
    Each must be a known key, say the same `{values}` as the bot's text, and keep its
    HTML tags (Telegram refuses a message with a broken one, and the person would get
    nothing)."""
    problems = []
    for key, text in own.items():
        if not isinstance(key, str) or key not in all_texts():
            problems.append(f"{key!r}: the bot has no text with this key")
            continue
        if key in FIXED:
            problems.append(f"{key!r}: this text cannot be changed")
            continue
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{key!r}: the text is empty")
            continue
        if len(text) > OWN_TEXT_MAX:
            problems.append(f"{key!r}: longer than {OWN_TEXT_MAX} characters")
        ours = all_texts()[key]
        values = _fields(ours)
        try:
            if _fields(text) != values:
                problems.append(f"{key!r}: must use exactly these values: "
                                f"{', '.join(sorted(values)) or 'none'}")
        except ValueError:
            problems.append(f"{key!r}: a {{ or }} without its partner (write {{{{ or }}}})")
        if _TAG.findall(text) != _TAG.findall(ours) or "<" in _TAG.sub("", text) \
                or _BARE_AMPERSAND.search(text):
            tags = " ".join(_TAG.findall(ours)) or "none"
            problems.append(f"{key!r}: keep the bot's tags ({tags}); "
                            "write &lt; &gt; &amp; for < > &")
    return problems
