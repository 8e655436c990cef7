"""Write notebooks/quickstart.ru.ipynb, the Russian quickstart: `python notebooks/make_quickstart_ru.py`.

It is the English quickstart (make_quickstart.py) with its Markdown cells translated and `%chat set lang=ru` after
`%load_ext`; the code cells are the same. A Markdown cell of the English notebook without a translation here stops
the script with the cell's text, so the two notebooks cannot drift apart (tests/test_quickstart.py runs this
and the notebook).
"""

from __future__ import annotations

import runpy
from pathlib import Path

import nbformat

HERE = Path(__file__).parent
PATH = HERE / "quickstart.ru.ipynb"
ENGLISH = runpy.run_path(str(HERE / "make_quickstart.py"))
SET_LANGUAGE = "%chat set lang=ru"

# English Markdown cell -> Russian. Keys are the exact English sources.
RU: dict[str, str] = {
    """\
# mmchat-jupyter quickstart

Chat with YandexGPT, GigaChat or any OpenAI-compatible model from a notebook. This tour runs **offline**: with
no keys configured, answers come from the built-in `echo` model, which repeats your question and counts the turns
so you can see the chat's context at work. The last section shows how to add real keys.""": """\
# mmchat-jupyter: быстрый старт

Общайтесь с YandexGPT, GigaChat или любой OpenAI-совместимой моделью прямо из блокнота. Эта экскурсия работает
**офлайн**: пока ключи не настроены, отвечает встроенная модель `echo` — она повторяет ваш вопрос и считает ходы,
так что видно, как работает контекст чата. В последнем разделе — как подключить настоящие ключи.

`%chat set lang=ru` во второй ячейке включает русский интерфейс и запоминает выбор (вернуть английский:
`%chat set lang=en`).""",
    """\
## Ask a question

The body of a `%%chat` cell is the prompt. The answer streams in as rendered Markdown; the line under it says
which provider and model answered, the tokens used and the time taken. Interrupt the kernel (■) to stop an
answer: the part received so far is kept and marked *interrupted*.""": """\
## Задайте вопрос

Текст ячейки `%%chat` — это промпт. Ответ приходит по частям в виде отформатированного Markdown; строка под ним
показывает, какой провайдер и какая модель ответили, сколько ушло токенов и времени. Чтобы остановить ответ,
прервите ядро (■): уже полученная часть сохранится с пометкой *прервано*.""",
    "A follow-up goes to the same chat, so the model sees the whole conversation (echo says which turn it is):":
        "Следующий вопрос попадает в тот же чат, и модель видит весь разговор (echo сообщает номер хода):",
    """\
## Named chats

`-c NAME` uses (or creates) a chat by name and makes it the current one; `--new` starts a fresh chat and
`--no-history` asks a one-off question. `-p`/`-m` switch provider and model for one cell and keep the context.""": """\
## Именованные чаты

`-c NAME` открывает (или создаёт) чат с этим именем и делает его текущим; `--new` начинает новый чат, а
`--no-history` задаёт разовый вопрос. `-p`/`-m` меняют провайдера и модель для одной ячейки, контекст сохраняется.""",
    """\
## Templates

Templates wrap the cell in a ready-made prompt; `{input}` marks where the cell goes. Add your own with
`%chat templates add NAME TEXT`.""": """\
## Шаблоны

Шаблон оборачивает ячейку в готовый промпт; `{input}` отмечает, куда попадёт текст ячейки. Свой шаблон добавляется
командой `%chat templates add NAME TEXT`.""",
    """\
## Notebook variables in the prompt

`{name}` puts a variable's value into the prompt, `{In[3]}` and `{Out[3]}` a cell's source and result;
write `{{` and `}}` for literal braces. Add `-f code` to a `%%chat` cell to get the answer's code as the next
cell.""": """\
## Переменные блокнота в промпте

`{name}` подставляет в промпт значение переменной, `{In[3]}` и `{Out[3]}` — код и результат ячейки;
фигурные скобки как есть пишутся так: `{{` и `}}`. С `-f code` в ячейке `%%chat` код из ответа появится следующей
ячейкой.""",
    """\
## From Python code

`Chat` is the same engine without magics: `ask()` returns the answer (and shows it in a notebook),
`stream()` yields it piece by piece. Both save to the history like `%%chat` does.""": """\
## Из кода на Python

`Chat` — тот же движок, только без магических команд: `ask()` возвращает ответ (и показывает его в блокноте),
`stream()` отдаёт его по частям. Оба сохраняют разговор в историю, как и `%%chat`.""",
    """\
## The chat panel

A chat window inside the notebook with Stop, Regenerate, Copy, provider and model switches; it continues the
same chat as `%%chat`.""": """\
## Панель чата

Окно чата внутри блокнота: «Остановить», «Повторить ответ», «Копировать», выбор провайдера и модели; панель
продолжает тот же чат, что и `%%chat`.""",
    """\
## Settings

`%chat set KEY=VALUE` saves a default (`provider`, `model`, `temperature`, `max_tokens`, `system`, `lang`);
`%chat set` alone shows them. `%config ChatMagics.format = "text"` and `%config ChatMagics.update_interval = 0.2`
change how this notebook shows answers. `%chat export NAME md` saves a chat as Markdown (also ipynb, json, txt,
html). `%chat help` lists everything.""": """\
## Настройки

`%chat set KEY=VALUE` сохраняет значение по умолчанию (`provider`, `model`, `temperature`, `max_tokens`, `system`,
`lang`); `%chat set` без аргументов показывает их. `%config ChatMagics.format = "text"` и
`%config ChatMagics.update_interval = 0.2` меняют то, как этот блокнот показывает ответы. `%chat export NAME md`
сохраняет чат в Markdown (а также в ipynb, json, txt, html). `%chat help` перечисляет все команды.""",
    """\
## Adding YandexGPT and GigaChat

Keys are read from the environment (or from your administrator's configuration) and are never written to the
chat history or the settings file. Set them before starting Jupyter, e.g. in your shell profile:

```bash
# YandexGPT: an API key of a service account with the ai.languageModels.user role, and its folder id
export YANDEX_API_KEY="AQVN..."
export YANDEX_FOLDER_ID="b1g..."

# GigaChat: the authorization key from the developer portal, its scope, and the Russian Trusted Root CA
export GIGACHAT_CREDENTIALS="MDE5..."
export GIGACHAT_SCOPE="GIGACHAT_API_PERS"        # or GIGACHAT_API_B2B / GIGACHAT_API_CORP
export GIGACHAT_CA_BUNDLE_FILE="$HOME/russian_trusted_root_ca.cer"
```

Then `%chat providers` shows them as configured, `%%chat -p yandexgpt` or `%%chat -p gigachat` asks one of them,
`%chat models gigachat` lists its models, and `%chat set provider=gigachat` makes it the default.""": """\
## Подключаем YandexGPT и GigaChat

Ключи берутся из переменных окружения (или из конфигурации администратора) и никогда не записываются ни в историю
чатов, ни в файл настроек. Задайте их до запуска Jupyter, например в профиле оболочки:

```bash
# YandexGPT: API-ключ сервисного аккаунта с ролью ai.languageModels.user и идентификатор его каталога
export YANDEX_API_KEY="AQVN..."
export YANDEX_FOLDER_ID="b1g..."

# GigaChat: ключ авторизации из личного кабинета разработчика, его scope и сертификат НУЦ Минцифры
export GIGACHAT_CREDENTIALS="MDE5..."
export GIGACHAT_SCOPE="GIGACHAT_API_PERS"        # или GIGACHAT_API_B2B / GIGACHAT_API_CORP
export GIGACHAT_CA_BUNDLE_FILE="$HOME/russian_trusted_root_ca.cer"
```

После этого `%chat providers` покажет их как настроенные, `%%chat -p yandexgpt` или `%%chat -p gigachat` задаст
вопрос одному из них, `%chat models gigachat` перечислит модели, а `%chat set provider=gigachat` сделает GigaChat
провайдером по умолчанию.""",
}


def build() -> nbformat.NotebookNode:
    """The Russian quickstart notebook, built from the English one's cells."""
    cells = []
    for kind, source in ENGLISH["CELLS"]:
        if kind == "md":
            if source not in RU:
                raise KeyError(f"no Russian for this Markdown cell of the English quickstart:\n{source}")
            cells.append(("md", RU[source]))
        else:
            cells.append((kind, source))
            if source.strip() == "%load_ext mmchat_jupyter":
                cells.append(("py", SET_LANGUAGE))
    unused = set(RU) - {source for kind, source in ENGLISH["CELLS"] if kind == "md"}
    if unused:
        raise KeyError(f"Russian text for Markdown cells the English quickstart no longer has: {sorted(unused)}")
    return ENGLISH["notebook"](cells)


def main() -> None:
    nbformat.write(build(), PATH)
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()
