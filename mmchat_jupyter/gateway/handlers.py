"""The gateway's HTTP endpoints (tornado), authenticated by JupyterHub (`jupyterhub.services.auth`).

    POST {prefix}v1/chat/completions   OpenAI's chat completions, streamed (SSE) or not
    GET  {prefix}v1/models             the models this caller may use, as `provider/model`
    GET  {prefix}usage/me              the caller's usage and limits
    GET  {prefix}usage                 everyone's usage (a token with one of `usage_scopes`)
    GET  {prefix}metrics               Prometheus metrics (a token with `read:metrics`, as the hub's own)
    GET  {prefix}health                200 while the process answers (no authentication)
    GET  {prefix}oauth_callback        the end of a browser's OAuth login (HubOAuth)

A request carries the caller's JupyterHub token (`Authorization: Bearer <token>` or `token <token>`: the `openai`
package's API key is the token); a browser may use the OAuth cookie instead, for GET requests only, so that no other
site can spend a user's quota through their cookie. Access is JupyterHub's scope
`access:services!service=<name>`, granted to users and groups with a role. Every refusal is an OpenAI-style error
object with one line in the caller's language (Accept-Language).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from datetime import date
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated, check_scopes
from tornado import web
from tornado.iostream import StreamClosedError

from .. import errors
from ..i18n import _, pick_language, set_context_language
from ..types import FINISH_STOP, Usage
from . import refusals
from .ledger import DIMENSIONS, LedgerUnavailable
from .limits import Caller, Refusal
from .service import Call, Gateway, LedgerDown
from .upstream import ClientError, client_error
from .wire import OPENAI_PASSTHROUGH, BadRequest, Frames, error_body, error_frame, parse_chat_request

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


class ChatCompletionsHandler(APIHandler):
    """`POST /v1/chat/completions`: admit, relay the provider's answer chunk by chunk, settle, audit."""

    _relay: asyncio.Future[Any] | None = None
    _gone = False
    _started = False

    async def prepare(self) -> None:
        try:
            await super().prepare()
        except GatewayError as exc:  # a refused caller leaves an audit line too
            self.gateway.audit_refusal(self.identity, exc.status, exc.message)
            raise

    async def post(self) -> None:
        try:
            request = parse_chat_request(self.request.body)
        except BadRequest as exc:
            raise GatewayError(400, "invalid_request_error", exc.message) from None
        caller = self.caller
        call = self.gateway.new_call(caller, request)
        self.gateway.active += 1  # until the last byte is out: a stopping gateway waits for it
        try:
            await self._serve(call)
        except StreamClosedError:  # the client left as the last bytes went out
            call.status = "cancelled"
        except GatewayError as exc:
            call.status = "refused" if exc.status == 429 and exc.code else "error"
            call.http_status, call.error, call.limit = exc.status, exc.message, exc.code
            raise
        finally:
            self.gateway.active -= 1
            self.gateway.record(call)

    async def _serve(self, call: Call) -> None:
        request, limits = call.request, call.caller.limits
        if not limits.allows(request.model_id):
            text = _("Model {model} is not allowed for you on the hub's LLM gateway: see GET /v1/models for yours.")
            raise GatewayError(403, "permission_error", text.format(model=request.model_id))
        provider = self.gateway.upstreams.resolve(request.provider, request.model)
        if provider is None:
            text = _("The hub's LLM gateway offers no model {model}: see GET /v1/models.")
            raise GatewayError(404, "not_found_error", text.format(model=request.model_id), code="model_not_found")
        asked = request.params.max_tokens
        if limits.max_tokens is not None and asked is not None and asked > limits.max_tokens:
            text = _("max_tokens {value} is above the limit of {ceiling} set by your administrator.")
            raise GatewayError(400, "invalid_request_error", text.format(value=asked, ceiling=limits.max_tokens))
        try:
            decision = await self.gateway.admit(call)
        except LedgerDown:
            raise GatewayError(503, "service_unavailable", _(
                "The hub's LLM gateway cannot record usage right now, so it is not answering: try again in a few "
                "minutes, or tell your administrator."
            )) from None
        if isinstance(decision, Refusal):
            raise GatewayError(429, "rate_limit_error", refusals.message(decision, call.caller),
                               retry_after=decision.retry_after, code=decision.limit)
        extra = {k: v for k, v in request.openai_extra.items() if k in OPENAI_PASSTHROUGH} if (
            request.provider == "openai") else {}
        params = request.params.merged(max_tokens=decision.max_tokens, extra=extra or None)
        tally = _Tally()
        self.gateway.metrics.active.labels(provider=call.provider).inc()
        outcome: ClientError | None = None
        try:
            self._relay = asyncio.ensure_future(self._relay_answer(call, provider, params, tally))
            await asyncio.wait_for(self._relay, self.gateway.request_timeout)
        except (asyncio.CancelledError, StreamClosedError):
            if not self._gone:
                raise
            call.status = "cancelled"
        except asyncio.TimeoutError:
            outcome = ClientError(504, "upstream_error", _(
                "The answer took longer than the hub's LLM gateway allows: ask for a shorter one."))
        except errors.MMChatError as exc:
            self.gateway.metrics.upstream_errors.labels(**call.labels, error=type(exc).__name__).inc()
            log.warning("%s failed for %s: %r", call.provider, call.caller.name, exc)
            outcome = client_error(exc, provider.label, begun=tally.chars > 0)
        finally:
            self.gateway.metrics.active.labels(provider=call.provider).dec()
        usage = tally.usage or Usage(call.prompt_tokens, tally.tokens, call.prompt_tokens + tally.tokens)
        # Settled before the last byte: a client that has the whole answer sees it in its usage.
        await self.gateway.settle(call, usage, answered=tally.chars > 0 or outcome is None)
        if call.status == "cancelled":
            return
        if outcome is not None:
            call.status, call.http_status, call.error = "error", outcome.status, outcome.message
            if not self._started:
                raise GatewayError(outcome.status, outcome.kind, outcome.message, retry_after=outcome.retry_after)
            await self.finish(error_frame(outcome.message, outcome.kind, outcome.status))
            return
        frames = tally.frames(call)
        if not request.stream:
            await self.reply(frames.completion(tally.text(), tally.finish, usage))
            return
        self._start_stream()
        self.write(frames.finish(tally.finish))
        if request.include_usage:
            self.write(frames.usage(usage))
        await self.finish(Frames.DONE)

    async def _relay_answer(self, call: Call, provider: Any, params: Any, tally: _Tally) -> None:
        """Provider chunks to the client, one write and one flush each: the next chunk is read from the provider
        only once the client has taken this one, so a slow reader slows the provider instead of filling memory."""
        frames = tally.frames(call)
        stream = call.request.stream
        async for chunk in provider.astream(call.request.messages, params):
            tally.add(chunk, keep_text=not stream)
            if not chunk.text and not chunk.replace:
                continue
            if call.first_token is None:
                self.gateway.first_token(call)
            if stream:
                self._start_stream()
                self.write(frames.delta(chunk.text, replace=chunk.replace))
                await self.flush()

    def _start_stream(self) -> None:
        if not self._started:
            self._started = True
            self.set_header("Content-Type", "text/event-stream; charset=UTF-8")
            self.set_header("Cache-Control", "no-store")
            self.set_header("X-Accel-Buffering", "no")  # nginx and friends: pass each event on at once

    def on_connection_close(self) -> None:
        self._gone = True
        if self._relay is not None and not self._relay.done():
            self._relay.cancel()  # closes the provider's response: the upstream request ends too
        super().on_connection_close()


class _Tally:
    """What has come from the provider so far: counts for a stream, the text too for a whole answer."""

    def __init__(self) -> None:
        self.chars = 0
        self.usage: Usage | None = None
        self.finish: str = FINISH_STOP
        self._pieces: list[str] = []
        self._frames: Frames | None = None

    def add(self, chunk: Any, *, keep_text: bool) -> None:
        if chunk.replace:
            self.chars = len(chunk.text)
            if keep_text:
                self._pieces = [chunk.text]
        elif chunk.text:
            self.chars += len(chunk.text)
            if keep_text:
                self._pieces.append(chunk.text)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish = chunk.finish_reason

    @property
    def tokens(self) -> int:
        """The answer's tokens, estimated (when the provider reported none, or the client left mid-answer)."""
        return -(-self.chars // 3)

    def text(self) -> str:
        return "".join(self._pieces)

    def frames(self, call: Call) -> Frames:
        if self._frames is None:
            self._frames = Frames(call.request.model_id)
        return self._frames


class ModelsHandler(APIHandler):
    """`GET /v1/models`: what this caller may use."""

    async def get(self) -> None:
        limits = self.caller.limits
        ids = [i for i in await self.gateway.upstreams.model_ids() if limits.allows(i)]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": i.partition("/")[0]} for i in ids]
        self.reply({"object": "list", "data": data})


class UsageHandler(APIHandler):
    """`GET /usage/me` (the caller's own) and `GET /usage` (everyone's, for holders of a usage scope)."""

    def initialize(self, gateway: Gateway, everyone: bool = False) -> None:
        super().initialize(gateway)
        self.everyone = everyone

    def required_scopes(self) -> frozenset[str] | None:
        return self.gateway.usage_scopes if self.everyone else None

    async def get(self) -> None:
        calendar = self.gateway.ledger.calendar
        now = self.gateway.clock()
        since = self._day("since", calendar.month_start(now))
        until = self._day("until", calendar.day(now))
        if self.everyone:
            by = [d for d in self.get_argument("by", ",".join(DIMENSIONS)).split(",") if d]
            if not set(by) <= set(DIMENSIONS):
                raise GatewayError(400, "invalid_request_error", _(
                    "`by` takes some of {dimensions}, separated by commas."
                ).format(dimensions=", ".join(DIMENSIONS)))
            rows = await self._report(since=since, until=until, by=by, user=self.get_argument("user", None),
                                      group=self.get_argument("group", None))
            self.reply({"since": since, "until": until, "by": by, "rows": rows})
            return
        caller = self.caller
        rows = await self._report(since=since, until=until, by=["day", "provider", "model"], user=caller.name)
        today = calendar.day(now)
        day = await self._report(since=today, until=today, by=[], user=caller.name)
        month = await self._report(since=calendar.month_start(now), until=today, by=[], user=caller.name)
        self.reply({
            "user": caller.name, "group": caller.group, "groups": list(caller.groups),
            "limits": caller.limits.as_dict(), "since": since, "until": until,
            "today": _totals(day), "month": _totals(month), "rows": rows,
        })

    async def _report(self, **query: Any) -> list[dict[str, Any]]:
        try:
            return await self.gateway.run(self.gateway.ledger.report, **query)
        except LedgerUnavailable as exc:
            log.error("cannot read usage: %s", exc)
            raise GatewayError(503, "service_unavailable", _(
                "The hub's LLM gateway cannot read usage right now: try again in a few minutes."
            )) from None

    def _day(self, name: str, default: str) -> str:
        value = self.get_argument(name, default)
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise GatewayError(400, "invalid_request_error", _(
                "`{name}` must be a day like 2025-06-01, not {value!r}."
            ).format(name=name, value=value)) from None


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("requests", "prompt_tokens", "completion_tokens", "total_tokens")
    return {key: int(rows[0][key]) if rows else 0 for key in keys}


class MetricsHandler(APIHandler):
    """`GET /metrics` for Prometheus: a hub token with `read:metrics`, unless authenticate_prometheus is off."""

    def required_scopes(self) -> frozenset[str] | None:
        return self.gateway.metrics_scopes or frozenset()

    def get(self) -> None:
        self.set_header("Content-Type", self.gateway.metrics.content_type)
        self.finish(self.gateway.metrics.render())


class HealthHandler(web.RequestHandler):
    """`GET /health`: the process answers (a Kubernetes readiness probe); no authentication, nothing revealed."""

    def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.finish({"status": "ok"})


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """Where the hub sends a browser back after login."""

    def initialize(self, gateway: Gateway) -> None:
        self.hub_auth = gateway.hub_auth


def routes(prefix: str, gateway: Gateway) -> list[Any]:
    """The URL table under `prefix` (the service's prefix on the hub, e.g. /services/mmchat-gateway/)."""
    settings = {"gateway": gateway}
    return [
        (f"{prefix}v1/chat/completions", ChatCompletionsHandler, settings),
        (f"{prefix}v1/models", ModelsHandler, settings),
        (f"{prefix}usage/me", UsageHandler, settings),
        (f"{prefix}usage", UsageHandler, {**settings, "everyone": True}),
        (f"{prefix}metrics", MetricsHandler, settings),
        (f"{prefix}health", HealthHandler),
        (f"{prefix}oauth_callback", OAuthCallbackHandler, settings),
    ]
