#!/usr/bin/env bash
# Installs what stapctl's demo and tests need on a Debian 12 machine, as root: Debian packages,
# the stap-server user, npm packages. Idempotent and quick when all is there (npm test runs it first).
set -euo pipefail

# ansible-core: bench/fleet.ts, and test/fleet/targets/ansible-compat.integration.test.ts compares stapctl's
# reading of an inventory tree with ansible-inventory's.
packages=(systemtap-server openssh-server openssh-client util-linux procps bsdutils sudo libnss3-tools ansible-core)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# stap-serverd refuses to run as root: servers run as this system user.
getent group stap-server >/dev/null || groupadd --system stap-server
if ! getent passwd stap-server >/dev/null; then
  useradd --system --gid stap-server --home-dir /var/lib/stap-server --create-home --shell /bin/bash stap-server
fi

# sshd's privilege separation directory.
mkdir -p /run/sshd
chmod 0755 /run/sshd

# The project's own packages, unless a previous run (or CI's npm ci) installed them.
if [ ! -d node_modules ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
