"""Where settings and credentials come from, and what an administrator allows.

For each generation setting (provider, model, temperature, max_tokens, system, lang) the first source that has a
value wins:

    1. the call itself (a `%%chat` option, a `Chat.ask()` keyword, a panel control)
    2. the user's settings file (`%chat set KEY=VALUE`, the panel's choices), in the history root
    3. traitlets configuration `c.MMChat.*`: the user's own IPython profile over the administrator's system-wide
       files (`/etc/ipython`, `/usr/local/etc/ipython`, `{sys.prefix}/etc/ipython`)
    4. the environment: MMCHAT_PROVIDER, MMCHAT_MODEL, MMCHAT_TEMPERATURE, MMCHAT_MAX_TOKENS, MMCHAT_SYSTEM, MMCHAT_LANG
    5. defaults: the first allowed provider with credentials, else the offline echo provider

except that a setting the administrator lists in `MMChat.locked` always takes the administrator's value (else the
environment's, else the default), and a user's attempt to change it is a one-line ConfigError.

Policy knobs (`locked`, `allowed_providers`, `allowed_models`, `max_tokens_ceiling`, `audit_log`,
`audit_prompts`) that a system-wide file sets cannot be changed by the user's own IPython profile: IPython lets a
profile override system files, which would otherwise undo every lock. They are checked on every request.

Provider connection settings (base_url, folder_id, credentials, CA bundle...), per key, first found:

    1. the user's settings file (non-secret keys only: secrets are never written there)
    2. `c.MMChat.provider_settings` from the user's own IPython profile (secrets allowed: the user's own keys)
    3. `c.MMChat.provider_settings` from the administrator's files: central settings and credentials
    4. the provider's own environment variables (YANDEX_API_KEY...; on a hub, set by the spawner)

Locking `providers` (or `providers.NAME`) leaves only 3 and 4. `credential_source()` says which one supplied a
credential, never its value.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import (
    ConfigFileNotFound,
    JSONFileConfigLoader,
    PyFileConfigLoader,
)

from ._redact import Secret
from .errors import ConfigError
from .i18n import _

log = logging.getLogger("mmchat_jupyter.config")

#: The generation settings a user can set with `%chat set`.
SETTING_KEYS = ("provider", "model", "temperature", "max_tokens", "system", "lang")

#: Provider settings that are credentials: accepted from the environment or configuration, never stored.
SECRET_SETTINGS = frozenset({"api_key", "iam_token", "credentials", "access_token", "password"})

#: Knobs that restrict users: a user's own profile may add them, never change what the administrator set.
POLICY_KNOBS = ("locked", "allowed_providers", "allowed_models", "max_tokens_ceiling", "audit_log", "audit_prompts")

#: The config files an IPython kernel reads in each directory (each also as .json), in rising priority.
CONFIG_FILES = ("ipython_config", "ipython_kernel_config")

_ENV = {
    "provider": "MMCHAT_PROVIDER",
    "model": "MMCHAT_MODEL",
    "temperature": "MMCHAT_TEMPERATURE",
    "max_tokens": "MMCHAT_MAX_TOKENS",
    "system": "MMCHAT_SYSTEM",
    "lang": "MMCHAT_LANG",
}

#: Generation setting -> the MMChat trait holding its configured default.
_TRAIT = {key: key for key in SETTING_KEYS} | {"provider": "default_provider", "model": "default_model"}


class MMChat(Configurable):
    """Configuration read from the usual IPython config files (`c.MMChat.*`); built directly, it is all the
    administrator's. `user_provider_settings` holds what the user's own profile added (see `load_admin_config`)."""

    default_provider = Unicode("", help="Provider used when the user has chosen none.").tag(config=True)
    default_model = Unicode("", help="Model used when the user has chosen none.").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default answer length limit in tokens.").tag(config=True)
    system = Unicode("", help="Default system prompt.").tag(config=True)
    lang = Unicode("", help="Default interface language (en or ru).").tag(config=True)
    max_tokens_ceiling = Int(None, allow_none=True, help="Largest max_tokens a user may ask for.").tag(config=True)
    allowed_providers = List(Unicode(), help="Providers users may use; empty means all.").tag(config=True)
    allowed_models = Dict(
        value_trait=List(Unicode()), help="provider -> list of allowed models; a provider not listed allows all."
    ).tag(config=True)
    locked = List(
        Unicode(), help="Settings users may not override: generation settings, 'providers' or 'providers.NAME'."
    ).tag(config=True)
    provider_settings = Dict(
        value_trait=Dict(), help="provider -> settings (base_url, credentials, ...): central settings for everyone."
    ).tag(config=True)
    audit_log = Unicode("", help="Directory for per-user token usage audit logs (JSON lines); empty: off.").tag(
        config=True
    )
    audit_prompts = Bool(False, help="Also record prompt text in the audit log.").tag(config=True)
    user_provider_settings = Dict(value_trait=Dict(), help="provider -> settings from the user's own profile.")

    def admin_value(self, key: str) -> Any:
        """The configured value for a generation setting, or None."""
        value = getattr(self, _TRAIT[key], None) if key in _TRAIT else None
        return value if value not in ("", None) else None


def admin_config_dirs() -> list[str]:
    """The system-wide IPython config directories, lowest priority first, as IPython itself orders them."""
    from IPython.core.application import ENV_CONFIG_DIRS, SYSTEM_CONFIG_DIRS

    return list(reversed([*ENV_CONFIG_DIRS, *SYSTEM_CONFIG_DIRS]))


def load_admin_config(
    ipython_config: Config | None = None,
    *,
    admin_dirs: Sequence[str] | None = None,
    profile_dir: str | None = None,
) -> MMChat:
    """The effective `c.MMChat` configuration with the administrator's policy enforced.

    `ipython_config` is the running configuration (the running IPython's, when there is one); without either, it
    is read from the system-wide files and the user's profile, as the `mmchat` command line needs. `admin_dirs`
    and `profile_dir` replace the usual directories (for tests). Raises ConfigError when a system-wide file is
    broken or a knob has the wrong type: a policy we cannot read must not silently stop applying.
    """
    shell = None
    if ipython_config is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
    if profile_dir is None:
        profile_dir = _profile_location(shell)
    admin_files = _load_dirs(admin_config_dirs() if admin_dirs is None else admin_dirs, strict=True)
    user_files = _load_dirs([profile_dir], strict=False)
    if ipython_config is None:
        ipython_config = shell.config if shell is not None else _merged(admin_files, user_files)
    try:
        config = _enforce(ipython_config, admin_files, user_files)
    except TraitError as exc:
        raise ConfigError(_("Invalid c.MMChat configuration: {error}").format(error=exc)) from None
    _register_secrets(config)
    _warn_unknown_locks(config.locked)
    return config


def _profile_location(shell: Any) -> str:
    profile = getattr(shell, "profile_dir", None)
    if profile is not None:
        return str(profile.location)
    from IPython.paths import get_ipython_dir

    return os.path.join(get_ipython_dir(), "profile_default")


def _load_dirs(dirs: Sequence[str], *, strict: bool) -> Config:
    """The c.MMChat-carrying config from `dirs` (lowest priority first). A broken file is a ConfigError when
    `strict` (the administrator's), else skipped: IPython has already reported the user's own."""
    config = Config()
    for directory in dirs:
        for name in CONFIG_FILES:
            for loader_class, ext in ((PyFileConfigLoader, ".py"), (JSONFileConfigLoader, ".json")):
                path = os.path.join(directory, name + ext)
                if not os.path.isfile(path):
                    continue
                try:
                    config.merge(loader_class(name + ext, path=directory).load_config())
                except ConfigFileNotFound:
                    continue
                except Exception as exc:  # noqa: BLE001 - a config file is code: it can raise anything
                    if strict:
                        text = _("Cannot read {path}: {error}; ask your administrator to fix it.")
                        raise ConfigError(text.format(path=path, error=exc)) from None
                    log.warning("ignoring %s: %s", path, exc)
    return config


def _merged(*configs: Config) -> Config:
    """A new Config of `configs` merged in order; copies, because `Config.merge` adopts and then mutates the
    sections it is given."""
    result = Config()
    for config in configs:
        result.merge(copy.deepcopy(config))
    return result


def _enforce(running: Config, admin_files: Config, user_files: Config) -> MMChat:
    """`running` as an MMChat, except that what the user's profile set cannot loosen the administrator's files."""
    effective = MMChat(config=running)
    central = MMChat(config=admin_files)
    admin_set = set(admin_files.MMChat.keys()) if "MMChat" in admin_files else set()
    user_set = set(user_files.MMChat.keys()) if "MMChat" in user_files else set()
    for knob in POLICY_KNOBS:
        if knob in user_set and knob in admin_set:
            setattr(effective, knob, getattr(central, knob))
    for key in SETTING_KEYS:
        if key in central.locked and _TRAIT[key] in user_set:
            setattr(effective, _TRAIT[key], getattr(central, _TRAIT[key]))
    if "provider_settings" in user_set:
        # The running value is the administrator's merged with the user's: split it again, key by key.
        user_part: dict[str, dict[str, Any]] = {}
        for provider, values in effective.provider_settings.items():
            admin_values = central.provider_settings.get(provider, {})
            own = {k: v for k, v in values.items() if k not in admin_values or admin_values[k] != v}
            if own:
                user_part[provider] = own
        effective.provider_settings = central.provider_settings
        effective.user_provider_settings = user_part
    return effective


def _register_secrets(config: MMChat) -> None:
    """Make `redact()` know configured credentials before any provider wraps them, so that no error or log line
    that happens to quote the configuration can show one."""
    for layer in (config.provider_settings, config.user_provider_settings):
        for values in layer.values():
            for key, value in values.items():
                if key in SECRET_SETTINGS and isinstance(value, str):
                    Secret(value)


def _warn_unknown_locks(locked: Sequence[str]) -> None:
    for name in locked:
        if name not in SETTING_KEYS and name != "providers" and not name.startswith("providers."):
            log.warning("c.MMChat.locked: %r is not a setting (use %s, providers or providers.NAME)", name,
                        ", ".join(SETTING_KEYS))


@dataclass
class Settings:
    """The effective settings for one user: their saved choices layered over configuration and environment."""

    admin: MMChat
    user: Mapping[str, Any]
    #: Left out of the repr: the environment holds the keys, and a repr can end up in a notebook's output.
    env: Mapping[str, str] = field(repr=False)

    def get(self, key: str, explicit: Any = None) -> Any:
        """The value of a generation setting, explicit call value first (see the module docstring)."""
        if key in self.admin.locked:
            # The user's saved value and call options do not count; the spawner's environment is the admin's.
            value = self._first(key, self.admin.admin_value(key), self._env(key))
            if explicit not in (None, "") and coerce(key, explicit) != value:
                raise self.locked_error(key)
            return value
        return self._first(key, explicit, self.user.get(key), self.admin.admin_value(key), self._env(key))

    def check_user_change(self, key: str, value: Any) -> Any:
        """Validate a value the user wants to persist; returns it coerced. Raises ConfigError when forbidden."""
        if key not in SETTING_KEYS:
            text = _("Unknown setting {key!r}: use one of {keys}.")
            raise ConfigError(text.format(key=key, keys=", ".join(SETTING_KEYS)))
        if key in self.admin.locked:
            raise self.locked_error(key)
        value = coerce(key, value)
        if key == "provider":
            self.check_provider(value)
        elif key == "max_tokens":
            self.cap_max_tokens(value)
        return value

    def locked_error(self, key: str) -> ConfigError:
        text = _("{key} is set by your administrator and cannot be changed here.")
        return ConfigError(text.format(key=key))

    def check_provider(self, provider: str, model: str | None = None) -> None:
        allowed = self.admin.allowed_providers
        if allowed and provider not in allowed:
            text = _("Provider {name!r} is not allowed here: use one of {choices}.")
            raise ConfigError(text.format(name=provider, choices=", ".join(allowed)))
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

    def provider_locked(self, provider: str) -> bool:
        """Whether the administrator forbids users their own settings for `provider`."""
        return "providers" in self.admin.locked or f"providers.{provider}" in self.admin.locked

    def provider_settings(self, provider: str) -> dict[str, Any]:
        """Keyword settings for `get_provider(provider, ...)`, layered as the module docstring says."""
        merged = dict(self.admin.provider_settings.get(provider, {}))
        if not self.provider_locked(provider):
            merged.update(self.admin.user_provider_settings.get(provider, {}))
            saved = self.user.get("providers", {}).get(provider, {})
            merged.update({k: v for k, v in saved.items() if k not in SECRET_SETTINGS})
        return merged

    def credential_source(self, provider: str, env_vars: tuple[str, ...]) -> str:
        """Where the provider's credentials come from, in words; never the value."""

        def has_secret(values: Mapping[str, Any]) -> bool:
            return any(k in SECRET_SETTINGS and v for k, v in values.items())

        locked = self.provider_locked(provider)
        if not locked and has_secret(self.admin.user_provider_settings.get(provider, {})):
            return _("your IPython configuration")
        if has_secret(self.admin.provider_settings.get(provider, {})):
            return _("administrator configuration, locked") if locked else _("administrator configuration")
        found = [var for var in env_vars if self.env.get(var)]
        if found:
            return _("environment ({names})").format(names=", ".join(found))
        return _("not configured")

    def configured(self, provider: str) -> bool:
        """Whether `provider` has what it needs to connect: credentials in the environment, or configuration."""
        from .providers.registry import provider_class

        return provider_class(provider).configured(self.env) or bool(self.provider_settings(provider))

    def default_provider(self) -> str:
        """The first allowed built-in provider with credentials (from the environment or configuration), else
        echo when allowed, else the first allowed provider (whose use then says what is missing)."""
        from .providers.registry import PREFERENCE

        allowed = self.admin.allowed_providers
        for name in PREFERENCE:
            if allowed and name not in allowed:
                continue
            if self.configured(name):
                return name
        return "echo" if not allowed or "echo" in allowed else allowed[0]

    def _first(self, key: str, *values: Any) -> Any:
        """The first value that is set, coerced; else the default (only the provider has one)."""
        for value in values:
            if value is not None and value != "":
                return coerce(key, value)
        return self.default_provider() if key == "provider" else None

    def _env(self, key: str) -> str | None:
        return self.env.get(_ENV[key]) if key in _ENV else None


def coerce(key: str, value: Any) -> Any:
    """Turn a setting given as text (`%chat set temperature=0.3`) into its type; ConfigError if it cannot."""
    try:
        if key == "temperature":
            number = float(value)
            if not 0 <= number <= 2:
                raise ValueError
            return number
        if key == "max_tokens":
            number = int(value)
            if number <= 0:
                raise ValueError
            return number
    except (TypeError, ValueError):
        hints = {"temperature": _("a number from 0 to 2"), "max_tokens": _("a whole number above 0")}
        text = _("{key} must be {what}, not {value!r}.")
        raise ConfigError(text.format(key=key, what=hints[key], value=value)) from None
    return str(value) if value is not None else None
