#!/usr/bin/env bash
# Install tempest (and stestr, which `tempest run` drives) into .venv-tempest, apart from
# herder's .venv: tempest pins its own client libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
TEMPEST_VERSION=${TEMPEST_VERSION:-tempest>=40}
python3 -m venv .venv-tempest
.venv-tempest/bin/pip install --quiet --upgrade pip
.venv-tempest/bin/pip install --quiet "$TEMPEST_VERSION"
.venv-tempest/bin/tempest --version
