/**
 * stapctl's own defaults for fleet mode: /etc/stapctl/config.yaml, then ~/.config/stapctl/config.yaml
 * (or $XDG_CONFIG_HOME/stapctl/config.yaml), then STAPCTL_* variables, then the command line: each
 * later source wins. Every value is checked with zod where it is written (file:line:column, or the
 * variable's name), before any host is contacted.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Node } from 'yaml';
import * as z from 'zod/mini';
import { isMissingFile, StapctlError } from '../errors.js';
import type { FleetSettings } from '../fleet/run/fleet-run.js';
import { TRANSPORTS } from '../fleet/ssh/transport-names.js';
import type { FleetCliOptions } from './argv.js';
import type { ColorChoice } from './terminal.js';

const seconds = z
  .union([z.number().check(z.positive()), z.pipe(z.string().check(z.regex(/^\d+(\.\d+)?$/, 'a number of seconds')), z.transform(Number))])
  .check(z.refine((value) => value > 0, 'more than 0 seconds'));
const count = z.union([z.int().check(z.positive()), z.pipe(z.string().check(z.regex(/^[1-9]\d*$/, 'a positive whole number')), z.transform(Number))]);

/** The settings a file or the environment may give, by their option names. */
export const CONFIG_SCHEMA = z.partial(
  z.strictObject({
    forks: count,
    timeout: seconds,
    'connect-timeout': seconds,
    'host-key-check': z.enum(['strict', 'accept-new', 'off']),
    transport: z.enum(TRANSPORTS),
    identity: z.string().check(z.minLength(1)),
    inventory: z.string().check(z.minLength(1)),
    output: z.enum(['table', 'lines', 'json']),
    color: z.enum(['auto', 'always', 'never']),
  }),
);

export type StapctlConfig = z.infer<typeof CONFIG_SCHEMA>;
type ConfigKey = keyof StapctlConfig;

const KEYS = Object.keys(CONFIG_SCHEMA.shape) as ConfigKey[];

/** STAPCTL_CONNECT_TIMEOUT for connect-timeout. */
export function environmentName(key: ConfigKey): string {
  return `STAPCTL_${key.toUpperCase().replace(/-/g, '_')}`;
}

/** The config files in the order they are read (the later wins). */
export function configFiles(env: NodeJS.ProcessEnv): string[] {
  const userDir = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return ['/etc/stapctl/config.yaml', join(userDir, 'stapctl', 'config.yaml')];
}

function invalid(message: string, at: { file?: string; line?: number; column?: number }): StapctlError {
  return new StapctlError('CONFIG_INVALID', message, { ...at, hint: `settings: ${KEYS.join(', ')} (see stapctl(1), "CONFIGURATION")` });
}

/** One config file's settings; TEXT is its content, FILE its name for errors. */
export function parseConfigFile(text: string, file: string): StapctlConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (node: Node | null | undefined) => {
    const offset = node?.range?.[0];
    if (offset === undefined) return { file };
    const { line, col } = lines.linePos(offset);
    return { file, line, column: col };
  };
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    const { line, col } = lines.linePos(syntax.pos[0]);
    throw invalid(`YAML syntax: ${syntax.message}`, { file, line, column: col });
  }
  const contents = doc.contents;
  if (contents === null || (isScalar(contents) && contents.value === null)) return {};
  if (!isMap(contents)) throw invalid('the config is a mapping of settings, such as "forks: 64"', at(contents));
  const checked = CONFIG_SCHEMA.safeParse(doc.toJS());
  if (checked.success) return checked.data;
  const issue = checked.error.issues[0];
  const key = issue?.code === 'unrecognized_keys' ? issue.keys[0] : issue?.path[0];
  const pair = contents.items.find((item) => isScalar(item.key) && item.key.value === key);
  const node = issue?.code === 'unrecognized_keys' ? (pair?.key as Node | undefined) : (pair?.value as Node | undefined);
  const problem = issue?.code === 'unrecognized_keys' ? `unknown setting "${String(key)}"` : `${String(key)}: ${issue?.message ?? 'invalid'}`;
  throw invalid(problem, at(node));
}

/** The STAPCTL_* variables' settings; an empty variable is unset. */
export function configFromEnvironment(env: NodeJS.ProcessEnv): StapctlConfig {
  const config: StapctlConfig = {};
  for (const key of KEYS) {
    const name = environmentName(key);
    const value = env[name];
    if (value === undefined || value === '') continue;
    const checked = CONFIG_SCHEMA.shape[key].safeParse(value);
    if (!checked.success) throw invalid(`${name}: ${checked.error.issues[0]?.message ?? 'invalid'}, got "${value}"`, {});
    Object.assign(config, { [key]: checked.data });
  }
  return config;
}

/** Reads the files (a missing one is empty) and the environment, the later source winning. */
export function loadStapctlConfig(env: NodeJS.ProcessEnv, read: (file: string) => string = (file) => readFileSync(file, 'utf8')): StapctlConfig {
  const layers = configFiles(env).map((file) => {
    let text: string;
    try {
      text = read(file);
    } catch (error) {
      if (isMissingFile(error)) return {};
      throw invalid(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { file });
    }
    return parseConfigFile(text, file);
  });
  return Object.assign({}, ...layers, configFromEnvironment(env)) as StapctlConfig;
}

/** Fleet options with every setting decided: the command line's, else the config's, else the default. */
export type FleetOptions = Omit<FleetCliOptions, 'timeoutMs' | 'forks' | 'color'> & FleetSettings & { color: ColorChoice };

export function withConfig(flags: FleetCliOptions, config: StapctlConfig): FleetOptions {
  const ms = (value: number | undefined) => (value === undefined ? undefined : Math.round(value * 1000));
  const connectTimeoutMs = flags.connectTimeoutMs ?? ms(config['connect-timeout']);
  const hostKeyCheck = flags.hostKeyCheck ?? config['host-key-check'];
  const transport = flags.transport ?? config.transport;
  const identity = flags.identity ?? config.identity;
  const inventories = flags.inventories.length > 0 ? flags.inventories : config.inventory !== undefined ? [config.inventory] : [];
  const output = flags.output ?? config.output;
  return {
    ...flags,
    timeoutMs: flags.timeoutMs ?? ms(config.timeout) ?? 120_000,
    forks: flags.forks ?? config.forks ?? 32,
    color: flags.color ?? config.color ?? 'auto',
    ...(connectTimeoutMs !== undefined && { connectTimeoutMs }),
    ...(hostKeyCheck !== undefined && { hostKeyCheck }),
    ...(transport !== undefined && { transport }),
    ...(identity !== undefined && { identity }),
    inventories,
    ...(output !== undefined && { output }),
  };
}
