#!/usr/bin/env bash
# Setup for the gateway's replica tests (tests/gateway/test_replicas.py), run as root before pytest: Debian's
# PostgreSQL server binaries. The test makes its own throwaway cluster on a private Unix socket (as the `postgres`
# user the package creates, since PostgreSQL refuses to run as root); the package's own cluster is not used.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "gateway-setup: PostgreSQL is missing and installing it needs root" >&2
    exit 1
fi
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
