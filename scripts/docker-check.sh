#!/usr/bin/env bash
# Builds docker/ into the image stapctl-host with podman and checks what its containers would serve,
# on a machine that can build images but not run containers (CI's: crun cannot set RLIMIT_NOFILE).
#
#   1. a debian:12 base made by debootstrap from the Debian mirror of this machine's apt sources,
#      kept in a cache directory (STAPCTL_DOCKER_CACHE, default /var/cache/stapctl/docker-check);
#   2. podman (a private storage in a scratch directory, so no image of the user's is touched)
#      imports it as debian:12 and builds docker/ with `--isolation chroot --pull=never`;
#   3. podman-compose reads docker/compose.yaml and must turn it into the three hosts it promises;
#   4. the image's filesystem is exported and run as one host, hN, in its own mount, pid and uts
#      namespaces (as the namespace test farm runs its hosts): the image's own command sets it up
#      and starts sshd, listening only on a free 127.N.200.K (N: STAPCTL_FARM_NET, default 0);
#   5. the host must pass `sshd -t` and have its fake kernel releases, the stap-server user and
#      group, stap-serverd and a node the agent runs on; then `stapctl -H` starts a server per
#      release, sees them running and stops them, over SSH, with a key and known_hosts of its own.
#
# Everything it makes is removed at exit (processes by PID, mounts, containers, images, scratch),
# except the base in the cache. Any failure ends it with a line starting "docker-check: FAILED".
# Needs root on Debian 12; installs podman, podman-compose and debootstrap when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

host_name=h1
cache=${STAPCTL_DOCKER_CACHE:-/var/cache/stapctl/docker-check}
base_tar=$cache/debian-12-minbase.tar
started=$SECONDS
scratch=
base_work=
unshare_pid=
host_pid=
# podman keeps a blob cache at this fixed path, whatever its --root: removed if this run made it.
blob_cache=/var/lib/containers/cache
made_blob_cache=yes
[ ! -e "$blob_cache" ] || made_blob_cache=no

say() { printf 'docker-check: [%3d s] %s\n' $((SECONDS - started)) "$*"; }
fail() {
  echo "docker-check: FAILED: $*" >&2
  exit 1
}
# The last lines of a log, indented, for a failure message.
tail_of() { tail -n "${2:-20}" "$1" 2>/dev/null | sed 's/^/    /'; }

# Runs a command with its output in $scratch/NAME.log; on failure shows the log's end and fails.
logged() {
  local name=$1
  shift
  "$@" >"$scratch/$name.log" 2>&1 || fail "$name ($*) exited with $?; the end of its output:
$(tail_of "$scratch/$name.log")"
}

# podman with everything in the scratch directory: storage, run state, networks, events.
podman_args() {
  echo --root "$scratch/storage" --runroot "$scratch/run" --tmpdir "$scratch/libpod" \
    --network-config-dir "$scratch/networks" --events-backend none --cgroup-manager cgroupfs
}
podman_() {
  # shellcheck disable=SC2046 # the arguments are paths without blanks (mktemp's)
  podman $(podman_args) "$@"
}

# Unmounts whatever is mounted at or below DIR, children before parents.
unmount_below() {
  local dir=$1 mounted
  awk -v dir="$dir" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r mounted; do umount -l "$mounted" || true; done
}

remove_tree() {
  unmount_below "$1"
  rm -rf --one-file-system "$1"
}

# The host's PID 1 is ours while unshare (our child, not yet waited for, so its PID is not reused)
# is its parent.
stop_host() {
  [ -n "$host_pid" ] || return 0
  if [ "$(awk '/^PPid:/ { print $2 }' "/proc/$host_pid/status" 2>/dev/null)" = "$unshare_pid" ]; then
    # PID 1 of a namespace: when it dies, the kernel ends everything else in it, stap-serverd too.
    kill -KILL "$host_pid"
  fi
  wait "$unshare_pid" 2>/dev/null || true
  host_pid=
}

cleanup() {
  local status=$?
  stop_host
  if [ -n "$scratch" ] && [ -d "$scratch/storage" ]; then
    podman_ rm --all --force >/dev/null 2>&1 || true
    podman_ rmi --all --force >/dev/null 2>&1 || true
  fi
  [ -z "$scratch" ] || remove_tree "$scratch"
  [ -z "$base_work" ] || remove_tree "$base_work"
  if [ "$made_blob_cache" = yes ]; then
    rm -rf "$blob_cache"
    rmdir "$(dirname "$blob_cache")" 2>/dev/null || true
  fi
  # Removing the exported filesystem takes a while: OK only once everything is gone.
  [ "$status" != 0 ] || say "OK: all checks passed, and all that the check made is removed"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install_tools() {
  [ "$(id -u)" = 0 ] || fail "run as root: it installs packages, builds images and makes namespaces"
  local package missing=()
  for package in podman podman-compose debootstrap debian-archive-keyring; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  bash scripts/setup-machine.sh
  npm run -s build
}

# The Debian mirror this machine's apt sources use for bookworm: the base comes from the same place.
debian_mirror() {
  # shellcheck disable=SC2016 # $(...) are apt's placeholders, not the shell's
  apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(REPO_URI)' |
    awk '$1 == "deb" && $2 == "bookworm" { print $3; exit }'
}

ensure_base() {
  mkdir -p "$cache"
  local lock
  # Two checks at once build the base once; the descriptor is closed before any daemon starts.
  exec {lock}>"$cache/lock"
  flock "$lock"
  if [ -f "$base_tar" ]; then
    say "base: cached $base_tar"
  else
    local mirror
    mirror=$(debian_mirror)
    [ -n "$mirror" ] || fail "no apt source for bookworm (apt-get indextargets); the base is debootstrapped from that mirror"
    say "base: debootstrap --variant=minbase bookworm from $mirror"
    base_work=$(mktemp -d "$cache/rootfs.XXXXXX")
    # An explicit keyring: without one debootstrap goes on, unverified, when the default is missing.
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
      bookworm "$base_work" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      fail "debootstrap failed; the end of $cache/debootstrap.log:
$(tail_of "$cache/debootstrap.log")"
    tar --numeric-owner -C "$base_work" -cf "$base_tar.tmp" .
    mv "$base_tar.tmp" "$base_tar"
    remove_tree "$base_work"
    base_work=
    say "base: made $base_tar"
  fi
  exec {lock}>&-
}

build_image() {
  say "podman: import the base as debian:12"
  logged import podman_ import "$base_tar" debian:12
  say "podman: build docker/ into stapctl-host"
  TMPDIR=$scratch/tmp logged build podman_ build --isolation chroot --pull=never --layers=false -t stapctl-host docker/
}

# podman-compose (Debian 12's 1.0.3) reads compose.yaml and prints the podman commands it would run.
check_compose() {
  local wrapper=$scratch/podman key=$scratch/client_key.pub out=$scratch/compose.log index line
  printf '#!/bin/sh\nexec podman %s "$@"\n' "$(podman_args)" >"$wrapper"
  chmod +x "$wrapper"
  STAPCTL_AUTHORIZED_KEYS=$key logged compose podman-compose --podman-path "$wrapper" --dry-run -f docker/compose.yaml up
  [ "$(grep -c "^$wrapper create " "$out")" = 3 ] || fail "podman-compose made $(grep -c "^$wrapper create " "$out") containers of docker/compose.yaml, not 3:
$(tail_of "$out")"
  for index in 1 2 3; do
    line=$(grep "^$wrapper create .* --hostname h$index " "$out") || fail "podman-compose made no container with hostname h$index of docker/compose.yaml"
    for expected in "-p 127.0.0.1:220$index:22 " "-v $key:/etc/stapctl/authorized_keys:ro " " stapctl-host"; do
      [[ "$line " == *"$expected"* ]] || fail "docker/compose.yaml: h$index lacks '$expected' in podman-compose's command: $line"
    done
  done
  say "compose.yaml: podman-compose makes h1-h3, each with its ssh port on 127.0.0.1, the key read-only, the image stapctl-host"
}

export_image() {
  say "podman: export the filesystem of a stapctl-host container"
  logged create podman_ create --name stapctl-docker-check --network none stapctl-host
  mkdir "$scratch/rootfs"
  podman_ export stapctl-docker-check | tar --numeric-owner -C "$scratch/rootfs" -x ||
    fail "podman export of the stapctl-host container failed"
  podman_ inspect --format '{{json .Config.Cmd}}' stapctl-host >"$scratch/cmd.json"
  podman_ rm --force stapctl-docker-check >/dev/null
  podman_ rmi --all --force >/dev/null
}

# The first 127.N.200.K on which nothing accepts connections on port 22.
free_address() {
  local net=${STAPCTL_FARM_NET:-0} k
  if ! [[ "$net" =~ ^[0-9]{1,3}$ ]] || ((10#$net > 255)); then
    fail "STAPCTL_FARM_NET must be 0-255, got \"$net\""
  fi
  net=$((10#$net))
  for k in $(seq 1 254); do
    if ! (exec 3<>"/dev/tcp/127.$net.200.$k/22") 2>/dev/null; then
      echo "127.$net.200.$k"
      return
    fi
  done
  fail "every 127.$net.200.K (K 1-254) has a listener on port 22"
}

# The image's command with sshd told to listen on ADDRESS only: in a container sshd has a network
# namespace of its own, here it shares this machine's. Written to FILE, NUL-separated.
host_command() {
  # shellcheck disable=SC2016 # JavaScript template strings
  node -e '
    const [file, address, out] = process.argv.slice(1);
    const cmd = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
    const tail = "exec /usr/sbin/sshd -D -e";
    if (cmd.length !== 3 || cmd[0] !== "sh" || cmd[1] !== "-c" || !cmd[2].endsWith(tail)) {
      console.error(`the image command ${JSON.stringify(cmd)} is not ["sh", "-c", "... ${tail}"]: update scripts/docker-check.sh`);
      process.exit(1);
    }
    require("node:fs").writeFileSync(out, [cmd[0], cmd[1], `${cmd[2]} -o ListenAddress=${address}:22`].join("\0"));
  ' "$scratch/cmd.json" "$1" "$2"
}

# PID 1 of the host's namespaces: what a container runtime gives the container, then its command.
# shellcheck disable=SC2016 # expanded by the bash that unshare starts
host_init='
set -eu
rootfs=$1 name=$2 keys=$3
shift 3
hostname "$name"
mount -t proc proc "$rootfs/proc"
mount --rbind /dev "$rootfs/dev"
# compose.yaml mounts the authorized keys read-only at this path.
mkdir -p "$rootfs/etc/stapctl"
touch "$rootfs/etc/stapctl/authorized_keys"
mount --bind "$keys" "$rootfs/etc/stapctl/authorized_keys"
mount -o remount,bind,ro "$rootfs/etc/stapctl/authorized_keys"
exec chroot "$rootfs" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
'

start_host() {
  local address=$1 command k problem
  problem=$(host_command "$address" "$scratch/cmd.argv" 2>&1) || fail "$problem"
  mapfile -d '' -t command <"$scratch/cmd.argv"
  say "host: $host_name in its own namespaces, sshd on $address:22"
  unshare --mount --pid --uts --fork --propagation private -- \
    bash -c "$host_init" host-init "$scratch/rootfs" "$host_name" "$scratch/client_key.pub" "${command[@]}" \
    </dev/null >"$scratch/host.log" 2>&1 &
  unshare_pid=$!
  for k in $(seq 500); do
    host_pid=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)
    host_pid=${host_pid%% *}
    [ -z "$host_pid" ] || break
    sleep 0.01
  done
  [ -n "$host_pid" ] || fail "unshare (PID $unshare_pid) started no namespace; its output:
$(tail_of "$scratch/host.log")"
  for k in $(seq 600); do
    if grep -qF "Server listening on $address port 22." "$scratch/host.log" && (exec 3<>"/dev/tcp/$address/22") 2>/dev/null; then
      return
    fi
    kill -0 "$host_pid" 2>/dev/null || fail "the host's set-up or sshd exited; its output:
$(tail_of "$scratch/host.log")"
    sleep 0.1
  done
  fail "sshd did not listen on $address:22 within 60 s; its output:
$(tail_of "$scratch/host.log")"
}

# Runs a command inside the host: its namespaces and its root, as `docker exec` would.
in_host() {
  nsenter --target "$host_pid" --mount --uts --pid --root --wd -- \
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}

check_host() {
  local out releases release node_version node_min
  out=$(in_host /usr/sbin/sshd -t 2>&1) || fail "sshd -t in $host_name refuses its configuration: $out"
  releases=$(in_host ls /lib/modules | tr '\n' ' ')
  [ "$releases" = "6.1.0-$host_name-a 6.1.0-$host_name-b " ] ||
    fail "/lib/modules in $host_name holds '$releases', not the fake releases 6.1.0-$host_name-a and 6.1.0-$host_name-b"
  for release in "6.1.0-$host_name-a" "6.1.0-$host_name-b"; do
    out=$(in_host cat "/lib/modules/$release/build/include/config/kernel.release") || fail "$host_name: no build tree for $release"
    [ "$out" = "$release" ] || fail "$host_name: /lib/modules/$release/build/include/config/kernel.release says '$out'"
  done
  in_host getent group stap-server >/dev/null || fail "$host_name has no group stap-server"
  out=$(in_host id -nG stap-server) || fail "$host_name has no user stap-server"
  [[ " $out " == *" stap-server "* ]] || fail "$host_name: user stap-server is not in group stap-server (groups: $out)"
  # Where the stock initscript and stapctl run it from.
  in_host test -x /usr/lib/systemtap/stap-serverd || fail "$host_name has no /usr/lib/systemtap/stap-serverd"
  # The agent's floor is the esbuild target of dist/stapctl.cjs.
  node_min=$(node -e '
    const calls = require("fs").readFileSync("scripts/build.mjs", "utf8").split("await build(");
    const agent = calls.find((call) => call.includes("outfile: \x27dist/stapctl.cjs\x27"));
    const target = agent && /target: \x27node(\d+)\x27/.exec(agent);
    if (target) console.log(target[1]);') || true
  [ -n "$node_min" ] || fail "scripts/build.mjs: no target: 'nodeN' in the build of dist/stapctl.cjs; update scripts/docker-check.sh"
  node_version=$(in_host node -p process.versions.node) || fail "$host_name has no node in its PATH"
  ((${node_version%%.*} >= node_min)) || fail "$host_name has node $node_version; the agent needs $node_min or later"
  say "host: sshd -t passes; releases ${releases% }; user and group stap-server; stap-serverd; node $node_version"
}

# stapctl on this machine, as a user with nothing but the check's key, inventory and known_hosts.
stapctl_() {
  env -u SSH_AUTH_SOCK HOME="$scratch/home" node "$repo/dist/cli/main.js" \
    --inventory "$scratch/inventory.yaml" --known-hosts "$scratch/known_hosts" "$@"
}

# Checks a fleet --json document: the exit code, one host (the namespace host, by its hostname) in
# STATE, and its servers: one per fake release, each OUTCOME, or none at all for OUTCOME "none".
expect_fleet() {
  # shellcheck disable=SC2016 # JavaScript template strings
  node -e '
    const [file, code, state, outcome, host] = process.argv.slice(1);
    const result = JSON.parse(require("node:fs").readFileSync(file, "utf8"));
    const problem = (() => {
      if (String(result.exitCode) !== code) return `exit code ${result.exitCode}, expected ${code}`;
      const [entry, ...more] = result.hosts ?? [];
      if (!entry || more.length) return "not exactly one host in the result";
      if (entry.state !== state) return `${host} is ${entry.state}, expected ${state}: ${JSON.stringify(entry.error ?? entry.result?.errors)}`;
      if (entry.hostname !== host) return `the host calls itself ${entry.hostname}, expected ${host}`;
      const servers = entry.result?.servers ?? [];
      if (outcome === "none") return servers.length ? `${servers.length} servers, expected none` : undefined;
      const releases = servers.map((server) => server.releases.join(" ")).sort().join(", ");
      if (releases !== `6.1.0-${host}-a, 6.1.0-${host}-b`) return `servers for ${releases || "no release"}`;
      const other = servers.find((server) => server.outcome !== outcome);
      if (other) return `a server is ${other.outcome}, expected ${outcome}`;
      return undefined;
    })();
    if (problem) {
      console.error(problem);
      process.exit(1);
    }
  ' "$@" "$host_name"
}

run_fleet() {
  local address=$1 step command code state outcome out problem
  mkdir -m 700 "$scratch/home"
  printf '%s %s\n' "$address" "$(cut -d' ' -f1-2 "$scratch/rootfs/etc/ssh/ssh_host_ed25519_key.pub")" >"$scratch/known_hosts"
  cat >"$scratch/inventory.yaml" <<EOF
all:
  children:
    docker:
      hosts:
        $host_name:
          ansible_host: $address
          ansible_user: root
          ansible_ssh_private_key_file: $scratch/client_key
EOF
  # The last status finds no server: exit 3, as the stock script's status.
  for step in 'start -i:0:ok:started' 'status:0:ok:running' 'stop:0:ok:stopped' 'status:3:not-running:none'; do
    IFS=: read -r command code state outcome <<<"$step"
    out=$scratch/fleet-${command%% *}.json
    # shellcheck disable=SC2086 # the action and its options
    stapctl_ -H docker $command --json >"$out" 2>"$scratch/fleet.err" || true
    problem=$(expect_fleet "$out" "$code" "$state" "$outcome" 2>&1) ||
      fail "stapctl -H docker $command: $problem; its output:
$(tail_of "$out" 40)
$(tail_of "$scratch/fleet.err")"
    say "stapctl -H docker $command: exit $code, $host_name $state, servers: $outcome"
  done
}

main() {
  install_tools
  ensure_base
  scratch=$(mktemp -d /tmp/stapctl-docker-check.XXXXXX)
  mkdir "$scratch/tmp"
  ssh-keygen -q -t ed25519 -N '' -C stapctl-docker-check -f "$scratch/client_key"
  build_image
  check_compose
  export_image
  local address
  address=$(free_address)
  start_host "$address"
  check_host
  run_fleet "$address"
  stop_host
  say "all checks passed; removing what the check made"
}

main
