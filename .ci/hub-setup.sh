#!/usr/bin/env bash
# Idempotent setup for the JupyterHub integration test (tests/hub), run as root before pytest:
#   1. configurable-http-proxy from npm (JupyterHub's default proxy);
#   2. a Python environment that the test's OS users can execute. The test's own interpreter may live where they
#      cannot reach it (pyenv under /root, which is 0700), so the single-user servers and kernels run from a venv
#      of the system's /usr/bin/python3 under /opt, holding jupyterhub (the same version as the hub's, for the
#      singleuser API), jupyter_server, ipykernel and mmchat-jupyter's dependencies. The package itself is copied
#      in fresh by the test on every run.
# Usage: .ci/hub-setup.sh [PYTHON]   PYTHON: the interpreter pytest runs under (default: python3).
# MMCHAT_HUB_VENV overrides the venv's location (default /opt/mmchat-hub-test/venv).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${1:-python3}"
VENV="${MMCHAT_HUB_VENV:-/opt/mmchat-hub-test/venv}"
SYSTEM_PYTHON=/usr/bin/python3
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" != 0 ]; then
    echo "hub-setup: must run as root (it installs system-wide and the test creates OS users)" >&2
    exit 1
fi

if ! command -v configurable-http-proxy >/dev/null 2>&1; then
    npm install -g --no-fund --no-audit configurable-http-proxy >/dev/null
fi
configurable-http-proxy --version >/dev/null

if ! "$SYSTEM_PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    apt-get update -qq
    apt-get install -y -qq python3-venv >/dev/null
fi

# What the venv must hold; a change (new dependency, new hub version) rebuilds it.
hub_version="$("$PYTHON" -c 'import jupyterhub; print(jupyterhub.__version__)')"
requirements="$("$PYTHON" - "$hub_version" <<'PY'
import sys, tomllib
with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
print("\n".join(sorted([*deps, f"jupyterhub=={sys.argv[1]}", "jupyter_server", "ipykernel"])))
PY
)"
stamp="$VENV/.mmchat-requirements"
if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; then
    exit 0
fi

rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
chmod 755 "$(dirname "$VENV")"
"$SYSTEM_PYTHON" -m venv "$VENV"
printf '%s\n' "$requirements" > "$VENV/requirements.txt"
log="$(mktemp)"
if ! "$VENV/bin/pip" install -q -r "$VENV/requirements.txt" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
rm -f "$log"
# Whatever the umask was, the test users must be able to read and run everything in it.
chmod -R go+rX,go-w "$VENV"
printf '%s' "$requirements" > "$stamp"
