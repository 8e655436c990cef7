"""The `%chat SUBCOMMAND ...` line magic: one method per subcommand, each given the words after its name.

Outputs are short plain lines (they read the same in a notebook, a terminal and a saved file); transcripts are
shown rendered. Mistakes raise MMChatError or UsageError, which the magic turns into one UsageError line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from ._format import format_date, format_datetime, format_number
from .i18n import N_, _, ngettext

if TYPE_CHECKING:
    from .session import ChatSession

#: Subcommand -> (argument synopsis, one-line description, translated when shown); the order is the help's.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "list": ("", N_("list the chats; * marks the current one")),
    "new": ("[NAME]", N_("start a new chat and make it current")),
    "use": ("NAME", N_("make an existing chat current")),
    "rename": ("[OLD] NEW", N_("rename a chat (the current one when OLD is left out)")),
    "delete": ("NAME", N_("delete a chat and its messages")),
    "clear": ("", N_("remove the messages of the current chat")),
    "show": ("[NAME]", N_("show a chat (the current one when NAME is left out)")),
    "providers": ("", N_("which providers are configured, and where their credentials come from")),
    "models": ("[PROVIDER]", N_("the models a provider offers (its server's list where it has one)")),
    "options": ("[PROVIDER]", N_("the generation options a provider takes, for -o KEY=VALUE and %chat set")),
    "set": ("[KEY=VALUE ...]", N_("save defaults: provider, model, temperature, max_tokens, top_p, system, lang, "
                                  "PROVIDER.OPTION; with no arguments, show each setting and where it comes from")),
    "templates": ("[add NAME TEXT | remove NAME]", N_("list prompt templates, or add or remove your own")),
    "usage": ("", N_("tokens used per day, provider and model")),
    "panel": ("[NAME] [--side]", N_("open the chat panel; --side opens it beside the notebook (JupyterLab)")),
    "export": ("NAME FORMAT [PATH]", N_("export a chat as ipynb, md, json, txt or html")),
    "retry-save": ("", N_("save the answers kept in this kernel after the history could not be written")),
    "help": ("", N_("this help")),
}


def _words(args: Sequence[str], name: str, low: int, high: int) -> Sequence[str]:
    """`args` if there are between `low` and `high` of them; else a UsageError with the subcommand's synopsis."""
    if not low <= len(args) <= high:
        synopsis = f"%chat {name} {SUBCOMMANDS[name][0]}".strip()
        raise UsageError(_("Usage: {synopsis}").format(synopsis=synopsis))
    return args


class Commands:
    """The subcommands, working on a session; they print their answers (a transcript is displayed rendered)."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session

    def run(self, name: str, args: Sequence[str]) -> None:
        if name not in SUBCOMMANDS:
            text = _("Unknown subcommand {name!r}: use one of {choices} (%chat help).")
            raise UsageError(text.format(name=name, choices=", ".join(SUBCOMMANDS)))
        getattr(self, "cmd_" + name.replace("-", "_"))(args)

    # -- chats ----------------------------------------------------------------------------------------------------

    def cmd_list(self, args: Sequence[str]) -> None:
        _words(args, "list", 0, 0)
        chats = self.session.chats.list()
        if not chats:
            print(_("No chats yet: ask something with %%chat."))
            return
        current = self.session.chat_ref
        for chat in chats:
            mark = "*" if current in (chat.id, chat.name) else " "
            count = ngettext("{n} message", "{n} messages", chat.message_count).format(
                n=format_number(chat.message_count)
            )
            facts = [count, _("updated {when}").format(when=format_datetime(chat.updated))]
            if chat.last_provider:
                facts.append(" / ".join(p for p in (chat.last_provider, chat.last_model) if p))
            print(f"{mark} {chat.name} — {' · '.join(facts)}")

    def cmd_new(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "new", 0, 1) or (None,)
        record = self.session.new_chat(name)
        print(_("Started chat {name}.").format(name=record.name))

    def cmd_use(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "use", 1, 1)
        record = self.session.use_chat(name, create=False)
        count = len(record.messages)
        print(ngettext("Now in chat {name} ({n} message).", "Now in chat {name} ({n} messages).", count).format(
            name=record.name, n=format_number(count)))

    def cmd_rename(self, args: Sequence[str]) -> None:
        words = _words(args, "rename", 1, 2)
        old = words[0] if len(words) == 2 else self.session.chat.id
        record = self.session.chats.rename(old, words[-1])
        print(_("Renamed the chat to {name}.").format(name=record.name))

    def cmd_delete(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "delete", 1, 1)
        record = self.session.chats.delete(name)
        count = len(record.messages)
        print(ngettext("Deleted chat {name} ({n} message).", "Deleted chat {name} ({n} messages).", count).format(
            name=record.name, n=format_number(count)))

    def cmd_clear(self, args: Sequence[str]) -> None:
        _words(args, "clear", 0, 0)
        removed = self.session.clear()
        print(ngettext("Cleared chat {name}: {n} message removed.", "Cleared chat {name}: {n} messages removed.",
                          removed).format(name=self.session.chat.name, n=format_number(removed)))

    def cmd_show(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "show", 0, 1) or (None,)
        record = self.session.chats.get(name) if name else self.session.chat
        from .display import show_markdown
        from .export.transcript import to_markdown

        show_markdown(to_markdown(record, local=True))

    # -- providers and settings -----------------------------------------------------------------------------------

    def cmd_providers(self, args: Sequence[str]) -> None:
        _words(args, "providers", 0, 0)
        for status in self.session.providers.list():
            mark = "*" if status.default else " "
            if status.error:
                print(f"{mark} {status.name} — {status.error}")
                continue
            where = _("credentials: {source}").format(source=status.source)
            allowed = "" if status.allowed else " — " + _("not allowed by your administrator")
            print(f"{mark} {status.name} ({status.label}) — {where}{allowed}")
        for problem in self.session.providers.problems():
            if not any(problem == s.error for s in self.session.providers.list()):
                print(f"  {problem}")

    def cmd_models(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "models", 0, 1) or (None,)
        name, params = self.session.resolve(name)
        for model in self.session.providers.models(name):
            print(f"{'*' if model == params.model else ' '} {model}")

    def cmd_options(self, args: Sequence[str]) -> None:
        (name,) = _words(args, "options", 0, 1) or (None,)
        for spec in self.session.providers.options(name):
            print(f"{spec.name} — {spec.help} ({spec.accepts()})")

    def cmd_set(self, args: Sequence[str]) -> None:
        settings = self.session.settings
        if not args:
            for setting in settings.all():
                value = setting.value if setting.value is not None else "—"
                print(f"{setting.key} = {value}  ({setting.where()})")
            return
        changes = []
        for word in args:
            key, sep, value = word.partition("=")
            if not sep:
                raise UsageError(_("Write settings as KEY=VALUE, e.g. %chat set temperature=0.3"))
            changes.append((key.strip(), value.strip()))
        for key, value in changes:
            settings.check(key, value)  # every change checked before any is saved
        for key, value in changes:
            stored = self.session.settings.set(key, value)
            if stored is None:
                print(_("Removed: {key}").format(key=key))
                continue
            print(_("Saved: {key} = {value}").format(key=key, value=stored))
            shown = self.session.settings.explain(key)
            if shown.source in ("call", "session", "kernel") and shown.value != stored:
                text = _("(this session uses {value} from {where}, which comes first)")
                print(text.format(value=shown.value, where=shown.where()))

    def cmd_templates(self, args: Sequence[str]) -> None:
        templates = self.session.templates
        if not args:
            for template in templates.list():
                origin = _("built-in") if template.builtin else _("yours")
                first = " ".join(template.text.split())
                print(f"{template.name} — {template.title} ({origin}): {first[:70]}{'…' if len(first) > 70 else ''}")
            return
        action, rest = args[0], list(args[1:])
        if action == "add" and len(rest) >= 2:
            saved = templates.add(rest[0], " ".join(rest[1:]))
            print(_("Saved template {name}.").format(name=saved.name))
        elif action == "remove" and len(rest) == 1:
            templates.remove(rest[0])
            print(_("Removed template {name}.").format(name=rest[0]))
        else:
            raise UsageError(_("Usage: %chat templates [add NAME TEXT | remove NAME]"))

    def cmd_usage(self, args: Sequence[str]) -> None:
        _words(args, "usage", 0, 0)
        totals = self.session.usage()
        if not totals:
            print(_("No token usage recorded yet."))
            return
        for row in totals:
            tokens = ngettext("{n} token", "{n} tokens", row.total_tokens).format(n=format_number(row.total_tokens))
            detail = _("{prompt} prompt + {completion} answer").format(
                prompt=format_number(row.prompt_tokens), completion=format_number(row.completion_tokens))
            answers = ngettext("{n} answer", "{n} answers", row.messages).format(n=format_number(row.messages))
            route = " / ".join(p for p in (row.provider, row.model) if p) or "?"
            print(f"{format_date(row.day)}  {route} — {tokens} ({detail}), {answers}")
        grand = sum(row.total_tokens for row in totals)
        print(_("Total: {tokens}").format(
            tokens=ngettext("{n} token", "{n} tokens", grand).format(n=format_number(grand))))

    # -- other faces ----------------------------------------------------------------------------------------------

    def cmd_panel(self, args: Sequence[str]) -> None:
        side = "--side" in args
        (name,) = _words([word for word in args if word != "--side"], "panel", 0, 1) or (None,)
        try:
            from . import _panel_side
            from .widget import ChatPanel
        except ImportError:
            raise UsageError(_("The chat panel is not available in this installation.")) from None
        from IPython.display import display

        # No name: the panel continues this session's chat, the one %%chat uses.
        panel = ChatPanel(name) if name else ChatPanel(session=self.session)
        if side:
            _panel_side.open_beside(panel)
            print(_("The chat panel is open on the right (not there? %chat panel shows it here)."))
        else:
            display(panel)

    def cmd_export(self, args: Sequence[str]) -> None:
        name, fmt, *path = _words(args, "export", 2, 3)
        written = self.session.chats.export(name, fmt, path[0] if path else ".")
        print(_("Exported chat {name} to {path}.").format(name=name, path=written))

    def cmd_retry_save(self, args: Sequence[str]) -> None:
        _words(args, "retry-save", 0, 0)
        saved = self.session.retry_save()
        if saved:
            print(ngettext("Saved {n} answer to the history.", "Saved {n} answers to the history.", saved).format(
                n=format_number(saved)))
        else:
            print(_("Nothing to save: every answer is in the history."))

    def cmd_help(self, args: Sequence[str]) -> None:
        from ._magic_args import cell_parser

        print(cell_parser().format_help().rstrip())
        print()
        for name, (synopsis, about) in SUBCOMMANDS.items():
            usage = f"  %chat {name} {synopsis}".rstrip()
            # A synopsis too long for the column gets its description on the next line, not glued to it.
            print(usage.ljust(44) + _(about) if len(usage) < 44 else f"{usage}\n{' ' * 44}{_(about)}")

