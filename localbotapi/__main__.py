"""Run the local Bot API server standalone: ``python -m localbotapi --port 8081``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

from localbotapi.server import BotApiServer


async def _serve(args: argparse.Namespace) -> None:
    server = BotApiServer(
        token=args.token,
        port=args.port,
        files_dir=Path(args.files_dir) if args.files_dir else None,
        bot_username=args.bot_username,
        host=args.host,
        control_api=not args.no_control,
    )
    await server.start()
    print(f"Bot API on {server.base_url}<token>/<method>  (token {server.token})", flush=True)
    print(f"  base_url={server.base_url}  base_file_url={server.file_url}", flush=True)
    if server.control_api:
        print(
            f"  user side: POST http://{server.host}:{server.port}/_user/<id>/send_text "
            '{"text": "/start"}; .../press {"message_id": N, "button": "..."}; '
            "GET .../messages",
            flush=True,
        )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m localbotapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--bot-username", default="gespreksmaatje_bot")
    parser.add_argument("--files-dir", default=None)
    parser.add_argument("--no-control", action="store_true", help="disable /_user/ endpoints")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
