/**
 * What ssh's own messages mean, in the error codes the ssh2 transport uses: a master that exited
 * with 255 explains itself on stderr (OpenSSH 8-9 wording). Pure; ssh's last lines, cleaned for a
 * terminal, go into the error's detail.
 */
import { StapctlError } from '../../errors.js';
import { stripTerminalEscapes } from '../../sanitize.js';
import { hostPort } from '../../port.js';
import type { HostRoute } from './host-route.js';

/** How many of ssh's last stderr lines an error carries. */
const DETAIL_LINES = 12;

/** ssh's stderr as lines, without the carriage returns it writes and anything a terminal would act on. */
export function sshLines(stderr: string): string[] {
  return stripTerminalEscapes(stderr.replace(/\r/g, '')).split('\n').map((line) => line.trimEnd()).filter((line) => line !== '');
}

function detail(lines: readonly string[]): string {
  return lines.slice(-DETAIL_LINES).join('\n');
}

function where(route: HostRoute): string {
  return hostPort(route.address, route.port);
}

/** Why ssh could not bring up the master of ROUTE, from its stderr. */
export function connectFailure(route: HostRoute, stderr: string): StapctlError {
  const lines = sshLines(stderr);
  const text = lines.join('\n');
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(text)) return hostKeyChanged(route, lines);
  if (/REVOKED HOST KEY DETECTED|was revoked and you have requested strict checking/.test(text)) return hostKeyRevoked(route, lines);
  if (/host key is known for .* you have requested strict checking/.test(text)) return hostKeyUnknown(route, lines);
  if (/Permission denied \(|Too many authentication failures/.test(text)) return authRefused(route, lines);
  const timedOut = /Connection timed out|Operation timed out/.test(text);
  if (timedOut) {
    return new StapctlError('CONNECT_TIMEOUT', `no SSH session with ${route.host} (${where(route)}) within ${(route.connectTimeoutMs ?? 0) / 1000} s`, {
      host: route.host,
      detail: detail(lines),
      hint: 'check that the host is up and sshd answers on that port; raise --connect-timeout for slow links',
    });
  }
  return connectFailed(route, lines);
}

/** The system error ssh reported for the TCP connection, in the words Node (so ssh2) uses. */
const SOCKET_ERRORS: [RegExp, string][] = [
  [/: Connection refused$/m, 'ECONNREFUSED'],
  [/Could not resolve hostname .*: (Name or service not known|Temporary failure in name resolution|No address associated with hostname)$/m, 'ENOTFOUND'],
  [/: No route to host$/m, 'EHOSTUNREACH'],
  [/: Network is unreachable$/m, 'ENETUNREACH'],
  [/Connection reset by/m, 'ECONNRESET'],
];

function connectFailed(route: HostRoute, lines: readonly string[]): StapctlError {
  const text = lines.join('\n');
  const code = SOCKET_ERRORS.find(([pattern]) => pattern.test(text))?.[1];
  const reason = code ?? lines.at(-1) ?? 'ssh exited with status 255 and said nothing';
  return new StapctlError('CONNECT_FAILED', `cannot connect to ${route.host} (${where(route)}): ${reason}`, {
    host: route.host,
    detail: detail(lines),
    hint:
      code === 'ECONNREFUSED'
        ? 'nothing listens on that port: is sshd running, and are the inventory address and port right?'
        : `check the address, the port and the network path to the host; \`ssh -v ${route.host}\` shows what ssh does`,
  });
}

function hostKeyChanged(route: HostRoute, lines: readonly string[]): StapctlError {
  const text = lines.join('\n');
  const offending = /Offending \S+ key in (.+):(\d+)$/m.exec(text);
  const presented = /key sent by the remote host is\n(\S+?)\.?$/m.exec(text)?.[1] ?? 'another key';
  const file = offending?.[1];
  const line = offending?.[2] === undefined ? undefined : Number(offending[2]);
  const lookup = route.hostKeyAlias ?? (route.port === 22 ? route.address : `[${route.address}]:${route.port}`);
  return new StapctlError(
    'HOST_KEY_MISMATCH',
    `HOST KEY CHANGED for ${route.host} (${where(route)}): it presented ${presented}, which is not the key recorded${file === undefined ? '' : ` at ${file}:${line ?? '?'}`}. ` +
      'Someone may be intercepting the connection (man in the middle), or the host was reinstalled. Refusing to connect.',
    {
      host: route.host,
      ...(file !== undefined && { file }),
      ...(line !== undefined && { line }),
      detail: detail(lines),
      hint: `only if you know why the key changed: ssh-keygen -R '${lookup}'${file === undefined ? '' : ` -f ${file}`}, then add the new key`,
    },
  );
}

function hostKeyRevoked(route: HostRoute, lines: readonly string[]): StapctlError {
  return new StapctlError('HOST_KEY_REVOKED', `host key of ${route.host} (${where(route)}) is revoked; refusing to connect`, {
    host: route.host,
    detail: detail(lines),
    hint: 'the host must get a new host key; a revoked key is never accepted',
  });
}

function hostKeyUnknown(route: HostRoute, lines: readonly string[]): StapctlError {
  const portFlag = route.port === 22 ? '' : `-p ${route.port} `;
  const userFile = route.knownHostsFiles[0] ?? '~/.ssh/known_hosts';
  return new StapctlError('HOST_KEY_UNKNOWN', `host key of ${route.host} (${where(route)}) is not known`, {
    host: route.host,
    detail: detail(lines),
    hint: `check the fingerprint out of band, then: ssh-keyscan ${portFlag}${route.hostKeyAlias ?? route.address} >> ${userFile} (or run once with --host-key-check accept-new)`,
  });
}

function authRefused(route: HostRoute, lines: readonly string[]): StapctlError {
  const methods = /Permission denied \(([^)]*)\)/.exec(lines.join('\n'))?.[1];
  return new StapctlError('AUTH_FAILED', `${route.user}@${route.host}: authentication refused${methods === undefined ? '' : ` (the host offered ${methods})`}`, {
    host: route.host,
    detail: detail(lines),
    hint:
      `check that the key (or its certificate's CA) is accepted for ${route.user} on ${route.host}; ssh runs with BatchMode=yes, so a passphrase, ` +
      `a password or a keyboard-interactive answer must come from ssh-agent or an existing master; \`ssh -v ${route.host}\` shows what ssh offered`,
  });
}

/**
 * What a master that came up said about the host key: accept-new and off recorded (or, for off,
 * dropped into /dev/null) a key ssh did not know, which the user hears of as a warning. Under off,
 * ssh lets a host whose key CHANGED through; stapctl never does (as with ssh2): that is the error.
 */
export function hostKeyOutcome(route: HostRoute, stderr: string): { warnings: string[]; refused?: StapctlError } {
  const lines = sshLines(stderr);
  const text = lines.join('\n');
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(text)) return { warnings: [], refused: hostKeyChanged(route, lines) };
  if (!/Permanently added .* to the list of known hosts/.test(text)) return { warnings: [] };
  if (route.hostKeyPolicy === 'off') return { warnings: [`host key of ${route.host} was not checked: --host-key-check off`] };
  return { warnings: [`recorded new host key of ${route.host} in ${route.knownHostsFiles[0] ?? '~/.ssh/known_hosts'}`] };
}
