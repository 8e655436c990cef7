"""The providers behind the gateway: built once from the gateway's own configuration, so their keys live in this
process only, and reached through the package's own provider classes (native YandexGPT and GigaChat protocols,
GigaChat's OAuth refresh and CA bundle, retries before the first byte).

A model is offered to clients as `<provider>/<model>`: `yandexgpt/yandexgpt-lite`, `gigachat/GigaChat-2-Max`,
`openai/gpt-4o-mini`. What a provider failure becomes for the client is decided here too (`client_error`): the
caller learns what happened and what to do, never the gateway's own settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..i18n import _
from ..providers import Provider, get_provider, list_providers, provider_class

log = logging.getLogger("mmchat_jupyter.gateway")

#: How long the list of models is kept before the providers are asked again (seconds).
MODELS_TTL = 600.0


class Upstreams:
    """The configured providers: those named in `settings` (`c.MMChatGateway.providers`), and those whose
    credentials are in the gateway's environment. `offered` (`c.MMChatGateway.models`) narrows a provider's models
    to a list; without it, the provider's own list is offered and any model name is passed on."""

    def __init__(
        self,
        settings: Mapping[str, Mapping[str, Any]],
        offered: Mapping[str, Sequence[str]] | None = None,
        env: Mapping[str, str] = os.environ,
    ) -> None:
        names = [
            name for name in list_providers()
            if name in settings or (name != "echo" and provider_class(name).configured(env))
        ]
        self.providers: dict[str, Provider] = {name: get_provider(name, **settings.get(name, {})) for name in names}
        for provider in self.providers.values():
            provider.keep_text = False  # each chunk goes on to the client: nothing of an answer stays here
        self.offered = {name: list(models) for name, models in (offered or {}).items()}
        self._models: tuple[float, list[str]] | None = None
        self._listing: asyncio.Lock | None = None

    def resolve(self, provider: str, model: str) -> Provider | None:
        """The provider serving `provider/model`, or None when the gateway does not offer it."""
        upstream = self.providers.get(provider)
        if upstream is None:
            return None
        offered = self.offered.get(provider)
        return upstream if offered is None or model in offered else None

    async def model_ids(self) -> list[str]:
        """Every `provider/model` offered, asking the providers at most every MODELS_TTL seconds."""
        if self._listing is None:
            self._listing = asyncio.Lock()
        async with self._listing:  # one listing at a time: the others wait for it and take its result
            if self._models is None or time.monotonic() - self._models[0] > MODELS_TTL:
                loop = asyncio.get_running_loop()
                ids: list[str] = []
                for name, provider in sorted(self.providers.items()):
                    models = self.offered.get(name)
                    if models is None:
                        models = await loop.run_in_executor(None, _models_of, provider)
                    ids += [f"{name}/{model}" for model in models]
                self._models = (time.monotonic(), ids)
            return self._models[1]

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()


def _models_of(provider: Provider) -> list[str]:
    try:
        return provider.models()
    except (errors.MMChatError, OSError) as exc:
        log.warning("cannot list the models of %s: %s", provider.name, exc)
        return list(provider.known_models) or [provider.default_model]


@dataclass(frozen=True)
class ClientError:
    """What the client gets for a failure: HTTP status, OpenAI error type, one line, and when to retry."""

    status: int
    kind: str
    message: str
    retry_after: float | None = None


def client_error(exc: errors.MMChatError, label: str, *, begun: bool = False) -> ClientError:
    """The client's view of a provider failure (`begun`: part of the answer had been sent). Problems of the
    gateway's own credentials or network are the administrator's to fix: the caller is told so, and the detail goes
    to the gateway's log only."""
    if isinstance(exc, errors.AuthError):
        text = _("The hub's LLM gateway could not sign in to {label}: tell your administrator.")
        return ClientError(502, "upstream_error", text.format(label=label))
    if isinstance(exc, errors.RateLimitError):
        return ClientError(429, "rate_limit_error", exc.message, exc.retry_after)
    if isinstance(exc, errors.InvalidRequestError):
        status = exc.status if exc.status in (400, 404, 413, 422) else 400
        return ClientError(status, "invalid_request_error", exc.message)
    if isinstance(exc, errors.ProviderTimeout):
        text = _("{label} did not answer in time: try again.")
        return ClientError(504, "upstream_error", text.format(label=label))
    if isinstance(exc, errors.ProviderConnectionError):
        if begun:
            text = _("The connection to {label} dropped mid-answer: the text so far is kept; try again.")
        else:
            text = _("The hub's LLM gateway cannot reach {label}: try again later, or tell your administrator.")
        return ClientError(502, "upstream_error", text.format(label=label))
    if isinstance(exc, errors.ProviderError):  # 5xx, an unreadable stream, a connection lost mid-answer
        return ClientError(502, "upstream_error", exc.message)
    text = _("The hub's LLM gateway is not set up for {label}: tell your administrator.")
    return ClientError(500, "server_error", text.format(label=label))
