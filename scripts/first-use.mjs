// Modules the bundles load on their first use instead of at load: Node compiles each built-in
// module anew in every process (~0.3 ms each), and a package's top level runs whether or not the
// run calls it. Each entry replaces the imports of one module (from one importer, if it says so)
// with a small module that requires the real one when it is first called.
import { createRequire } from 'node:module';
import { resolve, sep } from 'node:path';

const NAMESPACE = 'first-use';

/** An esbuild plugin that applies ENTRIES ({ filter, importer?, contents }), the first that matches. */
export function firstUse(entries) {
  return {
    name: NAMESPACE,
    setup(build) {
      entries.forEach(({ filter, importer }, index) => {
        // What the replacement itself requires is the real module.
        build.onResolve({ filter }, (args) =>
          args.namespace === NAMESPACE || (importer !== undefined && !importer.test(args.importer)) ? undefined : { path: String(index), namespace: NAMESPACE },
        );
      });
      build.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({ contents: entries[Number(args.path)].contents, resolveDir: process.cwd(), loader: 'js' }));
    },
  };
}

/**
 * A CommonJS module with the names of built-in module ID (as this node has them) that loads it on
 * first use: its functions called through, anything else (classes, constants) behind a getter.
 * Own properties, not a Proxy: esbuild copies a bundled CommonJS module's own properties for an
 * ES import of it.
 */
function loadedOnFirstUse(id) {
  const real = createRequire(import.meta.url)(id);
  const names = Object.keys(real).map((name) => [name, typeof real[name] === 'function' && /^[a-z]/.test(name)]);
  return `const load = () => require(${JSON.stringify(id)});
for (const [name, call] of ${JSON.stringify(names)}) {
  if (call) module.exports[name] = (...args) => load()[name](...args);
  else Object.defineProperty(module.exports, name, { get: () => load()[name], enumerable: true });
}`;
}

/**
 * Functions of built-in module ID as plain function declarations that require it when called:
 * they cost nothing at load (getters copied onto a module object did, ~0.3 ms for two modules).
 * An import of another name fails the build.
 */
function functionsOnFirstUse(id, names) {
  return names.map((name) => `export function ${name}(...args) { return require(${JSON.stringify(id)}).${name}(...args); }`).join('\n');
}

const escaped = (path) => path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const OUR_SOURCE = new RegExp(`^${escaped(resolve('src') + sep)}`);
const COMMANDER_PACKAGE = /[\\/]node_modules[\\/]commander[\\/]/;
const SSH2_LIB = /[\\/]node_modules[\\/]ssh2[\\/]lib[\\/]/;

/**
 * node:module (whose require and createRequire cost a local status ~0.35 ms) and node:os (~0.2 ms)
 * serve only some runs: a child process to start, the host's name, release and machine, a home
 * directory.
 */
export const OUR_BUILT_INS = [
  { filter: /^node:module$/, importer: OUR_SOURCE, contents: functionsOnFirstUse('node:module', ['createRequire']) },
  { filter: /^node:os$/, importer: OUR_SOURCE, contents: functionsOnFirstUse('node:os', ['homedir', 'hostname', 'machine', 'release', 'tmpdir', 'userInfo']) },
];

/**
 * commander is needed only by a command line of more than one word (src/cli/argv.ts); its load
 * (its classes, node:events, node:process) cost a plain `stapctl status` a tenth of its top level.
 * It requires node:child_process at load for a feature stapctl does not use (executable
 * subcommands).
 */
export const COMMANDER = [
  {
    filter: /^commander$/,
    contents: `const load = () => require('commander');
for (const name of ['Command', 'CommanderError', 'Option']) Object.defineProperty(module.exports, name, { get: () => load()[name], enumerable: true });`,
  },
  { filter: /^(node:)?child_process$/, importer: COMMANDER_PACKAGE, contents: "module.exports = new Proxy({}, { get: (_, name) => require('node:child_process')[name] });" },
];

/**
 * What the fleet bundle's dependencies load at their top and a run seldom uses, some thirty
 * modules (node:zlib, for ssh2's compression, which stapctl does not offer, is lazy through
 * patches/ssh2.patch): ssh2's host name lookup (node:dns), its agents for Pageant and Cygwin and
 * the processes of ProxyCommand, the openssh transport, ssh config's Match exec and inventory
 * scripts (node:child_process, with node:dgram and node:net's process handles), the openssh
 * transport's files (node:fs/promises, with readline and file watchers), ASN.1 (asn1 with
 * safer-buffer, which copies node:buffer and so loads its File class, and node:assert), which
 * ssh2 needs only for DSA and ECDSA keys and SFTP, and bcrypt-pbkdf (with tweetnacl), which only
 * decrypts passphrase-protected keys.
 */
export const FLEET_DEPENDENCIES = [
  { filter: /^(node:)?child_process$/, contents: loadedOnFirstUse('node:child_process') },
  { filter: /^node:fs\/promises$/, contents: loadedOnFirstUse('node:fs/promises') },
  { filter: /^dns$/, importer: SSH2_LIB, contents: "module.exports = { lookup: (...args) => require('node:dns').lookup(...args) };" },
  { filter: /^asn1$/, importer: SSH2_LIB, contents: "module.exports = { Ber: new Proxy({}, { get: (_, name) => require('asn1').Ber[name] }) };" },
  {
    filter: /^assert$/,
    importer: SSH2_LIB,
    contents: "module.exports = new Proxy(function assert() {}, { apply: (_, self, args) => require('node:assert')(...args), get: (_, name) => require('node:assert')[name] });",
  },
  { filter: /^bcrypt-pbkdf$/, importer: SSH2_LIB, contents: "module.exports = { pbkdf: (...args) => require('bcrypt-pbkdf').pbkdf(...args) };" },
];
