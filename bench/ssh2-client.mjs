// The benchmark's `ssh2` tool: ssh2 alone, as npm ships it, used the way pssh uses ssh. It runs one
// command on every host of an ssh_config with a parallelism, and prints clush's format: `HOST: LINE`
// for each line of output, `ssh2-client: HOST: exited with exit code N` (or `: timeout`, or the
// error) on stderr for a host that failed; it exits 1 when any did. No inventory, no facts, no
// engine, no agent: its controller CPU is the SSH library's own cost of a connection, the floor
// under stapctl's (bench/README.md, "Targets"). Plain JavaScript run by node, as ssh2 is.
//
//   node bench/ssh2-client.mjs SSH_CONFIG HOSTS_FILE FORKS TIMEOUT_S COMMAND
//
// The same algorithms as stapctl's transport (src/fleet/ssh/transport.ts, CHEAPEST_FIRST), and the
// host key checked against the config's UserKnownHostsFile, as strictly as stapctl checks it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import SSHConfig from 'ssh-config';

const { Client } = createRequire(import.meta.url)('ssh2');

const ALGORITHMS = {
  kex: { prepend: ['curve25519-sha256', 'curve25519-sha256@libssh.org'], append: [], remove: [] },
  cipher: { prepend: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com'], append: [], remove: [] },
  compress: ['none'],
};

/** Each file read once: a run of 1000 hosts names the same key and known_hosts for all of them. */
const files = new Map();
function readOnce(file, parse = (bytes) => bytes) {
  if (!files.has(file)) files.set(file, parse(readFileSync(file)));
  return files.get(file);
}

/** known_hosts lines `NAME[,NAME...] TYPE BASE64` (the farm's own file: no hashed names, no markers). */
function knownKeys(text) {
  const keys = new Map();
  for (const line of text.toString('utf8').split('\n')) {
    const [names, , key] = line.trim().split(/\s+/);
    if (names === undefined || key === undefined || names.startsWith('#')) continue;
    for (const name of names.split(',')) keys.set(name, [...(keys.get(name) ?? []), Buffer.from(key, 'base64')]);
  }
  return keys;
}

function runOne(host, settings, command, timeoutMs) {
  return new Promise((resolve) => {
    const client = new Client();
    const known = readOnce(settings.UserKnownHostsFile, knownKeys);
    let stdout = '';
    let outcome = 'closed before the command ended';
    const timer = setTimeout(() => {
      outcome = 'timeout';
      client.destroy();
    }, timeoutMs);
    client.on('ready', () =>
      client.exec(command, (error, channel) => {
        if (error) {
          outcome = error.message;
          client.end();
          return;
        }
        channel.setEncoding('utf8');
        channel.on('data', (chunk) => (stdout += chunk));
        channel.stderr.resume();
        channel.on('exit', (code) => (outcome = code === 0 ? undefined : `exited with exit code ${code}`));
        channel.on('close', () => client.end());
      }),
    );
    client.on('error', (error) => (outcome = error.message));
    client.on('close', () => {
      clearTimeout(timer);
      resolve({ host, stdout, outcome });
    });
    client.connect({
      host: settings.HostName,
      port: Number(settings.Port),
      username: settings.User,
      privateKey: readOnce([settings.IdentityFile].flat()[0]),
      algorithms: ALGORITHMS,
      hostVerifier: (key) => [settings.HostName, host].some((name) => (known.get(name) ?? []).some((want) => want.equals(key))),
    });
  });
}

const [configFile, hostsFile, forks, timeoutS, command] = process.argv.slice(2);
const config = SSHConfig.parse(readFileSync(configFile, 'utf8'));
const hosts = readFileSync(hostsFile, 'utf8').split('\n').filter(Boolean);
let next = 0;
let failed = false;
async function worker() {
  while (next < hosts.length) {
    const host = hosts[next++];
    const { stdout, outcome } = await runOne(host, config.compute(host), command, Number(timeoutS) * 1000);
    for (const line of stdout.split('\n').filter(Boolean)) process.stdout.write(`${host}: ${line}\n`);
    if (outcome !== undefined) {
      failed = true;
      process.stderr.write(`ssh2-client: ${host}: ${outcome}\n`);
    }
  }
}
await Promise.all(Array.from({ length: Number(forks) }, worker));
process.exitCode = failed ? 1 : 0;
