"""A small round-robin HTTP proxy: the load balancer in front of several bot processes.

Each POST goes to the next backend in turn, with its body and headers (the webhook's secret
header among them); a backend that refuses the connection (a process that died) is skipped
for the next one, so only when none is up does the caller get a 502 (and Telegram, or the
local Bot API server, retries). Used by the tests and the benchmark of several processes.
"""

from __future__ import annotations

import itertools
from collections import Counter
from types import TracebackType

import aiohttp
from aiohttp import web

FORWARDED = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


class RoundRobinProxy:
    def __init__(self, backends: list[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.backends = backends  # base urls, e.g. http://127.0.0.1:8441
        self.host, self.port = host, port
        self.served: Counter[str] = Counter()  # backend → posts it answered
        self._turn = itertools.cycle(range(len(backends)))
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("POST", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> RoundRobinProxy:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        for _ in self.backends:
            backend = self.backends[next(self._turn)]
            try:
                async with self._session.post(f"{backend}{request.path_qs}", data=body,
                                              headers=headers) as answer:
                    self.served[backend] += 1
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectionError:
                continue  # that process is down: the next one
        return web.Response(status=502, text="no backend up")
