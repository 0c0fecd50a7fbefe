"""Webhook delivery: while a webhook is set, POST every pending update to it like Telegram.

Why: a bot in webhook mode never calls getUpdates; to drive it the server has to push, with
Telegram's guarantees: an update counts as delivered only on an HTTP 2xx, anything else
(another status, a connection error, a timeout) keeps it and retries with a backoff.

Order: one delivery at a time per chat (the chat of the message, callback query, member
change, ...; updates without a chat share one sequence), always the chat's earliest pending
update, retried until accepted, so a chat's updates arrive in order and a later one never
before an earlier one was accepted. Different chats are delivered concurrently, up to
``max_connections`` at once, chats picked in update_id order.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from localbotapi.core import ServerCore
from localbotapi.values import json_copy, unix_now

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

ChatKey = int | None


def chat_key(update: dict[str, Any]) -> ChatKey:
    """The chat whose order an update belongs to (a private chat's id is its user's)."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        for holder in (payload, payload.get("message")):
            if isinstance(holder, dict) and isinstance(holder.get("chat"), dict):
                return _int_or_none(holder["chat"].get("id"))
        for person in ("from", "user"):
            if isinstance(payload.get(person), dict):
                return _int_or_none(payload[person].get("id"))
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) else None


class WebhookDelivery(ServerCore):
    """Starts, runs and stops the delivery tasks; the webhook methods switch it on and off."""

    def _start_webhook_delivery(self) -> None:
        """Start delivering if a webhook is set and nothing delivers yet (idempotent)."""
        if not self.webhook_url or self._closing or self._hook_loop is not None:
            return
        if self._hook_session is None:
            self._hook_session = aiohttp.ClientSession()
        self._hook_loop = asyncio.create_task(self._webhook_loop(), name="webhook-loop")

    async def _stop_webhook_delivery(self) -> None:
        """Cancel the loop and every delivery in flight (their updates stay pending), and
        close the HTTP session: nothing is left running, nothing warns about it."""
        tasks = [*self._hook_busy.values()]
        if self._hook_loop is not None:
            tasks.append(self._hook_loop)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._hook_loop = None
        self._hook_busy.clear()
        if self._hook_session is not None:
            await self._hook_session.close()
            self._hook_session = None

    async def _webhook_loop(self) -> None:
        """Start deliveries on every state change (a new update, a delivery finished)."""
        while True:
            self._start_deliveries()
            await self._changed.wait()

    def _start_deliveries(self) -> None:
        """Start a delivery for each idle chat's earliest pending update, in update_id order,
        while fewer than max_connections are in flight."""
        self._drop_unwanted()
        seen = set(self._hook_busy)
        for update in self._pending:
            if len(self._hook_busy) >= self.webhook_max_connections:
                return
            key = chat_key(update)
            if key in seen:
                continue  # that chat's earlier update is in flight or waiting for a slot
            seen.add(key)
            self._hook_busy[key] = asyncio.create_task(
                self._deliver(key, json_copy(update)), name=f"webhook-{update['update_id']}"
            )

    async def _deliver(self, key: ChatKey, update: dict[str, Any]) -> None:
        """POST one update until the webhook accepts it, or it is no longer pending (dropped)
        or no longer deliverable here (webhook removed, server closing)."""
        uid = update["update_id"]
        delay = self.webhook_retry_first
        try:
            while self.webhook_url and not self._closing and self._is_pending(uid):
                status, error = await self._post(update)
                self.webhook_deliveries.append((uid, status))
                if status is not None and 200 <= status < 300:
                    self._accept(uid)
                    return
                self.webhook_last_error = (unix_now(), error)
                self._bump()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.webhook_retry_max)
        finally:
            if self._hook_busy.get(key) is asyncio.current_task():
                del self._hook_busy[key]
            self._bump()

    async def _post(self, update: dict[str, Any]) -> tuple[int | None, str]:
        """One POST to the current url: (HTTP status or None without an answer, the error
        text getWebhookInfo would show if this attempt failed)."""
        uid = update["update_id"]
        loop = asyncio.get_running_loop()
        self.delivery_counts[uid] = self.delivery_counts.get(uid, 0) + 1
        if "callback_query" in update:
            self._callback_handed.setdefault(uid, loop.time())
        self._last_activity = loop.time()
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret:
            headers[SECRET_HEADER] = self.webhook_secret
        assert self._hook_session is not None
        timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
        try:
            async with self._hook_session.post(
                self.webhook_url, data=json.dumps(update), headers=headers, timeout=timeout
            ) as response:
                await response.read()
                reason = f"{response.status} {response.reason or ''}".strip()
                return response.status, f"Wrong response from the webhook: {reason}"
        except TimeoutError:
            return None, "Read timeout expired"
        except aiohttp.ClientConnectorError as err:
            refused = isinstance(err.os_error, ConnectionRefusedError)
            return None, "Connection refused" if refused else f"Connection failed: {err}"
        except (aiohttp.ClientError, ValueError) as err:
            return None, f"Connection failed: {err or type(err).__name__}"
        finally:
            self._last_activity = loop.time()

    def _is_pending(self, update_id: int) -> bool:
        return any(u["update_id"] == update_id for u in self._pending)

    def _accept(self, update_id: int) -> None:
        """Forget an accepted update, like a getUpdates offset past it: the offset moves up
        to the lowest update still pending, so ``wait_until_confirmed`` keeps its meaning
        while other chats' earlier updates are still retried."""
        self._pending = [u for u in self._pending if u["update_id"] != update_id]
        lowest = min((u["update_id"] for u in self._pending), default=self._next_update_id)
        self.confirmed_offset = max(self.confirmed_offset, lowest)
        self._bump()
