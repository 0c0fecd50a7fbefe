"""Fixtures: a fresh database per test (SQLite, and PostgreSQL when TEST_POSTGRES_URL is
set: `make test` starts a private cluster), and the harness around the real bot."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fake_gtts import FakeGtts
from tests.harness import Harness, harness

POSTGRES = os.environ.get("TEST_POSTGRES_URL", "")  # e.g. postgresql+psycopg://u@127.0.0.1:5433


def _databases() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES else ["sqlite"]


@pytest.fixture(params=_databases())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = POSTGRES.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
    async with harness(db_url, tmp_path) as h:
        h.settings = h.settings.model_copy(update={"speech_enabled": True,
                                                   "gtts_base_url": fake_gtts.url})
        await h.start_bot()
        yield h
