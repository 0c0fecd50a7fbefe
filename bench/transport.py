"""The bot's Bot API transport beside python-telegram-bot's default, in one run.

The local Bot API server runs in a process of its own; this process sends the same
sendMessage calls (50 chats, many at once, as a busy bot does) through python-telegram-bot's
default transport (httpx) and through ours (aiohttp, bot/telegram/transport.py), in turns,
and prints the CPU this process spent per call:

    .venv/bin/python bench/transport.py [--calls 600] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.telegram.transport import AiohttpRequest  # noqa: E402

TOKEN = "123:abc"
CHATS = 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([sys.executable, "-m", "localbotapi", "--port", str(port),
                               "--token", TOKEN], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:  # the chats exist once each user has written to the bot
        try:
            for user in range(CHATS):
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/_user/{1001 + user}/send_text",
                    data=json.dumps({"text": "hoi"}).encode(), method="POST",
                    headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).read()
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.1)


async def cpu_per_call(kind: str, port: int, calls: int) -> float:
    request = (HTTPXRequest(connection_pool_size=64) if kind == "httpx"
               else AiohttpRequest(connection_pool_size=64))
    async with Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request) as bot:
        for _ in range(20):  # connections open, code paths warm
            await bot.send_message(1001, "warm")
        started = time.process_time()
        await asyncio.gather(*(bot.send_message(1001 + i % CHATS, f"Hallo {i}")
                               for i in range(calls)))
        return 1000 * (time.process_time() - started) / calls


async def main(calls: int, rounds: int) -> None:
    port = free_port()
    server = start_server(port)
    try:
        figures: dict[str, list[float]] = {"httpx": [], "aiohttp": []}
        for _ in range(rounds):
            for kind in figures:
                figures[kind].append(await cpu_per_call(kind, port, calls))
    finally:
        server.terminate()
        server.wait(10)
    httpx_ms, aiohttp_ms = min(figures["httpx"]), min(figures["aiohttp"])
    print(f"CPU of the sending process per sendMessage ({calls} calls to {CHATS} chats at "
          f"once, best of {rounds})")
    print(f"  python-telegram-bot default (httpx)   {httpx_ms:6.3f} ms")
    print(f"  ours (aiohttp)                        {aiohttp_ms:6.3f} ms   "
          f"{aiohttp_ms / httpx_ms:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
