"""Settings: one precedence order for every face, and where each value came from.

For each setting the first layer that has a valid value wins:

    call         the options of one request: a %%chat option, a Chat.ask()/send() keyword, an API request body
    session      this face's choices: ChatPanel's controls, Chat(...)/ChatSession(...) arguments
    kernel       %config ChatMagics.* in this kernel
    user         the user's saved settings (%chat set, settings.set()), in the history root
    config       c.MMChat.* (the user's IPython profile over the administrator's system-wide files)
    environment  MMCHAT_PROVIDER, MMCHAT_MODEL, MMCHAT_TEMPERATURE, MMCHAT_MAX_TOKENS, MMCHAT_TOP_P, MMCHAT_SYSTEM,
                 MMCHAT_LANG; for a provider's model also its own variable (OPENAI_MODEL, GIGACHAT_MODEL, YANDEX_MODEL)
    default      the first configured provider (else echo) and that provider's default model

A model always belongs to a provider: a layer's model applies to the provider that this layer, or the layers below
it, choose (so a saved GigaChat model is not sent to OpenAI when one cell says `-p openai`); a per-provider model
(`%chat set openai.model=...`, OPENAI_MODEL) applies to its provider only. A provider's extra options
(`openai.seed`) are layered the same way. A setting the administrator lists in `c.MMChat.locked` takes only the
config, environment and default layers; asking for another value in a call is a ConfigError.

A value that is invalid in the call layer is a one-line ConfigError naming the valid choices. One that was saved
(or configured) and has become invalid, such as a provider whose plugin was uninstalled, is reported once, with the
fix, as a notice the faces show, and the layers below are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._layers import (
    ENV,
    GENERATION_KEYS,
    SOURCES,
    Layers,
    Resolution,
    Setting,
    _provider_class,
    coerce,
)
from .config import SETTING_KEYS


class Settings(Layers):
    """The effective settings for one face: the layers above, read fresh from the saved settings at creation."""
    # -- reading --------------------------------------------------------------------------------------------------

    def resolve(self, call: Mapping[str, Any] | None = None) -> Resolution:
        """What a request with these call options would use. ConfigError for a bad call value."""
        call = {k: v for k, v in (call or {}).items() if v is not None and v != ""}
        layers = self._layers(call)
        below = self._providers_below(layers)
        provider = below[0]
        model = self._model(layers, below, provider.value)
        values = {key: self._value(layers, key) for key in (*GENERATION_KEYS, "system", "lang")}
        values["max_tokens"] = self._capped(values["max_tokens"])
        extras = self._extras(layers, provider.value)
        return Resolution(provider, model, values, extras)

    def get(self, key: str, explicit: Any = None) -> Any:
        """The value of a setting, an explicit call value first."""
        return self.explain(key, explicit).value

    def explain(self, key: str, explicit: Any = None) -> Setting:
        """The value of `key` (a setting, or PROVIDER.OPTION) and where it comes from."""
        provider, dot, name = key.partition(".")
        if dot:
            resolution = self.resolve({"provider": provider})
            if name == "model":
                return resolution.model
            return resolution.extras.get(name) or Setting(key, None, "default")
        if key not in SETTING_KEYS:
            raise self.unknown_key(key)
        resolution = self.resolve({key: explicit} if explicit is not None else None)
        if key == "provider":
            return resolution.provider
        if key == "model":
            return resolution.model
        return resolution.values[key]

    def all(self) -> list[Setting]:
        """Every setting as a request made now would use it, with the provider's extras that are set."""
        resolution = self.resolve()
        settings = [resolution.provider, resolution.model, *(resolution.values[k] for k in SETTING_KEYS[2:])]
        name = resolution.provider.value
        return settings + [Setting(f"{name}.{k}", s.value, s.source, s.detail) for k, s in resolution.extras.items()]

    def notices(self) -> list[str]:
        """Notices not taken yet (see `ChatSession.notices`)."""
        return list(self._notices)

    # -- changing -------------------------------------------------------------------------------------------------

    def check(self, key: str, value: Any) -> tuple[str, str | None, Any]:
        """Validate a value a user wants to set (saved or chosen for a session): (key, provider, value), the
        provider set for a model or an extra option. ConfigError, naming what is valid, when it is not."""
        prefix, dot, name = key.partition(".")
        provider: str | None = prefix if dot else None
        if not dot:
            name = key
            if key not in SETTING_KEYS:
                raise self.unknown_key(key)
        if name in self.admin.locked:
            raise self.locked_error(name)
        if name == "model" and provider is None:
            provider = self.resolve().provider.value
        if provider is not None:
            self.check_provider(provider)
            cls = _provider_class(provider)
            if name != "model" and name not in cls.Options.extras():
                from .providers.options import unknown_option

                raise unknown_option(name, ("model", *cls.Options.extras()), provider)
            value = cls.Options.coerce(name, value, provider=provider)
            if name == "model":
                self.check_provider(provider, value)
            return name, provider, value
        value = coerce(key, value)
        if key == "provider" and value is not None:
            self.check_provider(value)
        elif key == "max_tokens":
            self.cap_max_tokens(value)
        return key, None, value

    def set(self, key: str, value: Any) -> Any:
        """Save a setting for every later session (None or "" removes it); returns the value saved."""
        name, provider, value = self.check(key, value)
        if self._store is None:
            raise RuntimeError("these settings were made without a store to save to")
        if name == "lang":
            from .i18n import set_language

            set_language(value)
        changes: dict[str, Any]
        if provider is None:
            changes = {name: value}
        elif name == "model":
            models = {**(self.user.get("models") or {}), provider: value}
            changes = {"models": {p: m for p, m in models.items() if m is not None} or None}
            if self.user.get("model"):
                changes["model"] = None  # an old plain saved model would otherwise apply to other providers too
        else:
            options = {p: dict(o) for p, o in (self.user.get("options") or {}).items()}
            options.setdefault(provider, {})[name] = value
            kept = {p: {k: v for k, v in o.items() if v is not None} for p, o in options.items()}
            changes = {"options": {p: o for p, o in kept.items() if o} or None}
        self._store.update_settings(**changes)
        return value

    def reset(self, key: str) -> None:
        """Forget a saved setting (the layers below apply again)."""
        self.set(key, None)


__all__ = ["ENV", "GENERATION_KEYS", "SETTING_KEYS", "SOURCES", "Resolution", "Setting", "Settings",
           "coerce"]
