"""Every text a person reads, by key, from `nl.yaml`."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path

import yaml

_FILE = Path(__file__).with_name("nl.yaml")


@cache
def all_texts() -> dict[str, str]:
    with _FILE.open(encoding="utf-8") as handle:
        texts = yaml.safe_load(handle)
    return {str(key): str(value) for key, value in texts.items()}


def t(key: str, **values: object) -> str:
    """The text for `key`, with `{name}`-style values filled in."""
    text = all_texts()[key]
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
