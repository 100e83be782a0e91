#!/usr/bin/env bash
# Prepares this machine for the test suite: installs the Debian packages the tests use (when run
# as root and something is missing) and starts the services they need. Safe to run repeatedly.
set -euo pipefail

packages=(openssl)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "test-env: installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test-env: the tests need these Debian packages: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and run again" >&2
    exit 1
  fi
fi
