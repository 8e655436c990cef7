"""An Authorizer for the test server: reads of the "mmchat" resource only; everything else as usual."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth import Authorizer


class ReadOnlyMMChat(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "mmchat" or action == "read"
