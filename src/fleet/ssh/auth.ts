/**
 * Which credentials to offer, in ssh's spirit: the ssh-agent first, then identity files (the
 * inventory's, `--identity`, ssh config IdentityFile, else ssh's default names). Fleet runs are
 * non-interactive: a passphrase-protected key is usable only through the agent.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthHandlerMiddleware, IdentityCallback, ParsedKey, SigningRequestOptions, SignCallback } from 'ssh2';
import { isMissingFile, StapctlError } from '../../errors.js';

export type IdentityOrigin = 'inventory' | 'option' | 'ssh-config' | 'default';

export interface IdentitySource {
  file: string;
  origin: IdentityOrigin;
}

export interface AuthRequest {
  /** `SSH_AUTH_SOCK`, when set. */
  agentSocket?: string;
  /** Inventory identity, `--identity`, then ssh config IdentityFile(s), in that order. */
  identities: IdentitySource[];
  identitiesOnly: boolean;
  /** Where ssh's default key names are looked for (normally ~/.ssh). */
  defaultKeyDir: string;
  /** The host the plan is for, named in errors. */
  host?: string;
}

export interface IdentityKey {
  file: string;
  origin: IdentityOrigin;
  key: ParsedKey;
}

export interface AuthPlan {
  agentSocket?: string;
  identitiesOnly: boolean;
  keys: IdentityKey[];
  /** Passphrase-protected files: usable only when the agent holds them. */
  encrypted: string[];
  /** Public halves of every identity file, which IdentitiesOnly lets the agent sign for. */
  identityPublicKeys: Buffer[];
}

/** ssh's default identity names (OpenSSH 9 order, without DSA which it no longer offers). */
const DEFAULT_KEY_NAMES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss'];

const explicitOrigins: readonly IdentityOrigin[] = ['inventory', 'option'];

/**
 * Reads and classifies the identity files. Like ssh, the default names are tried only when no
 * identity file was named anywhere. A named file (inventory or --identity) that is missing, or
 * protected by a passphrase when no agent can hold it, is an error now rather than a vague
 * authentication failure on every host later.
 */
export async function planAuth(request: AuthRequest, files: IdentityFiles = new IdentityFiles()): Promise<AuthPlan> {
  const sources: IdentitySource[] =
    request.identities.length > 0
      ? request.identities
      : DEFAULT_KEY_NAMES.map((name) => ({ file: join(request.defaultKeyDir, name), origin: 'default' as const }));
  const keys: IdentityKey[] = [];
  const encrypted: string[] = [];
  const identityPublicKeys: Buffer[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    if (seen.has(source.file)) continue;
    seen.add(source.file);
    const loaded = identityOf(source, await files.read(source.file), request.host);
    if (loaded.kind === 'missing') continue;
    if (loaded.kind === 'key') {
      keys.push({ ...source, key: loaded.key });
      identityPublicKeys.push(loaded.key.getPublicSSH());
      continue;
    }
    encrypted.push(source.file);
    if (loaded.publicKey !== undefined) identityPublicKeys.push(loaded.publicKey);
    if (request.agentSocket === undefined && explicitOrigins.includes(source.origin)) {
      throw passphraseRequired([source.file], request.host);
    }
  }
  if (request.agentSocket === undefined && keys.length === 0 && encrypted.length > 0) {
    throw passphraseRequired(encrypted, request.host);
  }
  return {
    ...(request.agentSocket !== undefined && { agentSocket: request.agentSocket }),
    identitiesOnly: request.identitiesOnly,
    keys,
    encrypted,
    identityPublicKeys,
  };
}

type LoadedIdentity = { kind: 'missing' } | { kind: 'key'; key: ParsedKey } | { kind: 'encrypted'; publicKey?: Buffer };

type KeyFile = Exclude<LoadedIdentity, { kind: 'missing' }> | { kind: 'invalid'; reason: string } | { kind: 'unreadable'; error: NodeJS.ErrnoException };

/**
 * Identity files read and parsed once, however many plans use them: every host of a fleet run is
 * offered the same keys. What a file's state means (skip it, or fail) depends on its origin and is
 * decided per plan.
 */
export class IdentityFiles {
  private readonly files = new Map<string, Promise<KeyFile>>();

  read(file: string): Promise<KeyFile> {
    let loaded = this.files.get(file);
    if (loaded === undefined) {
      loaded = readKeyFile(file);
      this.files.set(file, loaded);
    }
    return loaded;
  }
}

/**
 * node:fs's callback form: node:fs/promises loads ten modules (its file handles, readline, file
 * watchers) that nothing else of a fleet run over ssh2 needs.
 */
function readText(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    readFile(file, 'utf8', (error, text) => (error === null ? resolve(text) : reject(error)));
  });
}

async function readKeyFile(file: string): Promise<KeyFile> {
  let text: string;
  try {
    text = await readText(file);
  } catch (error) {
    return { kind: 'unreadable', error: error as NodeJS.ErrnoException };
  }
  const classified = classifyPrivateKey(text);
  if (classified.kind === 'key') return { kind: 'key', key: signingWithKeyObject(classified.key) };
  return classified.kind === 'encrypted' ? { kind: 'encrypted', ...(await readPublicHalf(file)) } : classified;
}

/** The hash ssh2 signs with when the server asked for none (RSA's rsa-sha2-* name their own). */
const DEFAULT_HASH: Readonly<Record<string, string | null>> = {
  'ssh-ed25519': null,
  'ssh-rsa': 'sha1',
  'ssh-dss': 'sha1',
  'ecdsa-sha2-nistp256': 'sha256',
  'ecdsa-sha2-nistp384': 'sha384',
  'ecdsa-sha2-nistp521': 'sha512',
};

/**
 * ssh2 signs with the key's PEM text, which OpenSSL decodes anew for every signature: ~0.5 ms,
 * ten times an Ed25519 signature, once per host. This key is ssh2's own in every other respect;
 * it signs with a KeyObject decoded once per run, giving the bytes ssh2's sign would give.
 */
function signingWithKeyObject(key: ParsedKey): ParsedKey {
  const hash = DEFAULT_HASH[key.type];
  if (hash === undefined) return key;
  const decoded: KeyObject = createPrivateKey(key.getPrivatePEM());
  const signing = Object.create(key) as ParsedKey;
  // As ssh2's own: a failed signature is returned as an Error, which its typings do not declare.
  signing.sign = ((data: Buffer, algo?: string) => {
    try {
      return sign(algo || hash, data, decoded);
    } catch (error) {
      return error as Error;
    }
  }) as ParsedKey['sign'];
  return signing;
}

function identityOf(source: IdentitySource, file: KeyFile, host: string | undefined): LoadedIdentity {
  if (file.kind === 'unreadable') {
    // ssh, too, passes over configured and default identities that do not exist.
    if (!explicitOrigins.includes(source.origin) && isMissingFile(file.error)) return { kind: 'missing' };
    throw new StapctlError('IDENTITY_UNREADABLE', `cannot read identity file ${source.file}: ${file.error.message}`, {
      file: source.file,
      ...(host !== undefined && { host }),
      hint: `check the ${describeOrigin(source.origin)} and the file's permissions`,
      cause: file.error,
    });
  }
  if (file.kind !== 'invalid') return file;
  if (!explicitOrigins.includes(source.origin)) return { kind: 'missing' };
  throw new StapctlError('IDENTITY_UNREADABLE', `${source.file} is not a private key: ${file.reason}`, {
    file: source.file,
    ...(host !== undefined && { host }),
    hint: 'name the private key file (not the .pub file); OpenSSH, PEM and PuTTY formats are read',
  });
}

/** ssh2's parser tells an encrypted key from an unreadable one only by its message. */
export function classifyPrivateKey(text: string): { kind: 'key'; key: ParsedKey } | { kind: 'encrypted' } | { kind: 'invalid'; reason: string } {
  const parsed = ssh2.utils.parseKey(text);
  const key: ParsedKey | Error | undefined = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
  if (key === undefined) return { kind: 'invalid', reason: 'no key found' };
  if (key instanceof Error) {
    if (/no passphrase given/i.test(key.message)) return { kind: 'encrypted' };
    return { kind: 'invalid', reason: key.message };
  }
  if (!key.isPrivateKey()) return { kind: 'invalid', reason: 'it holds a public key' };
  return { kind: 'key', key };
}

async function readPublicHalf(file: string): Promise<{ publicKey?: Buffer }> {
  try {
    const parsed = ssh2.utils.parseKey(await readText(`${file}.pub`));
    const key = Array.isArray(parsed) ? (parsed[0] as ParsedKey | undefined) : parsed;
    return key === undefined || key instanceof Error ? {} : { publicKey: key.getPublicSSH() };
  } catch {
    return {};
  }
}

function describeOrigin(origin: IdentityOrigin): string {
  return { inventory: 'inventory identity', option: '--identity option', 'ssh-config': 'ssh config IdentityFile', default: 'default key' }[origin];
}

function passphraseRequired(files: string[], host: string | undefined): StapctlError {
  const list = files.join(', ');
  return new StapctlError('KEY_PASSPHRASE_REQUIRED', `identity ${list} is protected by a passphrase and no ssh-agent holds it`, {
    ...(files.length === 1 && { file: files[0] }),
    ...(host !== undefined && { host }),
    hint: `fleet runs cannot ask for passphrases: start an agent (eval "$(ssh-agent)") and run ${files.map((file) => `ssh-add ${file}`).join('; ')}`,
  });
}

/**
 * The agent as ssh2 sees it: it remembers which keys it offered, so the identity files skip keys
 * already tried (each failed key counts against the server's MaxAuthTries), and under
 * IdentitiesOnly it offers only keys whose public half belongs to an identity file, as ssh does.
 */
export class PlannedAgent extends ssh2.BaseAgent<ParsedKey> {
  readonly offered: Buffer[] = [];
  failure?: string;
  private readonly agent: ssh2.BaseAgent;

  constructor(
    socketPath: string,
    private readonly only?: readonly Buffer[],
  ) {
    super();
    this.agent = ssh2.createAgent(socketPath);
  }

  getIdentities(cb: IdentityCallback<ParsedKey>): void {
    this.agent.getIdentities((error, keys) => {
      if (error !== undefined && error !== null) {
        this.failure = error.message;
        cb(error);
        return;
      }
      const parsed = (keys ?? []).flatMap((key) => {
        const result = ssh2.utils.parseKey(key as ParsedKey);
        return result instanceof Error ? [] : [result];
      });
      const allowed = this.only === undefined ? parsed : parsed.filter((key) => this.only?.some((blob) => blob.equals(key.getPublicSSH())));
      this.offered.push(...allowed.map((key) => key.getPublicSSH()));
      cb(undefined, allowed);
    });
  }

  sign(pubKey: ParsedKey, data: Buffer, options: SigningRequestOptions | SignCallback, cb?: SignCallback): void {
    if (typeof options === 'function') this.agent.sign(pubKey, data, options);
    else this.agent.sign(pubKey, data, options, cb);
  }
}

export interface AuthSession {
  handler: AuthHandlerMiddleware;
  /** What was offered, for the AUTH_FAILED message. */
  tried: string[];
  agent?: PlannedAgent;
}

/** One authentication pass for one connection: agent first, then each identity file once. */
export function createAuthSession(plan: AuthPlan, username: string): AuthSession {
  const agent = plan.agentSocket === undefined ? undefined : new PlannedAgent(plan.agentSocket, plan.identitiesOnly ? plan.identityPublicKeys : undefined);
  const tried: string[] = [];
  const methods: (() => AnyAuthMethod | undefined)[] = [];
  if (agent !== undefined) {
    methods.push(() => {
      tried.push(`ssh-agent at ${plan.agentSocket}`);
      return { type: 'agent', username, agent };
    });
  }
  for (const identity of plan.keys) {
    methods.push(() => {
      const blob = identity.key.getPublicSSH();
      if (agent?.offered.some((offered) => offered.equals(blob))) return undefined;
      tried.push(identity.file);
      return { type: 'publickey', username, key: identity.key };
    });
  }
  let next = 0;
  const handler: AuthHandlerMiddleware = (_methodsLeft, _partial, callback) => {
    while (next < methods.length) {
      const method = methods[next++]?.();
      if (method !== undefined) {
        callback(method);
        return;
      }
    }
    callback(false as unknown as AnyAuthMethod);
  };
  return { handler, tried, ...(agent !== undefined && { agent }) };
}

/** The error when every method was refused: which ones, and what would have helped. */
export function authFailure(plan: AuthPlan, session: AuthSession, user: string, host: string): StapctlError {
  const locked = plan.encrypted.filter((file) => !plan.keys.some((key) => key.file === file));
  if (plan.agentSocket === undefined && locked.length > 0) return passphraseRequired(locked, host);
  const tried = session.tried.length > 0 ? session.tried.join(', ') : 'nothing (no agent, no identity file found)';
  const agentNote = session.agent?.failure !== undefined ? ` (the agent failed: ${session.agent.failure})` : '';
  const hints = [
    `check that the key is in ~${user}/.ssh/authorized_keys on ${host}, or name one with --identity FILE or the inventory's identity`,
    ...locked.map((file) => `ssh-add ${file} (passphrase-protected, not in the agent)`),
  ];
  return new StapctlError('AUTH_FAILED', `${user}@${host}: authentication refused; tried ${tried}${agentNote}`, {
    host,
    hint: hints.join('; '),
  });
}
