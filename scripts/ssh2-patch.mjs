// patches/ssh2.patch, applied by esbuild to the bundle's copy of ssh2 (node_modules stays as npm
// installed it). It changes how ssh2's hot paths hand keys to OpenSSL, where its packets' random
// padding comes from (a pool, not a call per packet), and what ssh2 loads at its top (node:zlib,
// for compression stapctl does not offer, asn1 for an Ed25519 key, and the poly1305 WebAssembly
// module that only runs without the native binding), nothing on the wire; the reasons are in the
// patch. The build fails if any part of it no longer applies, or names a file the bundle does not
// hold (another ssh2 version).
import { applyPatch, parsePatch } from 'diff';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SSH2_PATCH_FILE = fileURLToPath(new URL('../patches/ssh2.patch', import.meta.url));
const SSH2_FILE = /[\\/]node_modules[\\/]ssh2[\\/](lib[\\/].*)$/;

export function ssh2Patched(patchFile = SSH2_PATCH_FILE) {
  return {
    name: 'ssh2-patched',
    setup(build) {
      const patches = new Map(parsePatch(readFileSync(patchFile, 'utf8')).map((patch) => [patch.newFileName.replace(/^b\//, ''), patch]));
      const applied = new Set();
      build.onLoad({ filter: SSH2_FILE }, (args) => {
        const file = SSH2_FILE.exec(args.path)?.[1]?.replaceAll('\\', '/');
        const patch = file === undefined ? undefined : patches.get(file);
        if (patch === undefined) return undefined;
        const contents = applyPatch(readFileSync(args.path, 'utf8'), patch);
        if (contents === false) throw new Error(`${patchFile} does not apply to ${args.path}`);
        applied.add(file);
        return { contents, loader: 'js' };
      });
      build.onEnd((result) => {
        const missing = [...patches.keys()].filter((file) => !applied.has(file));
        if (result.errors.length === 0 && missing.length > 0) throw new Error(`${patchFile}: the bundle holds no ${missing.join(', ')}`);
      });
    },
  };
}
