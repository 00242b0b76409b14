#!/usr/bin/env bash
# Run tempest's move tests (tests/tempest/include-list.txt) against herder in keystone mode,
# behind a real Keystone; needs scripts/keystone/install.sh and scripts/tempest/install.sh first.
# Arguments go to tests/tempest/run.py (--workspace DIR, --concurrency N, --regex R, --keep).
set -euo pipefail
cd "$(dirname "$0")/../.."
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY OS_CLOUD
exec .venv/bin/python -m tests.tempest.run "$@"
