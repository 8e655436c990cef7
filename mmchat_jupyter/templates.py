"""Prompt templates: built-in ones (localized) and the user's own, stored with the settings.

A template is text with an `{input}` placeholder where the cell body or the panel's input goes. A new template
must have it, and no other `{word}` placeholder (a typo such as `{inpt}` would otherwise be sent as it is);
`{{` and `}}` write literal braces. A template saved before these checks that lacks `{input}` still works: the
input is appended after a blank line.
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._text import check_text
from .errors import ConfigError
from .i18n import N_, _

if TYPE_CHECKING:
    from .history import HistoryStore

#: name -> (title, text). Wrapped with N_ so the catalog has them; translated when used.
BUILTIN: dict[str, tuple[str, str]] = {
    "explain": (N_("Explain this code"), N_("Explain what this code does, step by step:\n\n{input}")),
    "summarize": (N_("Summarize"), N_("Summarize the following text in a few bullet points:\n\n{input}")),
    "translate-en": (N_("Translate to English"), N_("Translate into English, keeping the formatting:\n\n{input}")),
    "translate-ru": (N_("Translate to Russian"), N_("Translate into Russian, keeping the formatting:\n\n{input}")),
    "tests": (N_("Write tests"), N_("Write pytest tests for this code, covering edge cases:\n\n{input}")),
    "fix": (N_("Find bugs"), N_("Find the bugs in this code and show a corrected version:\n\n{input}")),
    "docstring": (N_("Add docstrings"), N_("Add clear docstrings and type hints to this code:\n\n{input}")),
    "sql": (N_("Write SQL"), N_("Write an SQL query for this task and explain it briefly:\n\n{input}")),
}

PLACEHOLDER = "{input}"
#: `{{`, `}}`, or a `{word}` placeholder.
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_NAME_LENGTH = 60


@dataclass(frozen=True)
class Template:
    """A template as faces list it: `title` is the built-in's translated title, else the name."""

    name: str
    title: str
    text: str
    builtin: bool


def all_templates(user: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Every template by name, as (title, text) in the current language; user templates override built-ins."""
    templates = {name: (_(title), _(text)) for name, (title, text) in BUILTIN.items()}
    for name, text in (user or {}).items():
        templates[name] = (name, text)
    return templates


def check_template(name: str, text: str) -> None:
    """ConfigError (one line) for a template that cannot be saved: a bad name, no {input}, an unknown {word}."""
    check_text(name, _("the template name"))
    check_text(text, _("the template"))
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME_LENGTH or any(ch.isspace() for ch in clean):
        raise ConfigError(_("A template name is one word of at most {n} characters, such as review-sql.").format(
            n=MAX_NAME_LENGTH))
    unknown = [m.group(1) for m in _TOKEN.finditer(text) if m.group(1) and m.group(1) != "input"]
    if unknown:
        close = difflib.get_close_matches(unknown[0], ["input"], n=1, cutoff=0.5)
        hint = (_("did you mean {{input}}?") if close else _("the only placeholder is {{input}}")).format()
        text_ = _("Template {name!r} has an unknown placeholder {{{word}}}: {hint} (write {{{{ and }}}} for "
                  "literal braces).")
        raise ConfigError(text_.format(name=clean, word=unknown[0], hint=hint))
    if PLACEHOLDER not in text:
        raise ConfigError(_("Template {name!r} has no {{input}}: put {{input}} where the question goes.").format(
            name=clean))


def apply_template(name: str, text: str, user: Mapping[str, str] | None = None) -> str:
    """The prompt that template `name` makes of `text`."""
    templates = all_templates(user)
    if name not in templates:
        message = _("Unknown template {name!r}: use one of {choices} (%chat templates).")
        raise ConfigError(message.format(name=name, choices=", ".join(templates)))
    body = templates[name][1]
    if PLACEHOLDER not in body:
        return f"{body}\n\n{text}" if text else body

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        return text if token == PLACEHOLDER else token[0] if token in ("{{", "}}") else token

    return _TOKEN.sub(fill, body)


class Templates:
    """`session.templates`: list, add, remove and apply templates; the user's are saved with the settings."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store

    def _user(self) -> dict[str, str]:
        return dict(self._store.get_settings().get("templates") or {})

    def list(self) -> builtins.list[Template]:
        user = self._user()
        return [Template(name, title, text, name not in user) for name, (title, text) in all_templates(user).items()]

    def get(self, name: str) -> Template:
        for template in self.list():
            if template.name == name:
                return template
        raise ConfigError(_("Unknown template {name!r}: use one of {choices} (%chat templates).").format(
            name=name, choices=", ".join(t.name for t in self.list())))

    def add(self, name: str, text: str) -> Template:
        """Save a template of the user's (replacing one of that name); ConfigError when it is not usable."""
        check_template(name, text)
        user = self._user()
        user[name.strip()] = text
        self._store.update_settings(templates=user)
        return Template(name.strip(), name.strip(), text, False)

    def remove(self, name: str) -> None:
        """Remove a template of the user's; built-in ones cannot be removed."""
        user = self._user()
        if name not in user:
            text = _("{name!r} is a built-in template and cannot be removed.") if name in BUILTIN else _(
                "No template of yours is called {name!r} (%chat templates lists them).")
            raise ConfigError(text.format(name=name))
        del user[name]
        self._store.update_settings(templates=user or None)

    def apply(self, name: str, text: str) -> str:
        return apply_template(name, text, self._user())
