/**
 * The agent bundle as an Ansible module: the installed ansible and ansible-playbook against a
 * namespace farm, with dist/ as the module library. Traffic stays on 127.0.0.0/8.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { CLIENT_CERT_DB, TRUST_RECORD } from '../../src/provision/client-trust.js';
import { ansibleSshArgs, startFarm, type Farm, type FarmHost } from '../fleet/farm.js';

const LIBRARY = fileURLToPath(new URL('../../dist', import.meta.url));
let farm: Farm;
let scratch: string;

interface TaskResult {
  /** What Ansible made of the module's answer: SUCCESS, CHANGED, FAILED! (it drops `failed` from the JSON). */
  state: string;
  changed?: boolean;
  msg?: string;
  servers?: { nickname: string; change: string; action: string; outcome: string }[];
  stapctl?: { exitCode: number; servers: { nickname: string; outcome: string }[] };
  trusted?: string[];
}

/**
 * Runs ansible or ansible-playbook with ansible-core's `minimal` stdout callback, which prints
 * `HOST | STATE => {json}` per task result; the results of the last task by host.
 */
function ansible(command: 'ansible' | 'ansible-playbook', args: string[]): Map<string, TaskResult> {
  const result = spawnSync(command, ['-i', farm.inventoryFile, ...args], {
    encoding: 'utf8',
    timeout: 180_000,
    env: {
      ...process.env,
      ANSIBLE_LIBRARY: LIBRARY,
      ANSIBLE_STDOUT_CALLBACK: 'minimal',
      ANSIBLE_LOAD_CALLBACK_PLUGINS: '1',
      ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
      ...ansibleSshArgs(farm.knownHostsFile),
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_LOCAL_TEMP: join(scratch, 'ansible-local'),
      HOME: scratch,
    },
  });
  const results = new Map<string, TaskResult>();
  for (const match of result.stdout.matchAll(/^(\S+) \| ([A-Z!]+) => (\{[\s\S]*?\n\})$/gm)) {
    results.set(match[1] as string, { ...(JSON.parse(match[3] as string) as Omit<TaskResult, 'state'>), state: match[2] as string });
  }
  assert.ok(results.size > 0, `${command} printed no result (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  return results;
}

function playbook(name: string, servers: object[], check = false): Map<string, TaskResult> {
  const file = join(scratch, `${name}.yml`);
  const play = [{ hosts: 'farm', gather_facts: false, tasks: [{ name: 'compile servers', stapctl: { action: 'apply', stap_servers: servers } }] }];
  writeFileSync(file, JSON.stringify(play));
  return ansible('ansible-playbook', [...(check ? ['--check'] : []), file]);
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stapctl-provision-ansible-'));
  farm = await startFarm({ dir: join(scratch, 'farm'), hosts: 2, firstAddress: '127.0.1.41' });
});

after(async () => {
  await farm?.down();
  rmSync(scratch, { recursive: true, force: true });
});

describe('the agent bundle as an Ansible module', () => {
  test('ansible -m stapctl -a action=status answers from every host with the engine report', () => {
    const results = ansible('ansible', ['farm', '-m', 'stapctl', '-a', 'action=status']);
    assert.deepEqual([...results.keys()].sort(), ['h1', 'h2']);
    for (const [host, result] of results) {
      assert.equal(result.state, 'SUCCESS', `${host}: ${result.msg}`);
      assert.equal(result.stapctl?.exitCode, 3, `${host}: no server runs yet`);
    }
  });

  test('a playbook in check mode plans the servers and starts none', () => {
    const results = playbook('check', [{ nickname: 'native', releases: ['6.1.0-a'] }], true);
    for (const result of results.values()) {
      assert.equal(result.changed, true);
      assert.deepEqual(result.servers?.map((server) => `${server.nickname} ${server.change} ${server.outcome}`), ['native added planned']);
    }
    const status = ansible('ansible', ['farm', '-m', 'stapctl', '-a', 'action=status']);
    for (const result of status.values()) assert.equal(result.stapctl?.exitCode, 3);
  });

  test('a playbook task applies stap_servers, and running it again changes nothing', () => {
    const servers = [{ nickname: 'native', releases: ['6.1.0-a'] }];
    const first = playbook('apply', servers);
    for (const [host, result] of first) {
      assert.equal(result.state, 'CHANGED', `${host}: ${result.msg}`);
    }
    const again = playbook('apply', servers);
    for (const result of again.values()) assert.equal(result.state, 'SUCCESS');
    const status = ansible('ansible', ['farm', '-m', 'stapctl', '-a', 'action=status']);
    for (const result of status.values()) assert.deepEqual(result.stapctl?.servers.map((server) => `${server.nickname} ${server.outcome}`), ['native running']);
  });

  test('a play trusts on h2 the certificate endpoints returns on h1, and a second run changes nothing', () => {
    const file = join(scratch, 'trust.yml');
    const play = (revoke: boolean) => [
      { hosts: 'h1', gather_facts: false, tasks: [{ stapctl: { action: 'endpoints' }, register: 'served' }] },
      {
        hosts: 'h2',
        gather_facts: false,
        tasks: [{ stapctl: { action: 'trust', revoke, certificates: "{{ hostvars['h1'].served.endpoints | map(attribute='certificate') | list }}" } }],
      },
    ];
    writeFileSync(file, JSON.stringify(play(false)));
    const first = ansible('ansible-playbook', [file]).get('h2');
    assert.equal(first?.state, 'CHANGED', first?.msg);
    assert.equal(first?.trusted?.length, 1);
    assert.equal(ansible('ansible-playbook', [file]).get('h2')?.state, 'SUCCESS');
    writeFileSync(file, JSON.stringify(play(true)));
    const revoked = ansible('ansible-playbook', [file]).get('h2');
    assert.equal(revoked?.state, 'CHANGED', revoked?.msg);
    assert.deepEqual(revoked?.trusted, []);
  });

  test('a play trusts with servers by host into the record stapctl trust keeps, and revokes by host with no certificate at hand', async () => {
    const file = join(scratch, 'trust-servers.yml');
    const play = (trust: object) => [
      { hosts: 'h1', gather_facts: false, tasks: [{ stapctl: { action: 'endpoints' }, register: 'served' }] },
      { hosts: 'h2', gather_facts: false, tasks: [{ stapctl: { action: 'trust', ...trust } }] },
    ];
    writeFileSync(file, JSON.stringify(play({ servers: "{{ dict(['h1'] | zip(['h1'] | map('extract', hostvars, ['served', 'endpoints']))) }}" })));
    const trusted = ansible('ansible-playbook', [file]).get('h2');
    assert.equal(trusted?.state, 'CHANGED', trusted?.msg);
    const [fingerprint] = trusted?.trusted ?? [];
    const h2 = farm.hosts[1] as FarmHost;
    const record = async () => JSON.parse((await farm.exec(h2, ['cat', `${CLIENT_CERT_DB}/${TRUST_RECORD}`])).stdout) as unknown;
    assert.deepEqual(await record(), { servers: { h1: [fingerprint] } });
    // h1's servers gone: the play names the host only, as `stapctl trust --servers h1 --revoke` then does.
    writeFileSync(file, JSON.stringify(play({ revoke: true, servers: { h1: null } })));
    const revoked = ansible('ansible-playbook', [file]).get('h2');
    assert.equal(revoked?.state, 'CHANGED', revoked?.msg);
    assert.deepEqual(revoked?.trusted, []);
    assert.deepEqual(await record(), { servers: {} });
  });

  test('a bad stap_servers entry fails the task with its place and changes nothing', () => {
    const results = playbook('bad', [{ nickname: 'native', port: 'x' }]);
    for (const result of results.values()) {
      assert.equal(result.state, 'FAILED!');
      assert.match(result.msg ?? '', /stap_servers\[0\]\.port must be a port number/);
    }
  });
});
