#!/usr/bin/env bash
# Runs the unit tier (npm run test:unit) as an unprivileged user on a private copy of this
# checkout, as root: a test named as a unit test that needs root, a server, sshd or a build fails
# here instead of passing unnoticed. CI runs it; usage: scripts/test-unit-unprivileged.sh [USER]
set -euo pipefail
cd "$(dirname "$0")/.."
user=${1:-nobody}
[ "$(id -u)" = 0 ] || { echo "test-unit-unprivileged: run it as root (it switches to $user)" >&2; exit 2; }

copy=$(mktemp -d /tmp/stapctl-unit-XXXXXX)
trap 'rm -rf "$copy"' EXIT
tar --exclude=./.git --exclude=./dist --exclude=./node_modules -cf - . | tar -xf - -C "$copy"
cp -a node_modules "$copy/node_modules"
chown -R "$user:" "$copy"

cd "$copy"
exec setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups \
  env -i PATH="$PATH" HOME="$copy" TMPDIR="$copy/tmp" LANG=C.UTF-8 \
  bash -c 'mkdir -p "$TMPDIR" && npm run --silent test:unit'
