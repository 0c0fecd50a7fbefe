"""`python -m bot backup OUT` and `python -m bot restore IN`.

A backup is one file, encrypted with the data key (crypto.KeyRing.encrypt_bytes): a tar
holding the database (SQLite: a copy made with the online backup API; PostgreSQL: a
`pg_dump` plain SQL dump) and the data folder's kept answer files (themselves encrypted
too). The key file data.key is never put in: the key is kept apart from the backups."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.state import crypto

DB_SQLITE = "database.sqlite"
DB_SQL = "database.sql"
FILES = "files"
ABOUT = "about.json"  # where the files were: the database names them by path
SKIP = {"data.key", "gespreksmaatje.db", "gespreksmaatje.db-wal", "gespreksmaatje.db-shm"}


class BackupError(Exception):
    """One line an operator can act on."""


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None


def _libpq(url: str) -> str:
    """A DATABASE_URL as pg_dump and psql take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _kept_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name not in SKIP
                  and not p.name.endswith(".part") and p.parts[len(data_dir.parts)]
                  not in {"pictos", "speech"})


def backup(url: str, data_dir: Path, out: Path) -> int:
    """Write the encrypted backup; returns its size in bytes."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=buffer, mode="w") as tar:
        db_file = _sqlite_path(url)
        if db_file is not None:
            copy = Path(tmp) / DB_SQLITE
            source, target = sqlite3.connect(db_file), sqlite3.connect(copy)
            try:
                source.backup(target)  # consistent while the bot keeps writing
            finally:
                source.close()
                target.close()
            tar.add(copy, DB_SQLITE)
        else:
            dump = Path(tmp) / DB_SQL
            done = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "-f", str(dump),
                                   _libpq(url)], capture_output=True, text=True)
            if done.returncode != 0:
                raise BackupError(f"pg_dump failed: {_first(done.stderr)}")
            tar.add(dump, DB_SQL)
        if data_dir.exists():
            for path in _kept_files(data_dir):
                tar.add(path, f"{FILES}/{path.relative_to(data_dir).as_posix()}")
        about = json.dumps({"data_dir": str(data_dir.resolve())}).encode()
        info = tarfile.TarInfo(ABOUT)
        info.size = len(about)
        tar.addfile(info, io.BytesIO(about))
    sealed = crypto.ring().encrypt_bytes(buffer.getvalue())
    partial = out.with_name(out.name + ".part")
    partial.write_bytes(sealed)
    partial.replace(out)
    return len(sealed)


def restore(url: str, data_dir: Path, source: Path, empty: bool) -> str | None:
    """Restore into an empty database (`empty` is told by the caller, who checked). Returns
    the data folder the backup was made from (its kept files are now in `data_dir`; the
    caller points the database's paths here), None for a backup that does not say."""
    if not empty:
        raise BackupError("the database is not empty; restore only into a new, empty "
                          "database (a new DATABASE_URL or file).")
    try:
        plain = crypto.ring().decrypt_bytes(source.read_bytes())
    except crypto.DataKeyError as error:
        raise BackupError(f"cannot open the backup: {error}") from None
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        tar.extractall(tmp, filter="data")
        db_file = _sqlite_path(url)
        if db_file is not None:
            if not (Path(tmp) / DB_SQLITE).exists():
                raise BackupError("this backup is of PostgreSQL; restore it into PostgreSQL.")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_file}{suffix}").unlink(missing_ok=True)
            db_file.parent.mkdir(parents=True, exist_ok=True)
            source_db, target = sqlite3.connect(Path(tmp) / DB_SQLITE), sqlite3.connect(db_file)
            try:
                source_db.backup(target)
            finally:
                source_db.close()
                target.close()
        else:
            if not (Path(tmp) / DB_SQL).exists():
                raise BackupError("this backup is of SQLite; restore it into SQLite.")
            done = subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f",
                                   str(Path(tmp) / DB_SQL), _libpq(url)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise BackupError(f"psql failed: {_first(done.stderr)}")
        files = Path(tmp) / FILES
        if files.exists():
            shutil.copytree(files, data_dir, dirs_exist_ok=True)
        about = Path(tmp) / ABOUT
        if not about.exists():
            return None
        made_from: str = json.loads(about.read_text())["data_dir"]
        return made_from


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
