"""GigaChat (Sber): chat completions streamed as server-sent event deltas, behind an OAuth token.

Settings, each an explicit keyword or else the environment:

    credentials       GIGACHAT_CREDENTIALS      the authorization key from the Sber cabinet (sent as Basic)
    scope             GIGACHAT_SCOPE            GIGACHAT_API_PERS (default), GIGACHAT_API_B2B or GIGACHAT_API_CORP
    access_token      GIGACHAT_ACCESS_TOKEN     a token obtained elsewhere, used until the server refuses it
    base_url          GIGACHAT_BASE_URL         https://gigachat.devices.sberbank.ru/api/v1
    auth_url          GIGACHAT_AUTH_URL         https://ngw.devices.sberbank.ru:9443/api/v2/oauth
    model             GIGACHAT_MODEL            GigaChat
    ca_bundle_file    GIGACHAT_CA_BUNDLE_FILE   a PEM file with the Russian Trusted Root CA, for both hosts
    verify_ssl_certs  GIGACHAT_VERIFY_SSL_CERTS false turns TLS verification off for both hosts (development only)

Both Sber hosts serve certificates from the Russian Trusted Root CA, which is not in the usual CA bundles: without
`ca_bundle_file` (or a system store that has it) connections fail verification, and the error says what to set.
The token flow is in `_gigachat_auth`; the drivers in `base` do all I/O.
"""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from .. import errors
from .._redact import Secret, clip
from ..i18n import N_, _
from ..types import (
    FINISH_CONTENT_FILTER,
    FINISH_LENGTH,
    FINISH_STOP,
    FINISH_TOOL_CALLS,
    Chunk,
    GenerationParams,
    Message,
    Usage,
)
from ._gigachat_auth import GigaChatAuth, TokenCache
from ._parsing import MalformedStream, SSEParser
from .base import Provider
from .options import Options, option

DEFAULT_BASE_URL = "https://gigachat.devices.sberbank.ru/api/v1"
DEFAULT_AUTH_URL = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth"
DEFAULT_SCOPE = "GIGACHAT_API_PERS"

#: GigaChat's finish reasons in our vocabulary; others ("error": bad function arguments) pass through.
_FINISH_REASONS = {
    "stop": FINISH_STOP,
    "length": FINISH_LENGTH,
    "blacklist": FINISH_CONTENT_FILTER,
    "function_call": FINISH_TOOL_CALLS,
}
_FALSE = frozenset({"0", "false", "no", "off"})
_TRUE = frozenset({"1", "true", "yes", "on"})


class GigaChatOptions(Options):
    repetition_penalty: float | None = option(float, N_("above 1 discourages repeating words, below 1 allows it"),
                                              low=0, open_low=True)
    profanity_check: bool | None = option(bool, N_("GigaChat's own profanity filter on or off"))


class GigaChatProvider(Provider):
    """GigaChat by Sber, with its self-renewing OAuth token and an optional custom CA bundle."""

    name = "gigachat"
    label = "GigaChat"
    default_model = "GigaChat"
    known_models = ("GigaChat", "GigaChat-2", "GigaChat-2-Pro", "GigaChat-2-Max", "GigaChat-Pro", "GigaChat-Max")
    auth_hint = N_("check GIGACHAT_CREDENTIALS and GIGACHAT_SCOPE")
    credential_env = ("GIGACHAT_CREDENTIALS", "GIGACHAT_ACCESS_TOKEN")
    model_env = "GIGACHAT_MODEL"
    Options = GigaChatOptions
    default_base_url = DEFAULT_BASE_URL
    base_url_env = "GIGACHAT_BASE_URL"
    context_tokens = 32000
    stream_content_type = "text/event-stream"
    tls_hint = N_(
        "set GIGACHAT_CA_BUNDLE_FILE to the Russian Trusted Root CA certificate (https://www.gosuslugi.ru/crt)"
    )

    def __init__(
        self,
        *,
        credentials: str | Secret | None = None,
        scope: str | None = None,
        auth_url: str | None = None,
        ca_bundle_file: str | os.PathLike[str] | None = None,
        verify_ssl_certs: bool | str | None = None,
        access_token: str | Secret | None = None,
        base_url: str | None = None,
        model: str | None = None,
        **settings: Any,
    ) -> None:
        env = os.environ
        settings["verify"] = _verify(ca_bundle_file, verify_ssl_certs, settings.get("verify", True))
        super().__init__(base_url=base_url, **settings)
        self.scope = scope or env.get("GIGACHAT_SCOPE") or DEFAULT_SCOPE
        self.auth_url = auth_url or env.get("GIGACHAT_AUTH_URL") or DEFAULT_AUTH_URL
        # An instance default shadows the class one, so `complete()` reports the model really used.
        self.default_model = model or env.get("GIGACHAT_MODEL") or type(self).default_model
        #: One id per provider instance: GigaChat uses it as a hint to reuse its prompt cache.
        self.session_id = str(uuid.uuid4())
        self._tokens = TokenCache(
            auth_url=self.auth_url,
            scope=self.scope,
            credentials=self.secret(credentials, "GIGACHAT_CREDENTIALS"),
            access_token=self.secret(access_token, "GIGACHAT_ACCESS_TOKEN"),
            unreadable=self._unreadable_token,
        )
        self._auth = GigaChatAuth(self._tokens)

    # -- sans-IO --------------------------------------------------------------------------------------------------

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        body: dict[str, Any] = {
            **params.extra,
            "model": params.model or self.default_model,
            "messages": [{"role": m.role, "content": m.content} for m in system_first(messages)],
            "stream": True,
        }
        for key in ("temperature", "max_tokens", "top_p"):
            value = getattr(params, key)
            if value is not None:
                body[key] = value
        headers = {
            "Accept": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Session-ID": self.session_id,
            "X-Request-ID": str(uuid.uuid4()),
        }
        return httpx.Request("POST", f"{self.base_url}/chat/completions", json=body, headers=headers)

    def check(self, messages: Sequence[Message], params: GenerationParams) -> None:
        """Missing credentials are refused here, before the engine saves anything (like YandexGPT's)."""
        super().check(messages, params)
        self._require_credentials(checking=True)

    def new_parser(self) -> GigaChatParser:
        return GigaChatParser()

    def error_from_response(self, response: httpx.Response) -> errors.ProviderError:
        """API errors are `{"status", "message"}`; the OAuth host's are `{"code", "message"}`."""
        payload = _json_object(response)
        said = clip(str(payload.get("message") or "") or response.text)
        if "code" in payload and "status" not in payload and response.status_code in (400, 401, 403):
            text = _("{label} did not issue an access token ({status}: {said}): {hint}.")
            message = text.format(label=self.label, status=response.status_code, said=said, hint=_(self.auth_hint))
            return errors.AuthError(
                message,
                provider=self.name,
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
            )
        return self.make_error(response.status_code, said, response)

    # -- I/O the drivers do not cover -----------------------------------------------------------------------------

    def auth(self) -> httpx.Auth:
        """The OAuth flow (one token per provider instance, shared by sync and async calls)."""
        self._require_credentials()
        return self._auth

    def models(self) -> list[str]:
        """Chat model ids from `GET /models`; the known list when the server has none. A refused key raises."""
        request = httpx.Request("GET", f"{self.base_url}/models", headers={"Accept": "application/json"})
        # The 2023 list has no "type"; today's also lists embedders and classifiers.
        ids = self.list_models(request, lambda payload: [m["id"] for m in payload["data"]
                                                         if m.get("type", "chat") == "chat"])
        return ids or super().models()

    def unreachable(self, url: str | None) -> str:
        """The OAuth host is another host and port (9443, often blocked by firewalls): name the one that failed."""
        if url is not None and httpx.URL(url).netloc == httpx.URL(self.auth_url).netloc != httpx.URL(
                self.base_url).netloc:
            text = _("Cannot reach {label}'s token service at {url}: check that the network allows this host and "
                     "port, and GIGACHAT_AUTH_URL.")
            return text.format(label=self.label, url=url)
        return super().unreachable(url)

    # -- internals ------------------------------------------------------------------------------------------------

    def _require_credentials(self, *, checking: bool = False) -> None:
        """Raise when there is neither a token nor a key to get one: a ConfigError while `checking` a request
        before anything is saved, an AuthError when a call is made anyway."""
        if self._tokens.token is None and not self._tokens.can_fetch:
            text = _(
                "{label} has no credentials: set GIGACHAT_CREDENTIALS (the authorization key) or GIGACHAT_ACCESS_TOKEN."
            )
            message = text.format(label=self.label)
            if checking:
                raise errors.ConfigError(message)
            raise errors.AuthError(message, provider=self.name)

    def _unreadable_token(self, response: httpx.Response) -> errors.ProviderError:
        # A 200 without a token: auth_url most likely points at some other service.
        text = _("{label}'s token service at {url} sent no access token: check GIGACHAT_AUTH_URL.")
        return errors.AuthError(
            text.format(label=self.label, url=self.auth_url), provider=self.name, status=response.status_code
        )


class GigaChatParser(SSEParser):
    """GigaChat's `data: {...}` deltas: text in `choices[0].delta.content`, usage on the last data chunk.

    Fields are looked up by key: the key order differs between the 2023 and today's streams.
    """

    def on_data(self, payload: Any) -> list[Chunk]:
        try:
            choices = payload.get("choices")
            choice = choices[0] if choices else {}
            delta = choice.get("delta") or {}
            text = delta.get("content") or ""
            reason = choice.get("finish_reason")
        except (AttributeError, TypeError, KeyError, IndexError):
            raise MalformedStream(f"unexpected event shape: {clip(str(payload), 80)!r}") from None
        if not isinstance(text, str):
            text = ""
        finish = _FINISH_REASONS.get(reason, reason) if isinstance(reason, str) else None
        usage = _usage(payload.get("usage"))
        if not text and finish is None and usage is None:
            return []
        return [Chunk(text, usage, finish)]


def system_first(messages: Sequence[Message]) -> list[Message]:
    """The conversation with its system prompts merged into one first message, as GigaChat requires (else 422)."""
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content.strip())
    rest = [m for m in messages if m.role != "system"]
    return [Message("system", system), *rest] if system else rest


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    # total_tokens is what is billed: GigaChat has already taken precached_prompt_tokens off it.
    try:
        counts = [int(data.get(key) or 0) for key in ("prompt_tokens", "completion_tokens", "total_tokens")]
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is valid JSON, a float infinity
        raise MalformedStream(f"usage is not a set of counts: {clip(str(data), 80)}") from None
    return Usage(*counts)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _verify(ca_bundle_file: str | os.PathLike[str] | None, verify_ssl_certs: bool | str | None, default: Any) -> Any:
    """The httpx `verify` for both hosts: the CA bundle, else False if verification is off, else `default`."""
    path = ca_bundle_file or os.environ.get("GIGACHAT_CA_BUNDLE_FILE")
    if path:
        path = os.path.expanduser(os.fspath(path))
        try:
            return ssl.create_default_context(cafile=path)
        except OSError as exc:  # ssl.SSLError too: a file that holds no certificate
            reason = exc.strerror or exc
            text = _("Cannot use the CA bundle {path} (GIGACHAT_CA_BUNDLE_FILE): {reason}.")
            raise errors.ConfigError(text.format(path=path, reason=reason)) from None
    flag = verify_ssl_certs if verify_ssl_certs is not None else os.environ.get("GIGACHAT_VERIFY_SSL_CERTS")
    if isinstance(flag, str):
        word = flag.strip().lower()
        if word not in _TRUE | _FALSE:
            text = _("GIGACHAT_VERIFY_SSL_CERTS must be true or false, not {value!r}.")
            raise errors.ConfigError(text.format(value=flag))
        flag = word in _TRUE
    return default if flag is None or flag else False
