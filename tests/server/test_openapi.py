"""The OpenAPI description matches the handlers: every served path and method is described and nothing else is;
the document is valid JSON Schema throughout; the server serves it with its own base URL. (Every answer the other
tests get is also checked against it, by the `api` fixture.)"""

from __future__ import annotations

import re

import httpx
from jsonschema import Draft202012Validator

from mmchat_jupyter.server import PREFIX, _pattern, routes
from mmchat_jupyter.server.openapi import document

METHODS = ("get", "post", "put", "patch", "delete")


def handled_methods(handler: type) -> set[str]:
    """The HTTP methods a handler class implements itself (not tornado's stubs that answer 405)."""
    from tornado.web import RequestHandler

    return {m for m in METHODS if getattr(handler, m) is not getattr(RequestHandler, m)}


def test_every_route_is_described_and_nothing_else() -> None:
    paths = document()["paths"]
    served = {(path, method) for path, handler in routes() for method in handled_methods(handler)}
    described = {(path, method) for path, item in paths.items() for method in item if method in METHODS}
    assert served == described


def test_path_parameters_match() -> None:
    paths = document()["paths"]
    for path, _handler in routes():
        described = {p["name"] for p in paths[path].get("parameters", []) if p["in"] == "path"}
        assert described == set(re.findall(r"\(\?P<(\w+)>", _pattern(path))), path


def test_schemas_are_valid_json_schema() -> None:
    spec = document()
    for schema in spec["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for item in spec["paths"].values():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            assert operation["summary"] and operation["responses"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "schema" in body:
                Draft202012Validator.check_schema(body["schema"])


def test_served_document(api: httpx.Client) -> None:
    served = api.get("/openapi.json").json()
    assert served["openapi"] == "3.1.0"
    assert served["servers"] == [{"url": f"/{PREFIX}"}]
    assert served["paths"] == document()["paths"]
