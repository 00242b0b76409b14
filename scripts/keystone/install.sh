#!/usr/bin/env bash
# Install Keystone and uWSGI into .venv-keystone, apart from herder's .venv: Keystone pins
# library versions (oslo.*, SQLAlchemy, ...) that must not change what herder runs with.
# Used by tests/functional/test_keystone.py and scripts/tempest/run.sh (via scripts/keystone/serve.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
KEYSTONE_VERSION=${KEYSTONE_VERSION:-keystone>=26}
python3 -m venv .venv-keystone
.venv-keystone/bin/pip install --quiet --upgrade pip
# uWSGI compiles from source with gcc; --http11-socket is what keeps openstackclient's
# keep-alive connections from being reset (plain --http-socket resets them).
.venv-keystone/bin/pip install --quiet "$KEYSTONE_VERSION" uwsgi
.venv-keystone/bin/keystone-manage --version
