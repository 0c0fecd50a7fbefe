"""Every Prometheus metric of the bot, in one registry of its own (not prometheus_client's
global one, so tests and tools importing the bot never clash with another exporter).

Hot-path hooks are one counter inc or one histogram observe; the database gauges (backlog,
oldest pending age) are read at scrape time by bot/ops/http.py, not kept up to date."""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_HANDLED = Counter("gespreksmaatje_updates_handled", "Updates handled (ok or failed)",
                          registry=REGISTRY)
UPDATES_FAILED = Counter("gespreksmaatje_updates_failed", "Updates whose handling raised",
                         registry=REGISTRY)
HANDLING_SECONDS = Histogram(
    "gespreksmaatje_update_handling_seconds", "Time from handling start to replies sent",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=REGISTRY)
INBOX_BACKLOG = Gauge("gespreksmaatje_inbox_backlog", "Inbox rows not yet handled (state new)",
                      registry=REGISTRY)
INBOX_OLDEST_AGE = Gauge("gespreksmaatje_inbox_oldest_pending_seconds",
                         "Age of the oldest unhandled inbox row (0: none)", registry=REGISTRY)
API_CALLS = Counter("gespreksmaatje_bot_api_calls", "Requests made to the Bot API",
                    registry=REGISTRY)
API_429 = Counter("gespreksmaatje_bot_api_429", "Bot API answers 429 Too Many Requests",
                  registry=REGISTRY)
PLANNED_DUE = Counter("gespreksmaatje_planned_due", "Planned sends claimed as due",
                      registry=REGISTRY)
PLANNED_SENT = Counter("gespreksmaatje_planned_sent", "Planned sends that went out",
                       registry=REGISTRY)
MEDIA_SENT = Counter("gespreksmaatje_media_sent",
                     "Picto cards and voice clips sent: by a file id Telegram has (a cache "
                     "hit) or uploaded", ["kind", "how"], registry=REGISTRY)


class _SpeechCollector:
    """The speech cache's own counters (voice/ does not import the bot), read at scrape time
    from the running bot's SpeechStats."""

    stats: Any = None

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self.stats
        if stats is None:
            return
        clips = CounterMetricFamily(
            "gespreksmaatje_speech_clips", "Voice clips asked for: served from the cache "
            "(hit), made now (made), or waiting for one being made (shared)", labels=["result"])
        for result, value in (("hit", stats.hits), ("made", stats.misses),
                              ("shared", stats.shared)):
            clips.add_metric([result], value)
        yield clips
        yield CounterMetricFamily("gespreksmaatje_speech_unavailable",
                                  "Voice clips no engine could make (text only)",
                                  value=stats.unavailable)


_SPEECH = _SpeechCollector()
REGISTRY.register(_SPEECH)


def watch_speech(stats: Any) -> None:
    """Export this speech cache's counters (the running bot's; the last one set wins)."""
    _SPEECH.stats = stats


def media_sent(kind: str, by_file_id: bool) -> None:
    MEDIA_SENT.labels(kind, "file_id" if by_file_id else "upload").inc()


def observe_update(started: float) -> None:
    """One handled update: the count and its handling time (from time.perf_counter())."""
    UPDATES_HANDLED.inc()
    HANDLING_SECONDS.observe(perf_counter() - started)


def api_answer(status: int) -> None:
    """One Bot API request answered (a 429 also counted apart)."""
    API_CALLS.inc()
    if status == 429:
        API_429.inc()
