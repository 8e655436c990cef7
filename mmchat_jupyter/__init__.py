"""mmchat_jupyter: multi-provider LLM chat in Jupyter (YandexGPT, GigaChat, OpenAI-compatible, offline echo).

    %load_ext mmchat_jupyter          then %%chat in a cell, %chat help for the rest
    ChatPanel()                       a chat UI inside the notebook
    Chat("name").ask("...")           the same engine from Python code

Heavy pieces (the widget, exports) are imported on first use so that loading the extension stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import errors, types
from .errors import MMChatError

if TYPE_CHECKING:  # the lazy names below, as type checkers should see them
    from IPython.core.interactiveshell import InteractiveShell

    from .api import Chat
    from .export import export_chat, import_chat
    from .history import HistoryStore
    from .providers import get_provider, list_providers
    from .render import render_markdown
    from .session import ChatSession
    from .widget import ChatPanel

__version__ = "0.1.0"

_LAZY = {
    "Chat": "mmchat_jupyter.api",
    "ChatPanel": "mmchat_jupyter.widget",
    "ChatSession": "mmchat_jupyter.session",
    "HistoryStore": "mmchat_jupyter.history",
    "export_chat": "mmchat_jupyter.export",
    "get_provider": "mmchat_jupyter.providers",
    "list_providers": "mmchat_jupyter.providers",
    "import_chat": "mmchat_jupyter.export",
    "render_markdown": "mmchat_jupyter.render",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mmchat_jupyter' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """`%load_ext mmchat_jupyter`: register %%chat and %chat."""
    from .magics import ChatMagics, install

    ipython.register_magics(ChatMagics(shell=ipython))
    install(ipython)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove what `install` added; the magics go with IPython's own bookkeeping."""
    from .magics import uninstall

    uninstall(ipython)


__all__ = [
    "Chat", "ChatPanel", "ChatSession", "HistoryStore", "MMChatError", "__version__", "errors", "export_chat",
    "get_provider", "import_chat", "list_providers", "load_ipython_extension", "render_markdown", "types",
]
