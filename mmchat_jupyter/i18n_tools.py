"""Translation tooling for developers: extract, update, compile and check the catalogs (needs Babel).

    python -m mmchat_jupyter.i18n_tools extract   # source -> mmchat_jupyter/locale/mmchat.pot
    python -m mmchat_jupyter.i18n_tools update    # .pot -> locale/<lang>/LC_MESSAGES/mmchat.po (new msgids empty,
                                                  #   changed ones fuzzy), after extracting
    python -m mmchat_jupyter.i18n_tools compile   # .po -> .mo (what the package reads at run time)
    python -m mmchat_jupyter.i18n_tools check     # exit 1 listing missing, untranslated or fuzzy msgids, broken
                                                  #   {placeholders}, a .pot older than the source and a .mo
                                                  #   older than its .po

The workflow after adding or changing a user-facing string: `update`, translate the new entries in the .po
(remove the `fuzzy` flag after checking a guessed one), `compile`, `check`; commit the .pot, .po and .mo.

Nothing in the package imports this module: the runtime reads the compiled .mo with the standard library's
`gettext`, and Babel is only a development (test) dependency.
"""

from __future__ import annotations

import argparse
import gettext
import io
import re
import string
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # Babel is a development dependency: imported where it is used, never by the package
    from babel.messages.catalog import Catalog, Message

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
DOMAIN = "mmchat"
POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
LANGUAGES = ("ru",)
# _() and N_() take one message, ngettext() a singular and a plural.
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
COMMENT_TAGS = ("TRANSLATORS:",)
# Files that hold no user-facing text of their own (this tool's messages are for developers).
SKIP = ("i18n_tools.py",)
HEADER = "Translations of mmchat-jupyter's user interface."
# Fixed so that re-extracting unchanged source rewrites byte-identical files.
_EPOCH = "2026-01-01 00:00+0000"


BUGS = "the mmchat-jupyter issue tracker"


def _version() -> str:
    from . import __version__

    return __version__


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def _fixed_date() -> datetime:
    return datetime.strptime(_EPOCH, "%Y-%m-%d %H:%M%z")


def extract_python_ast(
    fileobj: IO[bytes], keywords: Mapping[str, Any], comment_tags: Collection[str], options: Mapping[str, Any]
) -> Iterator[tuple[int, str, str | tuple[str | None, ...] | None, list[str]]]:
    """A Babel extraction method reading Python through `ast`, so that `_()` inside an f-string's braces counts.

    Babel's own "python" method tokenizes, and before Python 3.12 an f-string is one token: a call like
    `f"{mark} {_('credentials: {source}')}"` would be missed. A call's translator comments are the
    `# TRANSLATORS:` lines directly above it, as with Babel's method.
    """
    import ast

    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in keywords):
            continue
        messages = tuple(arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
                         for arg in node.args)
        if not messages or messages[0] is None:
            continue
        comments: list[str] = []
        above = node.lineno - 2
        while above >= 0 and lines[above].strip().startswith("#"):
            comments.insert(0, lines[above].strip()[1:].strip())
            above -= 1
        start = next((i for i, text in enumerate(comments) if text.startswith(tuple(comment_tags))), None)
        found.append((node.lineno, node.col_offset, node.func.id, messages,
                      comments[start:] if start is not None else []))
    for lineno, _col, funcname, messages, comments in sorted(found, key=lambda item: item[:2]):
        yield lineno, funcname, messages if len(messages) > 1 else messages[0], comments


def extract_catalog() -> Catalog:
    """Every message the package's Python source marks with _(), N_() or ngettext(), as a Babel Catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    catalog = Catalog(
        project="mmchat-jupyter",
        version=_version(),
        msgid_bugs_address=BUGS,
        copyright_holder="mmchat-jupyter developers",
        charset="utf-8",
        creation_date=_fixed_date(),
        revision_date=_fixed_date(),
        fuzzy=False,
        header_comment=f"# {HEADER}\n",
    )
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR),
        method_map=[("**.py", "mmchat_jupyter.i18n_tools:extract_python_ast")],
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        if Path(filename).name in SKIP:
            continue
        catalog.add(message, None, [(f"mmchat_jupyter/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def _write(catalog: Catalog, path: Path) -> None:
    from babel.messages.pofile import write_po

    buffer = io.BytesIO()
    # No line numbers in the locations: editing a module elsewhere does not churn the catalogs.
    write_po(buffer, catalog, width=116, include_lineno=False, ignore_obsolete=True, sort_output=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = buffer.getvalue()
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def read_po(lang: str) -> Catalog:
    from babel.messages.pofile import read_po as _read_po

    with po_path(lang).open("rb") as handle:
        return _read_po(handle, locale=lang, domain=DOMAIN)


def extract() -> Path:
    """Write the template (.pot) from the source."""
    _write(extract_catalog(), POT_PATH)
    return POT_PATH


def update(languages: Iterable[str] = LANGUAGES) -> list[Path]:
    """Bring each language's .po in line with the source: new msgids empty, changed ones guessed and fuzzy."""
    from babel.messages.catalog import Catalog

    template = extract_catalog()
    _write(template, POT_PATH)
    written = []
    for lang in languages:
        path = po_path(lang)
        if path.exists():
            catalog = read_po(lang)
        else:
            catalog = Catalog(locale=lang, domain=DOMAIN, project="mmchat-jupyter", charset="utf-8",
                              creation_date=_fixed_date(), revision_date=_fixed_date(), fuzzy=False,
                              header_comment=f"# {HEADER}\n")
        catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
        catalog.version, catalog.msgid_bugs_address = template.version, template.msgid_bugs_address
        catalog.last_translator = "mmchat-jupyter developers"
        catalog.language_team = {"ru": "Russian"}.get(lang, lang)
        catalog.revision_date = _fixed_date()
        catalog.fuzzy = False
        _write(catalog, path)
        written.append(path)
    return written


def compile_bytes(lang: str) -> bytes:
    """The .mo for `lang`'s .po, in memory (fuzzy entries left out, as gettext expects)."""
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, read_po(lang), use_fuzzy=False)
    return buffer.getvalue()


def compile(languages: Iterable[str] = LANGUAGES) -> list[Path]:  # noqa: A001 - the command's name
    written = []
    for lang in languages:
        data = compile_bytes(lang)
        path = mo_path(lang)
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


_FIELD = re.compile(r"\{[^{}]*\}")


def placeholders(text: str) -> list[str]:
    """The `{...}` replacement fields of a str.format() template, sorted (`{{`/`}}` are literal braces)."""
    try:
        fields = []
        for _literal, name, spec, conversion in string.Formatter().parse(text):
            if name is not None:
                suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                fields.append("{" + name + suffix + "}")
        return sorted(fields)
    except ValueError:  # not a valid format string: compare the brace groups literally
        return sorted(_FIELD.findall(text))


_PERCENT = re.compile(r"%\(\w+\)[a-z]|%%\w*|%\w+")
_CODE = re.compile(r"`[^`]+`")


def literals(text: str) -> list[str]:
    """What a translation must keep as it is, sorted: `%chat`-style commands, %-placeholders, `code` spans."""
    return sorted(_PERCENT.findall(text) + _CODE.findall(text))


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (list, tuple)) else (message.id,)


def _strs(message: Message) -> tuple[str, ...]:
    return tuple(message.string) if isinstance(message.string, (list, tuple)) else (message.string or "",)


def problems(lang: str) -> list[str]:
    """Everything wrong with `lang`'s catalog against the current source; empty when it is complete and compiled."""
    found = []
    source = extract_catalog()
    catalog = read_po(lang)
    for message in source:
        if not message.id:
            continue
        where = ", ".join(sorted({f for f, _line in message.locations}))
        translated = catalog.get(message.id)
        if translated is None or (isinstance(message.id, tuple) != isinstance(translated.id, tuple)):
            found.append(f"missing in {lang}: {message.id!r} ({where})")
        elif translated.fuzzy:
            found.append(f"fuzzy in {lang}: {message.id!r} ({where})")
        elif not all(_strs(translated)):
            found.append(f"untranslated in {lang}: {message.id!r} ({where})")
    for message in catalog:
        if not message.id or not all(_strs(message)):
            continue
        expected = placeholders(_ids(message)[-1])
        for text in _strs(message):
            if placeholders(text) != expected:
                found.append(f"placeholders differ in {lang}: {message.id!r} has {expected}, {text!r} has "
                             f"{placeholders(text)}")
            if literals(text) != literals(_ids(message)[-1]):
                found.append(f"commands or code differ in {lang}: {message.id!r} has {literals(_ids(message)[-1])}, "
                             f"{text!r} has {literals(text)}")
    if not mo_path(lang).exists():
        found.append(f"{mo_path(lang)} is missing: run `python -m mmchat_jupyter.i18n_tools compile`")
    elif mo_contents(mo_path(lang).read_bytes()) != mo_contents(compile_bytes(lang)):
        found.append(f"{mo_path(lang)} is out of date: run `python -m mmchat_jupyter.i18n_tools compile`")
    return found


def pot_problems() -> list[str]:
    """Whether the committed template lists exactly the messages the source marks (empty when it does)."""
    from babel.messages.pofile import read_po as _read_po

    if not POT_PATH.exists():
        return [f"{POT_PATH} is missing: run `python -m mmchat_jupyter.i18n_tools update`"]
    with POT_PATH.open("rb") as handle:
        committed = _read_po(handle, domain=DOMAIN)
    if pot_contents(committed) != pot_contents(extract_catalog()):
        return [f"{POT_PATH} is out of date: run `python -m mmchat_jupyter.i18n_tools update`"]
    return []


#: Header fields that name the program which wrote a catalog, not anything gettext reads: two releases of Babel
#: writing the same translations must compare equal.
_TOOL_FIELDS = ("Generated-By:",)


def mo_contents(data: bytes) -> dict[str | tuple[str, int], str]:
    """A compiled catalog as gettext sees it: every translation and the header, less the compiling tool's name."""
    catalog = dict(gettext.GNUTranslations(io.BytesIO(data))._catalog)  # type: ignore[attr-defined]
    catalog[""] = "\n".join(line for line in catalog.get("", "").splitlines() if not line.startswith(_TOOL_FIELDS))
    return catalog


def pot_contents(catalog: Catalog) -> dict[str | tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]]:
    """A template's messages as a translator sees them: each msgid with its files and translator comments."""
    return {
        _ids(message): (tuple(sorted({path for path, _line in message.locations})), tuple(message.auto_comments))
        for message in catalog
        if message.id
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmchat_jupyter.i18n_tools", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["extract", "update", "compile", "check"])
    args = parser.parse_args(argv)
    if args.command == "extract":
        print(f"wrote {extract()} ({sum(1 for m in extract_catalog() if m.id)} msgids)")
    elif args.command == "update":
        for path in update():
            print(f"updated {path}")
    elif args.command == "compile":
        for path in compile():
            print(f"compiled {path}")
    else:
        issues = pot_problems() + [issue for lang in LANGUAGES for issue in problems(lang)]
        for issue in issues:
            print(issue)
        if issues:
            print(f"{len(issues)} problem(s)", file=sys.stderr)
            return 1
        print("catalogs complete and compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
