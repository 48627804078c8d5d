import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { hostListSpec, readSpec, specSource } from '../../../src/fleet/targets/host-list.js';
import { failure } from '../../support/expect.js';

const scratch = mkdtempSync(join(tmpdir(), 'stapctl-fleet-ops-host-list-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('host lists', () => {
  test('a list of lines becomes one SPEC, without blank lines and comments', () => {
    assert.equal(hostListSpec('h1\n\n# the web tier\nweb[01-03]  # all of it\n!web02\n', 'f'), 'h1,web[01-03],!web02');
  });

  test('-H @FILE reads the file and -H - reads stdin', () => {
    const file = join(scratch, 'hosts');
    writeFileSync(file, 'h2\nh3\n');
    assert.equal(readSpec(specSource(`@${file}`)), 'h2,h3');
    assert.equal(readSpec(specSource('-'), () => 'h9\n'), 'h9');
  });

  test('any other SPEC is left as it is', () => {
    assert.equal(readSpec(specSource('web,db')), 'web,db');
  });

  test('an empty list is an error, not a run on no hosts', () => {
    failure(() => hostListSpec('# nothing\n\n', 'stdin'), 'NO_HOSTS_MATCHED');
  });

  test('a missing file is an error that names it', () => {
    const file = join(scratch, 'absent');
    const error = failure(() => readSpec(specSource(`@${file}`)), 'HOST_LIST_UNREADABLE');
    assert.equal(error.file, file);
  });
});
