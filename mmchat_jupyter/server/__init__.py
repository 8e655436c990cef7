"""The mmchat REST and Server-Sent Events API: a Jupyter Server extension serving /mmchat/api/v1/ on the user's own
server, over the same engine and history as `%%chat`, the chat panel and `mmchat` (see docs/api.md).

Installing the package enables it: `jupyter-config/jupyter_server_config.d/mmchat_jupyter.json` is installed into
`{sys.prefix}/etc/jupyter/jupyter_server_config.d/`, and `jupyter server extension list` shows it. Disable it with
`jupyter server extension disable mmchat_jupyter.server`.

A plain extension module, not an `ExtensionApp`: the API has no pages, no static files and no command of its own,
and its configuration is the `c.MMChat` every face already reads; an ExtensionApp would add an application object,
a launcher and a second configuration namespace for nothing.
"""

from __future__ import annotations

import re
from typing import Any

from tornado.routing import URLSpec

#: Where the API lives under the server's base URL.
PREFIX = "mmchat/api/v1"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "mmchat_jupyter.server"}]


def routes() -> list[tuple[str, type]]:
    """The API's paths (OpenAPI style, under PREFIX) and their handlers, in matching order."""
    from .chats import ChatHandler, ChatsHandler, ClearHandler, ExportHandler, ImportHandler
    from .events import EventsHandler
    from .meta import ModelsHandler, ProvidersHandler, SettingsHandler, TemplateHandler, TemplatesHandler, UsageHandler
    from .openapi import OpenAPIHandler
    from .turns import MessagesHandler, RegenerateHandler, StopHandler

    return [
        ("/openapi.json", OpenAPIHandler),
        ("/chats", ChatsHandler),
        ("/chats/import", ImportHandler),
        ("/chats/{chat}", ChatHandler),
        ("/chats/{chat}/clear", ClearHandler),
        ("/chats/{chat}/export", ExportHandler),
        ("/chats/{chat}/messages", MessagesHandler),
        ("/chats/{chat}/regenerate", RegenerateHandler),
        ("/chats/{chat}/stop", StopHandler),
        ("/providers", ProvidersHandler),
        ("/providers/{provider}/models", ModelsHandler),
        ("/settings", SettingsHandler),
        ("/templates", TemplatesHandler),
        ("/templates/{name}", TemplateHandler),
        ("/usage", UsageHandler),
        ("/events", EventsHandler),
    ]


def _pattern(path: str) -> str:
    """`/chats/{chat}` -> `/chats/(?P<chat>[^/]+)`: one segment per parameter; tornado URL-decodes it."""
    return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "/?$"


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the API's handlers on the server, with one engine service and one change watcher for all of them."""
    from jupyter_server.utils import url_path_join

    from ._changes import ChangeWatcher
    from ._service import Service

    service = Service()
    watcher = ChangeWatcher(service.change_seq, service.changes)
    web_app = serverapp.web_app
    web_app.settings["mmchat_service"] = service
    web_app.settings["mmchat_watcher"] = watcher
    base_url = web_app.settings["base_url"]
    handlers = [URLSpec(url_path_join(base_url, PREFIX) + _pattern(path), handler) for path, handler in routes()]
    web_app.add_handlers(".*$", handlers)
    serverapp.log.info("mmchat API at %s (history: %s)", url_path_join(base_url, PREFIX), service.session.chats.root)
