"""Encryption at rest (issue 17): answers, topics and kept files are stored encrypted with a
key from DATA_KEY (or a generated <data_dir>/data.key); a wrong key refuses to start in one
line; `python -m bot rotate-key` moves everything to the new key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Text, select, type_coerce

from bot.state import crypto
from bot.state.models import Answer
from tests.harness import Harness, texts
from tests.test_triangle import admin_and_begeleider, client_with_topic

ROOT = Path(__file__).resolve().parent.parent
TYPED = ["Geheim onderwerp van Sam", "Ik wil graag op mezelf wonen"]
VOICE = b"OggS-" + bytes(range(200)) + b"-sams-secret-voice"


# --- crypto.py --------------------------------------------------------------------------

def test_text_and_bytes_round_trip_with_a_key_id() -> None:
    key = os.urandom(32)
    ring = crypto.KeyRing(key)
    sealed = ring.encrypt_text("Wonen ✨")
    assert sealed.startswith(f"gm1:{crypto.key_id(key)}:") and "Wonen" not in sealed
    assert ring.decrypt_text(sealed) == "Wonen ✨"
    assert ring.encrypt_text("x") != ring.encrypt_text("x")  # a fresh nonce each time
    blob = ring.encrypt_bytes(VOICE)
    assert VOICE not in blob and ring.decrypt_bytes(blob) == VOICE
    assert ring.decrypt_text("plain from before") == "plain from before"
    assert ring.decrypt_bytes(b"OggS plain") == b"OggS plain"


def test_an_unknown_or_wrong_key_is_one_clear_error() -> None:
    sealed = crypto.KeyRing(os.urandom(32)).encrypt_text("Wonen")
    with pytest.raises(crypto.DataKeyError, match="not in DATA_KEY"):
        crypto.KeyRing(os.urandom(32)).decrypt_text(sealed)
    kid = sealed.split(":")[1]
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(crypto.DataKeyError):
        crypto.KeyRing(os.urandom(32)).decrypt_text(tampered.replace(kid, kid))
    with pytest.raises(crypto.DataKeyError, match="64 hex digits"):
        crypto.parse_key("too-short")


def test_old_keys_still_read_and_the_current_one_writes() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = crypto.KeyRing(old).encrypt_text("Werk")
    ring = crypto.KeyRing(new, [old])
    assert ring.decrypt_text(sealed) == "Werk" and not ring.is_current(sealed)
    assert ring.is_current(ring.encrypt_text("Werk"))


def test_without_data_key_a_local_key_file_is_made_once(tmp_path: Path) -> None:
    first = crypto.ring_from_settings("", "", tmp_path / "data")
    path = tmp_path / "data" / "data.key"
    assert path.stat().st_mode & 0o777 == 0o600
    second = crypto.ring_from_settings("", "", tmp_path / "data")
    assert first.current == second.current
    given = crypto.ring_from_settings("ab" * 32, "", tmp_path / "other")
    assert given.current == crypto.key_id(bytes.fromhex("ab" * 32))
    assert not (tmp_path / "other" / "data.key").exists()


# --- through the bot ----------------------------------------------------------------------

async def _client_answers(h: Harness) -> None:
    _fatima, bram = await admin_and_begeleider(h)
    sam = await client_with_topic(h, bram, TYPED[0])
    await h.tap(sam, "➕ Ja, nog iets")
    await h.say(sam, TYPED[1])
    await h.act(sam, sam.send_voice(VOICE, duration=4))
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.file_state == "kept"


def _stored_files(h: Harness) -> list[Path]:
    files = [p for p in h.settings.data_dir.rglob("*") if p.is_file()]
    if h.store.url.startswith("sqlite"):
        db = Path(h.store.url.split("///", 1)[1])
        files += [p for p in db.parent.glob(db.name + "*") if p.is_file()]
    return files


async def _raw_texts(h: Harness) -> list[str]:
    async with h.store.engine.connect() as connection:
        return [v for v in (await connection.scalars(
            select(type_coerce(Answer.text, Text)))).all() if v]


async def test_nothing_typed_or_spoken_is_stored_in_the_clear(h: Harness) -> None:
    await _client_answers(h)
    await h.stop_bot()  # everything written out (SQLite's WAL included)
    for path in _stored_files(h):
        data = path.read_bytes()
        for word in TYPED:
            assert word.encode() not in data, path
        assert VOICE not in data and VOICE[-20:] not in data, path
    assert all(v.startswith("gm1:") for v in await _raw_texts(h))
    await h.start_bot()
    sam = h.server.user(1001, first_name="Sam")
    out = await h.act(sam, sam.send_command("/lijst"))
    assert all(word in texts(out) for word in TYPED)  # the bot still reads them
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.file_path and crypto.read_kept(voice.file_path) == VOICE


def _cli(h: Harness, command: str, data_key: str, data_key_old: str = ""
         ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESPREKSMAATJE")}
    env.update({"TELEGRAM_BOT_TOKEN": "123456:TEST-TOKEN",
                "TELEGRAM_API_URL": h.server.base_url, "DATABASE_URL": h.store.url,
                "DATA_DIR": str(h.settings.data_dir), "DATA_KEY": data_key,
                "DATA_KEY_OLD": data_key_old, "SPEECH_ENABLED": "false",
                "PYTHONPATH": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "bot", command], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


async def test_a_wrong_key_refuses_to_start_in_one_line(h: Harness) -> None:
    await _client_answers(h)
    await h.stop_bot()
    done = _cli(h, "run", crypto.new_key())
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("gespreksmaatje: DATA_KEY does not fit the stored data")


async def test_rotate_key_moves_everything_to_the_new_key(h: Harness) -> None:
    await _client_answers(h)
    await h.stop_bot()
    old = (h.settings.data_dir / "data.key").read_text().strip()
    new = crypto.new_key()
    done = _cli(h, "rotate-key", new, old)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted" in done.stdout
    crypto.install(crypto.KeyRing(crypto.parse_key(new)))  # the new key only from now on
    new_id = crypto.key_id(crypto.parse_key(new))
    assert all(v.startswith(f"gm1:{new_id}:") for v in await _raw_texts(h))
    (voice,) = await h.rows(Answer, Answer.kind == "voice")
    assert voice.file_path and crypto.read_kept(voice.file_path) == VOICE
    stored = [a.text for a in await h.rows(Answer)]
    assert all(word in stored for word in TYPED)
    assert _cli(h, "rotate-key", new).stdout.startswith(
        "re-encrypted with the key in DATA_KEY: 0 values, 0 files")  # nothing left to do
