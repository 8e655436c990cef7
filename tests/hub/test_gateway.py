"""The hub's LLM gateway as a managed service of a real JupyterHub, used from real kernels of real OS users (#18).

The administrator gives the provider key to the gateway only (its configuration file, readable by root alone);
the users' servers get MMCHAT_GATEWAY_URL and the access scope on their own token. alice (group analysts) and
bob (group scientists) both stream %%chat answers through it; bob has a small daily limit and goes over it;
carol has no role and is refused. The key, a canary, must appear nowhere on the users' side: not in their
processes' environments, their files, their kernels' messages, nor in the hub's API responses.
"""

from __future__ import annotations

import pwd
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.yandex import FOLDER, FakeYandex

from .conftest import USERS, Machine, ensure_user
from .hub import Hub, Kernel, Result, free_port

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.timeout(600)]

CANARY = "AQVN-gateway-hub-canary-1e5c9a7d3b"
SERVICE = "mmchat-gateway"
ALICE, BOB = USERS
CAROL = "mmchat-carol"
GROUPS = {"analysts": [ALICE], "scientists": [BOB], "visitors": [CAROL]}
LIMIT_MESSAGE = "You have used your daily limit of 40 tokens on the hub's LLM gateway: it renews in"

GATEWAY_CONFIG = """\
# Written by tests/hub: the gateway's configuration, 0600 root, with the only copy of the provider key.
c = get_config()  # noqa: F821
c.MMChatGateway.providers = {providers!r}
c.MMChatGateway.limits = {{"user:{bob}": {{"tokens_per_day": 40}}}}
c.MMChatGateway.db_url = {db_url!r}
c.MMChatGateway.audit_log = {audit!r}
"""

ENVIRONMENT = """\
import json, os
print(json.dumps(dict(os.environ)))
"""

DOCTOR = """\
import subprocess, sys
done = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "doctor"], capture_output=True, text=True)
print(done.stdout + done.stderr)
"""


@dataclass
class UserRun:
    results: dict[str, Result] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    environments: list[bytes] = field(default_factory=list)
    files_with_canary: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    users: dict[str, UserRun]
    upstream_keys: list[str | None]
    hub_api: list[str]
    audit: str


def user_processes_environ(uid: int) -> list[bytes]:
    """The environment of every process the user runs now (the server, the kernel, their children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    found.append((entry / "environ").read_bytes())
            except OSError:
                continue
    return found


def files_holding(home: Path, needle: bytes) -> list[str]:
    hits = []
    for path in home.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                hits.append(str(path))
        except OSError:
            continue
    return hits


def run_steps(kernel: Kernel, run: UserRun, steps: dict[str, str]) -> None:
    for step, code in steps.items():
        run.results[step] = kernel.execute(code)


@pytest.fixture(scope="module")
def scenario(machine: Machine) -> Scenario:
    ensure_user(CAROL)
    private = machine.run_dir / "gateway"
    private.mkdir(mode=0o700)
    with FakeYandex(keys={CANARY}) as yandex:
        yandex.script(["word "] * 30)  # 30 tokens an answer: bob's second one is over his 40
        providers = {"yandexgpt": {"base_url": yandex.url, "api_key": CANARY, "folder_id": FOLDER}}
        config = private / "mmchat_gateway_config.py"
        config.write_text(GATEWAY_CONFIG.format(providers=providers, bob=BOB, db_url=f"sqlite:///{private / 'u.db'}",
                                                audit=str(private / "audit.jsonl")), encoding="utf-8")
        config.chmod(0o600)
        hub_dir = machine.run_dir / "hub-gateway"
        hub_dir.mkdir(mode=0o700)
        service = {
            "name": SERVICE,
            "url": f"http://127.0.0.1:{free_port()}",
            "command": [sys.executable, "-m", "mmchat_jupyter.gateway", "--config", str(config)],
            "cwd": str(private),
        }
        # Only analysts and scientists hold the role: carol (visitors) has no access.
        roles = [{"name": "llm-users", "scopes": [f"access:services!service={SERVICE}"],
                  "groups": ["analysts", "scientists"]}]
        environment: dict[str, str] = {}
        hub = Hub(hub_dir, proxy=machine.proxy, spawner_cmd=[str(machine.venv / "bin" / "python"), "-m",
                  "jupyterhub.singleuser"], environment=environment, services=[service], roles=roles, settings={
            "c.JupyterHub.load_groups": {group: {"users": members} for group, members in GROUPS.items()},
            "c.Spawner.server_token_scopes": ["users:activity!user", "access:servers!server",
                                              f"access:services!service={SERVICE}"],
        })
        environment.update({  # no provider key: the gateway's address, and the hub gives each server its token
            "PATH": f"{machine.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(machine.src),
            "LANG": "C.UTF-8",
            "MMCHAT_LANG": "en",
            "MMCHAT_GATEWAY_URL": f"{hub.url}/services/{SERVICE}",
        })
        users = {name: UserRun() for name in (ALICE, BOB, CAROL)}
        kernels: dict[str, Kernel] = {}
        try:
            hub.start()
            for name in users:
                kernels[name] = hub.login(name).start_kernel()
            for name in (ALICE, BOB):
                steps = {"load": "%load_ext mmchat_jupyter", "chat": f"%%chat -p yandexgpt\nHello from {name}",
                         "providers": "%chat providers", "doctor": DOCTOR, "environment": ENVIRONMENT}
                if name == BOB:
                    steps["over"] = "%%chat -p yandexgpt\nOne more, please"
                    steps["alive"] = "print(6 * 7)"
                run_steps(kernels[name], users[name], steps)
            run_steps(kernels[CAROL], users[CAROL], {
                "load": "%load_ext mmchat_jupyter", "chat": "%%chat -p yandexgpt\nLet me in", "alive": "print(6 * 7)"})
            for name, run in users.items():
                run.environments = user_processes_environ(pwd.getpwnam(name).pw_uid)
            api = [hub.call("GET", path).text for path in ("/services", f"/services/{SERVICE}", "/users", "/groups")]
        finally:
            for name, kernel in kernels.items():
                users[name].received = list(kernel.received)
                kernel.close()
            for name in users:
                hub.stop_server(name)
            hub.stop()
        for name, run in users.items():
            home = Path(pwd.getpwnam(name).pw_dir)
            run.files_with_canary = files_holding(home, CANARY.encode())
            # The hub tests after this one count each user's chats: leave none of ours.
            shutil.rmtree(home / ".local" / "share" / "jupyter" / "mmchat", ignore_errors=True)
        keys = [r.header("authorization") for r in yandex.requests if r.path == "/foundationModels/v1/completion"]
        audit = (private / "audit.jsonl").read_text(encoding="utf-8") if (private / "audit.jsonl").exists() else ""
        return Scenario(users, keys, api, audit)


def test_both_users_stream_their_answers_through_the_gateway(scenario: Scenario) -> None:
    for name in (ALICE, BOB):
        result = scenario.users[name].results["chat"]
        assert result.error is None, result.text
        assert "word word word" in result.text
    # Two answers went upstream, each with the gateway's key, none with a user's token.
    assert scenario.upstream_keys == [f"Api-Key {CANARY}"] * 2


def test_providers_and_doctor_say_via_the_hubs_gateway(scenario: Scenario) -> None:
    for name in (ALICE, BOB):
        results = scenario.users[name].results
        yandex = next(line for line in results["providers"].stdout.splitlines() if "yandexgpt" in line)
        assert "via the hub's gateway" in yandex, results["providers"].text
        assert "via the hub's gateway" in results["doctor"].stdout, results["doctor"].text


def test_over_the_daily_limit_one_line_and_the_kernel_lives(scenario: Scenario) -> None:
    results = scenario.users[BOB].results
    over = results["over"]
    assert over.error is None, over.text  # no traceback
    lines = [line for line in over.text.splitlines() if LIMIT_MESSAGE in line]
    assert len(lines) == 1, over.text
    assert results["alive"].stdout.strip() == "42"


def test_a_user_without_access_is_refused_with_one_line(scenario: Scenario) -> None:
    results = scenario.users[CAROL].results
    refused = results["chat"]
    assert refused.error is None, refused.text
    lines = [line for line in refused.text.splitlines() if "has no access to the hub's LLM gateway" in line]
    assert len(lines) == 1 and CAROL in lines[0], refused.text
    assert results["alive"].stdout.strip() == "42"


def test_the_provider_key_is_nowhere_on_the_users_side(scenario: Scenario) -> None:
    for name, run in scenario.users.items():
        assert run.environments, f"no process of {name} seen"
        assert not any(CANARY.encode() in environ for environ in run.environments), name
        assert not any(CANARY in raw for raw in run.received), name
        assert run.files_with_canary == [], run.files_with_canary
        environment = run.results.get("environment")
        if environment is not None:
            assert "JUPYTERHUB_API_TOKEN" in environment.stdout and "MMCHAT_GATEWAY_URL" in environment.stdout
            assert not any(key in environment.stdout for key in ("YANDEX_API_KEY", "GIGACHAT_CREDENTIALS"))
    for body in scenario.hub_api:
        assert CANARY not in body


def test_the_gateways_audit_names_every_request(scenario: Scenario) -> None:
    assert scenario.audit.count('"status":"ok"') == 2
    assert scenario.audit.count('"limit":"tokens_per_day"') == 1
    assert CAROL in scenario.audit and CANARY not in scenario.audit
