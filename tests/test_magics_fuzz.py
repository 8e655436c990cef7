"""Random option lines thrown at `%%chat` and `%chat`: a failure is one UsageError line that changed nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from .magic_shell import run, state

# Real providers are left out on purpose: these runs are about reading options, not about network calls.
_WORDS = [
    "-p", "-m", "-t", "-n", "-c", "--new", "--no-history", "-s", "--template", "-f", "--cache", "-h", "--help",
    "--provider=echo", "-pecho", "--temperature=", "-x", "--", "-", "echo", "nope", "echo-1", "0.5", "-1", "3",
    "1e309", "nan", "text", "code", "pdf", "summarize", "'", '"', "'a b'", "=", "{x}", "$x", "\\",
    "list", "new", "use", "rename", "delete", "clear", "show", "providers", "models", "set", "templates",
    "usage", "export", "help", "add", "remove", "temperature=2.5", "lang=xx", "max_tokens=-1", "provider=nope",
]
_JUNK = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=6)
_LINES = st.lists(st.one_of(st.sampled_from(_WORDS), _JUNK), max_size=6).map(" ".join)

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check(ran, session, before) -> None:
    assert "Traceback" not in ran.stdout + ran.stderr
    if ran.error is None:
        return
    assert isinstance(ran.error, UsageError), repr(ran.error)
    message = ran.stderr.strip()
    assert message.startswith("UsageError:") and "\n" not in message, message
    assert state(session) == before


@_SETTINGS
@given(line=_LINES)
def test_cell_magic_options(shell, magics, line):
    before = state(magics.session)
    _check(run(shell, f"%%chat {line}\nhello"), magics.session, before)


@_SETTINGS
@given(line=_LINES)
def test_line_magic_subcommands(shell, magics, line):
    before = state(magics.session)
    _check(run(shell, f"%chat {line}"), magics.session, before)
