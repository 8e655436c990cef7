"""The OpenAPI 3.1 description of /mmchat/api/v1, served at /mmchat/api/v1/openapi.json.

Request bodies come from `_bodies` (the same declarations the handlers validate with); the rest is written here.
tests/server/test_openapi.py checks it against the route table and every answer the test suite gets.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized

from .. import __version__
from ..config import SETTING_KEYS
from ..export import FORMATS
from . import _bodies
from ._base import MMChatHandler

NULLABLE_TEXT = {"type": ["string", "null"]}
TEXT = {"type": "string"}
INT = {"type": "integer", "minimum": 0}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Error": _object(["message", "reason"], message={**NULLABLE_TEXT, "description": "One line: what happened and "
                                                    "what to do, in the user's language."},
                     reason={**NULLABLE_TEXT, "description": "not_found, name_taken, busy, invalid, provider_error, "
                                                             "history_error; null for the server's own errors."}),
    "Message": _object(
        ["id", "role", "content", "status"],
        id=TEXT, role={"enum": ["system", "user", "assistant"]}, content=TEXT, created=TEXT,
        provider=NULLABLE_TEXT, model=NULLABLE_TEXT, params={"type": "object"},
        usage={"type": ["object", "null"]}, status={"enum": ["complete", "interrupted", "error"]},
        finish_reason=NULLABLE_TEXT, error=NULLABLE_TEXT, cached={"type": "boolean"},
    ),
    "ChatSummary": _object(
        ["id", "name", "created", "updated", "message_count"],
        id=TEXT, name=TEXT, created=TEXT, updated=TEXT, message_count=INT, last_provider=NULLABLE_TEXT,
        last_model=NULLABLE_TEXT, snippet={**TEXT, "description": "Where the search matched a message."},
    ),
    "Chat": {"allOf": [_ref("ChatSummary"), _object(
        ["messages", "has_more"], system=NULLABLE_TEXT, messages={"type": "array", "items": _ref("Message")},
        has_more={"type": "boolean", "description": "Older messages exist: ask again with before=<oldest id>."},
    )]},
    "Removed": _object(["id", "name", "deleted_messages"], id=TEXT, name=TEXT, deleted_messages=INT),
    "Provider": _object(
        ["name", "label", "configured", "credentials", "allowed", "default", "default_model", "models"],
        name=TEXT, label=TEXT, configured={"type": "boolean"},
        credentials={**TEXT, "description": "Where the credentials come from, in words; never a value."},
        allowed={"type": "boolean"}, default={"type": "boolean"}, default_model=NULLABLE_TEXT,
        models={"type": "array", "items": TEXT},
        error={**NULLABLE_TEXT, "description": "Why the provider cannot be used at all (a plugin that does not load)."},
    ),
    "Settings": _object(
        ["effective", "saved", "locked"],
        effective={"type": "object", "properties": {key: {} for key in SETTING_KEYS}},
        saved={"type": "object"}, locked={"type": "array", "items": {"enum": list(SETTING_KEYS)}},
        sources={"type": "object", "description": "Where each value comes from, in words."},
    ),
    "Templates": _object(["templates"], templates={"type": "array", "items": _object(
        ["name", "title", "text", "origin"], name=TEXT, title=TEXT, text=TEXT, origin={"enum": ["builtin", "user"]})}),
}

CHAT_PARAM = {"name": "chat", "in": "path", "required": True, "schema": TEXT,
              "description": "The chat's id, or its name (URL-encoded)."}
EVENT_STREAM = {"text/event-stream": {"schema": TEXT}}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(body: _bodies.Body, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _bodies.schema(body)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {400: "Bad request", 403: "Not allowed", 404: "No such chat", 409: "Conflict",
             502: "The provider failed"}
    return {str(status): _json(_ref("Error"), words[status]) for status in (*statuses, 403)}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}
TURN_RESPONSES = {
    "200": {"description": "The answer: JSON (the stored message), or with Accept: text/event-stream the events "
                           "start, delta..., [error], done.",
            "content": {"application/json": {"schema": _ref("Message")}, **EVENT_STREAM}},
    **_errors(400, 404, 409),
    "502": _json(_object(["message", "reason", "answer"], message=NULLABLE_TEXT, reason=NULLABLE_TEXT,
                         answer=_ref("Message")), "The provider failed; what arrived is saved and returned"),
}

PATHS: dict[str, dict[str, Any]] = {
    "/openapi.json": {"get": {"summary": "This description", "responses": {"200": _json({"type": "object"})}}},
    "/chats": {
        "get": {"summary": "List chats, newest first", "parameters": [
            _query("q", TEXT, "Search chat names and messages."),
            _query("offset", {"type": "integer", "minimum": 0}, "Rows to skip."),
            _query("limit", LIMIT, "Rows per page (default 50)."),
        ], "responses": {"200": _json(_object(["chats", "total", "offset", "limit"], chats={
            "type": "array", "items": _ref("ChatSummary")}, total=INT, offset=INT, limit=INT)), **_errors(400)}},
        "post": {"summary": "Create a chat", "requestBody": _body(_bodies.NEW_CHAT, required=False),
                 "responses": {"201": _json(_ref("Chat"), "Created"), **_errors(400, 409)}},
    },
    "/chats/import": {"post": {
        "summary": "Import a JSON export", "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "description": "A JSON export (format mmchat-chat)."}}}},
        "responses": {"201": _json(_ref("Chat"), "Imported"), **_errors(400)}}},
    "/chats/{chat}": {
        "parameters": [CHAT_PARAM],
        "get": {"summary": "A chat with its newest messages", "parameters": [
            _query("limit", LIMIT, "Messages per page (default 100)."),
            _query("before", TEXT, "Only messages before this message id (the next older page)."),
        ], "responses": {"200": _json(_ref("Chat")), **_errors(400, 404)}},
        "patch": {"summary": "Rename a chat or change its system prompt", "requestBody": _body(_bodies.CHANGE_CHAT),
                  "responses": {"200": _json(_ref("Chat")), **_errors(400, 404, 409)}},
        "delete": {"summary": "Delete a chat", "responses": {"200": _json(_ref("Removed")), **_errors(404)}},
    },
    "/chats/{chat}/clear": {"parameters": [CHAT_PARAM], "post": {
        "summary": "Remove a chat's messages", "responses": {"200": _json(_ref("Removed")), **_errors(404)}}},
    "/chats/{chat}/export": {"parameters": [CHAT_PARAM], "get": {
        "summary": "Export a chat (an attachment)",
        "parameters": [_query("format", {"enum": list(FORMATS)}, "ipynb, md, json, txt or html (default md).")],
        "responses": {"200": {"description": "The file", "content": {
            "application/x-ipynb+json": {}, "text/markdown": {}, "application/json": {}, "text/plain": {},
            "text/html": {}}}, **_errors(400, 404)}}},
    "/chats/{chat}/messages": {
        "parameters": [CHAT_PARAM],
        "get": {"summary": "A page of a chat's messages", "parameters": [
            _query("limit", LIMIT, "Messages per page (default 100)."),
            _query("before", TEXT, "Only messages before this message id."),
        ], "responses": {"200": _json(_object(["messages", "has_more"], messages={
            "type": "array", "items": _ref("Message")}, has_more={"type": "boolean"})), **_errors(400, 404)}},
        "post": {"summary": "Ask: a turn, streamed with Accept: text/event-stream", "requestBody": _body(_bodies.TURN),
                 "responses": TURN_RESPONSES},
    },
    "/chats/{chat}/regenerate": {"parameters": [CHAT_PARAM], "post": {
        "summary": "Answer the last question again (replaces the last answer)",
        "requestBody": _body(_bodies.REGENERATE, required=False), "responses": TURN_RESPONSES}},
    "/chats/{chat}/stop": {"parameters": [CHAT_PARAM], "post": {
        "summary": "Stop the answer streaming in this chat on this server (the partial answer is kept)",
        "responses": {"200": _json(_object(["stopped"], stopped={"type": "boolean"})), **_errors(404)}}},
    "/providers": {"get": {"summary": "Providers: configured or not, and from where", "responses": {
        "200": _json(_object(["providers"], providers={"type": "array", "items": _ref("Provider")}))}}},
    "/providers/{provider}/models": {
        "parameters": [{"name": "provider", "in": "path", "required": True, "schema": TEXT}],
        "get": {"summary": "A provider's models", "responses": {"200": _json(_object(
            ["provider", "models", "default"], provider=TEXT, models={"type": "array", "items": TEXT},
            default=NULLABLE_TEXT)), **_errors(400, 502)}}},
    "/settings": {
        "get": {"summary": "Settings in force, saved and locked", "responses": {"200": _json(_ref("Settings"))}},
        "patch": {"summary": "Save defaults (as %chat set); all or nothing",
                  "requestBody": _body({key: _bodies.Field("any") for key in SETTING_KEYS}),
                  "responses": {"200": _json(_ref("Settings")), **_errors(400)}},
    },
    "/templates": {"get": {"summary": "Prompt templates", "responses": {"200": _json(_ref("Templates"))}}},
    "/templates/{name}": {
        "parameters": [{"name": "name", "in": "path", "required": True, "schema": TEXT}],
        "put": {"summary": "Save a template of yours", "requestBody": _body(_bodies.TEMPLATE),
                "responses": {"200": _json(_ref("Templates")), **_errors(400)}},
        "delete": {"summary": "Remove a template of yours", "responses": {"200": _json(_ref("Templates")),
                                                                        **_errors(400)}},
    },
    "/usage": {"get": {"summary": "Tokens used per day, provider and model", "responses": {"200": _json(_object(
        ["usage", "total_tokens"], total_tokens=INT, usage={"type": "array", "items": _object(
            ["day", "provider", "model", "prompt_tokens", "completion_tokens", "total_tokens", "answers"],
            day=TEXT, provider=NULLABLE_TEXT, model=NULLABLE_TEXT, prompt_tokens=INT, completion_tokens=INT,
            total_tokens=INT, answers=INT)}))}}},
    "/events": {"get": {"summary": "Change feed (Server-Sent Events): chats created, renamed, deleted, cleared, "
                                   "updated; messages added and updated; settings changed; from any face or kernel",
                        "parameters": [{"name": "Last-Event-ID", "in": "header", "required": False, "schema": TEXT,
                                        "description": "Resume after this event (its id)."}],
                        "responses": {"200": {"description": "The event stream", "content": EVENT_STREAM}}}},
}


def document(base_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document, with the server's base URL (JupyterHub serves each user under /user/NAME/)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mmchat-jupyter API",
            "version": __version__,
            "description": "Chats, turns (JSON or Server-Sent Events), providers, settings, templates, usage and a "
                           "change feed, over the same engine and history as %%chat and the chat panel. "
                           "Authentication is the Jupyter Server's: a token (Authorization: token ...) or its "
                           "login cookie with the _xsrf token.",
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/mmchat/api/v1"}],
        "security": [{"token": []}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                                          "description": "token <the server's token>"}},
        },
        "paths": PATHS,
    }


class OpenAPIHandler(MMChatHandler):
    @authorized
    async def get(self) -> None:
        self.send(document(self.base_url))
