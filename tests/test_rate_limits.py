"""Telegram's flood limits, enforced by the local Bot API server (≈1 message a second per
chat after a burst of 3, 30 a second overall, 429 + retry_after): 30 clients go through the
first questions at once. Every reply arrives, in order per chat; no update fails; every
button press is answered at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import pytest

from bot.state.models import Answer, Inbox
from localbotapi import Limits
from localbotapi.server import BotMessage, UserHandle
from tests.harness import Harness, harness

CLIENTS = 30
WAIT = 120.0  # seconds one update may take at most under the limits


async def act(h: Harness, user: UserHandle, action: Awaitable[int]) -> None:
    await h.handled(await action, timeout=WAIT)


async def tap(h: Harness, user: UserHandle, label: str) -> None:
    message = [m for m in user.messages if any(t.endswith(label) for r in m.buttons
                                               for t, _ in r)][-1]
    text = next(t for r in message.buttons for t, _ in r if t.endswith(label))
    await act(h, user, user.press(message, text))


async def walk(h: Harness, user: UserHandle, token: str) -> None:
    """Join, begin, answer two questions."""
    await act(h, user, user.send_command("/start", token))
    await tap(h, user, "Beginnen")
    await act(h, user, user.send_text(f"Ik kan goed tekenen ({user.user_id})"))
    await tap(h, user, "Verder")
    await act(h, user, user.send_text(f"Dat ik goed luister ({user.user_id})"))
    await tap(h, user, "Verder")


def shape(messages: list[BotMessage], user_id: int) -> list[tuple[str, str]]:
    return [(m.kind, (m.text or "").replace(str(user_id), "ID")) for m in messages]


@pytest.mark.alone  # the p99 below is wall-clock: in parallel runs, no other test meanwhile
@pytest.mark.parametrize("keep_to_limits", [False, True], ids=["waits-out-429", "keeps-to"])
async def test_thirty_clients_under_telegrams_limits(db_url: str, tmp_path: Path,
                                                     keep_to_limits: bool) -> None:
    limits = Limits(per_chat_burst=3, per_chat_per_second=1.0, global_per_second=30.0,
                    global_burst=30)
    async with harness(db_url, tmp_path, limits, keep_to_limits) as h:
        await h.start_bot()
        tokens = [await h.enrol("Sam") for _ in range(CLIENTS)]
        users = [h.server.user(9000 + n, first_name="Sam") for n in range(CLIENTS)]
        await walk(h, users[0], tokens[0])  # one alone first: the reference conversation
        reference = shape(users[0].messages, users[0].user_id)
        await asyncio.gather(*(walk(h, u, t) for u, t in zip(users[1:], tokens[1:],
                                                              strict=True)))
        await h.server.wait_idle(quiet=0.5, timeout=WAIT)
        for user in users:  # every reply, in order, nothing lost
            assert shape(user.messages, user.user_id) == reference, user.user_id
        assert await h.rows(Inbox, Inbox.state == "failed") == []
        kept = {a.text for a in await h.rows(Answer)}
        for user in users:
            assert f"Ik kan goed tekenen ({user.user_id})" in kept
        assert h.server.bot_errors == []
        assert h.server.unanswered_callbacks() == []
        delays = sorted(h.server.callback_delays())
        assert delays and delays[int(len(delays) * 0.99) - 1] < 1.0
        if not keep_to_limits:
            assert h.server.too_many_requests > 0  # 429s were met, and all waited out
