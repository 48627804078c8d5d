import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { StapctlError } from '../../src/errors.js';
import { checkServerUser, homeOf, lookupGroup, lookupUid, lookupUser, parseGroup, parsePasswd, passwdEntryNamed } from '../../src/service/users.js';

const idOf = (...args: string[]) => execFileSync('id', args, { encoding: 'utf8' }).trim();

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof StapctlError ? error.code : `not a StapctlError: ${String(error)}`;
  }
  return undefined;
}

describe('parsePasswd', () => {
  test('reads name, uid, gid, home and shell of each line', () => {
    const text = 'root:x:0:0:root:/root:/bin/bash\nstap-server:x:999:995::/var/lib/stap-server:/bin/bash\n';
    assert.deepEqual(parsePasswd(text), [
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' },
      { name: 'stap-server', uid: 999, gid: 995, home: '/var/lib/stap-server', shell: '/bin/bash' },
    ]);
  });

  test('skips comments, blank lines, NIS compat lines and lines with a non-numeric id', () => {
    const text = '# users\n\n+@netgroup::::::\nbroken:x:abc:1::/:/bin/sh\nok:x:5:6::/home/ok:\n';
    assert.deepEqual(parsePasswd(text), [{ name: 'ok', uid: 5, gid: 6, home: '/home/ok', shell: '' }]);
  });
});

describe('passwdEntryNamed', () => {
  test('finds what parsePasswd finds first under that name, whatever the text holds', () => {
    const field = fc.constantFrom('', 'x', 'ab', 'a:b', '7', '12', '-3', '+u', '#u', 'u ', ' u', 'u\r', 'u', 'v');
    const line = fc.array(field, { minLength: 1, maxLength: 8 }).map((fields) => fields.join(':'));
    const text = fc.array(fc.oneof(line, fc.constantFrom('', '#', '+', 'u:x:1:2::/h:/s', 'u:x:3:4', 'v:x:5:6:g:/v:')), { maxLength: 12 }).map((lines) => lines.join('\n'));
    fc.assert(
      fc.property(text, field, (input, name) => {
        assert.deepEqual(passwdEntryNamed(input, name), parsePasswd(input).find((entry) => entry.name === name));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseGroup', () => {
  test('reads gid and the comma-separated members', () => {
    assert.deepEqual(parseGroup('stap-server:x:995:alice,bob\nempty:x:7:\n'), [
      { name: 'stap-server', gid: 995, members: ['alice', 'bob'] },
      { name: 'empty', gid: 7, members: [] },
    ]);
  });
});

describe('lookupUser and lookupGroup', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-users-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('finds stap-server as id(1) does, with its primary group', () => {
    const user = lookupUser('stap-server');
    assert.equal(user?.uid, Number(idOf('-u', 'stap-server')));
    assert.equal(user?.gid, Number(idOf('-g', 'stap-server')));
    assert.equal(user?.home, '/var/lib/stap-server');
    assert.deepEqual([...(user?.groups ?? [])].sort(), idOf('-G', 'stap-server').split(' ').map(Number).sort());
  });

  test('supplementary groups come from the members of the group file', () => {
    const passwd = join(dir, 'passwd');
    const group = join(dir, 'group');
    writeFileSync(passwd, 'alice:x:1000:1000::/home/alice:/bin/bash\n');
    writeFileSync(group, 'alice:x:1000:\nstap-server:x:995:bob,alice\nother:x:20:bob\n');
    assert.deepEqual(lookupUser('alice', { passwd, group })?.groups, [1000, 995]);
  });

  test('a user missing from the files is found through NSS (getent)', () => {
    const passwd = join(dir, 'passwd-without');
    const group = join(dir, 'group-without');
    writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\n');
    writeFileSync(group, 'root:x:0:\n');
    const user = lookupUser('stap-server', { passwd, group });
    assert.equal(user?.uid, Number(idOf('-u', 'stap-server')));
    assert.ok(user?.groups.includes(Number(idOf('-g', 'stap-server'))));
    assert.equal(lookupGroup('stap-server', { passwd, group })?.gid, Number(idOf('-g', 'stap-server')));
  });

  test('lookupUid finds the uid lookupUser finds, from the files or through NSS, without the group file', () => {
    const passwd = join(dir, 'passwd-uid');
    writeFileSync(passwd, 'alice:x:1000:1000::/home/alice:/bin/bash\n');
    const group = join(dir, 'no-group-file');
    assert.equal(lookupUid('alice', { passwd, group }), 1000);
    assert.equal(lookupUid('stap-server', { passwd, group }), Number(idOf('-u', 'stap-server')));
    assert.equal(lookupUid('no-such-user-stapctl', { passwd, group }), undefined);
  });

  test('an unknown user or group is undefined', () => {
    assert.equal(lookupUser('no-such-user-stapctl'), undefined);
    assert.equal(lookupGroup('no-such-group-stapctl'), undefined);
  });
});

describe('homeOf', () => {
  test('no user means the invoking user HOME', () => {
    assert.equal(homeOf(), process.env.HOME);
  });

  test('a named user means that user home, and an unknown one has none', () => {
    assert.equal(homeOf('stap-server'), '/var/lib/stap-server');
    assert.equal(homeOf('no-such-user-stapctl'), undefined);
  });
});

describe('checkServerUser', () => {
  test('stap-server is accepted and described', () => {
    assert.equal(checkServerUser('stap-server').name, 'stap-server');
  });

  test('an unknown user is NO_SUCH_USER', () => {
    assert.equal(codeOf(() => checkServerUser('no-such-user-stapctl')), 'NO_SUCH_USER');
  });

  test('root is refused before any server starts', () => {
    assert.equal(codeOf(() => checkServerUser('root')), 'ROOT_USER_REFUSED');
  });

  test('a user outside group stap-server is refused with the usermod fix', () => {
    let hint: string | undefined;
    try {
      checkServerUser('nobody');
    } catch (error) {
      assert.ok(error instanceof StapctlError);
      assert.equal(error.code, 'USER_NOT_IN_GROUP');
      hint = error.hint;
    }
    assert.equal(hint, 'usermod -aG stap-server nobody');
  });
});
