"""The ops port: /healthz (the process is alive), /readyz (the database answers and the
inbox backlog is small), /metrics (Prometheus text). Bound to 127.0.0.1 by default: it is
for the local Prometheus / load balancer, never for the internet."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.ops import metrics
from bot.state.store import Store

log = logging.getLogger(__name__)

DB_TIMEOUT = 2.0  # seconds a readiness or scrape query may take


async def backlog(store: Store) -> tuple[int, float]:
    """Rows in state new, and the age in seconds of the oldest of them (0 when none)."""
    count, oldest = await store.inbox_backlog()
    if oldest is None:
        return count, 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return count, max(0.0, (datetime.now(UTC) - oldest).total_seconds())


async def readiness(store: Store, max_backlog: int) -> str | None:
    """None when ready, else a one-line reason."""
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            count, _age = await backlog(store)
    except TimeoutError:
        return f"database did not answer within {DB_TIMEOUT:.0f} s"
    except Exception as error:  # noqa: BLE001 - any failure means not ready
        return f"database unreachable: {type(error).__name__}"
    if count >= max_backlog:
        return f"inbox backlog {count} >= READY_MAX_BACKLOG {max_backlog}"
    return None


def build_app(store: Store, max_backlog: int) -> web.Application:
    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        reason = await readiness(store, max_backlog)
        if reason is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=reason + "\n")

    async def scrape(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                count, age = await backlog(store)
            metrics.INBOX_BACKLOG.set(count)
            metrics.INBOX_OLDEST_AGE.set(age)
        except Exception as error:  # noqa: BLE001 - serve the rest; the gauges stay stale
            log.warning("metrics: inbox backlog not read (%s)", type(error).__name__)
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    return app


class OpsServer:
    """Started and stopped with the bot (BotRunner.serve)."""

    def __init__(self, store: Store, host: str, port: int, max_backlog: int) -> None:
        self._runner = web.AppRunner(build_app(store, max_backlog), access_log=None)
        self.host, self.port = host, port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        log.info("ops port on http://%s:%d (/healthz /readyz /metrics)", self.host, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
