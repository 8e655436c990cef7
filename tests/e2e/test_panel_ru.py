"""ChatPanel in Russian: the whole panel suite once more under `lab_lang = "ru"`, Russian chrome with no English
left over, a streamed answer, a language switch without a kernel restart, and the README's screenshot.

Run with MMCHAT_SCREENSHOTS=docs/screenshots to refresh docs/screenshots/panel-ru.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from . import test_panel as english
from .test_panel import _pieces, history, open_panel

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lab_lang() -> str:
    return "ru"


# The English module's tests assert on structure and data, not wording, so they run here again in Russian (its
# screenshots excepted: those are the English README's pictures).
for _name in dir(english):
    if _name.startswith("test_") and _name != "test_screenshots":
        globals()[_name] = getattr(english, _name)


ANSWER = """Вот короткий способ сделать это в **pandas**:

```python
import pandas as pd

cities = pd.read_csv("cities.csv")
top = cities.nlargest(5, "population")
print(top[["name", "population"]])
```

| город | население |
|:--|--:|
| Москва | 13 010 112 |
| Санкт-Петербург | 5 601 911 |
| Новосибирск | 1 633 595 |

Несколько замечаний:

- `nlargest` быстрее, чем сортировка всей таблицы.
- Передайте `usecols=["name", "population"]`, чтобы читать только нужные столбцы.
"""

#: Latin-script words the Russian chrome may show: product and format names, keys, the name of English itself.
ALLOWED = {"YandexGPT", "GigaChat", "OpenAI", "echo", "Markdown", "JSON", "HTML", "Jupyter", "Enter", "Shift",
           "English", "yandexgpt", "lite", "pro"}

#: Every label, tooltip, placeholder and text of the panel's own chrome (not the messages: that is user content).
CHROME_STRINGS = """(root) => {
  const found = [];
  const content = ".mmc-user, .mmc-body, .mmc-chat-name, .mmc-title, .mmc-pick select";  // text that is not ours
  for (const el of [root, ...root.querySelectorAll("*")]) {
    for (const attr of ["title", "aria-label", "placeholder"]) {
      if (el.getAttribute(attr)) found.push(el.getAttribute(attr));
    }
    if (el.closest(content)) continue;
    for (const node of el.childNodes) {
      if (node.nodeType === Node.TEXT_NODE && node.textContent.trim()) found.push(node.textContent.trim());
    }
  }
  return found;
}"""


def english_leftovers(panel) -> list[str]:
    """Chrome strings with an English word in them. Code names are not words: a magic (`%%chat`), an option's name
    (`top_p`, `reasoning_mode`) or value (`ENABLED_HIDDEN`) is what the user types, in any language."""
    leftovers = []
    for text in panel.root.evaluate(CHROME_STRINGS):
        tokens = re.findall(r"%*[A-Za-z][A-Za-z_]*", text)
        words = {w for w in tokens if len(w) >= 3 and not w.startswith("%") and "_" not in w and not w.isupper()}
        words -= ALLOWED
        if words:
            leftovers.append(text)
    return leftovers


def test_russian_panel_streams_and_makes_the_readme_screenshot(notebook, fake_yandex, shots):
    store = history()
    for name, question in (("Поездка в Казань", "Составь план на два дня в Казани"),
                           ("Оконные функции SQL", "Объясни OVER()")):
        chat = store.create_chat(name)
        store.append_message(chat, role="user", content=question)
        store.append_message(chat, role="assistant", content="…", provider="gigachat", model="GigaChat")
    fake_yandex.script(_pieces(ANSWER))
    fake_yandex.tamper(delay=0.05)
    nb, panel = open_panel(notebook, 'ChatPanel(chat="Pandas: крупнейшие города")', "чат-демо.ipynb")

    # the chrome is Russian before anything is asked
    expect(panel.input).to_have_attribute("placeholder", "Сообщение…")
    expect(panel.send_button).to_have_attribute("aria-label", "Отправить")
    expect(panel.root.locator(".mmc-log")).to_contain_text("Спросите что угодно")
    assert english_leftovers(panel) == []

    # a streamed answer: the Send button is Stop meanwhile
    panel.ask("Загрузи cities.csv в pandas и покажи пять крупнейших городов")
    expect(panel.send_button).to_have_attribute("aria-label", "Остановить")
    expect(panel.streaming).to_contain_text("Вот короткий способ", timeout=15_000)
    panel.wait_idle(1)
    expect(panel.send_button).to_have_attribute("aria-label", "Отправить")
    answer = panel.answers.first
    expect(answer.locator("table")).to_contain_text("Санкт-Петербург")
    expect(answer.locator(".mmc-meta")).to_contain_text(re.compile(r"\d+ токен(а|ов)?$"))
    answer.hover()
    assert [b.get_attribute("aria-label") for b in answer.locator(".mmc-foot button").all()] == [
        "Копировать ответ (Markdown)", "Повторить ответ"]

    # the menus and the settings sheet
    panel.head_button(2).click()
    menu = panel.root.locator(".mmc-menu")
    expect(menu).to_contain_text("Экспорт в Markdown")
    expect(menu.locator(".mmc-danger")).to_have_text("Очистить чат")
    assert english_leftovers(panel) == []
    menu.press("Escape")
    panel.head_button(1).click()
    sheet = panel.root.locator(".mmc-sheet")
    expect(sheet).to_contain_text("Температура (0–2)")
    expect(sheet).to_contain_text("Системный промпт")
    expect(sheet).to_contain_text("Язык")
    assert english_leftovers(panel) == []
    panel.head_button(1).click()

    # the picture: the chat drawer open (Russian chat names and dates), a follow-up being typed
    panel.head_button(0).click()
    drawer = panel.root.locator(".mmc-drawer")
    expect(drawer.locator(".mmc-chats li")).to_have_count(3)
    details = drawer.locator(".mmc-chat-detail")
    expect(details.first).to_have_text(re.compile(r"^\d+ (сообщени[ея]|сообщений)$"))
    expect(details.nth(1)).to_have_text(re.compile(r"^\d{1,2} [а-я]+ \d{4}, \d\d:\d\d$"))
    expect(drawer.locator("input[type=search]")).to_have_attribute("placeholder", "Поиск по чатам")
    assert english_leftovers(panel) == []
    panel.input.fill("А самый крупный город в каждом регионе?")
    nb.page.mouse.move(0, 0)  # no hover highlight in the picture
    root_box = panel.root.bounding_box()
    assert root_box is not None
    overflowing = panel.root.evaluate("""(root) => [...root.querySelectorAll('button, label, select, .mmc-meta')]
        .filter((el) => el.offsetParent && el.scrollWidth > el.clientWidth + 1 && !el.closest('.mmc-body'))
        .map((el) => el.className + ': ' + (el.textContent || el.getAttribute('aria-label')))""")
    assert overflowing == []  # longer Russian words fit their boxes
    panel.root.screenshot(path=str(shots / "panel-ru.png"))


def test_switching_the_language_in_the_panel_needs_no_restart(notebook, fake_yandex):
    _nb, panel = open_panel(notebook)
    expect(panel.send_button).to_have_attribute("aria-label", "Отправить")
    panel.head_button(1).click()
    panel.root.locator(".mmc-sheet select").last.select_option("en")
    expect(panel.send_button).to_have_attribute("aria-label", "Send")
    expect(panel.input).to_have_attribute("placeholder", "Message…")
    assert history().get_settings()["lang"] == "en"  # persisted: the next kernel starts in English
    panel.root.locator(".mmc-sheet select").last.select_option("ru")
    expect(panel.send_button).to_have_attribute("aria-label", "Отправить")
