"""Wire the sandbox: the local Bot API server, the real bot, and the chat page, in one
process and one event loop. Nothing leaves the machine; no Telegram token is needed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field

from aiohttp import web

from bot.settings import Settings
from bot.state.migrate import upgrade
from bot.state.store import Store
from bot.telegram.app import BotRunner
from bot.telegram.media import TelegramMedia, build_media
from localbotapi import BotApiServer
from sandbox.demo import CLIENT, PERSONAS, client_start_arg, seed_demo
from sandbox.web import SandboxWeb

log = logging.getLogger("gespreksmaatje.sandbox")

HOST = "127.0.0.1"
BOT_USERNAME = "gespreksmaatje_sandbox_bot"
BOT_READY_SECONDS = 20.0


class SandboxError(Exception):
    """One line for the operator (port taken, bot did not start)."""


@dataclass
class SandboxHandle:
    url: str
    server: BotApiServer
    runner: BotRunner
    store: Store
    settings: Settings
    page: SandboxWeb
    _site: web.AppRunner
    _bot_task: asyncio.Task[None]
    _bot_stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self) -> None:
        """Browsers first (their streams), then the bot, then the server and database."""
        self.page.close_streams()
        await self._site.cleanup()
        self._bot_stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._bot_task, 15)
        await self.server.stop()
        await self.store.close()


def sandbox_settings(settings: Settings) -> Settings:
    """The sandbox's own SQLite file unless a database is configured explicitly: a demo
    must never mix with the real bot's data."""
    if settings.database_url:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{(settings.data_dir / 'sandbox.db').as_posix()}"
    return settings.model_copy(update={"database_url": url})


def bot_token() -> str:
    """A fresh token per run, shaped like BotFather's (digits:secret)."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"


async def start_sandbox(settings: Settings, port: int = 0, demo: bool = False,
                        host: str = HOST, with_media: bool = True,
                        media: TelegramMedia | None = None) -> SandboxHandle:
    """Start everything; port 0 picks a free one (tests). Pictos and speech as the real
    bot has them unless `with_media` is False. Raises SandboxError."""
    settings = sandbox_settings(settings)
    await upgrade(settings.db_url)
    store = Store(settings.db_url)
    async with contextlib.AsyncExitStack() as undo:
        undo.push_async_callback(store.close)
        if demo:
            await seed_demo(store, settings.tz)
        start_args = {CLIENT.key: await client_start_arg(store, CLIENT)}
        token = bot_token()
        server = await BotApiServer(token=token, bot_username=BOT_USERNAME, host=HOST).start()
        undo.push_async_callback(server.stop)
        page = SandboxWeb(server, PERSONAS, start_args)
        site = await _serve_page(page, host, port)
        undo.push_async_callback(site.cleanup)
        if media is None and with_media:
            media = _media(settings, store)
        runner, task, stop = await _start_bot(settings, store, server, media)
        handle = SandboxHandle(f"http://{host}:{_port_of(site)}", server, runner, store,
                               settings, page, site, task, stop)
        undo.pop_all()
        return handle
    raise AssertionError("unreachable")  # the exit stack re-raises on failure


def _media(settings: Settings, store: Store) -> TelegramMedia:
    from pictos import ManifestError

    try:
        return build_media(settings, store)
    except ManifestError as error:
        raise SandboxError(f"PICTO_MANIFEST: {error}") from None


async def _serve_page(page: SandboxWeb, host: str, port: int) -> web.AppRunner:
    site_runner = web.AppRunner(page.app(), access_log=None, shutdown_timeout=1.0)
    await site_runner.setup()
    try:
        await web.TCPSite(site_runner, host, port).start()
    except OSError as error:
        await site_runner.cleanup()
        raise SandboxError(f"cannot open {host}:{port} for the chat page ({error.strerror}); "
                           "choose another port with --port") from None
    return site_runner


async def _start_bot(settings: Settings, store: Store, server: BotApiServer,
                     media: TelegramMedia | None,
                     ) -> tuple[BotRunner, asyncio.Task[None], asyncio.Event]:
    """The real bot, pointed at the local server; ready once it polls."""
    bot_settings = settings.model_copy(update={
        "telegram_bot_token": server.token, "telegram_api_url": server.base_url,
        "telegram_file_url": server.file_url, "bot_username": server.bot_username})
    runner = BotRunner(bot_settings, store, media=media, poll_timeout=2)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.serve(stop), name="sandbox-bot")

    def polling() -> bool:
        return server.call_count("getUpdates") > 0 or task.done()

    try:
        await server.wait_for(polling, BOT_READY_SECONDS, "the bot to start polling")
    except AssertionError:
        stop.set()
        task.cancel()
        raise SandboxError("the bot did not start within "
                           f"{BOT_READY_SECONDS:.0f} seconds") from None
    if task.done():
        error = task.exception()
        raise SandboxError(f"the bot stopped at start-up: {error!r}")
    return runner, task, stop


def _port_of(site: web.AppRunner) -> int:
    return int(site.addresses[0][1])


async def run_sandbox(settings: Settings, port: int, demo: bool, stop: asyncio.Event) -> None:
    """`python -m bot sandbox`: run until `stop` is set (Ctrl+C)."""
    handle = await start_sandbox(settings, port=port, demo=demo)
    try:
        print(f"Sandbox: open {handle.url} in your browser (Ctrl+C stops it).", flush=True)
        await stop.wait()
    finally:
        await handle.stop()
