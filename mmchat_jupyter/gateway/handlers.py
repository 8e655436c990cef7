"""The gateway's HTTP endpoints (tornado), authenticated by JupyterHub (`jupyterhub.services.auth`).

    POST {prefix}v1/chat/completions   OpenAI's chat completions, streamed (SSE) or not
    GET  {prefix}v1/models             the models this caller may use, as `provider/model`
    GET  {prefix}usage/me              the caller's usage and limits
    GET  {prefix}usage                 everyone's usage (a token with one of `usage_scopes`)
    GET  {prefix}metrics               Prometheus metrics (a token with `read:metrics`, as the hub's own)
    GET  {prefix}health                200 while the process answers (no authentication)
    GET  {prefix}oauth_callback        the end of a browser's OAuth login (HubOAuth)

How a caller is identified and how refusals look is in `endpoint.py` (shared by every endpoint); the chat
completions endpoint, which relays answers, is `completions.py`; the small endpoints are here.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from ..i18n import _
from .completions import ChatCompletionsHandler
from .endpoint import APIHandler, GatewayError
from .ledger import DIMENSIONS, LedgerUnavailable
from .service import Gateway

log = logging.getLogger("mmchat_jupyter.gateway")


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
