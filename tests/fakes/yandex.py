"""A fake Yandex Foundation Models server: the native streaming completion API and the OpenAI-compatible `/v1`.

    with FakeYandex(keys={"AQVN-test-key"}) as server:
        provider = YandexGPTProvider(base_url=server.url, api_key="AQVN-test-key", folder_id="b1g")
        server.script(["Hello", " world"])             # streamed as cumulative NDJSON: "Hello", "Hello world"
        server.script_texts(["Helo", "Hello world"])   # successive whole texts, free to revise a prefix
        server.replay(recorded_ndjson_bytes)            # a recorded body, byte for byte
        server.fail(429, retry_after=0.2)               # the real gateway error body
        server.tamper(error_at=2, error_status=500)     # an {"error": ...} line after two messages

`POST /foundationModels/v1/completion` checks what the real service checks first: an `Api-Key` or `Bearer`
credential (401 otherwise), a `gpt://` or `ds://` model URI with a folder, a temperature in [0, 1] and messages
with `text` (400 otherwise). `/v1/chat/completions` and `/v1/models` come from FakeOpenAI in the YandexGPT style.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from http import HTTPStatus

from .openai_compat import FakeOpenAI, Wire, compact_json, count_words
from .server import Reply, Request

FOLDER = "b1gfakefolder0000000"
MODEL_VERSION = "09.02.2025"

#: HTTP status -> gRPC code, as the gateway reports both (codes from the Yandex Cloud error table).
GRPC_CODES = {
    400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 3, 422: 3, 429: 8, 499: 1, 500: 13, 501: 12, 503: 14, 504: 4,
}

_MESSAGES = {
    400: "Specified folder ID 'xxx' does not match with service account folder ID 'yyy'",  # real
    401: "Unknown api key",
    403: "Permission to [resource-manager.folder b1gfakefolder0000000] denied",
    404: "Model gpt://b1gfakefolder0000000/no-such-model/latest not found",
    413: "Request size exceeds the limit",
    422: "Number of input tokens must be no more than 32000",
    429: "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: allowed 1 requests",  # real
    500: "Internal error",
    503: "Service is temporarily unavailable",
}

STATUSES = {
    "stop": "ALTERNATIVE_STATUS_FINAL",
    "length": "ALTERNATIVE_STATUS_TRUNCATED_FINAL",
    "content_filter": "ALTERNATIVE_STATUS_CONTENT_FILTER",
    "tool_calls": "ALTERNATIVE_STATUS_TOOL_CALLS",
}

_MODEL_URI = re.compile(r"(gpt|ds)://[^/\s]+/\S+")


def gateway_error_body(status: int, message: str) -> bytes:
    """The grpc-gateway error body the native API answers with (and sends as a line inside a stream)."""
    error = {
        "grpcCode": GRPC_CODES.get(status, 2),
        "httpCode": status,
        "message": message,
        "httpStatus": HTTPStatus(status).phrase,
        "details": [],
    }
    return compact_json({"error": error})


NATIVE_WIRE = Wire(
    separator=b"\n",
    headers={"Content-Type": "application/json"},
    error_body=gateway_error_body,
    error_frame=lambda status, message: gateway_error_body(status, message) + b"\n",
    malformed_frame=b'{"result":{"alternatives":[{"message":{"role":"assistant","text":"tru\n',
    messages=_MESSAGES,
)


class FakeYandex(FakeOpenAI):
    """Both Yandex endpoints. `keys`: when given, the only credentials accepted; otherwise any non-empty one."""

    style = "yandex"
    model_ids = (
        f"gpt://{FOLDER}/yandexgpt/latest",
        f"gpt://{FOLDER}/yandexgpt/rc",
        f"gpt://{FOLDER}/yandexgpt-lite/latest",
        f"gpt://{FOLDER}/qwen3-235b-a22b-fp8/latest",
        f"emb://{FOLDER}/text-search-doc/latest",
    )

    def __init__(self, *, keys: Iterable[str] = (), piece: int | None = None) -> None:
        super().__init__(piece=piece)
        self.keys = set(keys)
        self.route("POST", "/foundationModels/v1/completion", self._completion)

    def authorized(self, request: Request) -> bool:
        scheme, _sep, credential = (request.header("authorization") or "").partition(" ")
        return scheme in ("Api-Key", "Bearer") and bool(credential) and (not self.keys or credential in self.keys)

    def _completion(self, request: Request) -> Reply:
        if not self.authorized(request):
            credential = (request.header("authorization") or "").partition(" ")[2]
            # Echoes the credential (the real wording was never captured) so tests see that we redact it.
            return self.error_reply(NATIVE_WIRE, 401, f"Unknown api key '{credential}'")
        body = request.json()
        options = body.get("completionOptions") or {}
        messages = body.get("messages") or []
        if not _MODEL_URI.fullmatch(str(body.get("modelUri", ""))):
            return self.error_reply(NATIVE_WIRE, 400, f"Invalid model uri: {body.get('modelUri')!r}")
        if not 0 <= float(options.get("temperature", 0.3)) <= 1:
            return self.error_reply(NATIVE_WIRE, 400, "Temperature must be in [0, 1]")
        if not messages or any("text" not in m for m in messages):
            return self.error_reply(NATIVE_WIRE, 400, "messages[].text: value is required")
        prompt = next((m["text"] for m in reversed(messages) if m["role"] == "user"), "")
        texts, finish = self.answer_texts(prompt, options.get("maxTokens"))  # a string or a number
        prompt_tokens = count_words(messages, "text")
        frames = []
        for n, text in enumerate(texts, 1):
            status = STATUSES[finish] if n == len(texts) else "ALTERNATIVE_STATUS_PARTIAL"
            tokens = {"inputTextTokens": prompt_tokens, "completionTokens": n, "totalTokens": prompt_tokens + n}
            usage = {key: str(value) for key, value in tokens.items()}  # int64: strings in proto3 JSON
            alternative = {"message": {"role": "assistant", "text": text}, "status": status}
            result = {"alternatives": [alternative], "usage": usage, "modelVersion": MODEL_VERSION}
            frames.append(compact_json({"result": result}) + b"\n")
        if not options.get("stream"):
            frames = frames[-1:]  # a unary answer: the final message alone, still wrapped in "result"
        return self.stream_reply(frames, NATIVE_WIRE)
