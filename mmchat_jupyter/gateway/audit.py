"""One JSON line per request the gateway answered or refused: who, which model, tokens, status, timing.

The line holds the prompt only when the administrator enables `audit_prompts`, and never the answer. It goes to a
file the gateway's user alone can read (0600), or to standard output (a container's log) when no file is set.
Users cannot touch it: unlike the kernel-side audit log (mmchat_jupyter/audit.py), it is written by the gateway.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, TextIO


class AuditLog:
    """Appends audit lines; `prompts` says whether a line may carry the prompt."""

    def __init__(self, path: str = "", *, prompts: bool = False) -> None:
        self.prompts = prompts
        self._lock = threading.Lock()
        self._own = bool(path)
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            self._stream: TextIO = os.fdopen(fd, "a", encoding="utf-8", buffering=1)
        else:
            self._stream = sys.stdout

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        if self._own:
            self._stream.close()
