"""Telegram's flood limits: N clients at once against a local Bot API server as strict as
Telegram (a burst of 3 then 1 message a second per chat, 30 a second overall, 429 with
retry_after, presses forgotten after 15 s), the real bot and a bare PTB echo bot side by side.

Each client of the real bot joins and goes through the first questions (taps and answers);
each client of the echo bot sends the same number of texts and presses. Printed per bot:
updates, replies that arrived of those expected, 429s met, updates that failed, press →
answerCallbackQuery p50/p99, and the wall time.

Run: ``.venv/bin/python bench/rate_limits.py`` (30 clients; ``--clients N``; ``--waits-only``
makes the bot send without pacing itself, so every 429 is waited out).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.echo_run import EchoFigures, percentile_ms, run_echo  # noqa: E402
from localbotapi import Limits  # noqa: E402
from localbotapi.server import UserHandle  # noqa: E402
from tests.harness import Harness, harness  # noqa: E402

LIMITS = Limits(per_chat_burst=3, per_chat_per_second=1.0, global_per_second=30.0,
                global_burst=30, callback_window=15.0)
WAIT = 300.0


@dataclass
class Figures:
    updates: int
    replies: int
    expected: int
    too_many: int
    failed: int
    delays: list[float]
    seconds: float

    def pct(self, q: float) -> float:
        return percentile_ms(self.delays, q)


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "failed" in record.getMessage():
            self.count += 1


async def _tap(h: Harness, user: UserHandle, label: str) -> int:
    message = [m for m in user.messages if any(t.endswith(label) for r in m.buttons
                                               for t, _ in r)][-1]
    text = next(t for r in message.buttons for t, _ in r if t.endswith(label))
    update_id = await user.press(message, text)
    await h.handled(update_id, timeout=WAIT)
    return 1


async def _walk(h: Harness, user: UserHandle, token: str) -> int:
    await h.handled(await user.send_command("/start", token), timeout=WAIT)
    sent = 1 + await _tap(h, user, "Beginnen")
    for answer in ("Ik kan goed tekenen", "Dat ik goed luister", "Over mijn werk"):
        await h.handled(await user.send_text(f"{answer} ({user.user_id})"), timeout=WAIT)
        sent += 1
        sent += await _tap(h, user, "Verder")
    return sent


async def real_bot(clients: int, keep_to_limits: bool) -> Figures:
    errors = _Errors()
    logging.getLogger("gespreksmaatje").addHandler(errors)
    with tempfile.TemporaryDirectory(prefix="limits-") as folder:
        tmp = Path(folder)
        async with harness(f"sqlite+aiosqlite:///{tmp / 'bench.db'}", tmp, LIMITS,
                           keep_to_limits) as h:
            await h.start_bot()
            tokens = [await h.enrol("Sam") for _ in range(clients)]
            users = [h.server.user(9000 + n, first_name="Sam") for n in range(clients)]
            # The expected replies: one client alone, without limits.
            h.server.set_limits(None)
            reference = h.server.user(8999, first_name="Sam")
            await _walk(h, reference, await h.enrol("Sam"))
            expected = len(reference.messages) * clients
            h.server.set_limits(LIMITS)
            started = time.perf_counter()
            sent = await asyncio.gather(*(_walk(h, u, t) for u, t in zip(users, tokens,
                                                                          strict=True)))
            await h.server.wait_idle(quiet=0.5, timeout=WAIT)
            seconds = time.perf_counter() - started
            replies = sum(len(u.messages) for u in users)
            return Figures(sum(sent), replies, expected, h.server.too_many_requests,
                           errors.count, h.server.callback_delays(), seconds)


def table(real: Figures, echo: EchoFigures, clients: int, keep: bool) -> str:
    rows = [
        ("updates sent", f"{real.updates}", f"{echo.updates}"),
        ("replies arrived / expected", f"{real.replies} / {real.expected}",
         f"{echo.replies} / {echo.updates}"),
        ("429s met", f"{real.too_many}", f"{echo.too_many}"),
        ("updates failed", f"{real.failed}", f"{echo.failed} (RetryAfter in its log)"),
        ("press → answerCallbackQuery p50", f"{real.pct(0.5):.0f} ms", f"{echo.pct(0.5):.0f} ms"),
        ("press → answerCallbackQuery p99", f"{real.pct(0.99):.0f} ms",
         f"{echo.pct(0.99):.0f} ms"),
        ("wall time", f"{real.seconds:.1f} s", f"{echo.seconds:.1f} s"),
    ]
    pacing = "paces itself and waits out 429s" if keep else "waits out 429s only"
    lines = [f"{clients} clients at once; strict limits: burst 3 then 1/s per chat, 30/s "
             f"overall; the bot {pacing}", "",
             "| figure | Gespreksmaatje | echo bot |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument("--waits-only", action="store_true",
                        help="the bot does not pace itself: every 429 is met and waited out")
    args = parser.parse_args()
    keep = not args.waits_only
    real = asyncio.run(real_bot(args.clients, keep))
    echo = asyncio.run(run_echo(args.clients, real.updates // args.clients, LIMITS, pace=0.3))
    print(table(real, echo, args.clients, keep))
    ok = real.failed == 0 and real.replies == real.expected
    print(f"\nevery reply arrived, none failed: {'yes' if ok else 'NO'}"
          f" (delays median {statistics.median(real.delays) * 1000:.0f} ms)"
          if real.delays else "")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
