"""Translate a Telegram `Update` into the service's `Incoming` (and nothing more)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from telegram import Message, Update

from bot.dialogs.types import Input
from bot.service import Incoming

# What a client may send as an answer besides text.
_MEDIA = ("voice", "video_note", "video", "audio", "photo")


def to_incoming(update: Update) -> Incoming:
    chat = update.effective_chat
    user = update.effective_user
    base = Incoming(
        update_id=update.update_id, chat_id=chat.id if chat else None,
        chat_type=chat.type if chat else "private", user_id=user.id if user else None,
        user_name=user.first_name if user else "", input=None,
    )
    member = update.my_chat_member
    if member is not None:
        joined = member.new_chat_member.status in {"member", "administrator"}
        if member.chat.type == "private":
            return replace(base, event="unblocked" if joined else "blocked")
        was_in = member.old_chat_member.status in {"member", "administrator"}
        return replace(base, event="added_to_group" if joined and not was_in else "")
    return replace(base, input=_input(update))


def _input(update: Update) -> Input | None:
    query = update.callback_query
    if query is not None:
        message_id = query.message.message_id if query.message else None
        return Input("button", datetime.now(UTC), data=query.data or "", message_id=message_id)
    if update.edited_message is not None:
        edited = update.edited_message
        text = edited.text or edited.caption
        if text is None:
            return None
        return Input("edit", edited.edit_date or edited.date, text=text,
                     message_id=edited.message_id)
    if update.message is not None:
        return _message_input(update.message)
    return None


def _message_input(message: Message) -> Input:
    return replace(_message_content(message), forwarded=message.forward_origin is not None)


def _message_content(message: Message) -> Input:
    sent_at = message.date or datetime.now(UTC)
    if message.text is not None:
        command = _command(message)
        if command is not None:
            name, arg = command
            return Input("command", sent_at, text=message.text, command=name, arg=arg,
                         message_id=message.message_id)
        return Input("text", sent_at, text=message.text, message_id=message.message_id)
    for kind in _MEDIA:
        media = getattr(message, kind)
        if not media:
            continue
        if kind == "photo":
            media = max(media, key=lambda size: size.width * size.height)
        return Input(kind, sent_at, text=message.caption or "", file_id=media.file_id,
                     file_unique_id=media.file_unique_id,
                     duration=_seconds(getattr(media, "duration", None)),
                     message_id=message.message_id)
    return Input("unusable", sent_at, message_id=message.message_id)


def _command(message: Message) -> tuple[str, str] | None:
    """`/start abc` → ("start", "abc"); `/lijst@gespreksmaatje_bot` → ("lijst", "")."""
    text = message.text or ""
    entities = message.entities or ()
    if not text.startswith("/") or not any(
            e.type == "bot_command" and e.offset == 0 for e in entities):
        return None
    head, _, arg = text.partition(" ")
    return head[1:].split("@", 1)[0].lower(), arg.strip()


def _seconds(duration: object) -> float | None:
    if duration is None:
        return None
    total = getattr(duration, "total_seconds", None)
    return float(total()) if callable(total) else float(duration)  # type: ignore[arg-type]
