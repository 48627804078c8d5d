import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { parseArgv, type Command } from '../../src/cli/argv.js';
import { plainAction, plainServiceRequest } from '../../src/cli/plain-action.js';
import { ACTIONS } from '../../src/service/report.js';
import { StapctlError } from '../../src/errors.js';

function service(argv: string[]): Extract<Command, { kind: 'service' }> {
  const command = parseArgv(argv);
  assert.equal(command.kind, 'service');
  return command as Extract<Command, { kind: 'service' }>;
}

function usageError(argv: string[]): StapctlError {
  try {
    parseArgv(argv);
  } catch (error) {
    assert.ok(error instanceof StapctlError);
    assert.equal(error.code, 'USAGE');
    return error;
  }
  assert.fail(`parseArgv(${JSON.stringify(argv)}) did not fail`);
}

describe('the command line', () => {
  test('a command line of one action word is the plain request that the local bundle runs for it', () => {
    for (const action of ACTIONS) {
      assert.equal(plainAction([action]), action);
      assert.deepEqual(parseArgv([action]), { kind: 'service', request: plainServiceRequest(action), json: false }, action);
    }
  });

  test('any other command line is not a plain action, and runs through the CLI bundle', () => {
    for (const argv of [['status', '--json'], ['-H', 'h1', 'status'], ['hosts'], ['agent'], ['completion'], ['--help'], [], ['Status']]) {
      assert.equal(plainAction(argv), undefined, argv.join(' '));
    }
  });

  test('server options become tokens in command-line order', () => {
    const { request } = service(['start', '-r', 'R1', '-I', '/t', '-i', '-u', 'bob', '--port', '5000']);
    assert.deepEqual(request.tokens, [
      { flag: 'r', value: 'R1' },
      { flag: 'I', value: '/t' },
      { flag: 'i' },
      { flag: 'u', value: 'bob' },
      { flag: 'port', value: '5000' },
    ]);
  });

  test('options may come before the action', () => {
    const { request } = service(['-r', 'R1', 'status']);
    assert.equal(request.action, 'status');
    assert.deepEqual(request.tokens, [{ flag: 'r', value: 'R1' }]);
  });

  test('--log=FILE, --port=PORT and combined short flags -kP are accepted (the stock script rejects them)', () => {
    const { request } = service(['start', '--log=/tmp/x.log', '--port=7778', '-kP']);
    assert.deepEqual(request.tokens, [
      { flag: 'log', value: '/tmp/x.log' },
      { flag: 'port', value: '7778' },
    ]);
    assert.equal(request.keepTemp, true);
    assert.equal(request.usePassword, true);
  });

  test('a value that looks like shell is kept verbatim', () => {
    const { request } = service(['start', '-D', 'A=$(id)']);
    assert.deepEqual(request.tokens, [{ flag: 'D', value: 'A=$(id)' }]);
  });

  test('-c names an extra global config file', () => {
    assert.equal(service(['status', '-c', '/etc/other']).request.configFile, '/etc/other');
  });

  test('--root wins over STAPCTL_ROOT, which wins over /', () => {
    const saved = process.env.STAPCTL_ROOT;
    try {
      process.env.STAPCTL_ROOT = '/from-env';
      assert.equal(service(['status']).request.root, '/from-env');
      assert.equal(service(['status', '--root', '/given']).request.root, '/given');
      delete process.env.STAPCTL_ROOT;
      assert.equal(service(['status']).request.root, '/');
    } finally {
      if (saved === undefined) delete process.env.STAPCTL_ROOT;
      else process.env.STAPCTL_ROOT = saved;
    }
  });

  test('an unknown action is a usage error', () => {
    assert.match(usageError(['bogus']).message, /unknown action 'bogus'/);
  });

  test('an unknown option is a usage error that names it', () => {
    assert.match(usageError(['start', '-x']).message, /-x/);
  });

  test('a missing option value is a usage error', () => {
    assert.match(usageError(['start', '-r']).message, /-r/);
  });

  test('no action is a usage error', () => {
    assert.match(usageError([]).message, /action is required/);
  });

  test('--help prints the usage with every initscript option and exits 0', () => {
    const command = parseArgv(['--help']);
    assert.equal(command.kind, 'output');
    if (command.kind !== 'output') return;
    assert.equal(command.exitCode, 0);
    for (const option of ['-c <configfile>', '-a <arch>', '-r <release>', '-u <user>', '-I <path>', '-R <path>', '-B <options>', '-D <name[=value]>', '-i ', '-n <nickname>', '-p <pid>', '-k ', '-P ', '--port <port>', '--log <path>', '--ssl <path>', '--max-threads <threads>', '--max-request-size <size>', '--max-compressed-request <size>']) {
      assert.ok(command.stdout.includes(option), `help lacks ${option}`);
    }
  });

  test('-H selects fleet mode with its defaults', () => {
    const command = parseArgv(['-H', 'build[01-03]', 'start', '-i']);
    assert.equal(command.kind, 'fleet');
    if (command.kind !== 'fleet') return;
    assert.equal(command.action, 'start');
    assert.deepEqual(command.request.tokens, [{ flag: 'i' }]);
    assert.deepEqual(command.fleet, { targets: 'build[01-03]', inventories: [], adHoc: false, verbose: false, gather: false });
  });

  test('--inventory may be given several times, kept in order, as ansible -i', () => {
    const command = parseArgv(['-H', 'web', '--inventory', 'a.ini', '--inventory', 'group_dir', '--adhoc', 'status']);
    assert.equal(command.kind, 'fleet');
    if (command.kind !== 'fleet') return;
    assert.deepEqual([command.fleet.inventories, command.fleet.adHoc], [['a.ini', 'group_dir'], true]);
  });

  test('--transport chooses ssh2 or openssh and refuses anything else', () => {
    const command = parseArgv(['-H', 'web', 'status', '--transport', 'openssh']);
    assert.equal(command.kind === 'fleet' && command.fleet.transport, 'openssh');
    assert.match(usageError(['-H', 'web', 'status', '--transport', 'rsh']).message, /rsh/);
  });

  test('hosts is an action only in fleet mode', () => {
    assert.equal(parseArgv(['-H', 'web', 'hosts']).kind, 'hosts');
    usageError(['hosts']);
  });

  test('fleet options are validated before anything connects', () => {
    assert.match(usageError(['-H', 'h', 'status', '--forks', '0']).message, /--forks/);
    assert.match(usageError(['-H', 'h', 'status', '--timeout', 'soon']).message, /--timeout/);
    assert.match(usageError(['-H', 'h', 'status', '--host-key-check', 'maybe']).message, /maybe/);
  });

  test('in fleet mode a bad option value is a usage error before any host is contacted', () => {
    assert.match(usageError(['-H', 'h', 'start', '--port', '99999']).message, /--port/);
    assert.match(usageError(['-H', 'h', 'start', '-D', 'a\nb']).message, /-D/);
  });

  test('--root is refused in fleet mode, with the inventory variable to use instead', () => {
    assert.match(usageError(['-H', 'h', 'status', '--root', '/x']).message, /stapctl_root/);
  });

  test('agent reads its request from stdin', () => {
    assert.deepEqual(parseArgv(['agent']), { kind: 'agent' });
  });
});

describe('fleet output and rolling options', () => {
  test('--json and --output json are the same view', () => {
    const command = parseArgv(['-H', 'h', 'status', '--output', 'json']);
    assert.equal(command.kind === 'fleet' && command.json, true);
    assert.equal(command.kind === 'fleet' && command.fleet.output, 'json');
  });

  test('--json with another --output is a usage error', () => {
    assert.match(usageError(['-H', 'h', 'status', '--json', '--output', 'lines']).message, /contradict/);
  });

  test('--serial and --max-fail become a rolling plan', () => {
    const command = parseArgv(['-H', 'h', 'restart', '--serial', '1,25%', '--max-fail', '10%']);
    assert.deepEqual(command.kind === 'fleet' && command.fleet.rolling, {
      serial: [{ kind: 'count', value: 1 }, { kind: 'percent', value: 25 }],
      maxFail: { kind: 'percent', value: 10 },
    });
  });

  test('--max-fail without --serial is a usage error', () => {
    assert.match(usageError(['-H', 'h', 'restart', '--max-fail', '1']).message, /--serial/);
  });

  test('a command line of one word means what commander makes of that word after --', () => {
    const outcome = (argv: string[]) => {
      try {
        return parseArgv(argv);
      } catch (error) {
        return error instanceof StapctlError ? { code: error.code, message: error.message } : error;
      }
    };
    const words = fc.oneof(fc.constantFrom('status', 'start', 'stop', 'reload', 'agent', 'hosts', 'apply', 'trust', 'endpoints', 'completion', ''), fc.string());
    fc.assert(
      fc.property(words.filter((word) => !word.startsWith('-') && word !== 'completion'), (word) => {
        assert.deepEqual(outcome([word]), outcome(['--', word]));
      }),
    );
  });

  test('-V prints the version', () => {
    const command = parseArgv(['-V']);
    assert.equal(command.kind, 'output');
    assert.match(command.kind === 'output' ? command.stdout : '', /^\d+\.\d+\.\d+/);
  });
});
