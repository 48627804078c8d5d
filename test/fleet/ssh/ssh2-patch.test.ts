/**
 * patches/ssh2.patch as the build applies it: ssh2's key parser bundled through the same esbuild
 * plugin, then run. The host key's signature check is what makes a known_hosts match mean
 * anything, so the patched check must refuse what ssh2's own refuses.
 */
import { spawnSync } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, deflateSync } from 'node:zlib';
import { build, type Plugin } from 'esbuild';

interface HostKey {
  verify(data: Buffer, signature: Buffer, algo?: string): boolean | Error;
}
type ParseDERKey = (data: Buffer, type: string) => HostKey | Error;

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-ssh2-patch-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function ssh2Patched(patchFile?: string): Promise<Plugin> {
  const plugin = (await import(pathToFileURL(join(import.meta.dirname, '../../../scripts/ssh2-patch.mjs')).href)) as { ssh2Patched: (file?: string) => Plugin };
  return plugin.ssh2Patched(patchFile);
}

/**
 * ssh2's key parser, key exchange (which holds its packet readers and writers) and ciphers, with
 * PLUGINS; its native binding, and the modules EXTERNAL names, left to runBundle's require.
 */
async function bundleSsh2(plugins: Plugin[], external: string[] = []): Promise<string> {
  const result = await build({
    stdin: { contents: "const { NullCipher, init } = require('ssh2/lib/protocol/crypto.js'); module.exports = { ...require('ssh2/lib/protocol/keyParser.js'), ...require('ssh2/lib/protocol/zlib.js'), NullCipher, init }; require('ssh2/lib/protocol/kex.js');", resolveDir: import.meta.dirname, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    external: ['*.node', ...external],
    plugins,
  });
  return result.outputFiles[0]?.text ?? '';
}

/** The bundle holds every file the patch names: the key parser, the key exchange, the ciphers and zlib.js. */
async function bundlePatchedSsh2(patchFile?: string, external?: string[]): Promise<string> {
  return bundleSsh2([await ssh2Patched(patchFile)], external);
}

/** What ssh2's cipher module require()s: its native binding, and its poly1305 WebAssembly module. */
const BINDING = './crypto/build/Release/sshcrypto.node';
const POLY1305 = './crypto/poly1305.js';
/** The binding, as far as the cipher module looks at it when it loads. */
const fakeBinding = Object.fromEntries(['AESGCMCipher', 'ChaChaPolyCipher', 'GenericCipher', 'AESGCMDecipher', 'ChaChaPolyDecipher', 'GenericDecipher'].map((name) => [name, class {}]));

/**
 * Runs BUNDLE; REQUIRED collects every module name it asks require() for, and OVERRIDES replaces
 * modules (an Error: that require() throws it, as for a module that is not there).
 */
function runBundle<T>(bundle: string, required: string[] = [], overrides: Record<string, unknown> = {}): T {
  const module = { exports: {} as T };
  const plainRequire = createRequire(import.meta.filename);
  const recording = (id: string): unknown => {
    required.push(id);
    if (!Object.hasOwn(overrides, id)) return plainRequire(id);
    if (overrides[id] instanceof Error) throw overrides[id];
    return overrides[id];
  };
  new Function('require', 'module', 'exports', '__filename', '__dirname', bundle)(recording, module, module.exports, join(scratch, 'ssh2.cjs'), scratch);
  return module.exports;
}

interface ParsedKey {
  getPrivatePEM(): string;
  getPublicPEM(): string;
}
interface Ssh2Parts {
  parseKey(data: string): ParsedKey | Error;
  ZlibPacketReader: new () => { read(data: Buffer): Buffer; cleanup(): void };
  NullCipher: new (seqno: number, onWrite: (packet: Buffer) => void) => { allocPacket(payloadLength: number): Buffer };
  /** What ssh2's client waits for before it starts a connection. */
  init: Promise<void>;
}

async function patchedParseDERKey(): Promise<ParseDERKey> {
  const parse = runBundle<{ parseDERKey?: ParseDERKey }>(await bundlePatchedSsh2()).parseDERKey;
  assert.equal(typeof parse, 'function');
  return parse as ParseDERKey;
}

/** An Ed25519 host key as ssh2's key exchange hands it to parseDERKey: the blob after its type name. */
function ed25519HostKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, raw.length]), raw]);
  return { blob, sign: (data: Buffer) => sign(null, data, privateKey) };
}

describe('patches/ssh2.patch', () => {
  test("an Ed25519 host key's signature over the exchange hash is verified", async () => {
    const parseDERKey = await patchedParseDERKey();
    const host = ed25519HostKey();
    const exchangeHash = Buffer.from('exchange hash of this connection');
    const key = parseDERKey(host.blob, 'ssh-ed25519');
    assert.ok(!(key instanceof Error));
    assert.equal(key.verify(exchangeHash, host.sign(exchangeHash)), true);
  });

  test('a signature over other data, or by another key, is refused', async () => {
    const parseDERKey = await patchedParseDERKey();
    const host = ed25519HostKey();
    const impostor = ed25519HostKey();
    const exchangeHash = Buffer.from('exchange hash of this connection');
    const key = parseDERKey(host.blob, 'ssh-ed25519');
    assert.ok(!(key instanceof Error));
    assert.equal(key.verify(exchangeHash, host.sign(Buffer.from('exchange hash of another connection'))), false);
    assert.equal(key.verify(exchangeHash, impostor.sign(exchangeHash)), false);
  });

  test("an Ed25519 identity in OpenSSH's format gives OpenSSL the same key documents as unpatched ssh2", async () => {
    const keyFile = join(scratch, 'id_ed25519');
    const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'patch test', '-f', keyFile]);
    assert.equal(made.status, 0, String(made.stderr));
    const text = readFileSync(keyFile, 'utf8');
    const patched = runBundle<Ssh2Parts>(await bundlePatchedSsh2()).parseKey(text);
    const unpatched = runBundle<Ssh2Parts>(await bundleSsh2([])).parseKey(text);
    assert.ok(!(patched instanceof Error) && !(unpatched instanceof Error));
    assert.equal(patched.getPrivatePEM(), unpatched.getPrivatePEM());
    assert.equal(patched.getPublicPEM(), unpatched.getPublicPEM());
    assert.equal(createPublicKey(createPrivateKey(patched.getPrivatePEM())).export({ type: 'spki', format: 'pem' }).toString().trim(), patched.getPublicPEM());
  });

  test('ssh2 loads node:zlib when a compressed stream is first read, not when it is loaded', async () => {
    const required: string[] = [];
    const ssh2 = runBundle<Ssh2Parts>(await bundlePatchedSsh2(), required);
    assert.ok(!required.includes('zlib'), required.join(' '));
    const reader = new ssh2.ZlibPacketReader();
    const data = Buffer.from('a packet of a compressed connection');
    assert.deepEqual(reader.read(deflateSync(data, { flush: constants.Z_SYNC_FLUSH })), data);
    reader.cleanup();
    assert.ok(required.includes('zlib'));
  });

  test('with the native binding, ssh2 neither loads nor runs its poly1305 WebAssembly module', async () => {
    const required: string[] = [];
    await runBundle<Ssh2Parts>(await bundlePatchedSsh2(undefined, [POLY1305]), required, { [BINDING]: fakeBinding, [POLY1305]: new Error('poly1305 loaded') }).init;
    assert.ok(required.includes(BINDING) && !required.includes(POLY1305), required.join(' '));
  });

  test('without the native binding, ssh2 makes its poly1305 module ready before it connects, as unpatched', async () => {
    const required: string[] = [];
    const ssh2Require = createRequire(createRequire(import.meta.filename).resolve('ssh2/lib/protocol/crypto.js'));
    await runBundle<Ssh2Parts>(await bundlePatchedSsh2(undefined, [POLY1305]), required, { [BINDING]: new Error('no binding'), [POLY1305]: ssh2Require(POLY1305) }).init;
    assert.ok(required.includes(POLY1305), required.join(' '));
  });

  test("each packet's padding is random bytes from node:crypto, used once, with a call of randomFillSync per 4 kB instead of per packet", async () => {
    const filled: Buffer[] = [];
    const countingCrypto = {
      ...nodeCrypto,
      randomFillSync: <B extends NodeJS.ArrayBufferView>(buffer: B, offset?: number, size?: number): B => {
        nodeCrypto.randomFillSync(buffer, offset, size);
        const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
        filled.push(Buffer.from(bytes.subarray(offset ?? 0, size === undefined ? undefined : (offset ?? 0) + size)));
        return buffer;
      },
    };
    const ssh2 = runBundle<Ssh2Parts>(await bundlePatchedSsh2(), [], { crypto: countingCrypto });
    const cipher = new ssh2.NullCipher(0, () => {});
    const paddings: Buffer[] = [];
    for (let payloadLength = 0; payloadLength < 2000; payloadLength += 1) {
      const packet = cipher.allocPacket(payloadLength);
      assert.equal(packet[4], packet.length - 5 - payloadLength);
      paddings.push(packet.subarray(5 + payloadLength));
    }
    const total = paddings.reduce((sum, padding) => sum + padding.length, 0);
    assert.ok(filled.length <= 2 * Math.ceil(total / 4096), `${filled.length} calls for ${paddings.length} packets`);
    // Each padding is the next bytes of the pool it came from; a pool too short for one is left.
    let pool = 0;
    let used = 0;
    for (const padding of paddings) {
      if (used + padding.length > (filled[pool]?.length ?? 0)) [pool, used] = [pool + 1, 0];
      assert.deepEqual(padding, filled[pool]?.subarray(used, used + padding.length));
      used += padding.length;
    }
    assert.equal(pool, filled.length - 1);
  });

  test('a patch that no longer applies to the installed ssh2 fails the build, naming the file', async () => {
    const original = join(import.meta.dirname, '../../../patches/ssh2.patch');
    const stale = join(scratch, 'stale.patch');
    copyFileSync(original, stale);
    writeFileSync(stale, readFileSync(stale, 'utf8').replace(/^-(\s+\S)/m, '-$1 stale'));
    await assert.rejects(bundlePatchedSsh2(stale), /stale\.patch does not apply to .*node_modules\/ssh2\/lib\/protocol\/\w+\.js/);
  });
});
