"""The OpenAI chat-completions wire format, both ways: a request body in, chunks and answers out.

What an OpenAI client sends to `POST /v1/chat/completions` becomes a `ChatRequest` of our own types (or a
`BadRequest` with one line saying what to fix); the chunks an upstream provider yields become `chat.completion.chunk`
server-sent events (`Frames`), or one `chat.completion` object when the client did not ask for a stream.

One extension: YandexGPT may revise text it already sent, which OpenAI's deltas cannot say; such a chunk carries the
whole answer so far with `"mmchat_replace": true` beside `delta` (mmchat's own client replaces its text; other
clients, which ignore unknown fields, append it).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..errors import MMChatError
from ..i18n import _
from ..types import GenerationParams, Message, Role, Usage

#: Body fields an OpenAI-compatible upstream receives as they came; the native protocols have no use for them.
OPENAI_PASSTHROUGH = ("stop", "seed", "presence_penalty", "frequency_penalty", "response_format")
_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class BadRequest(MMChatError):
    """The request body cannot be served as it stands (400); the message says what to change."""


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request: `model_id` is 'provider/model'."""

    model_id: str
    provider: str
    model: str
    messages: list[Message]
    params: GenerationParams
    stream: bool = False
    include_usage: bool = False
    #: Fields for an OpenAI-compatible upstream only (see OPENAI_PASSTHROUGH).
    openai_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text_length(self) -> int:
        return sum(len(m.content) for m in self.messages)


def parse_chat_request(body: bytes) -> ChatRequest:
    """A validated ChatRequest from a request body; BadRequest (one line) otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(_("The request body is not JSON: send a chat-completions request.")) from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), str) or "messages" not in data:
        raise BadRequest(_("The request needs `model` (a string) and `messages` (a list)."))
    if data.get("tools") or data.get("functions"):
        raise BadRequest(_("Tools and function calls are not supported by the hub's LLM gateway."))
    if data.get("n") not in (None, 1):
        raise BadRequest(_("`n` must be 1: the hub's LLM gateway returns one answer per request."))
    provider, _sep, model = data["model"].partition("/")
    if not provider or not model:
        text = _("Model {model!r} has no provider: use a name like yandexgpt/yandexgpt-lite (GET /v1/models).")
        raise BadRequest(text.format(model=data["model"]))
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    params = GenerationParams(
        model=model,
        temperature=_number(data, "temperature", 0, 2),
        max_tokens=None if max_tokens is None else _whole(max_tokens, "max_tokens"),
        top_p=_number(data, "top_p", 0, 1),
    )
    options = data.get("stream_options") or {}
    return ChatRequest(
        model_id=data["model"],
        provider=provider,
        model=model,
        messages=_messages(data["messages"]),
        params=params,
        stream=bool(data.get("stream")),
        include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
        openai_extra={k: data[k] for k in OPENAI_PASSTHROUGH if data.get(k) is not None},
    )


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(_("`messages` must be a non-empty list of objects with `role` and `content`."))
    messages = []
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest(_("`messages` must be a non-empty list of objects with `role` and `content`."))
        role = _ROLES.get(str(item.get("role")))
        if role is None:
            text = _("Role {role!r} is not supported by the hub's LLM gateway: use system, user or assistant.")
            raise BadRequest(text.format(role=item.get("role")))
        if item.get("tool_calls") or item.get("function_call"):
            raise BadRequest(_("Tools and function calls are not supported by the hub's LLM gateway."))
        messages.append(Message(role, _content(item.get("content"))))
    return messages


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise BadRequest(_("Only text messages are supported by the hub's LLM gateway."))
        return "".join(texts)
    raise BadRequest(_("Only text messages are supported by the hub's LLM gateway."))


def _number(data: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        text = _("`{name}` must be a number from {low} to {high}, not {value!r}.")
        raise BadRequest(text.format(name=name, low=low, high=high, value=value))
    return float(value)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(_("`{name}` must be a whole number above 0, not {value!r}.").format(name=name, value=value))
    return value


# -- answers ------------------------------------------------------------------------------------------------------


class Frames:
    """The server-sent events of one answer: every chunk shares an id, a creation time and the model's name."""

    DONE = b"data: [DONE]\n\n"

    def __init__(self, model_id: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model_id = model_id
        head = _dumps({"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": model_id})
        # Every chunk starts alike: built once, so a chunk costs one small encode of its text.
        self._head = b"data: " + head[:-1].encode() + b',"choices":[{"index":0,"delta":'
        self._first = True

    def delta(self, text: str, *, replace: bool = False) -> bytes:
        delta: dict[str, str] = {"content": text}
        if self._first:
            delta = {"role": "assistant", "content": text}
            self._first = False
        tail = b',"finish_reason":null,"mmchat_replace":true}]}\n\n' if replace else b',"finish_reason":null}]}\n\n'
        return self._head + _dumps(delta).encode() + tail

    def finish(self, reason: str | None) -> bytes:
        delta = b'{"role":"assistant","content":""}' if self._first else b"{}"
        self._first = False
        return self._head + delta + b',"finish_reason":' + _dumps(reason or "stop").encode() + b"}]}\n\n"

    def usage(self, usage: Usage) -> bytes:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model_id,
                "choices": [], "usage": usage.as_dict()}
        return b"data: " + _dumps(body).encode() + b"\n\n"

    def completion(self, text: str, reason: str | None, usage: Usage) -> dict[str, Any]:
        """The whole answer as one `chat.completion` object (a request without `stream`)."""
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason or "stop",
                  "logprobs": None}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model_id,
                "choices": [choice], "usage": usage.as_dict()}


def error_body(message: str, kind: str, code: str | int | None = None) -> dict[str, Any]:
    """OpenAI's error object: what the `openai` package raises from, and what mmchat's client shows as it is."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_frame(message: str, kind: str, status: int) -> bytes:
    """An error inside a stream that had begun: the client keeps the text so far and shows the message."""
    return b"data: " + _dumps(error_body(message, kind, status)).encode() + b"\n\n"
