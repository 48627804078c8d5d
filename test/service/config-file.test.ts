import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StapctlError } from '../../src/errors.js';
import {
  loadGlobalConfig,
  loadServerConfigs,
  parseGlobalConfig,
  parseServerConfig,
  valueProblem,
  type ConfigContext,
} from '../../src/service/config-file.js';
import { emptySpec, type ServerSpec } from '../../src/service/server-spec.js';

const homes: Record<string, string> = { '': '/root', alice: '/home/alice', 'stap-server': '/var/lib/stap-server' };
const ctx: ConfigContext = { homeOf: (user) => homes[user ?? ''] };
const FILE = '/etc/stap-server/conf.d/test.conf';

function server(text: string): ServerSpec {
  const { config, errors } = parseServerConfig(text, FILE, ctx);
  assert.deepEqual(errors.map((error) => error.located), []);
  assert.ok(config);
  return config.spec;
}

function serverError(text: string): StapctlError {
  const { config, errors } = parseServerConfig(text, FILE, ctx);
  assert.equal(config, undefined);
  assert.equal(errors.length, 1, `expected one error, got ${errors.map((error) => error.located).join('; ')}`);
  return errors[0] as StapctlError;
}

describe('parseServerConfig: values', () => {
  test('reads the file1.conf example of the initscript README', () => {
    assert.deepEqual(server('ARCH=i386\nRELEASE=2.6.18-128.el5\n'), {
      ...emptySpec(),
      arch: 'i386',
      releases: ['2.6.18-128.el5'],
    });
  });

  test('reads the file2.conf example of the initscript README with INCLUDE and BUILD split on blanks', () => {
    const spec = server(
      [
        'USER=serveruser',
        'RELEASE=/kernels/2.6.18-92.1.18.el5/build',
        'INCLUDE="/mytapsets /yourtapsets"',
        "BUILD='VARIABLE1=VALUE1 VARIABLE2=VALUE2'",
        'RUNTIME=/myruntime',
        'NICKNAME=my-server',
      ].join('\n'),
    );
    assert.deepEqual(spec, {
      ...emptySpec(),
      user: 'serveruser',
      releases: ['/kernels/2.6.18-92.1.18.el5/build'],
      includes: ['/mytapsets', '/yourtapsets'],
      builds: ['VARIABLE1=VALUE1', 'VARIABLE2=VALUE2'],
      runtime: '/myruntime',
      nickname: 'my-server',
    });
  });

  test('reads empty values followed by trailing comments as unset, as the examples in section 5.6.1 of the initscript README', () => {
    const spec = server('ARCH=     # default arch\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=native\n');
    assert.deepEqual(spec, { ...emptySpec(), nickname: 'native' });
  });

  test('ignores full-line comments and blank lines', () => {
    assert.equal(server('# a comment\n\n   \n  # indented comment\nARCH=arm\n').arch, 'arm');
  });

  test('keeps # inside a word literal', () => {
    assert.equal(server('NICKNAME=a#b\n').nickname, 'a#b');
  });

  test('strips the quotes of a double-quoted value', () => {
    assert.equal(server('ARCH="arm"\n').arch, 'arm');
  });

  test('keeps everything inside single quotes literal, $ and backslash included', () => {
    assert.deepEqual(server("DEFINE='A=$(id)\\n'\n").defines, ['A=$(id)\\n']);
  });

  test('reads backslash escapes inside double quotes', () => {
    assert.equal(server('NICKNAME="a\\"b\\\\c\\$d\\`e\\x"\n').nickname, 'a"b\\c$d`e\\x');
  });

  test('reads a backslash outside quotes as escaping the next character', () => {
    assert.equal(server('NICKNAME=a\\ b\\#c\n').nickname, 'a b#c');
  });

  test('joins adjacent quoted and unquoted parts into one word', () => {
    assert.equal(server(`NICKNAME=a'b c'"d"e\n`).nickname, 'ab cde');
  });

  test('takes an escaped $ literally, as bash does', () => {
    assert.equal(server('NICKNAME="cost\\$"\n').nickname, 'cost$');
  });

  test('allows blanks before the key and after the value', () => {
    assert.equal(server('  ARCH=arm  \n').arch, 'arm');
  });

  test('lets a later assignment of a scalar win', () => {
    assert.equal(server('ARCH=arm\nARCH=ppc\n').arch, 'ppc');
  });

  test('accepts valid PORT and MAX settings', () => {
    const spec = server('PORT=5000\nMAXTHREADS=0\nMAXREQSIZE=100000\nMAXCOMPRESSEDREQ=7000\nLOG=/tmp/l\nSSL=/etc/ssl/s\n');
    assert.deepEqual(
      [spec.port, spec.maxThreads, spec.maxRequestSize, spec.maxCompressedRequest, spec.log, spec.ssl],
      ['5000', '0', '100000', '7000', '/tmp/l', '/etc/ssl/s'],
    );
  });

  test('reads a file without a final newline', () => {
    assert.equal(server('ARCH=arm').arch, 'arm');
  });
});

describe('parseServerConfig: lists', () => {
  test('reads the array form as one item per word', () => {
    assert.deepEqual(server('RELEASE=(6.1.0-1 "6.1.0-2" \'6.1 3\')\n').releases, ['6.1.0-1', '6.1.0-2', '6.1 3']);
  });

  test('appends with += in both forms', () => {
    assert.deepEqual(server('DEFINE=A\nDEFINE+=B\nDEFINE+=(C D)\n').defines, ['A', 'B', 'C', 'D']);
  });

  test('40000 += lines give 40000 items in order', () => {
    const lines = Array.from({ length: 40_000 }, (_, index) => `DEFINE+=D${index}`).join('\n');
    const began = performance.now();
    const defines = server(`${lines}\n`).defines;
    assert.equal(defines.length, 40_000);
    assert.equal(defines[39_999], 'D39999');
    // Generous: the quadratic reader took 13 s on this input; the linear one takes milliseconds.
    assert.ok(performance.now() - began < 4000, `took ${performance.now() - began} ms`);
  });

  test('resets a list with = after earlier items', () => {
    assert.deepEqual(server('RELEASE=a\nRELEASE+=b\nRELEASE=c\n').releases, ['c']);
  });

  test('empties a list with KEY= and KEY=()', () => {
    assert.deepEqual(server('RELEASE=a\nRELEASE=\nDEFINE=X\nDEFINE=()\n'), emptySpec());
  });

  test('does not split RELEASE and DEFINE values on blanks', () => {
    const spec = server('DEFINE="A=1 2"\n');
    assert.deepEqual(spec.defines, ['A=1 2']);
  });

  test('splits INCLUDE += values on blanks too', () => {
    assert.deepEqual(server('INCLUDE=/a\nINCLUDE+="/b /c"\n').includes, ['/a', '/b', '/c']);
  });

  test('keeps an array item of INCLUDE whole even with a blank in it', () => {
    assert.deepEqual(server('INCLUDE=("/my tapsets" /b)\n').includes, ['/my tapsets', '/b']);
  });

  test('allows a trailing comment after an array', () => {
    assert.deepEqual(server('BUILD=(V=1 W=2) # make options\n').builds, ['V=1', 'W=2']);
  });

  test('refuses an empty item in an array', () => {
    const error = serverError('DEFINE=(A "")\n');
    assert.equal(error.code, 'CONFIG_SYNTAX');
    assert.match(error.message, /an item of DEFINE may not be empty/);
  });

  test('refuses an unquoted glob character in an array', () => {
    assert.equal(serverError('INCLUDE=(/tapsets/*)\n').code, 'CONFIG_SYNTAX');
  });

  test('refuses an array that is not closed on its line', () => {
    const error = serverError('RELEASE=(a b\n');
    assert.match(error.message, /missing "\)"/);
  });

  test('refuses text right after the closing parenthesis', () => {
    assert.equal(serverError('RELEASE=(a)b\n').code, 'CONFIG_SYNTAX');
  });
});

describe('parseServerConfig: tilde expansion', () => {
  test('expands ~ at the start of a value to the invoking user home', () => {
    assert.equal(server('RUNTIME=~/runtime\n').runtime, '/root/runtime');
  });

  test('expands ~user at the start of a value', () => {
    assert.deepEqual(server('INCLUDE=~alice/tapsets\n').includes, ['/home/alice/tapsets']);
  });

  test('expands ~user at the start of each array item', () => {
    assert.deepEqual(server('INCLUDE=(~alice/a ~stap-server)\n').includes, ['/home/alice/a', '/var/lib/stap-server']);
  });

  test('does not expand a tilde inside a word or in quotes', () => {
    const spec = server('RUNTIME=a~alice\nNICKNAME="~alice"\n');
    assert.equal(spec.runtime, 'a~alice');
    assert.equal(spec.nickname, '~alice');
  });

  test('refuses ~user for a user that does not exist', () => {
    const error = serverError('RUNTIME=~nobody-here/x\n');
    assert.equal(error.code, 'CONFIG_SYNTAX');
    assert.match(error.message, /no user "nobody-here"/);
  });
});

describe('parseServerConfig: refused forms', () => {
  test('names file, line and the line itself for blanks around =', () => {
    const { errors } = parseServerConfig('ARCH=x86_64\n\nARCH = ppc\n', '/etc/stap-server/conf.d/ppc.conf', ctx);
    assert.equal(errors.length, 1);
    const error = errors[0] as StapctlError;
    assert.equal(error.code, 'CONFIG_SYNTAX');
    assert.equal(error.located, '/etc/stap-server/conf.d/ppc.conf:3: invalid line "ARCH = ppc"');
    assert.equal(error.file, '/etc/stap-server/conf.d/ppc.conf');
    assert.equal(error.line, 3);
    assert.match(error.hint ?? '', /no blanks around "="/);
  });

  test('refuses command substitution with $( as unsafe', () => {
    const error = serverError('DEFINE="A=$(id)"\n');
    assert.equal(error.code, 'CONFIG_UNSAFE');
    assert.match(error.message, /would run a command/);
  });

  test('refuses backticks as unsafe', () => {
    assert.equal(serverError('ARCH=`uname -m`\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses backticks inside double quotes as unsafe', () => {
    assert.equal(serverError('ARCH="`uname -m`"\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses $VAR outside single quotes as unsafe', () => {
    assert.equal(serverError('RUNTIME=$HOME/runtime\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses ${VAR} inside double quotes as unsafe', () => {
    assert.equal(serverError('RUNTIME="${HOME}/runtime"\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses $( inside an array item as unsafe', () => {
    assert.equal(serverError('DEFINE=(A $(id))\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses a lone $ outside single quotes as unsafe', () => {
    assert.equal(serverError('NICKNAME=cost$\n').code, 'CONFIG_UNSAFE');
  });

  test('refuses $[...] arithmetic, whose array subscripts bash would run, as unsafe', () => {
    const error = serverError('ARCH=$[a[$(id)]]\n');
    assert.equal(error.code, 'CONFIG_UNSAFE');
    assert.match(error.message, /"\$\[" would evaluate arithmetic/);
  });

  test('refuses $[...] inside double quotes as unsafe', () => {
    assert.equal(serverError('ARCH="$[1+1]"\n').code, 'CONFIG_UNSAFE');
  });

  test("refuses ANSI-C quoting $'...' as unsafe", () => {
    assert.equal(serverError("ARCH=$'\\x41'\n").code, 'CONFIG_UNSAFE');
  });

  test('refuses a NUL byte with its line and column', () => {
    const error = serverError('ARCH=x86_64\nDEFINE=a\u0000b\n');
    assert.equal(error.code, 'CONFIG_SYNTAX');
    assert.equal(error.line, 2);
    assert.match(error.message, /control character U\+0000 at column 9/);
  });

  test('refuses an escape character inside quotes', () => {
    assert.match(serverError("NICKNAME='a\u001b]0;x\u0007'\n").message, /control character U\+001b/);
  });

  test('keeps a tab between words', () => {
    assert.deepEqual(server('INCLUDE=/a\t\t\n').includes, ['/a']);
  });

  test('refuses an unknown setting and names it', () => {
    const error = serverError('COLOUR=blue\n');
    assert.equal(error.code, 'CONFIG_SYNTAX');
    assert.equal(error.message, 'invalid line "COLOUR=blue": unknown setting COLOUR');
  });

  test('refuses a global setting in a server config', () => {
    assert.equal(serverError('STAT_PATH=/run\n').code, 'CONFIG_SYNTAX');
  });

  test('refuses a line without =', () => {
    assert.equal(serverError('ARCH\n').code, 'CONFIG_SYNTAX');
  });

  test('refuses an unterminated double quote: values may not span lines', () => {
    const error = serverError('NICKNAME="abc\n');
    assert.match(error.message, /unterminated double quote/);
  });

  test('refuses an unterminated single quote', () => {
    assert.match(serverError("NICKNAME='abc\n").message, /unterminated single quote/);
  });

  test('refuses a line ending in a backslash', () => {
    assert.match(serverError('NICKNAME=abc\\\n').message, /ends in a backslash/);
  });

  test('refuses an unquoted blank inside a value', () => {
    const error = serverError('ARCH=x86 64\n');
    assert.match(error.message, /unquoted blank/);
    assert.match(error.hint ?? '', /ARCH="a b"/);
  });

  test('refuses shell operators such as ;', () => {
    assert.equal(serverError('ARCH=x;reboot\n').code, 'CONFIG_SYNTAX');
  });

  test('refuses a list for a scalar setting', () => {
    assert.match(serverError('ARCH=(arm ppc)\n').message, /ARCH takes one value, not a list/);
  });

  test('refuses += for a scalar setting', () => {
    assert.match(serverError('ARCH+=64\n').message, /ARCH is not a list/);
  });

  test('refuses a PORT out of range', () => {
    assert.match(serverError('PORT=70000\n').message, /PORT must be a port number from 1 to 65535, got "70000"/);
  });

  test('refuses a non-numeric MAXTHREADS', () => {
    assert.equal(serverError('MAXTHREADS=four\n').code, 'CONFIG_SYNTAX');
  });

  test('refuses a relative LOG path', () => {
    assert.match(serverError('LOG=log.txt\n').message, /LOG must be an absolute path/);
  });

  test('refuses DOS line endings with a hint', () => {
    const error = serverError('ARCH=arm\r\n');
    assert.match(error.hint ?? '', /dos2unix/);
  });

  test('reports every bad line of a file and gives no config', () => {
    const { config, errors } = parseServerConfig('ARCH = a\nUSER=ok\nPORT=x\nFOO=1\n', FILE, ctx);
    assert.equal(config, undefined);
    assert.deepEqual(
      errors.map((error) => error.line),
      [1, 3, 4],
    );
  });
});

describe('parseGlobalConfig', () => {
  test('reads the initscript README example with ~user expanded', () => {
    const { config, errors } = parseGlobalConfig(
      'CONFIG_PATH=~alice/my-stap-server-configs\nLOG_FILE=/tmp/stap-server/log\n',
      '/etc/sysconfig/stap-server',
      ctx,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(config, { configPath: '/home/alice/my-stap-server-configs', logFile: '/tmp/stap-server/log' });
  });

  test('reads all four settings', () => {
    const { config } = parseGlobalConfig('CONFIG_PATH=/c\nSTAT_PATH=/s\nLOG_FILE=/l\nSTAP_USER=builder\n', 'g', ctx);
    assert.deepEqual(config, { configPath: '/c', statPath: '/s', logFile: '/l', stapUser: 'builder' });
  });

  test('treats an empty value as leaving the default, as the stock script', () => {
    const { config } = parseGlobalConfig('STAP_USER=x\nSTAP_USER=\n', 'g', ctx);
    assert.deepEqual(config, {});
  });

  test('refuses a relative STAT_PATH', () => {
    const { errors } = parseGlobalConfig('STAT_PATH=run/stap\n', '/etc/sysconfig/stap-server', ctx);
    assert.equal(errors[0]?.located, '/etc/sysconfig/stap-server:1: invalid line "STAT_PATH=run/stap": STAT_PATH must be an absolute path, got "run/stap"');
  });

  test('refuses a server setting in the global config', () => {
    const { errors } = parseGlobalConfig('ARCH=arm\n', 'g', ctx);
    assert.equal(errors[0]?.code, 'CONFIG_SYNTAX');
    assert.match(errors[0]?.hint ?? '', /CONFIG_PATH, STAT_PATH, LOG_FILE, STAP_USER/);
  });

  test('keeps the valid lines and reports the bad ones', () => {
    const { config, errors } = parseGlobalConfig('STAT_PATH=/s\nLOG_FILE=$HOME/log\n', 'g', ctx);
    assert.deepEqual(config, { statPath: '/s' });
    assert.equal(errors[0]?.code, 'CONFIG_UNSAFE');
    assert.equal(errors[0]?.line, 2);
  });
});

describe('valueProblem', () => {
  test('refuses a control character in any kind of value', () => {
    assert.match(valueProblem('text', 'a\u001b[2Jb') ?? '', /control character/);
    assert.match(valueProblem('list-item', 'a\u0000') ?? '', /control character/);
    assert.equal(valueProblem('text', 'a\tb'), undefined);
  });

  test('refuses a line break in any kind of value', () => {
    assert.match(valueProblem('text', 'a\nARCH=evil') ?? '', /line break/);
  });

  test('accepts ports 1 and 65535 and refuses 0', () => {
    assert.deepEqual(
      ['1', '65535', '0', '65536', '80a', ''].map((value) => valueProblem('port', value) === undefined),
      [true, true, false, false, false, false],
    );
  });
});

describe('reading config files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stapctl-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('loadServerConfigs reads *.conf in glob order and skips a bad file with its errors', () => {
    const confd = join(dir, 'conf.d');
    mkdirSync(confd);
    writeFileSync(join(confd, 'b.conf'), 'NICKNAME=b\n');
    writeFileSync(join(confd, 'A.conf'), 'NICKNAME=A\n');
    writeFileSync(join(confd, 'a.conf'), 'NICKNAME=a\n');
    writeFileSync(join(confd, 'bad.conf'), 'NICKNAME=$(id)\n');
    writeFileSync(join(confd, 'notes.txt'), 'junk\n');
    writeFileSync(join(confd, '.hidden.conf'), 'NICKNAME=hidden\n');
    mkdirSync(join(confd, 'dir.conf'));
    symlinkSync(join(confd, 'a.conf'), join(confd, 'link.conf'));
    symlinkSync(join(confd, 'missing'), join(confd, 'dangling.conf'));
    const { configs, errors } = loadServerConfigs(confd, ctx);
    assert.deepEqual(
      configs.map((config) => [config.file, config.spec.nickname]),
      [
        [join(confd, 'A.conf'), 'A'],
        [join(confd, 'a.conf'), 'a'],
        [join(confd, 'b.conf'), 'b'],
        [join(confd, 'link.conf'), 'a'],
      ],
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.file, join(confd, 'bad.conf'));
    assert.equal(errors[0]?.code, 'CONFIG_UNSAFE');
  });

  test('loadServerConfigs skips a file with a NUL byte and reads the others', () => {
    const confd = join(dir, 'conf-nul.d');
    mkdirSync(confd);
    writeFileSync(join(confd, 'a.conf'), 'NICKNAME=a\n');
    writeFileSync(join(confd, 'b.conf'), 'NICKNAME=b\0\n');
    writeFileSync(join(confd, 'c.conf'), 'NICKNAME=c\n');
    const { configs, errors } = loadServerConfigs(confd, ctx);
    assert.deepEqual(configs.map((config) => config.spec.nickname), ['a', 'c']);
    assert.deepEqual(errors.map((error) => [error.file, error.line, error.code]), [[join(confd, 'b.conf'), 1, 'CONFIG_SYNTAX']]);
  });

  test('loadServerConfigs finds no configs in a missing directory', () => {
    assert.deepEqual(loadServerConfigs(join(dir, 'absent'), ctx), { configs: [], errors: [] });
  });

  test('loadGlobalConfig reads a file', () => {
    const file = join(dir, 'stap-server');
    writeFileSync(file, 'STAP_USER=builder # who runs servers\n');
    assert.deepEqual(loadGlobalConfig(file, ctx), { config: { stapUser: 'builder' }, errors: [] });
  });

  test('loadGlobalConfig treats a missing default file as empty', () => {
    assert.deepEqual(loadGlobalConfig(join(dir, 'none'), ctx), { config: {}, errors: [] });
  });

  test('loadGlobalConfig reports a missing required file', () => {
    const { errors } = loadGlobalConfig(join(dir, 'none'), ctx, { required: true });
    assert.equal(errors[0]?.code, 'CONFIG_UNREADABLE');
    assert.equal(errors[0]?.file, join(dir, 'none'));
  });
});

describe('agreement with bash', () => {
  const lines = [
    `NICKNAME=a'b c'"d"e`,
    'NICKNAME="a\\"b\\\\c\\$d\\`e\\x"',
    'NICKNAME=a\\ b\\#c',
    'NICKNAME=x#y # comment',
    `NICKNAME='$(id) \`id\` $HOME'`,
    'NICKNAME=   # empty',
    'NICKNAME="~stap-server"',
    'NICKNAME=~stap-server/x',
  ];
  for (const line of lines) {
    test(`reads ${line} as bash assigns it`, () => {
      const script = `${line}\nprintf %s "$NICKNAME"`;
      const bash = execFileSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8' });
      const homeOf = (user?: string) => (user === 'stap-server' ? '/var/lib/stap-server' : undefined);
      const { config, errors } = parseServerConfig(`${line}\n`, FILE, { homeOf });
      assert.deepEqual(errors, []);
      assert.equal(config?.spec.nickname, bash);
    });
  }

  test('reads an array as bash does', () => {
    const line = `DEFINE=(a "b c" 'd$e' f\\ g "") `;
    const bash = execFileSync('bash', ['--norc', '--noprofile', '-c', `${line}\nprintf '%s|' "\${DEFINE[@]}"`], { encoding: 'utf8' });
    const { errors } = parseServerConfig(`${line}\n`, FILE, ctx);
    assert.match(errors[0]?.message ?? '', /may not be empty/);
    const withoutEmpty = line.replace(' "")', ')');
    assert.deepEqual(server(`${withoutEmpty}\n`).defines, bash.split('|').slice(0, -1).filter((item) => item !== ''));
  });
});
