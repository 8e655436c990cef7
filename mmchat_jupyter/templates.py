"""Prompt templates: built-in ones (localized) and the user's own, stored with the settings.

A template is text with an `{input}` placeholder where the cell body or the panel's input goes; a template
without the placeholder gets the input appended after a blank line.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigError
from .i18n import N_, _

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


def all_templates(user: Mapping[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Every template by name, as (title, text) in the current language; user templates override built-ins."""
    templates = {name: (_(title), _(text)) for name, (title, text) in BUILTIN.items()}
    for name, text in (user or {}).items():
        templates[name] = (name, text)
    return templates


def apply_template(name: str, text: str, user: Mapping[str, str] | None = None) -> str:
    """The prompt that template `name` makes of `text`."""
    templates = all_templates(user)
    if name not in templates:
        message = _("Unknown template {name!r}: see %chat templates for the list.")
        raise ConfigError(message.format(name=name))
    body = templates[name][1]
    if "{input}" in body:
        return body.replace("{input}", text)
    return f"{body}\n\n{text}" if text else body
