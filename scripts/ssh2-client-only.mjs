// ssh2 as the fleet bundle holds it. Its index loads at once what a client never runs: the server,
// key generation and HTTP agents over SSH (with node:http, https and tls); stapctl's 'ssh2' is the
// client's parts, the rest loaded only if asked for. Its two native addons (the crypto binding and
// cpu-features) stay packages, found at run time as ssh2 finds them: from the bundle's place, or,
// for a bundle written elsewhere (the benchmark's bench/ssh2-client.ts), from INSTALLED_IN's
// node_modules by their full paths.
import { createRequire } from 'node:module';
import { join } from 'node:path';

const BINDING = 'ssh2/lib/protocol/crypto/build/Release/sshcrypto.node';

export function ssh2ClientOnly(installedIn) {
  const fromInstall = installedIn === undefined ? undefined : createRequire(join(installedIn, 'package.json'));
  // Without a built binding (no compiler where npm installed ssh2), ssh2 falls back to JavaScript.
  const located = (id) => {
    try {
      return fromInstall?.resolve(id) ?? id;
    } catch {
      return id;
    }
  };
  return {
    name: 'ssh2-client-only',
    setup(build) {
      build.onResolve({ filter: /^ssh2$/ }, () => ({ path: 'ssh2', namespace: 'ssh2-client' }));
      build.onLoad({ filter: /.*/, namespace: 'ssh2-client' }, () => ({
        resolveDir: process.cwd(),
        loader: 'js',
        contents: `const agent = require('ssh2/lib/agent.js');
const client = { Client: require('ssh2/lib/client.js'), BaseAgent: agent.BaseAgent, createAgent: agent.createAgent, utils: { parseKey: require('ssh2/lib/protocol/keyParser.js').parseKey } };
module.exports = new Proxy(client, { get: (parts, name) => (name in parts ? parts[name] : require('ssh2/lib/index.js')[name]) });`,
      }));
      build.onResolve({ filter: /^\.\/crypto\/build\/Release\/sshcrypto\.node$/ }, () => ({ path: located(BINDING), external: true }));
      build.onResolve({ filter: /^cpu-features$/ }, () => ({ path: located('cpu-features'), external: true }));
    },
  };
}
