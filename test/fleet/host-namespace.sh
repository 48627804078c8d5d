#!/bin/sh
# PID 1 of one test-farm host: started by test/fleet/farm.ts through
# `unshare --mount --pid --uts --fork --mount-proc --propagation private`. It gives the host its
# hostname and private state directories, runs the shared docker/host-setup.sh, and then becomes
# the host's sshd, so that signalling this PID ends the whole host.
#
# Usage: host-namespace.sh NAME HOST_DIR ADDRESS AUTHORIZED_KEYS SERVER_CERT SETUP_SCRIPT [login-users] [user-ca=FILE]
#   login-users: also the non-root login users deploy and nopass (see host-setup.sh --login-users)
#   user-ca=FILE: sshd trusts user certificates signed by the CA key FILE (TrustedUserCAKeys)
set -eu

name=$1 host_dir=$2 address=$3 authorized_keys=$4 server_cert=$5 setup_script=$6
shift 6
login_users= user_ca=
for extra in "$@"; do
  case $extra in
    login-users) login_users=login-users ;;
    user-ca=*) user_ca=${extra#user-ca=} ;;
    *) echo "host-namespace.sh: unknown argument $extra" >&2; exit 1 ;;
  esac
done

hostname "$name"

server_home=$(getent passwd stap-server | cut -d: -f6)
[ -d "$server_home" ] || {
  echo "host-namespace.sh: the home of user stap-server ($server_home) does not exist; create it" >&2
  exit 1
}

# Each private directory is a bind mount of a folder under HOST_DIR/state. Its mount point is made
# inside a private overlay of the parent directory, never on the real filesystem: deleting a real
# directory that a host has bind-mounted silently detaches the host's mount.
canonical() {
  echo "$(readlink -f "$(dirname "$1")")/$(basename "$1")"
}
targets="$(canonical /etc/stap-server) $(canonical /etc/sysconfig) $(canonical /var/run/stap-server)
$(canonical /var/log/stap-server) $(canonical /lib/modules) $(canonical "$server_home/.systemtap")"

scratch=$host_dir/scratch
mount -t tmpfs -o mode=0700 farm-scratch "$scratch"

parents=$(for target in $targets; do dirname "$target"; done | sort -u)
for parent in $parents; do
  mkdir -p "$scratch/upper$parent" "$scratch/work$parent" "$scratch/merged$parent"
  mount -t overlay farm-overlay \
    -o "lowerdir=$parent,upperdir=$scratch/upper$parent,workdir=$scratch/work$parent" \
    "$scratch/merged$parent"
  # An overlay shows only its lower filesystem: bring along what is mounted below the parent
  # (a container's /etc/hosts and /etc/resolv.conf, for example), parents before children as
  # mountinfo lists them.
  for mounted in $(awk '{ print $5 }' /proc/self/mountinfo); do
    case $mounted in
      "$parent"/*) if [ -e "$scratch/merged$mounted" ]; then mount --bind "$mounted" "$scratch/merged$mounted"; fi ;;
    esac
  done
done

for target in $targets; do
  mkdir -p "$host_dir/state$target" "$scratch/merged$target"
  mount --bind "$host_dir/state$target" "$scratch/merged$target"
done
mkdir -p -m 700 "$host_dir/state/root"
mount --bind "$host_dir/state/root" /root

for parent in $parents; do
  mount --move "$scratch/merged$parent" "$parent"
done

set -- --host "$name" --listen "$address:22" --authorized-keys "$authorized_keys" \
  --server-cert "$server_cert" --sshd-config "$host_dir/sshd_config" \
  --host-key "$host_dir/ssh_host_ed25519_key"
# The login users go into the host's private /etc overlay and their homes under a parent that the
# host overlays privately too (the run directory): neither exists outside this host.
if [ "$login_users" = login-users ]; then
  set -- "$@" --login-users "$(dirname "$(canonical /var/run/stap-server)")/stapctl-farm-homes"
fi
[ -z "$user_ca" ] || set -- "$@" --trusted-user-ca-keys "$user_ca"
"$setup_script" "$@"

exec /usr/sbin/sshd -D -e -f "$host_dir/sshd_config"
