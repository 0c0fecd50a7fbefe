"""Telegram's flood limits: the Limits settings, the token buckets and which methods pay."""

from __future__ import annotations

from dataclasses import dataclass

# The methods that put (or change) a message in a chat: with limits on, each call takes a
# token from the chat's bucket and one from the global bucket (sendChatAction does not).
RATE_LIMITED = {
    "sendMessage", "sendPhoto", "sendVoice", "sendAudio", "sendDocument", "sendVideo",
    "sendVideoNote", "sendSticker", "sendAnimation", "sendLocation", "editMessageText",
    "editMessageCaption", "editMessageReplyMarkup",
}


@dataclass(frozen=True)
class Limits:
    """Telegram's flood limits and callback timeout, for a server as strict as Telegram.

    Every message sent or edited in a chat takes a token from that chat's bucket
    (``per_chat_burst`` tokens, refilled at ``per_chat_per_second``) and one from the global
    bucket (``global_burst`` tokens, refilled at ``global_per_second``); without both, the
    call gets 429 with ``retry_after``. answerCallbackQuery more than ``callback_window``
    seconds after the query was handed to the bot gets "query is too old".
    """

    per_chat_burst: int = 3
    per_chat_per_second: float = 1.0
    global_per_second: float = 30.0
    global_burst: int = 30
    callback_window: float = 15.0

    def __post_init__(self) -> None:
        if min(self.per_chat_burst, self.global_burst) < 1:
            raise ValueError("a burst must be at least 1")
        if min(self.per_chat_per_second, self.global_per_second) <= 0:
            raise ValueError("a rate must be positive")


@dataclass
class Bucket:
    """A token bucket: at most `capacity` tokens, refilled at `rate` tokens per second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def wait(self, now: float) -> float:
        """Refill up to `now`; return the seconds until a whole token is there (0: now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return max(0.0, (1 - self.tokens) / self.rate)
