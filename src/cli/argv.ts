/**
 * The command line: the stock initscript's options (order-sensitive, repeatable) plus stapctl's
 * own. Parsing is pure: argv in, a Command out; nothing here prints or exits.
 */
import { Command as Commander, CommanderError, Option } from 'commander';
import { StapctlError } from '../errors.js';
import { EXIT_CODE } from '../exit-code.js';
import type { FleetSettings } from '../fleet/run/fleet-run.js';
import { TRANSPORTS, type TransportName } from '../fleet/ssh/transport-names.js';
import { parseMaxFail, parseSerial, type RollingPlan } from '../fleet/run/rolling.js';
import type { HostKeyPolicy } from '../fleet/ssh/config.js';
import { ACTIONS, type Action } from '../service/report.js';
import type { ServiceRequest } from '../service/engine.js';
import { DISTRIBUTED_OPTIONS, EACH_RELEASE_HELP, SERVER_OPTIONS, tokenProblem, type DistributedFlag, type OptionToken, type ServerFlag } from '../service/server-options.js';
import { VERSION } from '../version.js';
import { addProvisionOptions, checkProvisionOptions, isProvisionAction, provisionCommand, type ProvisionCommand } from './provision-argv.js';
import { completionScript } from './completion.js';
import type { ColorChoice, OutputView } from './terminal.js';

/**
 * Fleet options as given on the command line: a setting left out is undefined here, and takes its
 * value from the config file, the STAPCTL_* variables or the default (stapctl-config.ts).
 */
export interface FleetCliOptions extends Omit<FleetSettings, 'timeoutMs' | 'forks'> {
  targets: string;
  /** --inventory sources in order, as several `ansible -i`. */
  inventories: string[];
  /** --adhoc: names outside the inventory and ~/.ssh/config are hosts to reach with the defaults. */
  adHoc: boolean;
  verbose: boolean;
  timeoutMs?: number;
  forks?: number;
  /** Undefined: the table on a terminal, lines otherwise (terminal.ts). */
  output?: OutputView;
  color?: ColorChoice;
  gather: boolean;
  failedHostsFile?: string;
  /** Without --serial: one batch of every host. */
  rolling?: RollingPlan;
}

export type Command =
  | { kind: 'service'; request: ServiceRequest; json: boolean }
  | { kind: 'fleet'; action: Action; request: ServiceRequest; fleet: FleetCliOptions; json: boolean; argv: readonly string[] }
  | { kind: 'hosts'; fleet: FleetCliOptions; json: boolean }
  | ProvisionCommand<FleetCliOptions>
  | { kind: 'agent' }
  | { kind: 'output'; stdout: string; exitCode: number };

export const HELP_AFTER = `
Actions (the stock stap-server initscript's):
  start         start the servers named by options; with none, those in conf.d/*.conf;
                with none configured, one for the host's kernel release and architecture
  stop          stop the named servers; with none named, every managed server
  restart       stop and start the named (or all running) servers; none running: start
  condrestart   restart the named (or all running) servers that are running
  try-restart   same as condrestart
  force-reload  stop every server, then start as 'start' does
  status        report the named (or all managed) servers
  reload        not supported (exit 3), as in the stock script
  hosts         with -H: list the resolved hosts and their settings, without connecting
  apply         with -H: make each host run the servers stap_servers declares for it
                (--check: plan only, exit 5 when something would change; --diff: conf.d diffs)
  endpoints     with -H: the running servers with address, port, arch, releases and
                certificate fingerprint (--format use-server: the argument for stap)
  trust         with -H CLIENTS --servers SPEC: clients trust those servers' certificates
                for all users (--revoke: remove that trust)
  completion    completion bash|zsh|fish: print a shell completion script

Server options accumulate in command-line order: -r -I -B -D add to the server being
described, -a -R -u replace; each --port --log --ssl --max-* is applied, in turn, to each
server named. -i names one server per kernel release in /lib/modules, with the -I -R -B -D
-u given before it.

Files (under --root DIR when given): /etc/sysconfig/stap-server (CONFIG_PATH, STAT_PATH,
LOG_FILE, STAP_USER), /etc/stap-server/conf.d/*.conf, /var/run/stap-server/<pid>.stat,
/var/log/stap-server/log.

Exit codes: 0 ok; 1 an action failed (status: a managed server died); 2 usage, config or
inventory error; 3 status: a server is not running; 4 fleet: a host was unreachable;
5 apply --check: something would change.

Fleet mode runs the action on many hosts over SSH:
  stapctl -H 'build[01-20],!build07' start -i
  stapctl -H farm status --json`;

export function parseArgv(argv: readonly string[]): Command {
  if (argv[0] === 'completion') {
    if (argv.length > 2) throw usage(`completion takes one shell, got ${argv.length - 1} words`);
    return { kind: 'output', stdout: completionScript(argv[1], stapctlProgram()), exitCode: EXIT_CODE.ok };
  }
  const tokens: OptionToken[] = [];
  let opts: CommanderOptions = {};
  let actionWord = argv[0];
  // A command line of one word that is no option (`stapctl status`, as init systems and scripts run
  // it) has nothing for commander to parse: building its program of some forty options was a
  // fifth of such a run's CPU beyond Node's own start.
  if (argv.length !== 1 || argv[0]?.startsWith('-')) {
    const output = { stdout: '', stderr: '' };
    const program = commandLine(tokens, output);
    try {
      program.parse([...argv], { from: 'user' });
    } catch (error) {
      if (!(error instanceof CommanderError)) throw error;
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') {
        return { kind: 'output', stdout: output.stdout, exitCode: EXIT_CODE.ok };
      }
      throw usage(output.stderr.trim().replace(/^error: /, '') || error.message);
    }
    opts = program.opts<CommanderOptions>();
    actionWord = program.args[0];
  }
  if (actionWord === 'agent' && !opts.hosts) return { kind: 'agent' };
  if (actionWord === undefined) throw usage('an action is required');
  const fleet = typeof opts.hosts === 'string';
  const json = opts.json === true;
  if (fleet && typeof opts.root === 'string') throw usage('--root is a local-mode option; give hosts a root with the inventory variable stapctl_root');
  if (json && opts.output !== undefined && opts.output !== 'json') throw usage(`--json and --output ${String(opts.output)} contradict each other`);
  checkProvisionOptions(actionWord, opts);
  if (isProvisionAction(actionWord)) return provisionCommand(actionWord, opts, tokens, fleet ? fleetOptions(opts) : undefined, json);
  const action = parseAction(actionWord, fleet);
  if (action === 'hosts') return { kind: 'hosts', json, fleet: fleetOptions(opts) };
  const request: ServiceRequest = {
    action,
    tokens,
    ...(typeof opts.c === 'string' && { configFile: opts.c }),
    keepTemp: opts.k === true,
    usePassword: opts.P === true,
    ...(!fleet && { root: typeof opts.root === 'string' ? opts.root : process.env.STAPCTL_ROOT || '/' }),
  };
  if (!fleet) return { kind: 'service', request, json };
  // A bad value would fail on every host alike: say so once, before connecting to any.
  const problem = tokens.map(tokenProblem).find((found) => found !== undefined);
  if (problem) throw problem;
  const options = fleetOptions(opts);
  return { kind: 'fleet', action, request, json: options.output === 'json', argv, fleet: options };
}

type CommanderOptions = Record<string, string | boolean | undefined>;

/**
 * Every option and its help text, as parseArgv knows them: the man page (man-page.ts) and the
 * shell completions (completion.ts) are written from it, so they list exactly these options.
 */
export function stapctlProgram(): Commander {
  return commandLine([], { stdout: '', stderr: '' });
}

/**
 * The options, as commander knows them. The server options come from server-options.ts and are
 * recorded as tokens in command-line order, since their order decides which server each describes.
 */
function commandLine(tokens: OptionToken[], output: { stdout: string; stderr: string }): Commander {
  const program = new Commander('stapctl')
    .usage('{start|stop|restart|condrestart|try-restart|force-reload|status} [options]\n       stapctl -H HOSTS ACTION [options]')
    .description('Manage systemtap compile servers (stap-serverd), on this host or on many over SSH.')
    .argument('[action]', 'what to do (see Actions below)')
    .helpOption('-h, --help', 'show this help')
    .option('-c <configfile>', 'an additional global configuration file, read after /etc/sysconfig/stap-server (the last -c wins)');
  for (const [flag, option] of Object.entries(SERVER_OPTIONS) as [ServerFlag, (typeof SERVER_OPTIONS)[ServerFlag]][]) {
    program.option(`-${flag} <${option.value}>`, option.help).on(`option:${flag}`, (value: string) => tokens.push({ flag, value }));
  }
  program.option('-i', EACH_RELEASE_HELP).on('option:i', () => tokens.push({ flag: 'i' }));
  program
    .option('-k', "keep the server's temporary files")
    .option('-P', "use a password for the server's NSS certificate database");
  for (const [flag, option] of Object.entries(DISTRIBUTED_OPTIONS) as [DistributedFlag, (typeof DISTRIBUTED_OPTIONS)[DistributedFlag]][]) {
    program.option(`--${flag} <${option.value}>`, option.help).on(`option:${flag}`, (value: string) => tokens.push({ flag, value }));
  }
  addProvisionOptions(program);
  return program
    .option('--root <dir>', 'prefix every file path stapctl reads and writes (as systemctl --root); default $STAPCTL_ROOT')
    .option('--json', 'print the results as one JSON document')
    .option('-H, --hosts <spec>', "fleet mode: groups, hosts, globs, ~regex, ranges (build[01-20]), subscripts (web[0:2]), inventory files; ',' or ':' between terms, '&' to intersect, '!' to exclude; a trailing ',' makes a host list (h1,h2:2222,)")
    .option('--inventory <source>', 'fleet inventory: a YAML, INI or TOML file, a directory, an executable (--list JSON), a host list (h1,h2:2222,); repeatable (default: $STAPCTL_INVENTORY, ./inventory.yaml, ~/.config/stapctl/inventory.yaml, /etc/stapctl/inventory.yaml)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--adhoc', 'fleet: names outside the inventory and ~/.ssh/config are hosts to reach with the default settings')
    .option('--identity <file>', 'fleet: an SSH private key to try')
    .option('--known-hosts <file>', 'fleet: the known_hosts file to check and record host keys in (default: ~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts)')
    .addOption(new Option('--host-key-check <policy>', 'fleet: unknown host keys are refused (strict), recorded (accept-new) or accepted with a warning (off) (default: StrictHostKeyChecking of ~/.ssh/config, else strict)').choices(['strict', 'accept-new', 'off']))
    .addOption(new Option('--transport <name>', 'fleet: in-process ssh2, or the system ssh client (openssh: ssh config, certificates, GSSAPI, FIDO and PKCS#11 keys; one ControlMaster per host) (default: ssh2)').choices([...TRANSPORTS]))
    .option('--connect-timeout <seconds>', 'fleet: SSH connect timeout (default: ConnectTimeout of ~/.ssh/config, else 10)')
    .option('--timeout <seconds>', 'fleet: time allowed per host; the remote agent is stopped when it fires (default: 120)')
    .option('-f, --forks <n>', 'fleet: hosts handled at once (default: 32)')
    .option('-v, --verbose', 'fleet: full error text, remote stderr included')
    .addOption(new Option('--output <view>', 'fleet: a table, one line per host (grep-friendly), or JSON (default: table on a terminal, else lines)').choices(['table', 'lines', 'json']))
    .option('-b, --gather', 'fleet: one entry per group of hosts with the same result, hosts folded as build[01-08,10]')
    .addOption(new Option('--color <when>', 'fleet: colour the results (auto: on a terminal, unless NO_COLOR or TERM=dumb; FORCE_COLOR forces it)').choices(['auto', 'always', 'never']))
    .option('--serial <sizes>', 'fleet: run in batches of N hosts or P% of them, one batch after the other (a list such as 1,5,25% repeats its last size)')
    .option('--max-fail <limit>', 'fleet, with --serial: start no new batch once more than N hosts (or P% of all) failed or were unreachable; the rest are skipped')
    .option('--failed-hosts <file>', 'fleet: where a run with failures writes the hosts to retry (default: ~/.cache/stapctl/failed-hosts)')
    .version(VERSION, '-V, --version', 'print the version')
    .addHelpText('after', HELP_AFTER)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => (output.stdout += text),
      writeErr: (text) => (output.stderr += text),
      outputError: (text) => (output.stderr += text),
    });
}

/** The fleet's own options, checked once on the controller before any host is contacted. */
function fleetOptions(opts: CommanderOptions): FleetCliOptions {
  const output = opts.json === true ? 'json' : (opts.output as OutputView | undefined);
  const rolling = rollingPlan(opts);
  return {
    targets: opts.hosts as string,
    inventories: Array.isArray(opts.inventory) ? (opts.inventory as string[]) : [],
    adHoc: opts.adhoc === true,
    ...(typeof opts.identity === 'string' && { identity: opts.identity }),
    ...(typeof opts.knownHosts === 'string' && { knownHosts: opts.knownHosts }),
    ...(opts.hostKeyCheck !== undefined && { hostKeyCheck: opts.hostKeyCheck as HostKeyPolicy }),
    ...(opts.transport !== undefined && { transport: opts.transport as TransportName }),
    ...(opts.connectTimeout !== undefined && { connectTimeoutMs: seconds('--connect-timeout', opts.connectTimeout) }),
    ...(opts.timeout !== undefined && { timeoutMs: seconds('--timeout', opts.timeout) }),
    ...(opts.forks !== undefined && { forks: positiveInteger('--forks', opts.forks) }),
    verbose: opts.verbose === true,
    ...(output !== undefined && { output }),
    ...(opts.color !== undefined && { color: opts.color as ColorChoice }),
    gather: opts.gather === true,
    ...(typeof opts.failedHosts === 'string' && { failedHostsFile: opts.failedHosts }),
    ...(rolling && { rolling }),
  };
}

/** --serial and --max-fail; --max-fail alone would never be checked, so it is refused. */
function rollingPlan(opts: CommanderOptions): RollingPlan | undefined {
  if (typeof opts.maxFail === 'string' && typeof opts.serial !== 'string') throw usage('--max-fail needs --serial: it is checked between batches');
  if (typeof opts.serial !== 'string') return undefined;
  return { serial: parseSerial(opts.serial), ...(typeof opts.maxFail === 'string' && { maxFail: parseMaxFail(opts.maxFail) }) };
}

function parseAction(word: string, fleet: boolean): Action | 'hosts' {
  if ((ACTIONS as readonly string[]).includes(word)) return word as Action;
  if (word === 'hosts' && fleet) return 'hosts';
  throw usage(`unknown action '${word}'`);
}

function seconds(option: string, value: unknown): number {
  const number = Number(value);
  if (typeof value !== 'string' || !/^\d+(\.\d+)?$/.test(value) || number <= 0) {
    throw usage(`${option} takes a number of seconds, got '${String(value)}'`);
  }
  return Math.round(number * 1000);
}

function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'string' || !/^[1-9]\d*$/.test(value)) throw usage(`${option} takes a positive whole number, got '${String(value)}'`);
  return Number(value);
}

function usage(message: string): StapctlError {
  return new StapctlError('USAGE', message, { hint: "run 'stapctl --help' for the options" });
}
