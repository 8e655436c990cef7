"""Provider names -> provider classes, all registered the same way: entry points in `mmchat_jupyter.providers`.

The built-ins are entry points of this package (pyproject.toml); a third-party package registers its own,
`name = "package.module:ProviderClass"`. Classes are imported on first use, so importing the package stays cheap.
A plugin that cannot be loaded is skipped with one logged line (and reported by `problems()`, which
`%chat providers` and `mmchat doctor` show); one named like a built-in is ignored the same way, never silently.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache, lru_cache
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..i18n import _
from .base import Provider

log = logging.getLogger("mmchat_jupyter.providers")

ENTRY_POINT_GROUP = "mmchat_jupyter.providers"
DISTRIBUTION = "mmchat-jupyter"

#: The built-ins as pyproject.toml registers them; used only when the package's metadata is missing (a source
#: tree on sys.path without `pip install`). A test keeps the two the same.
BUILTIN: dict[str, str] = {
    "yandexgpt": "mmchat_jupyter.providers.yandexgpt:YandexGPTProvider",
    "gigachat": "mmchat_jupyter.providers.gigachat:GigaChatProvider",
    "openai": "mmchat_jupyter.providers.openai:OpenAIProvider",
    "echo": "mmchat_jupyter.providers.echo:EchoProvider",
}

#: The order in which configured providers are preferred when the user has chosen none.
PREFERENCE = ("yandexgpt", "gigachat", "openai")


class Registration(NamedTuple):
    name: str
    target: str
    #: The distribution that registered it ("mmchat-jupyter" for the built-ins).
    package: str


@lru_cache(maxsize=1)
def _registrations() -> dict[str, Registration]:
    from importlib.metadata import entry_points

    found: dict[str, Registration] = {}
    plugins: list[Registration] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = ep.dist.name if ep.dist is not None else "?"
        entry = Registration(ep.name, ep.value, package)
        if _canonical(package) == DISTRIBUTION:
            found[ep.name] = entry
        else:
            plugins.append(entry)
    if not found:
        found = {name: Registration(name, target, DISTRIBUTION) for name, target in BUILTIN.items()}
    for entry in plugins:
        if entry.name in found:
            text = _("the provider plugin {name!r} of {package} is ignored: it is named like a built-in provider; "
                     "the plugin must register another name.")
            _problem(f"{entry.name}/{entry.package}", text.format(name=entry.name, package=entry.package))
            continue
        found[entry.name] = entry
    return found


_problems: dict[str, str] = {}


def _problem(name: str, message: str) -> None:
    """Record a plugin problem and log it, once per process."""
    if name not in _problems:
        _problems[name] = message
        log.warning("%s", message)


def problems() -> dict[str, str]:
    """Plugins that were skipped, each with its one-line reason (those that fail to load once something tried
    to load them, e.g. `load_all()`): by name, or as "name/package" for one named like a built-in."""
    _registrations()
    return dict(_problems)


def broken() -> list[str]:
    """Names of registered plugins that failed to load."""
    return sorted(name for name in _problems if name in _registrations())


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def list_providers() -> list[str]:
    """Names of every registered provider, built-in and plugins, that has not been found broken."""
    return sorted(name for name in _registrations() if name not in _problems)


def load_all() -> dict[str, type[Provider]]:
    """Every provider class that loads; the others are skipped with one logged line each."""
    classes = {}
    for name in list_providers():
        try:
            classes[name] = provider_class(name)
        except ConfigError:
            continue
    return classes


@cache
def _load(name: str, target: str) -> type[Provider]:
    module, _sep, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"{target} is not a subclass of mmchat_jupyter.providers.Provider")
    if getattr(cls, "name", None) != name:
        cls.name = name  # errors and history name a provider as the registry does
    return cls


def provider_class(name: str) -> type[Provider]:
    """The class registered under `name`; ConfigError for an unknown name or a plugin that cannot be loaded."""
    entry = _registrations().get(name)
    if name in _problems:
        raise ConfigError(_problems[name])
    if entry is None:
        text = _("Unknown provider {name!r}: choose one of {choices}.")
        raise ConfigError(text.format(name=name, choices=", ".join(list_providers())))
    try:
        return _load(name, entry.target)
    except Exception as exc:
        if entry.package == DISTRIBUTION:
            raise
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())
        _problem(name, _("the provider plugin {name!r} of {package} cannot be loaded ({detail}); it is skipped: "
                         "update or uninstall {package}.").format(name=name, package=entry.package, detail=detail))
        raise ConfigError(_problems[name]) from None


def get_provider(name: str, **settings: Any) -> Provider:
    """A ready provider; `settings` override the environment (base_url, api_key, transport, ...)."""
    return provider_class(name)(**settings)
