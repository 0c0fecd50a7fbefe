"""Command line: ``python -m pictos check MANIFEST`` and ``python -m pictos sheet OUT.png``.

Clear messages and exit code 1 on problems, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pictos.library import PictoLibrary
from pictos.manifest import ManifestError, check_manifest


def main(argv: list[str] | None = None, questions: set[str] | None = None) -> int:
    """`questions`: those a manifest's `mat` may name (the bot passes its own)."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(Path(args.manifest), questions)
    return _sheet(Path(args.out), Path(args.manifest) if args.manifest else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pictos", description="Picto sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check an organisation's picto manifest")
    check.add_argument("manifest", help="path to the manifest (YAML)")
    sheet = sub.add_parser("sheet", help="draw every picto with its word and key in one PNG")
    sheet.add_argument("out", help="where to write the PNG")
    sheet.add_argument("--manifest", help="an organisation's manifest (default: OpenMoji only)")
    return parser


def _check(path: Path, questions: set[str] | None = None) -> int:
    problems = check_manifest(path, questions=questions)
    if problems:
        print(f"{len(problems)} problem(s) in {path}:")
        for line in problems:
            print(f"  - {line}")
        return 1
    print(f"OK: {path} is a valid picto manifest.")
    return 0


def _sheet(out: Path, manifest: Path | None) -> int:
    try:
        lib = PictoLibrary.load(manifest)
        lib.contact_sheet(out)
    except ManifestError as exc:
        print(f"Cannot use the manifest: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"Cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"Wrote {out} ({len(lib.keys())} pictos).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
