"""An operator gets one clear line (no traceback) for every setting or service problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from localbotapi import BotApiServer

ROOT = Path(__file__).resolve().parent.parent


def run_bot(tmp: Path, *args: str, timeout: float = 60,
            **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("TELEGRAM_", "DATABASE_", "TZ_NAME", "GESPREKSMAATJE"))}
    clean.update(PYTHONPATH=str(ROOT), DATA_DIR=str(tmp / "data"), SPEECH_ENABLED="false", **env)
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp, env=clean,
                          capture_output=True, text=True, timeout=timeout)


def one_clear_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("gespreksmaatje:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_no_token_says_what_to_do(tmp_path: Path) -> None:
    line = one_clear_line(run_bot(tmp_path, "run"))
    assert "no TELEGRAM_BOT_TOKEN" in line and "sandbox" in line


@pytest.mark.parametrize(("env", "expected"), [
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN"),
    ({"TZ_NAME": "Mars/Olympus"}, "TZ_NAME"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"INVITE_DAYS": "zero"}, "INVITE_DAYS"),
    ({"WEBHOOK_SECRET": "has spaces!"}, "WEBHOOK_SECRET"),
    ({"WEBHOOK_URL": "bot.example.org/hook"}, "WEBHOOK_URL"),
])
def test_bad_settings(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    line = one_clear_line(run_bot(tmp_path, "run", **env))
    assert expected in line


def test_webhook_without_its_url(tmp_path: Path) -> None:
    line = one_clear_line(run_bot(tmp_path, "run", "--webhook",
                                  TELEGRAM_BOT_TOKEN="123456:TEST-TOKEN"))
    assert "--webhook needs WEBHOOK_URL" in line


def test_bad_setting_in_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TZ_NAME=Nowhere/Town\n", encoding="utf-8")
    assert "TZ_NAME" in one_clear_line(run_bot(tmp_path, "migrate"))


def test_unreachable_database(tmp_path: Path) -> None:
    line = one_clear_line(run_bot(
        tmp_path, "migrate", DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:9/none"))
    assert "database" in line and "DATABASE_URL" in line


async def test_wrong_token_is_refused_in_one_line(tmp_path: Path) -> None:
    import asyncio

    async with BotApiServer(token="111:RIGHT") as server:
        result = await asyncio.to_thread(
            run_bot, tmp_path, "run", TELEGRAM_BOT_TOKEN="222:WRONG",
            TELEGRAM_API_URL=server.base_url, TELEGRAM_FILE_URL=server.file_url)
    assert "401" in one_clear_line(result)


def test_telegram_unreachable_at_start(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "run", TELEGRAM_BOT_TOKEN="111:X",
                     TELEGRAM_API_URL="http://127.0.0.1:9/bot", timeout=120)
    assert "Cannot reach Telegram" in one_clear_line(result)


def test_invite_prints_a_deep_link_and_the_token(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "invite", "client", "--name", "Sam", BOT_USERNAME="gm_bot")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    token = lines[-1]
    assert lines[-2] == f"https://t.me/gm_bot?start={token}" and len(token) >= 20


def test_broken_picto_manifest_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "manifest.yaml").write_text("pictos:\n  good_at: {file: missing.png}\n",
                                            encoding="utf-8")
    line = one_clear_line(run_bot(tmp_path, "run", TELEGRAM_BOT_TOKEN="111:X",
                                  TELEGRAM_API_URL="http://127.0.0.1:9/bot",
                                  PICTO_MANIFEST=str(tmp_path / "manifest.yaml")))
    assert "PICTO_MANIFEST" in line and "missing.png" in line


async def test_a_telegram_outage_is_one_line_and_the_bot_carries_on(
        h: object, caplog: pytest.LogCaptureFixture) -> None:
    """getUpdates fails a few times (PTB retries with backoff): one line when it starts,
    one when Telegram is back, and the next message is handled."""
    from tests.harness import Harness, texts

    assert isinstance(h, Harness)
    sam = await h.join(1001, "Sam")
    caplog.set_level("WARNING", logger="gespreksmaatje")
    polls = h.server.call_count("getUpdates")
    h.server.fail_next("getUpdates", times=3, error_code=502, description="Bad Gateway")
    # The poll under way ends, three fail (PTB backs off between them), one succeeds.
    await h.server.wait_for(lambda: h.server.call_count("getUpdates") >= polls + 5, 30,
                            lambda: "the bot did not poll again after the outage")
    out = await h.tap(sam, "➡️ Beginnen")
    assert "Waar ben jij goed in?" in texts(out)
    lines = [r.getMessage() for r in caplog.records if r.name == "gespreksmaatje"]
    assert sum("Telegram unreachable" in line for line in lines) == 1
    assert sum("Telegram reachable again" in line for line in lines) == 1
