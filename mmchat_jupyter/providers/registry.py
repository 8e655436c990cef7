"""Provider names -> provider classes: the built-ins, plus third-party ones from entry points.

A third-party package registers `name = "package.module:ProviderClass"` in the entry-point group
`mmchat_jupyter.providers`. Classes are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from ..i18n import _
from .base import Provider

ENTRY_POINT_GROUP = "mmchat_jupyter.providers"

BUILTIN: dict[str, str] = {
    "yandexgpt": "mmchat_jupyter.providers.yandexgpt:YandexGPTProvider",
    "gigachat": "mmchat_jupyter.providers.gigachat:GigaChatProvider",
    "openai": "mmchat_jupyter.providers.openai:OpenAIProvider",
    "echo": "mmchat_jupyter.providers.echo:EchoProvider",
}

#: The order in which configured providers are preferred when the user has chosen none.
PREFERENCE = ("yandexgpt", "gigachat", "openai")


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def _targets() -> dict[str, str]:
    return {**BUILTIN, **_entry_points()}


def list_providers() -> list[str]:
    """Names of every provider that can be used: built-in and installed plugins."""
    return sorted(_targets())


def provider_class(name: str) -> type[Provider]:
    """The class registered under `name`; ConfigError for an unknown name."""
    target = _targets().get(name)
    if target is None:
        text = _("Unknown provider {name!r}: choose one of {choices}.")
        raise ConfigError(text.format(name=name, choices=", ".join(list_providers())))
    module, _sep, attr = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module), attr)
    return cls


def get_provider(name: str, **settings: Any) -> Provider:
    """A ready provider; `settings` override the environment (base_url, api_key, transport, ...)."""
    return provider_class(name)(**settings)


def default_provider_name(env: Mapping[str, str] = os.environ) -> str:
    """The first built-in provider with credentials present, else the offline echo provider."""
    for name in PREFERENCE:
        if provider_class(name).configured(env):
            return name
    return "echo"
