#!/usr/bin/env bash
# The main job on an embedded default: a local demo farm of 4 build hosts (each an sshd in its own
# namespaces on 127.0.1.K), compile servers started on all of them over SSH, shown, stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "demo: run as root (it installs packages and starts namespace hosts)" >&2
  exit 1
fi
bash scripts/setup-machine.sh
npm run -s build

dir=$(mktemp -d /tmp/stapctl-demo.XXXXXX)
farm() { node --import tsx scripts/farm.ts "$@"; }
cleanup() { farm down --dir "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT

farm up --hosts 4 --dir "$dir"
stapctl() {
  echo
  echo "\$ stapctl $*"
  node dist/cli/main.js --inventory "$dir/inventory.yaml" --known-hosts "$dir/known_hosts" "$@"
}

stapctl -H farm hosts
stapctl -H farm start -i
stapctl -H farm status || true
stapctl -H 'h[1-2]' restart
stapctl -H farm stop
