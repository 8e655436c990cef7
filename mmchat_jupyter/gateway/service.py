"""The gateway's bookkeeping around each request: who the caller is, admission against their limits, settling what
the answer used, and the metrics and audit line every request leaves behind. The HTTP side is in handlers.py.

The ledger blocks, so it runs on threads of its own; a settlement that fails (the database went away after the
answer began) is kept and retried, and a request that cannot be admitted because the database is unreachable is
refused, unless the administrator chose `fail_open` (then it is served and recorded when the database is back).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..context import DEFAULT_ANSWER_TOKENS, estimate_tokens
from ..types import Usage
from .audit import AuditLog
from .ledger import Ledger, LedgerUnavailable, Settlement
from .limits import Caller, Grant, Policy, Refusal
from .metrics import Metrics
from .upstream import Upstreams
from .wire import ChatRequest

log = logging.getLogger("mmchat_jupyter.gateway")
T = TypeVar("T")

HOST = socket.gethostname()


class LedgerDown(Exception):
    """The usage database cannot admit a request, and the gateway must not serve it unmetered."""


@dataclass
class Call:
    """One chat-completions request, from admission to its audit line."""

    caller: Caller
    request: ChatRequest
    provider: str
    #: The prompt's estimated tokens (what is reserved before the provider has counted them).
    prompt_tokens: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.monotonic)
    day: str = ""
    #: Holds a reservation in the ledger (to be settled).
    reserved: bool = False
    first_token: float | None = None
    #: ok, error, cancelled (the client went away) or refused (a limit).
    status: str = "ok"
    http_status: int = 200
    usage: Usage | None = None
    error: str | None = None
    limit: str | None = None

    @property
    def labels(self) -> dict[str, str]:
        return {"provider": self.provider, "model": self.request.model}


class Gateway:
    """Everything a request handler needs besides HTTP: the policy, the upstreams, the ledger, metrics and audit."""

    def __init__(
        self,
        *,
        policy: Policy,
        upstreams: Upstreams,
        ledger: Ledger,
        metrics: Metrics,
        audit: AuditLog,
        hub_auth: Any,
        answer_reserve: int = DEFAULT_ANSWER_TOKENS,
        request_timeout: float = 600.0,
        fail_open: bool = False,
        db_threads: int = 4,
        usage_scopes: frozenset[str] = frozenset(),
        metrics_scopes: frozenset[str] | None = frozenset({"read:metrics"}),
    ) -> None:
        self.policy = policy
        self.upstreams = upstreams
        self.ledger = ledger
        self.metrics = metrics
        self.audit = audit
        self.hub_auth = hub_auth
        self.answer_reserve = answer_reserve
        self.request_timeout = request_timeout
        self.fail_open = fail_open
        self.usage_scopes = usage_scopes
        #: None: /metrics is open (authenticate_prometheus = False).
        self.metrics_scopes = metrics_scopes
        # SQLite (a local file, one writer at a time) answers in a fraction of a millisecond: handing each statement
        # to a thread and back would cost more than running it. PostgreSQL is a network away: threads.
        self._inline = ledger.engine.dialect.name == "sqlite"
        self._executor = ThreadPoolExecutor(db_threads, thread_name_prefix="mmchat-ledger")
        self._unsettled: list[Settlement] = []
        self._schema_ready = False
        #: Requests being answered now (a stopping gateway waits for them).
        self.active = 0
        #: Wall-clock time (replaceable in tests: a day's limit renews at midnight).
        self.clock: Callable[[], float] = time.time

    # -- callers and requests -----------------------------------------------------------------------------------

    def caller(self, hub_model: Mapping[str, Any]) -> Caller:
        """The caller behind a hub identity (a service counts as `service:NAME`, with no groups)."""
        if hub_model.get("kind", "user") == "user":
            return self.policy.caller(hub_model["name"], hub_model.get("groups") or ())
        return self.policy.caller(f"service:{hub_model['name']}", ())

    def new_call(self, caller: Caller, request: ChatRequest) -> Call:
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        call = Call(caller, request, request.provider, prompt, at=self.clock())
        call.day = self.ledger.calendar.day(call.at)
        return call

    async def admit(self, call: Call) -> Grant | Refusal:
        """Check the caller's limits and hold a reservation; LedgerDown when that cannot be done."""
        limits = call.caller.limits
        asked = call.request.params.max_tokens
        unmetered = Grant(0, asked if asked is not None else limits.max_tokens)
        if not limits.metered:
            return unmetered
        try:
            decision = await self.run(
                self.ledger.admit, call.id, call.caller, prompt_tokens=call.prompt_tokens, max_tokens=asked,
                answer_reserve=self.answer_reserve, timeout=self.request_timeout, now=call.at,
            )
        except LedgerUnavailable as exc:
            self.metrics.ledger_errors.inc()
            if not self.fail_open:
                log.error("usage database unavailable, refusing %s: %s", call.caller.name, exc)
                raise LedgerDown(str(exc)) from None
            log.warning("usage database unavailable, serving %s unmetered (fail_open): %s", call.caller.name, exc)
            return unmetered
        call.reserved = isinstance(decision, Grant)
        return decision

    async def settle(self, call: Call, usage: Usage, *, answered: bool) -> None:
        """Record what `call` used and release its reservation; kept for a retry if the database refuses."""
        call.usage = usage
        done = Settlement(
            request_id=call.id if call.reserved else None, day=call.day, user=call.caller.name,
            group=call.caller.group, provider=call.provider, model=call.request.model, requests=int(answered),
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )
        try:
            await self.run(self.ledger.settle, done)
        except LedgerUnavailable as exc:
            self.metrics.ledger_errors.inc()
            log.error("cannot record usage of %s now (will retry): %s", call.caller.name, exc)
            self._unsettled.append(done)

    def record(self, call: Call) -> None:
        """The metrics and the audit line of a finished (or refused) request."""
        labels = {**call.labels, **self.metrics.who(call.caller.group, call.caller.name)}
        elapsed = time.monotonic() - call.started
        self.metrics.requests.labels(**labels, status=call.status).inc()
        if call.status == "refused":
            self.metrics.rejections.labels(**self.metrics.who(call.caller.group, call.caller.name),
                                           limit=call.limit or "").inc()
        else:
            self.metrics.duration.labels(**labels).observe(elapsed)
        if call.usage is not None:
            self.metrics.tokens.labels(**labels, kind="prompt").inc(call.usage.prompt_tokens)
            self.metrics.tokens.labels(**labels, kind="completion").inc(call.usage.completion_tokens)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(call.at, timezone.utc).isoformat(),
            "request": call.id,
            "user": call.caller.name,
            "group": call.caller.group,
            "model": call.request.model_id,
            "stream": call.request.stream,
            "status": call.status,
            "http_status": call.http_status,
            "duration_ms": round(elapsed * 1000, 1),
            "first_token_ms": None if call.first_token is None else round((call.first_token - call.started) * 1000, 1),
            "usage": None if call.usage is None else call.usage.as_dict(),
            "gateway": HOST,
        }
        if call.limit:
            entry["limit"] = call.limit
        if call.error:
            entry["error"] = call.error
        if self.audit.prompts:
            entry["prompt"] = [{"role": m.role, "content": m.content} for m in call.request.messages]
        self.audit.write(entry)

    def audit_refusal(self, user: str | None, status: int, error: str) -> None:
        """The audit line of a request refused before it was read: no token, or no access."""
        self.audit.write({
            "time": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(), "user": user, "status": "error",
            "http_status": status, "error": error, "gateway": HOST,
        })

    def first_token(self, call: Call) -> None:
        call.first_token = time.monotonic()
        self.metrics.first_token.labels(**call.labels, **self.metrics.who(call.caller.group, call.caller.name)).observe(
            call.first_token - call.started
        )

    # -- the database -----------------------------------------------------------------------------------

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function` of the ledger, on a database thread (inline for SQLite)."""
        if self._inline:
            return function(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    async def housekeeping(self) -> None:
        """Create the tables if that has not been done yet, and record the usage kept while the database was
        unavailable (called at start, then every few seconds)."""
        if not self._schema_ready:
            try:
                await self.run(self.ledger.create_schema)
            except LedgerUnavailable as exc:
                self.metrics.ledger_errors.inc()
                log.error("the usage database is unavailable (metered requests are refused until it is back): %s",
                          exc)
                return
            self._schema_ready = True
        pending, self._unsettled = self._unsettled, []
        for index, done in enumerate(pending):
            try:
                await self.run(self.ledger.settle, done)
            except LedgerUnavailable:
                self._unsettled.extend(pending[index:])
                return
        if pending:
            log.info("recorded the usage of %d request(s) kept while the database was unavailable", len(pending))

    async def purge(self) -> None:
        try:
            await self.run(self.ledger.purge, time.time())
        except LedgerUnavailable as exc:
            log.warning("cannot purge old requests: %s", exc)

    @property
    def unsettled(self) -> int:
        return len(self._unsettled)

    def close(self) -> None:
        if self._unsettled:
            log.error("exiting with the usage of %d request(s) not recorded (database unavailable)",
                      len(self._unsettled))
        self._executor.shutdown(wait=True)
        self.ledger.close()
        self.upstreams.close()
        self.audit.close()
