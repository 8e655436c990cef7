"""Any OpenAI-compatible chat server: OpenAI itself, Yandex's `/v1` endpoint, Ollama, vLLM, LM Studio, ...

`POST {base_url}/chat/completions` with `stream: true` answers with server-sent events carrying deltas, ended by
`data: [DONE]`. Servers differ in the details, and both styles seen in recordings are handled: the finish reason
in the chunk with the last text (YandexGPT) or in a chunk with an empty delta (qwen, OpenAI); usage, when asked
for with `stream_options`, in a last chunk whose `choices` is empty. An error inside the stream is a
`data: {"error": {...}}` event.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from .. import errors
from .._redact import Secret, clip
from ..i18n import N_, _
from ..types import FINISH_TOOL_CALLS, Chunk, GenerationParams, Message, Usage
from ._parsing import ErrorEvent, MalformedStream, SSEParser
from .base import CONNECT_TIMEOUT, Provider
from .options import Options, option

DEFAULT_BASE_URL = "https://api.openai.com/v1"

#: An in-stream error carries a `type` rather than a status; these are the usual ones (anything else: 500).
_TYPE_TO_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "overloaded_error": 503,
}


class OpenAIOptions(Options):
    seed: int | None = option(int, N_("random seed: the same seed and prompt give the same answer, where supported"))
    presence_penalty: float | None = option(float, N_("penalise tokens already present: more new topics"),
                                            low=-2, high=2)
    frequency_penalty: float | None = option(float, N_("penalise frequent tokens: less repetition"), low=-2, high=2)


class OpenAIProvider(Provider):
    """An OpenAI-compatible server.

    Settings (keyword, else environment): `api_key` (OPENAI_API_KEY; optional, local servers need none),
    `base_url` (OPENAI_BASE_URL), `model` (OPENAI_MODEL, the default model), `project` (OPENAI_PROJECT, sent as
    `OpenAI-Project`; Yandex's `/v1/models` wants the folder id there). `params.extra` (the extras declared in
    `OpenAIOptions`) is merged into the body.

    For YandexGPT: `base_url="https://llm.api.cloud.yandex.net/v1"`, a Yandex API key, and models named
    `gpt://<folder>/yandexgpt/latest`.
    """

    name = "openai"
    label = "OpenAI API"
    default_model = "gpt-4o-mini"
    known_models = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1")
    auth_hint = N_("check OPENAI_API_KEY and OPENAI_BASE_URL")
    credential_env = ("OPENAI_API_KEY",)
    model_env = "OPENAI_MODEL"
    Options = OpenAIOptions
    default_base_url = DEFAULT_BASE_URL
    base_url_env = "OPENAI_BASE_URL"
    context_tokens = 128000
    stream_content_type = "text/event-stream"

    def __init__(
        self,
        *,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        model: str | None = None,
        project: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(base_url=base_url, **settings)
        self.api_key = self.secret(api_key, "OPENAI_API_KEY")
        # Per instance: the default model is whatever this server serves (OPENAI_MODEL), not OpenAI's.
        self.default_model = model or os.environ.get("OPENAI_MODEL") or type(self).default_model
        self.project = project or os.environ.get("OPENAI_PROJECT") or None

    @classmethod
    def configured(cls, env: Mapping[str, str] = os.environ, settings: Mapping[str, Any] | None = None) -> bool:
        """A key, or a base URL alone: a local server (Ollama, vLLM) needs no key."""
        settings = settings or {}
        return super().configured(env, settings) or bool(env.get(cls.base_url_env or "") or settings.get("base_url"))

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        body: dict[str, Any] = {
            **params.extra,
            "model": params.model or self.default_model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for key, value in (
            ("temperature", params.temperature),
            ("max_tokens", params.max_tokens),
            ("top_p", params.top_p),
        ):
            if value is not None:
                body[key] = value
        return httpx.Request("POST", f"{self.base_url}/chat/completions", json=body, headers=self._headers())

    def new_parser(self) -> OpenAIStreamParser:
        return OpenAIStreamParser()

    def error_from_response(self, response: httpx.Response) -> errors.ProviderError:
        said = error_message(response)
        if _error_type(response) in KEY_REFUSED:
            text = _("{label} did not accept the key ({status}: {said}): a LiteLLM proxy without a database takes "
                     "only its master key; check OPENAI_API_KEY.")
            return errors.AuthError(text.format(label=self.label, status=response.status_code, said=said),
                                    provider=self.name, status=response.status_code)
        return self.make_error(response.status_code, said, response)

    def models(self) -> list[str]:
        """The chat model ids the server lists at `GET {base_url}/models` (an Ollama, vLLM or LiteLLM server lists
        its own); the known models only when the server has no listing. A refused key raises AuthError."""
        request = httpx.Request("GET", f"{self.base_url}/models", headers=self._headers(),
                                extensions={"timeout": httpx.Timeout(CONNECT_TIMEOUT).as_dict()})
        ids = self.list_models(request, lambda payload: [item["id"] for item in payload["data"]])
        # Yandex lists embedding (emb://) and image (art://) models beside the chat (gpt://) ones.
        chat = sorted(i for i in ids or () if "://" not in i or i.startswith("gpt://"))
        return chat or super().models()

    def _headers(self) -> dict[str, str]:
        headers = {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        if self.project:
            headers["OpenAI-Project"] = self.project
        return headers


#: Error types that mean "not a key I take", whatever status comes with them: a LiteLLM proxy without a database
#: answers any key but its master key with 400 `no_db_connection` (recorded: tests/data/litellm).
KEY_REFUSED = frozenset({"no_db_connection"})


def _error_type(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def _unwrapped(message: str) -> str:
    """A message that is itself a Python dict's repr, `{'error': '...'}` (LiteLLM wraps some), as its inner text."""
    text = message.strip()
    if not (text.startswith("{") and text.endswith("}")) or len(text) > 4000:
        return message
    try:
        inner = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return message
    found = inner.get("error") if isinstance(inner, dict) else None
    return found if isinstance(found, str) else message


def error_message(response: httpx.Response) -> str:
    """The server's message from `{"error": {"message": ...}}`, or the shapes other servers use instead."""
    try:
        payload = response.json()
    except ValueError:
        return clip(response.text)
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and isinstance(message := error.get("message"), str):
            return _unwrapped(message)
        for said in (error, payload.get("message"), payload.get("detail")):
            if isinstance(said, str):
                return said
    return clip(response.text)


class OpenAIStreamParser(SSEParser):
    """`chat.completion.chunk` events -> Chunk deltas (first choice only: we never ask for more)."""

    def on_data(self, payload: Any) -> list[Chunk]:
        if not isinstance(payload, dict):
            raise MalformedStream(f"expected an object, got {clip(str(payload), 80)}")
        if payload.get("error"):
            raise _error_event(payload["error"])
        usage = _usage(payload.get("usage"))
        try:
            choice: dict[str, Any] = next((c for c in payload.get("choices") or () if c.get("index", 0) == 0), {})
            text = (choice.get("delta") or {}).get("content") or ""
            finish = choice.get("finish_reason")
        except (AttributeError, TypeError):
            raise MalformedStream(f"unexpected chunk {clip(str(payload), 80)}") from None
        if finish == "function_call":  # the pre-tools name of the same thing
            finish = FINISH_TOOL_CALLS
        if not (text or finish or usage):
            return []
        return [Chunk(text, usage=usage, finish_reason=finish)]


def _error_event(error: Any) -> ErrorEvent:
    if not isinstance(error, dict):
        return ErrorEvent(500, str(error))
    code, kind = error.get("code"), error.get("type")
    status = code if isinstance(code, int) and 400 <= code <= 599 else _TYPE_TO_STATUS.get(str(kind), 500)
    return ErrorEvent(status, str(error.get("message") or ""))


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    try:
        return Usage(
            int(data.get("prompt_tokens") or 0),
            int(data.get("completion_tokens") or 0),
            int(data.get("total_tokens") or 0),
        )
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is valid JSON, a float infinity
        return None
