"""The rate limiter on its own: a 429 pauses that chat only and the call is sent again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from telegram.error import RetryAfter

from bot.telegram.ratelimit import ChatRateLimiter


async def test_a_429_pauses_that_chat_only_and_the_call_is_retried() -> None:
    limiter = ChatRateLimiter(per_second=0, chat_per_second=0)
    sent: list[tuple[int, float]] = []
    refused = {1: 1}  # chat 1 is refused once
    start = time.monotonic()

    async def call(chat: int) -> Any:
        if refused.get(chat):
            refused[chat] -= 1
            raise RetryAfter(1)
        sent.append((chat, time.monotonic() - start))
        return True

    async def send(chat: int) -> Any:
        return await limiter.process_request(call, (chat,), {}, "sendMessage",
                                             {"chat_id": chat}, None)

    results = await asyncio.gather(send(1), send(2), send(2))
    assert results == [True, True, True] and limiter.retried == 1
    by_chat = {chat: at for chat, at in sent}
    assert by_chat[2] < 0.5 <= 1.0 <= by_chat[1]  # chat 2 did not wait for chat 1


async def test_calls_without_a_chat_never_wait() -> None:
    limiter = ChatRateLimiter(per_second=1, chat_burst=1, chat_per_second=0.1)

    async def call() -> Any:
        return "answered"

    started = time.monotonic()
    for _ in range(5):
        assert await limiter.process_request(call, (), {}, "answerCallbackQuery",
                                             {"callback_query_id": "x"}, None) == "answered"
    assert time.monotonic() - started < 0.5


async def test_a_chat_keeps_to_its_burst_then_its_pace() -> None:
    limiter = ChatRateLimiter(per_second=0, chat_burst=2, chat_per_second=10)
    times: list[float] = []

    async def call() -> Any:
        times.append(time.monotonic())

    for _ in range(4):
        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 5}, None)
    assert times[1] - times[0] < 0.05  # the burst
    assert times[3] - times[0] >= 0.15  # then about 10 a second (a tenth slower)
