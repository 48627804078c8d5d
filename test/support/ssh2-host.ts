/**
 * A scripted SSH host for tests, written with ssh2's Server on 127.0.0.1: it accepts any client
 * key and answers each exec as the test says, so a test can play a broken or hostile host
 * without root and without sshd.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { ServerChannel } from 'ssh2';

export interface ExecRequest {
  command: string;
  channel: ServerChannel;
  /** The request's stdin, read to its end. */
  stdin: Promise<Buffer>;
}

export interface Ssh2Host {
  port: number;
  /** The known_hosts line for this host under `name` (its address when omitted). */
  knownHostsLine(name?: string): string;
  /** Signal requests (RFC 4254 6.9) received, by name. */
  readonly signals: string[];
  close(): Promise<void>;
}

export interface Ssh2HostOptions {
  onExec: (request: ExecRequest) => void;
  /** Authenticate, then never answer a channel request. */
  hangAfterAuth?: boolean;
  address?: string;
}

export async function startSsh2Host(options: Ssh2HostOptions): Promise<Ssh2Host> {
  const keys = hostKeys();
  const signals: string[] = [];
  const clients = new Set<ssh2.Connection>();
  // Signal requests are read from ssh2's debug log: its server drops any channel request that
  // arrives after the client's EOF, which a stopped command's signal always does.
  const debug = (line: string) => {
    const signal = /CHANNEL_REQUEST \(r:\d+, signal: (\w+)\)/.exec(line)?.[1];
    if (signal !== undefined) signals.push(signal);
  };
  const server = new ssh2.Server({ hostKeys: [keys.private], debug }, (client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (context) => context.accept());
    client.on('ready', () => {
      client.on('session', (accept) => {
        if (options.hangAfterAuth) return;
        const session = accept();
        session.on('exec', (acceptExec, _reject, info) => {
          const channel = acceptExec();
          channel.on('error', () => undefined);
          const chunks: Buffer[] = [];
          channel.on('data', (chunk: Buffer) => chunks.push(chunk));
          const stdin = new Promise<Buffer>((resolve) => channel.on('end', () => resolve(Buffer.concat(chunks))));
          options.onExec({ command: info.command, channel, stdin });
        });
      });
    });
  });
  server.listen(0, options.address ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address } = server.address() as AddressInfo;
  const publicKey = keys.public.split(' ').slice(0, 2).join(' ');
  return {
    port,
    signals,
    knownHostsLine: (name = address) => `[${name}]:${port} ${publicKey}`,
    close: async () => {
      for (const client of clients) client.end();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * By ssh-keygen, as the other tests' keys: in one full run a key from ssh2's own
 * generateKeyPairSync('ed25519') was refused by its Server as malformed (300 in a row were not).
 */
function hostKeys(): { private: string; public: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-ssh2-host-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'stapctl-test', '-f', join(dir, 'key')]);
    return { private: readFileSync(join(dir, 'key'), 'utf8'), public: readFileSync(join(dir, 'key.pub'), 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Ends an exec as a well-behaved command would. */
export function finish(channel: ServerChannel, code: number, stdout = '', stderr = ''): void {
  if (stderr !== '') channel.stderr.write(stderr);
  channel.write(stdout);
  channel.exit(code);
  channel.end();
}
