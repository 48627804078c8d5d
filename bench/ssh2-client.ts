/**
 * The benchmark's `ssh2` tool: ssh2 alone, as stapctl ships it (bundled by esbuild with
 * patches/ssh2.patch and its native binding: bundleSsh2Client), used the way pssh uses ssh. It runs
 * one command on every host of an ssh_config with a parallelism and prints clush's format: `HOST:
 * LINE` for each line of output, and `ssh2-client: HOST: WHY` on stderr for a host that failed (an
 * exit code, a timeout, an error); it exits 1 when any did. No inventory, facts, engine or agent:
 * its controller CPU is what the SSH library itself costs a connection, beside stapctl's.
 *
 *   node ssh2-client.cjs SSH_CONFIG HOSTS_FILE FORKS TIMEOUT_S COMMAND
 *
 * The algorithms are stapctl's (src/fleet/ssh/transport.ts), and the host key is checked against
 * the config's UserKnownHostsFile as strictly as stapctl checks it.
 */
import { readFileSync } from 'node:fs';
import SSHConfig from 'ssh-config';
import { Client, type Algorithms } from 'ssh2';

const ALGORITHMS: Algorithms = {
  kex: { prepend: ['curve25519-sha256', 'curve25519-sha256@libssh.org'], append: [], remove: [] },
  cipher: { prepend: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'], append: [], remove: [] },
  compress: ['none'],
};

/** Each file read once: every host of a farm names the same key and known_hosts. */
const files = new Map<string, unknown>();
function readOnce<T>(file: string, parse: (bytes: Buffer) => T): T {
  if (!files.has(file)) files.set(file, parse(readFileSync(file)));
  return files.get(file) as T;
}

/** known_hosts lines `NAME[,NAME...] TYPE BASE64` (the farm's own file: no hashed names, no markers). */
function knownKeys(text: Buffer): Map<string, Buffer[]> {
  const keys = new Map<string, Buffer[]>();
  for (const line of text.toString('utf8').split('\n')) {
    const [names, , key] = line.trim().split(/\s+/);
    if (names === undefined || key === undefined || names.startsWith('#')) continue;
    for (const name of names.split(',')) keys.set(name, [...(keys.get(name) ?? []), Buffer.from(key, 'base64')]);
  }
  return keys;
}

interface HostSettings {
  HostName: string;
  Port: string;
  User: string;
  IdentityFile: string | string[];
  UserKnownHostsFile: string;
}

/** Connects, runs COMMAND, and resolves with its output and why it failed (undefined: exit 0). */
function runOne(host: string, settings: HostSettings, command: string, timeoutMs: number): Promise<{ stdout: string; failure?: string }> {
  return new Promise((resolve) => {
    const client = new Client();
    const known = readOnce(settings.UserKnownHostsFile, knownKeys);
    let stdout = '';
    let failure: string | undefined = 'closed before the command ended';
    const timer = setTimeout(() => {
      failure = 'timeout';
      client.destroy();
    }, timeoutMs);
    client.on('ready', () =>
      client.exec(command, (error, channel) => {
        if (error) {
          failure = error.message;
          client.end();
          return;
        }
        channel.setEncoding('utf8');
        channel.on('data', (chunk: string) => (stdout += chunk));
        channel.stderr.resume();
        channel.on('exit', (code: number | null) => (failure = code === 0 ? undefined : `exited with exit code ${code}`));
        channel.on('close', () => client.end());
      }),
    );
    client.on('error', (error) => (failure = error.message));
    client.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout, ...(failure !== undefined && { failure }) });
    });
    client.connect({
      host: settings.HostName,
      port: Number(settings.Port),
      username: settings.User,
      privateKey: readOnce([settings.IdentityFile].flat()[0] ?? '', (bytes) => bytes),
      algorithms: ALGORITHMS,
      hostVerifier: (key: Buffer) => [settings.HostName, host].some((name) => (known.get(name) ?? []).some((want) => want.equals(key))),
    });
  });
}

const [configFile = '', hostsFile = '', forks = '', timeoutS = '', command = ''] = process.argv.slice(2);
const config = SSHConfig.parse(readFileSync(configFile, 'utf8'));
const hosts = readFileSync(hostsFile, 'utf8').split('\n').filter(Boolean);
let next = 0;
let failed = false;
async function worker(): Promise<void> {
  for (let host = hosts[next++]; host !== undefined; host = hosts[next++]) {
    const { stdout, failure } = await runOne(host, config.compute(host) as unknown as HostSettings, command, Number(timeoutS) * 1000);
    for (const line of stdout.split('\n').filter(Boolean)) process.stdout.write(`${host}: ${line}\n`);
    if (failure !== undefined) {
      failed = true;
      process.stderr.write(`ssh2-client: ${host}: ${failure}\n`);
    }
  }
}
void Promise.all(Array.from({ length: Number(forks) }, worker)).then(() => {
  process.exitCode = failed ? 1 : 0;
});
