"""Crash points for the durability tests: `GESPREKSMAATJE_CRASH_AT=<point>:<n>` makes the
process kill itself (SIGKILL, like `kill -9`) the n-th time it reaches `point`. Unset (as
always in production) a checkpoint costs one dict lookup."""

from __future__ import annotations

import os
import signal

_PLAN = os.environ.get("GESPREKSMAATJE_CRASH_AT", "")
_POINT, _, _COUNT = _PLAN.partition(":")
_seen = 0


def checkpoint(point: str) -> None:
    global _seen
    if not _PLAN or point != _POINT:
        return
    _seen += 1
    if _seen >= int(_COUNT or "1"):
        os.kill(os.getpid(), signal.SIGKILL)
