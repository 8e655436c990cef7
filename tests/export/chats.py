"""Chats of every shape the exports must carry, with fixed ids and timestamps (golden files depend on them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from mmchat_jupyter.types import STATUS_ERROR, STATUS_INTERRUPTED, ChatRecord, MessageRecord

T0 = datetime(2024, 5, 1, 9, 30, tzinfo=timezone.utc)


def stamp(n: int) -> str:
    """The n-th timestamp of a chat: a minute and a few microseconds apart, as now_iso() writes them."""
    return (T0 + timedelta(minutes=n, microseconds=n * 1001)).isoformat()


def question(n: int, content: str) -> MessageRecord:
    return MessageRecord(id=f"m{n:04d}", role="user", content=content, created=stamp(n))


def answer(n: int, content: str, provider: str = "yandexgpt", model: str = "yandexgpt-lite", **fields) -> MessageRecord:
    words = len(content.split())
    defaults = {
        "params": {"model": model, "temperature": 0.3},
        "usage": {"prompt_tokens": 11, "completion_tokens": words, "total_tokens": 11 + words},
        "finish_reason": "stop",
    }
    return MessageRecord(
        id=f"m{n:04d}", role="assistant", content=content, created=stamp(n), provider=provider, model=model,
        **{**defaults, **fields},
    )


def chat(name: str, messages: list[MessageRecord], **meta) -> ChatRecord:
    updated = messages[-1].created if messages else stamp(0)
    return ChatRecord(id="c" + "0" * 31, name=name, created=stamp(0), updated=updated, messages=messages, meta=meta)


CODE = '''Here is the function:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"  # braces {} and `backticks`
```

And a shell line:

~~~bash
echo "${HOME}"
~~~
'''

TABLE = """| Провайдер | Модель | Цена |
|:--|:--:|--:|
| YandexGPT | yandexgpt-lite | 0,20 ₽ |
| GigaChat | GigaChat-2 | 0,15 ₽ |
"""


def shapes() -> dict[str, ChatRecord]:
    """Every chat shape the round trip covers, by a short label."""
    long_messages = []
    for i in range(150):
        long_messages += [question(2 * i, f"Question {i}: what is {i} squared?"), answer(2 * i + 1, f"{i * i}")]
    return {
        "empty": chat("empty", []),
        "long": chat("long", long_messages),
        "interrupted": chat("interrupted", [
            question(0, "Write a loop"),
            answer(1, "Sure:\n\n```python\nfor i in range(3):\n    print(", status=STATUS_INTERRUPTED,
                   usage=None, finish_reason=None),
        ]),
        "error": chat("error", [
            question(0, "Hello?"),
            answer(1, "", status=STATUS_ERROR, usage=None, finish_reason=None,
                   error="YandexGPT failed on its side (500: Internal error): try again in a minute."),
        ]),
        "provider switch": chat("provider switch", [
            question(0, "One"), answer(1, "From Yandex."),
            question(2, "Two"), answer(3, "From GigaChat.", provider="gigachat", model="GigaChat-2"),
            question(4, "Three"), answer(5, "From a local server.", provider="openai", model="qwen2.5:7b",
                                         params={"model": "qwen2.5:7b", "max_tokens": 200, "extra": {"seed": 1}}),
            question(6, "Four"), answer(7, "> Four", provider="echo", model="echo-1", cache_key="ab" * 32),
        ]),
        "cyrillic": chat("экспорт тест", [
            question(0, "Привет! Как дела? 🙂 {не переменная} “кавычки” — тире\n\n  отступ\tтаб"),
            answer(1, "Всё хорошо: ёжик, Ёлка, 漢字, עברית.", provider="gigachat", model="GigaChat"),
        ], system="Отвечай по-русски."),
        "code": chat("code fences", [question(0, "Show code with {braces}"), answer(1, CODE)]),
        "tables": chat("tables", [
            question(0, "Сравни цены"), answer(1, TABLE, provider="gigachat", model="GigaChat-2"),
        ]),
    }


def golden_chat() -> ChatRecord:
    """One chat with a bit of everything, for the md/txt/html golden files."""
    return chat(
        "Отчёт: план/итоги",
        [
            question(0, "Сравни провайдеров таблицей"),
            answer(1, TABLE),
            question(2, "Now show code with {braces}"),
            answer(3, CODE, provider="gigachat", model="GigaChat-2"),
            question(4, "<script>alert(1)</script> and **bold**"),
            answer(5, "Escaped: <b>not bold</b> <img src=x onerror=alert(1)>\n\n```js\nlet a = 1;", provider="echo",
                   model="echo-1", status=STATUS_INTERRUPTED, usage=None, finish_reason=None),
            question(6, "Retry"),
            answer(7, "", status=STATUS_ERROR, usage=None, finish_reason=None,
                   error="YandexGPT is limiting requests (429: quota): retry in 3 s."),
        ],
        system="Be brief.",
    )
