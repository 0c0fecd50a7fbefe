"""Settings from the environment or `.env`, with one clear line for every bad value."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A bad setting; the message is one line an operator can act on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: str = ""
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    bot_username: str = ""  # for invite links when Telegram cannot be asked (getMe)
    database_url: str = ""
    data_dir: Path = Path("data")
    tz_name: str = "Europe/Amsterdam"
    invite_days: int = Field(default=30, ge=1, le=365)
    # What is kept how long (days): the words in handled updates, the access log.
    inbox_keep_days: int = Field(default=7, ge=1, le=365)
    audit_keep_days: int = Field(default=1826, ge=30, le=36500)
    # A round's answers and topics after its meeting (the begeleider is told a week before).
    retention_days: int = Field(default=365, ge=14, le=36500)
    # Encryption at rest (bot/state/crypto.py): 32 bytes as 64 hex digits; older keys,
    # comma separated, until `python -m bot rotate-key` has run. Empty: <data_dir>/data.key.
    data_key: str = Field(default="", repr=False)
    data_key_old: str = Field(default="", repr=False)
    log_level: str = "INFO"
    speech_enabled: bool = True
    # Read-backs of answers (the list, the review, an agenda) only by the offline engine
    # (espeak-ng), never sent to gTTS (Google's online service).
    readback_offline: bool = False
    # Voice answers written out (issue 19), off by default: an OpenAI-compatible
    # speech-to-text server (POST <url>/v1/audio/transcriptions; whisper.cpp, faster-whisper,
    # vLLM or a hosted one). Voice answers then go to that server.
    transcribe_url: str = ""
    transcribe_model: str = "whisper-1"
    transcribe_key: str = ""
    transcribe_timeout: float = Field(default=60.0, gt=0, le=600)
    gtts_tld: str = "nl"
    gtts_base_url: str = ""  # tests point gTTS at a fake endpoint on localhost
    picto_manifest: Path | None = None
    picto_cache_dir: Path | None = None  # default: <data_dir>/pictos
    sandbox_port: int = Field(default=8080, ge=1, le=65535)
    # No reminders at night: nothing planned is sent between these local times.
    # Telegram's flood limits, kept to before it answers 429 (0: only wait out 429s).
    send_per_second: float = Field(default=25.0, ge=0, le=1000)
    chat_burst: int = Field(default=3, ge=1, le=100)
    chat_per_second: float = Field(default=1.0, ge=0, le=100)
    quiet_start: str = "21:00"
    quiet_end: str = "09:00"
    # The operator's view (bot/ops): /healthz, /readyz, /metrics on OPS_HOST:OPS_PORT; 0 is
    # off (the default, so tests and a second dev bot never fight over a port; deploy/ sets
    # it). /readyz fails at READY_MAX_BACKLOG unhandled inbox rows. LOG_FORMAT: text or json.
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=0, ge=0, le=65535)
    ready_max_backlog: int = Field(default=100, ge=0)
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # Webhook mode (instead of long polling) when WEBHOOK_URL is set: the public https URL
    # Telegram posts updates to; the bot listens on WEBHOOK_LISTEN:WEBHOOK_PORT behind a
    # reverse proxy (deploy/nginx.conf) under the URL's path. WEBHOOK_SECRET is the header
    # Telegram sends with each post (empty: derived from the bot token, the same for every
    # process of this bot).
    webhook_url: str = Field(default="", pattern=r"^(https?://\S+)?$")
    webhook_secret: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,256}$")
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # Several webhook processes on one PostgreSQL: an update stored this many seconds ago and still
    # not handled was left by a process that died; any other process takes it over.
    orphan_seconds: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        value = value.strip()
        if value and (":" not in value or not value.split(":", 1)[0].isdigit()):
            raise ValueError("it should look like 123456789:AA... (from @BotFather)")
        return value

    @field_validator("picto_manifest", "picto_cache_dir", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, _, minutes = value.strip().partition(":")
        if not (hours.isdigit() and int(hours) < 24 and (minutes or "0").isdigit()
                and int(minutes or "0") < 60):
            raise ValueError("use a time like 21:00")
        return value.strip()

    @field_validator("tz_name")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (try Europe/Amsterdam)") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://",
                                           "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path.db or postgresql+psycopg://user@host/db")
        return value

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gespreksmaatje.db').as_posix()}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.tz_name)


def load_settings(**overrides: object) -> Settings:
    """Read the settings; turn pydantic's report into one line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(f"Bad setting in the environment or .env: {problems}") from None
