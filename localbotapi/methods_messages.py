"""Bot API methods on messages and chats: sendMessage, sendLocation, editing and deleting
messages, sendChatAction, and answerCallbackQuery for a pressed button."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from localbotapi.chats import ChatHandle
from localbotapi.core import ServerCore
from localbotapi.errors import bad
from localbotapi.formatting import format_text, utf16_len
from localbotapi.markup import parse_markup
from localbotapi.state import BotMessage, CallbackAnswer
from localbotapi.values import Upload, as_bool, as_int, as_json, json_copy, unix_now

_CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note",
    "upload_video_note",
}
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class MessageMethods(ServerCore):
    """sendMessage, sendLocation, editMessageText/Caption/ReplyMarkup, deleteMessage(s),
    sendChatAction, answerCallbackQuery."""

    async def _send_message(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._chat_for_bot(params)
        content = _text_fields(params, "message is too long")
        return self._record_bot_message(chat, "text", content, params)

    async def _send_location(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._chat_for_bot(params)
        try:
            loc = {"latitude": float(params["latitude"]), "longitude": float(params["longitude"])}
        except (KeyError, ValueError):
            raise bad("wrong latitude or longitude specified") from None
        return self._record_bot_message(chat, "location", {"location": loc}, params)

    # -- editing -------------------------------------------------------------------------

    def _find_for_edit(self, params: dict[str, Any], missing: str) -> tuple[ChatHandle, BotMessage]:
        if params.get("inline_message_id"):
            raise bad("MESSAGE_ID_INVALID")
        chat = self._chat_for_bot(params)
        if params.get("message_id") in (None, ""):
            raise bad("message identifier is not specified")
        mid = as_int(params["message_id"], "message_id")
        for m in chat.messages:
            if m.message_id == mid and not m.deleted:
                return chat, m
        if mid in chat._user_messages and missing == "message to edit not found":
            raise bad("message can't be edited")
        raise bad(missing)

    def _apply_edit(
        self, chat: ChatHandle, msg: BotMessage, params: dict[str, Any],
        changes: dict[str, Any], drop: tuple[str, ...],
    ) -> dict[str, Any]:
        markup, buttons, _, _ = parse_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad("inline keyboard expected")
        skip = {*drop, "reply_markup", "edit_date"}
        new_raw = {k: v for k, v in msg.raw.items() if k not in skip}
        new_raw.update(changes)
        if buttons:
            new_raw["reply_markup"] = markup
        old_cmp = {k: v for k, v in msg.raw.items() if k != "edit_date"}
        if new_raw == old_cmp:
            raise bad(_NOT_MODIFIED[len("Bad Request: "):])
        msg.history.append(
            {"text": msg.text, "caption": msg.caption, "buttons": json_copy(msg.buttons)}
        )
        new_raw["edit_date"] = unix_now()
        msg.raw = new_raw
        msg.text = new_raw.get("text")
        msg.caption = new_raw.get("caption")
        msg.buttons = buttons
        msg.reply_markup = markup if buttons else None
        msg.edited = True
        self._emit({"type": "edit", "chat_id": chat.chat_id, "message": msg.to_dict()})
        return json_copy(new_raw)

    async def _edit_text(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        if msg.text is None:
            raise bad("there is no text in the message to edit")
        changes = _text_fields(params, "MESSAGE_TOO_LONG")
        return self._apply_edit(chat, msg, params, changes, ("text", "entities"))

    async def _edit_caption(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        if msg.text is not None:
            raise bad("there is no caption in the message to edit")
        caption, entities = format_text(str(params.get("caption", "")), params, "caption_entities")
        if utf16_len(caption) > 1024:
            raise bad("message caption is too long")
        changes: dict[str, Any] = {}
        if caption:
            changes["caption"] = caption
        if entities:
            changes["caption_entities"] = entities
        return self._apply_edit(chat, msg, params, changes, ("caption", "caption_entities"))

    async def _edit_markup(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat, msg = self._find_for_edit(params, "message to edit not found")
        return self._apply_edit(chat, msg, params, {}, ())

    async def _delete_message(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._chat_for_bot(params)
        mid = as_int(params.get("message_id", ""), "message_id")
        if not self._delete_one(chat, mid):
            raise bad("message to delete not found")
        return True

    async def _delete_messages(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._chat_for_bot(params)
        ids = as_json(params.get("message_ids", "[]"), "can't parse message_ids")
        for mid in ids or []:
            self._delete_one(chat, as_int(mid, "message_ids"))
        return True

    def _delete_one(self, chat: ChatHandle, mid: int) -> bool:
        for m in chat.messages:
            if m.message_id == mid and not m.deleted:
                m.deleted = True
                self._emit({"type": "delete", "chat_id": chat.chat_id, "message": m.to_dict()})
                return True
        if mid in chat._user_messages:
            del chat._user_messages[mid]
            self._emit({"type": "delete", "chat_id": chat.chat_id,
                        "message": {"message_id": mid, "chat_id": chat.chat_id}})
            return True
        return False

    # -- misc ----------------------------------------------------------------------------

    async def _answer_callback(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        update_id = self._callback_queries.get(query_id)
        if update_id is None or query_id in self.callback_answers:
            raise bad(_QUERY_TOO_OLD)
        now = asyncio.get_running_loop().time()
        handed = self._callback_handed.get(update_id)
        window = self.limits.callback_window if self.limits is not None else None
        if handed is not None and window is not None and now - handed > window:
            raise bad(_QUERY_TOO_OLD)
        answer = CallbackAnswer(
            query_id=query_id,
            update_id=update_id,
            text=params.get("text") or None,
            show_alert=as_bool(params.get("show_alert", False)),
            url=params.get("url") or None,
            cache_time=as_int(params.get("cache_time", 0), "cache_time"),
        )
        self.callback_answers[query_id] = answer
        if handed is not None:
            self._callback_delays[update_id] = now - handed
        self._emit({"type": "callback_answer", "chat_id": None, "update_id": update_id,
                    "message": asdict(answer)})
        return True

    async def _send_chat_action(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        chat = self._chat_for_bot(params)
        action = str(params.get("action", ""))
        if action not in _CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        chat.chat_actions.append(action)
        self._emit({"type": "chat_action", "chat_id": chat.chat_id,
                    "message": {"action": action}})
        return True


def _text_fields(params: dict[str, Any], too_long: str) -> dict[str, Any]:
    """The text (and entities) of a sendMessage or editMessageText call, refused with
    `too_long` past 4096 UTF-16 code units."""
    text, entities = format_text(str(params.get("text", "")), params, "entities")
    if not text:
        raise bad("message text is empty")
    if utf16_len(text) > 4096:
        raise bad(too_long)
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    return content
