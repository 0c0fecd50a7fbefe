"""The Bot API transport: python-telegram-bot's requests sent over aiohttp.

python-telegram-bot sends every request through a `BaseRequest`; its default, httpx, spends
about 1.5 ms of CPU per call on this machine, aiohttp about 0.3 ms (bench/transport.py).
A turn makes two or three calls (the question, its voice, the press's answer), so the
transport was the largest single cost of an update. aiohttp is already ours (the local Bot
API server), and `BaseRequest` is python-telegram-bot's documented way to bring another
HTTP library: everything above it (the bot's methods, errors, retries, rate limits) is
unchanged.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import aiohttp
import yarl
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.ops import metrics

# python-telegram-bot's own defaults (HTTPXRequest): seconds.
CONNECT, READ, WRITE, POOL, MEDIA_WRITE = 5.0, 5.0, 5.0, 1.0, 20.0


class AiohttpRequest(BaseRequest):
    """One aiohttp session with at most `connection_pool_size` connections."""

    def __init__(self, connection_pool_size: int = 1, read_timeout: float = READ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = _given(read_timeout, self._read_timeout)
        # aiohttp has no write timeout: an upload gets its write time on top of the read time.
        write = _given(write_timeout, MEDIA_WRITE if files else WRITE)
        wait_and_connect = _sum(_given(pool_timeout, POOL), _given(connect_timeout, CONNECT))
        timeout = aiohttp.ClientTimeout(
            total=_sum(read, write) if files else None, connect=wait_and_connect,
            sock_read=read)
        body, headers = _body(request_data) if request_data else (None, None)
        try:
            async with self._session.request(method, _url(url), data=body, headers=headers,
                                             timeout=timeout) as response:
                metrics.api_answer(response.status)
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's timeouts are TimeoutErrors
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


_JSON = {"Content-Type": "application/json"}


def _body(request_data: RequestData) -> tuple[bytes | aiohttp.FormData, dict[str, str] | None]:
    """The parameters as one JSON object (the Bot API takes JSON, and it costs less to make
    than a form), or as multipart form data when a file goes along."""
    files = request_data.multipart_data
    if not files:
        return request_data.json_payload, _JSON
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, *mimetype) in files.items():
        form.add_field(name, content, filename=filename,
                       content_type=mimetype[0] if mimetype else None)
    return form, None


@lru_cache(maxsize=256)
def _url(url: str) -> yarl.URL:
    """A method's URL parsed once (the bot calls a handful of methods, again and again)."""
    return yarl.URL(url)


def _given(value: Any, default: float) -> float | None:
    """A timeout python-telegram-bot passed (None: wait forever), or ours when it passed
    none."""
    if isinstance(value, type(BaseRequest.DEFAULT_NONE)):
        return default
    return value


def _sum(*parts: float | None) -> float | None:
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)

