"""Each answer speaks its user's language: the saved `lang` first, else the request's Accept-Language, else the
server's; requests in different languages served at the same time do not borrow each other's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mmchat_jupyter.i18n import pick_language
from mmchat_jupyter.providers import list_providers

UNKNOWN = {"prompt": "x", "provider": "nosuch"}
# Every installed provider is a choice (the test environment has the example plugins too).
ENGLISH = f"Unknown provider 'nosuch': choose one of {', '.join(list_providers())}."
RUSSIAN = f"Неизвестный провайдер 'nosuch': выберите один из {', '.join(list_providers())}."


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),  # Chromium in Russian
        ("en-US,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,de;q=0.9,ru;q=0.5", "ru"),  # the best language we ship, not the first listed
        ("ru;q=0, en", "en"),  # q=0 means "not this one"
        ("fr, de", None),
        ("", None),
        ("ru;q=abc", None),
    ],
)
def test_pick_language(header: str, expected: str | None) -> None:
    assert pick_language(header) == expected


def message(client: httpx.Client, chat: str, **headers: str) -> str:
    answer = client.post(f"/chats/{chat}/messages", json=UNKNOWN, headers=headers)
    assert answer.status_code == 400
    text: str = answer.json()["message"]
    return text


def test_requests_at_once_each_in_its_own_language(api: httpx.Client) -> None:
    """Engine messages made in worker threads (an unknown chat, a value the settings refuse), many at once."""

    def ask(i: int) -> str:
        headers = {"Accept-Language": "ru"} if i % 2 else {}
        if i % 4 < 2:
            answer = api.get("/chats/no-such-chat", headers=headers)
        else:
            answer = api.patch("/settings", json={"temperature": 9}, headers=headers)
        text: str = answer.json()["message"]
        return text

    expected = [ask(i) for i in range(4)]  # one of each, one at a time
    assert len(set(expected)) == 4
    assert [any("а" <= c <= "я" for c in text.lower()) for text in expected] == [False, True, False, True]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, range(48)))
    assert answers == [expected[i % 4] for i in range(48)]


@pytest.fixture
def saved_russian(api: httpx.Client) -> Iterator[None]:
    assert api.patch("/settings", json={"lang": "ru"}).status_code == 200
    yield
    api.patch("/settings", json={"lang": "en"})


def test_the_saved_language_comes_first(api: httpx.Client, chat: str, saved_russian: None) -> None:
    assert message(api, chat) == RUSSIAN
    assert message(api, chat, **{"Accept-Language": "en-US,en"}) == RUSSIAN
    settings = api.get("/settings").json()
    assert settings["saved"]["lang"] == "ru" and settings["effective"]["lang"] == "ru"
