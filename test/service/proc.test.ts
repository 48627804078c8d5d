import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  isServerProcess,
  listeners,
  listeningPorts,
  parseProcNetTcp,
  parseProcStat,
  parseStatusUid,
  readProcess,
  readProcessStat,
  socketInodes,
  type ProcessInfo,
} from '../../src/service/proc.js';
import { localFiles, type HostFiles } from '../../src/service/host-files.js';

const TCP_TABLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 21345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:ADE5 0100007F:0016 01 00000000:00000000 00:00000000 00000000   999        0 21999 1 0000000000000000 20 4 30 10 -1
`;

const TCP6_TABLE = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:ADE5 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 10963 1 00000000fa26ecc3 100 0 0 10 0
`;

const server = (overrides: Partial<ProcessInfo> = {}): ProcessInfo => ({
  pid: 611,
  exe: '/usr/lib/systemtap/stap-serverd',
  comm: 'stap-serverd',
  uid: 999,
  state: 'S',
  startTime: 12345,
  ...overrides,
});

describe('parseProcStat', () => {
  test('reads comm, state and the start time (field 22)', () => {
    const text = '611 (stap-serverd) S 1 611 611 0 -1 4194560 500 0 0 0 1 2 0 0 20 0 3 0 98765 123456789 1000 18446744073709551615';
    assert.deepEqual(parseProcStat(text), { comm: 'stap-serverd', state: 'S', startTime: 98765 });
  });

  test('a comm holding spaces and parentheses is cut at the last parenthesis', () => {
    const text = '42 (a) b (c) Z 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0';
    assert.deepEqual(parseProcStat(text), { comm: 'a) b (c', state: 'Z', startTime: 777 });
  });

  test('text without a comm is not a stat line', () => {
    assert.equal(parseProcStat('garbage'), undefined);
  });
});

describe('parseStatusUid', () => {
  test('takes the real uid of the Uid line', () => {
    assert.equal(parseStatusUid('Name:\tsleep\nUid:\t999\t998\t997\t996\nGid:\t995\t995\t995\t995\n'), 999);
  });
});

describe('isServerProcess', () => {
  test('a stap-serverd of the user that is alive is a server', () => {
    assert.equal(isServerProcess(server(), 999), true);
  });

  test('a stap-serverd of another user is not ours', () => {
    assert.equal(isServerProcess(server({ uid: 0 }), 999), false);
  });

  test('a zombie stap-serverd is not running', () => {
    assert.equal(isServerProcess(server({ state: 'Z' }), 999), false);
  });

  test('another program whose name merely contains the PID digits is not a server', () => {
    assert.equal(isServerProcess(server({ exe: '/usr/bin/sleep', comm: 'sleep' }), 999), false);
  });

  test('a program that only calls itself stap-serverd is not a server when its exe is readable', () => {
    assert.equal(isServerProcess(server({ exe: '/tmp/evil', comm: 'stap-serverd' }), 999), false);
  });

  test('the comm decides when the exe link is unreadable', () => {
    assert.equal(isServerProcess(server({ exe: undefined }), 999), true);
    assert.equal(isServerProcess(server({ exe: undefined, comm: 'bash' }), 999), false);
  });

  test('a server whose binary was replaced by an upgrade is still a server', () => {
    assert.equal(isServerProcess(server({ exe: '/usr/lib/systemtap/stap-serverd (deleted)' }), 999), true);
  });

  test('no process is no server', () => {
    assert.equal(isServerProcess(undefined, 999), false);
  });
});

describe('parseProcNetTcp', () => {
  test('reads the port, state and inode of every IPv4 row', () => {
    assert.deepEqual(parseProcNetTcp(TCP_TABLE), [
      { inode: 21345, port: 22, state: '0A' },
      { inode: 21999, port: 44517, state: '01' },
    ]);
  });

  test('reads IPv6 rows', () => {
    assert.deepEqual(parseProcNetTcp(TCP6_TABLE), [{ inode: 10963, port: 44517, state: '0A' }]);
  });

  test('an empty table has no sockets', () => {
    assert.deepEqual(parseProcNetTcp(''), []);
  });
});

describe('readProcess and listeningPorts on a fake /proc', () => {
  const root = mkdtempSync(join(tmpdir(), 'stapctl-proc-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, '611');
  mkdirSync(join(dir, 'fd'), { recursive: true });
  mkdirSync(join(dir, 'net'));
  writeFileSync(join(dir, 'stat'), '611 (stap-serverd) S 1 611 611 0 -1 4194560 500 0 0 0 1 2 0 0 20 0 3 0 98765 1 1\n');
  writeFileSync(join(dir, 'status'), 'Name:\tstap-serverd\nUid:\t999\t999\t999\t999\n');
  symlinkSync('/usr/lib/systemtap/stap-serverd', join(dir, 'exe'));
  symlinkSync('socket:[10963]', join(dir, 'fd', '3'));
  symlinkSync('socket:[21999]', join(dir, 'fd', '4'));
  symlinkSync('/dev/null', join(dir, 'fd', '0'));
  writeFileSync(join(dir, 'net', 'tcp'), TCP_TABLE);
  writeFileSync(join(dir, 'net', 'tcp6'), TCP6_TABLE);

  test('readProcess gathers stat, status and exe', () => {
    assert.deepEqual(readProcess(611, root), {
      pid: 611,
      exe: '/usr/lib/systemtap/stap-serverd',
      comm: 'stap-serverd',
      uid: 999,
      state: 'S',
      startTime: 98765,
    });
  });

  test('readProcessStat reads the state and the start time from stat alone', () => {
    const read: string[] = [];
    const recording: HostFiles = { ...localFiles, readText: (path) => (read.push(path), localFiles.readText(path)) };
    assert.deepEqual(readProcessStat(611, root, recording), { comm: 'stap-serverd', state: 'S', startTime: 98765 });
    assert.deepEqual(read, [join(dir, 'stat')]);
  });

  test('a PID that is a prefix of a running one does not exist', () => {
    assert.equal(readProcess(61, root), undefined);
  });

  test('only the process own sockets in LISTEN count, not its connections or other processes', () => {
    assert.deepEqual(listeningPorts(611, root), [44517]);
  });

  test('listeners names the socket that listens on each port', () => {
    assert.deepEqual(listeners(611, root), [{ port: 44517, inode: 10963 }]);
  });

  test('socketInodes lists the sockets among the descriptors, listening or not', () => {
    assert.deepEqual([...socketInodes(611, root)].sort(), [10963, 21999]);
  });

  test('tcp is not read when the process listens in tcp6', () => {
    const read: string[] = [];
    const recording: HostFiles = { ...localFiles, readText: (path) => (read.push(path), localFiles.readText(path)) };
    assert.deepEqual(listeningPorts(611, root, recording), [44517]);
    assert.deepEqual(read, [join(dir, 'net', 'tcp6')]);
  });

  test('tcp is read when the process listens on nothing in tcp6', () => {
    const only4 = join(root, '612');
    mkdirSync(join(only4, 'fd'), { recursive: true });
    mkdirSync(join(only4, 'net'));
    symlinkSync('socket:[21345]', join(only4, 'fd', '3'));
    writeFileSync(join(only4, 'net', 'tcp'), TCP_TABLE);
    writeFileSync(join(only4, 'net', 'tcp6'), TCP6_TABLE);
    assert.deepEqual(listeningPorts(612, root), [22]);
  });
});

describe('readProcess and listeningPorts on the real /proc', () => {
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  after(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const listener of servers) listener.close();
  });

  test('a sleep child is seen with its executable, our uid and a live state', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    const info = readProcess(child.pid ?? -1);
    assert.equal(info?.exe, '/usr/bin/sleep');
    assert.equal(info?.comm, 'sleep');
    assert.equal(info?.uid, process.getuid?.());
    assert.notEqual(info?.state, 'Z');
    assert.equal(isServerProcess(info, info?.uid ?? -1), false);
  });

  test('a port this process listens on is found, and a child without sockets has none', async () => {
    const listener = createServer();
    servers.push(listener);
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const address = listener.address();
    assert.ok(address !== null && typeof address === 'object');
    assert.ok(listeningPorts(process.pid).includes(address.port));
    const child = children[0];
    assert.deepEqual(listeningPorts(child?.pid ?? -1), []);
  });
});
