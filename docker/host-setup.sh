#!/bin/sh
# Prepares a stapctl build host: the systemtap compile-server state that the stock `stap-server`
# initscript and `stapctl` expect, and an sshd configuration for fleet mode.
#
# The same script runs in the Docker image (at build time for the static part, at container start
# for the per-host part) and on every host of the namespace test farm (test/fleet/farm.ts), so the
# farm's integration tests exercise it even where Docker is not available. It is idempotent.
#
# Usage: host-setup.sh [--host NAME] [--authorized-keys FILE] [--server-cert DIR]
#                      [--sshd-config FILE] [--host-key FILE] [--listen ADDR:PORT]
#                      [--login-users HOMES] [--trusted-user-ca-keys FILE]
#   --host NAME             per-host part: fake kernel releases 6.1.0-NAME-a and 6.1.0-NAME-b in
#                           /lib/modules and an ed25519 host key (kept when it exists)
#   --authorized-keys FILE  public keys allowed to log in as root
#   --server-cert DIR       a stap-server certificate database (from stap-gen-cert) to install;
#                           without it stap-serverd makes its own on first start
#   --sshd-config FILE      where to write the sshd configuration (default /etc/ssh/sshd_config)
#   --host-key FILE         the host key's path (default /etc/ssh/ssh_host_ed25519_key)
#   --listen ADDR:PORT      sshd's ListenAddress (default: all addresses, port 22)
#   --login-users HOMES     two non-root login users for fleet mode's `become`, homes under HOMES,
#                           logging in with the --authorized-keys: deploy, whom sudo lets run
#                           anything as root without a password, and nopass, whom sudo asks for
#                           a password (it has none, so `sudo -n` always refuses)
#   --trusted-user-ca-keys FILE  sshd's TrustedUserCAKeys: user certificates signed by these CA
#                           keys log in (for principals that name the login user)
set -eu

server_user=stap-server
host=
authorized_keys=
server_cert=
sshd_config=/etc/ssh/sshd_config
host_key=/etc/ssh/ssh_host_ed25519_key
listen=
login_homes=
user_ca_keys=

fail() {
  echo "host-setup.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || fail "$1 needs a value (see the usage at the top of $0)"
  case $1 in
    --host) host=$2 ;;
    --authorized-keys) authorized_keys=$2 ;;
    --server-cert) server_cert=$2 ;;
    --sshd-config) sshd_config=$2 ;;
    --host-key) host_key=$2 ;;
    --listen) listen=$2 ;;
    --login-users) login_homes=$2 ;;
    --trusted-user-ca-keys) user_ca_keys=$2 ;;
    *) fail "unknown option $1 (see the usage at the top of $0)" ;;
  esac
  shift 2
done

passwd_entry=$(getent passwd "$server_user") ||
  fail "user $server_user does not exist; create it with: useradd --system --home-dir /var/lib/stap-server --create-home $server_user"
server_home=$(echo "$passwd_entry" | cut -d: -f6)

# The stock initscript's paths (/usr/bin/stap-server lines 39-42), owned by root as it makes them.
mkdir -p /etc/stap-server/conf.d /etc/sysconfig /var/run/stap-server /var/log/stap-server
[ -f /etc/sysconfig/stap-server ] || echo "STAP_USER=$server_user" >/etc/sysconfig/stap-server

# stap-serverd looks for its certificate database in $HOME/.systemtap/ssl/server.
mkdir -p "$server_home/.systemtap/ssl"
if [ -n "$server_cert" ]; then
  [ -f "$server_cert/cert9.db" ] || fail "$server_cert holds no certificate database (cert9.db); make one with /usr/lib/systemtap/stap-gen-cert"
  rm -rf "$server_home/.systemtap/ssl/server"
  cp -pR "$server_cert" "$server_home/.systemtap/ssl/server"
fi
chown -R "$server_user:" "$server_home/.systemtap"

if [ -n "$host" ]; then
  # `stap-server start -i` starts one server for every folder in /lib/modules; each fake release
  # also works as a build tree for `-r /lib/modules/RELEASE/build`.
  for release in "6.1.0-$host-a" "6.1.0-$host-b"; do
    mkdir -p "/lib/modules/$release/build/include/config"
    echo "$release" >"/lib/modules/$release/build/include/config/kernel.release"
  done
  [ -f "$host_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$host" -f "$host_key"
fi

mkdir -p /root/.ssh
chmod 700 /root/.ssh
if [ -n "$authorized_keys" ]; then
  [ -r "$authorized_keys" ] || fail "cannot read the authorized keys file $authorized_keys"
  cp "$authorized_keys" /root/.ssh/authorized_keys
  chmod 600 /root/.ssh/authorized_keys
fi

if [ -n "$login_homes" ]; then
  [ -n "$authorized_keys" ] || fail "--login-users needs --authorized-keys: the login users log in with those keys"
  command -v sudo >/dev/null || fail "--login-users needs sudo (Debian: apt-get install sudo)"
  mkdir -p "$login_homes"
  for user in deploy nopass; do
    # The password '*' matches nothing but, unlike useradd's default '!', does not lock the
    # account: without PAM, sshd refuses a locked account even its keys.
    getent passwd "$user" >/dev/null || useradd --user-group --no-create-home --home-dir "$login_homes/$user" --shell /bin/sh --password '*' "$user"
    home=$(getent passwd "$user" | cut -d: -f6)
    install -d -o "$user" -g "$user" -m 700 "$home" "$home/.ssh"
    install -o "$user" -g "$user" -m 600 "$authorized_keys" "$home/.ssh/authorized_keys"
  done
  # sudo ignores files in sudoers.d whose names contain a dot: the temporary names are never read.
  for rule in 'deploy ALL=(root) NOPASSWD: ALL' 'nopass ALL=(root) ALL'; do
    file=/etc/sudoers.d/stapctl-${rule%% *}
    echo "$rule" >"$file.tmp"
    chmod 0440 "$file.tmp"
    visudo -cqf "$file.tmp" >/dev/null || fail "sudo rejects the rule '$rule'"
    mv "$file.tmp" "$file"
  done
fi

# sshd gives root's non-interactive sessions a fixed PATH; fleet mode runs the agent with `node`,
# which may live elsewhere (for example a CI runner's tool cache).
default_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
session_path=
if node_path=$(command -v node); then
  node_dir=$(dirname "$node_path")
  case ":$default_path:" in
    *":$node_dir:"*) ;;
    *) session_path="SetEnv PATH=$node_dir:$default_path" ;;
  esac
fi

mkdir -p "$(dirname "$sshd_config")" /run/sshd
{
  echo "# Written by stapctl's host-setup.sh"
  [ -z "$listen" ] || echo "ListenAddress $listen"
  echo "HostKey $host_key"
  echo "PermitRootLogin prohibit-password"
  echo "PasswordAuthentication no"
  echo "KbdInteractiveAuthentication no"
  echo "UsePAM no"
  echo "AuthorizedKeysFile .ssh/authorized_keys"
  echo "PidFile none"
  echo "UseDNS no"
  echo "PrintMotd no"
  echo "PrintLastLog no"
  [ -z "$session_path" ] || echo "$session_path"
  [ -z "$user_ca_keys" ] || echo "TrustedUserCAKeys $user_ca_keys"
} >"$sshd_config"
