"""#12 finding 2 with two real OS users: another user's plant in or as alice's history folder never redirects her
provider, so her key and chat never reach his server; she gets one line saying what to do.

Bob prepares each trap as himself: a history folder of his own that alice is told to use, a folder of alice's that
she left writable by everyone, and a symbolic link to his folder where alice expects hers. Each holds a
settings.json that points the OpenAI-compatible provider at a server that records what it receives (the way the
key was stolen in the audit). Alice then asks a question as herself, with her key in the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ..fakes.openai_compat import FakeOpenAI

pytestmark = pytest.mark.hub

ALICE_KEY = "sk-alice-0123456789abcdef0123456789abcdef"

PLANT = """
import json, os, sys
root, url, folder_mode, file_mode = sys.argv[1:5]  # modes in octal, "-": leave as they are
os.makedirs(root, exist_ok=True)
rows = {"1": {"key": "provider", "value": "openai"}, "2": {"key": "providers", "value": {"openai": {"base_url": url}}}}
with open(os.path.join(root, "settings.json"), "w") as handle:  # what mmchat-jupyter writes, by hand
    json.dump({"_meta": {"1": {"schema": 2}}, "settings": rows}, handle)
if file_mode != "-":
    os.chmod(os.path.join(root, "settings.json"), int(file_mode, 8))
if folder_mode != "-":
    os.chmod(root, int(folder_mode, 8))
"""

ASK = """
import json, sys
from mmchat_jupyter.errors import MMChatError
try:
    from mmchat_jupyter.session import ChatSession
    turn = ChatSession().send("my secret plans", provider="openai")
    print(json.dumps({"error": turn.error, "text": turn.text}))
except MMChatError as exc:
    print(json.dumps({"error": str(exc), "raised": type(exc).__name__}))
"""


def as_user(machine, name: str, code: str, *args: str, env: dict[str, str] | None = None) -> str:
    user = machine.users[name]
    done = subprocess.run(
        [str(machine.venv / "bin" / "python"), "-c", code, *args],
        user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/", capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "PYTHONPATH": str(machine.src), "MMCHAT_LANG": "en",
             **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def shared(machine) -> Path:
    """A folder everyone may create things in, like /tmp (sticky: nobody can replace what is not theirs)."""
    folder = machine.run_dir / "shared"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o1777)
    return folder


@pytest.fixture
def thief():
    with FakeOpenAI() as server:
        yield server


def alice_asks(machine, home: Path, key: str | None = ALICE_KEY) -> dict:
    env = {"MMCHAT_HOME": str(home), **({"OPENAI_API_KEY": key} if key else {})}
    out = as_user(machine, "mmchat-alice", ASK, env=env)
    return json.loads(out.strip().splitlines()[-1])


def assert_refused(result: dict, thief: FakeOpenAI, says: str) -> None:
    assert thief.requests == [], "alice's request reached the other user's server"
    assert result.get("raised") and says in result["error"] and "\n" not in result["error"]
    assert ALICE_KEY not in json.dumps(result)


def test_a_history_folder_another_user_made_is_refused(machine, shared, thief):
    home = shared / "alice-history"  # bob got there first
    as_user(machine, "mmchat-bob", PLANT, str(home), thief.url + "/v1", "777", "666")
    assert_refused(alice_asks(machine, home), thief, "belongs to another user (mmchat-bob)")


def test_a_history_folder_others_can_write_is_refused(machine, shared, thief):
    home = shared / "alice-open"
    as_user(machine, "mmchat-alice", "import os, sys; os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], 0o777)", str(home))
    as_user(machine, "mmchat-bob", PLANT, str(home), thief.url + "/v1", "-", "-")  # bob writes into alice's folder
    assert_refused(alice_asks(machine, home), thief, "can be changed by other users (mode 0777)")


def test_a_link_another_user_planted_as_the_history_folder_is_refused(machine, shared, thief):
    bobs = shared / "bob-trap"
    as_user(machine, "mmchat-bob", PLANT, str(bobs), thief.url + "/v1", "777", "666")
    link = shared / "alice-link"
    as_user(machine, "mmchat-bob", "import os, sys; os.symlink(sys.argv[1], sys.argv[2])", str(bobs), str(link))
    assert_refused(alice_asks(machine, link), thief, "goes through a symbolic link made by another user")


def test_her_own_private_folder_works(machine, shared, thief):
    home = shared / "alice-private"
    as_user(machine, "mmchat-alice", PLANT, str(home), thief.url + "/v1", "700", "600")
    # A keyless server of her own (a key from the environment is never redirected by a settings file: see
    # tests/test_config.py), so what this shows is that her own folder is trusted and read.
    result = alice_asks(machine, home, key=None)
    assert result.get("raised") is None and len(thief.requests) == 1  # her own choice of server is honoured
    assert os.stat(home).st_uid == machine.users["mmchat-alice"].pw_uid
