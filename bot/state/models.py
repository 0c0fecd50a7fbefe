"""The tables. One declarative model per table of ARCHITECTURE.md.

Times are stored as timezone-aware UTC. Client answers are never deleted: removal sets
`removed_at`, an edit keeps the old text in `answer_history`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bot.state import crypto


def utcnow() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """What the database keeps of an invite's start token (`Invite.token_hash`)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UtcDateTime(TypeDecorator[datetime]):
    """SQLite forgets the zone; give every datetime back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class EncryptedText(TypeDecorator[str]):
    """Content encrypted at rest (bot/state/crypto.py); plain rows from before still read.
    Random nonces: never compare or search on such a column in SQL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return crypto.ring().encrypt_text(value) if value else value

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return crypto.ring().decrypt_text(value) if value else value


class EncryptedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON document (an update's payload: a person's words) kept as one encrypted JSON
    string; plain documents from before still read."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> Any:
        return None if value is None else crypto.ring().encrypt_text(json.dumps(value))

    def process_result_value(self, value: Any, dialect: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            loaded: dict[str, Any] = json.loads(crypto.ring().decrypt_text(value))
            return loaded
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The admin's choice: spoken read-backs of people's words (their list, an agenda) are
    # made on the server by espeak-ng only and never sent to gTTS.
    readback_offline: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())
    # Its own quiet hours ("HH:MM"; none: the deployment's QUIET_START / QUIET_END): no
    # planned message to its people in between (`python -m bot organisation set`).
    quiet_start: Mapped[str | None] = mapped_column(String(5), default=None)
    quiet_end: Mapped[str | None] = mapped_column(String(5), default=None)
    # Its own look (`organisation set --pictos/--texts`): the path of its picto manifest
    # (none: the deployment's pictures), and its own wording of some texts (key -> text).
    picto_manifest: Mapped[str | None] = mapped_column(String(1000), default=None)
    texts: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)


class Person(Base):
    """Somebody with a Telegram account; roles hang off it (client, begeleider, naaste, admin)."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(200), default="")
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Admin(Base):
    __tablename__ = "admin"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(200))


class Begeleider(Base):
    __tablename__ = "begeleider"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(200))


class Client(Base):
    __tablename__ = "client"
    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), unique=True)
    begeleider_id: Mapped[int | None] = mapped_column(ForeignKey("begeleider.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "Hoe gaat het met je afspraken?" every this many days after they were sent (0: never);
    # the begeleider sets it on the agreements screen.
    check_in_days: Mapped[int] = mapped_column(Integer, default=28, server_default="28")
    # The round the client prepares now (1, 2, …): each meeting has its own round.
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The begeleider's choice: questions that can be answered with pictures start with them.
    pictures_first: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())
    # The begeleider asked for a short evaluation (the check-ins and one open question).
    evaluation_at: Mapped[datetime | None] = mapped_column(default=None)


class Naaste(Base):
    __tablename__ = "naaste"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(40))
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class Meeting(Base):
    __tablename__ = "meeting"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    starts_at: Mapped[datetime | None] = mapped_column(default=None)
    place: Mapped[str] = mapped_column(Text, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DialogSession(Base):
    """Where one person is in one flow. `seq` numbers the question on screen: buttons carry
    it, so a button of an older question is recognised. `reply_pending` is set in the same
    commit as a step change and cleared once the replies are out: after a crash in between,
    the start-up sweep asks the current question again."""

    __tablename__ = "dialog_session"
    __table_args__ = (UniqueConstraint("person_id", "flow"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"))
    flow: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="active")
    seq: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reply_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Answer(Base):
    """One message of a client's answer: a step has items (agenda topics), an item has parts
    (a long text that Telegram split, or a follow-up message)."""

    __tablename__ = "answer"
    __table_args__ = (Index("ix_answer_client_step", "client_id", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    step: Mapped[str] = mapped_column(String(60))
    item: Mapped[int] = mapped_column(Integer, default=1)
    part: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(20), default="text")
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    tag: Mapped[str | None] = mapped_column(String(40), default=None)
    file_id: Mapped[str | None] = mapped_column(String(200), default=None)
    file_unique_id: Mapped[str | None] = mapped_column(String(100), default=None)
    duration: Mapped[float | None] = mapped_column(Float, default=None)
    # A voice answer, photo or video kept on disk: None (not yet), "kept" or "not_kept".
    file_state: Mapped[str | None] = mapped_column(String(12), default=None)
    file_path: Mapped[str | None] = mapped_column(String(500), default=None)
    file_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checksum: Mapped[str | None] = mapped_column(String(64), default=None)
    message_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    update_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    entered_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    # A voice answer written out by the speech-to-text engine (issue 19), and the client's
    # word on it: "pending" (shown to the client only), "confirmed" (shown as their words),
    # "rejected" or "dismissed" (shown to nobody). The voice always stays.
    transcript: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    transcript_state: Mapped[str | None] = mapped_column(String(12), default=None)
    # None: the current round. When the next round starts, the current answers get the
    # number of the round they belong to and stay as they are (history, never changed).
    round: Mapped[int | None] = mapped_column(Integer, default=None)


class AnswerHistory(Base):
    __tablename__ = "answer_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answer.id"), index=True)
    old_text: Mapped[str] = mapped_column(EncryptedText)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgendaItem(Base):
    """A topic that a naaste or the begeleider adds (the client's own topics are answers)."""

    __tablename__ = "agenda_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    owner_role: Mapped[str] = mapped_column(String(20))
    owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(20), default="topic")
    text: Mapped[str] = mapped_column(EncryptedText)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    round: Mapped[int | None] = mapped_column(Integer, default=None)  # None: current (Answer)


class Agreement(Base):
    """An agreement ('afspraak') made in the client's meeting, recorded by the begeleider:
    a short line, who does it, and when the client was sent the agreements (changed_at
    after sent_at: the client has not seen the change yet)."""

    __tablename__ = "agreement"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meeting.id"), default=None)
    text: Mapped[str] = mapped_column(EncryptedText)
    who: Mapped[str] = mapped_column(String(20))  # client, begeleider, samen, anders
    picto: Mapped[str | None] = mapped_column(String(40), default=None)
    topic: Mapped[str | None] = mapped_column(EncryptedText, default=None)  # the client's topic
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class CheckIn(Base):
    """The client's answer to "Hoe gaat het met: <afspraak>?": a mood, and maybe words or a
    voice message (kept as Telegram's file id)."""

    __tablename__ = "check_in"
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    # None: the last words of an evaluation (mood "note"), about the agreements together.
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreement.id"), index=True)
    mood: Mapped[str] = mapped_column(String(10))  # good, ok, bad (note)
    kind: Mapped[str | None] = mapped_column(String(20), default=None)  # of the words
    text: Mapped[str] = mapped_column(EncryptedText, default="")
    file_id: Mapped[str | None] = mapped_column(String(200), default=None)
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class Share(Base):
    """What the client lets one naaste see; `naaste_id` NULL holds the client's general wish
    from the preparation until naasten exist."""

    __tablename__ = "share"
    __table_args__ = (UniqueConstraint("client_id", "naaste_id", "part"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    naaste_id: Mapped[int | None] = mapped_column(ForeignKey("naaste.id"))
    part: Mapped[str] = mapped_column(String(40))
    allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invite(Base):
    __tablename__ = "invite"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Only the SHA-256 of the start token (hex) is kept: who reads the database (a backup, a
    # support desk) cannot use a link that is still open. The column keeps its old name.
    token_hash: Mapped[str] = mapped_column("token", String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"))
    begeleider_id: Mapped[int | None] = mapped_column(ForeignKey("begeleider.id"))
    naaste_id: Mapped[int | None] = mapped_column(ForeignKey("naaste.id"))
    admin_id: Mapped[int | None] = mapped_column(ForeignKey("admin.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    used_by: Mapped[int | None] = mapped_column(ForeignKey("person.id"))


class AuditLog(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    viewer_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # None: a denied read of a client that does not exist (a forged id)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    part: Mapped[str] = mapped_column(String(40))
    allowed: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Inbox(Base):
    """Every fetched update, committed before Telegram is told it arrived."""

    __tablename__ = "inbox"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, default=None)
    state: Mapped[str] = mapped_column(String(10), default="new", index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)


class Housekeeping(Base):
    """When each purge last ran (bot/schedule/housekeeping.py): claimed with one conditional
    UPDATE, so of several processes one runs it per period."""

    __tablename__ = "housekeeping"
    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run: Mapped[datetime] = mapped_column()


class SpeechCache(Base):
    __tablename__ = "speech_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(200))
    engine: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PictoCache(Base):
    __tablename__ = "picto_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlannedSend(Base):
    __tablename__ = "planned_send"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    due_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(12), default="planned")
    claimed_by: Mapped[str | None] = mapped_column(String(60), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
