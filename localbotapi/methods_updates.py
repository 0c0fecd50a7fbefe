"""Bot API methods that hand updates to the bot: getUpdates (long polling, confirming by
offset, allowed_updates) and the webhook methods that switch it off and on."""

from __future__ import annotations

import asyncio
from typing import Any

from localbotapi.core import ServerCore
from localbotapi.errors import ApiError
from localbotapi.values import Upload, as_bool, as_int, as_json, json_copy

_UPDATE_TYPES_OFF_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}


class UpdateMethods(ServerCore):
    """getUpdates, setWebhook, deleteWebhook, getWebhookInfo."""

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        self.webhook_url = str(params.get("url", ""))
        return True

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        self.webhook_url = ""
        if as_bool(params.get("drop_pending_updates", False)) and self._pending:
            self.confirmed_offset = max(self.confirmed_offset, self._pending[-1]["update_id"] + 1)
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": len(self._pending)}

    # -- getUpdates ----------------------------------------------------------------------

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = -offset
            dropped = self._pending[:-keep] if keep < len(self._pending) else []
            self._pending = self._pending[len(dropped):]
            if dropped:
                self.confirmed_offset = max(self.confirmed_offset, dropped[-1]["update_id"] + 1)
            return
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        self.confirmed_offset = max(self.confirmed_offset, offset)

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        def allowed(update: dict[str, Any]) -> bool:
            kinds = set(update) - {"update_id"}
            if self._allowed_updates is None:
                return not kinds <= _UPDATE_TYPES_OFF_BY_DEFAULT
            return bool(kinds & self._allowed_updates)

        self._pending = [u for u in self._pending if allowed(u)]
        return [json_copy(u) for u in self._pending[:limit]]

    async def _get_updates(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                           "use deleteWebhook to delete the webhook first")
        limit = min(max(as_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = max(float(params.get("timeout", 0) or 0), 0.0)
        if "allowed_updates" in params:
            kinds = as_json(params["allowed_updates"], "can't parse allowed_updates")
            self._allowed_updates = set(kinds) if kinds else None
        if params.get("offset") not in (None, ""):
            self._confirm(as_int(params["offset"], "offset"))
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._deliverable(limit)
            if batch or self._closing or loop.time() >= deadline:
                break
            await self._wait_change(deadline - loop.time())
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                               "sure that only one bot instance is running")
        for update in batch:
            uid = update["update_id"]
            self.delivery_counts[uid] = self.delivery_counts.get(uid, 0) + 1
            if "callback_query" in update:
                self._callback_handed.setdefault(uid, loop.time())
        if batch:
            self._last_activity = loop.time()
        return batch
