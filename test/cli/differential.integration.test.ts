/**
 * Differential tests: the stock /usr/bin/stap-server (systemtap 4.8) and stapctl run the same
 * scenario, each in its own farm host (same paths, separate state), against real stap-serverd.
 * Where stapctl claims to match, stdout, exit codes, status files and the service log must be
 * equal once PIDs and dates are normalised; each deliberate difference is a test of its own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { startFarm, type ExecResult, type Farm, type FarmHost } from '../fleet/farm.js';
import {
  CONF_D,
  STAT_PATH,
  cmdline,
  normaliseLogDates,
  observe,
  PidNormaliser,
  requireBuiltCli,
  resetHost,
  runTool,
  serverPids,
  sh,
  statusFiles,
  type Observation,
  type Tool,
} from './differential-harness.js';

describe('the differential normaliser', () => {
  test('equal outputs whose PIDs play the same roles normalise to the same text', () => {
    const a = new PidNormaliser().text('stap-server -a "x" -n "41" --log "l" running as PID 41\n');
    const b = new PidNormaliser().text('stap-server -a "x" -n "977" --log "l" running as PID 977\n');
    assert.equal(a, b);
  });

  test('outputs that differ in anything but PIDs and dates stay different', () => {
    const pairs: [string, string][] = [
      ['Starting stap-server -a "x86_64" -r "1"\nOK\n', 'Starting stap-server -a "x86_64" -r "2"\nOK\n'],
      ['Starting stap-server -a "x86_64"\nOK\n', 'Starting stap-server -a "x86_64"\nFAILED\n'],
      ['No managed stap-server is running\nOK\n', 'No managed stap-server is runningOK\n'],
      ['stap-server -n "nick" running as PID 5', 'stap-server -n "5" running as PID 5'],
      ['--port "4000"', '--port "4001"'],
      // Two servers against one server listed twice: the PIDs play different roles.
      ['running as PID 10\nrunning as PID 11\n', 'running as PID 10\nrunning as PID 10\n'],
      ['NICKNAME=12\n', 'NICKNAME=12\n\n'],
    ];
    for (const [a, b] of pairs) assert.notEqual(new PidNormaliser().text(a), new PidNormaliser().text(b), `${a} vs ${b}`);
  });

  test('status file names and NICKNAME lines are normalised, other numbers are not', () => {
    const normaliser = new PidNormaliser([300]);
    assert.deepEqual(
      normaliser.files(new Map([['300.stat', 'NICKNAME=300\nPORT=300\nMAXTHREADS=2\n']])),
      [['<pid1>.stat', 'NICKNAME=<pid1>\nPORT=300\nMAXTHREADS=2\n']],
    );
  });

  test('only the date of a service log line is normalised', () => {
    assert.deepEqual(normaliseLogDates(['Nov 9 08:01:02: Pass: a', 'Nov 29 18:12:41: Error: b', 'Sun Nov 29 18:13:23 2026: c']), [
      '<date>: Pass: a',
      '<date>: Error: b',
      'Sun Nov 29 18:13:23 2026: c',
    ]);
  });

  test('a log date padded with two spaces is not the stock shape and is left as it is', () => {
    // The stock log() echoes `date +"%b %e %T"` unquoted: the shell collapses "Nov  9" to "Nov 9".
    assert.deepEqual(normaliseLogDates(['Nov  9 08:01:02: Pass: a']), ['Nov  9 08:01:02: Pass: a']);
  });
});

const RELEASE = '6.1.0-diff-a';
const RELEASE2 = '6.1.0-diff-b';
const LOG = '/var/log/stap-server/log';

describe('stock stap-server and stapctl side by side (integration, real stap-serverd in a namespace farm)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-differential-'));
  let farm: Farm;
  let h1: FarmHost;
  let h2: FarmHost;
  let arch: string;

  before(async () => {
    requireBuiltCli();
    // Addresses of their own, so that this farm can run beside the other test farms.
    farm = await startFarm({ dir, hosts: 2, firstAddress: '127.0.9.1' });
    [h1, h2] = farm.hosts as [FarmHost, FarmHost];
    const machine = (await sh(farm, h1, 'uname -m')).stdout.trim();
    arch = machine === 'aarch64' ? 'arm64' : machine;
  });

  afterEach(async () => {
    await Promise.all([resetHost(farm, h1), resetHost(farm, h2)]);
  });

  after(async () => {
    await farm?.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const hostOf = (tool: Tool) => (tool === 'stock' ? h1 : h2);
  const run = (tool: Tool, ...args: string[]) => runTool(farm, hostOf(tool), tool, args);
  const writeConf = (tool: Tool, name: string, text: string) => sh(farm, hostOf(tool), `printf '%s' '${text}' > ${CONF_D}/${name}`);
  const options = (extra = '', release = RELEASE) => `-a "${arch}" -r "${release}" -u "stap-server"${extra} --log "${LOG}"`;

  type Scenario = (tool: Tool) => Promise<ExecResult[]>;

  /** The scenario with each tool in its own host, at once; what each observed afterwards. */
  async function sideBySide(scenario: Scenario): Promise<{ stock: Observation; stapctl: Observation }> {
    const [stock, stapctl] = await Promise.all((['stock', 'stapctl'] as const).map(async (tool) => {
      const runs = await scenario(tool);
      return observe(farm, hostOf(tool), runs);
    }));
    return { stock: stock!, stapctl: stapctl! };
  }

  /** One tool after the other, for scenarios that use a fixed TCP port (the hosts share the network). */
  async function oneAfterTheOther(scenario: Scenario): Promise<{ stock: Observation; stapctl: Observation }> {
    const observations: Observation[] = [];
    for (const tool of ['stock', 'stapctl'] as const) {
      const runs = await scenario(tool);
      observations.push(await observe(farm, hostOf(tool), runs));
      await resetHost(farm, hostOf(tool));
    }
    return { stock: observations[0]!, stapctl: observations[1]! };
  }

  async function assertSame(scenario: Scenario, expectedServers: number, sequential = false): Promise<Observation> {
    const { stock, stapctl } = await (sequential ? oneAfterTheOther : sideBySide)(scenario);
    assert.deepEqual(stapctl.runs, stock.runs, 'stdout and exit codes');
    assert.deepEqual(stapctl.statusFiles, stock.statusFiles, 'status files');
    assert.deepEqual(stapctl.log, stock.log, 'service log lines');
    assert.equal(stock.servers, expectedServers, 'stap-serverd processes of the stock script');
    assert.equal(stapctl.servers, expectedServers, 'stap-serverd processes of stapctl');
    return stapctl;
  }

  // ---- where stapctl matches the stock script -------------------------------------------

  test('start -r R prints, exits, records and logs as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE)], 1);
    assert.deepEqual(seen.runs, [{ code: 0, stdout: `Starting stap-server ${options()}\nOK\n` }]);
    assert.deepEqual(seen.statusFiles, [
      [
        '<pid1>.stat',
        `ARCH=${arch}\nUSER=stap-server\nNICKNAME=<pid1>\nRUNTIME=\nRELEASE+=${RELEASE}\nLOG=${LOG}\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`,
      ],
    ]);
    assert.deepEqual(seen.log, [
      `<date>: Starting stap-server ${options()}`,
      `<date>: Pass: stap-server start ${options(' -n "<pid1>"')}`,
    ]);
  });

  test('status with one server running lists it as the stock script does', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE), await run(tool, 'status')], 1);
    assert.deepEqual(seen.runs[1], { code: 0, stdout: `stap-server ${options(' -n "<pid1>"')} running as PID <pid1>\n` });
  });

  test('status with no server running says so and exits 3 as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'status')], 0);
    assert.deepEqual(seen.runs, [{ code: 3, stdout: 'No managed stap-server is running\n' }]);
  });

  test('a second start of a running server says OK and starts no second server', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE), await run(tool, 'start', '-r', RELEASE)], 1);
    assert.deepEqual(seen.runs[1], { code: 0, stdout: `Starting stap-server ${options()}\nOK\n` });
    assert.equal(seen.statusFiles.length, 1);
  });

  test('stop stops every managed server as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE), await run(tool, 'stop')], 0);
    assert.deepEqual(seen.runs[1], { code: 0, stdout: `Stopping stap-server ${options(' -n "<pid1>"')}\nOK\n` });
    assert.deepEqual(seen.statusFiles, []);
  });

  test('stop with no server running prints the stock script\'s one line', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'stop')], 0);
    assert.deepEqual(seen.runs, [{ code: 0, stdout: 'Stopping stap-server: OK\n' }]);
  });

  test('restart with one server running stops it and starts it again as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE), await run(tool, 'restart')], 1);
    assert.deepEqual(seen.runs[1], {
      code: 0,
      stdout: `Stopping stap-server ${options(' -n "<pid2>"')}\nOK\nStarting stap-server ${options()}\nOK\n`,
    });
  });

  for (const action of ['condrestart', 'try-restart']) {
    test(`${action} with one server running restarts it as the stock script`, async () => {
      const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE), await run(tool, action)], 1);
      assert.match(seen.runs[1]!.stdout, /^Stopping stap-server .*\nOK\nStarting stap-server .*\nOK\n$/);
      assert.equal(seen.runs[1]!.code, 0);
    });
  }

  test('force-reload stops every server and starts the conf.d config as the stock script', async () => {
    const seen = await assertSame(async (tool) => {
      const first = await run(tool, 'start', '-r', RELEASE);
      await writeConf(tool, 'diff.conf', `RELEASE=${RELEASE2}\n`);
      return [first, await run(tool, 'force-reload')];
    }, 1);
    assert.equal(seen.runs[1]!.code, 0);
    assert.match(seen.runs[1]!.stdout, new RegExp(`^Stopping stap-server .*-r "${RELEASE}".*\\nOK\\nStarting stap-server .*-r "${RELEASE2}".*\\nOK\\n$`));
  });

  test('start with no options starts the one conf.d config (without NICKNAME) as the stock script', async () => {
    const seen = await assertSame(async (tool) => {
      await writeConf(tool, 'diff.conf', `RELEASE=${RELEASE2}\nDEFINE+=FROM_CONF=1\n`);
      return [await run(tool, 'start'), await run(tool, 'status')];
    }, 1);
    assert.equal(seen.runs[0]!.stdout, `Starting stap-server -a "${arch}" -r "${RELEASE2}" -D "FROM_CONF=1" -u "stap-server" --log "${LOG}"\nOK\n`);
  });

  test('start -r R1 -r R2 starts one server for both releases as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-r', RELEASE, '-r', RELEASE2), await run(tool, 'status')], 1);
    assert.match(seen.runs[0]!.stdout, new RegExp(`-r "${RELEASE}" -r "${RELEASE2}"`));
  });

  test('start with -I -B -D -R -u -a prints and records them as the stock script', async () => {
    const args = ['start', '-a', 'arm64', '-r', RELEASE, '-I', '/opt/tapsets', '-B', 'V=1', '-D', 'LIMIT=10', '-D', 'DEBUG', '-R', '/usr/share/systemtap/runtime', '-u', 'stap-server'];
    const seen = await assertSame(async (tool) => [await run(tool, ...args), await run(tool, 'status')], 1);
    assert.equal(
      seen.runs[0]!.stdout,
      `Starting stap-server -a "arm64" -r "${RELEASE}" -R "/usr/share/systemtap/runtime" -D "LIMIT=10" -D "DEBUG" -I "/opt/tapsets" -B "V=1" -u "stap-server" --log "${LOG}"\nOK\n`,
    );
    assert.match(seen.statusFiles[0]![1], /^ARCH=arm64\nUSER=stap-server\nBUILD\+=V=1\nINCLUDE\+=\/opt\/tapsets\nDEFINE\+=LIMIT=10\nDEFINE\+=DEBUG\n/);
  });

  test('the distributed options --port --log --ssl --max-* apply to the server as in the stock script', async () => {
    const port = String(await freePort());
    const args = [
      'start', '-r', RELEASE, '--port', port, '--log', '/var/log/stap-server/diff.log', '--ssl', '/var/lib/stap-server/.systemtap/ssl/server',
      '--max-threads', '2', '--max-request-size', '60000', '--max-compressed-request', '6000',
    ];
    const seen = await assertSame(async (tool) => [await run(tool, ...args), await run(tool, 'status')], 1, true);
    assert.equal(
      seen.runs[1]!.stdout,
      `stap-server -a "${arch}" -r "${RELEASE}" -u "stap-server" -n "<pid1>" --log "/var/log/stap-server/diff.log" --port "${port}" ` +
        '--ssl "/var/lib/stap-server/.systemtap/ssl/server" --max-threads "2" --max-request-size "60000" --max-compressed-request "6000" running as PID <pid1>\n',
    );
  });

  test('start -n NEWNICK -r R starts a server under that nickname as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'start', '-n', 'newnick', '-r', RELEASE), await run(tool, 'status')], 1);
    assert.equal(seen.runs[0]!.stdout, `Starting stap-server ${options(' -n "newnick"')}\nOK\n`);
    assert.match(seen.statusFiles[0]![1], /^NICKNAME=newnick$/m);
  });

  test('status -n NICK reports that server as the stock script', async () => {
    const seen = await assertSame(async (tool) => [
      await run(tool, 'start', '-n', 'nick', '-r', RELEASE),
      await run(tool, 'start', '-r', RELEASE2),
      await run(tool, 'status', '-n', 'nick'),
    ], 2);
    assert.match(seen.runs[2]!.stdout, new RegExp(`^stap-server .*-r "${RELEASE}".* -n "nick" .*running as PID <pid\\d>\\n$`));
  });

  test('stop -p PID stops that server only, as the stock script', async () => {
    const seen = await assertSame(async (tool) => {
      const started = [await run(tool, 'start', '-r', RELEASE), await run(tool, 'start', '-r', RELEASE2)];
      const [first] = await serverPids(farm, hostOf(tool));
      return [...started, await run(tool, 'stop', '-p', String(first))];
    }, 1);
    assert.match(seen.runs[2]!.stdout, new RegExp(`^Stopping stap-server .*-r "${RELEASE}".*\\nOK\\n$`));
  });

  for (const action of ['status', 'stop', 'start']) {
    test(`${action} -p PID of no managed server prints the stock line on stdout and exits 1, as the stock script`, async () => {
      const seen = await assertSame(async (tool) => [await run(tool, action, '-p', '99999')], 0);
      assert.deepEqual(seen.runs, [{ code: 1, stdout: 'No stap-server running as pid <pid1>\n' }]);
    });
  }

  test('restart -n NICK that no server has fails its stop, then starts a server under NICK, as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'restart', '-n', 'ghost', '-r', RELEASE)], 1);
    assert.deepEqual(seen.runs, [
      { code: 1, stdout: `No configuration found for the nickname 'ghost'\nFAILED\nStarting stap-server ${options(' -n "ghost"')}\nOK\n` },
    ]);
    assert.match(seen.statusFiles[0]?.[1] ?? '', /^NICKNAME=ghost$/m);
  });

  test('reload exits 3 and prints one empty line, as the stock script', async () => {
    const seen = await assertSame(async (tool) => [await run(tool, 'reload')], 0);
    assert.deepEqual(seen.runs, [{ code: 3, stdout: '\n' }]);
  });

  // ---- each tool manages the other's servers --------------------------------------------

  for (const [starter, manager] of [['stock', 'stapctl'], ['stapctl', 'stock']] as const) {
    test(`a server started by ${starter} is listed and stopped by ${manager} in the same host`, async () => {
      const both = (tool: Tool, ...args: string[]) => runTool(farm, h1, tool, args);
      const started = await both(starter, 'start', '-r', RELEASE);
      assert.equal(started.code, 0);
      const [pid] = await serverPids(farm, h1);
      assert.ok(pid !== undefined, 'a stap-serverd runs');
      const expected = `stap-server ${options(` -n "${pid}"`)} running as PID ${pid}\n`;
      assert.deepEqual([await both(manager, 'status'), await both(starter, 'status')].map(({ code, stdout }) => ({ code, stdout })), [
        { code: 0, stdout: expected },
        { code: 0, stdout: expected },
      ]);
      const stopped = await both(manager, 'stop');
      assert.deepEqual({ code: stopped.code, stdout: stopped.stdout }, { code: 0, stdout: `Stopping stap-server ${options(` -n "${pid}"`)}\nOK\n` });
      assert.deepEqual(await serverPids(farm, h1), []);
      assert.deepEqual([...(await statusFiles(farm, h1)).keys()], []);
    });
  }

  // ---- where stapctl deliberately does better -------------------------------------------

  test('a server that dies at once is FAILED with its log on stderr and leaves no status file', async () => {
    // stap-serverd exits within ~20 ms when its port is taken. The stock script's one `ps` look
    // decides by timing (OK when it lands while the server still runs); stapctl waits for it to listen.
    const blocker = await listenAnywhere();
    try {
      const port = String((blocker.address() as { port: number }).port);
      const result = await runTool(farm, h2, 'stapctl', ['start', '-r', RELEASE, '--port', port]);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, `Starting stap-server ${options()} --port "${port}"\nFAILED\n`);
      assert.match(result.stderr, /address is in use/i);
      assert.deepEqual([...(await statusFiles(farm, h2)).keys()], []);
      assert.deepEqual(await serverPids(farm, h2), []);
    } finally {
      blocker.close();
    }
  });

  test('stop -n with an unknown nickname exits 1 where the stock script exits 0', async () => {
    const [stock, stapctl] = await Promise.all([run('stock', 'stop', '-n', 'unknown'), run('stapctl', 'stop', '-n', 'unknown')]);
    const expected = "No configuration found for the nickname 'unknown'\nFAILED\n";
    assert.deepEqual({ code: stock.code, stdout: stock.stdout }, { code: 0, stdout: expected });
    assert.deepEqual({ code: stapctl.code, stdout: stapctl.stdout }, { code: 1, stdout: expected });
  });

  test('condrestart with nothing running prints OK on its own line', async () => {
    const [stock, stapctl] = await Promise.all([run('stock', 'condrestart'), run('stapctl', 'condrestart')]);
    assert.deepEqual({ code: stock.code, stdout: stock.stdout }, { code: 0, stdout: 'No managed stap-server is runningOK\n' });
    assert.deepEqual({ code: stapctl.code, stdout: stapctl.stdout }, { code: 0, stdout: 'No managed stap-server is running\nOK\n' });
  });

  test('-i starts one server per release in /lib/modules where the stock script starts one for all', async () => {
    const [stock, stapctl] = await Promise.all([run('stock', 'start', '-i'), run('stapctl', 'start', '-i')]);
    assert.deepEqual({ code: stock.code, stdout: stock.stdout }, {
      code: 0,
      stdout: `Starting stap-server -a "${arch}" -r "6.1.0-h1-a" -r "6.1.0-h1-b" -u "stap-server" --log "${LOG}"\nOK\n`,
    });
    assert.deepEqual({ code: stapctl.code, stdout: stapctl.stdout }, {
      code: 0,
      stdout: `Starting stap-server ${options('', '6.1.0-h2-a')}\nOK\nStarting stap-server ${options('', '6.1.0-h2-b')}\nOK\n`,
    });
    assert.equal((await serverPids(farm, h1)).length, 1);
    const pids = await serverPids(farm, h2);
    assert.equal(pids.length, 2);
    const argvs = await Promise.all(pids.map((pid) => cmdline(farm, h2, pid)));
    assert.deepEqual(argvs.map((argv) => argv.filter((_, index) => argv[index - 1] === '-r')).sort(), [['6.1.0-h2-a'], ['6.1.0-h2-b']]);
  });

  test("-D 'A=$(id)' reaches stap-serverd literally where the stock script runs id as root", async () => {
    const [stock, stapctl] = await Promise.all([run('stock', 'start', '-r', RELEASE, '-D', 'A=$(id)'), run('stapctl', 'start', '-r', RELEASE, '-D', 'A=$(id)')]);
    // The stock script evals its option commands in its own (root) shell before anything starts.
    assert.match(stock.stdout, /^Starting stap-server .* -D "A=uid=0\(root\) gid=0\(root\)[^"]*" -u "stap-server" .*\nOK\n$/);
    assert.equal(stapctl.stdout, `Starting stap-server -a "${arch}" -r "${RELEASE}" -D "A=$(id)" -u "stap-server" --log "${LOG}"\nOK\n`);
    const [stockPid] = await serverPids(farm, h1);
    const [ourPid] = await serverPids(farm, h2);
    const stockArgv = await cmdline(farm, h1, stockPid!);
    const ourArgv = await cmdline(farm, h2, ourPid!);
    assert.match(stockArgv[stockArgv.indexOf('-D') + 1]!, /^A=uid=0\(root\)/);
    assert.equal(ourArgv[ourArgv.indexOf('-D') + 1], 'A=$(id)');
    assert.match((await statusFiles(farm, h2)).get(`${ourPid}.stat`) ?? '', /^DEFINE\+=A=\$\(id\)$/m);
  });

  test('a junk file in the status directory is not a server', async () => {
    await Promise.all([h1, h2].map((host) => sh(farm, host, `echo hello > ${STAT_PATH}/notes.txt`)));
    const [stock, stapctl] = await Promise.all([run('stock', 'status'), run('stapctl', 'status')]);
    assert.deepEqual({ code: stock.code, stdout: stock.stdout }, {
      code: 1,
      stdout: 'stap-server -a "" -u "" --log "" started as PID notes.txt is no longer running\n',
    });
    assert.deepEqual({ code: stapctl.code, stdout: stapctl.stdout }, { code: 3, stdout: 'No managed stap-server is running\n' });
    assert.deepEqual([...(await statusFiles(farm, h2)).keys()], ['notes.txt']);
  });

  test('a bad conf.d line skips that server only and names file:line, where the stock script starts none', async () => {
    for (const tool of ['stock', 'stapctl'] as const) {
      await writeConf(tool, 'a-good.conf', `RELEASE=${RELEASE}\n`);
      await writeConf(tool, 'b-bad.conf', '# a comment\nARCH = ppc\n');
    }
    const [stock, stapctl] = await Promise.all([run('stock', 'start'), run('stapctl', 'start')]);
    assert.deepEqual({ code: stock.code, stdout: stock.stdout }, { code: 1, stdout: '' });
    assert.match(stock.stderr, /Invalid input, "ARCH = ppc", in \/etc\/stap-server\/conf.d\/b-bad.conf/);
    assert.deepEqual(await serverPids(farm, h1), []);

    assert.deepEqual({ code: stapctl.code, stdout: stapctl.stdout }, { code: 1, stdout: `Starting stap-server ${options()}\nOK\n` });
    assert.match(stapctl.stderr, new RegExp(`${CONF_D}/b-bad\\.conf:2\\b`));
    assert.equal((await serverPids(farm, h2)).length, 1);
    assert.equal((await statusFiles(farm, h2)).size, 1);
  });

  for (const args of [['--bogus'], ['-x'], ['-r']]) {
    test(`a bad option (status ${args.join(' ')}) exits 2 as the stock script, with the problem on stderr instead of the usage on stdout`, async () => {
      const [stock, stapctl] = await Promise.all([run('stock', 'status', ...args), run('stapctl', 'status', ...args)]);
      assert.equal(stock.code, 2);
      assert.match(stock.stdout, /^Usage: stap-server \{start\|stop\|/);
      assert.equal(stapctl.code, 2);
      assert.equal(stapctl.stdout, '');
      assert.match(stapctl.stderr, /^stapctl: .*(option|argument).*\n {2}hint: run 'stapctl --help'/);
    });
  }

  test('--port=PORT is --port PORT where the stock script refuses it with its usage', async () => {
    const [stock, stapctl, stapctlSpaced] = await Promise.all([
      run('stock', 'status', '-r', RELEASE, '--port=7778'),
      run('stapctl', 'status', '-r', RELEASE, '--port=7778'),
      run('stapctl', 'status', '-r', RELEASE, '--port', '7778'),
    ]);
    assert.equal(stock.code, 2);
    assert.match(stock.stdout, /^Usage: stap-server /);
    assert.deepEqual(stapctl, stapctlSpaced);
    assert.deepEqual([stapctl.code, stapctl.stdout], [3, `stap-server ${options()} --port "7778" is not running\n`]);
  });

  test('an unknown action exits 2 where the stock script prints its usage and exits 0', async () => {
    const [stock, stapctl] = await Promise.all([run('stock', 'bogus'), run('stapctl', 'bogus')]);
    assert.equal(stock.code, 0);
    assert.match(stock.stdout, /^Usage: stap-server \{start\|stop\|/);
    assert.equal(stapctl.code, 2);
    assert.equal(stapctl.stdout, '');
    assert.match(stapctl.stderr, /unknown action 'bogus'/);
  });

  test('a status file whose PID is a prefix of a running server is a dead server, not a running one', async () => {
    const started = await runTool(farm, h1, 'stapctl', ['start', '-r', RELEASE]);
    assert.equal(started.code, 0);
    const [pid] = await serverPids(farm, h1);
    // The stock script's `ps -e | grep stap-serverd | grep PID` finds PID 611 in server 6116.
    const prefix = Math.floor(pid! / 10);
    assert.ok(prefix > 1, `server PID ${pid} has a prefix`);
    assert.equal((await farm.exec(h1, ['test', '-e', `/proc/${prefix}`])).code, 1, `PID ${prefix} is not a process in ${h1.name}`);
    const fake = `ARCH=${arch}\nUSER=stap-server\nNICKNAME=ghost\nRUNTIME=\nRELEASE+=${RELEASE2}\nLOG=${LOG}\nPORT=\nSSL=\nMAXTHREADS=\nMAXREQSIZE=\nMAXCOMPRESSEDREQ=\n`;
    await sh(farm, h1, `printf '%s' '${fake}' > ${STAT_PATH}/${prefix}.stat`);
    const ghost = `stap-server ${options(' -n "ghost"', RELEASE2)}`;
    const real = `stap-server ${options(` -n "${pid}"`)} running as PID ${pid}`;
    const byName = (lines: string) => lines.split('\n').filter(Boolean).sort();

    const stock = await runTool(farm, h1, 'stock', ['status']);
    assert.equal(stock.code, 0);
    assert.deepEqual(byName(stock.stdout), byName(`${ghost} running as PID ${prefix}\n${real}\n`));

    const stapctl = await runTool(farm, h1, 'stapctl', ['status']);
    assert.equal(stapctl.code, 1);
    assert.deepEqual(byName(stapctl.stdout), byName(`${ghost} started as PID ${prefix} is no longer running\n${real}\n`));
    assert.deepEqual([...(await statusFiles(farm, h1)).keys()], [`${pid}.stat`]);
  });
});

function listenAnywhere(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    // No host: node listens on [::] dual-stack, where stap-serverd wants to listen too.
    server.listen(0, () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const server = await listenAnywhere();
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
