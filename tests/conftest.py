"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when TEST_POSTGRES_URL is
set: `make test` starts a private cluster), and the harness around the real bot.

The migrations run once per test process (each pytest-xdist worker is one) into a template;
every test then gets a copy of it: a copied file on SQLite, `CREATE DATABASE … TEMPLATE` on
PostgreSQL. The harness still runs `upgrade()` on each copy, which finds it at head.

In parallel (`make test` runs pytest-xdist, `-n auto`): a test marked `alone` (it measures
wall-clock latency) runs while no other test runs, see `pytest_runtest_protocol`; the
scheduler below hands out the slow tests first and keeps tests that share an expensive
module fixture in one worker. Without xdist (`pytest -q`) none of this does anything."""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.state.migrate import upgrade_sync
from tests.fake_gtts import FakeGtts
from tests.harness import Harness, harness, running

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "")  # e.g. postgresql+psycopg://u@127.0.0.1:5433


def _databases() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES else ["sqlite"]


def _migrate(url: str) -> None:
    """Alembic's env runs an event loop of its own: give it a thread, so this works
    whether or not a loop is running here."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade_sync(url)
        except BaseException as error:  # noqa: BLE001 - re-raised below
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _pg_admin() -> str:
    return POSTGRES.replace("postgresql+psycopg://", "postgresql://") + "/postgres"


def _pg_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per test process."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite+aiosqlite:///{path}")
    conn = sqlite3.connect(path)  # everything in the main file, no -wal beside it
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database, made once per test process, used as a template."""
    name = f"tpl_{uuid.uuid4().hex[:12]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    try:
        _migrate(f"{POSTGRES}/{name}")  # its engine is disposed: no connection stays open
        # A template must have no connections while it is copied: allow none from now on.
        _pg_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        yield name
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=_databases())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    source: str = request.getfixturevalue("postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    _pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def h(db_url: str, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(db_url, tmp_path) as started:
        await started.start_bot()
        yield started


# Speech on, through a fake gTTS endpoint on localhost (never the internet).
@pytest.fixture
def fake_gtts() -> Iterator[FakeGtts]:
    fake = FakeGtts().start()
    yield fake
    fake.stop()


@pytest.fixture
async def hs(db_url: str, tmp_path: Path, fake_gtts: FakeGtts) -> AsyncIterator[Harness]:
    async with running(db_url, tmp_path, speech_enabled=True,
                       gtts_base_url=fake_gtts.url) as h:
        yield h


# --- running in parallel (pytest-xdist) ---------------------------------------------------
# Tests whose module shares an expensive fixture (a sandbox and a Chromium): one worker.
TOGETHER = ("tests/test_sandbox_browser.py",)
# Handed out first, longest first, so that no worker is left with a long test at the end:
# the `alone` ones (nothing else runs meanwhile, cheapest at the start), the browser, then
# the slowest. Only the order changes with this list; a name missing here costs only time.
FIRST = (
    "tests/test_rate_limits.py::",
    "tests/test_sandbox_browser.py",
    "tests/test_reminders.py::test_a_month_day_by_day",
    "tests/test_schedule_bot.py::test_a_month_of_schedule",
    "tests/test_operator_errors.py::test_telegram_unreachable_at_start",
    "tests/test_reminders.py::test_reminder_limits_hold_over_a_month",
    "tests/test_fuzz.py::",
    "tests/test_schedule_bot.py::test_a_cancelled_meeting",
    "tests/test_durability.py::test_kill_9",
    "tests/test_processes.py::",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":  # another --dist asked for: xdist's own
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        """One test per work unit (like `--dist load`), but TOGETHER's files as one unit
        (`--dist loadgroup` cannot: xdist 3.8 renames node ids in a way pytest 9.2
        ignores), and FIRST's tests before the rest."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in TOGETHER else nodeid

        def _assign_work_unit(self, node: Any) -> None:
            def rank(scope: str) -> int:
                return next((i for i, p in enumerate(FIRST) if scope.startswith(p)),
                            len(FIRST))
            best = min(self.workqueue, key=rank)  # the first of the earliest rank
            self.workqueue.move_to_end(best, last=False)
            super()._assign_work_unit(node)

    return Scheduling(config, log)


_LOCK: list[Any] = []  # this worker's open lock file, once opened


def _run_lock(config: pytest.Config) -> Any:
    """The lock file all workers of this run share (beside their own temp folders)."""
    if not _LOCK:
        path = Path(config.option.basetemp).parent / "alone.lock"
        _LOCK.append(open(path, "a+b"))  # noqa: SIM115 - open for the whole run
    return _LOCK[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None
                            ) -> Generator[None, object, object]:
    """Under xdist, every test holds a shared lock from its setup to its teardown, and a
    test marked `alone` an exclusive one. Byte 0 is a turnstile, so that an `alone` test
    waiting for the running ones is not overtaken by the next ones."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not item.config.option.basetemp:
        return (yield)
    lock = _run_lock(item.config)
    alone = item.get_closest_marker("alone") is not None
    fcntl.lockf(lock, fcntl.LOCK_EX, 1, 0)  # the turnstile
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH, 1, 1)
    finally:
        fcntl.lockf(lock, fcntl.LOCK_UN, 1, 0)
    try:
        return (yield)
    finally:
        fcntl.lockf(lock, fcntl.LOCK_UN, 1, 1)
