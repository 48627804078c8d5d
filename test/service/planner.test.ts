import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerConfig } from '../../src/service/config-file.js';
import {
  configuredServers,
  defaultServer,
  planServers,
  type PlanContext,
} from '../../src/service/planner.js';
import type { OptionToken } from '../../src/service/server-options.js';
import type { Action } from '../../src/service/report.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';

const LOG = '/var/log/stap-server/log';

/** The spec of a server built from defaults alone. */
const base = (over: Partial<ServerSpec> = {}): ServerSpec => ({
  ...emptySpec(),
  arch: 'x86_64',
  user: 'stap-server',
  log: LOG,
  ...over,
});

const WEB: ServerSpec = base({ releases: ['6.1.0-18-amd64'], nickname: 'web', port: '5000', includes: ['/web'] });
const OTHER: ServerSpec = base({ releases: ['6.1.0-17-amd64'], nickname: '4242' });

const config = (file: string, over: Partial<ServerSpec>): ServerConfig => ({ file, spec: { ...emptySpec(), ...over } });

function context(over: Partial<PlanContext> = {}): PlanContext {
  return {
    action: 'start',
    hostArch: 'x86_64',
    runningRelease: '6.1.0-18-amd64',
    installedReleases: ['6.1.0-17-amd64', '6.1.0-18-amd64'],
    defaultUser: 'stap-server',
    defaultLog: LOG,
    running: [
      { pid: 4242, spec: OTHER },
      { pid: 5151, spec: WEB },
    ],
    configs: [
      config('/etc/stap-server/conf.d/arm.conf', { arch: 'arm', nickname: 'arm', defines: ['CROSS=1'] }),
      config('/etc/stap-server/conf.d/web.conf', { nickname: 'web', arch: 'ppc' }),
    ],
    kernelReleaseOf: (tree) => (tree === '/kernels/6.2/build' ? '6.2.0\n' : undefined),
    ...over,
  };
}

const FLAGS_WITH_VALUE = new Set(['a', 'r', 'u', 'I', 'R', 'B', 'D', 'n', 'p']);

/** `-a x --port 1 -i` as tokens, the way the CLI hands them over. */
function tokens(...argv: string[]): OptionToken[] {
  const out: OptionToken[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index] as string;
    const value = argv[index + 1] as string;
    if (arg === '-i') out.push({ flag: 'i' });
    else if (arg.startsWith('--')) {
      out.push({ flag: arg.slice(2), value } as OptionToken);
      index += 1;
    } else if (FLAGS_WITH_VALUE.has(arg.slice(1))) {
      out.push({ flag: arg.slice(1), value } as OptionToken);
      index += 1;
    } else throw new Error(`test bug: ${arg}`);
  }
  return out;
}

const plan = (argv: string[], over: Partial<PlanContext> = {}) => planServers(tokens(...argv), context(over));

function specs(argv: string[], over: Partial<PlanContext> = {}): ServerSpec[] {
  const result = plan(argv, over);
  assert.deepEqual(result.errors.map((error) => error.message), []);
  return result.servers.map((server) => server.spec);
}

function errorOf(argv: string[], over: Partial<PlanContext> = {}) {
  const result = plan(argv, over);
  assert.equal(result.errors.length, 1, result.errors.map((error) => error.message).join('; '));
  assert.deepEqual(result.servers, []);
  return result.errors[0]!;
}

describe('planServers: which servers the command line names', () => {
  test('no options name no server', () => {
    assert.deepEqual(plan([]), { servers: [], explicit: false, errors: [] });
  });

  test("no options read neither the host's arch nor its running release", () => {
    const unread = (what: string) => () => assert.fail(`${what} was read`);
    const ctx = context();
    Object.defineProperties(ctx, { hostArch: { get: unread('hostArch') }, runningRelease: { get: unread('runningRelease') } });
    assert.deepEqual(planServers([], ctx), { servers: [], explicit: false, errors: [] });
  });

  test('distributed options alone do not name a server', () => {
    assert.deepEqual(plan(['--port', '5000', '--log', '/tmp/l']), { servers: [], explicit: false, errors: [] });
  });

  for (const argv of [['-a', 'arm'], ['-r', '6.1'], ['-u', 'x'], ['-I', '/t'], ['-R', '/rt'], ['-B', 'V=1'], ['-D', 'X'], ['-i'], ['-n', 'web'], ['-p', '4242']]) {
    test(`${argv.join(' ')} names a server`, () => {
      assert.equal(plan(argv).explicit, true);
    });
  }
});

describe('planServers: one server from the options', () => {
  test('a lone -r starts a server with the default arch, user and log', () => {
    assert.deepEqual(plan(['-r', '6.1.0-17-amd64']).servers, [{ spec: base({ releases: ['6.1.0-17-amd64'] }), origin: 'options' }]);
  });

  test('-a, -u and -R keep the last value given', () => {
    const [spec] = specs(['-a', 'arm', '-u', 'a', '-R', '/r1', '-a', 'ppc', '-u', 'b', '-R', '/r2']);
    assert.deepEqual([spec?.arch, spec?.user, spec?.runtime], ['ppc', 'b', '/r2']);
  });

  test('-r, -I, -B and -D accumulate in order', () => {
    const [spec] = specs(['-r', 'a', '-I', '/i1', '-B', 'V=1', '-D', 'X', '-r', 'b', '-I', '/i2', '-B', 'W=2', '-D', 'Y']);
    assert.deepEqual(spec, base({ releases: ['a', 'b'], includes: ['/i1', '/i2'], builds: ['V=1', 'W=2'], defines: ['X', 'Y'] }));
  });

  test('all options describe one server, whatever their order', () => {
    assert.deepEqual(specs(['-r', 'a', '-a', 'ppc', '-r', 'b']), [base({ arch: 'ppc', releases: ['a', 'b'] })]);
  });

  test('an empty -R means no runtime', () => {
    assert.deepEqual(specs(['-R', '/rt', '-R', '']), [base()]);
  });

  test('the server user defaults to the configured STAP_USER', () => {
    assert.equal(specs(['-r', 'a'], { defaultUser: 'builder' })[0]?.user, 'builder');
  });
});

describe('planServers: -r with a build tree', () => {
  test('-r PATH with include/config/kernel.release keeps the path as the release', () => {
    assert.deepEqual(specs(['-a', 'arm', '-r', '/kernels/6.2/build']), [base({ arch: 'arm', releases: ['/kernels/6.2/build'] })]);
  });

  test('-r PATH without include/config/kernel.release is an error naming the missing file', () => {
    const error = errorOf(['-r', '/kernels/none']);
    assert.equal(error.code, 'NO_SUCH_RELEASE_TREE');
    assert.equal(error.message, 'Missing /kernels/none/include/config/kernel.release');
    assert.match(error.hint ?? '', /build tree/);
  });

  test('-r PATH with an empty kernel.release is an error', () => {
    assert.equal(errorOf(['-r', '/k'], { kernelReleaseOf: () => '\n' }).code, 'NO_SUCH_RELEASE_TREE');
  });

  test('-r with a release name does not look for a build tree', () => {
    const kernelReleaseOf = () => assert.fail('a release name is not a build tree');
    assert.deepEqual(specs(['-r', 'x/6.1'], { kernelReleaseOf }), [base({ releases: ['x/6.1'] })]);
  });
});

describe('planServers: -i', () => {
  test('-i starts one server per installed release', () => {
    assert.deepEqual(specs(['-i']), [base({ releases: ['6.1.0-17-amd64'] }), base({ releases: ['6.1.0-18-amd64'] })]);
  });

  test('-i starts one server per installed release with the earlier -I applied to each', () => {
    assert.deepEqual(
      specs(['-I', '/t', '-i']).map((spec) => [spec.releases, spec.includes]),
      [
        [['6.1.0-17-amd64'], ['/t']],
        [['6.1.0-18-amd64'], ['/t']],
      ],
    );
  });

  test('-i applies the earlier -u, -R, -B and -D to each server', () => {
    const servers = specs(['-u', 'builder', '-R', '/rt', '-B', 'V=1', '-D', 'X', '-i']);
    for (const spec of servers) {
      assert.deepEqual([spec.user, spec.runtime, spec.builds, spec.defines], ['builder', '/rt', ['V=1'], ['X']]);
    }
    assert.equal(servers.length, 2);
  });

  test('-i ignores an earlier -a and -r', () => {
    assert.deepEqual(
      specs(['-a', 'arm', '-r', 'other', '-i']).map((spec) => [spec.arch, spec.releases]),
      [
        ['x86_64', ['6.1.0-17-amd64']],
        ['x86_64', ['6.1.0-18-amd64']],
      ],
    );
  });

  test('a server-naming option after -i starts one more server without the options before -i', () => {
    assert.deepEqual(specs(['-I', '/t', '-i', '-r', 'extra']).at(-1), base({ releases: ['extra'] }));
    assert.equal(specs(['-I', '/t', '-i', '-r', 'extra']).length, 3);
  });

  test('-i with no installed release is an error', () => {
    const error = errorOf(['-i'], { installedReleases: [] });
    assert.equal(error.code, 'NO_LIB_MODULES');
  });

  test('-i given twice starts the servers twice over, each with its own earlier options', () => {
    assert.deepEqual(
      specs(['-i', '-D', 'X', '-i']).map((spec) => spec.defines),
      [[], [], ['X'], ['X']],
    );
  });
});

describe('planServers: -n', () => {
  test('-n with a running nickname names that server and its PID', () => {
    assert.deepEqual(plan(['-n', 'web'], { action: 'stop' }).servers, [{ spec: WEB, origin: 'running', pid: 5151 }]);
  });

  test('-n with a configured nickname names the config with its defaults filled', () => {
    assert.deepEqual(plan(['-n', 'arm']).servers, [
      {
        spec: base({ arch: 'arm', nickname: 'arm', defines: ['CROSS=1'], releases: ['6.1.0-18-amd64'] }),
        origin: 'config',
      },
    ]);
  });

  test('-n prefers a running server to a config with the same nickname', () => {
    assert.equal(plan(['-n', 'web']).servers[0]?.origin, 'running');
  });

  test('-n with an unknown nickname on start names a new server', () => {
    assert.deepEqual(plan(['-a', 'arm', '-n', 'fresh', '-r', '6.1']).servers, [
      { spec: base({ arch: 'arm', nickname: 'fresh', releases: ['6.1'] }), origin: 'new-nickname' },
    ]);
  });

  for (const action of ['restart', 'force-reload', 'condrestart', 'try-restart'] as Action[]) {
    test(`-n with an unknown nickname on ${action} names a new server`, () => {
      assert.equal(plan(['-n', 'fresh'], { action }).servers[0]?.origin, 'new-nickname');
    });
  }

  for (const action of ['stop', 'status'] as Action[]) {
    test(`-n with an unknown nickname on ${action} is reported as unknown`, () => {
      assert.deepEqual(plan(['-n', 'ghost'], { action }).servers, [
        { spec: base({ nickname: 'ghost' }), origin: 'options', unknownNickname: 'ghost' },
      ]);
    });
  }

  test('a server-defining option after -n drops the nickname and the PID', () => {
    assert.deepEqual(plan(['-n', 'web', '-I', '/extra']).servers, [
      { spec: { ...WEB, nickname: '', includes: ['/web', '/extra'] }, origin: 'options' },
    ]);
  });

  test('a distributed option after -n keeps the nickname and overrides the value', () => {
    assert.deepEqual(plan(['-n', 'web', '--port', '6000']).servers, [{ spec: { ...WEB, port: '6000' }, origin: 'running', pid: 5151 }]);
  });

  test('a server found by -n keeps its own port and log when no list item overrides them', () => {
    const [spec] = specs(['-n', 'web', '--ssl', '/ssl']);
    assert.deepEqual([spec?.port, spec?.log, spec?.ssl], ['5000', LOG, '/ssl']);
  });

  test('-n replaces the options given before it', () => {
    assert.deepEqual(specs(['-a', 'arm', '-D', 'X', '-n', 'web']), [WEB]);
  });

  test('-n does not change the running server it was given', () => {
    const ctx = context({ running: [{ pid: 5151, spec: structuredClone(WEB) }] });
    planServers(tokens('-n', 'web', '-I', '/x', '-r', 'y', '--port', '1'), ctx);
    assert.deepEqual(ctx.running[0]?.spec, WEB);
  });
});

describe('planServers: -p', () => {
  test('-p with a managed PID names that server', () => {
    assert.deepEqual(plan(['-p', '4242']).servers, [{ spec: OTHER, origin: 'running', pid: 4242 }]);
  });

  test('-p with a PID no managed server has is an error in the stock words', () => {
    const error = errorOf(['-p', '999']);
    assert.equal(error.code, 'NO_SUCH_PID');
    assert.equal(error.message, 'No stap-server running as pid 999');
  });

  test('-p with a PID inside another PID does not match it', () => {
    assert.equal(errorOf(['-p', '424']).code, 'NO_SUCH_PID');
  });

  test('-p with a value that is not a PID is an error', () => {
    assert.equal(errorOf(['-p', '42x']).code, 'NO_SUCH_PID');
  });

  test('-p does not change the running server it was given', () => {
    const ctx = context({ running: [{ pid: 4242, spec: structuredClone(OTHER) }] });
    planServers(tokens('-p', '4242', '-D', 'X', '--log', '/l'), ctx);
    assert.deepEqual(ctx.running[0]?.spec, OTHER);
  });

  test('a server-defining option after -p makes a new server based on it', () => {
    assert.deepEqual(plan(['-p', '4242', '-a', 'arm']).servers, [{ spec: { ...OTHER, arch: 'arm', nickname: '' }, origin: 'options' }]);
  });
});

describe('planServers: distributed options', () => {
  test('the i-th server gets the i-th item of each list', () => {
    assert.deepEqual(
      specs(['--port', '5001', '--port', '5002', '-i', '--log', '/l1', '--log', '/l2']).map((spec) => [spec.port, spec.log]),
      [
        ['5001', '/l1'],
        ['5002', '/l2'],
      ],
    );
  });

  test('a server past the end of a list gets the default', () => {
    assert.deepEqual(
      specs(['-i', '--port', '5001', '--log', '/l1', '--ssl', '/s', '--max-threads', '2', '--max-request-size', '9', '--max-compressed-request', '8']).map(
        (spec) => [spec.port, spec.log, spec.ssl, spec.maxThreads, spec.maxRequestSize, spec.maxCompressedRequest],
      ),
      [
        ['5001', '/l1', '/s', '2', '9', '8'],
        ['', LOG, '', '', '', ''],
      ],
    );
  });

  test('where a distributed option stands does not matter', () => {
    assert.deepEqual(specs(['--port', '5000', '-r', 'a']), specs(['-r', 'a', '--port', '5000']));
  });

  test('the server after -i gets the list item after those of the -i servers', () => {
    assert.deepEqual(
      specs(['-i', '-r', 'extra', '--port', '1', '--port', '2', '--port', '3']).map((spec) => spec.port),
      ['1', '2', '3'],
    );
  });
});

describe('planServers: values', () => {
  for (const [argv, pattern] of [
    [['--port', '0'], /^--port must be a port number from 1 to 65535, got "0"$/],
    [['--port', '65536'], /--port must be a port number/],
    [['--port', '80a'], /--port must be a port number/],
    [['--max-threads', '-1'], /^--max-threads must be a whole number/],
    [['--max-request-size', '1.5'], /--max-request-size must be a whole number/],
    [['--max-compressed-request', ''], /--max-compressed-request must be a whole number/],
    [['--log', 'log.txt'], /^--log must be an absolute path, got "log.txt"$/],
    [['--ssl', ''], /--ssl must be an absolute path/],
    [['-u', ''], /^-u needs a value/],
    [['-a', ''], /^-a needs a value/],
    [['-n', ''], /^-n needs a value/],
    [['-D', ''], /^-D may not be empty/],
    [['-D', 'A=1\nPORT=1'], /^-D may not contain a line break/],
    [['-u', 'x\ny'], /^-u may not contain a line break/],
  ] as [string[], RegExp][]) {
    test(`${JSON.stringify(argv.join(' '))} is a usage error naming the option`, () => {
      const error = errorOf(argv);
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, pattern);
    });
  }

  test('every bad option is reported and no server is planned', () => {
    const result = plan(['-r', 'ok', '--port', '0', '-p', '1', '-u', '']);
    assert.deepEqual(
      result.errors.map((error) => error.code),
      ['USAGE', 'NO_SUCH_PID', 'USAGE'],
    );
    assert.deepEqual(result.servers, []);
    assert.equal(result.explicit, true);
  });
});

describe('configuredServers', () => {
  test('fills the stock defaults into each conf.d config, in order, keeping nicknames', () => {
    assert.deepEqual(configuredServers(context()), [
      { spec: base({ arch: 'arm', nickname: 'arm', defines: ['CROSS=1'], releases: ['6.1.0-18-amd64'] }), origin: 'config' },
      { spec: base({ arch: 'ppc', nickname: 'web', releases: ['6.1.0-18-amd64'] }), origin: 'config' },
    ]);
  });

  test('keeps the values a config sets', () => {
    const set = config('/c/full.conf', { arch: 's390x', releases: ['r1', 'r2'], user: 'u', log: '/l', port: '7000' });
    assert.deepEqual(configuredServers(context({ configs: [set] }))[0]?.spec, {
      ...emptySpec(),
      arch: 's390x',
      releases: ['r1', 'r2'],
      user: 'u',
      log: '/l',
      port: '7000',
    });
  });

  test('uses STAP_USER and LOG_FILE for configs without USER and LOG', () => {
    const [server] = configuredServers(context({ configs: [config('/c/a.conf', {})], defaultUser: 'builder', defaultLog: '/srv/log' }));
    assert.deepEqual([server?.spec.user, server?.spec.log], ['builder', '/srv/log']);
  });

  test('does not change the configs it was given', () => {
    const ctx = context();
    configuredServers(ctx)[0]?.spec.releases.push('x');
    assert.deepEqual(ctx.configs[0]?.spec.releases, []);
  });

  test('is empty when nothing is configured', () => {
    assert.deepEqual(configuredServers(context({ configs: [] })), []);
  });
});

describe('defaultServer', () => {
  test('is the host arch with no release, the default user and log', () => {
    assert.deepEqual(defaultServer(context()), { spec: base(), origin: 'options' });
  });

  test('takes the first item of each distributed option', () => {
    const server = defaultServer(context(), tokens('--port', '5000', '--port', '5001', '--log', '/l', '--max-threads', '3'));
    assert.deepEqual(server.spec, base({ port: '5000', log: '/l', maxThreads: '3' }));
  });
});
