"""The administrator's optional audit log: one JSON line per answer, in a file per user.

Enabled with `c.MMChat.audit_log = "/var/log/mmchat"`. It records who used which provider and model and how
many tokens, and the prompt text only when `c.MMChat.audit_prompts = True`. Never a secret, never the answer.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .types import now_iso

if TYPE_CHECKING:
    from .config import MMChat
    from .session import Turn


def record_turn(admin: MMChat, turn: Turn) -> None:
    """Append one line for `turn` to `<audit_log>/<user>.jsonl`; a failure to write never breaks the chat."""
    user = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    entry = {
        "time": now_iso(),
        "user": user,
        "provider": turn.provider,
        "model": turn.model,
        "status": turn.status,
        "usage": turn.usage.as_dict() if turn.usage else None,
    }
    if admin.audit_prompts:
        entry["prompt"] = turn.prompt
    line = json.dumps(entry, ensure_ascii=False) + "\n"
    path = Path(admin.audit_log) / f"{user}.jsonl"
    try:
        # O_APPEND writes of one short line are atomic enough for concurrent kernels of one user.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError:
        import logging

        logging.getLogger("mmchat_jupyter").warning("cannot write the audit log at %s", path)
