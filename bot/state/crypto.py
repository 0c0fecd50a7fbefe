"""Encryption at rest: a key ring (DATA_KEY, older keys in DATA_KEY_OLD) and AES-256-GCM.

Every ciphertext carries the id of its key (the first 8 hex digits of the key's SHA-256), so
`python -m bot rotate-key` can re-encrypt with the new key while old rows still read.
Text: "gm1:<kid>:<base64url(nonce|ciphertext)>"; bytes: b"GM1" + kid + nonce + ciphertext.
A value without the prefix is plain (written before encryption) and reads as it is."""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger("gespreksmaatje.crypto")

TEXT_PREFIX = "gm1:"
BYTES_PREFIX = b"GM1"
NONCE = 12
KID = 8
_P = ParamSpec("_P")
_R = TypeVar("_R")


class DataKeyError(Exception):
    """A key is missing or wrong; the message is one line an operator can act on."""


def parse_key(value: str) -> bytes:
    """A key as 64 hex digits or urlsafe base64 of 32 bytes."""
    value = value.strip()
    try:
        raw = bytes.fromhex(value) if len(value) == 64 else base64.urlsafe_b64decode(
            value + "=" * (-len(value) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise DataKeyError("DATA_KEY: use 32 random bytes as 64 hex digits or base64 "
                        "(python -c 'import secrets; print(secrets.token_hex(32))')")
    return raw


def new_key() -> str:
    return secrets.token_hex(32)


def key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:KID]


class Counts:
    """Values sealed or opened by this process and the time it took (the benchmark's
    "encryption per update" rows); counted only with GESPREKSMAATJE_SQL_STATS set."""

    on = bool(os.environ.get("GESPREKSMAATJE_SQL_STATS"))
    values = 0
    seconds = 0.0

    @classmethod
    def line(cls) -> str:
        return f"crypto values={cls.values} crypto_us={round(cls.seconds * 1e6)}"


def _counted(method: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(method)
    def timed(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not Counts.on:
            return method(*args, **kwargs)
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            Counts.seconds += time.perf_counter() - start
            Counts.values += 1
    return timed


class KeyRing:
    def __init__(self, current: bytes, old: list[bytes] | None = None) -> None:
        self.current = key_id(current)
        self._aead = {key_id(k): AESGCM(k) for k in [*(old or []), current]}

    def knows(self, kid: str) -> bool:
        return kid in self._aead

    @_counted
    def encrypt_bytes(self, data: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return (BYTES_PREFIX + self.current.encode() + nonce
                + self._aead[self.current].encrypt(nonce, data, None))

    @_counted
    def decrypt_bytes(self, data: bytes) -> bytes:
        if not data.startswith(BYTES_PREFIX):
            return data  # kept before encryption
        start = len(BYTES_PREFIX)
        kid = data[start:start + KID].decode("ascii", "replace")
        body = data[start + KID:]
        return self._open(kid, body[:NONCE], body[NONCE:])

    @_counted
    def encrypt_text(self, text: str) -> str:
        nonce = os.urandom(NONCE)
        sealed = self._aead[self.current].encrypt(nonce, text.encode("utf-8"), None)
        return f"{TEXT_PREFIX}{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    @_counted
    def decrypt_text(self, value: str) -> str:
        if not value.startswith(TEXT_PREFIX):
            return value  # written before encryption
        kid, _, body = value[len(TEXT_PREFIX):].partition(":")
        raw = base64.urlsafe_b64decode(body)
        return self._open(kid, raw[:NONCE], raw[NONCE:]).decode("utf-8")

    def _open(self, kid: str, nonce: bytes, sealed: bytes) -> bytes:
        aead = self._aead.get(kid)
        if aead is None:
            raise DataKeyError(f"data was encrypted with key {kid}, which is not in DATA_KEY or "
                            "DATA_KEY_OLD; set the key the data was written with.")
        try:
            return aead.decrypt(nonce, sealed, None)
        except InvalidTag:
            raise DataKeyError(f"data under key {kid} does not decrypt (damaged?).") from None

    def is_current(self, value: str | bytes | None) -> bool:
        """Whether a stored value is already under the current key (rotate-key skips it)."""
        if value is None:
            return True
        if isinstance(value, str):
            return value.startswith(f"{TEXT_PREFIX}{self.current}:") or value == ""
        return value.startswith(BYTES_PREFIX + self.current.encode())


def read_kept(path: str | Path) -> bytes:
    """A kept answer file's bytes (decrypted; a file kept before encryption reads as it is)."""
    return ring().decrypt_bytes(Path(path).read_bytes())


_ring: KeyRing | None = None


def install(ring: KeyRing) -> KeyRing:
    global _ring
    _ring = ring
    return ring


def ring() -> KeyRing:
    """The process's key ring; without one installed (tests, library use) a random key that
    lives as long as the process."""
    global _ring
    if _ring is None:
        _ring = KeyRing(os.urandom(32))
    return _ring


def ring_from_settings(data_key: str, data_key_old: str, data_dir: Path) -> KeyRing:
    """DATA_KEY (and DATA_KEY_OLD, comma separated); without one, a generated local key in
    <data_dir>/data.key (mode 0600), said once in the log."""
    old = [parse_key(k) for k in data_key_old.split(",") if k.strip()]
    if data_key.strip():
        return KeyRing(parse_key(data_key), old)
    path = data_dir / "data.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
    log.warning("no DATA_KEY set: using a generated local key in %s", path)
    return KeyRing(parse_key(path.read_text()), old)
