"""A throwaway PostgreSQL server for the replica tests: Debian's `postgresql` package (installed by
.ci/gateway-setup.sh), a fresh cluster in a temporary directory, reachable only on a Unix socket there.

PostgreSQL refuses to run as root, so when the tests run as root (CI) the server runs as the `postgres` user the
package created. The server can be stopped and started again (the database-unavailable tests do).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

USER = "mmchat"
DATABASE = "usage"


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps each major version apart)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


class Postgres:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mmchat-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.socket_dir.mkdir()
        if self._as:
            os.chown(self.socket_dir, owner.pw_uid, owner.pw_gid)
            self.root.chmod(0o755)

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@/{DATABASE}?host={self.socket_dir}"

    def _run(self, *command: str) -> None:
        done = subprocess.run([*self._as, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}{self.log_tail()}")

    def create(self) -> Postgres:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        self.start()
        self._run(str(self.bindir / "createdb"), "-h", str(self.socket_dir), "-U", USER, DATABASE)
        return self

    def start(self) -> None:
        # No TCP at all: the socket in our own directory. fsync off: a test cluster need not survive a power cut.
        options = f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c max_connections=100"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                  "start")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
