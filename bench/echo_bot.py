"""A bare python-telegram-bot 22 echo bot: the yardstick for ``bench/dialog_load.py``.

One MessageHandler answers every text message with one message (and one button, so a
simulated client has something to press); one CallbackQueryHandler answers the query and
sends one message. No database, no state. Configured like the real bot, from the environment:

    TELEGRAM_BOT_TOKEN=123456:X TELEGRAM_API_URL=http://127.0.0.1:8081/bot \
    TELEGRAM_FILE_URL=http://127.0.0.1:8081/file/bot .venv/bin/python bench/echo_bot.py
"""

from __future__ import annotations

import logging
import os

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

BUTTON = InlineKeyboardMarkup([[InlineKeyboardButton("➡️ Verder", callback_data="next")]])


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.effective_message
    if message is None or message.text is None:
        return
    await context.bot.send_message(message.chat_id, message.text, reply_markup=BUTTON)


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, f"Gekozen: {query.data}", reply_markup=BUTTON)


def build() -> Application:  # type: ignore[type-arg]
    app = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org/bot"))
        .base_file_url(os.environ.get("TELEGRAM_FILE_URL", "https://api.telegram.org/file/bot"))
        .concurrent_updates(256)  # like the real bot: many chats at once
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    return app


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    build().run_polling(timeout=10, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
