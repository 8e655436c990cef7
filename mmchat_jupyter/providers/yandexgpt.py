"""YandexGPT through the native Foundation Models REST API (`/foundationModels/v1/completion`).

The REST API is a grpc-gateway over a server-streaming RPC, so a streamed answer is newline-delimited JSON, one
`{"result": CompletionResponse}` per line, each holding the *whole* text so far (which the server may still
revise), and no terminator: the stream is complete when a line carries a final status. Numbers that are int64 in
the proto arrive as strings. Errors, before or inside the stream, are `{"error": {"httpCode", "message", ...}}`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
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
from ._parsing import ErrorEvent, MalformedStream, StreamParser
from .base import Provider
from .options import Options, option

DEFAULT_BASE_URL = "https://llm.api.cloud.yandex.net"

#: `alternatives[].status` of a finished answer -> our finish reason. PARTIAL (and UNSPECIFIED) mean "more to come".
FINISH_REASONS = {
    "ALTERNATIVE_STATUS_FINAL": FINISH_STOP,
    "ALTERNATIVE_STATUS_TRUNCATED_FINAL": FINISH_LENGTH,
    "ALTERNATIVE_STATUS_CONTENT_FILTER": FINISH_CONTENT_FILTER,
    "ALTERNATIVE_STATUS_TOOL_CALLS": FINISH_TOOL_CALLS,
}

#: gRPC code -> HTTP status, for an error line that lacks `httpCode` (the gateway normally sends both).
_GRPC_TO_HTTP = {
    1: 499, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 14: 503, 16: 401,
}


class YandexGPTOptions(Options):
    reasoning_mode: str | None = option(str, N_("DISABLED, or ENABLED_HIDDEN to let the model reason first"),
                                        choices=("DISABLED", "ENABLED_HIDDEN"))


class YandexGPTProvider(Provider):
    """YandexGPT (Yandex Cloud AI Studio), native API.

    Settings (keyword, else environment): `api_key` (YANDEX_API_KEY, sent as `Api-Key`) or `iam_token`
    (YANDEX_IAM_TOKEN, sent as `Bearer` with `x-folder-id`), `folder_id` (YANDEX_FOLDER_ID), `base_url`
    (YANDEX_BASE_URL), `model` (YANDEX_MODEL, the default model). Models are short names (`yandexgpt-lite`,
    `yandexgpt/rc`) completed into `gpt://<folder>/<name>/latest`, or whole `gpt://` / `ds://` URIs.
    `params.extra` goes into `completionOptions` (`reasoning_mode` as `reasoningOptions.mode`); the API has no
    `top_p`, so it is not sent.
    """

    name = "yandexgpt"
    label = "YandexGPT"
    default_model = "yandexgpt-lite"
    known_models = ("yandexgpt", "yandexgpt-lite", "yandexgpt/rc", "llama", "llama-lite")
    auth_hint = N_("check YANDEX_API_KEY (or YANDEX_IAM_TOKEN) and YANDEX_FOLDER_ID")
    credential_env = ("YANDEX_API_KEY", "YANDEX_IAM_TOKEN")
    model_env = "YANDEX_MODEL"
    Options = YandexGPTOptions
    default_base_url = DEFAULT_BASE_URL
    base_url_env = "YANDEX_BASE_URL"
    context_tokens = 32000

    def __init__(
        self,
        *,
        api_key: str | Secret | None = None,
        iam_token: str | Secret | None = None,
        folder_id: str | None = None,
        base_url: str | None = None,
        model: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(base_url=base_url, **settings)
        # An instance default shadows the class one, so `complete()` reports the model really used.
        self.default_model = model or os.environ.get("YANDEX_MODEL") or type(self).default_model
        # An explicit credential of either kind beats both environment variables.
        if api_key or iam_token:
            self.api_key, self.iam_token = self.secret(api_key), self.secret(iam_token)
        else:
            self.api_key = self.secret(None, "YANDEX_API_KEY")
            self.iam_token = None if self.api_key else self.secret(None, "YANDEX_IAM_TOKEN")
        self.folder_id = folder_id or os.environ.get("YANDEX_FOLDER_ID") or None

    def model_uri(self, model: str) -> str:
        """The `modelUri` for a short model name (`yandexgpt/rc` -> `gpt://<folder>/yandexgpt/rc`) or a whole URI."""
        if model.startswith(("gpt://", "ds://")):
            return model
        if not self.folder_id:
            raise errors.ConfigError(
                _("YandexGPT needs a folder id for model {model!r}: set YANDEX_FOLDER_ID.").format(model=model)
            )
        name, _sep, branch = model.partition("/")
        return f"gpt://{self.folder_id}/{name}/{branch or 'latest'}"

    def build_request(self, messages: Sequence[Message], params: GenerationParams) -> httpx.Request:
        extra = dict(params.extra)
        reasoning = extra.pop("reasoning_mode", None)
        options: dict[str, Any] = {**extra, "stream": True}
        if reasoning is not None:
            options["reasoningOptions"] = {"mode": reasoning}
        if params.temperature is not None:
            options["temperature"] = params.temperature
        if params.max_tokens is not None:
            options["maxTokens"] = str(params.max_tokens)  # int64: a string in proto3 JSON
        body = {
            "modelUri": self.model_uri(params.model or self.default_model),
            "completionOptions": options,
            "messages": [{"role": m.role, "text": m.content} for m in messages],
        }
        headers = {
            "x-client-request-id": str(uuid.uuid4()),
            # Opt out of Yandex keeping the prompts: older docs make logging the default.
            "x-data-logging-enabled": "false",
        }
        if self.api_key:
            headers["Authorization"] = f"Api-Key {self.api_key.reveal()}"
        elif self.iam_token:
            headers["Authorization"] = f"Bearer {self.iam_token.reveal()}"
            if self.folder_id:
                headers["x-folder-id"] = self.folder_id
        else:
            raise errors.ConfigError(_("YandexGPT has no credentials: set YANDEX_API_KEY (or YANDEX_IAM_TOKEN)."))
        url = f"{self.base_url}/foundationModels/v1/completion"
        return httpx.Request("POST", url, json=body, headers=headers)

    def new_parser(self) -> YandexStreamParser:
        return YandexStreamParser()

    def error_from_response(self, response: httpx.Response) -> errors.ProviderError:
        return self.make_error(response.status_code, error_message(response), response)


def error_message(response: httpx.Response) -> str:
    """The server's message from a gateway error `{"error": {...}}` or a unary one `{"code", "message"}`."""
    try:
        payload = response.json()
    except ValueError:
        return clip(response.text)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    if isinstance(error, dict) and isinstance(message := error.get("message"), str):
        return message
    return clip(response.text)


class YandexStreamParser(StreamParser):
    """Cumulative NDJSON -> Chunk deltas. A revised prefix becomes a `replace=True` chunk."""

    def __init__(self) -> None:
        self.text = ""
        self.finished = False

    def feed_line(self, line: str) -> list[Chunk]:
        try:
            payloads: Iterable[Any] = (_decode_json(line),)  # one object a line: the fast, common case
        except ValueError:
            payloads = _objects(line)
        return [chunk for payload in payloads if (chunk := self._on_message(payload)) is not None]

    def finish(self) -> list[Chunk]:
        if not self.finished:
            raise MalformedStream(_("the stream ended before the final answer"))
        return []

    def _on_message(self, payload: Any) -> Chunk | None:
        if not isinstance(payload, dict):
            raise MalformedStream(f"expected an object, got {clip(json.dumps(payload), 80)}")
        if payload.get("error"):
            raise _error_event(payload["error"])
        result = payload.get("result", payload)
        try:
            alternative = result["alternatives"][0]
            text = (alternative.get("message") or {}).get("text") or ""
            finish = FINISH_REASONS.get(alternative.get("status", ""))
        except (AttributeError, KeyError, IndexError, TypeError):
            raise MalformedStream(f"no answer in {clip(json.dumps(payload, ensure_ascii=False), 80)}") from None
        usage = _usage(result.get("usage")) if finish else None
        previous, self.text = self.text, text
        if finish:
            self.finished = True
        # The content filter replaces the answer with its refusal, even when the refusal happens to extend it.
        if finish != FINISH_CONTENT_FILTER and text.startswith(previous):
            delta = text[len(previous) :]
            if not delta and not finish:
                return None  # the server may repeat the same text
            return Chunk(delta, usage=usage, finish_reason=finish)
        return Chunk(text, usage=usage, finish_reason=finish, replace=True)


_decode_json = json.JSONDecoder().decode


def _objects(line: str) -> Iterator[Any]:
    """The JSON values on one line: normally one, but tolerate blank lines and values written back to back."""
    decoder, index = json.JSONDecoder(), 0
    while True:
        while index < len(line) and line[index].isspace():
            index += 1
        if index == len(line):
            return
        try:
            value, index = decoder.raw_decode(line, index)
        except ValueError:
            raise MalformedStream(f"not JSON: {line[index : index + 80]!r}") from None
        yield value


def _error_event(error: Any) -> ErrorEvent:
    if not isinstance(error, dict):
        return ErrorEvent(500, str(error))
    status = error.get("httpCode")
    if not isinstance(status, int):
        code = error.get("grpcCode")
        status = _GRPC_TO_HTTP.get(code, 500) if isinstance(code, int) else 500
    return ErrorEvent(status, str(error.get("message") or ""))


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    try:
        return Usage(
            int(data.get("inputTextTokens", 0)),
            int(data.get("completionTokens", 0)),
            int(data.get("totalTokens", 0)),
        )
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is valid JSON, a float infinity
        return None
