"""Where settings and credentials come from, and what an administrator allows.

For each generation setting (provider, model, temperature, max_tokens, system, lang) the first source that has a
value wins:

    1. the call itself (a `%%chat` option, a `Chat.ask()` keyword, a panel control)
    2. the user's settings file (`%chat set KEY=VALUE`, the panel's choices), in the history root
    3. traitlets configuration: the administrator's `c.MMChat.*` (e.g. /etc/ipython/ipython_config.py)
    4. the environment: MMCHAT_PROVIDER, MMCHAT_MODEL, MMCHAT_TEMPERATURE, MMCHAT_MAX_TOKENS, MMCHAT_SYSTEM
    5. defaults: the first provider with credentials, else the offline echo provider

except that a setting the administrator lists in `MMChat.locked` always takes the administrator's value, and a
user's attempt to change it is a one-line ConfigError. `allowed_providers`, `allowed_models` and
`max_tokens_ceiling` are checked on every request.

Provider connection settings (base_url, credentials, CA bundle...) come from the user's settings file for
non-secret keys, then `MMChat.provider_settings[name]`, then the provider's own environment variables. Secrets are
never written to the settings file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import Configurable

from .errors import ConfigError
from .i18n import _

#: The generation settings a user can set with `%chat set`.
SETTING_KEYS = ("provider", "model", "temperature", "max_tokens", "system", "lang")

#: Provider settings that are credentials: accepted from the environment or the administrator, never stored.
SECRET_SETTINGS = frozenset({"api_key", "iam_token", "credentials", "access_token", "password"})

_ENV = {
    "provider": "MMCHAT_PROVIDER",
    "model": "MMCHAT_MODEL",
    "temperature": "MMCHAT_TEMPERATURE",
    "max_tokens": "MMCHAT_MAX_TOKENS",
    "system": "MMCHAT_SYSTEM",
    "lang": "MMCHAT_LANG",
}


class MMChat(Configurable):
    """Administrator configuration, read from the usual IPython/Jupyter config files (`c.MMChat.*`)."""

    default_provider = Unicode("", help="Provider used when the user has chosen none.").tag(config=True)
    default_model = Unicode("", help="Model used when the user has chosen none.").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default answer length limit in tokens.").tag(config=True)
    system = Unicode("", help="Default system prompt.").tag(config=True)
    lang = Unicode("", help="Default interface language (en or ru).").tag(config=True)
    max_tokens_ceiling = Int(None, allow_none=True, help="Largest max_tokens a user may ask for.").tag(config=True)
    allowed_providers = List(Unicode(), help="Providers users may use; empty means all.").tag(config=True)
    allowed_models = Dict(help="provider -> list of allowed models; a provider not listed allows all.").tag(
        config=True
    )
    locked = List(Unicode(), help="Settings users may not override, e.g. ['provider', 'max_tokens'].").tag(
        config=True
    )
    provider_settings = Dict(
        help="provider -> settings (base_url, credentials, ...), e.g. central credentials for every user."
    ).tag(config=True)
    audit_log = Unicode("", help="Directory for per-user token usage audit logs (JSON lines); empty: off.").tag(
        config=True
    )
    audit_prompts = Bool(False, help="Also record prompt text in the audit log.").tag(config=True)

    def admin_value(self, key: str) -> Any:
        """The administrator's value for a generation setting, or None."""
        value = {"provider": self.default_provider, "model": self.default_model}.get(key, getattr(self, key, None))
        return value if value not in ("", None) else None


def load_admin_config(ipython_config: Any = None) -> MMChat:
    """The administrator's configuration: from the running IPython's config when there is one, else from the
    IPython/Jupyter config files on disk (for the `mmchat` command line)."""
    if ipython_config is None:
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        ipython_config = shell.config if shell is not None else _config_from_files()
    return MMChat(config=ipython_config)


def _config_from_files() -> Any:
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    import sys

    config = Config()
    dirs = ["/etc/ipython", os.path.join(sys.prefix, "etc", "ipython")]
    ipython_dir = os.environ.get("IPYTHONDIR") or os.path.expanduser("~/.ipython")
    dirs.append(os.path.join(ipython_dir, "profile_default"))
    for directory in dirs:
        path = os.path.join(directory, "ipython_config.py")
        if os.path.isfile(path):
            try:
                config.merge(PyFileConfigLoader("ipython_config.py", path=directory).load_config())
            except Exception as exc:  # a broken admin file must not break the CLI: say which file
                raise ConfigError(_("Cannot read {path}: {error}").format(path=path, error=exc)) from None
    return config


@dataclass
class Settings:
    """The effective settings for one user: their saved choices layered over admin config and environment."""

    admin: MMChat
    user: Mapping[str, Any]
    env: Mapping[str, str]

    def get(self, key: str, explicit: Any = None) -> Any:
        """The value of a generation setting, explicit call value first (see the module docstring)."""
        if key in self.admin.locked and self.admin.admin_value(key) is not None:
            if explicit is not None and explicit != self.admin.admin_value(key):
                raise self.locked_error(key)
            return self.admin.admin_value(key)
        for value in (explicit, self.user.get(key), self.admin.admin_value(key), self._env(key)):
            if value is not None and value != "":
                return coerce(key, value)
        return None

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
        ceiling = self.admin.max_tokens_ceiling
        if ceiling is None:
            return max_tokens
        if max_tokens is not None and max_tokens > ceiling:
            text = _("max_tokens {value} is above the limit of {ceiling} set by your administrator.")
            raise ConfigError(text.format(value=max_tokens, ceiling=ceiling))
        return max_tokens if max_tokens is not None else ceiling

    def provider_settings(self, provider: str) -> dict[str, Any]:
        """Keyword settings for `get_provider(provider, ...)`: user's non-secret keys over the admin's."""
        merged = dict(self.admin.provider_settings.get(provider, {}))
        locked_all = f"providers.{provider}" in self.admin.locked or "providers" in self.admin.locked
        if not locked_all:
            user = self.user.get("providers", {}).get(provider, {})
            merged.update({k: v for k, v in user.items() if k not in SECRET_SETTINGS})
        return merged

    def credential_source(self, provider: str, env_vars: tuple[str, ...]) -> str:
        """Where the provider's credentials come from, in words; never the value."""
        admin = self.admin.provider_settings.get(provider, {})
        if any(k in SECRET_SETTINGS for k in admin):
            return _("administrator configuration")
        found = [var for var in env_vars if self.env.get(var)]
        if found:
            return _("environment ({names})").format(names=", ".join(found))
        return _("not configured")

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
