"""Providers reached through the hub's LLM gateway (mmchat-gateway, issue 18) instead of directly.

When the administrator sets `c.MMChat.gateway_url` (or the spawner sets MMCHAT_GATEWAY_URL), every provider but the
offline echo is reached through the gateway's OpenAI-compatible API with the user's own JupyterHub token
(JUPYTERHUB_API_TOKEN, which the hub gives each server): no provider key exists on the user's side. The provider
keeps its name, label and models; its model `m` is the gateway's `<provider>/m`. The gateway's refusals (a limit,
no access) are one line in the user's language already: they are shown as they are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .. import errors
from ..i18n import _, get_language
from ..types import Chunk, GenerationParams, Message
from ._errors import retry_after_of
from .base import CONNECT_TIMEOUT, Provider
from .openai import OpenAIProvider, OpenAIStreamParser, error_message

GATEWAY_ENV = "MMCHAT_GATEWAY_URL"
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
#: Providers that never go through the gateway: they run in the kernel and need no key.
LOCAL = frozenset({"echo"})


def gateway_url(configured: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The gateway's base URL (its service prefix, e.g. http://hub:8000/services/mmchat-gateway), or None."""
    url = (configured or env.get(GATEWAY_ENV) or "").strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url or None


def via_gateway(upstream: type[Provider], url: str, env: Mapping[str, str] = os.environ, **settings: Any) -> Provider:
    """Provider `upstream` reached through the gateway at `url` with the user's JupyterHub token."""
    token = env.get(TOKEN_ENV)
    if not token:
        text = _("The hub's LLM gateway needs your JupyterHub token ({name}): start this server from JupyterHub.")
        raise errors.ConfigError(text.format(name=TOKEN_ENV))
    allowed = {k: v for k, v in settings.items() if k in ("read_timeout", "max_retries", "backoff", "transport",
                                                            "async_transport")}
    return _gateway_class(upstream)(url=url, token=token, **allowed)


_CLASSES: dict[type[Provider], type[GatewayProvider]] = {}


def _gateway_class(upstream: type[Provider]) -> type[GatewayProvider]:
    """One class per upstream provider: its name, label and models, the gateway's protocol."""
    if upstream in _CLASSES:
        return _CLASSES[upstream]
    attributes = {
        "name": upstream.name, "label": upstream.label, "known_models": upstream.known_models,
        "default_model": upstream.default_model, "context_tokens": upstream.context_tokens,
        "Options": upstream.Options,
    }
    _CLASSES[upstream] = type(f"{upstream.__name__}ViaGateway", (GatewayProvider,), attributes)
    return _CLASSES[upstream]


def gateway_usage(url: str, env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The user's usage and limits as the gateway records them (`GET usage/me`, this month by default)."""
    token = env.get(TOKEN_ENV)
    if not token:
        text = _("The hub's LLM gateway needs your JupyterHub token ({name}): start this server from JupyterHub.")
        raise errors.ConfigError(text.format(name=TOKEN_ENV))
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": get_language()}
    try:
        response = httpx.get(f"{url}/usage/me", headers=headers, timeout=CONNECT_TIMEOUT)
    except httpx.HTTPError:
        text = _("Cannot reach the hub's LLM gateway at {url}: try again in a minute.")
        raise errors.ProviderConnectionError(text.format(url=url), provider="gateway") from None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.status_code != 200 or not isinstance(payload, dict):
        said = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
        message = said or _("The hub's LLM gateway answered {status}.").format(status=response.status_code)
        raise errors.ProviderError(str(message), provider="gateway", status=response.status_code)
    return payload


class GatewayProvider(OpenAIProvider):
    """The gateway's OpenAI-compatible API, speaking for one upstream provider (see `via_gateway`)."""

    def __init__(self, *, url: str, token: str, **settings: Any) -> None:
        super().__init__(api_key=token, base_url=f"{url}/v1", model=type(self).default_model, **settings)
        self.gateway = url

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        model = params.model or self.default_model
        request = super().build_request(messages, params.merged(model=f"{self.name}/{model}"))
        request.headers["Accept-Language"] = get_language()
        return request

    def new_parser(self) -> GatewayStreamParser:
        return GatewayStreamParser()

    def error_from_response(self, response: httpx.Response) -> errors.ProviderError:
        return self.make_error(response.status_code, error_message(response), response)

    def make_error(
        self, status: int, server_message: str, response: httpx.Response | None = None
    ) -> errors.ProviderError:
        """The gateway's own line, as it is: it already says what happened and what to do, in the user's language."""
        headers = response.headers if response is not None else httpx.Headers()
        message = server_message.strip() or _("The hub's LLM gateway answered {status}.").format(status=status)
        common: dict[str, Any] = {"provider": self.name, "status": status}
        if status in (401, 403):
            return errors.AuthError(message, **common)
        if status == 429:
            return errors.RateLimitError(message, retry_after=retry_after_of(headers), **common)
        if status >= 500:
            return errors.ServerError(message, **common)
        return errors.InvalidRequestError(message, **common)

    def models(self) -> list[str]:
        """The models of this provider the gateway lets this user use (`GET /v1/models`)."""
        try:
            response = self._sync_client().get(f"{self.base_url}/models", headers=self._headers(),
                                               timeout=CONNECT_TIMEOUT)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, "") from None
        if response.status_code != 200:
            raise self.error_from_response(response)
        prefix = f"{self.name}/"
        return [str(m["id"])[len(prefix):] for m in response.json().get("data", []) if str(m["id"]).startswith(prefix)]

class GatewayStreamParser(OpenAIStreamParser):
    """OpenAI's chunks, plus the gateway's `mmchat_replace`: a YandexGPT answer revised, sent whole."""

    def on_data(self, payload: Any) -> list[Chunk]:
        chunks = super().on_data(payload)
        choices = payload.get("choices") if isinstance(payload, dict) else None
        if chunks and choices and isinstance(choices[0], dict) and choices[0].get("mmchat_replace"):
            return [chunks[0]._replace(replace=True), *chunks[1:]]
        return chunks
