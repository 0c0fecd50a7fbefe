"""Every text a person reads, by key, from `nl.yaml`."""

from __future__ import annotations

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
