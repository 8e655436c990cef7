"""The layers a setting is resolved over, and the administrator's policy on them (the base of `_settings.Settings`).

`Layers` holds the layers (the call's options come with each resolution; the session's and the kernel's choices,
the user's saved settings, the configuration and the environment come with the object) and knows how to walk
them: which provider each layer and those below it choose, which model goes with a provider, the first valid value
of a setting, a provider's extra options. A value that is invalid outside the call is skipped with a notice said
once. The reading API is `Settings`, in `_settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableSequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import CONNECTION_SETTINGS, KERNEL, SECRET_SETTINGS, SETTING_KEYS, TRAIT, MMChat
from .errors import ConfigError
from .i18n import SUPPORTED, _
from .providers.options import Options

if TYPE_CHECKING:
    from .history import HistoryStore

#: Generation settings checked by the common `Options`.
GENERATION_KEYS = ("temperature", "max_tokens", "top_p")
SOURCES = ("call", "session", "kernel", "user", "config", "environment", "default")

ENV = {key: f"MMCHAT_{key.upper()}" for key in SETTING_KEYS}

#: (source, key, value) already reported as invalid in this process: each is said once.
_reported: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Setting:
    """A setting's value and where it came from: `source` is one of SOURCES, `detail` names the exact place
    (MMCHAT_TEMPERATURE, OPENAI_MODEL, c.MMChat.default_model...) when there is one."""

    key: str
    value: Any
    source: str
    detail: str = ""

    def where(self) -> str:
        """Where the value comes from, in words ("your saved settings", "MMCHAT_TEMPERATURE", ...)."""
        words = {
            "call": _("this request"),
            "session": _("this session's choice"),
            "user": _("your saved settings"),
            "default": _("default"),
        }
        return words.get(self.source) or self.detail or self.source


@dataclass(frozen=True)
class Resolution:
    """Everything a request would use, each value with its source."""

    provider: Setting
    model: Setting
    values: dict[str, Setting]
    #: The provider's extra options that some layer sets.
    extras: dict[str, Setting] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        """The generation options as `Options` fields."""
        chosen = {key: self.values[key].value for key in GENERATION_KEYS}
        return {"model": self.model.value, **chosen, **{k: s.value for k, s in self.extras.items()}}

class Layers:
    """The layers of one face's settings and the policy over them (see the module docstring)."""

    def __init__(
        self,
        admin: MMChat,
        user: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        session: Mapping[str, Any] | None = None,
        kernel: Mapping[str, Any] | None = None,
        store: HistoryStore | None = None,
        notices: MutableSequence[str] | None = None,
    ) -> None:
        self.admin, self.user, self._env = admin, user, env
        self.session = session or {}
        self.kernel = KERNEL if kernel is None else kernel
        self._store = store
        self._notices = notices if notices is not None else []

    def __repr__(self) -> str:  # no environment: it holds the keys, and a repr can end up in an output
        return f"<Settings user={sorted(self.user)} session={sorted(self.session)}>"

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    # -- policy ---------------------------------------------------------------------------------------------------

    def unknown_key(self, key: str) -> ConfigError:
        text = _("Unknown setting {key!r}: use one of {keys}, or PROVIDER.OPTION (%chat options lists them).")
        return ConfigError(text.format(key=key, keys=", ".join(SETTING_KEYS)))

    def locked_error(self, key: str) -> ConfigError:
        text = _("{key} is set by your administrator and cannot be changed here.")
        return ConfigError(text.format(key=key))

    def check_provider(self, provider: str, model: str | None = None) -> None:
        """ConfigError unless `provider` is installed and allowed (and `model` allowed for it)."""
        allowed = self.admin.allowed_providers
        if allowed and provider not in allowed:
            text = _("Provider {name!r} is not allowed here: use one of {choices}.")
            raise ConfigError(text.format(name=provider, choices=", ".join(allowed)))
        _provider_class(provider)
        models = self.admin.allowed_models.get(provider)
        if model and models and model not in models:
            text = _("Model {model!r} is not allowed for {name}: use one of {choices}.")
            raise ConfigError(text.format(model=model, name=provider, choices=", ".join(models)))

    def cap_max_tokens(self, max_tokens: int | None) -> int | None:
        """`max_tokens` checked against the ceiling; the ceiling itself when none was asked for."""
        ceiling = self.admin.max_tokens_ceiling
        if ceiling is None:
            return max_tokens
        if max_tokens is not None and max_tokens > ceiling:
            text = _("max_tokens {value} is above the limit of {ceiling} set by your administrator.")
            raise ConfigError(text.format(value=max_tokens, ceiling=ceiling))
        return max_tokens if max_tokens is not None else ceiling

    # -- providers ------------------------------------------------------------------------------------------------

    def provider_locked(self, provider: str) -> bool:
        """Whether the administrator forbids users their own settings for `provider`."""
        return "providers" in self.admin.locked or f"providers.{provider}" in self.admin.locked

    def provider_settings(self, provider: str) -> dict[str, Any]:
        """Keyword settings for the provider's class, first found: the user's saved ones (never secrets), the
        user's own profile, the administrator's configuration; the provider reads the environment for the rest.
        Locking `providers` (or `providers.NAME`) leaves only the administrator's.

        Saved connection settings (CONNECTION_SETTINGS) apply only while the key is the user's own (their IPython
        profile) or there is none: a settings file, which the user never has to read, must not send a key from the
        administrator's configuration or the environment to another server. A notice says so once."""
        merged = dict(self.admin.provider_settings.get(provider, {}))
        if not self.provider_locked(provider):
            merged.update(self.admin.user_provider_settings.get(provider, {}))
            saved = {k: v for k, v in ((self.user.get("providers") or {}).get(provider) or {}).items()
                     if k not in SECRET_SETTINGS}
            redirects = sorted(k for k in saved if k in CONNECTION_SETTINGS)
            if redirects:
                origin, where = self._credential_origin(provider, _credential_env(provider))
                if origin in ("config", "environment"):
                    self._ignored_redirect(provider, redirects, where)
                    saved = {k: v for k, v in saved.items() if k not in CONNECTION_SETTINGS}
            merged.update(saved)
        return merged

    def credential_source(self, provider: str, env_vars: tuple[str, ...]) -> str:
        """Where the provider's credentials come from, in words; never the value."""
        return self._credential_origin(provider, env_vars)[1]

    def _credential_origin(self, provider: str, env_vars: tuple[str, ...]) -> tuple[str, str]:
        """Which layer holds the provider's credentials ("user" for the user's profile, "config", "environment",
        "" for none) and where, in words; never the value."""

        def has_secret(values: Mapping[str, Any]) -> bool:
            return any(k in SECRET_SETTINGS and v for k, v in values.items())

        locked = self.provider_locked(provider)
        if not locked and has_secret(self.admin.user_provider_settings.get(provider, {})):
            return "user", _("your IPython configuration")
        if has_secret(self.admin.provider_settings.get(provider, {})):
            return "config", _("administrator configuration, locked") if locked else _("administrator configuration")
        found = [var for var in env_vars if self._env.get(var)]
        if found:
            return "environment", _("environment ({names})").format(names=", ".join(found))
        return "", _("not configured")

    def _ignored_redirect(self, provider: str, names: list[str], where: str) -> None:
        """Say once that saved connection settings were not used (see `provider_settings`)."""
        marker = ("user", f"providers.{provider}", repr(names))
        if marker in _reported:
            return
        _reported.add(marker)
        text = _("Your saved settings: providers.{provider}.{names} ignored: the key comes from {where}, and a "
                 "settings file must not send it elsewhere. Fix: set them where the key is set, or remove them from "
                 "settings.json in your history folder.")
        names_text = "{" + ", ".join(names) + "}" if len(names) > 1 else names[0]
        self._notices.append(text.format(provider=provider, names=names_text, where=where))

    def gateway(self) -> str | None:
        """The hub's LLM gateway every provider but echo goes through (c.MMChat.gateway_url, MMCHAT_GATEWAY_URL)."""
        from .providers.gateway import gateway_url

        return gateway_url(self.admin.gateway_url, self._env)

    def configured(self, provider: str) -> bool:
        """Whether `provider` has what it needs to connect (see `_provider_status.provider_status`)."""
        from ._provider_status import provider_status

        return provider_status(self, provider).configured

    def default_provider(self) -> str:
        """The first allowed built-in provider that is configured, else echo when allowed, else the first allowed
        provider (whose use then says what is missing)."""
        from .providers.registry import PREFERENCE

        allowed = self.admin.allowed_providers
        for name in PREFERENCE:
            if (not allowed or name in allowed) and self.configured(name):
                return name
        return "echo" if not allowed or "echo" in allowed else allowed[0]

    # -- internals ------------------------------------------------------------------------------------------------

    def _layers(self, call: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
        admin = self.admin
        config: dict[str, Any] = {key: admin.admin_value(key) for key in SETTING_KEYS}
        config["models"] = {name: values["model"] for name, values in self._all_provider_settings().items()
                            if values.get("model")}
        env: dict[str, Any] = {key: self._env.get(var) for key, var in ENV.items()}
        return [("call", call), ("session", self.session), ("kernel", self.kernel), ("user", self.user),
                ("config", config), ("environment", env)]

    def _all_provider_settings(self) -> dict[str, dict[str, Any]]:
        names = set(self.admin.provider_settings) | set(self.admin.user_provider_settings)
        return {name: self.provider_settings(name) for name in names}

    def _detail(self, source: str, key: str, provider: str | None = None) -> str:
        if source == "environment":
            return ENV.get(key, "")
        if source == "config":
            return f"c.MMChat.provider_settings[{provider!r}]" if provider else f"c.MMChat.{TRAIT.get(key, key)}"
        if source == "kernel":
            return f"%config ChatMagics.{key}"
        if source == "user":
            return f"%chat set {provider}.{key}" if provider else f"%chat set {key}"
        return ""

    def _skip(self, source: str, key: str, value: Any, problem: ConfigError) -> None:
        """A value from a layer other than the call is invalid: say so once, with the fix; the layers below apply."""
        if source == "call":
            raise problem
        marker = (source, key, repr(value))
        if marker in _reported:
            return
        _reported.add(marker)
        where = {"user": _("Your saved settings"), "session": _("This session's choice")}.get(source) or self._detail(
            source, key)
        if source == "user" and key == "provider":
            fix = f"%chat set provider={self.default_provider()}"
        elif source == "user":
            fix = f"%chat set {key}="
        else:
            fix = _("change or remove {where}").format(where=where)
        text = _("{where}: {key}={value!r} cannot be used ({problem}); the next setting in line applies. Fix: {fix}")
        message = text.format(where=where, key=key, value=value, problem=problem.message.rstrip("."), fix=fix)
        self._notices.append(" ".join(message.split()))

    def _locked_out(self, key: str, source: str, value: Any, final: Callable[[], Any]) -> bool:
        """Whether a locked `key` makes this layer not count (a differing call value is an error)."""
        if key not in self.admin.locked or source in ("config", "environment"):
            return False
        if source == "call" and value != final():
            raise self.locked_error(key)
        return True

    def _providers_below(self, layers: list[tuple[str, Mapping[str, Any]]]) -> list[Setting]:
        """For each layer, the provider that this layer or the ones below it choose."""
        below: list[Setting | None] = [None] * len(layers)
        current: Setting | None = None  # None: the default, worked out only if it is needed
        for index in range(len(layers) - 1, -1, -1):
            source, layer = layers[index]
            name = layer.get("provider")
            if name not in (None, ""):
                name = str(name).strip()
                if "provider" in self.admin.locked and source not in ("config", "environment"):
                    if source == "call" and name != (current or self._default_setting()).value:
                        raise self.locked_error("provider")
                else:
                    try:
                        self.check_provider(name)
                        current = Setting("provider", name, source, self._detail(source, "provider"))
                    except ConfigError as problem:
                        self._skip(source, "provider", name, problem)
            below[index] = current
        if any(setting is None for setting in below):
            default = self._default_setting()
            return [setting or default for setting in below]
        return [setting for setting in below if setting is not None]

    def _default_setting(self) -> Setting:
        return Setting("provider", self.default_provider(), "default")

    def _capped(self, chosen: Setting) -> Setting:
        """max_tokens within the administrator's ceiling (the ceiling itself when nothing asks for less)."""
        ceiling = self.admin.max_tokens_ceiling
        if ceiling is None:
            return chosen
        try:
            if chosen.value is not None:
                self.cap_max_tokens(chosen.value)
                return chosen
        except ConfigError as problem:
            self._skip(chosen.source, "max_tokens", chosen.value, problem)
        return Setting("max_tokens", ceiling, "config", "c.MMChat.max_tokens_ceiling")

    def _model(self, layers: list[tuple[str, Mapping[str, Any]]], below: list[Setting], provider: str) -> Setting:
        cls = _provider_class(provider)
        resolved: Setting | None = None
        for index, (source, layer) in enumerate(layers):
            value = (layer.get("models") or {}).get(provider)
            detail = self._detail(source, "model", provider if source == "config" else None)
            if source == "environment" and cls.model_env and self._env.get(cls.model_env):
                value, detail = self._env[cls.model_env], cls.model_env
            if not value and layer.get("model") and below[index].value == provider:
                value, detail = layer["model"], self._detail(source, "model")
            if not value:
                continue
            if self._locked_out("model", source, value, lambda: self._model(layers[4:], below[4:], provider).value):
                continue
            try:
                self.check_provider(provider, str(value))
            except ConfigError as problem:
                self._skip(source, "model", value, problem)
                continue
            resolved = Setting("model", str(value), source, detail)
            break
        return resolved or Setting("model", cls.default_model, "default")

    def _value(self, layers: list[tuple[str, Mapping[str, Any]]], key: str) -> Setting:
        for source, layer in layers:
            value = layer.get(key)
            if value is None or value == "":
                continue
            try:
                value = coerce(key, value)
            except ConfigError as problem:
                self._skip(source, key, value, problem)
                continue
            if self._locked_out(key, source, value, lambda: self._value(layers[4:], key).value):
                continue
            return Setting(key, value, source, self._detail(source, key))
        return Setting(key, None, "default")

    def _extras(self, layers: list[tuple[str, Mapping[str, Any]]], provider: str) -> dict[str, Setting]:
        options = _provider_class(provider).Options
        found: dict[str, Setting] = {}
        for source, layer in layers:
            for name, value in ((layer.get("options") or {}).get(provider) or {}).items():
                if name in found or value is None or value == "":
                    continue
                try:
                    found[name] = Setting(name, options.coerce(name, value, provider=provider), source,
                                          self._detail(source, name, provider if source != "config" else None))
                except ConfigError as problem:
                    self._skip(source, f"{provider}.{name}", value, problem)
        return {name: found[name] for name in options.extras() if name in found}


def coerce(key: str, value: Any) -> Any:
    """A setting given as text (`%chat set temperature=0.3`) as its type; ConfigError naming what is valid."""
    if value is None or (isinstance(value, str) and not value.strip() and key != "system"):
        return None
    if key in GENERATION_KEYS:
        return Options.coerce(key, value)
    if key == "lang":
        code = str(value).strip().lower()
        if code not in SUPPORTED:
            raise ConfigError(_("lang must be one of {choices}, not {value!r}.").format(
                choices=", ".join(SUPPORTED), value=value))
        return code
    if not isinstance(value, str):
        raise ConfigError(_("{key} must be text, not {value!r}.").format(key=key, value=value))
    return value.strip() if key in ("provider", "model") else value

def _provider_class(name: str) -> Any:
    from .providers.registry import provider_class

    return provider_class(name)


def _credential_env(name: str) -> tuple[str, ...]:
    """The provider's credential variables; none for one that cannot be loaded (it is never used)."""
    try:
        return tuple(_provider_class(name).credential_env)
    except ConfigError:
        return ()


__all__ = ["ENV", "GENERATION_KEYS", "SOURCES", "Layers", "Resolution", "Setting", "coerce"]
