"""Smoke test of the built wheel, as a user installs it: no editable install, no source tree on the path.

    python .ci/wheel_smoke.py            # build the wheel, install it in a new venv, run the checks there

Builds the wheel with pip (the project's own build backend), installs it WITHOUT -e into a fresh venv under a
temporary directory, then runs this same file inside that venv (`--inside`) from a directory outside the
repository, where it checks:
  * every file git tracks under mmchat_jupyter/ was installed (so a static asset, catalog or data file that a
    stream adds is checked without anyone updating a list here), py.typed included, and every file pyproject.toml
    maps into the environment (hatch's wheel `shared-data`);
  * `%load_ext mmchat_jupyter` in a real IPython shell, then a `%%chat` answer rendered to sanitized HTML;
  * `ChatPanel()`: each static file the class declares (`_esm`, `_css`) is a file of the installed package and
    is what the widget sends to the front end;
  * `mmchat --help` speaks Russian (MMCHAT_LANG=ru) through the installed console script, and the catalog of
    every language `i18n.SUPPORTED` offers loads;
  * the Jupyter Server extension is enabled and loads (`jupyter server extension list`, with the `server` extra).
Prints one line per check; exits 1 with the reason on the first failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
from html.parser import HTMLParser
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "mmchat_jupyter"
DIST = "mmchat-jupyter"


def say(message: str) -> None:
    print(f"wheel smoke: {message}", flush=True)


def fail(message: str) -> None:
    print(f"wheel smoke: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def tracked_package_files() -> list[str]:
    """The package's files as the repository has them (paths relative to the repository root)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--", PACKAGE], capture_output=True, text=True, check=False
    )
    if listed.returncode == 0 and listed.stdout.strip():
        return sorted(listed.stdout.split("\n")[:-1])
    # Not a git checkout (an unpacked sdist): every file but caches.
    return sorted(
        str(path.relative_to(REPO))
        for path in (REPO / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def shared_data() -> list[str]:
    """Where the wheel's shared-data files land, relative to the environment's prefix."""
    with (REPO / "pyproject.toml").open("rb") as handle:
        targets = tomllib.load(handle)["tool"]["hatch"]["build"]["targets"]["wheel"]
    return sorted(targets.get("shared-data", {}).values())


def outside() -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mmchat-wheel-") as tmp:
        work = Path(tmp)
        build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(work / "dist"), str(REPO)]
        built = subprocess.run(build, capture_output=True, text=True, check=False)
        if built.returncode != 0:
            fail(f"building the wheel failed:\n{built.stdout}{built.stderr}")
        (wheel,) = (work / "dist").glob("*.whl")
        say(f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB)")
        venv.create(work / "venv", with_pip=True)
        python = work / "venv" / "bin" / "python"
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"{wheel}[server]"], capture_output=True, text=True,
            check=False,
        )
        if installed.returncode != 0:
            fail(f"installing the wheel failed:\n{installed.stdout}{installed.stderr}")
        say(f"installed into a clean venv in {time.monotonic() - started:.0f} s")
        (work / "home").mkdir()
        (work / "cwd").mkdir()
        ours = ("PYTHON", "MMCHAT_", "VIRTUAL_ENV")  # nothing of the calling environment points back at the source
        env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
        env.update(MMCHAT_HOME=str(work / "home"), MMCHAT_LANG="en", IPYTHONDIR=str(work / "ipython"))
        env.update(JUPYTER_CONFIG_DIR=str(work / "jupyter"), JUPYTER_DATA_DIR=str(work / "jupyter-data"))
        checked = subprocess.run(
            [str(python), "-I", str(Path(__file__).resolve()), "--inside", json.dumps(tracked_package_files()),
             json.dumps(shared_data())],
            cwd=work / "cwd", env=env, check=False,
        )
        if checked.returncode != 0:
            sys.exit(checked.returncode)
    say(f"all checks passed in {time.monotonic() - started:.0f} s")


def inside(tracked: list[str], data: list[str]) -> None:
    import importlib.metadata

    import mmchat_jupyter

    package_dir = Path(mmchat_jupyter.__file__).parent
    if REPO in package_dir.parents:
        fail(f"imported {package_dir}, the source tree, instead of the installed wheel")
    site = package_dir.parent

    files = importlib.metadata.files(DIST) or []
    shipped = {str(file) for file in files}
    missing = [path for path in tracked if path not in shipped or not (site / path).is_file()]
    if missing:
        fail(f"tracked files missing from the wheel: {', '.join(missing)}")
    if f"{PACKAGE}/py.typed" not in shipped:
        fail("py.typed is not in the wheel: type checkers would ignore the package's annotations")
    say(f"all {len(tracked)} tracked package files installed (py.typed included)")
    absent = [path for path in data if not (Path(sys.prefix) / path).is_file()]
    if absent:
        fail(f"shared-data files missing from the environment: {', '.join(absent)}")
    say(f"shared-data in the environment: {', '.join(data) or 'none declared'}")

    check_ipython()
    check_panel(package_dir)
    check_russian()
    check_server_extension()


def check_ipython() -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    loaded = shell.run_cell("%load_ext mmchat_jupyter")
    if not loaded.success:
        fail(f"%load_ext mmchat_jupyter failed: {loaded.error_before_exec or loaded.error_in_exec}")
    with capture_output() as captured:
        asked = shell.run_cell("%%chat\nFrom the **wheel**: `code` and <script>alert(1)</script>")
    if not asked.success or not captured.outputs:
        fail(f"%%chat showed no answer: {asked.error_in_exec!r} {captured.stderr}")
    html = captured.outputs[-1].data.get("text/html", "")
    answer = RenderedAnswer(html)
    problems = answer.problems("<script>alert(1)</script>")
    if problems:
        fail(f"the rendered answer {'; '.join(problems)}: {html[-500:]}")
    say("%load_ext + %%chat rendered an answer (echo provider, sanitized HTML)")


VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class RenderedAnswer(HTMLParser):
    """What matters in %%chat's HTML, whatever the markup's details: the answer inside an element of class
    `mmchat-md` with its Markdown rendered, the footer, and nothing active (no script, no event handler)."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0  # > 0 while inside the answer's element
        self.seen: set[str] = set()  # "strong:wheel", "code:code", "footer", "answer"
        self.text: list[str] = []  # the answer's text, entities decoded
        self.active: list[str] = []
        self.open: list[str] = []
        self.feed(page)  # <style> content is text to the parser, never tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("script", "iframe", "object", "embed") or any(name.startswith("on") for name, _ in attrs):
            self.active.append(tag)
        if "mmchat-footer" in classes:
            self.seen.add("footer")
        if self.depth or "mmchat-md" in classes:
            self.seen.add("answer")
            self.depth += tag not in VOID
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in VOID:
            self.depth -= 1
        if self.open:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)
            if self.open and self.open[-1] in ("strong", "code"):
                self.seen.add(f"{self.open[-1]}:{data}")

    def problems(self, inert: str) -> list[str]:
        wanted = {"answer": "has no element of class mmchat-md", "strong:wheel": "lacks **wheel** in <strong>",
                  "code:code": "lacks `code` in <code>", "footer": "lacks the footer"}
        found = [problem for key, problem in wanted.items() if key not in self.seen]
        if self.active:
            found.append(f"lets active markup through ({', '.join(self.active)})")
        if inert not in "".join(self.text):
            found.append(f"does not show {inert!r} as text")
        return found


def check_panel(package_dir: Path) -> None:
    try:
        from mmchat_jupyter import ChatPanel

        panel = ChatPanel()
    except Exception as exc:  # noqa: BLE001 - reported as the one failure line
        fail(f"ChatPanel() failed: {type(exc).__name__}: {exc}")
    for name in ("_esm", "_css"):
        # As the class declares it (the instance's class is a subclass anywidget makes, holding the traits).
        declared = vars(ChatPanel).get(name)
        path = Path(str(getattr(declared, "_path", declared)))  # anywidget wraps an existing file in FileContents
        if not path.is_file():
            fail(f"ChatPanel.{name} names {path}, which is not a file of the installed package")
        if package_dir not in path.resolve().parents:
            fail(f"ChatPanel.{name} is {path}, outside the installed package {package_dir}")
        text = path.read_text(encoding="utf-8")
        if not text.strip() or getattr(panel, name) != text:
            fail(f"ChatPanel().{name} is not the content of {path}")
        say(f"ChatPanel().{name} is {path.relative_to(package_dir.parent)} ({len(text)} chars)")
    panel.close()


def check_russian() -> None:
    import gettext

    from mmchat_jupyter import i18n

    languages = [lang for lang in i18n.SUPPORTED if lang != "en"]  # what the package offers; English is the source
    for lang in languages:
        mo = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo"
        if not mo.is_file():
            fail(f"the {lang} catalog {mo.name} is not in the wheel")
        with mo.open("rb") as handle:
            if not gettext.GNUTranslations(handle).gettext("Send").strip():
                fail(f"the {lang} catalog is empty")
    mmchat = Path(sys.executable).with_name("mmchat")
    helped = subprocess.run(
        [str(mmchat), "--help"], capture_output=True, text=True, env={**os.environ, "MMCHAT_LANG": "ru"}, check=False
    )
    out = helped.stdout
    if helped.returncode != 0 or not out.startswith("использование: mmchat") or "параметры:" not in out:
        fail(f"`mmchat --help` with MMCHAT_LANG=ru is not in Russian (exit {helped.returncode}):\n{out}{helped.stderr}")
    say(f"`mmchat --help` speaks Russian; catalogs shipped: {', '.join(sorted(languages))}")


def check_server_extension() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    listed = subprocess.run([str(jupyter), "server", "extension", "list"], capture_output=True, text=True, check=False)
    report = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)  # no colours
    line = next((line for line in report.splitlines() if "mmchat_jupyter.server" in line), "")
    if listed.returncode != 0 or "enabled" not in line or "OK" not in report.split("mmchat_jupyter.server", 1)[-1]:
        fail(f"the server extension is not enabled and loading:\n{report}")
    say(f"`jupyter server extension list`: {line.strip()}, OK")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inside"]:
        inside(json.loads(sys.argv[2]), json.loads(sys.argv[3]))
    else:
        outside()
