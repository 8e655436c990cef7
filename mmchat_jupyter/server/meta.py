"""Providers and models (what is configured and where from; never a secret), settings (read and change, with the
same validation and precedence as `%chat set`), prompt templates, and token usage."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized

from ..config import SETTING_KEYS
from ..errors import ConfigError
from . import _bodies
from ._base import MMChatHandler

#: PATCH /settings: any of the generation settings, each checked by the engine as `%chat set` checks it.
SETTINGS_BODY: _bodies.Body = {key: _bodies.Field("any") for key in SETTING_KEYS}


class ProvidersHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        """Every provider: configured or not, where its credentials come from, allowed, its models."""
        self.send({"providers": await self.run(self.service.providers)})


class ModelsHandler(MMChatHandler):
    @authorized
    async def get(self, provider: str) -> None:
        """The provider's models: asked from its server when configured (as `%chat models`), else the known list."""
        models, default = await self.run(self.service.models, provider)
        self.send({"provider": provider, "models": models, "default": default})


class SettingsHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        """The settings in force, the user's saved ones, and those the administrator locked."""
        self.send(await self.run(self.service.settings))

    @authorized
    async def patch(self) -> None:
        """Save defaults for every face (`%chat set KEY=VALUE ...`); all or nothing."""
        body = self.body(SETTINGS_BODY)
        self.send(await self.run(self.service.change_settings, body))


class TemplatesHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        """Built-in and the user's own prompt templates."""
        self.send({"templates": await self.run(self.service.templates)})


class TemplateHandler(MMChatHandler):
    @authorized
    async def put(self, name: str) -> None:
        """Save the user's template `name` (a built-in of that name is overridden)."""
        body = self.body(_bodies.TEMPLATE)
        try:
            _bodies.check("name", _bodies.Field("name", required=True), name)
        except ConfigError as exc:
            raise self.error(exc) from None
        await self.run(self.service.save_template, name, body["text"])
        self.send({"templates": await self.run(self.service.templates)})

    @authorized
    async def delete(self, name: str) -> None:
        """Remove the user's template `name`."""
        await self.run(self.service.remove_template, name)
        self.send({"templates": await self.run(self.service.templates)})


class UsageHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        """Tokens used per UTC day, provider and model, and the total."""
        rows = await self.run(self.service.usage)
        days = [{"day": r.day, "provider": r.provider, "model": r.model, "prompt_tokens": r.prompt_tokens,
                 "completion_tokens": r.completion_tokens, "total_tokens": r.total_tokens, "answers": r.messages}
                for r in rows]
        self.send({"usage": days, "total_tokens": sum(r.total_tokens for r in rows)})
