#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian's packages, for the dashboard's browser tests
# (tests/functional/test_dashboard_browser.py, docs/dashboard.md): /usr/bin/chromium and
# /usr/bin/chromedriver. Selenium itself comes with the `test` extra (./scripts/install.sh).
# Idempotent; needs root (apt-get).
set -euo pipefail
cd "$(dirname "$0")/../.."

./scripts/apt-install.sh chromium chromium-driver
/usr/bin/chromium --version
/usr/bin/chromedriver --version
