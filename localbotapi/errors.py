"""Bot API errors and Telegram's {"ok": false, ...} envelope for them."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """A Bot API error, rendered as Telegram's {"ok": false, ...} envelope."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


class Imposed(ApiError):
    """An error the server imposes (a ``fail_next`` failure, a flood limit), not a mistake
    of the bot: it is not logged in ``bot_errors``."""


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def envelope_error(err: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
    if err.parameters:
        body["parameters"] = err.parameters
    return web.json_response(body, status=err.code)
