"""What goes into the service and what comes out of it, for every role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogs.look import Look
from bot.dialogs.texts import dutch_date, t
from bot.dialogs.types import Input, Reply
from bot.schedule import plan_for_client

ROLE_KINDS = ("client", "begeleider", "naaste", "admin")  # in the order a menu lists them


def refused() -> list[Reply]:
    """A button about someone who is not this person's (forged, or moved meanwhile)."""
    return [Reply(t("b_not_yours"))]


@dataclass(frozen=True)
class Incoming:
    """An update, as far as the service cares. `event`: "", "blocked", "unblocked",
    "added_to_group"."""

    update_id: int
    chat_id: int | None
    chat_type: str
    user_id: int | None
    user_name: str
    input: Input | None
    event: str = ""
    # The update as Telegram sent it, when it is not in the inbox yet: the turn writes it
    # there, in its own commit (bot/telegram/inbox.py).
    fetched: dict[str, Any] | None = None


@dataclass(frozen=True)
class EarlierFirst:
    """The chat has an earlier update still waiting (stored by another process that died,
    or is still on its way to the lock): handle that one, then this one again."""

    update_id: int
    payload: dict[str, Any]


@dataclass
class Outgoing:
    """What to send after the commit. `sent_mark` identifies the committed turn whose replies
    these are (see `Service.replies_sent`)."""

    chat_id: int
    replies: list[Reply] = field(default_factory=list)
    person_id: int | None = None
    speech: bool = True  # the person's choices in /instellingen
    slow: bool = False
    also: list[tuple[int, Reply]] = field(default_factory=list)  # to other chats
    sent_mark: object = None
    offline: bool = False  # read-backs by the offline engine only (the organisation's choice)
    look: Look | None = None  # the organisation's look the replies are sent in (pictures)


@dataclass(frozen=True)
class Role:
    """One of a person's roles: ("client", client id), ("naaste", naaste id), …"""

    kind: str
    id: int
    label: str = ""
    organisation_id: int | None = None  # whose look the person sees in this role

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass
class TurnResult:
    """What a role's turn gives the kernel."""

    replies: list[Reply] = field(default_factory=list)
    step: str = "-"
    speech: bool = True
    slow: bool = False
    also: list[tuple[int, Reply]] = field(default_factory=list)


@dataclass(frozen=True)
class Context:
    """What every role's turn needs from the running bot."""

    tz: ZoneInfo
    invite_days: int
    link: Callable[[str], str]  # (invite token) -> deep link
    looks: Any  # bot.service.looks.Looks, or None (tests without pictures)
    settings: Any  # bot.settings.Settings, for the schedule (quiet hours); None in tests
    # Bring a client's planned sends in line (unit, client id, now, settings → the plan);
    # the service tests over the fake unit record the calls instead.
    replan: Callable[..., Awaitable[Any]] = plan_for_client
    # The bot's clock (the schedule's: a test moves it); what "now" is for a turn.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def date(self, moment: datetime, with_time: bool = True) -> str:
        return dutch_date(moment, self.tz, with_time)

    @property
    def pictos(self) -> Any:
        """The picture library (pictos.PictoLibrary) of the look worn now, or None."""
        return self.looks.pictos() if self.looks is not None else None

    @property
    def transcribing(self) -> bool:
        """The organisation writes voice answers out (issue 19: a speech-to-text engine)."""
        return bool(getattr(self.settings, "transcribe_url", ""))
