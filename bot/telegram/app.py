"""Build and run the python-telegram-bot Application: durable inbox, per-chat order,
one handler for every update, replies after the commit, start-up sweep."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import time
import traceback
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from telegram import Bot, CallbackQuery, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError, TimedOut
from telegram.ext import Application, ApplicationBuilder, ContextTypes, ExtBot, TypeHandler

from bot.clock import Clock, SystemClock
from bot.dialogs import transcript
from bot.dialogs.client_prep import fixed_spoken_texts
from bot.dialogs.look import wearing
from bot.dialogs.texts import t
from bot.faults import checkpoint
from bot.ops import metrics
from bot.ops.http import OpsServer
from bot.schedule import Dispatcher, SendLater, Undeliverable, startup
from bot.schedule.housekeeping import Notice
from bot.service import Service
from bot.service.types import EarlierFirst, Outgoing
from bot.settings import Settings
from bot.state.store import SqlStats, Store
from bot.telegram.answer_files import AnswerFiles
from bot.telegram.inbox import DurableUpdateQueue
from bot.telegram.inputs import to_incoming
from bot.telegram.media import TelegramMedia
from bot.telegram.processor import PerChatUpdateProcessor
from bot.telegram.ratelimit import ChatRateLimiter
from bot.telegram.sender import Sender
from bot.telegram.transcribe import Engine, Transcriber
from bot.telegram.transport import AiohttpRequest

log = logging.getLogger("gespreksmaatje")


class StartupError(Exception):
    """One line for the operator (wrong token, Telegram unreachable at start)."""


class OutageAwareBot(ExtBot[Any]):
    """Logs one line when polling starts failing and one when it works again; answers the
    button presses of a fetched batch at once."""

    _outage = False  # PTB freezes public attributes of a Bot; "_" ones stay settable
    _inbox: DurableUpdateQueue | None = None  # each fetched batch is committed here first
    _conflict = False  # said once per process: two pollers keep taking turns
    _presses: set[asyncio.Task[None]]
    _fetched: list[dict[str, Any]] = []  # the last getUpdates batch, as Telegram's JSON

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        self._fetched = []
        updates = await super().get_updates(*args, **kwargs)
        if self._outage:
            self._outage = False
            log.warning("Telegram reachable again")
        self._answer_presses(updates)
        if self._inbox is not None:  # one commit for the whole batch
            await self._inbox.store_batch(updates, self._fetched)
        return updates

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            # Telegram's JSON of the batch, as it came: what the inbox keeps (turning each
            # Update back into JSON cost more than the rest of writing it).
            self._fetched = result
        return result

    def _answer_presses(self, updates: tuple[Update, ...]) -> None:
        """Answer every press of the batch now (Telegram shows a spinner until then and
        forgets the press after 15 s), not one by one as the updates are written to the
        inbox: a batch of 30 would keep the last press waiting for 29 writes. Safe before
        the commit: an update lost in a crash is fetched again (its offset is not confirmed
        yet), and a second answer to the same press is simply refused. What the press did
        follows in the chat."""
        if not hasattr(self, "_presses"):
            self._presses = set()
        for update in updates:
            if update.callback_query is not None:
                task = asyncio.create_task(_answer(self, update.callback_query))
                self._presses.add(task)
                task.add_done_callback(self._presses.discard)


async def _answer(bot: Bot, query: CallbackQuery) -> None:
    with contextlib.suppress(TelegramError):  # Telegram's answer (True) is not read
        await bot.do_api_request("answer_callback_query",
                                 api_kwargs={"callback_query_id": query.id})


def polling_error(bot: OutageAwareBot) -> Any:
    def on_error(error: TelegramError) -> None:
        if isinstance(error, InvalidToken):
            log.error("Telegram refused the token (401 Unauthorized): check TELEGRAM_BOT_TOKEN")
            return
        if isinstance(error, Conflict):  # not an outage: another process polls this token
            if not bot._conflict:
                bot._conflict = True
                log.warning("Another process is polling with this bot token (409 Conflict); "
                            "the processes take turns and lose nothing, but run one poller "
                            "or use webhooks")
            return
        if not bot._outage:
            bot._outage = True
            log.warning("Telegram unreachable (%s); retrying with backoff", error)
    return on_error


class NoUpdateContent(logging.Filter):
    """python-telegram-bot logs a whole getUpdates batch when it cannot parse one
    ("Error while parsing updates! Received data was …"): people's messages. Keep the line,
    drop the data."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "received data" in str(record.msg).lower() and record.args:
            # Also the webhook server's "Webhook received data: %s" (an update's JSON).
            data = record.args[0] if isinstance(record.args, tuple) else record.args
            count = len(data) if isinstance(data, list) else 1
            record.args = (f"<{count} updates, content not logged>",)
        return True


class NoCallContent(logging.Filter):
    """At DEBUG python-telegram-bot logs every Bot API call's parameters and result (the
    texts sent, the updates received), aiosqlite every statement with its values and
    SQLAlchemy every row read: the lines stay, the content goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if (record.name.startswith("aiosqlite") or msg.startswith("Row")) and record.args:
            count = len(record.args) if isinstance(record.args, tuple) else 1
            record.args = ("<not logged>",) * count
        elif ("Bot API endpoint" in msg and isinstance(record.args, tuple)
              and len(record.args) >= 2):
            record.args = (record.args[0], "<content not logged>", *record.args[2:])
        elif isinstance(record.args, tuple):  # "Processing update %s": its id only
            record.args = tuple(f"<update {a.update_id}>" if isinstance(a, Update) else a
                                for a in record.args)
        return True


class NoErrorContent(logging.Filter):
    """An error of our own code may quote what a person typed (a ValueError with the input):
    the failed-update line names the error's type and where it was raised, not its message.
    Errors of the database (values hidden) and of Telegram (no message texts) keep it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or _plain(error):
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(_described(a) if isinstance(a, BaseException) else a
                                for a in record.args)
        frames = "".join(traceback.format_tb(error.__traceback__))
        record.exc_text = (f"Traceback (most recent call last):\n{frames}"
                           f"{_described(error)}").rstrip()
        return True


class NoDebugLines(logging.Filter):
    """gTTS logs each text it speaks, and its parts, at DEBUG: those lines are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


def _plain(error: BaseException) -> bool:
    """Telegram's and the database's errors (SQLAlchemy's, named by module: this layer
    does not import sqlalchemy) say no person's words."""
    return isinstance(error, TelegramError) or any(
        kind.__module__.startswith("sqlalchemy.") for kind in type(error).__mro__)


def _described(error: BaseException) -> str:
    return repr(error) if _plain(error) else f"{type(error).__name__} (message not logged)"


def keep_content_out_of_logs() -> None:
    """Once per process: the filters on python-telegram-bot's, aiosqlite's and our own
    loggers (a filter on a logger sees only the records made on that logger)."""
    wanted: list[tuple[str, type[logging.Filter]]] = [
        ("telegram.Bot", NoUpdateContent), ("telegram.Bot", NoCallContent),
        ("telegram.ext.ExtBot", NoUpdateContent), ("telegram.ext.ExtBot", NoCallContent),
        ("telegram.ext.Application", NoCallContent), ("telegram.ext.Updater", NoCallContent),
        ("telegram.ext.Updater", NoUpdateContent),
        ("aiosqlite", NoCallContent), ("sqlalchemy.engine.Engine", NoCallContent),
        ("gtts.tts", NoDebugLines), ("gespreksmaatje", NoErrorContent)]
    for name, kind in wanted:
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


# Seconds after which an unsent turn is surely no live process's (its "sent" mark would be in).
SETTLED = 1.0
GRACE = 10.0  # seconds a background task gets to finish when the bot stops


def webhook_secret(settings: Settings) -> str:
    """WEBHOOK_SECRET, or one derived from the bot token: every process of one bot agrees
    on it without another setting, and it says nothing about the token."""
    if settings.webhook_secret:
        return settings.webhook_secret
    digest = hashlib.sha256(b"gespreksmaatje-webhook:" + settings.telegram_bot_token.encode())
    return digest.hexdigest()


async def finish(task: asyncio.Task[Any], grace: float) -> None:
    """Let a task end on its own; cancel it only when it takes longer than `grace`."""
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("a background task failed while the bot stopped")


class BotRunner:
    """Everything the running bot needs, wired once."""

    def __init__(self, settings: Settings, store: Store, media: TelegramMedia | None = None,
                 poll_timeout: int = 10, clock: Clock | None = None,
                 schedule_every: float = 30.0) -> None:
        self.settings = settings
        self.store = store
        keep_content_out_of_logs()
        clock = clock or SystemClock()
        # Several processes share the work only with a webhook on PostgreSQL (a second long
        # poller gets 409 from Telegram): only then is a chat held across processes.
        self.shared = store.is_postgres and bool(settings.webhook_url)
        self.service = Service(store, settings.tz, settings.invite_days,
                               looks=media.looks if media else None, settings=settings,
                               now=clock.now, shared=self.shared)
        self.media = media
        self.poll_timeout = poll_timeout
        self.schedule_every = schedule_every
        request = AiohttpRequest(connection_pool_size=64, read_timeout=poll_timeout + 10)
        updates_request = AiohttpRequest(connection_pool_size=2, read_timeout=poll_timeout + 10)
        self.bot = OutageAwareBot(
            settings.telegram_bot_token, base_url=settings.telegram_api_url,
            base_file_url=settings.telegram_file_url, request=request,
            get_updates_request=updates_request, rate_limiter=ChatRateLimiter(
                settings.send_per_second, settings.chat_burst, settings.chat_per_second),
        )
        inbox = self.inbox = DurableUpdateQueue(store)
        self.bot._inbox = inbox
        self.app: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder().bot(self.bot)
            .update_queue(inbox)
            .concurrent_updates(PerChatUpdateProcessor(256))
            .build()
        )
        self.app.add_handler(TypeHandler(Update, self._on_update))
        self.app.add_error_handler(self._on_error)
        self.sender = Sender(self.bot, media)
        self._late_sweep: asyncio.Task[None] | None = None
        # Set when serve() ends: background work stops at its next step instead of being
        # cancelled inside a database call (a connection cut mid-query may never close).
        self._stopping = asyncio.Event()
        # Voice answers written out, when the organisation has an engine (issue 19).
        self.transcriber = Transcriber(Engine(
            settings.transcribe_url, settings.transcribe_model, settings.transcribe_key,
            settings.transcribe_timeout)) if settings.transcribe_url else None
        self._transcribing: set[asyncio.Task[None]] = set()
        self.files = AnswerFiles(self.bot, store, settings.data_dir / "answers",
                                 kept=self._kept if self.transcriber else None)
        self.processor: PerChatUpdateProcessor = self.app.update_processor  # type: ignore[assignment]
        self.dispatcher = Dispatcher(store, clock, self.send_planned,
                                     settings=settings, notify=self.send_notice)
        # Called with each update id once it is handled and its replies are out (tests,
        # the sandbox and the benchmark wait on this instead of on the clock).
        self.listeners: list[Any] = []

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.handle(update)

    async def handle(self, update: Update, chat_held: bool = False) -> None:
        """Handle an update and send its replies; `chat_held`: the caller holds its chat
        already (an earlier update handled first)."""
        started = time.perf_counter()
        try:
            chat = update.effective_chat
            async with self._hold(None if chat_held or chat is None else chat.id):
                await self._handle(update)
        except Exception as error:  # noqa: BLE001 - one bad update must not stop the rest
            metrics.UPDATES_FAILED.inc()
            await self._failed(update, error)
        finally:
            metrics.observe_update(started)
            for listener in self.listeners:
                listener(update.update_id)

    async def _failed(self, update: Update, error: Exception) -> None:
        """A bug or a database hiccup: keep the raw update (marked failed, so a restart does
        not replay it forever), tell the person kindly, log one line for the operator."""
        log.error("update=%d failed: %r", update.update_id, error, exc_info=error)
        stored = await self.inbox.store_now(update.update_id)  # if its turn was to write it
        with contextlib.suppress(Exception):
            await self.store.inbox_failed(update.update_id)
        if stored:
            self.inbox.settled(update.update_id)  # its offset may be confirmed now
        chat = update.effective_chat
        if chat is not None and chat.type == "private":
            with contextlib.suppress(TelegramError):
                await self.bot.send_message(chat.id, t("error_sorry"))

    async def _handle(self, update: Update) -> None:
        incoming = to_incoming(update)
        fetched = self.inbox.unstored(update.update_id)
        if fetched is not None:  # fetched alone: the turn writes it to the inbox
            incoming = replace(incoming, fetched=fetched)
        outgoing = await self.service.handle(incoming)  # committed when it returns
        self.inbox.settled(update.update_id)  # its offset may be confirmed now
        taken: set[int] = set()
        while isinstance(outgoing, EarlierFirst):  # several processes: keep the chat's order
            if outgoing.update_id in taken:
                raise RuntimeError(f"update {outgoing.update_id} stays before this one")
            taken.add(outgoing.update_id)
            earlier = Update.de_json(outgoing.payload, self.bot)
            log.info("update=%d first takes over update=%d", update.update_id,
                     outgoing.update_id)
            if earlier is not None:
                await self.handle(earlier, chat_held=True)
            outgoing = await self.service.handle(incoming)
        checkpoint("committed")
        query = update.callback_query
        if outgoing is None or not outgoing.replies:
            return
        pressed = query.message.message_id if query is not None and query.message else None
        delivered = await self.deliver(outgoing, pressed)
        if delivered:
            self.service.replies_sent(outgoing)
        for chat_id, reply in outgoing.also:
            await self.sender.send(chat_id, [reply])
        if incoming.input is not None and incoming.input.file_id:
            await self._keep_files(update.update_id)

    async def _keep_files(self, update_id: int | None) -> None:
        for chat_id, reply in await self.files.keep(update_id):
            await self.sender.send(chat_id, [reply])

    def _kept(self, answer_id: int, kind: str, data: bytes) -> None:
        """A voice answer is stored and kept: write it out in a task of its own (a slow
        engine delays nobody, not even this client's next message)."""
        if kind in transcript.KINDS:
            task = asyncio.create_task(self._transcribe(answer_id, kind, data))
            self._transcribing.add(task)
            task.add_done_callback(self._transcribing.discard)

    async def _transcribe(self, answer_id: int, kind: str, data: bytes) -> None:
        assert self.transcriber is not None
        if not await self.service.transcript_wanted(answer_id):
            return
        words = await self.transcriber.text(data, kind)
        if words is None:
            log.info("answer=%d not written out (nothing usable)", answer_id)
            return
        outgoing = await self.service.heard(answer_id, words)
        if outgoing is not None:
            async with self.processor.lock_for(outgoing.chat_id):
                await self.deliver(outgoing)

    async def transcriptions_settled(self) -> None:
        """Wait for the voice answers being written out now (tests, the benchmark)."""
        while self._transcribing:
            await asyncio.gather(*self._transcribing, return_exceptions=True)

    async def send_planned(self, row: Any) -> None:
        """The dispatcher's callback: one planned message (a planned_send row: kind,
        client_id, person_id), under the chat's lock (so it never interleaves with that
        person's own updates)."""
        chat_id = await self.store.chat_of(row.person_id)
        if chat_id is None:
            raise Undeliverable("no chat")
        async with self.processor.lock_for(chat_id):
            outgoing = await self.service.scheduled(row.kind, row.client_id, row.person_id,
                                                    self.dispatcher.clock.now())
            if outgoing is None:
                return
            try:
                delivered = await self.deliver(outgoing)
            except (NetworkError, TimedOut) as error:
                raise SendLater(60) from error
            if not delivered:
                raise Undeliverable("blocked")

    async def send_notice(self, notice: Notice) -> None:
        """The dispatcher's callback for a retention notice to a begeleider."""
        outgoing = await self.service.retention_notice(notice)
        if outgoing is not None:
            async with self.processor.lock_for(outgoing.chat_id):
                await self.deliver(outgoing)

    async def deliver(self, outgoing: Outgoing, pressed: int | None = None) -> bool:
        """Send a turn's replies as the person chose (speech, slow) and their organisation
        chose (read-backs offline). False if the chat blocked the bot."""
        with wearing(outgoing.look):  # their organisation's texts and pictures
            return await self.sender.send(outgoing.chat_id, outgoing.replies, pressed,
                                          speech=outgoing.speech, slow=outgoing.slow,
                                          offline=outgoing.offline)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else "-"
        log.error("update=%s failed: %r", update_id, context.error, exc_info=context.error)

    def _hold(self, chat_id: int | None) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the chat against other processes (Store.chat_held) when they share the
        work; else nothing to hold (this process's per-chat lock keeps the order)."""
        if self.shared and chat_id is not None:
            return self.store.chat_held(chat_id)
        return contextlib.nullcontext()

    async def sweep(self) -> None:
        """Handle what was stored but not handled, then re-ask questions whose replies may
        not have gone out (the process died between commit and send)."""
        await self._handle_waiting(None, "resumed")
        await self._keep_files(None)  # files of answers stored before a crash
        # Every turn that ended before this start is asked again once its "sent" mark has
        # had time to come in: a turn of another poller that is still sending is left
        # alone, and one of a process that died (also just before a quick restart) is not.
        self._late_sweep = asyncio.create_task(self._reask(datetime.now(UTC)))

    async def take_over_orphans(self, context: object = None) -> None:
        """Several processes: handle updates that another process stored and then died with
        (the claim makes each happen once, the chat's hold keeps the order)."""
        before = datetime.now(UTC) - timedelta(seconds=self.settings.orphan_seconds)
        await self._handle_waiting(before, "taken over")

    async def _handle_waiting(self, received_before: datetime | None, said: str) -> None:
        """Stored updates not handled yet (those received before `received_before`), oldest
        first, each under its chat's lock."""
        for update_id, payload in await self.store.inbox_pending(received_before):
            update = Update.de_json(payload, self.bot)
            if update is None or self._stopping.is_set():
                continue
            log.info("update=%d %s from the inbox", update_id, said)
            chat = update.effective_chat
            async with (self.processor.lock_for(chat.id) if chat is not None
                        else contextlib.nullcontext()):
                await self.handle(update)

    async def _reask(self, started: datetime) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), SETTLED)
            return  # stopping before it was due: the next start asks again
        for user_id in await self.store.sessions_awaiting_reply(before=started):
            # A private chat's id is its user's. Held, and checked again while held: of
            # several processes starting at once only one asks, and never while another
            # is still sending that chat its replies.
            async with self.processor.lock_for(user_id), self._hold(user_id):
                outgoing = await self.service.current_question(user_id, unsent_before=started)
                if outgoing is not None and await self.deliver(outgoing):
                    await self.service.replies_sent_now(outgoing)

    async def _receive_updates(self) -> None:
        """Long polling, or with WEBHOOK_URL a webhook: python-telegram-bot's server awaits
        the inbox's `put` (the commit) before it answers Telegram 200, so a post that was
        answered is stored; a post without the secret header is refused (403)."""
        updater = self.app.updater
        assert updater is not None
        url = self.settings.webhook_url
        if not url:
            await updater.start_polling(timeout=self.poll_timeout,
                                        allowed_updates=Update.ALL_TYPES,
                                        error_callback=polling_error(self.bot))
            return
        listen, port = self.settings.webhook_listen, self.settings.webhook_port
        try:
            await updater.start_webhook(
                listen=listen, port=port, url_path=urlsplit(url).path.strip("/"),
                webhook_url=url, secret_token=webhook_secret(self.settings),
                allowed_updates=Update.ALL_TYPES, bootstrap_retries=3)
        except OSError as error:
            raise StartupError(f"cannot listen for the webhook on {listen}:{port} "
                               f"({error.strerror or error}); check WEBHOOK_PORT.") from None
        except TelegramError as error:
            raise StartupError(f"Telegram refused the webhook {url} ({error}); check "
                               "WEBHOOK_URL (https, reachable from Telegram).") from None

    async def initialize(self, attempts: int = 5) -> None:
        """Connect to Telegram: a wrong token is final, an outage is retried a few times."""
        delay = 1.0
        for attempt in range(attempts):
            try:
                await self.app.initialize()
                self.service.bot_username = self.bot.username
                return
            except InvalidToken:
                raise StartupError(
                    "Telegram refused the token (401 Unauthorized): check TELEGRAM_BOT_TOKEN."
                ) from None
            except (NetworkError, TimedOut) as error:
                if attempt == attempts - 1:
                    raise StartupError(
                        f"Cannot reach Telegram at {self.settings.telegram_api_url} "
                        f"({error}); check the network or TELEGRAM_API_URL.") from None
                log.warning("Telegram unreachable at start (%s); retrying", error)
                await asyncio.sleep(delay)
                delay *= 2

    async def serve(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.initialize()
        with contextlib.suppress(TelegramError):  # the menu is a help, not a must
            await self.bot.set_my_commands(menu_commands())
        warming = None
        if self.media is not None:
            warming = asyncio.create_task(self.media.warm(fixed_spoken_texts()))
        ops: OpsServer | None = None
        try:
            if self.settings.ops_port:  # up first: /healthz answers during the start-up
                ops = OpsServer(self.store, self.settings.ops_host, self.settings.ops_port,
                                self.settings.ready_max_backlog)
                await ops.start()
            await self.sweep()
            await self._receive_updates()
            await self.app.start()
            await startup(self.store, self.dispatcher.clock, self.dispatcher)
            if self.app.job_queue is not None and self.schedule_every > 0:
                self.app.job_queue.run_repeating(self.dispatcher.tick,
                                                 interval=self.schedule_every,
                                                 first=self.schedule_every)
            if self.app.job_queue is not None and self.shared:
                every = self.settings.orphan_seconds / 2
                self.app.job_queue.run_repeating(self.take_over_orphans, interval=every,
                                                 first=every)
            log.info("bot @%s is running (%s)", self.bot.username,
                     "webhook" if self.settings.webhook_url else "long polling")
            if os.environ.get("GESPREKSMAATJE_SQL_STATS"):  # the benchmark subtracts these
                log.info(SqlStats.line())
            await stop.wait()
        finally:
            if ops is not None:
                await ops.stop()
            if warming is not None:
                warming.cancel()  # its thread finishes on its own; nothing waits for it
            self._stopping.set()
            if self._late_sweep is not None:
                await finish(self._late_sweep, GRACE)
            if self.app.updater is not None and self.app.updater.running:
                await self.app.updater.stop()
            if self.app.running:
                await self.app.stop()
            for task in list(self._transcribing):  # a transcript is a help, not a must
                await finish(task, GRACE)
            if self.transcriber is not None:
                await self.transcriber.close()
            await self.service.close()  # the last replies-sent marks
            await self.app.shutdown()


def menu_commands() -> list[tuple[str, str]]:
    """The commands in Telegram's menu: the client's (begeleiders know theirs)."""
    names = ["verder", "lijst", "mijnlijst", "afspraken", "vorige", "delen", "wie_keek",
             "mijn_gegevens", "instellingen", "over", "stop"]
    return [(name, t(f"command_{name}")) for name in names]


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


__all__ = ["Bot", "BotRunner", "StartupError", "install_signal_handlers"]
