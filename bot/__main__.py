"""`python -m bot [run|sandbox|migrate|backup|restore|rotate-key|organisation|invite|pictos]`:
the CLI.

Without a command: the bot on Telegram when a token is set, else the local sandbox.

Every failure an operator can fix prints one line (no traceback) and exits non-zero."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from bot.settings import Settings, SettingsError, load_settings
from bot.state.crypto import DataKeyError
from bot.state.store import DatabaseError, DatabaseUnreachable

log = logging.getLogger("gespreksmaatje")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pictos"]:  # `python -m bot pictos check|sheet …`: the picto tool
        from bot.dialogs.picto_mat import QUESTIONS
        from pictos.__main__ import main as pictos_main

        return pictos_main(argv[1:], set(QUESTIONS))
    parser = argparse.ArgumentParser(prog="python -m bot", description="Gespreksmaatje")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="run the bot on Telegram (long polling; a webhook "
                              "when WEBHOOK_URL is set)")
    run.add_argument("--webhook", action="store_true",
                     help="serve Telegram's webhook (needs WEBHOOK_URL)")
    sandbox = commands.add_parser("sandbox", help="try the bot in the browser, without Telegram")
    sandbox.add_argument("--port", type=int, default=None, help="page port (default 8080)")
    sandbox.add_argument("--demo", action="store_true", help="seed a demo organisation")
    commands.add_parser("migrate", help="bring the database up to date")
    backup = commands.add_parser("backup", help="write an encrypted backup of the database "
                                 "and the kept answer files")
    backup.add_argument("out", help="the backup file to write")
    restore = commands.add_parser("restore", help="restore a backup into an empty database")
    restore.add_argument("source", metavar="IN", help="the backup file")
    commands.add_parser("rotate-key", help="re-encrypt all data with DATA_KEY (old keys in "
                        "DATA_KEY_OLD)")
    commands.add_parser("pictos", help="check a picto manifest, or draw a contact sheet")
    organisation = commands.add_parser("organisation", help="the organisations that share "
                                       "this deployment (one bot for all)")
    organisations = organisation.add_subparsers(dest="organisation_command", required=True)
    organisation_add = organisations.add_parser("add", help="add an organisation")
    organisation_add.add_argument("name")
    organisations.add_parser("list", help="every organisation, with its people")
    organisation_set = organisations.add_parser("set", help="an organisation's own settings")
    organisation_set.add_argument("organisation", metavar="ID_OR_NAME")
    organisation_set.add_argument("--quiet", metavar="HH:MM-HH:MM|default",
                                  help="no planned messages to its people between these "
                                       "local times (default: QUIET_START-QUIET_END)")
    organisation_set.add_argument("--pictos", metavar="MANIFEST|default",
                                  help="its own picto manifest (checked first; default: "
                                       "the deployment's pictures)")
    organisation_set.add_argument("--texts", metavar="YAML|default",
                                  help="its own wording of some texts, key: text (checked "
                                       "first; default: the bot's texts)")
    invite = commands.add_parser("invite", help="make a one-time start link")
    invite.add_argument("role", choices=["client", "begeleider", "admin"])
    invite.add_argument("--name", required=True)
    invite.add_argument("--begeleider", type=int, default=None,
                        help="the begeleider id a new client belongs to")
    invite.add_argument("--organisation", default=None, metavar="ID_OR_NAME",
                        help="the organisation (default: the begeleider's, else the first)")
    invite.add_argument("--days", type=int, default=None, help="valid for (default 30)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "alembic", "apscheduler", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        logging.getLogger().setLevel(settings.log_level.upper())
        if settings.log_format == "json":
            from bot.ops.jsonlog import use_json_logs

            use_json_logs()
        _install_key(settings)
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "backup":
            asyncio.run(_backup(settings, args.out))
        elif args.command == "restore":
            asyncio.run(_restore(settings, args.source))
        elif args.command == "rotate-key":
            asyncio.run(_rotate_key(settings))
        elif args.command == "organisation" and args.organisation_command == "set":
            asyncio.run(_organisation_set(settings, args.organisation, args.quiet,
                                          args.pictos, args.texts))
        elif args.command == "organisation":
            asyncio.run(_organisation(settings, args.organisation_command,
                                      getattr(args, "name", "")))
        elif args.command == "invite":
            asyncio.run(_invite(settings, args.role, args.name, args.days or settings.invite_days,
                                args.begeleider, args.organisation))
        elif args.command == "sandbox":
            return _sandbox(settings, args.port or settings.sandbox_port, args.demo)
        elif args.command == "run" or settings.telegram_bot_token:
            if getattr(args, "webhook", False) and not settings.webhook_url:
                raise OperatorError("--webhook needs WEBHOOK_URL: the public https address "
                                    "Telegram posts updates to (see .env.example).")
            return _run(settings)
        else:  # `python -m bot` without a token: the local sandbox
            print("gespreksmaatje: no TELEGRAM_BOT_TOKEN is set, so the local sandbox starts "
                  "(set a token in .env to run on Telegram).", file=sys.stderr)
            return _sandbox(settings, settings.sandbox_port, demo=True)
    except (SettingsError, OperatorError, DataKeyError) as error:
        print(f"gespreksmaatje: {error}", file=sys.stderr)
        return 2
    except (DatabaseUnreachable, OSError) as error:
        print(f"gespreksmaatje: cannot use the database ({_first_line(error)}); "
              "check DATABASE_URL.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


class OperatorError(Exception):
    pass


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _install_key(settings: Settings) -> None:
    from bot.state import crypto

    crypto.install(crypto.ring_from_settings(settings.data_key, settings.data_key_old,
                                             settings.data_dir))


async def _check_key(settings: Settings) -> None:
    """Refuse to start when the key does not open the data that is there (one line)."""
    from bot.state.rekey import check_key
    from bot.state.store import Store

    store = Store(settings.db_url)
    try:
        await check_key(store)
    except DataKeyError as error:
        raise OperatorError(f"DATA_KEY does not fit the stored data: {error}") from None
    finally:
        await store.close()


async def _rotate_key(settings: Settings) -> None:
    from bot.state.rekey import rotate
    from bot.state.store import Store

    await _migrate_quietly(settings)
    store = Store(settings.db_url)
    try:
        values, files = await rotate(store)
    finally:
        await store.close()
    print(f"re-encrypted with the key in DATA_KEY: {values} values, {files} files; "
          "DATA_KEY_OLD may now be emptied.")


async def _backup(settings: Settings, out: str) -> None:
    from bot.state.backup import BackupError, backup

    await _check_key(settings)
    try:
        size = await asyncio.to_thread(backup, settings.db_url, settings.data_dir, Path(out))
    except BackupError as error:
        raise OperatorError(str(error)) from None
    print(f"backup written: {out} ({size} bytes, encrypted with the data key)")


async def _restore(settings: Settings, source: str) -> None:
    from bot.state.backup import BackupError, restore
    from bot.state.store import Store

    if not await asyncio.to_thread(Path(source).is_file):
        raise OperatorError(f"there is no backup file {source}.")
    store = Store(settings.db_url)
    try:
        tables = await store.table_names()
    finally:
        await store.close()
    try:
        made_from = await asyncio.to_thread(restore, settings.db_url, settings.data_dir,
                                            Path(source), not tables)
    except BackupError as error:
        raise OperatorError(f"restore: {error}") from None
    here = str(settings.data_dir.resolve())
    if made_from is not None and made_from != here:  # the kept files moved with DATA_DIR
        store = Store(settings.db_url)
        try:
            await store.move_kept_files(made_from, here)
        finally:
            await store.close()
    print(f"restored {source} into {settings.db_url.split('@')[-1]}")


async def _migrate(settings: Settings) -> None:
    await _migrate_quietly(settings)
    print(f"database is up to date: {settings.db_url.split('@')[-1]}")


async def _organisation(settings: Settings, command: str, name: str) -> None:
    """`organisation add NAME` (prints its id and name) and `organisation list`."""
    from bot.state.store import Store

    if command == "add" and not 0 < len(name.strip()) <= 200:
        raise OperatorError("an organisation's name has 1 to 200 characters.")
    await _migrate_quietly(settings)
    store = Store(settings.db_url)
    try:
        if command == "add":
            added = await store.add_organisation(name)
            if added is None:
                same = await store.find_organisation(name) or (0, name.strip())
                raise OperatorError(f"there is already an organisation {same[1]!r} "
                                    f"(id {same[0]}); choose another name.")
            print(f"organisation {added[0]}: {added[1]}")
            return
        rows = await store.organisations()
    finally:
        await store.close()
    if not rows:
        print("no organisations yet: add one with `python -m bot organisation add NAME`.")
        return
    print(f"{'id':>4}  {'admins':>6}  {'begeleiders':>11}  {'clients':>7}  {'quiet':>11}  "
          f"{'texts':>5}  name (own pictos)")
    for row in rows:
        print(f"{row.id:>4}  {row.admins:>6}  {row.begeleiders:>11}  {row.clients:>7}  "
              f"{row.quiet or 'default':>11}  {row.texts or 'none':>5}  {row.name}"
              + (f" ({row.pictos})" if row.pictos else ""))


async def _organisation_set(settings: Settings, ref: str, quiet: str | None,
                            pictos: str | None = None, texts: str | None = None) -> None:
    """`organisation set ID_OR_NAME --quiet 22:00-08:00 --pictos MANIFEST --texts YAML`
    (each also `default`; what is not given stays). Everything is checked before anything
    is written."""
    from bot.state.store import Store

    if quiet is None and pictos is None and texts is None:
        raise OperatorError("say what to set: --quiet, --pictos and/or --texts.")
    values: dict[str, Any] = {}
    said = []
    if quiet is not None:
        values["quiet_start"], values["quiet_end"] = hours = _quiet_hours(quiet)
        said.append("quiet hours " + ("-".join(h for h in hours if h) or (
            f"the deployment's ({settings.quiet_start}-{settings.quiet_end})")))
    if pictos is not None:
        values["picto_manifest"] = _own_manifest(pictos)
        said.append("pictos " + (values["picto_manifest"] or "the deployment's"))
    if texts is not None:
        values["texts"] = _own_texts(texts)
        count = len(values["texts"] or {})
        said.append(f"{count} own text{'s' * (count != 1)}" if count else "the bot's texts")
    await _migrate_quietly(settings)
    store = Store(settings.db_url)
    try:
        found = await store.find_organisation(ref)
        if found is None:
            raise OperatorError(f"there is no organisation {ref!r}; "
                                "`python -m bot organisation list` shows them.")
        await store.set_organisation(found[0], **values)
    finally:
        await store.close()
    print(f"organisation {found[0]}: {found[1]}: {'; '.join(said)}")


def _own_manifest(value: str) -> str | None:
    """An organisation's picto manifest, checked as `pictos check` does: its absolute path
    (every bot process reads it there); None for `default`."""
    from bot.dialogs import picto_mat
    from pictos import check_manifest

    if value.strip().lower() == "default":
        return None
    path = Path(value).expanduser().resolve()
    problems = check_manifest(path, questions=set(picto_mat.QUESTIONS))
    if problems:
        raise OperatorError(f"the picto manifest {value} cannot be used: {problems[0]}"
                            + (f" (and {len(problems) - 1} more; `python -m bot pictos "
                               f"check {value}` lists them)" if len(problems) > 1 else ""))
    return str(path)


def _own_texts(value: str) -> dict[str, str] | None:
    """An organisation's own texts from a YAML file of `key: text`, checked; None for
    `default`. Kept in the database, so every bot process has them."""
    import yaml

    from bot.dialogs.texts import own_texts_problems

    if value.strip().lower() == "default":
        return None
    try:
        own = yaml.safe_load(Path(value).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise OperatorError(f"cannot read the texts file {value}: "
                            f"{str(error).splitlines()[0]}") from error
    if not isinstance(own, dict) or not own:
        raise OperatorError(f"the texts file {value} must hold lines `key: text`.")
    problems = own_texts_problems(own)
    if problems:
        raise OperatorError(f"the texts file {value} cannot be used: {problems[0]}"
                            + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                               else ""))
    return {str(key): str(text) for key, text in own.items()}


def _quiet_hours(value: str) -> tuple[str | None, str | None]:
    """"21:00-09:00" → ("21:00", "09:00"); "default" → (None, None)."""
    if value.strip().lower() == "default":
        return None, None
    times = re.fullmatch(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})", value.strip())
    numbers = [int(n) for n in times.groups()] if times else []
    if not numbers or numbers[0] > 23 or numbers[2] > 23 or max(numbers[1], numbers[3]) > 59:
        raise OperatorError(f"quiet hours are two local times like 21:00-09:00 (or "
                            f"`default`), not {value!r}.")
    return f"{numbers[0]:02d}:{numbers[1]:02d}", f"{numbers[2]:02d}:{numbers[3]:02d}"


async def _invite(settings: Settings, role: str, name: str, days: int,
                  begeleider: int | None, organisation: str | None = None) -> None:
    from bot.state.store import Store

    await _migrate_quietly(settings)
    store = Store(settings.db_url)
    try:
        found = await store.find_organisation(organisation) if organisation else None
        if organisation and found is None:
            raise OperatorError(f"there is no organisation {organisation!r}; "
                                "`python -m bot organisation list` shows them.")
        organisation_id = found[0] if found else None
        if role == "client":
            if begeleider is not None:
                of = await store.begeleider_organisation(begeleider)
                if of is None:
                    raise OperatorError(f"there is no begeleider with id {begeleider}.")
                if found is not None and of != found[0]:
                    raise OperatorError(f"begeleider {begeleider} is not of {found[1]!r} "
                                        f"(id {found[0]}): a client and their begeleider "
                                        "are of one organisation.")
            _client, token = await store.create_client_invite(
                name.strip(), days, begeleider_id=begeleider, organisation_id=organisation_id)
        else:
            token = await store.create_role_invite(role, name.strip(), days, organisation_id)
    finally:
        await store.close()
    username = settings.bot_username or await _bot_username(settings) or "<bot username>"
    where = f", {role} of {found[1]}" if found else ""
    print(f"Start link for {name}{where} (valid {days} days, works once):")
    print(f"https://t.me/{username}?start={token}")
    print(token)


async def _bot_username(settings: Settings) -> str | None:
    if not settings.telegram_bot_token:
        return None
    from telegram import Bot
    from telegram.error import TelegramError

    try:
        async with Bot(settings.telegram_bot_token, base_url=settings.telegram_api_url) as bot:
            return bot.username
    except TelegramError:
        return None


async def _migrate_quietly(settings: Settings) -> None:
    from bot.state.migrate import upgrade

    try:
        await upgrade(settings.db_url)
    except DatabaseError as error:
        raise OperatorError(f"cannot use the database ({_first_line(error)}); "
                            "check DATABASE_URL.") from None


def _run(settings: Settings) -> int:
    if not settings.telegram_bot_token:
        print("gespreksmaatje: no TELEGRAM_BOT_TOKEN is set. Get one from @BotFather and put "
              "it in .env (see .env.example), or try the bot locally without Telegram: "
              "`python -m bot sandbox`.", file=sys.stderr)
        return 2
    return _run_loop(_serve(settings))


def _run_loop(main: Coroutine[Any, Any, int]) -> int:
    """The bot on uvloop (libuv's event loop) where it is installed: with it the bot spends
    about a tenth less CPU per update (bench/dialog_load.py; the loop, its sockets and the
    wake-ups from the database's thread are cheaper). asyncio's where it is not (Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _sandbox(settings: Settings, port: int, demo: bool) -> int:
    return asyncio.run(_serve_sandbox(settings, port, demo))


async def _serve_sandbox(settings: Settings, port: int, demo: bool) -> int:
    from bot.telegram.app import install_signal_handlers
    from sandbox import SandboxError, run_sandbox

    await _migrate_quietly(settings)
    await _check_key(settings)

    stop = asyncio.Event()
    install_signal_handlers(stop)
    try:
        await run_sandbox(settings, port, demo, stop)
    except SandboxError as error:
        raise OperatorError(str(error)) from None
    except OSError as error:
        raise OperatorError(f"cannot start the sandbox on port {port} ({error.strerror}); "
                            "try --port 8081 or SANDBOX_PORT.") from None
    return 0


async def _serve(settings: Settings) -> int:
    from bot.state.store import Store
    from bot.telegram.app import BotRunner, StartupError, install_signal_handlers
    from bot.telegram.media import build_media
    from pictos import ManifestError

    await _migrate_quietly(settings)
    await _check_key(settings)
    store = Store(settings.db_url)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    try:
        try:
            media = build_media(settings, store)
        except ManifestError as error:
            raise OperatorError(f"PICTO_MANIFEST: {error}") from None
        await BotRunner(settings, store, media).serve(stop)
    except StartupError as error:
        print(f"gespreksmaatje: {error}", file=sys.stderr)
        return 2
    finally:
        await store.close()
        if os.environ.get("GESPREKSMAATJE_SQL_STATS"):
            from bot.state.store import SqlStats

            logging.getLogger("gespreksmaatje").info(SqlStats.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
