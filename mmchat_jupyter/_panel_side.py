"""`%chat panel --side`: the panel in JupyterLab's right side area, where it stays beside whichever notebook or file
is open. The `sidecar` package (an output widget with a JupyterLab extension) does the placing; it is optional
(`pip install sidecar`, or the `lab` extra), so a missing one is one line saying what to install.

One side panel per kernel: opening another replaces it (its watcher stops with it), rather than stacking tabs that
all show the same chats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.display import display

from .errors import MMChatError
from .i18n import _

if TYPE_CHECKING:
    from .widget import ChatPanel

_open: tuple[Any, ChatPanel] | None = None  # (the Sidecar, its panel)


def open_beside(panel: ChatPanel) -> None:
    """Show `panel` in JupyterLab's right side area, replacing the side panel this kernel opened before."""
    global _open
    try:
        from sidecar import Sidecar
    except ImportError:
        panel.close()
        raise MMChatError(_("The panel beside the notebook needs the sidecar package: run pip install sidecar, "
                            "then reload the JupyterLab page.")) from None
    close()
    side = Sidecar(title=_("Chat"), anchor="right")
    with side:  # the widget alone: no transcript, since the side area is not part of the notebook
        bundle = panel._repr_mimebundle_()
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        display(data, metadata=metadata, raw=True)
    _open = side, panel


def close() -> None:
    """Close the side panel this kernel opened, if any."""
    global _open
    if _open is not None:
        side, panel = _open
        _open = None
        side.close()
        panel.close()
