"""Fuzz benchmark: hostile and confused Telegram users against the real bot, many updates.

The generator and driver live in tests/fuzz.py (tests/test_fuzz.py runs a short version);
this script runs a long one and prints the figures as a table, then every distinct failure
with the action that first caused it.

Run: ``.venv/bin/python bench/fuzz.py`` (10,000 updates, seed 1),
``--updates N --seed N --max-seconds S --db URL --extra-clients N --no-media --limits``.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like packages (bench/pictos.py): import from the repository root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.echo_run import run_echo  # noqa: E402
from tests.fuzz import FuzzConfig, FuzzReport, run_fuzz  # noqa: E402

ECHO_USERS = 12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=10_000,
                        help="updates to send, the set-up included (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="stop sending after this many seconds (default 1800)")
    parser.add_argument("--update-timeout", type=float, default=30.0,
                        help="seconds to wait for the bot to handle one update (default 30)")
    parser.add_argument("--extra-clients", type=int, default=6,
                        help="invited clients besides the base six (default 6)")
    parser.add_argument("--db", default="",
                        help="database URL (default: a fresh SQLite file in a temp folder)")
    parser.add_argument("--no-media", action="store_true",
                        help="no picto cards (and no PDFs): the dialogs and the store only")
    parser.add_argument("--limits", action="store_true",
                        help="the local server as strict as Telegram (flood limits, callback "
                             "window); the bot then paces itself: much slower")
    args = parser.parse_args()
    config = FuzzConfig(seed=args.seed, updates=args.updates, max_seconds=args.max_seconds,
                        update_timeout=args.update_timeout, extra_clients=args.extra_clients,
                        media=not args.no_media, limits=args.limits)
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        tmp = Path(folder)
        db_url = args.db or f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"
        report: FuzzReport = asyncio.run(run_fuzz(db_url, tmp, config))
    print(report.table())
    print()
    echo = asyncio.run(run_echo(ECHO_USERS, max(2, report.updates // ECHO_USERS)))
    print(f"The yardstick in the same run: {echo.updates} texts and presses from "
          f"{ECHO_USERS} users to a bare PTB echo bot (closed loop, no limits).")
    print()
    print("| figure | Gespreksmaatje (fuzz) | echo bot |")
    print("|---|---|---|")
    print(f"| updates/s | {report.rate:.1f} | {echo.rate:.1f} |")
    p50, p99 = report.percentile(0.5), report.percentile(0.99)
    print(f"| press → answerCallbackQuery p50 | {(p50 or 0) * 1000:.0f} ms | "
          f"{echo.pct(0.5):.0f} ms |")
    print(f"| press → answerCallbackQuery p99 | {(p99 or 0) * 1000:.0f} ms | "
          f"{echo.pct(0.99):.0f} ms |")
    print()
    print(report.failures_text())
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
