"""A local Telegram Bot API server for driving the real bot in tests, benchmark and sandbox."""

from localbotapi.server import (
    ApiError,
    BotApiServer,
    BotMessage,
    CallbackAnswer,
    ChatHandle,
    EntityParseError,
    GroupHandle,
    StoredFile,
    UserHandle,
    parse_html,
)

__all__ = [
    "ApiError",
    "BotApiServer",
    "BotMessage",
    "CallbackAnswer",
    "ChatHandle",
    "EntityParseError",
    "GroupHandle",
    "StoredFile",
    "UserHandle",
    "parse_html",
]
