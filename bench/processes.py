"""Several bot processes on one PostgreSQL: throughput and first-reply latency with 1, 2 and
3 processes in one run (closed loop: every client answers as soon as it is asked).

Each run gets a fresh database in a private PostgreSQL cluster (started and removed here),
the local Bot API server (this process) and N real bots (`python -m bot run`) in webhook
mode behind a round-robin proxy (localbotapi/roundrobin.py), as behind a load balancer.
Then --clients clients go through the whole preparation at once (bench/dialog_load.py's
client and its reply clock). Speech is on, against a fake gTTS on 127.0.0.1; the bots' own
pacing is off, as in dialog_load. "CPU/update" adds up the bot processes (not PostgreSQL,
not this process, which plays Telegram and every client).

Run: ``.venv/bin/python bench/processes.py`` (200 clients), ``--clients 20`` for a short
run, ``--processes 1 3`` to choose the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import dialog_load as dl  # noqa: E402
from localbotapi import BotApiServer  # noqa: E402
from localbotapi.roundrobin import RoundRobinProxy  # noqa: E402
from tests.fake_gtts import FakeGtts  # noqa: E402
from tests.harness import free_port  # noqa: E402

WARM_CLIENTS = 3  # per process: the first preparations (caches, compiled SQL), not measured


@dataclass
class Row:
    processes: int
    clients: int
    updates: int
    seconds: float
    cpu: float
    p50: float
    p99: float
    stuck: int
    served: list[int]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


async def one_run(processes: int, clients: int, postgres: dl.PrivatePostgres) -> Row:
    workdir = Path(tempfile.mkdtemp(prefix="processes-"))
    database, db_url = await asyncio.to_thread(postgres.create_database)
    warm = WARM_CLIENTS * processes
    try:
        tokens = await dl._prepare_db(db_url, clients + warm)
        async with BotApiServer(token=dl.TOKEN, files_dir=workdir / "botapi") as server:
            clock = dl.ReplyClock(server)
            ports = [free_port() for _ in range(processes)]
            async with RoundRobinProxy([f"http://127.0.0.1:{p}" for p in ports]) as proxy:
                bots = [dl.BotProcess(dl.REAL, server, workdir, db_url, clients, label=f"-{i}",
                                      env={"WEBHOOK_URL": f"{proxy.url}/telegram/hook",
                                           "WEBHOOK_PORT": str(port)})
                        for i, port in enumerate(ports)]
                try:
                    await asyncio.gather(*(bot.start() for bot in bots))
                    people = [dl.Client(server.user(dl.FIRST_USER_ID + i, f"Client{i}"),
                                        tokens[i]) for i in range(clients + warm)]
                    policy = dl.DialogPolicy()

                    async def prepare(client: dl.Client) -> None:
                        while await policy.step(clock, client):
                            pass

                    await asyncio.gather(*(prepare(c) for c in people[:warm]))
                    clock.latencies.clear()
                    cpu0, started = sum(b.cpu() for b in bots), time.perf_counter()
                    await asyncio.gather(*(prepare(c) for c in people[warm:]))
                    seconds = time.perf_counter() - started
                    cpu = sum(b.cpu() for b in bots) - cpu0
                finally:
                    await asyncio.gather(*(bot.stop() for bot in bots))
                measured = people[warm:]
                served = [proxy.served[f"http://127.0.0.1:{p}"] for p in ports]
                return Row(processes, clients, sum(c.steps for c in measured), seconds, cpu,
                           dl.percentile_ms(clock.latencies, 50),
                           dl.percentile_ms(clock.latencies, 99),
                           sum(c.stuck for c in people), served)
    finally:
        await asyncio.to_thread(postgres.drop_database, database)
        shutil.rmtree(workdir, ignore_errors=True)


async def main_async(args: argparse.Namespace) -> None:
    print(f"processes: python {sys.version.split()[0]}, {psutil.cpu_count()} CPU(s), "
          f"PostgreSQL (private cluster), webhook mode behind a round-robin proxy, "
          f"{args.clients} clients at once (closed loop), speech on (fake gTTS), "
          f"the bots' pacing off")
    dl.PICTO_CACHE = Path(tempfile.mkdtemp(prefix="processes-pictos-"))
    fake_gtts = FakeGtts().start()
    dl.FAKE_GTTS_URL = fake_gtts.url
    postgres = dl.PrivatePostgres()
    await asyncio.to_thread(postgres.start)
    rows: list[Row] = []
    try:
        await asyncio.to_thread(dl._warm_pictos, dl.PICTO_CACHE)
        for n in args.processes:
            rows.append(await one_run(n, args.clients, postgres))
            row = rows[-1]
            print(f"  {n} process(es): {row.rate:.1f} updates/s, done in {row.seconds:.0f} s")
    finally:
        fake_gtts.stop()
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(dl.PICTO_CACHE, ignore_errors=True)
    base = rows[0]
    print(f"\n{'processes':>9} {'updates':>8} {'updates/s':>10} {'× first':>8} "
          f"{'p50 ms':>8} {'p99 ms':>8} {'CPU/update ms':>14} {'stuck':>6}  posts per process")
    for row in rows:
        print(f"{row.processes:>9} {row.updates:>8} {row.rate:>10.1f} "
              f"{row.rate / base.rate:>7.2f}x {row.p50:>8.1f} {row.p99:>8.1f} "
              f"{1000 * row.cpu / row.updates:>14.2f} {row.stuck:>6}  {row.served}")
    print(f"\nthis machine: {os.cpu_count()} core(s) shared by the bots, PostgreSQL and this "
          "process (the Bot API server and every client)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/processes.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    if args.clients < 1 or min(args.processes) < 1:
        parser.error("--clients and --processes must be positive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
