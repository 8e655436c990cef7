"""What every endpoint of the gateway shares: the caller identified by JupyterHub before any method runs, and every
error answered as an OpenAI error object with one line in the caller's language.

A request carries the caller's JupyterHub token (`Authorization: Bearer <token>` or `token <token>`: the `openai`
package's API key is the token); a browser may use the OAuth cookie instead, for GET requests only, so that no other
site can spend a user's quota through their cookie. Access is JupyterHub's scope
`access:services!service=<name>`, granted to users and groups with a role.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated, check_scopes
from tornado import web

from ..i18n import _, pick_language, set_context_language
from .limits import Caller
from .service import Gateway
from .wire import error_body

log = logging.getLogger("mmchat_jupyter.gateway")


class GatewayError(Exception):
    """A refusal to send as an OpenAI error object: status, error type, one line, Retry-After, error code."""

    def __init__(self, status: int, kind: str, message: str, *, retry_after: float | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.retry_after, self.code = status, kind, message, retry_after, code


class APIHandler(HubOAuthenticated, web.RequestHandler):
    """Identifies the caller with the hub before any method runs, and answers every error in OpenAI's shape."""

    gateway: Gateway
    hub_model: dict[str, Any]
    #: Who the hub says the caller is, once it has said it (even if they may not come in).
    identity: str | None = None

    def initialize(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.hub_auth = gateway.hub_auth
        self.lang = pick_language(self.request.headers.get("Accept-Language"))

    #: The scopes a caller needs here: None means the service's access scopes.
    def required_scopes(self) -> frozenset[str] | None:
        return None

    async def prepare(self) -> None:
        # Every message of this request in the caller's language; the request runs in a task of its own.
        set_context_language(self.lang)
        required = self.required_scopes()
        if required is not None and not required:
            return  # open endpoint (metrics with authenticate_prometheus off)
        try:
            model = await self.hub_auth.get_user(self, sync=False)
        except web.HTTPError as exc:  # the hub did not answer, or refused the gateway's own token
            log.error("cannot check a token with JupyterHub: %s", exc.log_message or exc)
            raise GatewayError(503, "service_unavailable", _(
                "The hub's LLM gateway cannot check your token with JupyterHub right now: try again in a minute."
            )) from None
        token_auth = getattr(self, "_token_authenticated", False)
        if model is None or (self.request.method != "GET" and not token_auth):
            if model is None and self._browser_login():
                return
            raise GatewayError(401, "authentication_error", _(
                "The hub's LLM gateway needs your JupyterHub token as the API key (JUPYTERHUB_API_TOKEN in your "
                "server), and this one was not accepted."
            ))
        self.identity = str(model.get("name", ""))
        scopes = required if required is not None else self.hub_auth.access_scopes
        if scopes and not check_scopes(set(scopes), set(model.get("scopes", ()))):
            raise GatewayError(403, "permission_error", _(
                "{name} has no access to the hub's LLM gateway: ask your administrator for it."
            ).format(name=model.get("name", "?")))
        self.hub_model = model

    def _browser_login(self) -> bool:
        """Send a browser without a session to the hub's login (OAuth); False for API clients."""
        wants_page = "text/html" in self.request.headers.get("Accept", "")
        if self.request.method != "GET" or not wants_page or not self.hub_auth.oauth_client_id:
            return False
        self.redirect(self.get_login_url())
        return True

    @property
    def caller(self) -> Caller:
        return self.gateway.caller(self.hub_model)

    def reply(self, payload: dict[str, Any], status: int = 200) -> Awaitable[None]:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        return self.finish(json.dumps(payload, ensure_ascii=False).encode())

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, GatewayError):
            error = exc
        elif isinstance(exc, web.HTTPError) and exc.status_code < 500:
            error = GatewayError(exc.status_code, "invalid_request_error", _(
                "The hub's LLM gateway cannot serve this request ({status}): check the URL and the method."
            ).format(status=exc.status_code))
        else:
            error = GatewayError(500, "server_error", _(
                "The hub's LLM gateway failed on its side: try again; tell your administrator if it persists."
            ))
        self.set_status(error.status)
        if error.retry_after is not None:
            self.set_header("Retry-After", str(max(1, round(error.retry_after))))
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(error_body(error.message, error.kind, error.code), ensure_ascii=False).encode())

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, GatewayError):
            return  # an answer, not a failure: the audit line has it
        super().log_exception(typ, value, tb)
