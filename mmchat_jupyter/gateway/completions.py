"""`POST /v1/chat/completions`: admit the call, relay the provider's answer chunk by chunk (SSE) or whole, settle
the usage, audit. A client that leaves mid-answer ends the provider's request too.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tornado.iostream import StreamClosedError

from .. import errors
from ..i18n import _
from ..types import FINISH_STOP, Usage
from . import refusals
from .endpoint import APIHandler, GatewayError
from .limits import Refusal
from .service import Call, LedgerDown
from .upstream import ClientError, client_error
from .wire import OPENAI_PASSTHROUGH, BadRequest, Frames, error_frame, parse_chat_request

log = logging.getLogger("mmchat_jupyter.gateway")


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
