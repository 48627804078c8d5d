import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { reportToJson } from '../../src/cli/service-json.js';
import { renderServiceText } from '../../src/cli/service-text.js';
import type { ActionReport, Step } from '../../src/service/report.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';

const spec = (over: Partial<ServerSpec> = {}): ServerSpec => ({
  ...emptySpec(),
  arch: 'x86_64',
  releases: ['6.1.0'],
  user: 'stap-server',
  log: '/var/log/stap-server/log',
  ...over,
});
const OPTIONS = '-a "x86_64" -r "6.1.0" -u "stap-server" --log "/var/log/stap-server/log"';

const report = (action: ActionReport['action'], steps: Step[], exitCode = 0, warnings: string[] = []): ActionReport => ({ action, steps, exitCode, warnings });

describe('the stock text view', () => {
  test('a -p that names no managed server is the stock line on stdout, and only the hint on stderr', () => {
    const error = { code: 'NO_SUCH_PID' as const, message: 'No stap-server running as pid 99999', hint: "'stapctl status' lists the managed servers" };
    for (const action of ['status', 'stop', 'start'] as const) {
      const rendered = renderServiceText(report(action, [{ kind: 'error', error }], 1));
      assert.deepEqual(rendered, { stdout: 'No stap-server running as pid 99999\n', stderr: "stapctl: hint: 'stapctl status' lists the managed servers\n" });
    }
  });

  test('other errors before acting print nothing on stdout and the error on stderr', () => {
    const error = { code: 'NO_SUCH_RELEASE_TREE' as const, message: 'Missing /k/include/config/kernel.release', hint: 'run make prepare' };
    const rendered = renderServiceText(report('start', [{ kind: 'error', error }], 2));
    assert.deepEqual(rendered, { stdout: '', stderr: 'stapctl: Missing /k/include/config/kernel.release\n  hint: run make prepare\n' });
  });

  test('a start prints the options then OK, and the run ends with a newline', () => {
    const { stdout } = renderServiceText(report('start', [{ kind: 'start', spec: spec(), outcome: 'started', pid: 42, port: 5000 }]));
    assert.equal(stdout, `Starting stap-server ${OPTIONS}\nOK\n`);
  });

  test('two servers are separated by one newline, as the stock echo between servers', () => {
    const step: Step = { kind: 'start', spec: spec(), outcome: 'already-running', pid: 42 };
    const { stdout } = renderServiceText(report('start', [step, { ...step, outcome: 'failed' }], 1));
    assert.equal(stdout, `Starting stap-server ${OPTIONS}\nOK\nStarting stap-server ${OPTIONS}\nFAILED\n`);
  });

  test('status lines carry the nickname and PID of each server', () => {
    const steps: Step[] = [
      { kind: 'status', spec: spec({ nickname: '42' }), outcome: 'running', pid: 42 },
      { kind: 'status', spec: spec({ nickname: 'old' }), outcome: 'dead', pid: 43 },
      { kind: 'status', spec: spec(), outcome: 'not-running' },
    ];
    const { stdout } = renderServiceText(report('status', steps, 1));
    assert.equal(
      stdout,
      [
        `stap-server -a "x86_64" -r "6.1.0" -u "stap-server" -n "42" --log "/var/log/stap-server/log" running as PID 42`,
        `stap-server -a "x86_64" -r "6.1.0" -u "stap-server" -n "old" --log "/var/log/stap-server/log" started as PID 43 is no longer running`,
        `stap-server ${OPTIONS} is not running`,
        '',
      ].join('\n'),
    );
  });

  test('with nothing managed: status, stop and condrestart say so in the stock words', () => {
    assert.equal(renderServiceText(report('status', [{ kind: 'none-running', action: 'status' }], 3)).stdout, 'No managed stap-server is running\n');
    assert.equal(renderServiceText(report('stop', [{ kind: 'none-running', action: 'stop' }])).stdout, 'Stopping stap-server: OK\n');
    assert.equal(renderServiceText(report('condrestart', [{ kind: 'none-running', action: 'condrestart' }])).stdout, 'No managed stap-server is running\nOK\n');
  });

  test('an unknown nickname on stop prints the stock message and FAILED', () => {
    const { stdout } = renderServiceText(report('stop', [{ kind: 'stop', spec: spec({ nickname: 'nope' }), outcome: 'unknown-nickname' }], 1));
    assert.equal(stdout, "No configuration found for the nickname 'nope'\nFAILED\n");
  });

  test('reload prints an empty line, as the stock script', () => {
    assert.equal(renderServiceText(report('reload', [], 3)).stdout, '\n');
  });

  test('errors go to stderr with their place and hint, never to stdout', () => {
    const error = { code: 'CONFIG_SYNTAX' as const, message: 'invalid line "ARCH = ppc"', file: '/etc/stap-server/conf.d/ppc.conf', line: 3, hint: 'write KEY=value' };
    const { stdout, stderr } = renderServiceText(report('start', [{ kind: 'error', error }, { kind: 'start', spec: spec(), outcome: 'started', pid: 7 }], 1));
    assert.equal(stdout, `Starting stap-server ${OPTIONS}\nOK\n`);
    assert.equal(stderr, 'stapctl: /etc/stap-server/conf.d/ppc.conf:3: invalid line "ARCH = ppc"\n  hint: write KEY=value\n');
  });

  test('a failed start shows the last lines of the server log on stderr', () => {
    const error = { code: 'SERVER_START_FAILED' as const, message: 'stap-serverd exited at once', detail: 'boom' };
    const { stderr } = renderServiceText(report('start', [{ kind: 'start', spec: spec(), outcome: 'failed', error, logTail: ['line one', 'line two'] }], 1));
    assert.match(stderr, /stap-serverd exited at once\n/);
    assert.match(stderr, /last lines of the server log:\n {2}line one\n {2}line two\n/);
  });

  test('an OSC 52 clipboard write and cursor moves in the log tail are not passed to the terminal', () => {
    const error = { code: 'SERVER_START_FAILED' as const, message: 'stap-serverd exited at once' };
    const tail = ['\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\u0007clip', '\u001b[2A\u001b[2KOK\u001b[1B\r'];
    const { stdout, stderr } = renderServiceText(report('start', [{ kind: 'start', spec: spec(), outcome: 'failed', error, logTail: tail }], 1));
    assert.equal(stdout, `Starting stap-server ${OPTIONS}\nFAILED\n`);
    assert.match(stderr, /last lines of the server log:\n {2}clip\n {2}OK\n$/);
    assert.ok(!stderr.includes('\u001b'));
  });

  test('a value from a status file cannot put escape sequences on stdout', () => {
    const steps: Step[] = [{ kind: 'status', spec: spec({ nickname: 'n\u001b]0;title\u0007\u202e' }), outcome: 'running', pid: 42 }];
    const { stdout } = renderServiceText(report('status', steps));
    assert.equal(stdout, 'stap-server -a "x86_64" -r "6.1.0" -u "stap-server" -n "n\\u202e" --log "/var/log/stap-server/log" running as PID 42\n');
  });

  test('warnings such as a SIGKILL escalation go to stderr', () => {
    const { stderr } = renderServiceText(report('stop', [], 0, ['killed 42']));
    assert.equal(stderr, 'stapctl: warning: killed 42\n');
  });
});

describe('the JSON view', () => {
  test('each server carries its pid, port, nickname, releases and outcome', () => {
    const json = reportToJson(report('start', [{ kind: 'start', spec: spec(), outcome: 'started', pid: 42, port: 5000 }]));
    assert.equal(json.exitCode, 0);
    assert.equal(json.servers.length, 1);
    assert.deepEqual(
      { ...json.servers[0], options: undefined },
      { step: 'start', outcome: 'started', pid: 42, port: 5000, nickname: '42', arch: 'x86_64', releases: ['6.1.0'], user: 'stap-server', log: '/var/log/stap-server/log', options: undefined },
    );
  });

  test('errors and the none-running message are listed apart from servers', () => {
    const json = reportToJson(report('status', [{ kind: 'none-running', action: 'status' }, { kind: 'error', error: { code: 'STATUS_FILE_INVALID', message: 'bad' } }], 3));
    assert.deepEqual(json.servers, []);
    assert.deepEqual(json.messages, ['No managed stap-server is running']);
    assert.deepEqual(json.errors, [{ code: 'STATUS_FILE_INVALID', message: 'bad' }]);
  });
});
