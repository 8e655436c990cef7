"""Fixtures for the browser tests: fake providers, one JupyterLab per session and language, a Chromium page.

    lab_lang      the panel's language ("en"); parametrize it (`@pytest.mark.parametrize("lab_lang", ["ru"])`)
                  or override the fixture in a conftest to run the same tests in another language
    lab           the JupyterLab server for `lab_lang`, started once per session and language
    fake_yandex, fake_gigachat    the loopback providers every kernel talks to (reset for each test)
    page          a fresh Chromium page (clipboard allowed) in Debian's /usr/bin/chromium, never a downloaded one
    blank_page    a Chromium page on about:blank, no JupyterLab: for the panel's front-end code on its own
    notebook      a factory: notebook(cells, name=None) writes the test's notebook (named after the test) and opens
                  it in a fresh kernel; its first cell points MMCHAT_HOME at this test's own history (the same dir
                  this process sees)
    shots         where screenshots go: $MMCHAT_SCREENSHOTS (e.g. docs/screenshots), else a temp dir

Without Chromium the tests are skipped, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..fakes.gigachat import FakeGigaChat
from ..fakes.yandex import FOLDER, FakeYandex
from .lab import LabServer, Notebook

CHROMIUM = os.environ.get("MMCHAT_CHROMIUM", "/usr/bin/chromium")
YANDEX_KEY = "AQVN-e2e-test-key"
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]


def _need_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def _fakes() -> Iterator[tuple[FakeYandex, FakeGigaChat]]:
    yandex, gigachat = FakeYandex(keys={YANDEX_KEY}).start(), FakeGigaChat().start()
    yield yandex, gigachat
    yandex.stop()
    gigachat.stop()


@pytest.fixture
def fake_yandex(_fakes: tuple[FakeYandex, FakeGigaChat]) -> FakeYandex:
    fake = _fakes[0]
    fake.reset()
    fake.unscript()
    return fake


@pytest.fixture
def fake_gigachat(_fakes: tuple[FakeYandex, FakeGigaChat]) -> FakeGigaChat:
    _fakes[1].reset()
    return _fakes[1]


@pytest.fixture(scope="session")
def lab_lang() -> str:
    return "en"


@pytest.fixture(scope="session")
def _lab_servers(
    _fakes: tuple[FakeYandex, FakeGigaChat], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], LabServer]]:
    yandex, gigachat = _fakes
    servers: dict[str, LabServer] = {}

    def get(lang: str) -> LabServer:
        if lang not in servers:
            env = {
                "MMCHAT_LANG": lang,
                "MMCHAT_HOME": str(tmp_path_factory.mktemp(f"lab-{lang}-history")),
                "YANDEX_BASE_URL": yandex.url,
                "YANDEX_API_KEY": YANDEX_KEY,
                "YANDEX_FOLDER_ID": FOLDER,
                **{f"GIGACHAT_{key.upper()}": value for key, value in gigachat.settings().items()},
            }
            servers[lang] = LabServer(tmp_path_factory.mktemp(f"lab-{lang}"), env).start()
        return servers[lang]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture
def lab(_lab_servers: Callable[[str], LabServer], lab_lang: str) -> LabServer:
    _need_browser()
    return _lab_servers(lab_lang)


@pytest.fixture(scope="module")
def _browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API marks its event loop as running in this thread, and tests
    # of other modules that call asyncio.run() must not find it there. A launch takes about a second.
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser: Any, lab: LabServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = _browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab.url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(f"JupyterLab log tail:\n{lab.log_tail()}\npage errors: {errors}")


@pytest.fixture
def blank_page(_browser: Any) -> Iterator[Any]:
    context = _browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    page.goto("about:blank")
    yield page
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets `page` tell whether the test failed
    return report


@pytest.fixture
def notebook(page: Any, lab: LabServer, request: pytest.FixtureRequest) -> Callable[..., Notebook]:
    def open_notebook(cells: list[str], name: str | None = None) -> Notebook:
        setup = (
            "import os\n"
            f"os.environ['MMCHAT_HOME'] = {os.environ['MMCHAT_HOME']!r}\n"
            "from mmchat_jupyter import ChatPanel"
        )
        name = name or f"{request.node.name.replace('[', '-').strip(']')}.ipynb"
        return Notebook(page, lab, name, [setup, *cells])

    return open_notebook


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("MMCHAT_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
