"""`mmchat doctor`: what works and what does not, in one screen, with no secret in it.

For each provider: are credentials configured, and where from (never the value); does its server answer at all
(any HTTP status counts: we only ask whether it can be reached, with a short timeout, all providers at once). Then
the history: where it lives, whether only its owner can read it, how many chats, which files are damaged. Then
the versions that bug reports ask for. Exit status 1 when something needs attention.
"""

from __future__ import annotations

import argparse
import os
import platform
import stat
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from typing import TYPE_CHECKING, Any, TextIO

from .errors import MMChatError
from .i18n import _, ngettext

if TYPE_CHECKING:
    from .providers import Provider
    from .session import ChatSession

#: Seconds to wait for a provider's server: enough for a slow proxy, short enough for a command people wait on.
PROBE_TIMEOUT = 3.0
OFFLINE = "echo"


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> int:
    from .cli import print_json

    report = diagnose()
    if args.json:
        print_json(report, out)
    else:
        print_report(report, out)
    return 0 if report["ok"] else 1


def diagnose() -> dict[str, Any]:
    """The whole report as plain data (what `--json` prints)."""
    from .config import MMChat, load_admin_config
    from .session import ChatSession

    config: dict[str, Any] = {"ok": True, "problems": []}
    try:
        admin = load_admin_config()
    except MMChatError as exc:  # a broken admin file: report it, and check the providers without it
        admin, config = MMChat(), {"ok": False, "problems": [exc.message]}
    session = ChatSession(admin=admin, language=False)
    try:
        history = check_history(session)
    except MMChatError as exc:
        history = {"root": None, "ok": False, "problems": [exc.message]}
    providers = check_providers(session)
    config["problems"] += session.notices()  # a saved provider that is gone, a bad MMCHAT_* value...
    config["problems"] += [p for p in session.providers.problems() if not any(p == r["detail"] for r in providers)]
    config["ok"] = not config["problems"]
    ok = history["ok"] and config["ok"] and all(p["reachable"] is not False for p in providers)
    return {"ok": ok, "providers": providers, "history": history, "config": config, "versions": versions()}


def check_providers(session: ChatSession) -> list[dict[str, Any]]:
    """One row per provider, as `session.providers` sees it; the configured ones are probed, all at once."""
    rows: list[dict[str, Any]] = []
    probes: list[tuple[dict[str, Any], Provider]] = []
    for status in session.providers.list():
        row: dict[str, Any] = {"name": status.name, "configured": status.configured, "credentials": status.source,
                               "base_url": None, "reachable": None, "detail": status.error}
        rows.append(row)
        if status.error:
            row["reachable"] = False
            continue
        if not status.configured:
            continue
        try:
            provider = session.providers.instance(status.name)
        except MMChatError as exc:  # a bad setting is a finding, not a crash of the doctor
            row["detail"], row["reachable"] = exc.message, False
            continue
        row["base_url"] = provider.base_url
        probes.append((row, provider))
    with ThreadPoolExecutor(max_workers=max(1, len(probes))) as pool:
        results = pool.map(probe, [provider for _row, provider in probes])
        for (row, _provider), (reachable, detail) in zip(probes, results, strict=True):
            row["reachable"], row["detail"] = reachable, detail
    return rows


def probe(provider: Provider) -> tuple[bool, str]:
    """Whether the provider's server answers at all, and how; the offline echo provider always does, and one that
    has no server address (a plugin doing its own I/O) has nothing to check."""
    if provider.name == OFFLINE:
        return True, _("offline")
    if not provider.base_url.startswith(("http://", "https://")):
        return True, _("no server to check")
    import httpx

    try:
        with httpx.Client(timeout=PROBE_TIMEOUT, verify=provider.verify) as client:
            response = client.get(provider.base_url)
    except (httpx.HTTPError, ValueError, OSError) as exc:
        return False, _one_line(exc) or type(exc).__name__
    return True, f"HTTP {response.status_code}"


def check_history(session: ChatSession) -> dict[str, Any]:
    """Where the history is, whether it is private, how many chats it holds and which files are damaged."""
    root = session.chats.root
    problems: list[str] = []
    mode = stat.S_IMODE(root.stat().st_mode) if root.exists() else None
    if mode is not None and mode & 0o077:
        text = _("{path} can be read by other users (mode {mode:o}): chmod 700 it.")
        problems.append(text.format(path=root, mode=mode))
    if root.exists() and not os.access(root, os.W_OK):
        problems.append(_("{path} is not writable: new answers cannot be saved.").format(path=root))
    found = session.chats.problems()
    problems.extend(err.message for err in found)
    return {
        "root": str(root),
        "mode": f"{mode:o}" if mode is not None else None,
        "chats": len(session.chats.list()),
        "damaged": [err.path for err in found],
        "problems": problems,
        "ok": not problems,
    }


def versions() -> dict[str, str | None]:
    """Versions of what matters for a bug report; None for what is not installed."""
    from . import __version__

    found: dict[str, str | None] = {"mmchat-jupyter": __version__, "python": platform.python_version()}
    for package in ("httpx", "jupyterlab", "ipykernel", "nbformat"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The report for people: one line per finding, ✓ or ✗ in front."""
    yes, no = "✓", "✗"
    out.write(_("Providers") + "\n")
    for row in report["providers"]:
        if not row["configured"]:
            out.write(f"  -  {row['name']}: {_('not configured')}\n")
            continue
        mark = yes if row["reachable"] else no
        reach = _("reachable") if row["reachable"] else _("not reachable")
        where = f" ({row['base_url']})" if row["base_url"] and row["name"] != OFFLINE else ""
        detail = f" — {row['detail']}" if row["detail"] else ""
        out.write(f"  {mark}  {row['name']}: {row['credentials']}; {reach}{where}{detail}\n")
    history = report["history"]
    out.write(_("History") + "\n")
    if history["root"]:
        mark = yes if history["ok"] else no
        chats = ngettext("{n} chat", "{n} chats", history["chats"]).format(n=history["chats"])
        text = _("{root} (mode {mode}), {chats}").format(root=history["root"], mode=history["mode"] or "-", chats=chats)
        out.write(f"  {mark}  {text}\n")
    for problem in history["problems"]:
        out.write(f"  {no}  {problem}\n")
    if report["config"]["problems"]:
        out.write(_("Configuration") + "\n")
    for problem in report["config"]["problems"]:
        out.write(f"  {no}  {problem}\n")
    out.write(_("Versions") + "\n")
    for package, version in report["versions"].items():
        out.write(f"     {package} {version or _('not installed')}\n")


def _one_line(exc: BaseException) -> str:
    from ._redact import redact

    return " ".join(redact(str(exc)).split())
