"""The base of every API handler: Jupyter Server's authentication and authorization, our errors as one-line JSON,
the user's language, and a way to run the engine's blocking calls off the server's event loop.

Authentication is the server's own (token, password, JupyterHub OAuth); authorization asks the server's
`Authorizer` about the resource "mmchat" (reads: "read", changes: "write", asking a model: "execute").
`APIHandler` brings the rest: XSRF checks for cookie-authenticated requests, Origin checks and CORS only as the
server is configured, and a `default-src 'none'` Content-Security-Policy on every answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from ..errors import (
    ChatNameTaken,
    ChatNotFound,
    ConfigError,
    ExportError,
    HistoryError,
    MMChatError,
    ProviderError,
)
from ..i18n import _, pick_language, set_context_language
from . import _bodies
from ._service import Service, TurnBusy

#: The resource name the server's Authorizer is asked about.
AUTH_RESOURCE = "mmchat"
T = TypeVar("T")
Method = TypeVar("Method", bound=Callable[..., Any])

#: Our error class -> (HTTP status, machine-readable reason). The first match in this order wins.
STATUS = (
    (ChatNotFound, 404, "not_found"),
    (ChatNameTaken, 409, "name_taken"),
    (TurnBusy, 409, "busy"),
    (ConfigError, 400, "invalid"),
    (ExportError, 400, "invalid"),
    (ProviderError, 502, "provider_error"),
    (HistoryError, 500, "history_error"),  # the history cannot be read or written: not the request's fault
    (MMChatError, 400, "invalid"),
)


class APIError(web.HTTPError):
    """An answer with a one-line `message` for the user and a machine-readable `code`."""

    def __init__(self, status: int, message: str, code: str) -> None:
        # tornado logs log_message as a %-format: a literal "%chat" in a message must not be read as one.
        super().__init__(status, message.replace("%", "%%"))
        self.message, self.code = message, code


class MMChatHandler(APIHandler):
    """An endpoint of /mmchat/api/v1: errors are `{"message": one line, "reason": code}` in the user's language."""

    auth_resource = AUTH_RESOURCE

    @property
    def service(self) -> Service:
        service: Service = self.settings["mmchat_service"]
        return service

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.current_user is not None:
            # Tornado runs each request in a task of its own: the language stays with this request.
            set_context_language(await self.user_language())

    async def user_language(self) -> str | None:
        """The user's saved language (`%chat set lang=ru`), else the request's Accept-Language, else the server's."""
        known = self.service.language_known()
        saved = self.service.saved_language() if known else await self.run(self.service.saved_language)
        return saved or pick_language(self.request.headers.get("Accept-Language"))

    async def run(self, call: Callable[..., T], *args: Any) -> T:
        """Run a blocking engine call in a worker thread (the history waits on a cross-process lock); our errors
        become one-line 4xx/5xx answers. The thread inherits this request's language."""
        try:
            return await asyncio.to_thread(call, *args)
        except MMChatError as exc:
            raise self.error(exc) from None

    def error(self, exc: MMChatError) -> APIError:
        for kind, status, code in STATUS:
            if isinstance(exc, kind):
                return APIError(status, exc.message, code)
        raise AssertionError("MMChatError is the last row")

    def body(self, fields: _bodies.Body, *, empty_ok: bool = False) -> dict[str, Any]:
        """The request's JSON body checked against `fields` (a one-line 400 otherwise)."""
        try:
            return _bodies.parse(self.request.body, fields, empty_ok=empty_ok)
        except ConfigError as exc:
            raise self.error(exc) from None

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """`{"message", "reason"}` like Jupyter Server's own API errors, never a page or a traceback."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, APIError):
            message, code = exc.message, exc.code
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            message, code = exc.log_message % exc.args, None  # the server's own (403 from the Authorizer, ...)
        else:
            message, code = self._reason, None  # never the exception's text: it may be a traceback's
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": code}, ensure_ascii=False))

    def send(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False))

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer query argument in [low, high]; a one-line 400 otherwise."""
        raw = self.get_argument(name, None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            text = _("{key} must be a whole number from {low} to {high}, not {value!r}.")
            raise APIError(400, text.format(key=name, low=low, high=high, value=raw), "invalid")
        return value


def authorized_to(action: str) -> Callable[[Method], Method]:
    """`jupyter_server.auth.authorized(action)` with its type kept (its stub says it returns the action)."""

    def decorate(method: Method) -> Method:
        return cast(Method, authorized(cast(Any, action))(method))

    return decorate


def accepts_event_stream(handler: web.RequestHandler) -> bool:
    return "text/event-stream" in handler.request.headers.get("Accept", "")
