/**
 * patches/ssh2.patch as the build applies it: ssh2's key parser bundled through the same esbuild
 * plugin, then run. The host key's signature check is what makes a known_hosts match mean
 * anything, so the patched check must refuse what ssh2's own refuses.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
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

/** The bundle holds every file the patch names: the key parser and the key exchange. */
async function bundlePatchedSsh2(patchFile?: string): Promise<string> {
  const result = await build({
    stdin: { contents: "require('ssh2/lib/protocol/kex.js'); module.exports = require('ssh2/lib/protocol/keyParser.js');", resolveDir: import.meta.dirname, loader: 'js' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    external: ['*.node'],
    plugins: [await ssh2Patched(patchFile)],
  });
  return result.outputFiles[0]?.text ?? '';
}

async function patchedParseDERKey(): Promise<ParseDERKey> {
  const module = { exports: {} as { parseDERKey?: ParseDERKey } };
  const bundle = join(scratch, 'ssh2.cjs');
  new Function('require', 'module', 'exports', '__filename', '__dirname', await bundlePatchedSsh2())(createRequire(import.meta.filename), module, module.exports, bundle, scratch);
  const parse = module.exports.parseDERKey;
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

  test('a patch that no longer applies to the installed ssh2 fails the build, naming the file', async () => {
    const original = join(import.meta.dirname, '../../../patches/ssh2.patch');
    const stale = join(scratch, 'stale.patch');
    copyFileSync(original, stale);
    writeFileSync(stale, readFileSync(stale, 'utf8').replace(/^-(\s+\S)/m, '-$1 stale'));
    await assert.rejects(bundlePatchedSsh2(stale), /stale\.patch does not apply to .*node_modules\/ssh2\/lib\/protocol\/\w+\.js/);
  });
});
