"""A fake OpenAI-compatible server, and the streamed-answer machinery FakeYandex shares with it.

    with FakeOpenAI(api_key="sk-test") as server:          # base_url = server.url + "/v1"
        server.script(["Hello", " world"])                   # answer every prompt with these deltas
        server.replay(recorded_sse_bytes)                    # or replay a recorded body byte for byte
        server.fail(429, retry_after=0.2)                    # the next answer is an error with the real body shape
        server.tamper(drop_after=3)                          # ... or a stream that breaks (see `Tamper`)

Without a script the answer is "You said: <the last user message>". Scripted answers come in one of two styles
seen in recordings: "qwen" (a role-only first chunk, deltas, an empty-delta chunk with the finish reason, then a
usage-only chunk when `stream_options.include_usage` is set) and "yandex" (the finish reason rides on the last
text chunk, no usage chunk).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .server import FakeServer, Reply, Request


@dataclass
class Tamper:
    """What goes wrong with one streamed answer. Frames are NDJSON lines or SSE events, counted from 0."""

    #: Answer with this error status (and the protocol's real error body) instead of a stream.
    status: int = 200
    message: str | None = None
    retry_after: float | None = None
    #: Seconds before the headers: a read timeout before the first byte.
    stall: float = 0.0
    #: Seconds between frames: a read timeout mid-stream.
    delay: float = 0.0
    #: Close the connection after this many frames, without ending the chunked body.
    drop_after: int | None = None
    #: Replace this frame with a malformed one.
    corrupt_at: int | None = None
    #: Replace this frame with an error event (`error_status`) and end the stream there.
    error_at: int | None = None
    error_status: int = 500


@dataclass(frozen=True)
class Wire:
    """How one protocol frames a streamed answer and its errors."""

    separator: bytes
    headers: dict[str, str]
    #: (status, message) -> the error body as the real server sends it.
    error_body: Callable[[int, str], bytes]
    #: (status, message) -> an error frame inside a stream.
    error_frame: Callable[[int, str], bytes]
    malformed_frame: bytes
    #: status -> the message its error body carries unless a test chose one.
    messages: dict[int, str]

    def split(self, body: bytes) -> list[bytes]:
        """A recorded body cut into its frames, separators kept, so that joining them gives the body back."""
        parts = body.split(self.separator)
        frames = [part + self.separator for part in parts[:-1]]
        return frames + [parts[-1]] if parts[-1] else frames


def _openai_error_body(status: int, message: str) -> bytes:
    kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
    error = {"message": message, "type": kind.get(status, "server_error" if status >= 500 else "invalid_request_error")}
    return compact_json({"error": error}) + b"\n"  # the real body ends with a newline


OPENAI_WIRE = Wire(
    separator=b"\n\n",
    headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    error_body=_openai_error_body,
    error_frame=lambda status, message: b"data: " + _openai_error_body(status, message) + b"\n",
    malformed_frame=b'data: {"id":"chatcmpl-broken","choices":[{"index":0,"delta":{"content":"tru\n\n',
    messages={
        400: "invalid tool choice: foo",  # real, from Yandex's /v1 endpoint
        401: "Incorrect API key provided",
        403: "Permission denied",
        404: "The model does not exist",
        413: "Request too large",
        422: "Unprocessable request",
        429: "Rate limit reached, retry later",
        500: "Internal server error",
        503: "The server is overloaded",
    },
)


class FakeOpenAI(FakeServer):
    """`POST /v1/chat/completions` (streamed or not) and `GET /v1/models`.

    `api_key`: when set, requests must carry `Authorization: Bearer <api_key>`; otherwise any (or none) passes,
    like a local Ollama. `piece`: send bodies in pieces of this many bytes instead of one write per frame.
    """

    style = "qwen"
    model_ids: Sequence[str] = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")

    def __init__(self, *, api_key: str | None = None, piece: int | None = None) -> None:
        super().__init__()
        self.api_key = api_key
        self.piece = piece
        self.request_ids: list[str] = []
        self._texts: list[str] | None = None
        self._finish = "stop"
        self._replay: bytes | None = None
        self._tampers: list[Tamper] = []
        self.route("POST", "/v1/chat/completions", self._chat_completions)
        self.route("GET", "/v1/models", self._models)

    # -- what to answer ------------------------------------------------------------------------------------------

    def script(self, pieces: Sequence[str], *, finish: str = "stop") -> None:
        """Answer every prompt with these pieces (deltas), ending with `finish` (stop, length, content_filter)."""
        self.script_texts(list(itertools.accumulate(pieces)), finish=finish)

    def script_texts(self, texts: Sequence[str], *, finish: str = "stop") -> None:
        """Answer with these successive whole texts. Only the native Yandex stream can revise earlier text;
        here a text that does not extend the previous one is sent as a delta of all of it."""
        self._texts, self._finish, self._replay = list(texts), finish, None

    def unscript(self) -> None:
        """Back to the default answer, "You said: <the last user message>"."""
        self._texts, self._finish, self._replay = None, "stop", None

    def replay(self, body: bytes, *, piece: int | None = None) -> None:
        """Answer every chat request with exactly these bytes (a recorded body), optionally in `piece`-byte writes."""
        self._replay, self._texts = body, None
        if piece is not None:
            self.piece = piece

    # -- what goes wrong -----------------------------------------------------------------------------------------

    def fail(
        self, status: int, *, times: int = 1, retry_after: float | None = None, message: str | None = None
    ) -> None:
        """The next `times` chat requests get `status` with the protocol's real error body."""
        for _ in range(times):
            self.tamper(status=status, retry_after=retry_after, message=message)

    def tamper(self, **knobs: Any) -> None:
        """Spoil the next chat answer as `Tamper(**knobs)` says."""
        with self._lock:
            self._tampers.append(Tamper(**knobs))

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._tampers.clear()
            self.request_ids.clear()

    # -- serving -------------------------------------------------------------------------------------------------

    def answer_texts(self, prompt: str, max_tokens: Any) -> tuple[list[str], str]:
        """The successive whole texts of the answer to `prompt`, and how it ends; one text stands for a token."""
        texts = list(itertools.accumulate(["You said: ", prompt])) if self._texts is None else self._texts
        texts, finish = texts or [""], self._finish
        if max_tokens is not None and int(max_tokens) < len(texts):
            texts, finish = texts[: int(max_tokens)], "length"
        return texts, finish

    def stream_reply(self, frames: list[bytes], wire: Wire) -> Reply:
        """The reply for one streamed answer, spoiled by the next queued `Tamper` if there is one."""
        with self._lock:
            tamper = self._tampers.pop(0) if self._tampers else Tamper()
        headers: dict[str, str] = {}
        if tamper.status != 200:
            if tamper.retry_after is not None:
                headers["Retry-After"] = f"{tamper.retry_after:g}"
            return self.error_reply(wire, tamper.status, tamper.message, headers)
        frames = list(frames) if self._replay is None else wire.split(self._replay)
        if tamper.corrupt_at is not None:
            frames[tamper.corrupt_at] = wire.malformed_frame
        if tamper.error_at is not None:
            message = tamper.message or wire.messages.get(tamper.error_status, "error")
            frames = frames[: tamper.error_at] + [wire.error_frame(tamper.error_status, message)]
        chunks, drop_after = self._pieces(frames), None
        if tamper.drop_after is not None:
            sent = self._pieces(frames[: tamper.drop_after])
            chunks, drop_after = sent + [b"".join(frames[tamper.drop_after :]) or b"\n"], len(sent)
        headers.update(wire.headers)
        return Reply(200, headers, chunks=chunks, delay=tamper.delay, stall=tamper.stall, drop_after=drop_after)

    def error_reply(
        self, wire: Wire, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        body = wire.error_body(status, message or wire.messages.get(status, "error"))
        return Reply(status, {**(headers or {}), "Content-Type": "application/json"}, body)

    def finalize(self, request: Request, reply: Reply) -> Reply:
        """Every reply carries ids as Yandex's balancer sends them: the server's for support requests (also kept
        in `request_ids`), and the client's own `x-client-request-id` echoed."""
        request_id = str(uuid.uuid4())
        self.request_ids.append(request_id)
        ids = {"x-request-id": request_id, "x-server-trace-id": f"{request_id[:16]}:1", "server": "ycalb"}
        if request.header("x-client-request-id"):
            ids["x-client-request-id"] = request.header("x-client-request-id")
        reply.headers = {**ids, **reply.headers}
        return reply

    def authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        return request.header("authorization") == f"Bearer {self.api_key}"

    def _pieces(self, frames: list[bytes]) -> list[bytes]:
        if not self.piece:
            return list(frames)
        body = b"".join(frames)
        return [body[i : i + self.piece] for i in range(0, len(body), self.piece)]

    def _chat_completions(self, request: Request) -> Reply:
        if not self.authorized(request):
            return self.error_reply(OPENAI_WIRE, 401)
        body = request.json()
        prompt = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
        texts, finish = self.answer_texts(prompt, body.get("max_tokens"))
        usage = {"prompt_tokens": count_words(body["messages"], "content"), "completion_tokens": len(texts)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if not body.get("stream"):
            message = {"role": "assistant", "content": texts[-1]}
            payload = {**self._envelope(body, "chat.completion"), "usage": usage}
            payload["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
            return Reply.json(200, payload)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = self._sse_frames(body, texts, finish, usage if include_usage else None)
        return self.stream_reply(frames, OPENAI_WIRE)

    def _sse_frames(self, body: dict, texts: list[str], finish: str, usage: dict | None) -> list[bytes]:
        envelope = self._envelope(body, "chat.completion.chunk")
        pairs = zip(["", *texts], texts, strict=False)  # each text after the one before it
        deltas = [text[len(prev) :] if text.startswith(prev) else text for prev, text in pairs]
        choices: list[dict[str, Any]] = []
        if self.style == "qwen":
            choices.append({"index": 0, "delta": {"role": "assistant"}})
            choices += [{"index": 0, "delta": {"content": delta}} for delta in deltas]
            choices.append({"index": 0, "delta": {}, "finish_reason": finish})
        else:
            contents = [{"content": delta} for delta in deltas] or [{}]
            contents[0] = {"role": "assistant", **contents[0]}
            choices = [{"index": 0, "delta": delta} for delta in contents]
            choices[-1]["finish_reason"] = finish
        events = [{**envelope, "choices": [choice]} for choice in choices]
        if usage is not None and self.style == "qwen":
            events.append({**envelope, "choices": [], "usage": usage})
        frames = [b"data: " + compact_json(event) + b"\n\n" for event in events]
        return frames + [b"data: [DONE]\n\n"]

    def _envelope(self, body: dict, kind: str) -> dict[str, Any]:
        return {"id": f"chatcmpl-{uuid.uuid4()}", "object": kind, "created": int(time.time()), "model": body["model"]}

    def _models(self, request: Request) -> Reply:
        if not self.authorized(request):
            return self.error_reply(OPENAI_WIRE, 401)
        data = [{"id": i, "object": "model", "owned_by": "fake", "created": 0} for i in self.model_ids]
        return Reply.json(200, {"object": "list", "data": data})


def compact_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def count_words(messages: list[dict], field: str) -> int:
    return sum(len(str(m.get(field, "")).split()) for m in messages)


#: What a real LiteLLM proxy (1.82.6, mock mode) said to mmchat_jupyter, recorded byte for byte (README.md there).
LITELLM_RECORDING = Path(__file__).resolve().parents[1] / "data" / "litellm"


class RecordedLiteLLM(FakeServer):
    """Replays the recorded LiteLLM proxy: the answers it gave, with its headers and its own chunk boundaries.

    Like the real proxy, it looks at what each request names: the key (`Authorization`: its master key, any other
    key, or none) and the model (one it lists at `/v1/models`, or not). Each combination gets the recorded answer
    for it; an unknown model's error names the model asked for, as the proxy's does. `models_asked` keeps every
    model name received, so a test can check the client sent the one it was configured with.
    """

    def __init__(self) -> None:
        super().__init__()
        self.exchanges = {e["step"]: e for e in json.loads((LITELLM_RECORDING / "exchanges.json").read_text())}
        recorded = dict(self.exchanges["stream"]["request"]["headers"])
        self.master_key = recorded["authorization"].removeprefix("Bearer ")
        listed = json.loads(self.exchanges["models"]["response"]["body"])
        self.model_ids = [item["id"] for item in listed["data"]]
        self.models_asked: list[str] = []
        self.route("POST", "/v1/chat/completions", self._chat_completions)
        self.route("GET", "/v1/models", self._models)

    @property
    def recorded_request(self) -> Any:
        """The body mmchat_jupyter sent the real proxy for the streamed answer."""
        return json.loads(self.exchanges["stream"]["request"]["body"])

    @property
    def recorded_answer(self) -> str:
        """The text of the recorded stream, as its deltas add up."""
        text = ""
        for frame in self.exchanges["stream"]["response"]["body"].split("\n\n"):
            if frame.startswith("data: {"):
                for choice in json.loads(frame[6:])["choices"]:
                    text += choice.get("delta", {}).get("content") or ""
        return text

    def _refused(self, request: Request, step: str) -> Reply | None:
        authorization = request.header("authorization")
        if authorization is None:
            return self._reply("no-key")
        if authorization != f"Bearer {self.master_key}":
            return self._reply(step)
        return None

    def _chat_completions(self, request: Request) -> Reply:
        refused = self._refused(request, "bad-key")
        if refused is not None:
            return refused
        model = request.json().get("model")
        self.models_asked.append(model)
        if model not in self.model_ids:
            recorded = self.exchanges["unknown-model"]["request"]
            asked = json.loads(recorded["body"])["model"]
            return self._reply("unknown-model", lambda body: body.replace(f"model={asked}", f"model={model}"))
        return self._reply("stream")

    def _models(self, request: Request) -> Reply:
        return self._refused(request, "bad-key-models") or self._reply("models")

    def _reply(self, step: str, edit: Callable[[str], str] = lambda body: body) -> Reply:
        response = self.exchanges[step]["response"]
        skip = {"content-length", "transfer-encoding", "date", "server"}  # the fake server frames its own replies
        headers = {name: value for name, value in response["headers"] if name.lower() not in skip}
        if response["chunks"]:
            return Reply(response["status"], headers, chunks=[edit(c).encode() for c in response["chunks"]])
        return Reply(response["status"], headers, edit(response["body"]).encode())
