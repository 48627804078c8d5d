/**
 * How one host is reached, as stapctl resolved it from the inventory, the options and the ssh
 * config, before any transport reads a key: each transport turns it into what it needs (ssh2 an
 * authentication plan, OpenSSH's ssh command-line options).
 */
import type { IdentitySource } from './auth.js';
import type { HostKeyPolicy } from './config.js';

/** Without --connect-timeout or ConnectTimeout in the ssh config, for either transport. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface HostRoute {
  /** The name the user knows the host by: the ssh config's Host, and the name in messages. */
  host: string;
  address: string;
  port: number;
  user: string;
  /** Inventory identity, --identity, then the ssh config's IdentityFile(s), in that order. */
  identities: IdentitySource[];
  identitiesOnly: boolean;
  hostKeyPolicy: HostKeyPolicy;
  /** Checked in order; the first is the user's file, where accept-new records new keys. */
  knownHostsFiles: string[];
  /** ssh's HostKeyAlias: the name looked up in known_hosts instead of the address. */
  hostKeyAlias?: string;
  /** Whole handshake, authentication included. Default 10 s. */
  connectTimeoutMs?: number;
  /** The previous hop, reached first; this host is reached through it. */
  proxyJump?: HostRoute;
  /** ssh's ProxyCommand, %-tokens expanded: the connection runs over its stdin and stdout. */
  proxyCommand?: string;
}
