"""Load benchmark: many clients prepare their conversation at once, the bot in its own process.

Two bots run against the same local Bot API server (``localbotapi``) in the same run, one
after the other, each as a separate process measured with psutil: the real bot
(``python -m bot run``, SQLite in a temporary folder, or with ``--database postgres`` a fresh
database in a private PostgreSQL cluster this script starts and removes) and a bare
python-telegram-bot echo bot (``bench/echo_bot.py``). This process plays the Bot API server
and the clients.

The real bot runs as in production with two exceptions, both to compare like with like:
  * its own pacing is off (SEND_PER_SECOND=0, CHAT_PER_SECOND=0). It keeps to Telegram's
    ~1 message a second per chat, which the echo bot does not, and the clients here answer
    at once: paced, its first reply would wait ~1.1 s for the limiter alone. The pacing is
    measured by bench/rate_limits.py.
  * speech is on (the production default; ``--speech off`` to compare) against a fake gTTS
    endpoint on 127.0.0.1 (tests/fake_gtts.py): nothing goes to the internet. The RSS rows
    say "speech on".
It counts its SQL (GESPREKSMAATJE_SQL_STATS=1): the "SQL statements / commits per update"
rows come from the two ``sql statements=N commits=M`` lines of its log (see sql_per_update).

Modes:
  closed  every client answers as soon as it is asked (saturation), at 1, 50 and --clients
          clients; every client goes through the whole preparation.
  open    --open-clients clients are brought to their first question, then updates arrive at
          --rate per second (Poisson, fixed seed) for --duration seconds, each from a random
          client that is not waiting for the bot: the latency a client feels.

Run: ``.venv/bin/python bench/dialog_load.py`` (both modes), ``--mode closed|open``,
``--clients 500`` (the issue's size), ``--quick`` (a ~25 s smoke run). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
# bench/ holds scripts named like packages (bench/pictos.py): import from the repository root.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from localbotapi import BotApiServer  # noqa: E402
from localbotapi.server import UserHandle  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
FIRST_USER_ID = 700_000_000
TURN_TIMEOUT = 30.0  # a client that waits longer for the bot counts as stuck
WARM_AT_ONCE = 20  # open loop: clients joining at the same time before the measured window
PROFILE_DIR: Path | None = None  # --profile: py-spy samples the load, raw stacks here
KEEP_LOGS: Path | None = None  # --logs: copy each bot's log here
PICTO_CACHE: Path | None = None  # shared by all runs: cards are rendered once, not measured
WARM_LINE = b"picto cards ready"  # the real bot's log line when its start-up warm-up is done
SPEECH_WARM_LINE = b"voice clips ready"  # ... and, with speech on, when its clips are made
RUNNING_LINE = b"is running ("  # the real bot's log line once it receives updates
SQL_LINE = re.compile(rb"sql statements=(\d+) commits=(\d+)")
CRYPTO_LINE = re.compile(rb"crypto values=(\d+) crypto_us=(\d+)")
SPEECH = True  # --speech on|off: the real bot speaks (against FAKE_GTTS_URL)
FAKE_GTTS_URL = ""  # a fake gTTS endpoint on 127.0.0.1, started by main_async
POSTGRES: PrivatePostgres | None = None  # --database postgres: the private cluster

# Goals from issue 3 ("Benchmark").
GOAL_CPU_VS_ECHO = 3.0  # bot CPU per update <= 3x the echo bot's, at 1 and at 50 clients
GOAL_P99_MS = 30.0  # p99 update -> first reply in the open-loop run
GOAL_RSS_MB = 120.0  # peak RSS at 500 clients
GOAL_CPU_SCALING = 1.3  # CPU per update at 500 clients <= 1.3x that at 50
GOAL_RATE_VS_ECHO = 0.4  # closed-loop updates/s at 50 clients >= 40% of the echo bot's
GOAL_SQL_STATEMENTS = 6.0  # SQL statements per update, on average
GOAL_COMMITS = 2.0  # commits per update, on average

# Button labels of the preparation (bot/dialogs/texts/nl.yaml).
CONFIRM = "👍 Ja, het klopt"
PRESS_FIRST = ("➡️ Beginnen", "➡️ Nee, verder", "➡️ Verder")
DONE = "👍 Klaar"
ANSWER_BY_TEXT = ("🤷 Weet ik nog niet", "💡 Help me kiezen")
ACTIONABLE = {CONFIRM, DONE, *PRESS_FIRST, *ANSWER_BY_TEXT}
ANSWERS = ["Ik kan goed tekenen", "Dat ik grappig ben", "Over mijn werk en mijn vrienden",
           "Lekker slapen en wandelen", "Als het druk is", "Rustig praten", "Harde muziek",
           "Mijn familie", "Zelf koken", "Leren fietsen", "Thuis", "Mijn zus"]


# ---------------------------------------------------------------------------------------
# Measuring replies at the server
# ---------------------------------------------------------------------------------------


@dataclass
class Turn:
    """One update a client sent and what it waits for."""

    kind: str  # "text" or "press"
    pushed: float
    done_when: Callable[[dict[str, Any]], bool]
    first_reply: float | None = None
    done: asyncio.Future[None] | None = None


class ReplyClock:
    """Wraps the server's send and edit handlers (a question is a photo with a caption): the
    moment the server receives the bot's first reply for a chat after its update, and when
    the turn is over."""

    def __init__(self, server: BotApiServer) -> None:
        self.server = server
        self.turns: dict[int, Turn] = {}
        self.latencies: list[float] = []
        for name in ("sendmessage", "editmessagetext", "sendphoto", "editmessagecaption"):
            canonical, handler = server._methods[name]
            server._methods[name] = (canonical, self._wrap(handler))

    def _wrap(self, handler: Any) -> Any:
        async def timed(params: dict[str, Any], files: dict[str, Any]) -> Any:
            now = time.perf_counter()
            try:
                chat_id = int(str(params.get("chat_id")))
            except ValueError:
                chat_id = 0
            turn = self.turns.get(chat_id)
            if turn is not None and turn.first_reply is None:
                turn.first_reply = now
                self.latencies.append(now - turn.pushed)
            result = await handler(params, files)
            if turn is not None and turn.done is not None and not turn.done.done() and (
                    turn.done_when(result)):
                turn.done.set_result(None)
            return result

        return timed

    async def act(self, chat_id: int, kind: str, action: Awaitable[int],
                  done_when: Callable[[dict[str, Any]], bool]) -> bool:
        """Push one update and wait until the bot finished the turn. False: stuck."""
        turn = Turn(kind, time.perf_counter(), done_when,
                    done=asyncio.get_running_loop().create_future())
        self.turns[chat_id] = turn
        await action
        assert turn.done is not None
        try:
            await asyncio.wait_for(turn.done, TURN_TIMEOUT)
        except TimeoutError:
            return False
        finally:
            self.turns.pop(chat_id, None)
        return True


def _labels(result: dict[str, Any]) -> list[str]:
    markup = result.get("reply_markup") or {}
    return [b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row]


def _asks_something(result: dict[str, Any]) -> bool:
    return any(label in ACTIONABLE for label in _labels(result))


def _anything(result: dict[str, Any]) -> bool:
    return True


# ---------------------------------------------------------------------------------------
# Simulated clients
# ---------------------------------------------------------------------------------------


@dataclass
class Client:
    user: UserHandle
    token: str
    steps: int = 0
    finished: bool = False
    stuck: bool = False
    busy: bool = False
    kinds: list[str] = field(default_factory=list)


class DialogPolicy:
    """What a client of the real bot does next: look at the newest message with buttons."""

    max_steps = 120

    async def step(self, clock: ReplyClock, c: Client) -> bool:
        """Take one step; False when the client is finished or stuck."""
        user = c.user
        if c.steps == 0:
            return await self._do(clock, c, "text", user.send_command("/start", c.token),
                                  _asks_something)
        if c.finished or c.steps >= self.max_steps:
            c.finished = True
            return False
        message = next((m for m in reversed(user.messages) if m.buttons and not m.deleted),
                       None)
        if message is None:
            c.stuck = True
            return False
        labels = message.button_texts()
        if CONFIRM in labels:
            c.finished = True
            return await self._do(clock, c, "press", user.press(message, CONFIRM), _anything)
        for label in PRESS_FIRST:
            if label in labels:
                return await self._do(clock, c, "press", user.press(message, label),
                                      _asks_something)
        if DONE in labels:
            ticked = any("✅" in x and x != DONE for x in labels)
            label = DONE if ticked else labels[0]
            return await self._do(clock, c, "press", user.press(message, label),
                                  _asks_something)
        # An open question answered in words (its first button may be the picture mat,
        # which this client does not use).
        if any(label in ANSWER_BY_TEXT for label in labels):
            text = ANSWERS[c.steps % len(ANSWERS)]
            return await self._do(clock, c, "text", user.send_text(text), _asks_something)
        return await self._do(clock, c, "press", user.press(message, labels[0]),
                              _asks_something)

    async def _do(self, clock: ReplyClock, c: Client, kind: str, action: Awaitable[int],
                  done_when: Callable[[dict[str, Any]], bool]) -> bool:
        c.steps += 1
        c.kinds.append(kind)
        ok = await clock.act(c.user.chat_id, kind, action, done_when)
        if not ok:
            c.stuck = True
        return ok and not c.finished


# What a dialog client sends (recorded from the real bot; replaced by a fresh recording when
# the real bot ran first in this process), replayed against the echo bot.
DEFAULT_SCRIPT = ["text", "press"] * 13 + ["press"] * 5


class EchoPolicy:
    """A client of the echo bot sends the same sequence of texts and presses."""

    def __init__(self, script: list[str]) -> None:
        self.script = script

    async def step(self, clock: ReplyClock, c: Client) -> bool:
        if c.steps >= len(self.script):
            c.finished = True
            return False
        kind = self.script[c.steps]
        user = c.user
        message = next((m for m in reversed(user.messages) if m.buttons), None)
        if c.steps == 0:
            action = user.send_command("/start", c.token)
        elif kind == "press" and message is not None:
            action = user.press(message, message.button_texts()[0])
        else:
            kind = "text"
            action = user.send_text(ANSWERS[c.steps % len(ANSWERS)])
        c.steps += 1
        c.kinds.append(kind)
        ok = await clock.act(user.chat_id, kind, action, _anything)
        if not ok:
            c.stuck = True
            return False
        if c.steps >= len(self.script):
            c.finished = True
            return False
        return True


# ---------------------------------------------------------------------------------------
# The bot process
# ---------------------------------------------------------------------------------------


@dataclass
class BotSpec:
    name: str
    dialog: bool  # the real bot (needs a database and invites)


REAL = BotSpec("gespreksmaatje", dialog=True)
ECHO = BotSpec("echo bot", dialog=False)


class BotProcess:
    def __init__(self, spec: BotSpec, server: BotApiServer, workdir: Path, db_url: str,
                 clients: int, env: dict[str, str] | None = None, label: str = "") -> None:
        """`env`: more settings (a webhook: bench/processes.py); `label` tells the logs of
        several processes in one folder apart."""
        self.spec = spec
        self.clients = clients
        self.server = server
        self.workdir = workdir
        self.db_url = db_url
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None
        self.log_path = workdir / f"{'bot' if spec.dialog else 'echo'}{label}.log"
        self.peak_rss = 0
        self._sampler: asyncio.Task[None] | None = None
        self.name = ""
        self._spy: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "DATABASE", "SPEECH_", "GTTS_", "SEND_",
                                    "CHAT_", "GESPREKSMAATJE_"))}
        env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": self.server.base_url,
            "TELEGRAM_FILE_URL": self.server.file_url,
            "DATABASE_URL": self.db_url,
            "DATA_DIR": str(self.workdir / "data"),
            "PICTO_CACHE_DIR": str(PICTO_CACHE or self.workdir / "pictos"),
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("BENCH_EXTRA_PATH", ""),
            "PYTHONUNBUFFERED": "1",
            # Its own pacing off: the echo bot has none (bench/rate_limits.py measures it).
            "SEND_PER_SECOND": "0",
            "CHAT_PER_SECOND": "0",
            # Speech as in production, from a fake gTTS on 127.0.0.1, never the internet.
            "SPEECH_ENABLED": "true" if SPEECH else "false",
            "GTTS_BASE_URL": FAKE_GTTS_URL,
            "GESPREKSMAATJE_SQL_STATS": "1",  # logs "sql statements=N commits=M"
            **self.extra_env,
        })
        cmd = (["-m", "bot", "run"] if self.spec.dialog
               else [str(ROOT / "bench" / "echo_bot.py")])
        name = f"{'bot' if self.spec.dialog else 'echo'}-{self.clients}"
        self.proc, self.ps = await asyncio.to_thread(self._launch, cmd, env, name)
        polls = self.server.call_count("getUpdates")
        deadline = time.monotonic() + 60
        while not (self.server.call_count("getUpdates") > polls  # polling, or a webhook:
                   or RUNNING_LINE in self.log_path.read_bytes()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.spec.name} did not start; log:\n{self.log_tail()}")
            await asyncio.sleep(0.05)
        if self.spec.dialog:  # the start-up warm-up (cards, clips) is not part of the load
            deadline = time.monotonic() + 180
            lines = [WARM_LINE, SPEECH_WARM_LINE] if SPEECH else [WARM_LINE]
            while not all(line in self.log_path.read_bytes() for line in lines):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.spec.name} stopped; log:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    print("    (the bot's log does not say its warm-up is done: measuring "
                          "anyway)")
                    break
                await asyncio.sleep(0.1)
        self._sampler = asyncio.create_task(self._sample())

    def _launch(self, cmd: list[str], env: dict[str, str], name: str
                ) -> tuple[subprocess.Popen[bytes], psutil.Process]:
        self.name = name
        with self.log_path.open("wb") as log:
            # cwd: a temporary folder, so that no .env of the checkout leaks into the run.
            proc = subprocess.Popen([sys.executable, *cmd], cwd=self.workdir, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        return proc, psutil.Process(proc.pid)

    def profile(self) -> None:
        """--profile: py-spy samples the bot from now on (the measured load only, not the
        start-up or the warm-up client), until `stop_profile`."""
        if PROFILE_DIR is None or self.proc is None:
            return
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._spy = subprocess.Popen(
            [spy, "record", "--format", "raw", "--rate", "200", "--gil", "--pid",
             str(self.proc.pid), "-o", str(PROFILE_DIR / f"{self.name}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop_profile(self) -> None:
        if self._spy is not None:
            self._spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            self._spy.wait(30)
            self._spy = None

    async def _sample(self) -> None:
        assert self.ps is not None
        while True:
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.ps.memory_info().rss)
            await asyncio.sleep(0.05)

    def cpu(self) -> float:
        assert self.ps is not None
        times = self.ps.cpu_times()
        return times.user + times.system

    def high_water_rss(self) -> int:
        """Peak RSS: the kernel's VmHWM (Linux), else the highest sample."""
        assert self.ps is not None
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.ps.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return max(int(line.split()[1]) * 1024, self.peak_rss)
        return self.peak_rss

    def sql_per_update(self, updates: int) -> tuple[float, float] | None:
        """(statements, commits) per update, from the bot's log after it stopped.

        The bot logs ``sql statements=N commits=M`` (its counts since the process began)
        once when start-up is done ("bot @... is running") and once when it stops. The
        difference is everything the bot ran for the updates it handled: the warm-up
        client's and (open loop) the joining clients' updates as well as the measured
        ones, their deferred writes (flushed at the latest when it stops), the first upload
        of each card and clip, and the few scheduler ticks of the run. So it is divided by
        all those updates (`updates`), not by the measured window's: an average over every
        update of the run, start-up (migrations, the sweep) left out. None when a line is
        missing (the bot was killed, or an older bot)."""
        counts = [(int(a), int(b)) for a, b in SQL_LINE.findall(self.log_path.read_bytes())]
        if len(counts) < 2 or updates <= 0:
            return None
        (start_n, start_c), (stop_n, stop_c) = counts[0], counts[-1]
        return (stop_n - start_n) / updates, (stop_c - start_c) / updates

    def crypto_per_update(self, updates: int) -> tuple[float, float] | None:
        """(values encrypted or decrypted, microseconds spent on it) per update: from the
        same two log lines as `sql_per_update`, divided the same way."""
        counts = [(int(a), int(b)) for a, b in CRYPTO_LINE.findall(self.log_path.read_bytes())]
        if len(counts) < 2 or updates <= 0:
            return None
        (start_v, start_us), (stop_v, stop_us) = counts[0], counts[-1]
        return (stop_v - start_v) / updates, (stop_us - start_us) / updates

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(psutil.Error):
            assert self.ps is not None
            self.ps.send_signal(signal.SIGTERM)
        try:  # SIGTERM: the bot stops cleanly and logs its SQL counts
            await asyncio.to_thread(self.proc.wait, 15)
        except subprocess.TimeoutExpired:
            print(f"    ({self.spec.name} did not stop within 15 s of SIGTERM: killed)")
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)


# ---------------------------------------------------------------------------------------
# One measured run
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    bot: str
    clients: int
    updates: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    harness_cpu: float = 0.0
    peak_rss: int = 0  # VmHWM: the whole life of the process, start-up included
    load_rss: int = 0  # highest RSS sampled while the load ran
    latencies: list[float] = field(default_factory=list)
    api_calls: int = 0  # Bot API calls other than getUpdates
    finished: int = 0
    stuck: int = 0
    script: list[str] = field(default_factory=list)
    sql: tuple[float, float] | None = None  # statements, commits per update (real bot)
    crypto: tuple[float, float] | None = None  # values, µs of encryption per update

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_update_ms(self) -> float:
        return 1000 * self.cpu / self.updates if self.updates else float("nan")

    def pct(self, q: float) -> float:
        """Nearest-rank percentile of update -> first reply, in ms."""
        return percentile_ms(self.latencies, q)


def percentile_ms(seconds: list[float], q: float) -> float:
    """Nearest-rank percentile of these durations, in ms (nan for none)."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    k = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return 1000 * ordered[k]


async def _prepare_db(db_url: str, n: int) -> list[str]:
    """Migrate a fresh database and make `n` client invites: their tokens."""
    from bot.state.migrate import upgrade
    from bot.state.store import Store

    await upgrade(db_url)
    store = Store(db_url)
    try:
        tokens = [(await store.create_client_invite(f"Client {i}", 30))[1] for i in range(n)]
    finally:
        await store.close()
    return tokens


class PrivatePostgres:
    """A PostgreSQL cluster of this run only, as scripts/with-postgres.sh makes one: initdb
    in a temporary folder (as user postgres when we are root: PostgreSQL refuses root),
    trust on 127.0.0.1 and a free port, fsync off; a fresh database per bot run."""

    def __init__(self) -> None:
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                         key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)])
        if not bindirs or not (bindirs[-1] / "initdb").exists():
            raise SystemExit("--database postgres: PostgreSQL is not installed "
                             "(apt-get install postgresql)")
        self.bin = bindirs[-1]
        self.dir = Path(tempfile.mkdtemp(prefix="dialog-load-pg-"))
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.dir, "postgres")
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self.started = False

    def _run(self, *cmd: str) -> None:
        subprocess.run([*self.as_pg, *cmd], check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                  "--no-sync")
        self.started = True  # from here on stop() runs pg_ctl stop (harmless if it never ran)
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.dir / "log"), "-w",
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off -c max_connections=200", "start")
        print(f"private PostgreSQL cluster on 127.0.0.1:{self.port} ({self.bin.parent.name})")

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(subprocess.CalledProcessError):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m",
                          "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        admin = self.url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql)  # a name we made, not user input

    def create_database(self) -> tuple[str, str]:
        """A fresh, empty database: (its name, the bot's DATABASE_URL)."""
        name = f"bench_{os.urandom(6).hex()}"
        self._admin(f'CREATE DATABASE "{name}"')
        return name, f"{self.url}/{name}"

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def measured_run(spec: BotSpec, n: int, load: Callable[..., Awaitable[None]],
                       script: list[str]) -> Result:
    """`n` clients at once; at 1, `ONE_AT_A_TIME` clients one after the other."""
    if n == 1 and load is closed_loop:
        return await measured_run(spec, ONE_AT_A_TIME, one_at_a_time, script)
    workdir = Path(tempfile.mkdtemp(prefix="dialog-load-"))
    database = None  # the PostgreSQL database of this run, dropped at the end
    try:
        if not spec.dialog:  # the echo bot has no database
            db_url, tokens = f"sqlite+aiosqlite:///{workdir / 'unused.db'}", ["x"] * (n + 1)
        else:
            if POSTGRES is not None:
                database, db_url = await asyncio.to_thread(POSTGRES.create_database)
            else:
                db_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            tokens = await _prepare_db(db_url, n + 1)
        async with BotApiServer(token=TOKEN, files_dir=workdir / "botapi") as server:
            clock = ReplyClock(server)
            # clients[0] warms the bot up (whole preparation, not measured): a running bot's
            # caches (compiled SQL, imports done on first use) are warm when clients come.
            clients = [Client(server.user(FIRST_USER_ID + i, f"Client{i}"), tokens[i])
                       for i in range(n + 1)]
            policy: Any = DialogPolicy() if spec.dialog else EchoPolicy(script)
            bot = BotProcess(spec, server, workdir, db_url, n)
            await bot.start()
            me = psutil.Process()
            result = Result(spec.name, n)
            try:
                while await policy.step(clock, clients[0]):
                    pass
                bot.profile()
                await load(clock, clients[1:], policy, bot, me, result)
                bot.stop_profile()
                result.peak_rss = bot.high_water_rss()
                result.load_rss = bot.peak_rss
            finally:
                await bot.stop()
            if spec.dialog:  # every update the bot handled after its start-up
                result.sql = bot.sql_per_update(sum(c.steps for c in clients))
                result.crypto = bot.crypto_per_update(sum(c.steps for c in clients))
            measured = clients[1:]
            result.finished = sum(c.finished and not c.stuck for c in measured)
            result.stuck = sum(c.stuck for c in clients)
            if spec.dialog and clients[0].finished and not clients[0].stuck:
                result.script = list(clients[0].kinds)
            return result
    finally:
        await asyncio.to_thread(_clean_up, workdir, n)
        if database is not None and POSTGRES is not None:
            await asyncio.to_thread(POSTGRES.drop_database, database)


def _clean_up(workdir: Path, n: int) -> None:
    if KEEP_LOGS is not None:
        KEEP_LOGS.mkdir(parents=True, exist_ok=True)
        for log in workdir.glob("*.log"):
            shutil.copy(log, KEEP_LOGS / f"{log.stem}-{n}.log")
    shutil.rmtree(workdir, ignore_errors=True)


def _cpu_of(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


class Measure:
    """CPU of the bot and of this process, wall clock and replies, over one window."""

    def __init__(self, clock: ReplyClock, bot: BotProcess, me: psutil.Process) -> None:
        self.clock, self.bot, self.me = clock, bot, me
        clock.latencies.clear()
        self.cpu0, self.me0, self.t0 = bot.cpu(), _cpu_of(me), time.perf_counter()
        self.calls0 = self._calls()

    def _calls(self) -> int:
        return sum(1 for name, _ in self.clock.server.calls if name != "getUpdates")

    def into(self, result: Result, updates: int) -> None:
        result.seconds = time.perf_counter() - self.t0
        result.cpu = self.bot.cpu() - self.cpu0
        result.harness_cpu = _cpu_of(self.me) - self.me0
        result.updates = updates
        result.latencies = list(self.clock.latencies)
        result.api_calls = self._calls() - self.calls0


async def closed_loop(clock: ReplyClock, clients: list[Client], policy: Any, bot: BotProcess,
                      me: psutil.Process, result: Result) -> None:
    async def run(c: Client) -> None:
        while await policy.step(clock, c):
            pass

    window = Measure(clock, bot, me)
    await asyncio.gather(*(run(c) for c in clients))
    window.into(result, sum(c.steps for c in clients))


# The 1-client row: this many clients, each alone, one after the other. One client's 32
# updates are under a tenth of a second of the echo bot's CPU, which psutil counts in
# ticks of 10 ms: one client's figure could move by a seventh from one run to the next.
ONE_AT_A_TIME = 8


async def one_at_a_time(clock: ReplyClock, clients: list[Client], policy: Any,
                        bot: BotProcess, me: psutil.Process, result: Result) -> None:
    window = Measure(clock, bot, me)
    for c in clients:
        while await policy.step(clock, c):
            pass
    window.into(result, sum(c.steps for c in clients))
    result.clients = 1


async def quiet(server: BotApiServer, still: float = 1.0, longest: float = 120.0) -> None:
    """Wait until the bot made no Bot API call but getUpdates for `still` seconds."""
    deadline = time.monotonic() + longest
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        calls = sum(1 for name, _ in server.calls if name != "getUpdates")
        if calls != seen:
            seen, since = calls, time.monotonic()
        elif time.monotonic() - since >= still:
            return
        await asyncio.sleep(0.1)
    print(f"    (the bot was not quiet for {still:g} s within {longest:g} s: measuring anyway)")


def open_loop(rate: float, duration: float, seed: int, warm_steps: int
              ) -> Callable[..., Awaitable[None]]:
    async def load(clock: ReplyClock, clients: list[Client], policy: Any, bot: BotProcess,
                   me: psutil.Process, result: Result) -> None:
        # Warm-up (not measured): every client joins and reaches its first question,
        # WARM_AT_ONCE at a time: with speech on each welcome is a clip of its own (it
        # greets the client by name), and 500 at once would keep the last one waiting for
        # minutes. Then the measured window waits until the bot is quiet, so that it
        # measures the offered load, not the rest of the joining.
        gate = asyncio.Semaphore(WARM_AT_ONCE)

        async def warm(c: Client) -> None:
            async with gate:
                for _ in range(warm_steps):
                    if not await policy.step(clock, c):
                        break

        await asyncio.gather(*(warm(c) for c in clients))
        await quiet(clock.server)
        rng = random.Random(seed)
        tasks: set[asyncio.Task[None]] = set()
        deferred = 0

        async def one(c: Client) -> None:
            c.busy = True
            try:
                await policy.step(clock, c)
            finally:
                c.busy = False

        before = sum(c.steps for c in clients)
        window = Measure(clock, bot, me)
        loop = asyncio.get_running_loop()
        start = loop.time()
        at = start
        while True:
            at += rng.expovariate(rate)
            if at - start >= duration:
                break
            await asyncio.sleep(max(0.0, at - loop.time()))
            idle = [c for c in clients if not c.busy and not c.finished and not c.stuck]
            if not idle:
                deferred += 1
                continue
            task = asyncio.create_task(one(rng.choice(idle)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        window.into(result, sum(c.steps for c in clients) - before)
        if deferred:
            print(f"    ({deferred} arrivals found no idle client and were dropped)")

    return load


# ---------------------------------------------------------------------------------------
# Printing
# ---------------------------------------------------------------------------------------


def _mb(b: int) -> float:
    return b / (1024 * 1024)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def table(title: str, real: Result, echo: Result, goals: dict[str, str]) -> None:
    print(f"\n{title}")
    rows: list[tuple[str, str, str, str, str]] = []

    def row(name: str, a: float, b: float, fmt: str, key: str) -> None:
        ratio = f"{a / b:.2f}x" if b and a == a and b == b else "-"
        rows.append((name, format(a, fmt), format(b, fmt), ratio, goals.get(key, "")))

    row("updates handled", real.updates, echo.updates, ".0f", "updates")
    row("updates/s", real.rate, echo.rate, ".1f", "rate")
    row("first reply p50 (ms)", real.pct(50), echo.pct(50), ".1f", "p50")
    row("first reply p95 (ms)", real.pct(95), echo.pct(95), ".1f", "p95")
    row("first reply p99 (ms)", real.pct(99), echo.pct(99), ".1f", "p99")
    row("bot CPU per update (ms)", real.cpu_per_update_ms, echo.cpu_per_update_ms, ".2f", "cpu")
    row("Bot API calls per update", real.api_calls / max(real.updates, 1),
        echo.api_calls / max(echo.updates, 1), ".2f", "")
    statements, commits = real.sql or (float("nan"), float("nan"))
    rows.append(("SQL statements per update", f"{statements:.2f}", "-", "",
                 goals.get("sql", "")))
    rows.append(("commits per update", f"{commits:.2f}", "-", "", goals.get("commits", "")))
    values, micros = real.crypto or (float("nan"), float("nan"))
    rows.append(("values en/decrypted per update", f"{values:.1f}", "-", "", ""))
    rows.append(("encryption CPU per update (ms)", f"{micros / 1000:.3f}", "-", "", ""))
    row("bot CPU total (s)", real.cpu, echo.cpu, ".2f", "")
    speech = "speech on" if SPEECH else "speech off"
    row(f"peak RSS, process, {speech} (MB)", _mb(real.peak_rss), _mb(echo.peak_rss), ".1f",
        "rss")
    row(f"peak RSS under load, {speech} (MB)", _mb(real.load_rss), _mb(echo.load_rss), ".1f",
        "")
    row("harness CPU per update (ms)", 1000 * real.harness_cpu / max(real.updates, 1),
        1000 * echo.harness_cpu / max(echo.updates, 1), ".2f", "")
    rows.append(("clients done / stuck", f"{real.finished}/{real.stuck}",
                 f"{echo.finished}/{echo.stuck}", "", ""))
    head = ("figure", real.bot, echo.bot, "ratio", "goal")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  " + "  ".join(
            r[i].ljust(widths[i]) if i in (0, 4) else r[i].rjust(widths[i]) for i in range(5)
        ).rstrip())


# ---------------------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------------------


def sql_goals(real: Result, goals: dict[str, str]) -> None:
    if real.sql is not None:
        statements, commits = real.sql
        goals["sql"] = (f"<= {GOAL_SQL_STATEMENTS:g}: "
                        f"{_verdict(statements <= GOAL_SQL_STATEMENTS)}")
        goals["commits"] = f"<= {GOAL_COMMITS:g}: {_verdict(commits <= GOAL_COMMITS)}"


@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)

    def add(self, goal: str, figure: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else _verdict(ok)
        self.lines.append(f"  {goal:<74} {figure:<34} {verdict}")


async def pair(n: int, load: Callable[..., Awaitable[None]], script: list[str]
               ) -> tuple[Result, Result]:
    real = await measured_run(REAL, n, load, script)
    echo = await measured_run(ECHO, n, load, real.script or script)
    return real, echo


async def closed_mode(scales: list[int], summary: Summary, script: list[str]) -> list[str]:
    results: dict[int, tuple[Result, Result]] = {}
    for n in scales:
        started = time.perf_counter()
        real, echo = await pair(n, closed_loop, script)
        if real.script and (real.script != script or n == scales[0]):
            script = real.script
            print(f"\n  a client's updates (t = text, p = button): "
                  f"{''.join(k[0] for k in script)} ({len(script)})")
        results[n] = (real, echo)
        ratio = real.cpu_per_update_ms / echo.cpu_per_update_ms
        goals: dict[str, str] = {}
        sql_goals(real, goals)
        if n in (1, 50):
            goals["cpu"] = f"<= {GOAL_CPU_VS_ECHO:g}x echo: {_verdict(ratio <= GOAL_CPU_VS_ECHO)}"
        if n == 50:
            share = real.rate / echo.rate if echo.rate else 0.0
            goals["rate"] = (f">= {GOAL_RATE_VS_ECHO:.0%} of echo: "
                             f"{_verdict(share >= GOAL_RATE_VS_ECHO)}")
            summary.add(f"closed-loop updates/s at 50 clients >= {GOAL_RATE_VS_ECHO:.0%} of echo",
                        f"{real.rate:.1f} vs {echo.rate:.1f}/s = {share:.0%}",
                        share >= GOAL_RATE_VS_ECHO)
        if n == max(scales) and 50 in results and n > 50:
            base = results[50][0].cpu_per_update_ms
            scale = real.cpu_per_update_ms / base
            goals["cpu"] = (f"<= {GOAL_CPU_SCALING:g}x the 50-client figure: {scale:.2f}x "
                            f"{_verdict(scale <= GOAL_CPU_SCALING)}")
        if n >= 500:
            goals["rss"] = f"<= {GOAL_RSS_MB:g} MB: {_verdict(_mb(real.peak_rss) <= GOAL_RSS_MB)}"
        at_once = (f"1 client at a time ({ONE_AT_A_TIME} clients, one after the other)"
                   if n == 1 else f"{n} clients at once")
        table(f"CLOSED LOOP, {at_once}, whole preparation "
              f"({time.perf_counter() - started:.0f} s for both bots)", real, echo, goals)
        if n in (1, 50):
            summary.add(f"bot CPU/update <= {GOAL_CPU_VS_ECHO:g}x echo at {n} client(s)",
                        f"{real.cpu_per_update_ms:.2f} vs {echo.cpu_per_update_ms:.2f} ms = "
                        f"{ratio:.2f}x", ratio <= GOAL_CPU_VS_ECHO)
    big = max(scales)
    sql = results[big][0].sql
    if sql is not None:
        summary.add(f"SQL statements per update <= {GOAL_SQL_STATEMENTS:g} (closed, {big})",
                    f"{sql[0]:.2f}", sql[0] <= GOAL_SQL_STATEMENTS)
        summary.add(f"commits per update <= {GOAL_COMMITS:g} (closed, {big})",
                    f"{sql[1]:.2f}", sql[1] <= GOAL_COMMITS)
    if 50 in results and big > 50:
        scale = results[big][0].cpu_per_update_ms / results[50][0].cpu_per_update_ms
        note = "" if big >= 500 else f" (measured at {big}; --clients 500 for the goal's size)"
        summary.add(f"CPU/update at 500 clients <= {GOAL_CPU_SCALING:g}x at 50{note}",
                    f"{scale:.2f}x", scale <= GOAL_CPU_SCALING)
    if big >= 500:
        rss = _mb(results[big][0].peak_rss)
        summary.add(f"peak RSS <= {GOAL_RSS_MB:g} MB at 500 clients (closed, {big}, "
                    f"{'speech on' if SPEECH else 'SPEECH OFF'})",
                    f"{rss:.1f} MB", rss <= GOAL_RSS_MB)
    return script


async def open_mode(n: int, rate: float, duration: float, summary: Summary,
                    script: list[str]) -> None:
    started = time.perf_counter()
    load = open_loop(rate, duration, seed=3, warm_steps=2)
    real, echo = await pair(n, load, script)
    p99 = real.pct(99)
    rss = _mb(real.peak_rss)
    goals = {"p99": f"<= {GOAL_P99_MS:g} ms: {_verdict(p99 <= GOAL_P99_MS)}"}
    sql_goals(real, goals)
    if n >= 500:
        goals["rss"] = f"<= {GOAL_RSS_MB:g} MB: {_verdict(rss <= GOAL_RSS_MB)}"
    table(f"OPEN LOOP, {rate:g} updates/s offered over {n} clients for {duration:g} s "
          f"(after each client joined and pressed Beginnen; "
          f"{time.perf_counter() - started:.0f} s for both bots)", real, echo, goals)
    summary.add(f"p99 update -> first reply <= {GOAL_P99_MS:g} ms (open loop, {n} clients)",
                f"{p99:.1f} ms (echo {echo.pct(99):.1f} ms)", p99 <= GOAL_P99_MS)
    note = "" if n >= 500 else f", measured at {n}"
    note += ", speech on" if SPEECH else ", SPEECH OFF"
    summary.add(f"peak RSS <= {GOAL_RSS_MB:g} MB at 500 clients (open loop{note})",
                f"{rss:.1f} MB (echo {_mb(echo.peak_rss):.1f} MB)",
                rss <= GOAL_RSS_MB if n >= 500 else None)


async def main_async(args: argparse.Namespace) -> None:
    print(f"dialog_load: python {sys.version.split()[0]}, {psutil.cpu_count()} CPU(s), "
          f"mode={args.mode}, database={args.database}, speech "
          f"{'on (fake gTTS on 127.0.0.1)' if SPEECH else 'off'}, the bot's pacing off; "
          f"bot processes measured with psutil (CPU = user+system, peak RSS = VmHWM)")
    summary = Summary()
    global PICTO_CACHE, FAKE_GTTS_URL, POSTGRES
    from tests.fake_gtts import FakeGtts

    PICTO_CACHE = Path(tempfile.mkdtemp(prefix="dialog-load-pictos-"))
    fake_gtts = FakeGtts().start()
    FAKE_GTTS_URL = fake_gtts.url
    try:
        if args.database == "postgres":
            POSTGRES = PrivatePostgres()
            await asyncio.to_thread(POSTGRES.start)
        await asyncio.to_thread(_warm_pictos, PICTO_CACHE)
        await _modes(args, summary)
    finally:
        fake_gtts.stop()
        if POSTGRES is not None:
            await asyncio.to_thread(POSTGRES.stop)
        shutil.rmtree(PICTO_CACHE, ignore_errors=True)


def _warm_pictos(cache: Path) -> None:
    """Render the picto cards once, here, so that every bot starts with a warm cache (as after
    its first start in production) and no run measures the drawing."""
    from pictos import PictoLibrary

    started = time.perf_counter()
    count = PictoLibrary.load(cache_dir=cache).warm()
    print(f"picto cache warmed: {count} cards in {time.perf_counter() - started:.1f} s "
          f"(not measured)")


async def _modes(args: argparse.Namespace, summary: Summary) -> None:
    script = DEFAULT_SCRIPT
    started = time.perf_counter()
    if args.mode in ("closed", "all"):
        scales = sorted({1, min(50, args.clients), args.clients})
        if args.quick:
            scales = sorted({1, args.clients})  # 1 and 5
        script = await closed_mode(scales, summary, script)
    if args.mode in ("open", "all"):
        await open_mode(args.open_clients, args.rate, args.duration, summary, script)
    print("\nGOALS (issue 14)")
    for line in summary.lines:
        print(line)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/dialog_load.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["closed", "open", "all"], default="all")
    parser.add_argument("--clients", type=int, default=100,
                        help="closed loop: the biggest scale (also runs 1 and 50); default 100, "
                             "the issue's goals are for 200 and 500")
    parser.add_argument("--open-clients", type=int, default=500,
                        help="open loop: clients the offered rate is spread over; default 500")
    parser.add_argument("--rate", type=float, default=10.0,
                        help="open loop: offered updates per second; default 10")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="open loop: seconds of offered load; default 30")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help="the real bot's database: a temporary SQLite file (default) or "
                             "a fresh database per run in a private PostgreSQL cluster")
    parser.add_argument("--speech", choices=["on", "off"], default="on",
                        help="the real bot speaks (fake gTTS on 127.0.0.1); default on")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (~25 s): closed at 1 and 5, open 20 clients for 4 s")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep each bot's log in this folder")
    parser.add_argument("--profile", type=Path, default=None,
                        help="sample each bot under load with py-spy (raw stacks in "
                             "<bot>-<clients>.txt here; sampling inflates the CPU figures "
                             "a little)")
    args = parser.parse_args()
    global PROFILE_DIR, KEEP_LOGS, SPEECH
    PROFILE_DIR = args.profile.resolve() if args.profile else None
    SPEECH = args.speech == "on"
    KEEP_LOGS = args.logs.resolve() if args.logs else None
    if args.quick:
        args.clients = min(args.clients, 5)
        args.open_clients = min(args.open_clients, 20)
        args.duration = min(args.duration, 4.0)
    if min(args.clients, args.open_clients) < 1 or args.rate <= 0 or args.duration <= 0:
        parser.error("--clients, --open-clients, --rate and --duration must be positive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
