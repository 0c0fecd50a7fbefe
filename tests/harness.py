"""Drive the real bot as a person would: updates in over a local Bot API server, messages
out, rows in the database. Waiting is event-driven (the bot reports each handled update)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.settings import Settings, load_settings
from bot.state import crypto
from bot.state.migrate import upgrade
from bot.state.store import Store
from bot.telegram.app import BotRunner
from bot.telegram.media import build_media
from localbotapi import BotApiServer, Limits
from localbotapi.server import BotMessage, UserHandle

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:TEST-TOKEN"
# Picto cards are named by a hash of what they show, so all tests can share one cache.
PICTO_CACHE = Path(tempfile.gettempdir()) / "gespreksmaatje-test-pictos"


@dataclass
class Harness:
    server: BotApiServer
    settings: Settings
    store: Store
    runner: BotRunner | None = None
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event | None = None
    _handled: Counter[int] = field(default_factory=Counter)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # --- the bot ----------------------------------------------------------------------
    async def start_bot(self, with_media: bool = True,
                        runner: BotRunner | None = None) -> BotRunner:
        media = build_media(self.settings, self.store) if with_media else None
        self.runner = runner or BotRunner(self.settings, self.store, media=media,
                                          poll_timeout=1)
        self.runner.listeners.append(self._on_handled)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.runner.serve(self._stop))
        await self.server.wait_for(lambda: self.server.call_count("getUpdates") > 0
                                   or self.server.call_count("setWebhook") > 0, 10,
                                   lambda: "the bot never polled nor set its webhook")
        return self.runner

    async def stop_bot(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)
        self._task = None

    def _on_handled(self, update_id: int) -> None:
        self._handled[update_id] += 1
        self._changed.set()

    async def handled(self, update_id: int, times: int = 1,
                      timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until the bot has been through this update `times` times."""
        async def wait() -> None:
            while self._handled[update_id] < times:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)

    # --- people -----------------------------------------------------------------------
    async def enrol(self, name: str, days: int = 30) -> str:
        _client, token = await self.store.create_client_invite(name, days)
        return token

    async def join(self, user_id: int, name: str) -> UserHandle:
        """A client enrolled by the begeleider taps the start link."""
        token = await self.enrol(name)
        user = self.server.user(user_id, first_name=name)
        await self.act(user, user.send_command("/start", token))
        return user

    async def act(self, user: UserHandle, action: Any) -> list[BotMessage]:
        """Do something as `user`; return the bot messages it caused."""
        before = len(user.messages)
        update_id = await action
        await self.handled(update_id)
        return user.messages[before:]

    async def say(self, user: UserHandle, text: str) -> list[BotMessage]:
        return await self.act(user, user.send_text(text))

    async def tap(self, user: UserHandle, label: str) -> list[BotMessage]:
        """Press the button labelled `label` (its picto emoji in front may be left out) on
        the newest message that has it."""
        for message in reversed(user.messages):
            for row in message.buttons:
                for text, _data in row:
                    if not message.deleted and (text == label or text.endswith(" " + label)):
                        return await self.act(user, user.press(message, text))
        raise AssertionError(f"no button {label!r}; {user.describe()}")

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.store.unit() as unit:
            return list((await unit.session.execute(select(model).where(*where))).scalars())


def labels(messages: list[BotMessage]) -> list[str]:
    return [text for m in messages for row in m.buttons for text, _ in row]


def texts(messages: list[BotMessage]) -> str:
    """What the person reads: texts, and the captions under the picto cards."""
    return "\n".join(m.content for m in messages if m.kind in {"text", "photo"} and m.content)


def questions(messages: list[BotMessage]) -> list[str]:
    """What the bot asks: the last paragraph of each message that asks something (a note
    such as "Dank je." stands before it in the same message)."""
    return [m.content.split("\n\n")[-1] for m in messages
            if m.kind in {"text", "photo"} and "?" in m.content.split("\n\n")[-1]]


@contextlib.asynccontextmanager
async def harness(db_url: str, tmp: Path, limits: Limits | None = None,
                  keep_to_limits: bool = True) -> AsyncIterator[Harness]:
    """`limits`: the local server answers 429 like Telegram; `keep_to_limits`: the bot
    keeps to them before it is told (False: it only waits out the 429s it gets)."""
    keep = limits is not None and keep_to_limits
    async with BotApiServer(token=TOKEN, files_dir=tmp / "botapi", limits=limits) as server:
        settings = load_settings(
            telegram_bot_token=TOKEN, telegram_api_url=server.base_url,
            telegram_file_url=server.file_url, database_url=db_url, data_dir=tmp / "data",
            speech_enabled=False, picto_cache_dir=PICTO_CACHE, _env_file=None,
            # The local server limits nothing unless a test asks: send without waiting.
            send_per_second=25 if keep else 0,
            chat_per_second=limits.per_chat_per_second if limits and keep else 0,
            chat_burst=limits.per_chat_burst if limits and keep else 3)
        # The data key as the bot process finds it (<data_dir>/data.key): a bot started as
        # `python -m bot run` on the same data folder reads what this process wrote.
        crypto.install(crypto.ring_from_settings("", "", settings.data_dir))
        await upgrade(db_url)
        store = Store(db_url)
        h = Harness(server, settings, store)
        try:
            yield h
        finally:
            await h.stop_bot()
            await store.close()


@contextlib.asynccontextmanager
async def running(db_url: str, tmp: Path, **settings: Any) -> AsyncIterator[Harness]:
    """A harness whose bot runs with `settings` changed (speech on, a webhook, …)."""
    async with harness(db_url, tmp) as h:
        h.settings = h.settings.model_copy(update=settings)
        await h.start_bot()
        yield h


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BotProcess:
    """The real bot (`python -m bot run`) in a process of its own."""

    def __init__(self, h: Harness, tmp: Path, name: str = "bot") -> None:
        self.h, self.tmp, self.name = h, tmp, name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, crash_at: str = "", **env_extra: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GESPREKSMAATJE")}
        env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.h.server.base_url,
            "TELEGRAM_FILE_URL": self.h.server.file_url, "DATABASE_URL": self.h.store.url,
            "DATA_DIR": str(self.tmp / "data"), "SPEECH_ENABLED": "false",
            "PICTO_CACHE_DIR": str(PICTO_CACHE), "PYTHONPATH": str(ROOT),
            # Paced like the in-process harness: the local server limits nothing, so the
            # bot need not wait a second per message in a chat (real time, not a signal).
            "SEND_PER_SECOND": str(self.h.settings.send_per_second),
            "CHAT_PER_SECOND": str(self.h.settings.chat_per_second),
            "CHAT_BURST": str(self.h.settings.chat_burst),
        })
        env.update(env_extra)
        if crash_at:
            env["GESPREKSMAATJE_CRASH_AT"] = crash_at
        log = (self.tmp / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=self.tmp,
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1

    @property
    def dead(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    async def stop(self) -> None:
        """Stop gracefully; the wait runs in a thread because the bot's last calls go to
        the server in this test's event loop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, 15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
