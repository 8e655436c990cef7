"""Configuration: the `c.MMChat` traits, read from IPython's config files, and what an administrator allows.

How a setting's value is chosen among a call, a face, the kernel, the user's saved settings, this configuration,
the environment and the defaults is in `_settings` (one precedence order for every face).

Policy knobs (`locked`, `allowed_providers`, `allowed_models`, `max_tokens_ceiling`, `audit_log`,
`audit_prompts`) that a system-wide file sets cannot be changed by the user's own IPython profile: IPython lets a
profile override system files, which would otherwise undo every lock. They are checked on every request.

Provider connection settings (base_url, folder_id, credentials, CA bundle...), per key, first found:

    1. the user's settings file (non-secret keys only: secrets are never written there)
    2. `c.MMChat.provider_settings` from the user's own IPython profile (secrets allowed: the user's own keys)
    3. `c.MMChat.provider_settings` from the administrator's files: central settings and credentials
    4. the provider's own environment variables (YANDEX_API_KEY...; on a hub, set by the spawner)

Locking `providers` (or `providers.NAME`) leaves only 3 and 4. A key the provider does not take (a typo such as
`api_kye`) is a one-line ConfigError naming the keys it does take.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping, Sequence
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

#: The settings a user can set (`%chat set`), in the order listings show them.
SETTING_KEYS = ("provider", "model", "temperature", "max_tokens", "top_p", "system", "lang")

#: Provider settings that are credentials: accepted from the environment or configuration, never stored.
SECRET_SETTINGS = frozenset({"api_key", "iam_token", "credentials", "access_token", "password"})

#: Provider settings that decide where a credential is sent and which certificates vouch for that server: the
#: saved settings (settings.json) may set them only for a key of the user's own (see `_layers.provider_settings`).
CONNECTION_SETTINGS = frozenset({"base_url", "auth_url", "ca_bundle_file", "verify_ssl_certs", "verify"})

#: Knobs that restrict users: a user's own profile may add them, never change what the administrator set.
POLICY_KNOBS = (
    "locked", "allowed_providers", "allowed_models", "max_tokens_ceiling", "audit_log", "audit_prompts",
    "gateway_url",
)

#: The config files an IPython kernel reads in each directory (each also as .json), in rising priority.
CONFIG_FILES = ("ipython_config", "ipython_kernel_config")

#: What %config ChatMagics.* sets in this kernel: the "kernel" layer of the settings precedence (see `_settings`).
#: Here rather than in `_settings`, so that the magics can write it without importing the engine.
KERNEL: dict[str, Any] = {}

#: Setting -> the MMChat trait holding its configured default.
TRAIT = {key: key for key in SETTING_KEYS} | {"provider": "default_provider", "model": "default_model"}


class MMChat(Configurable):
    """Configuration read from the usual IPython config files (`c.MMChat.*`); built directly, it is all the
    administrator's. `user_provider_settings` holds what the user's own profile added (see `load_admin_config`)."""

    default_provider = Unicode("", help="Provider used when the user has chosen none.").tag(config=True)
    default_model = Unicode("", help="Model used when the user has chosen none.").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature.").tag(config=True)
    max_tokens = Int(None, allow_none=True, help="Default answer length limit in tokens.").tag(config=True)
    top_p = Float(None, allow_none=True, help="Default nucleus sampling share (0 to 1).").tag(config=True)
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
    gateway_url = Unicode(
        "", help="The hub's LLM gateway (mmchat-gateway), e.g. http://hub:8000/services/mmchat-gateway: every provider "
        "but echo is reached through it with the user's JupyterHub token (also MMCHAT_GATEWAY_URL)."
    ).tag(config=True)
    user_provider_settings = Dict(value_trait=Dict(), help="provider -> settings from the user's own profile.")

    def admin_value(self, key: str) -> Any:
        """The configured value for a generation setting, or None."""
        value = getattr(self, TRAIT[key], None) if key in TRAIT else None
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
        if key in central.locked and TRAIT[key] in user_set:
            setattr(effective, TRAIT[key], getattr(central, TRAIT[key]))
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


def check_provider_settings(provider: str, cls: Any, values: Mapping[str, Any]) -> None:
    """ConfigError (one line) when `values` has a key the provider's class does not take, e.g. `api_kye`."""
    known = cls.setting_names()
    unknown = sorted(set(values) - known)
    if unknown:
        text = _("c.MMChat.provider_settings[{provider!r}] has {keys}, which {label} does not take: use {choices}.")
        raise ConfigError(text.format(provider=provider, keys=", ".join(map(repr, unknown)), label=cls.label,
                                      choices=", ".join(sorted(known - {"transport", "async_transport"}))))
