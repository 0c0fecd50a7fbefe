"""Backup and restore time for 500 clients (each with the sample agenda: answers, topics of
naasten, agreements), on SQLite, or on PostgreSQL with --database-url (an empty database;
the restore goes into <name>_restored, made anew).

    .venv/bin/python bench/backup.py [--clients 500] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.agenda.sample import seed_sample_agenda  # noqa: E402
from bot.state import crypto  # noqa: E402
from bot.state.backup import backup, restore  # noqa: E402
from bot.state.migrate import upgrade  # noqa: E402

NOW = datetime(2025, 11, 24, 12, 0, tzinfo=UTC)


async def fill(url: str, clients: int) -> None:
    await upgrade(url)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine)() as db:
        for number in range(clients):
            await seed_sample_agenda(db, NOW, name=f"Client {number}")
        await db.commit()
    await engine.dispose()


def restored_url(url: str) -> str:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}_restored"')
        conn.execute(f'CREATE DATABASE "{name}_restored"')
    return f"{base}/{name}_restored"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    crypto.install(crypto.KeyRing(crypto.parse_key(crypto.new_key())))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        start = time.perf_counter()
        asyncio.run(fill(url, args.clients))
        filled = time.perf_counter() - start
        out = Path(tmp) / "backup.gm"
        start = time.perf_counter()
        size = backup(url, Path(tmp) / "data", out)
        took_backup = time.perf_counter() - start
        target = (restored_url(url) if args.database_url
                  else f"sqlite+aiosqlite:///{tmp}/restored.db")
        start = time.perf_counter()
        restore(target, Path(tmp) / "restored", out, empty=True)
        took_restore = time.perf_counter() - start
    kind = "postgresql" if args.database_url else "sqlite"
    print(f"backup bench: {args.clients} clients on {kind} (filled in {filled:.1f} s, "
          "not measured)")
    print(f"backup:  {took_backup:.2f} s, {size / 1e6:.1f} MB encrypted")
    print(f"restore: {took_restore:.2f} s")


if __name__ == "__main__":
    main()
