"""What the server keeps: stored files, the bot's messages as users see them, callback answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StoredFile:
    """A file known to the server: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str
    path: Path
    file_path: str
    file_size: int
    mime_type: str | None = None
    file_name: str | None = None
    uploaded_by_bot: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def as_object(self) -> dict[str, Any]:
        """The Telegram object (Voice, Document, PhotoSize, ...) describing this file."""
        obj: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        obj.update(self.meta)
        if self.file_name and self.kind in {"document", "audio", "video", "animation"}:
            obj["file_name"] = self.file_name
        if self.mime_type and self.kind not in {"photo", "sticker", "video_note"}:
            obj["mime_type"] = self.mime_type
        obj["file_size"] = self.file_size
        return obj


@dataclass
class BotMessage:
    """What the user sees of one message the bot sent (current state plus history)."""

    message_id: int
    chat_id: int
    kind: str
    text: str | None = None
    caption: str | None = None
    file_id: str | None = None
    buttons: list[list[tuple[str, str | None]]] = field(default_factory=list)
    keyboard: list[list[str]] | None = None
    remove_keyboard: bool = False
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    edited: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """Text of a text message, caption of a media message ('' if none)."""
        return self.text if self.text is not None else (self.caption or "")

    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallbackAnswer:
    """The bot's answerCallbackQuery for one button press."""

    query_id: str
    update_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
