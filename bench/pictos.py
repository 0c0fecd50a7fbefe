"""Bench the picto renderer: one card (cold and cached), the domains sheet, the picture of a
client's list (made anew for every send), the picture of a finished picto mat (cold, in a
fresh process's library, and kept), warming all cards.

Run: ``.venv/bin/python bench/pictos.py``. Uses a fresh temporary cache folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# This file is named like the package: drop bench/ from the import path so that
# `import pictos` finds the package (in the repository root), not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from pictos import PictoLibrary  # noqa: E402

DOMAINS = [
    "domain_health", "domain_daytime", "domain_social", "domain_feelings", "domain_learning",
    "domain_housing", "domain_money", "domain_choices", "domain_intimacy", "domain_meaning",
]
# The list of a client who filled in ten parts (the review's picture).
BOARD = [(key, f"Over {key}", "Ik kan goed tekenen; Dat ik grappig ben; Over mijn werk en "
          "mijn vrienden") for key in ("agenda", "good_at", "appreciated", "good_day",
                                       "bad_day", "works", "not_works", "important", "future",
                                       "learn")]


def timed(label: str, run: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = run()
    print(f"{label:<34} {1000 * (time.perf_counter() - start):8.1f} ms")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        lib = timed("load default manifest", lambda: PictoLibrary.load(cache_dir=cache / "a"))
        assert isinstance(lib, PictoLibrary)
        timed("card good_day (cold)", lambda: lib.card("good_day"))
        timed("card good_day (cached)", lambda: lib.card("good_day"))
        timed("domains sheet (cold)", lambda: lib.sheet(DOMAINS))
        timed("domains sheet (cached)", lambda: lib.sheet(DOMAINS))
        rows = [row for row in BOARD if lib.has(row[0])]
        timed(f"list picture, {len(rows)} parts (first)", lambda: lib.board(rows))
        runs = 10
        start = time.perf_counter()
        for _ in range(runs):
            picture = lib.board(rows)
        print(f"{'list picture (again, mean of 10)':<34} "
              f"{1000 * (time.perf_counter() - start) / runs:8.1f} ms "
              f"({len(picture) // 1024} KiB)")
        # A mat of nine pictures (a good day), in a library that has drawn nothing yet.
        mat = [("mat_fine", ["mat_music", "mat_walk", "mat_tv", "mat_outside"]),
               ("mat_unsure", ["mat_friends"]),
               ("mat_not_fine", ["mat_cooking", "mat_noise", "mat_busy", "mat_work"])]
        cold = PictoLibrary.load(cache_dir=cache / "c")
        timed("mat picture, 9 pictures (cold)", lambda: cold.mat(mat))
        timed("mat picture (kept)", lambda: cold.mat(mat))
        fresh = PictoLibrary.load(cache_dir=cache / "b")
        count = timed("warm all cards (2 workers)", lambda: fresh.warm(max_workers=2))
        timed("warm all cards again (cached)", lambda: fresh.warm(max_workers=2))
        print(f"{count} cards")


if __name__ == "__main__":
    main()
