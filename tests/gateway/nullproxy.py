"""A JupyterHub proxy class that routes nothing: the gateway tests talk to the hub's REST API and to the gateway
directly, so they need no configurable-http-proxy (and no npm). Loaded by the test hub's config only."""

from __future__ import annotations

from typing import Any

from jupyterhub.proxy import Proxy


class NullProxy(Proxy):
    should_start = False

    async def add_route(self, routespec: str, target: str, data: dict[str, Any]) -> None:
        pass

    async def delete_route(self, routespec: str) -> None:
        pass

    async def get_all_routes(self) -> dict[str, Any]:
        return {}
