"""A real in-process IPython shell with the magics loaded, and a way to run a cell and see everything it showed.

Registered as a pytest plugin in tests/conftest.py, so every test can ask for the `shell` fixture. Each test gets
fresh magics over a fresh `ChatSession`, so history lives in the test's own MMCHAT_HOME (see conftest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import ExecutionResult
from IPython.testing import globalipapp
from IPython.utils.capture import RichOutput, capture_output

from mmchat_jupyter.magics import ChatMagics
from mmchat_jupyter.session import ChatSession


@dataclass
class Ran:
    """What one cell did: its result, every display it published (updates included) and its printed text."""

    result: ExecutionResult
    outputs: list[RichOutput]
    stdout: str
    stderr: str

    @property
    def error(self) -> BaseException | None:
        return self.result.error_in_exec or self.result.error_before_exec

    @property
    def final(self) -> dict[str, Any]:
        """The data of the last display (the finished answer)."""
        return self.outputs[-1].data


def run(shell: Any, code: str) -> Ran:
    with capture_output() as captured:
        result = shell.run_cell(code, store_history=True)
    return Ran(result, captured.outputs, captured.stdout, captured.stderr)


def assert_one_usage_line(ran: Ran, says: str) -> None:
    """The cell failed with a UsageError shown as one line that says `says`, and no traceback."""
    assert isinstance(ran.error, UsageError)
    assert says in ran.stderr
    assert ran.stderr.strip().startswith("UsageError:") and "\n" not in ran.stderr.strip()
    assert "Traceback" not in ran.stdout + ran.stderr


@pytest.fixture
def magics() -> Any:
    globalipapp.start_ipython()
    ip = globalipapp.get_ipython()
    magics = ChatMagics(shell=ip, session=ChatSession())
    ip.register_magics(magics)
    yield magics
    ip.configurables.remove(magics)


@pytest.fixture
def shell(magics: ChatMagics) -> Any:
    return magics.shell


def state(session: ChatSession) -> tuple[Any, ...]:
    """Everything a failed command must leave unchanged: chats, their messages, settings."""
    store = session.store
    chats = [(c.id, c.name, c.message_count) for c in store.list_chats()]
    messages = [[(m.role, m.content, m.status) for m in store.get_chat(c[0]).messages] for c in chats]
    return chats, messages, store.get_settings(), session.chat_ref
