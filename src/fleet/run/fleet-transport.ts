/**
 * The transport of one fleet run: in-process ssh2 (the default) or the system ssh client
 * (--transport openssh). Both take a host's resolved route and give the same SshSession, so the
 * agent contract, its decoder and the results do not know which one ran.
 */
import { join } from 'node:path';
import { planAuth } from '../ssh/auth.js';
import type { HostRoute } from '../ssh/host-route.js';
import type { TransportName } from '../ssh/transport-names.js';
import { OpensshTransport } from '../ssh/openssh-transport.js';
import { connect, type ConnectOptions, type SshSession } from '../ssh/transport.js';
import type { SshEnvironment } from './fleet-run.js';

export interface FleetTransport {
  connect(route: HostRoute): Promise<SshSession>;
  /** Ends what the run still holds (jump connections, ssh masters); resolves once they are gone. */
  close(): Promise<void>;
}

export async function openFleetTransport(name: TransportName, ssh: SshEnvironment): Promise<FleetTransport> {
  if (name === 'openssh') return OpensshTransport.start(ssh.env, ssh.sshConfigFiles);
  return {
    connect: async (route) => connect(await ssh2Options(route, ssh), ssh.knownHosts, ssh.jumps),
    close: async () => ssh.jumps.close(),
  };
}

/**
 * ssh2 needs the keys themselves: the identity files are read and planned here (a missing named
 * key or one locked by a passphrase is an error before connecting). OpenSSH reads its own.
 */
async function ssh2Options(route: HostRoute, ssh: SshEnvironment): Promise<ConnectOptions> {
  const { identities, identitiesOnly, proxyJump, ...settings } = route;
  const auth = await planAuth(
    { ...(ssh.agentSocket && { agentSocket: ssh.agentSocket }), identities, identitiesOnly, defaultKeyDir: join(ssh.home, '.ssh'), host: route.host },
    ssh.identityFiles,
  );
  return { ...settings, auth, ...(proxyJump && { proxyJump: await ssh2Options(proxyJump, ssh) }) };
}
