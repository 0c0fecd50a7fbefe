"""Backups (issue 17): `python -m bot backup OUT` and `restore IN` give the same /lijst in an
empty database; the backup file holds no plain answer text; a non-empty database is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.state import crypto
from bot.state.models import Answer
from tests.harness import Harness, harness, texts
from tests.test_triangle import admin_and_begeleider, client_with_topic

ROOT = Path(__file__).resolve().parent.parent
TYPED = ["Geheim onderwerp van Sam", "Ik wil graag op mezelf wonen"]
VOICE = b"OggS-" + bytes(range(100)) + b"-sams-voice"


def _cli(url: str, data_dir: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESPREKSMAATJE")}
    env.update({"DATABASE_URL": url, "DATA_DIR": str(data_dir), "DATA_KEY": key,
                "TELEGRAM_BOT_TOKEN": "", "PYTHONPATH": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "bot", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def _empty_url(url: str, tmp: Path) -> str:
    """A second, empty database beside the test's one."""
    if url.startswith("sqlite"):
        return f"sqlite+aiosqlite:///{tmp / 'restored.db'}"
    import psycopg  # the private cluster of scripts/with-postgres.sh

    base, _, name = url.rpartition("/")
    fresh = f"{name}_restored"
    with psycopg.connect(base.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        conn.execute(f'CREATE DATABASE "{fresh}"')
    return f"{base}/{fresh}"


async def _lijst(h: Harness) -> str:
    sam = h.server.user(1001, first_name="Sam")
    return texts(await h.act(sam, sam.send_command("/lijst")))


async def test_a_backup_restored_into_an_empty_database_gives_the_same_list(
        h: Harness, db_url: str, tmp_path: Path) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, TYPED[0])
    await h.tap(sam, "➕ Ja, nog iets")
    await h.say(sam, TYPED[1])
    await h.act(sam, sam.send_voice(VOICE, duration=3))  # kept in the data folder
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.file_state == "kept" and voice.file_path is not None
    before = await _lijst(h)
    assert all(word in before for word in TYPED)
    await h.stop_bot()
    key = (h.settings.data_dir / "data.key").read_text().strip()
    out = tmp_path / "backup.gm"
    done = _cli(db_url, h.settings.data_dir, key, "backup", str(out))
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    assert not any(word.encode() in data for word in TYPED)  # encrypted as a whole
    assert crypto.read_kept(out)  # opens with the data key

    target = _empty_url(db_url, tmp_path)
    restored_dir = tmp_path / "restored"
    done = _cli(target, restored_dir, key, "restore", str(out))
    assert done.returncode == 0, done.stderr
    again = _cli(target, restored_dir, key, "restore", str(out))
    assert again.returncode == 2 and again.stderr.startswith(
        "gespreksmaatje: restore: the database is not empty")
    assert again.stderr.strip().count("\n") == 0

    async with harness(target, tmp_path / "second") as second:
        crypto.install(crypto.KeyRing(crypto.parse_key(key)))
        # Telegram goes on counting updates; this fresh local server would start again at
        # ids the restored inbox has already handled.
        second.server._next_update_id = 200_000_001  # type: ignore[attr-defined]
        await second.start_bot()
        after = await _lijst(second)
        (moved,) = await second.rows(Answer, Answer.kind == "voice")
    assert after == before
    # Restored into another data folder: the kept voice is there, and the database says so.
    assert moved.file_path is not None and moved.file_path.startswith(str(restored_dir))
    assert crypto.read_kept(Path(moved.file_path)) == VOICE
