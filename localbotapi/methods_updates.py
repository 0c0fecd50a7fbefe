"""Bot API methods that hand updates to the bot: getUpdates (long polling, confirming by
offset, allowed_updates) and the webhook methods that switch delivery by POST (``webhook``)
on and off; while a webhook is set getUpdates refuses with 409, like Telegram."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from yarl import URL

from localbotapi.errors import ApiError, bad
from localbotapi.values import Upload, as_bool, as_int, as_json
from localbotapi.webhook import WebhookDelivery

_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{0,256}")


def _valid_url(url: str) -> bool:
    """Any http(s) url with a host: unlike Telegram (HTTPS on 443, 80, 88, 8443) the local
    server posts to a bot on 127.0.0.1 and any port."""
    try:
        parsed = URL(url)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host)


class UpdateMethods(WebhookDelivery):
    """getUpdates, setWebhook, deleteWebhook, getWebhookInfo."""

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        """Keep the webhook's settings and start delivering to it; an empty url removes it.
        A new url applies to the next POST, also of an update already being retried."""
        url = str(params.get("url", "") or "")
        if not url:
            return await self._delete_webhook(params, files)
        if not _valid_url(url):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = str(params.get("secret_token", "") or "")
        if not _SECRET_TOKEN.fullmatch(secret):
            raise bad("bad webhook: secret token contains unallowed characters")
        connections = as_int(params.get("max_connections", 40) or 40, "max_connections")
        if url != self.webhook_url:
            self.webhook_last_error = None
        self.webhook_url, self.webhook_secret = url, secret
        self.webhook_max_connections = min(max(connections, 1), 100)
        self._set_allowed_updates(params)
        if as_bool(params.get("drop_pending_updates", False)):
            self._drop_pending()
        self._start_webhook_delivery()
        self._bump()
        return True

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, Upload]) -> bool:
        """Stop delivering (a POST in flight is abandoned, its update stays pending) so
        getUpdates works again."""
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_last_error = None
        await self._stop_webhook_delivery()
        if as_bool(params.get("drop_pending_updates", False)):
            self._drop_pending()
        self._start_webhook_delivery()  # only if a setWebhook came in while stopping
        self._bump()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        info: dict[str, Any] = {"url": self.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(self._pending)}
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        if self.webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.webhook_last_error
        return info

    def _drop_pending(self) -> None:
        """drop_pending_updates: forget every pending update, as if confirmed."""
        if self._pending:
            last = max(u["update_id"] for u in self._pending)
            self.confirmed_offset = max(self.confirmed_offset, last + 1)
            self._pending.clear()

    def _set_allowed_updates(self, params: dict[str, Any]) -> None:
        """allowed_updates is one setting for getUpdates and the webhook; absent keeps it."""
        if "allowed_updates" in params:
            kinds = as_json(params["allowed_updates"], "can't parse allowed_updates")
            self._allowed_updates = set(kinds) if kinds else None

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

    async def _get_updates(self, params: dict[str, Any], files: dict[str, Upload]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                           "use deleteWebhook to delete the webhook first")
        limit = min(max(as_int(params.get("limit", 100), "limit"), 1), 100)
        timeout = max(float(params.get("timeout", 0) or 0), 0.0)
        self._set_allowed_updates(params)
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
