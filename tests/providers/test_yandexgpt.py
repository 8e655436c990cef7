"""YandexGPT's native API: request building, sync/async parity and faults over real sockets (the parser alone:
test_yandexgpt_stream.py)."""

from __future__ import annotations

import json
import ssl
import time
import uuid

import pytest

from mmchat_jupyter.errors import (
    AuthError,
    ConfigError,
    ContentFiltered,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeout,
    RateLimitError,
    ServerError,
    StreamError,
)
from mmchat_jupyter.providers import get_provider
from mmchat_jupyter.providers._parsing import BodyParser
from mmchat_jupyter.providers.yandexgpt import YandexGPTProvider, YandexStreamParser
from mmchat_jupyter.types import Chunk, GenerationParams, Message, Usage
from tests.fakes.server import trickle_transports
from tests.fakes.yandex import FakeYandex
from tests.providers import drivers
from tests.providers.drivers import total

KEY = "AQVN-test-key-0001"
FOLDER = "b1gtestfolder"
PROMPT = [Message("system", "Be brief."), Message("user", "Tell me about platypuses")]
MODES = ["sync", "async"]
STREAM = "derived/yandex_native_test_run_stream.SYNTH_FROM_GRPC.ndjson"
#: One TLS context for every client: building one loads the CA bundle, the bulk of a client's start-up cost.
TLS = ssl.create_default_context()
#: Real REST frames (2026) quoted in provider-protocols.md §2.5: Cyrillic, so reads split mid-character.
CYRILLIC = (
    '{"result":{"alternatives":[{"message":{"role":"assistant","text":"Один"},'
    '"status":"ALTERNATIVE_STATUS_PARTIAL"}],"usage":{"inputTextTokens":"15","completionTokens":"1",'
    '"totalTokens":"16","completionTokensDetails":{"reasoningTokens":"0"}},"modelVersion":"09.02.2025"}}\n'
    '{"result":{"alternatives":[{"message":{"role":"assistant","text":"Один, два, три, четыре, пять."},'
    '"status":"ALTERNATIVE_STATUS_FINAL"}],"usage":{"inputTextTokens":"15","completionTokens":"10",'
    '"totalTokens":"25","completionTokensDetails":{"reasoningTokens":"0"}},"modelVersion":"09.02.2025"}}\n'
).encode()


@pytest.fixture
def server():
    with FakeYandex() as fake:
        yield fake


@pytest.fixture
def recorded(fixtures_dir) -> bytes:
    return (fixtures_dir / STREAM).read_bytes()


def texts_of(body: bytes) -> list[str]:
    """The cumulative text of each message in a recorded body."""
    return [json.loads(line)["result"]["alternatives"][0]["message"]["text"] for line in body.splitlines()]


def make(server: FakeYandex, **settings) -> YandexGPTProvider:
    settings = {"api_key": KEY, "folder_id": FOLDER, "backoff": 0.01, "verify": TLS, **settings}
    return YandexGPTProvider(base_url=server.url, **settings)


def run(provider, mode: str, params: GenerationParams | None = None) -> list[Chunk]:
    return drivers.run(provider, mode, PROMPT, params)


def check_error(exc: ProviderError, **expected) -> None:
    drivers.check_error(exc, provider="yandexgpt", secret=KEY, **expected)



def parse(body: bytes) -> list[Chunk]:
    """The chunks of a whole body fed at once: what every way of splitting it must give."""
    parser = BodyParser(YandexStreamParser())
    return parser.feed(body) + parser.finish()


# -- building the request (no I/O) -----------------------------------------------------------------------------


def test_request_shape():
    provider = YandexGPTProvider(api_key=KEY, folder_id=FOLDER)
    params = GenerationParams(model="yandexgpt/rc", temperature=0.2, max_tokens=500, extra={"reasoningOptions": {}})
    request = provider.build_request(PROMPT, params)
    assert request.method == "POST"
    assert str(request.url) == "https://llm.api.cloud.yandex.net/foundationModels/v1/completion"
    assert request.headers["authorization"] == f"Api-Key {KEY}"
    assert request.headers["x-data-logging-enabled"] == "false"
    assert "x-folder-id" not in request.headers  # a service account's key implies its folder
    uuid.UUID(request.headers["x-client-request-id"])
    assert json.loads(request.content) == {
        "modelUri": f"gpt://{FOLDER}/yandexgpt/rc",
        "completionOptions": {"reasoningOptions": {}, "stream": True, "temperature": 0.2, "maxTokens": "500"},
        "messages": [{"role": "system", "text": "Be brief."}, {"role": "user", "text": "Tell me about platypuses"}],
    }
    again = provider.build_request(PROMPT, params)
    assert again.headers["x-client-request-id"] != request.headers["x-client-request-id"]


def test_iam_token_is_a_bearer_with_the_folder():
    request = YandexGPTProvider(iam_token="t1.iam-token", folder_id=FOLDER).build_request(PROMPT, GenerationParams())
    assert request.headers["authorization"] == "Bearer t1.iam-token"
    assert request.headers["x-folder-id"] == FOLDER


@pytest.mark.parametrize(
    "model, uri",
    [
        ("yandexgpt", f"gpt://{FOLDER}/yandexgpt/latest"),
        ("yandexgpt-lite", f"gpt://{FOLDER}/yandexgpt-lite/latest"),
        ("yandexgpt/rc", f"gpt://{FOLDER}/yandexgpt/rc"),
        ("llama-lite", f"gpt://{FOLDER}/llama-lite/latest"),
        ("gpt://other/yandexgpt/deprecated", "gpt://other/yandexgpt/deprecated"),
        ("ds://bt1tuned", "ds://bt1tuned"),
    ],
)
def test_model_uri(model, uri):
    assert YandexGPTProvider(api_key=KEY, folder_id=FOLDER).model_uri(model) == uri


def test_missing_folder_is_a_one_line_config_error():
    provider = YandexGPTProvider(api_key=KEY)
    with pytest.raises(ConfigError, match="set YANDEX_FOLDER_ID") as info:
        provider.build_request(PROMPT, GenerationParams())
    assert "\n" not in str(info.value)
    whole = provider.build_request(PROMPT, GenerationParams(model="gpt://b1g/yandexgpt/latest"))
    assert json.loads(whole.content)["modelUri"] == "gpt://b1g/yandexgpt/latest"


def test_missing_credentials_is_a_config_error():
    with pytest.raises(ConfigError, match="YANDEX_API_KEY"):
        YandexGPTProvider(folder_id=FOLDER).build_request(PROMPT, GenerationParams())


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("YANDEX_API_KEY", "AQVN-from-env")
    monkeypatch.setenv("YANDEX_IAM_TOKEN", "t1.from-env")
    monkeypatch.setenv("YANDEX_FOLDER_ID", "b1genv")
    monkeypatch.setenv("YANDEX_BASE_URL", "http://127.0.0.1:9/")
    provider = get_provider("yandexgpt")
    request = provider.build_request(PROMPT, GenerationParams())
    assert str(request.url) == "http://127.0.0.1:9/foundationModels/v1/completion"
    assert request.headers["authorization"] == "Api-Key AQVN-from-env"  # the key wins over the IAM token
    assert json.loads(request.content)["modelUri"] == "gpt://b1genv/yandexgpt-lite/latest"
    # An explicit credential of either kind beats the environment.
    explicit = YandexGPTProvider(iam_token="t1.explicit").build_request(PROMPT, GenerationParams())
    assert explicit.headers["authorization"] == "Bearer t1.explicit"
    assert YandexGPTProvider.configured({"YANDEX_IAM_TOKEN": "t1.x"})
    assert not YandexGPTProvider.configured({"YANDEX_FOLDER_ID": "b1g"})


def test_credentials_never_show():
    provider = YandexGPTProvider(api_key=KEY, iam_token="t1.secret-iam", folder_id=FOLDER)
    shown = repr(provider) + str(vars(provider))
    assert KEY not in shown and "t1.secret-iam" not in shown


def test_class_attributes():
    assert YandexGPTProvider.credential_env == ("YANDEX_API_KEY", "YANDEX_IAM_TOKEN")
    assert {"yandexgpt", "yandexgpt-lite", "yandexgpt/rc", "llama", "llama-lite"} <= set(YandexGPTProvider.known_models)
    assert YandexGPTProvider.context_tokens == 32000
    assert "YANDEX_FOLDER_ID" in YandexGPTProvider.auth_hint


# -- parity: sync and async, however the body is split ---------------------------------------------------------


def test_recorded_stream_sync_and_async_agree(server, recorded):
    server.replay(recorded)
    provider = make(server)
    sync, async_ = run(provider, "sync"), run(provider, "async")
    assert sync == async_ == parse(recorded)
    assert total(sync).text == texts_of(recorded)[-1]


@pytest.mark.parametrize("body_name", ["recorded", "cyrillic"])
def test_one_byte_reads_give_the_same_chunks(body_name, recorded):
    body = recorded if body_name == "recorded" else CYRILLIC
    sync_transport, async_transport = trickle_transports(body, {"Content-Type": "application/json"})
    provider = YandexGPTProvider(
        base_url="http://yandex.test",
        api_key=KEY,
        folder_id=FOLDER,
        transport=sync_transport,
        async_transport=async_transport,
    )
    expected = parse(body)
    assert run(provider, "sync") == run(provider, "async") == expected


def test_small_writes_over_a_socket(server, recorded):
    server.replay(recorded, piece=7)
    provider = make(server)
    assert run(provider, "sync") == run(provider, "async") == parse(recorded)


# -- over the wire ---------------------------------------------------------------------------------------------


def test_what_goes_on_the_wire(server):
    answer = make(server).complete(PROMPT, GenerationParams(model="yandexgpt", max_tokens=10))
    assert answer.text == "You said: Tell me about platypuses" and answer.finish_reason == "stop"
    (request,) = server.requests
    assert request.header("authorization") == f"Api-Key {KEY}"
    assert request.header("x-data-logging-enabled") == "false"
    body = request.json()
    assert body["modelUri"] == f"gpt://{FOLDER}/yandexgpt/latest"
    assert body["completionOptions"] == {"stream": True, "maxTokens": "10"}
    assert body["messages"][1] == {"role": "user", "text": "Tell me about platypuses"}


def test_iam_token_over_the_wire(server):
    provider = make(server, api_key=None, iam_token="t1.iam-token")
    assert provider.complete(PROMPT).text.startswith("You said")
    assert server.requests[0].header("authorization") == "Bearer t1.iam-token"
    assert server.requests[0].header("x-folder-id") == FOLDER


def test_scripted_answer_streams_cumulatively(server):
    server.script(["Hello", ",", " world"])
    chunks = run(make(server), "sync")
    assert [c.text for c in chunks] == ["Hello", ",", " world"]
    assert chunks[-1].usage == Usage(6, 3, 9)


def test_prefix_rewrite_over_the_wire(server):
    server.script_texts(["Helo", "Hello, wor", "Hello, world!"])
    chunks = run(make(server), "async")
    assert [(c.text, c.replace) for c in chunks] == [("Helo", False), ("Hello, wor", True), ("ld!", False)]
    assert make(server).complete(PROMPT).text == "Hello, world!"


def test_content_filter_ends_the_stream_with_the_refusal(server):
    refusal = "I cannot talk about that. Let's change the subject."
    server.script_texts(["Here is how", refusal], finish="content_filter")
    provider = make(server)
    chunks = run(provider, "sync")
    assert chunks[-1].finish_reason == "content_filter" and chunks[-1].replace
    assert total(chunks).text == refusal
    with pytest.raises(ContentFiltered) as info:
        provider.complete(PROMPT)
    assert info.value.text == refusal


def test_max_tokens_truncates(server):
    server.script(["a", "b", "c"])
    answer = make(server).complete(PROMPT, GenerationParams(max_tokens=2))
    assert (answer.text, answer.finish_reason) == ("ab", "length")


def test_wrong_key_is_an_auth_error_that_hides_the_key():
    with FakeYandex(keys={"AQVN-the-right-key"}) as server, pytest.raises(AuthError) as info:
        make(server).complete(PROMPT)
    check_error(info.value, status=401, request_id=server.request_ids[-1])
    assert "***" in str(info.value) and "YANDEX_API_KEY" in str(info.value)


def test_bad_argument_comes_back_as_the_servers_message(server):
    with pytest.raises(InvalidRequestError, match="Temperature must be in"):
        make(server).complete(PROMPT, GenerationParams(temperature=1.5))


# -- the fault matrix ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "status, error",
    [
        (400, InvalidRequestError),
        (401, AuthError),
        (403, AuthError),
        (404, InvalidRequestError),
        (413, InvalidRequestError),
        (422, InvalidRequestError),
    ],
)
def test_refusals_are_not_retried(server, mode, status, error):
    server.fail(status)
    with pytest.raises(error) as info:
        run(make(server), mode)
    check_error(info.value, status=status, request_id=server.request_ids[-1])
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_failures_are_retried(server, mode, status):
    server.fail(status, retry_after=0.2 if status == 429 else None)
    started = time.monotonic()
    assert total(run(make(server), mode)).finish_reason == "stop"
    assert len(server.requests) == 2
    if status == 429:
        assert time.monotonic() - started >= 0.2  # Retry-After was honoured


@pytest.mark.parametrize("mode", MODES)
def test_persistent_rate_limit(server, mode):
    server.fail(429, times=3, retry_after=0.2)
    with pytest.raises(RateLimitError) as info:
        run(make(server), mode)
    check_error(info.value, status=429, request_id=server.request_ids[-1])
    assert info.value.retry_after == 0.2 and "retry in 1 s" in str(info.value)
    assert len(server.requests) == 3


def test_a_long_retry_after_is_not_waited_for(server):
    server.fail(429, retry_after=60)
    with pytest.raises(RateLimitError, match="retry in 60 s"):
        run(make(server), "sync")
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [500, 503])
def test_persistent_server_error(server, mode, status):
    server.fail(status, times=3)
    with pytest.raises(ServerError) as info:
        run(make(server), mode)
    check_error(info.value, status=status, request_id=server.request_ids[-1])
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", MODES)
def test_no_answer_within_the_read_timeout(server, mode):
    server.tamper(stall=2.0)
    with pytest.raises(ProviderTimeout) as info:
        run(make(server, read_timeout=0.3), mode)
    check_error(info.value, status=None, request_id=None)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", MODES)
def test_stall_mid_stream_keeps_the_text(server, mode, recorded):
    server.replay(recorded)
    server.tamper(delay=1.0)
    with pytest.raises(ProviderTimeout) as info:
        run(make(server, read_timeout=0.3), mode)
    check_error(info.value, status=200, request_id=server.request_ids[-1], partial=texts_of(recorded)[0])


@pytest.mark.parametrize("mode", MODES)
def test_dropped_connection_keeps_the_text(server, mode, recorded):
    server.replay(recorded)
    server.tamper(drop_after=3)
    with pytest.raises(ProviderConnectionError) as info:
        run(make(server), mode)
    check_error(info.value, status=200, request_id=server.request_ids[-1], partial=texts_of(recorded)[2])
    assert len(server.requests) == 1  # never retried once the answer has begun


@pytest.mark.parametrize("mode", MODES)
def test_malformed_line(server, mode, recorded):
    server.replay(recorded)
    server.tamper(corrupt_at=2)
    with pytest.raises(StreamError) as info:
        run(make(server), mode)
    check_error(info.value, status=200, request_id=server.request_ids[-1], partial=texts_of(recorded)[1])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status, error", [(500, ServerError), (429, RateLimitError), (400, InvalidRequestError)])
def test_error_line_mid_stream(server, mode, recorded, status, error):
    server.replay(recorded)
    server.tamper(error_at=2, error_status=status)
    with pytest.raises(error) as info:
        run(make(server), mode)
    check_error(info.value, status=status, request_id=server.request_ids[-1], partial=texts_of(recorded)[1])
    assert len(server.requests) == 1


def test_nothing_listening():
    with FakeYandex() as server:
        url = server.url
    with pytest.raises(ProviderConnectionError, match="Cannot reach YandexGPT") as info:
        run(YandexGPTProvider(base_url=url, api_key=KEY, folder_id=FOLDER, backoff=0.01, verify=TLS), "sync")
    check_error(info.value, status=None, request_id=None)
