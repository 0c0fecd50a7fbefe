"""Bot API methods about the bot itself and chat lookups: getMe, the accepted no-ops (logOut,
close, setMyName, ...), the command list, getChat."""

from __future__ import annotations

from typing import Any

from localbotapi.core import ServerCore
from localbotapi.errors import bad
from localbotapi.values import Upload, as_json


class BotMethods(ServerCore):
    """getMe, no-op setters, setMyCommands/getMyCommands/deleteMyCommands, getChat."""

    async def _true(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        commands = as_json(params.get("commands", "[]"), "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise bad("can't parse commands JSON object")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        return self.commands

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        self.commands = []
        return True

    async def _get_chat(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        raw = params.get("chat_id")
        try:
            chat = self._chats[int(str(raw))]
        except (KeyError, ValueError):
            raise bad("chat not found") from None
        return chat.full_info()
