"""The yardstick in a benchmark's own run: `bench/echo_bot.py` (a bare PTB echo bot) in a
process of its own against a local Bot API server, driven by N users at once who send texts
and press its button. Used by bench/fuzz.py and bench/rate_limits.py."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from localbotapi import BotApiServer, Limits
from localbotapi.server import UserHandle

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class EchoFigures:
    updates: int
    replies: int
    too_many: int
    failed: int  # RetryAfter tracebacks in its log: replies it dropped
    delays: list[float]  # press → answerCallbackQuery, seconds
    seconds: float

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile_ms(self.delays, q)


def percentile_ms(delays: list[float], q: float) -> float:
    """The q-quantile of delays in seconds, in milliseconds (nan when there are none)."""
    if not delays:
        return float("nan")
    ordered = sorted(delays)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_echo(users: int, per_user: int, limits: Limits | None = None,
                   pace: float = 0.0, wait: float = 300.0) -> EchoFigures:
    """Each user alternates a text and a press of the echo bot's button, waiting for each
    reply when `pace` is 0 (closed loop), else sending every `pace` seconds."""
    with tempfile.TemporaryDirectory(prefix="echo-") as folder:
        async with BotApiServer(token="123456:ECHO", files_dir=Path(folder),
                                limits=limits) as server:
            env = {**os.environ, "TELEGRAM_BOT_TOKEN": server.token,
                   "TELEGRAM_API_URL": server.base_url, "TELEGRAM_FILE_URL": server.file_url,
                   "LOG_LEVEL": "ERROR"}
            log_path = Path(folder) / "echo.log"
            with log_path.open("w") as log_file:  # a file: a full pipe would stall the bot
                process = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                    [sys.executable, str(ROOT / "bench" / "echo_bot.py")], env=env,
                    stdout=subprocess.DEVNULL, stderr=log_file)
            try:
                await server.wait_for(lambda: server.call_count("getUpdates") > 0, 30,
                                      lambda: "the echo bot never polled")
                people = [server.user(9000 + n, first_name="Sam") for n in range(users)]
                started = time.perf_counter()
                await asyncio.gather(*(_walk(server, p, per_user, pace, wait)
                                       for p in people))
                await server.wait_idle(quiet=1.0 if pace else 0.2, timeout=wait)
                seconds = time.perf_counter() - started
                replies = sum(len(p.messages) for p in people)
            finally:
                process.terminate()
                process.wait(timeout=10)
            failed = log_path.read_text().count("telegram.error.RetryAfter:")
            return EchoFigures(users * per_user, replies, server.too_many_requests, failed,
                               server.callback_delays(), seconds)


async def _walk(server: BotApiServer, user: UserHandle, steps: int, pace: float,
                wait: float) -> None:
    for step in range(steps):
        before = len(user.messages)
        if step % 2 == 0 or not user.messages:
            await user.send_text(f"bericht {step}")
        else:
            await user.press(user.messages[-1], "➡️ Verder")
        if pace:
            await asyncio.sleep(pace)  # a person's pace; replies may lag
        else:
            await server.wait_for(lambda n=before: len(user.messages) > n, wait,
                                  lambda: "the echo bot did not answer")
