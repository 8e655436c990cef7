"""The user's language: gettext catalogs shipped in the package, switchable without a restart.

Every user-facing string is written in English and wrapped: `_("Chat {name} deleted").format(name=...)`,
`ngettext("{n} message", "{n} messages", n).format(n=n)`. Strings are looked up when called, so changing the
language (`set_language("ru")`, `%chat set lang=ru`) applies to the next output. The panel gets its strings from
Python, so there is one catalog: `mmchat_jupyter/locale/<lang>/LC_MESSAGES/mmchat.po`, compiled to `.mo`.

Language resolution: `set_language()` (from the persisted setting) > `MMCHAT_LANG` > the locale (`LANGUAGE`, then the
first of `LC_ALL` / `LC_MESSAGES` / `LANG` that is set, as gettext reads them) > English.

Catalogs are made with `python -m mmchat_jupyter.i18n_tools` (extract, update, compile, check; needs Babel, which
the package itself never imports).
"""

from __future__ import annotations

import gettext
import os
from contextvars import ContextVar
from functools import cache
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "mmchat"
SUPPORTED = ("en", "ru")

_chosen: str | None = None
#: A language for the current context only (one server request among many served at once), over `_chosen`.
_context_language: ContextVar[str | None] = ContextVar("mmchat_language", default=None)


def _normalise(value: str | None) -> str | None:
    """'ru_RU.UTF-8' -> 'ru'; None for anything we do not ship."""
    if not value:
        return None
    code = value.split(".")[0].split("_")[0].split("-")[0].lower()
    return code if code in SUPPORTED else None


def _from_locale() -> str:
    """The language of the POSIX locale, the way gettext reads it: LANGUAGE (a list, 'ru:en'), then the first of
    LC_ALL, LC_MESSAGES, LANG that is set; English when that names a language we do not ship ('C.UTF-8', 'de_DE')."""
    for part in os.environ.get("LANGUAGE", "").split(":"):
        code = _normalise(part)
        if code:
            return code
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return _normalise(value) or "en"
    return "en"


def get_language() -> str:
    """The language in force now."""
    scoped = _context_language.get()
    if scoped:
        return scoped
    if _chosen:
        return _chosen
    return _normalise(os.environ.get("MMCHAT_LANG")) or _from_locale()


def set_language(lang: str | None) -> str:
    """Choose the language for new output (None: back to the environment). Returns the language in force."""
    global _chosen
    if lang is not None and _normalise(lang) is None:
        from .errors import ConfigError

        raise ConfigError(
            _("Unknown language {lang!r}: use one of {choices}.").format(lang=lang, choices=", ".join(SUPPORTED))
        )
    _chosen = _normalise(lang)
    return get_language()


def set_context_language(lang: str | None) -> str:
    """Use `lang` for the rest of the current context only: an asyncio task (a server request) and the threads it
    starts with its context, leaving the process-wide choice alone, since a server answers many requests at once.
    A language we do not ship (or None) leaves the language in force unchanged. Returns the language in force."""
    _context_language.set(_normalise(lang))
    return get_language()


def pick_language(accept_language: str | None) -> str | None:
    """The supported language an HTTP `Accept-Language` header prefers most (highest q), or None."""
    best, best_q = None, 0.0
    for part in (accept_language or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        code = _normalise(tag.strip())
        if code and q > best_q:  # strictly greater: of equal weights, the header's first wins
            best, best_q = code, q
    return best


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog for `lang` (English needs none)."""
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True)


def _(message: str) -> str:
    """Translate `message` into the current language."""
    return translations(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate a message with a count, using the language's plural rules (Russian has three forms)."""
    return translations(get_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it yet (module-level constants)."""
    return message


# argparse's own words (usage line, section titles, option errors), so that `mmchat --help` and a mistyped option
# read in the user's language too. argparse looks them up through its module-level `_`; see localize_argparse().
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("expected one argument"),
    N_("expected at least one argument"),
    N_("expected at most one argument"),
    N_("not allowed with argument %s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
)


def _argparse_gettext(message: str) -> str:
    return _(message) if message in ARGPARSE_MESSAGES else message


def localize_argparse() -> None:
    """Route argparse's own messages through this catalog (only the ones listed above; the rest stay as they are).

    Process-wide, so call it where the process is ours: the `mmchat` command and the magics' option parsers.
    """
    import argparse

    argparse._ = _argparse_gettext  # type: ignore[attr-defined]
