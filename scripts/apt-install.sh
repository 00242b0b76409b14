#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet (apt-get update
# only when one is missing). Shared by the installers of scripts/*/install.sh; needs root.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
