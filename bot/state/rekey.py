"""The key at start-up and `python -m bot rotate-key`: check that the key ring opens the data
that is there, and re-encrypt every encrypted column and kept answer file with the current key.

Works on the stored (raw) values through `type_coerce(..., Text)`, so the ORM's
EncryptedText does not get in between."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Text, select, type_coerce, update

from bot.state import crypto
from bot.state.models import Answer, Base, EncryptedJSON, EncryptedText
from bot.state.store import Store


def encrypted_columns(kinds: tuple[type, ...] = (EncryptedText,)) -> list[Column[Any]]:
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, kinds)]


async def check_key(store: Store) -> None:
    """Raise crypto.DataKeyError (one line) when a stored value does not open with the ring."""
    ring = crypto.ring()
    async with store.engine.connect() as connection:
        for column in encrypted_columns():
            raw = type_coerce(column, Text)
            value = await connection.scalar(
                select(raw).where(raw.like(f"{crypto.TEXT_PREFIX}%")).limit(1))
            if value is not None:
                ring.decrypt_text(value)
        path = await connection.scalar(select(Answer.file_path).where(
            Answer.file_state == "kept", Answer.file_path.is_not(None)).limit(1))
    if path:
        there: bool = await asyncio.to_thread(Path(path).exists)
        if there:
            await asyncio.to_thread(crypto.read_kept, path)


async def rotate(store: Store) -> tuple[int, int]:
    """Re-encrypt what is not under the current key (also plain rows from before);
    returns (values, files) rewritten. Safe to run again after an interruption."""
    ring = crypto.ring()
    values = 0
    for column in encrypted_columns((EncryptedText, EncryptedJSON)):
        table = column.table
        key = table.primary_key.columns.values()[0]
        kind = JSON if isinstance(column.type, EncryptedJSON) else Text
        raw = type_coerce(column, kind)
        async with store.engine.begin() as connection:
            rows = (await connection.execute(select(key, raw).where(column.is_not(None)))).all()
            for row_id, value in rows:
                if value is None or ring.is_current(value):
                    continue
                if isinstance(value, str):
                    fresh: Any = ring.encrypt_text(ring.decrypt_text(value))
                else:  # a JSON document kept before encryption
                    fresh = ring.encrypt_text(json.dumps(value))
                await connection.execute(update(table).where(key == row_id).values(
                    {column.name: type_coerce(fresh, kind)}))
                values += 1
    files = 0
    async with store.engine.connect() as connection:
        paths = (await connection.scalars(select(Answer.file_path).where(
            Answer.file_path.is_not(None)))).all()
    for name in paths:
        rewritten: bool = bool(name) and await asyncio.to_thread(_rewrite, Path(str(name)), ring)
        files += rewritten
    return values, files


def _rewrite(path: Path, ring: crypto.KeyRing) -> bool:
    """One kept file under the current key (written beside, then moved: never half)."""
    if not path.exists():
        return False
    data = path.read_bytes()
    if ring.is_current(data):
        return False
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(ring.encrypt_bytes(ring.decrypt_bytes(data)))
    partial.replace(path)
    return True
