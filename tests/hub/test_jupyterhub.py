"""A real JupyterHub with two real OS users: per-user history, admin policy and central credentials (issue 7).

One scenario runs once for the module (a hub on loopback, two single-user servers, one kernel each, a fake
YandexGPT in this process); the tests below each check one promise against what it recorded.

The administrator gives the YandexGPT key through the spawner's environment (as a Kubernetes Secret would), and an
OpenAI-compatible key through the system-wide IPython config; the policy locks the provider and its settings, caps
max_tokens and turns the audit log on.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_compat import FakeOpenAI
from tests.fakes.yandex import FOLDER, FakeYandex

from .conftest import REPO, USERS, Machine, open_parents
from .hub import Hub, Kernel, Result, UserServer

pytestmark = [pytest.mark.hub, pytest.mark.slow, pytest.mark.timeout(600)]

YANDEX_KEY = "AQVN-hub-admin-key-7f3e9c1d2b4a"
OPENAI_KEY = "sk-hub-admin-config-key-5d8e2a9f"
SECRETS = (YANDEX_KEY, OPENAI_KEY)
LOCKED_MESSAGE = "provider is set by your administrator and cannot be changed here."

ADMIN_POLICY = """\
# Written by tests/hub: the administrator's policy, root-owned 0644, as /etc/ipython/ipython_config.py would be.
c.MMChat.default_provider = "yandexgpt"
c.MMChat.locked = ["provider", "providers"]
c.MMChat.allowed_providers = ["yandexgpt", "openai"]
c.MMChat.max_tokens_ceiling = 200
c.MMChat.provider_settings = {provider_settings!r}
c.MMChat.audit_log = {audit_log!r}
"""

CHATS = """\
import json
from mmchat_jupyter.history import HistoryStore
store = HistoryStore()
chats = [[m.content for m in store.get_chat(c.id).messages] for c in store.list_chats()]
print(json.dumps({"root": str(store.root), "chats": chats}))
"""

TRY_READ = """\
import json, os
tried = {{}}
for path in {paths!r}:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").close()
        tried[path] = "allowed"
    except OSError as exc:
        tried[path] = type(exc).__name__
print(json.dumps(tried))
"""

REPRS = """\
from mmchat_jupyter.session import default_session
session = default_session()
provider = session.providers.instance("yandexgpt")
print(repr(session.settings), repr(provider), provider.api_key, sep="\\n")
"""

DOCTOR = """\
import subprocess, sys
done = subprocess.run([sys.executable, "-m", "mmchat_jupyter.cli", "doctor"], capture_output=True, text=True)
print(done.stdout + done.stderr)
"""


@dataclass
class UserRun:
    """What one user's kernel showed, step by step, and every raw message it sent back."""

    results: dict[str, Result] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    root: Path | None = None
    chats: list[list[str]] = field(default_factory=list)
    tried: dict[str, str] = field(default_factory=dict)
    #: The mmchat API of the user's server: step -> (status, JSON body).
    api: dict[str, tuple[int, Any]] = field(default_factory=dict)


@dataclass
class Scenario:
    users: dict[str, UserRun]
    yandex_requests: list
    files: dict[str, list[Path]]
    audit_dir: Path


def run_user_steps(kernel: Kernel, name: str, run: UserRun) -> None:
    steps = {
        "load": "%load_ext mmchat_jupyter",
        "chat": f"%%chat\nHello from {name}",
        "providers": "%chat providers",
        "set_locked": "%chat set provider=echo",
        "cell_locked": "%%chat -p echo\nLet me use another provider",
        "ceiling": "%chat set max_tokens=5000",
        "reprs": REPRS,
        "doctor": DOCTOR,
        "chats": CHATS,
    }
    for step, code in steps.items():
        run.results[step] = kernel.execute(code)
    listing = json.loads(run.results["chats"].stdout)
    run.root, run.chats = Path(listing["root"]), listing["chats"]


def run_api_steps(servers: dict[str, UserServer], name: str, run: UserRun) -> None:
    """The user's own server API with their own token, then with none and with the other user's."""
    own, other = servers[name], servers[next(u for u in USERS if u != name)]
    base = f"{own.url}mmchat/api/v1"
    with httpx.Client(headers={"Authorization": f"token {own.token}"}, timeout=60) as client:
        listed = client.get(f"{base}/chats")
        run.api["list"] = (listed.status_code, listed.json())
        chats = listed.json().get("chats", [])
        if chats:
            chat = client.get(f"{base}/chats/{chats[0]['id']}")
            run.api["chat"] = (chat.status_code, chat.json())
            locked = client.post(f"{base}/chats/{chats[0]['id']}/messages", json={"prompt": "x", "provider": "echo"})
            run.api["locked"] = (locked.status_code, locked.json())
        providers = client.get(f"{base}/providers")
        run.api["providers"] = (providers.status_code, providers.json())
        foreign = client.get(f"{other.url}mmchat/api/v1/chats", follow_redirects=False)
        run.api["other_users_server"] = (foreign.status_code, foreign.text)
    anonymous = httpx.get(f"{base}/chats", follow_redirects=False, timeout=60)
    run.api["no_token"] = (anonymous.status_code, anonymous.text)


@pytest.fixture(scope="module")
def scenario(machine: Machine) -> Scenario:
    audit_dir = machine.run_dir / "audit"
    audit_dir.mkdir()
    audit_dir.chmod(0o1733)  # sticky and write-only for users, as the deploy doc says
    with FakeYandex(keys={YANDEX_KEY}) as yandex, FakeOpenAI(api_key=OPENAI_KEY) as openai:
        provider_settings = {
            "yandexgpt": {"folder_id": FOLDER},
            "openai": {"base_url": f"{openai.url}/v1", "api_key": OPENAI_KEY},
        }
        machine.admin_config.parent.mkdir(parents=True, exist_ok=True)
        machine.admin_config.write_text(
            ADMIN_POLICY.format(provider_settings=provider_settings, audit_log=str(audit_dir)), encoding="utf-8"
        )
        machine.admin_config.chmod(0o644)
        # The package's Jupyter Server configuration, where installing the wheel puts it: it enables the API.
        server_config = machine.venv / "etc" / "jupyter" / "jupyter_server_config.d" / "mmchat_jupyter.json"
        server_config.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "jupyter-config" / "jupyter_server_config.d" / "mmchat_jupyter.json", server_config)
        server_config.chmod(0o644)
        environment = {
            "PATH": f"{machine.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(machine.src),
            "LANG": "C.UTF-8",
            "MMCHAT_LANG": "en",
            "YANDEX_API_KEY": YANDEX_KEY,
            "YANDEX_BASE_URL": yandex.url,
        }
        hub_dir = machine.run_dir / "hub"
        hub_dir.mkdir(mode=0o700)
        hub = Hub(hub_dir, proxy=machine.proxy, spawner_cmd=[str(machine.venv / "bin" / "python"), "-m",
                  "jupyterhub.singleuser"], environment=environment)
        users = {name: UserRun() for name in USERS}
        kernels: dict[str, Kernel] = {}
        servers: dict[str, UserServer] = {}
        try:
            hub.start()
            for name in USERS:
                servers[name] = hub.login(name)
                kernels[name] = servers[name].start_kernel()
            for name in USERS:
                run_user_steps(kernels[name], name, users[name])
            files = {name: history_files(users[name].root) for name in USERS}
            for reader, owner in ((USERS[1], USERS[0]), (USERS[0], USERS[1])):
                open_parents(machine.users[owner], users[owner].root)
                paths = [str(users[owner].root), *map(str, files[owner])]
                result = kernels[reader].execute(TRY_READ.format(paths=paths))
                users[reader].results["try_read"] = result
                users[reader].tried = json.loads(result.stdout)
            for name in USERS:
                run_api_steps(servers, name, users[name])
        finally:
            for name, kernel in kernels.items():
                users[name].received = list(kernel.received)
                kernel.close()
            for name in USERS:
                hub.stop_server(name)
            hub.stop()
            machine.admin_config.unlink(missing_ok=True)
            server_config.unlink(missing_ok=True)
        # `mmchat doctor` also probes the server (without credentials); only completions count here.
        completions = [r for r in yandex.requests if r.path == "/foundationModels/v1/completion"]
        return Scenario(users, completions, files, audit_dir)


def history_files(root: Path) -> list[Path]:
    """Every file and directory under a user's history root (listed as root)."""
    return sorted(root.rglob("*"))


# -- per-user history ---------------------------------------------------------------------------------------------


def test_each_user_sees_only_their_own_chats(scenario: Scenario) -> None:
    for name in USERS:
        other = next(u for u in USERS if u != name)
        run = scenario.users[name]
        assert run.results["chat"].error is None, run.results["chat"].text
        assert f"You said: Hello from {name}" in run.results["chat"].text
        texts = [text.strip() for chat in run.chats for text in chat]
        assert f"Hello from {name}" in texts
        assert not any(other in text for text in texts), texts
        assert run.root == Path(f"/home/{name}/.local/share/jupyter/mmchat")


def test_history_is_owned_by_its_user_with_dirs_0700_and_files_0600(scenario: Scenario) -> None:
    for name in USERS:
        root = scenario.users[name].root
        uid = os.stat(f"/home/{name}").st_uid
        assert scenario.files[name], f"no history files for {name}"
        for path in [root, *scenario.files[name]]:
            info = path.lstat()
            expected = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, expected), path


def test_one_users_process_cannot_read_the_others_history(scenario: Scenario) -> None:
    for reader, owner in ((USERS[1], USERS[0]), (USERS[0], USERS[1])):
        tried = scenario.users[reader].tried
        assert tried, scenario.users[reader].results["try_read"].text
        assert len(tried) == 1 + len(scenario.files[owner])
        assert set(tried.values()) == {"PermissionError"}, tried


# -- policy -------------------------------------------------------------------------------------------------------


def test_a_locked_setting_cannot_be_overridden(scenario: Scenario) -> None:
    for name in USERS:
        results = scenario.users[name].results
        for step in ("set_locked", "cell_locked"):
            shown = results[step].stderr.strip()
            assert shown == f"UsageError: {LOCKED_MESSAGE}", (step, results[step].text)
        assert results["ceiling"].stderr.strip() == (
            "UsageError: max_tokens 5000 is above the limit of 200 set by your administrator."
        )
    # The locked cell never reached any provider: one request per user, all to YandexGPT.
    assert len(scenario.yandex_requests) == len(USERS)


def test_providers_and_doctor_say_where_credentials_come_from(scenario: Scenario) -> None:
    for name in USERS:
        results = scenario.users[name].results
        lines = results["providers"].stdout.splitlines()
        yandex = next(line for line in lines if "yandexgpt" in line)
        openai = next(line for line in lines if " openai " in line)
        assert yandex.startswith("*") and "environment (YANDEX_API_KEY)" in yandex, lines
        assert "administrator configuration, locked" in openai, lines
        assert "YANDEX_API_KEY" in results["doctor"].stdout, results["doctor"].text


# -- central credentials and secrecy ------------------------------------------------------------------------------


def test_the_admins_key_reached_the_provider(scenario: Scenario) -> None:
    assert [r.header("authorization") for r in scenario.yandex_requests] == [f"Api-Key {YANDEX_KEY}"] * len(USERS)
    prompts = {r.json()["messages"][-1]["text"].strip() for r in scenario.yandex_requests}
    assert prompts == {f"Hello from {name}" for name in USERS}


def test_no_admin_key_in_anything_a_user_sees(scenario: Scenario) -> None:
    for name in USERS:
        run = scenario.users[name]
        assert run.received
        assert "Secret('***')" in run.results["reprs"].stdout, run.results["reprs"].text
        for raw in run.received:  # every message the kernel sent back: outputs, errors, status
            for secret in SECRETS:
                assert secret not in raw, f"{name}: key in {raw[:300]}"
        for path in scenario.files[name]:
            if path.is_file():
                data = path.read_bytes()
                assert not any(secret.encode() in data for secret in SECRETS), path


def test_the_audit_log_has_usage_per_user_and_no_prompt(scenario: Scenario) -> None:
    for name in USERS:
        path = scenario.audit_dir / f"{name}.jsonl"
        info = path.stat()
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.stat(f"/home/{name}").st_uid, 0o600)
        (entry,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert (entry["user"], entry["provider"], entry["status"]) == (name, "yandexgpt", "complete")
        assert entry["usage"]["total_tokens"] > 0
        assert "prompt" not in entry and "Hello" not in path.read_text(encoding="utf-8")


# -- the server API (issue 17) -------------------------------------------------------------------------------------


def test_each_users_api_shows_only_their_own_chats(scenario: Scenario) -> None:
    for name in USERS:
        other = next(u for u in USERS if u != name)
        api = scenario.users[name].api
        status, listed = api["list"]
        assert status == 200, api
        assert listed["total"] == len(scenario.users[name].chats) == 1
        status, chat = api["chat"]
        texts = [m["content"] for m in chat["messages"]]
        assert status == 200 and texts[0].strip() == f"Hello from {name}", texts
        assert not any(other in text for text in texts)


def test_another_users_token_and_no_token_are_refused(scenario: Scenario) -> None:
    for name in USERS:
        api = scenario.users[name].api
        status, body = api["other_users_server"]
        assert status == 403, (status, body[:300])
        assert "Hello from" not in body
        status, body = api["no_token"]
        assert status in (302, 403), (status, body[:300])  # the hub's login redirect, or a refusal
        assert "Hello from" not in body


def test_the_api_keeps_the_administrators_policy_and_no_secret(scenario: Scenario) -> None:
    for name in USERS:
        api = scenario.users[name].api
        assert api["locked"] == (400, {"message": LOCKED_MESSAGE, "reason": "invalid"})
        status, body = api["providers"]
        rows = {row["name"]: row for row in body["providers"]}
        assert status == 200 and rows["yandexgpt"]["credentials"] == "environment (YANDEX_API_KEY)"
        assert rows["yandexgpt"]["default"] and not rows["echo"]["allowed"]
        shown = json.dumps(api, ensure_ascii=False)
        assert not any(secret in shown for secret in SECRETS)
