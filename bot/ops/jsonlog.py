"""LOG_FORMAT=json: one JSON object per line (time, level, logger, message, exception).

Only the formatting changes: the content filters on the loggers
(bot.telegram.app.keep_content_out_of_logs) have already rewritten a record before any
handler formats it, so what they keep out stays out."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # exc_text first: a content filter may have put a cleaned traceback there (the
        # stdlib formatter does the same: it formats exc_info only when exc_text is empty).
        if record.exc_text:
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)  # newlines inside are escaped: one line


def use_json_logs() -> None:
    """Every handler on the root logger writes JSON lines."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())
