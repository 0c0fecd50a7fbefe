"""Reading call parameters the way Telegram does, and small helpers for the JSON objects."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from localbotapi.errors import bad


@dataclass
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


def as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad(f"invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise bad(f"invalid {name} specified") from None


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1"}


def as_json(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad(error) from None
    return value


def unix_now() -> int:
    return int(time.time())


def compact(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def json_copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))
