"""reply_markup: parse and check an inline keyboard, reply keyboard or keyboard removal."""

from __future__ import annotations

import re
from typing import Any

from localbotapi.errors import bad
from localbotapi.values import as_json

# An inline keyboard as (text, callback_data or None) rows.
Buttons = list[list[tuple[str, str | None]]]


def parse_markup(
    params: dict[str, Any],
) -> tuple[dict[str, Any] | None, Buttons, list[list[str]] | None, bool]:
    """The call's reply_markup as (markup, inline buttons, reply keyboard, remove keyboard),
    refused like Telegram refuses it."""
    raw = params.get("reply_markup")
    if raw in (None, ""):
        return None, [], None, False
    markup = as_json(raw, "can't parse reply keyboard markup JSON object")
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an "
                      "Array of Arrays")
        buttons: Buttons = []
        for row in rows:
            out_row: list[tuple[str, str | None]] = []
            for button in row:
                if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                    raise bad("can't parse inline keyboard button: Field \"text\" must be "
                              "of type String")
                data = button.get("callback_data")
                if data is not None:
                    size = len(str(data).encode("utf-8"))
                    if size < 1 or size > 64:
                        raise bad("BUTTON_DATA_INVALID")
                elif not any(k in button for k in ("url", "web_app", "login_url", "pay",
                                                   "switch_inline_query", "copy_text",
                                                   "switch_inline_query_current_chat",
                                                   "switch_inline_query_chosen_chat",
                                                   "callback_game")):
                    raise bad("can't parse inline keyboard button: Text buttons are "
                              "unallowed in the inline keyboard")
                url = button.get("url")
                if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                    raise bad(f"inline keyboard button URL '{url}' is invalid: "
                              "Wrong HTTP URL")
                out_row.append((button["text"], None if data is None else str(data)))
            buttons.append(out_row)
        return markup, buttons, None, False
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list):
            raise bad("can't parse reply keyboard markup JSON object")
        keyboard = [
            [b if isinstance(b, str) else str(b.get("text", "")) for b in row]
            for row in rows
        ]
        return markup, [], keyboard, False
    if markup.get("remove_keyboard"):
        return markup, [], None, True
    return markup, [], None, False
