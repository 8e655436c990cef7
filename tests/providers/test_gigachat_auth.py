"""Getting in to GigaChat: the OAuth token flow, and TLS with a custom CA for both hosts (real sockets)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mmchat_jupyter.errors import AuthError, InvalidRequestError, ProviderConnectionError
from mmchat_jupyter.providers._gigachat_auth import GigaChatAuth
from mmchat_jupyter.providers.gigachat import GigaChatProvider
from mmchat_jupyter.types import Message
from tests.fakes.gigachat import CREDENTIALS, OAUTH_PATH, FakeGigaChat
from tests.fakes.server import Reply

ASK = [Message("user", "Say hello")]


def bearer(request) -> str:
    return request.header("authorization").removeprefix("Bearer ")


def issue_token(fake: FakeGigaChat) -> str:
    """A token obtained outside the provider, as a user would paste into GIGACHAT_ACCESS_TOKEN."""
    headers = {"Authorization": f"Basic {fake.credentials}", "RqUID": str(uuid.uuid4())}
    response = httpx.post(fake.url + OAUTH_PATH, headers=headers, data={"scope": "GIGACHAT_API_PERS"})
    return response.json()["access_token"]


def test_token_is_fetched_lazily_once_and_shared_by_sync_and_async_calls(fake, make):
    provider = make()
    assert fake.token_requests == 0
    for _ in range(3):
        assert provider.complete(ASK).text == "Hello!"

    async def twice():
        return [(await provider.acomplete(ASK)).text for _ in range(2)]

    assert asyncio.run(twice()) == ["Hello!", "Hello!"]
    assert fake.token_requests == 1
    assert {bearer(r) for r in fake.calls("/api/v1/chat/completions")} == set(fake.tokens)


def test_token_request_is_what_the_oauth_host_expects(fake, make):
    provider = make(scope="GIGACHAT_API_PERS")
    provider.complete(ASK)
    fake.expire_tokens()
    provider.complete(ASK)
    first, second = fake.calls(OAUTH_PATH)
    assert first.header("authorization") == f"Basic {CREDENTIALS}"
    assert first.header("content-type") == "application/x-www-form-urlencoded"
    assert first.header("accept") == "application/json"
    assert first.body == b"scope=GIGACHAT_API_PERS"
    assert uuid.UUID(first.header("rquid")).version == 4
    assert first.header("rquid") != second.header("rquid")


def test_token_near_expiry_is_replaced_before_use():
    # A 61 s token is usable for 1 s: after that it is within the 60 s safety margin.
    with FakeGigaChat(token_lifetime=61) as fake:
        provider = GigaChatProvider(**fake.settings())
        provider.complete(ASK)
        provider.complete(ASK)
        assert fake.token_requests == 1
        time.sleep(1.05)
        provider.complete(ASK)
        provider.close()
    assert fake.token_requests == 2
    # Proactive: the server never had to refuse the old token.
    assert fake.chat_requests == 3
    first, _, last = fake.calls("/api/v1/chat/completions")
    assert bearer(first) != bearer(last)


def test_token_expired_on_the_server_is_renewed_once_and_the_stream_still_arrives(fake, make):
    provider = make()
    provider.complete(ASK)
    fake.expire_tokens()
    answer = provider.complete(ASK)
    assert answer.text == "Hello!" and answer.finish_reason == "stop"
    assert fake.token_requests == 2
    assert fake.chat_requests == 3  # the first answer, the refused one, the repeat
    _, refused, repeated = fake.calls("/api/v1/chat/completions")
    assert bearer(refused) != bearer(repeated)
    assert refused.header("x-request-id") == repeated.header("x-request-id")


def test_async_token_expired_on_the_server_is_renewed_once(fake, make):
    provider = make()

    async def run():
        await provider.acomplete(ASK)
        fake.expire_tokens()
        return await provider.acomplete(ASK)

    assert asyncio.run(run()).text == "Hello!"
    assert (fake.token_requests, fake.chat_requests) == (2, 3)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_persistent_401_is_one_auth_error_without_a_retry_loop(fake, make, asynchronous):
    provider = make()
    fake.fail(401, times=5, message="Token has expired")
    with pytest.raises(AuthError) as caught:
        if asynchronous:
            asyncio.run(provider.acomplete(ASK))
        else:
            provider.complete(ASK)
    error = caught.value
    assert (fake.token_requests, fake.chat_requests) == (2, 2)
    assert "\n" not in str(error) and "Token has expired" in str(error)
    assert "GIGACHAT_CREDENTIALS" in str(error)
    assert (error.provider, error.status) == ("gigachat", 401)
    assert error.request_id == fake.calls("/api/v1/chat/completions")[-1].header("x-request-id")


@pytest.mark.parametrize(
    ("settings", "status", "said"),
    [
        ({"credentials": "d3Jvbmc6a2V5"}, 401, "credentials doesn't match db data"),
        ({"scope": "GIGACHAT_API_CORP"}, 401, "scope from db not fully includes consumed scope"),
        ({"scope": "EVERYTHING"}, 400, "scope data format invalid"),
    ],
)
def test_oauth_refusal_is_a_one_line_auth_error(fake, make, settings, status, said):
    provider = make(**settings)
    with pytest.raises(AuthError) as caught:
        provider.complete(ASK)
    error = caught.value
    assert str(error) == (
        f"GigaChat did not issue an access token ({status}: {said}): check GIGACHAT_CREDENTIALS and GIGACHAT_SCOPE."
    )
    assert (error.provider, error.status) == ("gigachat", status)
    assert (fake.token_requests, fake.chat_requests) == (1, 0)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_oauth_host_failing_on_its_side_is_retried_like_the_api(fake, make, asynchronous):
    provider = make()
    fake.fail_next(Reply.json(503, {"status": 503, "message": "Service Unavailable"}), path=OAUTH_PATH)
    answer = asyncio.run(provider.acomplete(ASK)) if asynchronous else provider.complete(ASK)
    assert answer.text == "Hello!"
    assert (fake.token_requests, fake.chat_requests) == (2, 1)


def test_token_response_without_a_token_points_at_the_auth_url(fake, make):
    provider = make()
    fake.fail_next(Reply.json(200, {"tok": "x", "exp": 1}), path=OAUTH_PATH)
    with pytest.raises(AuthError, match="sent no access token: check GIGACHAT_AUTH_URL") as caught:
        provider.complete(ASK)
    assert (caught.value.status, fake.chat_requests) == (200, 0)


@pytest.mark.parametrize(
    ("headers", "form", "expected"),
    [
        ({"Authorization": "Bearer x", "RqUID": str(uuid.uuid4())}, {"scope": "GIGACHAT_API_PERS"}, 4),
        ({"Authorization": f"Basic {CREDENTIALS}"}, {"scope": "GIGACHAT_API_PERS"}, 4),
        ({"Authorization": f"Basic {CREDENTIALS}", "RqUID": str(uuid.uuid4())}, {}, 5),
    ],
)
def test_fake_oauth_host_refuses_malformed_token_requests(fake, headers, form, expected):
    response = httpx.post(fake.url + OAUTH_PATH, headers=headers, data=form)
    assert (response.status_code, response.json()["code"]) == (400, expected)
    assert fake.tokens == {}


def test_user_supplied_token_is_trusted_until_refused_then_renewed_with_credentials(fake, make):
    token = issue_token(fake)
    provider = make(access_token=token)
    provider.complete(ASK)
    assert fake.token_requests == 1  # only ours, in issue_token()
    fake.expire_tokens()
    assert provider.complete(ASK).text == "Hello!"
    assert fake.token_requests == 2


def test_user_supplied_token_alone_fails_once_refused(fake, monkeypatch):
    monkeypatch.setenv("GIGACHAT_ACCESS_TOKEN", issue_token(fake))
    provider = GigaChatProvider(auth_url=fake.url + OAUTH_PATH, base_url=fake.url + "/api/v1")
    assert provider.complete(ASK).text == "Hello!"
    fake.expire_tokens()
    with pytest.raises(AuthError, match=r"\(401: Token has expired\)"):
        provider.complete(ASK)
    assert (fake.token_requests, fake.chat_requests) == (1, 2)


def test_no_credentials_at_all_is_an_auth_error_before_any_request(fake):
    provider = GigaChatProvider(auth_url=fake.url + OAUTH_PATH, base_url=fake.url + "/api/v1")
    with pytest.raises(AuthError, match="GIGACHAT_CREDENTIALS") as caught:
        provider.complete(ASK)
    assert "\n" not in str(caught.value)
    assert fake.requests == []


def test_concurrent_async_calls_share_one_token_fetch(fake, make):
    provider = make()

    async def many():
        return await asyncio.gather(*(provider.acomplete(ASK) for _ in range(8)))

    assert [a.text for a in asyncio.run(many())] == ["Hello!"] * 8
    assert fake.token_requests == 1


def test_concurrent_threads_share_one_token_fetch(fake, make):
    provider = make()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: provider.complete(ASK).text, range(8)))
    assert answers == ["Hello!"] * 8
    assert fake.token_requests == 1


def test_credentials_and_tokens_never_show(fake, make):
    provider = make()
    provider.complete(ASK)
    (token,) = fake.tokens
    shown = repr(provider) + str(vars(provider)) + repr(provider._tokens.token)
    assert CREDENTIALS not in shown and token not in shown
    fake.fail(400, message=f"bad header Bearer {token}")
    with pytest.raises(InvalidRequestError) as caught:
        provider.complete(ASK)
    assert token not in str(caught.value) and "***" in str(caught.value)


def test_auth_flow_never_buffers_the_answer():
    assert GigaChatAuth.requires_response_body is False


# -- TLS --------------------------------------------------------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own root, like a private CA: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mmchat test root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict.fromkeys(["content_commitment", "key_encipherment", "data_encipherment", "key_agreement"], False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
                **usage,
            ),
            True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_fake(tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with FakeGigaChat(ssl_context=context) as server:
        yield server, cert


def test_ca_bundle_from_the_environment_verifies_both_hosts(tls_fake, monkeypatch):
    fake, cert = tls_fake
    assert fake.url.startswith("https://127.0.0.1:")
    monkeypatch.setenv("GIGACHAT_CA_BUNDLE_FILE", str(cert))
    provider = GigaChatProvider(**fake.settings())
    sync, asynchronous = provider.complete(ASK), asyncio.run(provider.acomplete(ASK))
    assert sync.text == asynchronous.text == "Hello!"
    assert (fake.token_requests, fake.chat_requests) == (1, 2)


def test_default_verification_fails_with_a_hint_and_no_retries(tls_fake):
    fake, _ = tls_fake
    provider = GigaChatProvider(**fake.settings(backoff=5))  # a retry would show as a 5 s wait
    started = time.monotonic()
    with pytest.raises(ProviderConnectionError) as caught:
        provider.complete(ASK)
    assert time.monotonic() - started < 2
    assert "\n" not in str(caught.value) and "GIGACHAT_CA_BUNDLE_FILE" in str(caught.value)
    assert fake.requests == []


def test_verification_can_be_turned_off(tls_fake, monkeypatch):
    fake, _ = tls_fake
    monkeypatch.setenv("GIGACHAT_VERIFY_SSL_CERTS", "false")
    assert GigaChatProvider(**fake.settings()).complete(ASK).text == "Hello!"
