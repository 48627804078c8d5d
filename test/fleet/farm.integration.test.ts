import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFarm, type Farm, type FarmHost } from './farm.js';
import { acceptsTcp } from '../support/expect.js';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function runCommand(command: string, argv: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(command, argv, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 255, stdout, stderr });
    });
  });
}

function ssh(farm: Farm, host: FarmHost, command: string): Promise<Result> {
  return runCommand('ssh', [
    '-F', '/dev/null',
    '-i', farm.clientKey,
    '-o', `UserKnownHostsFile=${farm.knownHostsFile}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'KexAlgorithms=curve25519-sha256',
    `root@${host.address}`,
    command,
  ]);
}

function isRunning(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

describe('farm (integration, real sshd in namespaces)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-farm-test-'));
  let farm: Farm;

  before(async () => {
    farm = await startFarm({ dir, hosts: 3 });
  });

  after(async () => {
    await farm?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  test('each host answers ssh, with a strictly checked host key, under its own hostname', async () => {
    const answers = await Promise.all(farm.hosts.map((host) => ssh(farm, host, 'hostname')));
    assert.deepEqual(
      answers.map((answer) => [answer.code, answer.stdout.trim()]),
      [[0, 'h1'], [0, 'h2'], [0, 'h3']],
    );
  });

  test('a host key listed for another address is refused', async () => {
    const [h1, h2] = farm.hosts as [FarmHost, FarmHost];
    const lines = readFileSync(farm.knownHostsFile, 'utf8').split('\n');
    const swapped = join(dir, 'swapped_known_hosts');
    writeFileSync(swapped, `${h2.address} ${lines[0]?.split(' ').slice(1).join(' ')}\n`);
    const answer = await runCommand('ssh', [
      '-F', '/dev/null', '-i', farm.clientKey, '-o', `UserKnownHostsFile=${swapped}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `root@${h2.address}`, 'true',
    ]);
    assert.equal(answer.code, 255);
    assert.match(answer.stderr, /HOST IDENTIFICATION HAS CHANGED/);
    assert.notEqual(h1.address, h2.address);
  });

  test('each host has the sysconfig and fake kernel releases that host-setup.sh made', async () => {
    const answer = await ssh(farm, farm.hosts[1]!, 'cat /etc/sysconfig/stap-server; ls /lib/modules; ls -d /etc/stap-server/conf.d');
    assert.equal(answer.stdout, 'STAP_USER=stap-server\n6.1.0-h2-a\n6.1.0-h2-b\n/etc/stap-server/conf.d\n');
  });

  test('state written on one host is seen neither on another host nor on the real filesystem', async () => {
    const [h1, h2] = farm.hosts as [FarmHost, FarmHost];
    const probe = `farm-probe-${process.pid}`;
    assert.equal((await ssh(farm, h1, `echo h1 > /var/run/stap-server/${probe} && cat /run/stap-server/${probe}`)).stdout, 'h1\n');
    assert.equal((await ssh(farm, h2, `ls /var/run/stap-server/${probe}`)).code, 2);
    assert.equal(existsSync(`/var/run/stap-server/${probe}`), false);
    assert.equal(readFileSync(join(h1.dir, 'state/run/stap-server', probe), 'utf8'), 'h1\n');
  });

  test('node runs over ssh', async () => {
    const answer = await ssh(farm, farm.hosts[2]!, 'node --version');
    assert.equal(answer.code, 0);
    assert.match(answer.stdout, /^v\d+\.\d+\.\d+\n$/);
  });

  test('root has a clean home on each host', async () => {
    const answer = await ssh(farm, farm.hosts[0]!, 'ls -A ~');
    assert.equal(answer.stdout, '.ssh\n');
  });

  test('every host holds the same stap-server certificate, owned by the server user', async () => {
    const listings = await Promise.all(
      farm.hosts.map((host) => farm.exec(host, ['stat', '-c', '%U %a %n', '/var/lib/stap-server/.systemtap/ssl/server/cert9.db'])),
    );
    assert.deepEqual(
      listings.map((listing) => listing.stdout),
      farm.hosts.map(() => 'stap-server 600 /var/lib/stap-server/.systemtap/ssl/server/cert9.db\n'),
    );
    const certs = await Promise.all(farm.hosts.map((host) => farm.exec(host, ['sha256sum', '/var/lib/stap-server/.systemtap/ssl/server/stap.cert'])));
    assert.match(certs[0]!.stdout, /^[0-9a-f]{64} /);
    assert.equal(new Set(certs.map((cert) => cert.stdout)).size, 1);
  });

  test('exec runs inside the host namespaces, where sshd is PID 1', async () => {
    const host = farm.hosts[2]!;
    const answer = await farm.exec(host, ['sh', '-c', 'hostname; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.equal(answer.code, 0);
    assert.match(answer.stdout, new RegExp(`^h3\\n.*/usr/sbin/sshd -D -e -f ${host.dir}/sshd_config`));
  });

  test('the stock stap-server script works on a host and finds no servers there', async () => {
    const answer = await farm.exec(farm.hosts[2]!, ['/usr/bin/stap-server', 'status']);
    assert.equal(answer.stdout, 'No managed stap-server is running\n');
    assert.equal(answer.code, 3);
  });

  test('host-setup.sh as the Docker image runs it, at build and at container start, gives sshd a valid configuration', async () => {
    const realConfig = readFileSync('/etc/ssh/sshd_config', 'utf8');
    const script = fileURLToPath(new URL('../../docker/host-setup.sh', import.meta.url));
    const imageBuild = await farm.exec(farm.hosts[2]!, [script]);
    assert.equal(imageBuild.code, 0, imageBuild.stderr);
    const containerStart = await farm.exec(farm.hosts[2]!, [
      'sh', '-c', `${script} --host docker1 --authorized-keys ${farm.clientKey}.pub && /usr/sbin/sshd -t && cat /etc/ssh/sshd_config && ls /lib/modules`,
    ]);
    assert.equal(containerStart.code, 0, containerStart.stderr);
    assert.match(containerStart.stdout, /^HostKey \/etc\/ssh\/ssh_host_ed25519_key$/m);
    assert.doesNotMatch(containerStart.stdout, /^ListenAddress/m);
    assert.match(containerStart.stdout, /^6\.1\.0-docker1-a\n6\.1\.0-docker1-b\n/m);
    assert.equal(readFileSync('/etc/ssh/sshd_config', 'utf8'), realConfig);
  });

  test('host-setup.sh refuses an unknown option and names it', async () => {
    const script = fileURLToPath(new URL('../../docker/host-setup.sh', import.meta.url));
    const answer = await farm.exec(farm.hosts[2]!, [script, '--hots', 'x']);
    assert.equal(answer.code, 1);
    assert.match(answer.stderr, /unknown option --hots/);
  });

  test('a farm directory inside a directory that hosts mount over is refused and not created', async () => {
    const inside = `/var/log/stapctl-farm-test-${process.pid}`;
    await assert.rejects(startFarm({ dir: inside, hosts: 1 }), /is inside \/var\/log, which every host mounts over/);
    assert.equal(existsSync(inside), false);
  });

  test('starting a farm in a directory of a crashed farm stops the old hosts first', async () => {
    const other = mkdtempSync(join(tmpdir(), 'stapctl-farm-crash-'));
    try {
      const crashed = await startFarm({ dir: other, hosts: 1, firstAddress: '127.0.2.1' });
      const old = crashed.hosts[0]!;
      const restarted = await startFarm({ dir: other, hosts: 1, firstAddress: '127.0.2.1' });
      assert.equal(isRunning(old.pid), false);
      assert.equal(isRunning(restarted.hosts[0]!.pid), true);
      assert.equal((await ssh(restarted, restarted.hosts[0]!, 'hostname')).stdout, 'h1\n');
      await restarted.down();
      assert.equal(isRunning(restarted.hosts[0]!.pid), false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test('down ends every host and its sshd, removes the farm files, and is harmless twice', async () => {
    const hosts = farm.hosts;
    await farm.down();
    assert.deepEqual(hosts.map((host) => isRunning(host.pid)), [false, false, false]);
    assert.deepEqual(await Promise.all(hosts.map((host) => acceptsTcp(host.address, host.port))), [false, false, false]);
    assert.equal(existsSync(join(dir, 'farm.json')), false);
    assert.equal(existsSync(farm.inventoryFile), false);
    await farm.down();
    assert.equal(existsSync(join(dir, 'hosts')), false);
  });
});
