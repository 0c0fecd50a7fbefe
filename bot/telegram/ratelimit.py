"""Stay within Telegram's flood limits, and wait out a 429 instead of dropping a reply.

Telegram answers 429 "Too Many Requests: retry after N" when a bot sends more than about one
message a second to one chat (short bursts pass) or about 30 a second overall.

Why not PTB's `AIORateLimiter` as it is: it limits groups per chat but not private chats
(where all our people are), and a 429 in one chat halts the requests of every chat. This
limiter keeps its shape (`BaseRateLimiter`, `aiolimiter`'s leaky buckets, as PTB's does) and
adds a bucket per private chat and a pause per chat. Calls without a chat (answering a
button press, getUpdates, getFile) are never held back: a press must be answered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger("gespreksmaatje.sender")

JSONResult = Any


class ChatRateLimiter(BaseRateLimiter[int]):
    """Overall `per_second` (burst `burst`), per chat `chat_burst` then `chat_per_second`;
    a 429 pauses that chat only, for `retry_after`, then the same call is tried again
    (`max_retries` times: a reply is never dropped for a rate limit)."""

    def __init__(self, per_second: float = 25.0, chat_burst: int = 3,
                 chat_per_second: float = 1.0, max_retries: int = 30,
                 idle_chats: int = 1024) -> None:
        # A rate of 0 holds nothing back (the tests' local server has no limits unless
        # asked); a 429 is still waited out.
        self._overall = AsyncLimiter(per_second, 1) if per_second else None
        self._chat_burst = chat_burst
        # A tenth slower than asked: our clock and Telegram's do not start a burst together.
        self._chat_period = 1.1 * chat_burst / chat_per_second if chat_per_second else 0.0
        self._chats: dict[int, AsyncLimiter] = {}
        self._paused_until: dict[int, float] = {}
        self._max_retries = max_retries
        self._idle_chats = idle_chats
        self.retried = 0  # 429s waited out (for the benchmark and the operator)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def _chat(self, chat_id: int) -> AsyncLimiter | contextlib.nullcontext[None]:
        if not self._chat_period:
            return _NO_LIMIT
        if len(self._chats) > self._idle_chats:  # forget the buckets of quiet chats
            for key, limiter in list(self._chats.items()):
                if limiter.has_capacity(self._chat_burst):
                    del self._chats[key]
        if chat_id not in self._chats:
            self._chats[chat_id] = AsyncLimiter(self._chat_burst, self._chat_period)
        return self._chats[chat_id]

    async def _wait_pause(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        # A loop, not an Event: another 429 may push the end of the pause further out.
        while (until := self._paused_until.get(chat_id, 0.0)) > loop.time():  # noqa: ASYNC110
            await asyncio.sleep(until - loop.time())
        self._paused_until.pop(chat_id, None)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSONResult:
        chat_id = _chat_id(data.get("chat_id"))
        if chat_id is None:  # not a message to a chat: never wait
            return await callback(*args, **kwargs)
        loop = asyncio.get_running_loop()
        for attempt in range(self._max_retries + 1):
            await self._wait_pause(chat_id)
            async with self._chat(chat_id), self._overall or _NO_LIMIT:
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as error:
                    if attempt == self._max_retries:
                        raise
                    wait = error.retry_after
                    seconds = (wait if isinstance(wait, int | float)
                               else wait.total_seconds()) + 0.1
                    self.retried += 1
                    log.info("chat=%d %s: Telegram asks to wait %.1f s", chat_id, endpoint,
                             seconds)
                    self._paused_until[chat_id] = max(self._paused_until.get(chat_id, 0.0),
                                                      loop.time() + seconds)
        raise AssertionError("unreachable")  # the loop returns or raises


_NO_LIMIT: contextlib.nullcontext[None] = contextlib.nullcontext()


def _chat_id(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
