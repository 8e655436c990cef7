"""`mmchat-gateway`: the application, its configuration (`c.MMChatGateway.*`) and its lifecycle.

Run by JupyterHub as a managed service (`c.JupyterHub.services = [{"name": "mmchat-gateway", "url": ...,
"command": ["mmchat-gateway"]}]`: the hub passes its API URL, the service's token, prefix and URL in the
environment), or as a process or Kubernetes Deployment of its own with the same variables set. Configuration comes
from `mmchat_gateway_config.py` (in the working directory, or `--config PATH`), provider keys from there or from the
gateway's environment (YANDEX_API_KEY, GIGACHAT_CREDENTIALS, OPENAI_API_KEY, ...): never from the users' side.

On SIGTERM the gateway stops accepting requests and lets the answers in progress finish (up to `shutdown_timeout`),
so a rolling update of several replicas cuts no answer short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuth
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets import Bool, Dict, Float, Int, List, Unicode, default
from traitlets.config import Application

from ..context import DEFAULT_ANSWER_TOKENS
from ..errors import MMChatError
from .audit import AuditLog
from .handlers import routes
from .ledger import Ledger, make_engine
from .limits import Calendar, LimitsConfigError, Policy
from .metrics import Metrics
from .service import Gateway
from .upstream import Upstreams

log = logging.getLogger("mmchat_jupyter.gateway")

#: Old finished requests are forgotten this often (seconds).
PURGE_INTERVAL = 3600.0


class MMChatGateway(Application):
    """The hub's LLM gateway."""

    name = "mmchat-gateway"
    description = "An OpenAI-compatible LLM gateway for JupyterHub: central provider keys, per-user limits, usage."

    config_file = Unicode("mmchat_gateway_config.py", help="The configuration file to load.").tag(config=True)
    service_name = Unicode(help="The service's name on the hub (default: $JUPYTERHUB_SERVICE_NAME).").tag(config=True)
    bind_url = Unicode(help="Where to listen, http://IP:PORT (default: $JUPYTERHUB_SERVICE_URL).").tag(config=True)
    base_url = Unicode(help="The URL prefix served (default: $JUPYTERHUB_SERVICE_PREFIX).").tag(config=True)

    providers = Dict(
        value_trait=Dict(),
        help="provider -> settings (api_key, folder_id, credentials, scope, base_url, ca_bundle_file, ...). Providers "
        "with credentials in the gateway's environment are offered too.",
    ).tag(config=True)
    models = Dict(value_trait=List(Unicode()), help="provider -> the only models offered (default: all).").tag(
        config=True
    )
    limits = Dict(help="'*', 'group:NAME', 'user:NAME' -> limits (see mmchat_jupyter/gateway/limits.py).").tag(
        config=True
    )
    timezone = Unicode("UTC", help="The time zone whose midnight renews daily limits (e.g. Europe/Moscow).").tag(
        config=True
    )
    answer_reserve = Int(
        DEFAULT_ANSWER_TOKENS, help="Tokens reserved for an answer when the request sets no max_tokens."
    ).tag(config=True)
    request_timeout = Float(600.0, help="The longest an answer may take, in seconds.").tag(config=True)
    shutdown_timeout = Float(30.0, help="Seconds answers in progress may take to finish on SIGTERM.").tag(config=True)
    housekeeping_interval = Float(
        5.0, help="Seconds between retries of usage that could not be recorded (the database was unavailable)."
    ).tag(config=True)

    db_url = Unicode(
        "sqlite:///mmchat_gateway.sqlite",
        help="The usage database: sqlite:///PATH for one replica, postgresql://USER:PASSWORD@HOST/DB for several.",
    ).tag(config=True)
    db_threads = Int(4, help="Threads (and pooled connections) for a PostgreSQL database.").tag(config=True)
    fail_open = Bool(
        False, help="Serve requests, unmetered, while the usage database is unavailable (default: refuse them)."
    ).tag(config=True)

    audit_log = Unicode("", help="A file for the audit lines (mode 0600); empty: standard output.").tag(config=True)
    audit_prompts = Bool(False, help="Put the prompt in audit lines.").tag(config=True)
    metrics_per_user = Bool(False, help="Label metrics by user too (one series per user).").tag(config=True)
    authenticate_prometheus = Bool(
        True, help="Require a hub token with read:metrics for /metrics, as JupyterHub does for its own."
    ).tag(config=True)
    usage_scopes = List(
        Unicode(), help="Scopes, any of which lets a token read everyone's usage (GET /usage)."
    ).tag(config=True)
    cookie_secret = Unicode(
        help="Hex key for the OAuth cookie; set the same on every replica (default: $MMCHAT_GATEWAY_COOKIE_SECRET, "
        "else random)."
    ).tag(config=True)

    aliases = {  # noqa: RUF012 - traitlets reads the command-line aliases from the class
        "config": "MMChatGateway.config_file",
        "bind-url": "MMChatGateway.bind_url",
        "db-url": "MMChatGateway.db_url",
        "log-level": "Application.log_level",
    }

    @default("log_level")
    def _log_level(self) -> int:
        return logging.INFO

    @default("service_name")
    def _service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME", "mmchat-gateway")

    @default("bind_url")
    def _bind_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8765")

    @default("base_url")
    def _base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{self.service_name}/")

    @default("usage_scopes")
    def _usage_scopes(self) -> list[str]:
        return ["admin:users", f"custom:{self.service_name}:usage"]

    @default("cookie_secret")
    def _cookie_secret(self) -> str:
        return os.environ.get("MMCHAT_GATEWAY_COOKIE_SECRET") or secrets.token_hex(32)

    def initialize(self, argv: Any = None) -> None:
        super().initialize(argv)
        if self.config_file and os.path.exists(self.config_file):
            self.load_config_file(self.config_file)
        _log_to(self.log_level)

    # -- assembly -----------------------------------------------------------------------------------------------

    def build(self) -> tuple[Gateway, web.Application]:
        """The gateway and its tornado application, from the configuration; MMChatError/ValueError (one line) when
        the configuration cannot work."""
        calendar = Calendar(self.timezone)
        policy = Policy(self.limits)
        engine = make_engine(self.db_url, pool_size=self.db_threads)
        ledger = Ledger(engine, calendar)
        hub_auth = HubOAuth(parent=self)  # c.HubOAuth.* and JupyterHub's environment variables configure it
        if not hub_auth.access_scopes:  # never "every hub user": a gateway outside the hub has no env to say whom
            hub_auth.access_scopes = {f"access:services!service={self.service_name}"}
        base_url = "/" + self.base_url.strip("/") + "/" if self.base_url.strip("/") else "/"
        hub_auth.base_url = base_url
        gateway = Gateway(
            policy=policy,
            upstreams=Upstreams(self.providers, self.models),
            ledger=ledger,
            metrics=Metrics(per_user=self.metrics_per_user),
            audit=AuditLog(self.audit_log, prompts=self.audit_prompts),
            hub_auth=hub_auth,
            answer_reserve=self.answer_reserve,
            request_timeout=self.request_timeout,
            fail_open=self.fail_open,
            db_threads=self.db_threads,
            usage_scopes=frozenset(self.usage_scopes),
            metrics_scopes=frozenset({"read:metrics"}) if self.authenticate_prometheus else None,
        )
        application = web.Application(
            routes(base_url, gateway), cookie_secret=bytes.fromhex(self.cookie_secret), log_function=_quiet
        )
        return gateway, application

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            asyncio.run(self.serve())
        except (MMChatError, LimitsConfigError, ValueError) as exc:
            log.critical("mmchat-gateway cannot start: %s", exc)
            sys.exit(1)

    async def serve(self, *, listening: asyncio.Future[int] | None = None, stop: asyncio.Event | None = None) -> None:
        """Serve until SIGTERM/SIGINT (or `stop` is set). `listening` receives the port once it is bound."""
        gateway, application = self.build()
        self.gateway = gateway
        await gateway.housekeeping()  # creates the tables (or says the database is unavailable)
        target = urlsplit(self.bind_url)
        server = HTTPServer(application, xheaders=True, idle_connection_timeout=3600)
        port = target.port if target.port is not None else 80
        sockets = bind_sockets(port, address=target.hostname or "")
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        log.info("mmchat-gateway listening on %s://%s:%d%s (usage in %s)", target.scheme or "http",
                 target.hostname, port, gateway.hub_auth.base_url, gateway.ledger.engine.url.render_as_string())
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread (tests)
                loop.add_signal_handler(signum, stop.set)
        if listening is not None:
            listening.set_result(port)
        chores = asyncio.ensure_future(_housekeeping(gateway, self.housekeeping_interval))
        try:
            await stop.wait()
        finally:
            server.stop()  # no new connections; answers in progress go on
            chores.cancel()
            await _drain(gateway, self.shutdown_timeout)
            await server.close_all_connections()
            await gateway.housekeeping()
            gateway.close()


async def _housekeeping(gateway: Gateway, interval: float) -> None:
    since_purge = PURGE_INTERVAL
    while True:
        await asyncio.sleep(interval)
        await gateway.housekeeping()
        since_purge += interval
        if since_purge >= PURGE_INTERVAL:
            since_purge = 0.0
            await gateway.purge()


async def _drain(gateway: Gateway, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while gateway.active and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)


def _quiet(handler: web.RequestHandler) -> None:
    """Access log: the audit line says what matters about completions; only failures of the rest are logged."""
    if handler.get_status() >= 500:
        log.warning("%d %s %.1f ms", handler.get_status(), handler.request.path,
                    1000 * handler.request.request_time())


def _log_to(level: Any) -> None:
    logger = logging.getLogger("mmchat_jupyter")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(levelname).1s %(asctime)s mmchat-gateway] %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level)


def main(argv: list[str] | None = None) -> None:
    """The `mmchat-gateway` command."""
    MMChatGateway.launch_instance(argv)
