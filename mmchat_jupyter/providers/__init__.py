"""Providers: one module per LLM service behind the `Provider` interface.

    get_provider("gigachat")          a ready provider (settings from keywords, else the environment)
    list_providers()                  every registered name

Which provider is configured, and which is the default, is the engine's to say (`session.providers.status()`).

For plugin authors (README: "Writing a provider"): `Provider`, its `Options` with `option()`, and the parsers the
sans-IO hooks return (`StreamParser` for line-based bodies, `SSEParser` for server-sent events, `MalformedStream`
for a body that cannot be read).
"""

from ._parsing import MalformedStream, SSEParser, StreamParser
from .base import Provider
from .options import Options, OptionSpec, option
from .registry import get_provider, list_providers, provider_class

__all__ = [
    "MalformedStream",
    "OptionSpec",
    "Options",
    "Provider",
    "SSEParser",
    "StreamParser",
    "get_provider",
    "list_providers",
    "option",
    "provider_class",
]
