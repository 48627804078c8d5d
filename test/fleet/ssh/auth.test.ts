import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyAuthMethod, KnownPublicKeys, ParsedKey } from 'ssh2';
import { authFailure, classifyPrivateKey, createAuthSession, planAuth, PlannedAgent, type AuthPlan } from '../../../src/fleet/ssh/auth.js';
import { rejection } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-auth-'));
const agentSocket = join(scratch, 'agent.sock');
let agent: ChildProcess | undefined;

function keygen(file: string, passphrase = ''): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', '', '-f', file]);
  return file;
}

const plain = keygen(join(scratch, 'plain'));
const second = keygen(join(scratch, 'second'));
const locked = keygen(join(scratch, 'locked'), 'secret');


function publicBlob(file: string): Buffer {
  return Buffer.from(readFileSync(`${file}.pub`, 'utf8').split(' ')[1] ?? '', 'base64');
}

/** Drives an auth handler the way ssh2 does, collecting what it offers until it gives up. */
function offered(plan: AuthPlan): string[] {
  const session = createAuthSession(plan, 'root');
  const methods: string[] = [];
  for (let round = 0; round < 10; round++) {
    let chosen: AnyAuthMethod | false | undefined;
    session.handler([], false, (method) => {
      chosen = method as AnyAuthMethod | false;
    });
    if (chosen === false || chosen === undefined) break;
    methods.push(chosen.type === 'publickey' ? `key ${plan.keys.find((key) => key.key === (chosen as { key: unknown }).key)?.file}` : chosen.type);
  }
  return methods;
}

before(async () => {
  agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  while (!existsSync(agentSocket) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  execFileSync('ssh-add', ['-q', plain, second], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: 'ignore' });
});

after(() => {
  if (agent?.pid !== undefined && agent.exitCode === null) process.kill(agent.pid, 'SIGTERM');
  rmSync(scratch, { recursive: true, force: true });
});

describe('classifyPrivateKey', () => {
  test('tells a usable key, a passphrase-protected key and a public key apart', () => {
    assert.equal(classifyPrivateKey(readFileSync(plain, 'utf8')).kind, 'key');
    assert.equal(classifyPrivateKey(readFileSync(locked, 'utf8')).kind, 'encrypted');
    const pub = classifyPrivateKey(readFileSync(`${plain}.pub`, 'utf8'));
    assert.deepEqual(pub, { kind: 'invalid', reason: 'it holds a public key' });
  });
});

describe('planAuth', () => {
  test('default key names are used only when no identity is named, and only those that exist', async () => {
    const dir = join(scratch, 'defaults');
    mkdirSync(dir);
    copyFileSync(plain, join(dir, 'id_ed25519'));
    copyFileSync(second, join(dir, 'id_rsa'));
    const defaults = await planAuth({ identities: [], identitiesOnly: false, defaultKeyDir: dir });
    assert.deepEqual(
      defaults.keys.map((key) => [key.file, key.origin]),
      [
        [join(dir, 'id_rsa'), 'default'],
        [join(dir, 'id_ed25519'), 'default'],
      ],
    );
    const named = await planAuth({ identities: [{ file: second, origin: 'ssh-config' }], identitiesOnly: false, defaultKeyDir: dir });
    assert.deepEqual(
      named.keys.map((key) => key.file),
      [second],
    );
  });

  test("an identity file's key signs as ssh2's own would, for Ed25519, RSA with each hash and ECDSA", async () => {
    const make = (type: string, bits: string) => {
      const file = join(scratch, `signs-${type}-${bits}`);
      execFileSync('ssh-keygen', ['-q', '-t', type, '-b', bits, '-N', '', '-C', '', '-f', file]);
      return file;
    };
    const data = Buffer.from('session id and the userauth request');
    for (const [file, hashes] of [
      [plain, [undefined]],
      [make('rsa', '2048'), [undefined, 'sha256', 'sha512']],
      [make('ecdsa', '384'), [undefined]],
    ] as const) {
      const key = (await planAuth({ identities: [{ file, origin: 'option' }], identitiesOnly: true, defaultKeyDir: scratch })).keys[0]?.key;
      assert.ok(key !== undefined);
      const reference = classifyPrivateKey(readFileSync(file, 'utf8'));
      assert.ok(reference.kind === 'key');
      for (const hash of hashes) {
        const signature = key.sign(data, hash);
        assert.ok(Buffer.isBuffer(signature), `${file} ${hash}: ${String(signature)}`);
        // ECDSA signatures are randomised: each must verify; the others are the same bytes.
        if (key.type.startsWith('ecdsa')) assert.equal(reference.key.verify(data, signature, hash), true, file);
        else assert.deepEqual(signature, reference.key.sign(data, hash), `${file} ${hash}`);
      }
    }
  });

  test('named identities keep their order and a repeated file is read once', async () => {
    const plan = await planAuth({
      identities: [
        { file: second, origin: 'inventory' },
        { file: plain, origin: 'option' },
        { file: second, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    assert.deepEqual(
      plan.keys.map((key) => [key.file, key.origin]),
      [
        [second, 'inventory'],
        [plain, 'option'],
      ],
    );
  });

  test('a missing ssh config identity is passed over but a missing --identity is an error', async () => {
    const plan = await planAuth({
      identities: [
        { file: join(scratch, 'nope'), origin: 'ssh-config' },
        { file: plain, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    assert.deepEqual(
      plan.keys.map((key) => key.file),
      [plain],
    );
    const error = await rejection(planAuth({ identities: [{ file: join(scratch, 'nope'), origin: 'option' }], identitiesOnly: false, defaultKeyDir: scratch, host: 'h1' }));
    assert.equal(error.code, 'IDENTITY_UNREADABLE');
    assert.equal(error.file, join(scratch, 'nope'));
    assert.equal(error.host, 'h1');
  });

  test('naming a public key file as identity is an error', async () => {
    const error = await rejection(planAuth({ identities: [{ file: `${plain}.pub`, origin: 'inventory' }], identitiesOnly: false, defaultKeyDir: scratch }));
    assert.equal(error.code, 'IDENTITY_UNREADABLE');
    assert.match(error.message, /public key/);
  });

  test('only passphrase-protected keys and no agent is KEY_PASSPHRASE_REQUIRED with the ssh-add hint', async () => {
    const error = await rejection(planAuth({ identities: [{ file: locked, origin: 'ssh-config' }], identitiesOnly: false, defaultKeyDir: scratch }));
    assert.equal(error.code, 'KEY_PASSPHRASE_REQUIRED');
    assert.ok(error.hint?.includes(`ssh-add ${locked}`));
  });

  test('a passphrase-protected config key beside a usable one is kept aside, not fatal', async () => {
    const plan = await planAuth({
      identities: [
        { file: locked, origin: 'ssh-config' },
        { file: plain, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    assert.deepEqual(plan.encrypted, [locked]);
    assert.deepEqual(
      plan.keys.map((key) => key.file),
      [plain],
    );
    assert.equal(plan.identityPublicKeys.length, 2);
  });

  test('with an agent a passphrase-protected named key is left to the agent', async () => {
    const plan = await planAuth({ agentSocket, identities: [{ file: locked, origin: 'option' }], identitiesOnly: true, defaultKeyDir: scratch });
    assert.deepEqual(plan.keys, []);
    assert.deepEqual(plan.encrypted, [locked]);
    assert.ok(plan.identityPublicKeys[0]?.equals(publicBlob(locked)));
  });
});

describe('authentication order', () => {
  test('the agent comes first, then each identity file, then nothing more', async () => {
    const plan = await planAuth({
      agentSocket: join(scratch, 'no-agent.sock'),
      identities: [
        { file: plain, origin: 'option' },
        { file: second, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    assert.deepEqual(offered(plan), ['agent', `key ${plain}`, `key ${second}`]);
  });

  test('identity files whose key the agent already offered are not offered again', async () => {
    const plan = await planAuth({
      agentSocket,
      identities: [
        { file: plain, origin: 'option' },
        { file: locked, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    const session = createAuthSession(plan, 'root');
    const next = (): Promise<AnyAuthMethod | false> =>
      new Promise((resolve) => session.handler([], false, (method) => resolve(method as AnyAuthMethod | false)));
    const first = await next();
    assert.ok(first !== false && first.type === 'agent');
    await new Promise<void>((resolve) => session.agent?.getIdentities(() => resolve()));
    const rest = await next();
    assert.equal(rest, false);
    assert.deepEqual(session.tried, [`ssh-agent at ${agentSocket}`]);
  });

  test('under IdentitiesOnly the agent offers only keys of the identity files', async () => {
    const filtered = new PlannedAgent(agentSocket, [publicBlob(second)]);
    const keys = await new Promise<KnownPublicKeys<ParsedKey>>((resolve, reject) =>
      filtered.getIdentities((error, found) => (error ? reject(error) : resolve(found ?? []))),
    );
    assert.equal(keys.length, 1);
    assert.ok((keys[0] as ParsedKey | undefined)?.getPublicSSH().equals(publicBlob(second)));
    const all = new PlannedAgent(agentSocket);
    const every = await new Promise<KnownPublicKeys<ParsedKey>>((resolve, reject) => all.getIdentities((error, found) => (error ? reject(error) : resolve(found ?? []))));
    assert.equal(every.length, 2);
  });
});

describe('authFailure', () => {
  test('lists what was tried and names the host and user', async () => {
    const plan = await planAuth({ identities: [{ file: plain, origin: 'option' }], identitiesOnly: false, defaultKeyDir: scratch });
    const session = createAuthSession(plan, 'ci');
    session.handler([], false, () => undefined);
    session.handler([], false, () => undefined);
    const error = authFailure(plan, session, 'ci', 'build7');
    assert.equal(error.code, 'AUTH_FAILED');
    assert.equal(error.host, 'build7');
    assert.equal(error.message, `ci@build7: authentication refused; tried ${plain}`);
  });

  test('without an agent, skipped passphrase-protected keys make it KEY_PASSPHRASE_REQUIRED', async () => {
    const plan = await planAuth({
      identities: [
        { file: locked, origin: 'ssh-config' },
        { file: plain, origin: 'ssh-config' },
      ],
      identitiesOnly: false,
      defaultKeyDir: scratch,
    });
    const error = authFailure(plan, createAuthSession(plan, 'ci'), 'ci', 'build7');
    assert.equal(error.code, 'KEY_PASSPHRASE_REQUIRED');
    assert.equal(error.host, 'build7');
    assert.equal(error.file, locked);
  });
});
