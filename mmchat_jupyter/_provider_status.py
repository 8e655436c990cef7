"""The one answer to "is this provider configured, and from where": every face and `mmchat doctor` ask here.

With the hub's LLM gateway configured (c.MMChat.gateway_url), every provider but echo is reached through it with the
user's JupyterHub token, and says so. Otherwise a provider is configured when it needs no credentials (echo, most
plugins), when one of its credential variables is set, when a credential is among its settings
(c.MMChat.provider_settings), or, for an OpenAI-compatible server, when a base URL alone points at a local server
that needs no key. Where from is said in words, never with a value.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .i18n import _

if TYPE_CHECKING:
    from ._layers import Layers
    from .providers import Provider
    from .providers.options import OptionSpec
    from .session import ChatSession


@dataclass(frozen=True)
class ProviderStatus:
    """What faces show about a provider. `source` says where its credentials come from (words, never a value);
    `error` is the one line why it cannot be used at all (a plugin that does not load), else None."""

    name: str
    label: str
    configured: bool
    source: str
    base_url: str | None = None
    allowed: bool = True
    default: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def provider_status(settings: Layers, name: str, *, default: str | None = None) -> ProviderStatus:
    """The status of provider `name` under `settings`; ConfigError only for a name nobody registered."""
    from .providers.registry import problems, provider_class

    allowed = not settings.admin.allowed_providers or name in settings.admin.allowed_providers
    try:
        cls = provider_class(name)
    except ConfigError as exc:
        if name not in problems():
            raise
        return ProviderStatus(name, name, False, _("cannot be loaded"), allowed=allowed, error=exc.message)
    from .providers.gateway import LOCAL

    gateway = settings.gateway()
    if gateway is not None and name not in LOCAL:
        source = _("via the hub's gateway")
        return ProviderStatus(name, cls.label, True, source, gateway, allowed, name == default, None)
    values = settings.provider_settings(name)
    configured = bool(cls.configured(settings.env, values))
    if not cls.credential_env:
        source = _("none needed")
    else:
        source = settings.credential_source(name, cls.credential_env)
        if configured and source == _("not configured"):
            # Configured without a key: an OpenAI-compatible local server given by its base URL alone.
            where = cls.base_url_env if cls.base_url_env and settings.env.get(cls.base_url_env) else "base_url"
            source = _("no key needed ({where})").format(where=where)
    env_url = settings.env.get(cls.base_url_env) if cls.base_url_env else None
    base_url = values.get("base_url") or env_url or cls.default_base_url or None
    return ProviderStatus(name, cls.label, configured, source, base_url, allowed, name == default, None)


class Providers:
    """`session.providers`: which providers there are, their status, models and options, and ready instances."""

    def __init__(self, session: ChatSession) -> None:
        self._session = session
        self._instances: dict[str, Provider] = {}

    def list(self) -> builtins.list[ProviderStatus]:
        """Every registered provider, those that fail to load included (with `error` set)."""
        from .providers.registry import broken, load_all

        settings = self._session.settings
        classes = load_all()  # loading each is what finds the broken plugins
        default = settings.resolve().provider.value
        return [provider_status(settings, name, default=default) for name in sorted({*classes, *broken()})]

    def status(self, name: str) -> ProviderStatus:
        settings = self._session.settings
        return provider_status(settings, name, default=settings.resolve().provider.value)

    def problems(self) -> builtins.list[str]:
        """One line per plugin that was skipped (broken, or named like a built-in)."""
        from .providers.registry import problems

        return list(problems().values())

    def default(self) -> str:
        """The provider a request with no provider option would use now."""
        return str(self._session.settings.resolve().provider.value)

    def provider_class(self, name: str) -> type[Provider]:
        from .providers.registry import provider_class

        return provider_class(name)

    def instance(self, name: str) -> Provider:
        """The session's provider `name`, made once from its layered settings; a key it does not take (a typo in
        c.MMChat.provider_settings) is a one-line ConfigError."""
        if name not in self._instances:
            from .config import check_provider_settings

            cls = self.provider_class(name)
            extra = self._session.provider_overrides.get(name, {})
            from .providers.gateway import LOCAL, via_gateway

            gateway = self._session.settings.gateway()
            if gateway is not None and name not in LOCAL:
                self._instances[name] = via_gateway(cls, gateway, self._session.settings.env, **extra)
                return self._instances[name]
            settings = self._session.settings.provider_settings(name)
            check_provider_settings(name, cls, settings)
            self._instances[name] = cls(**{**settings, **extra})
        return self._instances[name]

    def models(self, name: str | None = None) -> builtins.list[str]:
        """The models of `name` (default: the provider in effect): what its server lists where it can list them
        (an OpenAI-compatible server's own /v1/models), else the known ones. Without credentials, the known ones.
        ProviderError (AuthError for a refused key) when the server refuses or cannot be reached."""
        name = name or self.default()
        cls = self.provider_class(name)
        if not self.status(name).configured:
            return list(cls.known_models) or [cls.default_model]
        return self.instance(name).models()

    def options(self, name: str | None = None) -> builtins.list[OptionSpec]:
        """The generation options `name` declares (default: the provider in effect)."""
        return self.provider_class(name or self.default()).Options.specs()

    def close(self) -> None:
        for provider in self._instances.values():
            provider.close()
        self._instances.clear()
