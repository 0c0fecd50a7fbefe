"""A local Telegram Bot API server for driving the real bot in tests, benchmark and sandbox.

Strict mode: by default the server accepts every call as fast as it comes. Pass
``BotApiServer(limits=Limits())`` (or call ``server.set_limits(Limits())`` at runtime; None
switches it off) to make it as strict as Telegram:

- every call that sends or edits a message in a chat (sendMessage, sendPhoto, sendVoice, ...,
  editMessageText/Caption/ReplyMarkup; not sendChatAction, answerCallbackQuery, getUpdates,
  getFile, ...) takes a token from that chat's bucket (``per_chat_burst``, refilled at
  ``per_chat_per_second``) and one from the global bucket (``global_burst``, refilled at
  ``global_per_second``); without both it fails like Telegram, HTTP 429
  ``{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after N",
  "parameters": {"retry_after": N}}``, and changes nothing. ``server.too_many_requests`` and
  ``server.too_many_requests_by_chat`` count the refusals;
- answerCallbackQuery more than ``callback_window`` seconds after getUpdates first handed the
  query to the bot fails with "query is too old". ``server.callback_delays()`` and
  ``server.unanswered_callbacks()`` report how the bot answered (also without limits).

Webhook mode: after ``setWebhook`` the server POSTs every pending update to the url (with
``X-Telegram-Bot-Api-Secret-Token`` if a secret_token was set) until it answers 2xx, retrying
with a short backoff (``BotApiServer(webhook_timeout=10, webhook_retry_first=0.1,
webhook_retry_max=2)``); one chat's updates strictly in order, chats side by side up to
max_connections. ``server.webhook_deliveries`` lists (update_id, HTTP status or None) of every
POST, ``server.wait_for_webhook(update_id)`` waits for its acceptance; see ``webhook``.

Whatever the limits, ``server.bot_errors`` lists (method, error_code, description) of every
error the bot got that was its own mistake (not a 429 of the limits, not a ``fail_next``
failure, not getUpdates), e.g. a text over 4096 or a caption over 1024 UTF-16 code units.
"""

from localbotapi.server import (
    ApiError,
    BotApiServer,
    BotMessage,
    CallbackAnswer,
    ChatHandle,
    EntityParseError,
    GroupHandle,
    Limits,
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
    "Limits",
    "StoredFile",
    "UserHandle",
    "parse_html",
]
