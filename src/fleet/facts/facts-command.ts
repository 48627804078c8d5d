/**
 * The one fixed command that gathers what `status` reads on a host, so that the controller can
 * decide with the engine's own code (src/fleet/facts/host-snapshot.ts) instead of starting Node
 * there: a shell with a handful of children (find, grep) costs a few milliseconds where
 * Node's start alone costs ~70. Nothing from the user or the inventory is in it: the paths are the
 * stock script's defaults, the PIDs come from the host's own status file names, and hosts whose
 * settings move those paths (stapctl_root, -c, STAT_PATH, ...) are answered by the agent.
 *
 * Output, fields ended by NUL (no path or link target holds one):
 *   stapctl-facts 5 | home HOME
 *   machine `uname -m`         only where /proc/sys/kernel/arch cannot be read: the host name,
 *                              release and machine are otherwise read as files, by grep (uname(2)
 *                              gives the same strings: the UTS namespace's), a process fewer
 *   test PATH FLAGS            e exists, f file, d directory, r readable, w writable ([ -e ] ...)
 *   entry DIR NAME TYPE OWNTYPE UID MODE LINKS  each entry of a directory and DIR itself (find
 *                              %Y %y %U %m %n: its type through and without a symlink, owner, mode);
 *                              a directory that is a symlink: itself only
 *   link PATH TARGET           /proc/PID/exe, /proc/PID/fd/N and /proc/PID/ns/net (an empty
 *                              TARGET: unreadable)
 *   test PATH FLAGS            again for the TCP tables that are read, just before `lines`
 *   lines, then PATH NUL LINE NEWLINE per line of each file (grep -H -Z: a line holds no newline,
 *   so no content can pose as another file's), the TCP tables only their header and the rows that
 *   hold the inode of a socket the servers have open: the engine looks at no other row, and a
 *   host's tables list every socket of its network namespace
 *   end                        printed last: without it the output is incomplete
 *
 * The TCP tables cost the most: the kernel walks its whole established-connection hash table
 * (262144 buckets on a 24 GB machine, more with more memory) for every read of one, ~3-6 ms each.
 * So they are read only when a server has a socket, once per network namespace (the servers'
 * /proc/PID/ns/net links name it: the first PID of each stands for the others), and tcp only where
 * tcp6 cannot be read: the engine reads tcp6 first and tcp only when a server listens on none
 * there, and stap-serverd listens on IPv6's any address. A table that was not read is not in the
 * facts, so a server listening on IPv4 alone is answered by the agent, never as "no port".
 */
import { posix } from 'node:path';
import { defaultPaths } from '../../service/paths.js';

export const FACTS_PROTOCOL = 'stapctl-facts 5';

const paths = defaultPaths('/');

/** The status directory and the directories above it: where `writableDirectory` may look. */
function withAncestors(dir: string): string[] {
  const chain = [dir];
  while (posix.dirname(chain.at(-1) as string) !== chain.at(-1)) chain.push(posix.dirname(chain.at(-1) as string));
  return chain;
}

/** The paths whose [ -e -f -d -r -w ] the command always reports, besides the files it reads. */
export const TESTED_PATHS: readonly string[] = [...withAncestors(paths.statPath), paths.configPath, paths.libModules];

/** The files that hold uname(2)'s nodename, release and machine; the last is missing from older kernels. */
export const KERNEL_NAMES = { hostname: '/proc/sys/kernel/hostname', release: '/proc/sys/kernel/osrelease', machine: '/proc/sys/kernel/arch' } as const;

/** The directories the command lists (find); no other directory's listing is in its output. */
export const LISTED_DIRECTORIES: readonly string[] = [paths.configPath, paths.statPath, paths.libModules];

function quoted(path: string): string {
  if (!/^[\w./-]+$/.test(path)) throw new Error(`not a plain path: ${path}`);
  return path;
}

/** What the host runs, under dash where it can (FACTS_COMMAND). */
export const FACTS_SCRIPT = [
  'LC_ALL=C; export LC_ALL',
  `g=${quoted(paths.configFile)} c=${quoted(paths.configPath)} s=${quoted(paths.statPath)} m=${quoted(paths.libModules)}`,
  't() { for p; do r=; [ -e "$p" ] && r=e; [ -f "$p" ] && r=${r}f; [ -d "$p" ] && r=${r}d; [ -r "$p" ] && r=${r}r; [ -w "$p" ] && r=${r}w; printf \'test\\0%s\\0%s\\0\' "$p" "$r"; done; }',
  `printf '${FACTS_PROTOCOL}\\0home\\0%s\\0' "$HOME"`,
  `set -- "$g" /etc/passwd /etc/group ${KERNEL_NAMES.hostname} ${KERNEL_NAMES.release}`,
  `if [ -r ${KERNEL_NAMES.machine} ]; then set -- "$@" ${KERNEL_NAMES.machine}; else printf 'machine\\0'; uname -m || exit 1; printf '\\0'; fi`,
  'for f in "$c"/*.conf; do set -- "$@" "$f"; done',
  'l=',
  // The PID is a status file's name: digits only, so the unquoted lists below split as meant.
  'for f in "$s"/*.stat; do p=${f##*/}; p=${p%.stat}; case $p in ""|0*|*[!0-9]*) continue;; esac; set -- "$@" "$f" /proc/$p/stat /proc/$p/status; l="$l /proc/$p/exe /proc/$p/fd /proc/$p/ns/net"; done',
  `t "$@" ${TESTED_PATHS.map(quoted).join(' ')}`,
  // One find lists the directories and the servers' /proc links. -P (its default): a listed
  // directory that is a symlink is printed as one (own type l) and not listed, so that the agent
  // answers for it; the /proc links are printed as links. It writes the servers' socket links
  // (socket:[INODE]) and each one's network namespace (/proc/PID/ns/net net:[INODE]) to fd 3,
  // which $( ) reads.
  `{ i=$(find "$c" "$s" "$m" $l -maxdepth 1 \\( -path '/proc/*' -printf 'link\\0%p\\0%l\\0' \\( -lname 'socket:\\[*' -fprintf /dev/fd/3 '%l\\n' -o -path '/proc/*/ns/net' -lname 'net:\\[*' -fprintf /dev/fd/3 '%p %l\\n' -o -true \\) -o -printf 'entry\\0%h\\0%f\\0%Y\\0%y\\0%U\\0%m\\0%n\\0' \\) 3>&1 >&4 2>/dev/null); } 4>&1`,
  // No pathname expansion: socket:[123] is a bracket pattern that a file in the login directory could match.
  'set -f; k= q= e= w=; for x in $i; do case $x in socket:*) x=${x#socket:\\[}; k="$k ${x%]}";; /proc/*) q=${x%/ns/net};; net:*) case "$e " in *" $x "*) ;; *) e="$e $x"; w="$w $q/net/tcp6"; [ -r $q/net/tcp6 ] || w="$w $q/net/tcp";; esac;; esac; done',
  '[ -n "$k" ] || w=',
  't $w',
  "printf 'lines\\0'",
  'grep -a -H -Z -s "" "$@"',
  'set -- -e local_address; for x in $k; do set -- "$@" -e " $x "; done',
  '[ -z "$w" ] || grep -a -H -Z -s -F "$@" $w',
  "printf 'end\\0'",
].join('\n');

/**
 * The login user's shell runs the command, bash on most hosts. Where the host has dash, the script
 * runs there: dash starts faster and forks its children with vfork, where bash copies itself for
 * each (~1.3 ms of CPU less per host). Elsewhere (Fedora, RHEL) the login shell runs the same script.
 */
export const FACTS_COMMAND = `[ -x /bin/dash ] && exec /bin/dash -c '${FACTS_SCRIPT.replaceAll("'", "'\\''")}'\n${FACTS_SCRIPT}`;
