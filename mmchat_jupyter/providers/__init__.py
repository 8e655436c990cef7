"""Providers: one module per LLM service behind the `Provider` interface.

    get_provider("gigachat")          a ready provider (settings from keywords, else the environment)
    list_providers()                  every registered name
    default_provider_name()           the first configured provider, else "echo"
"""

from .base import Provider
from .registry import default_provider_name, get_provider, list_providers, provider_class

__all__ = ["Provider", "default_provider_name", "get_provider", "list_providers", "provider_class"]
