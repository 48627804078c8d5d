/**
 * The inventory variable `stap_servers`: the compile servers a host should run, declared per
 * group or per host. Each definition (a group's or the host's) is checked on its own, so an error
 * names the place in the file where it was written; then the definitions are merged by nickname,
 * the higher precedence one (a child group over its parent, the host over its groups) replacing
 * the whole entry of the same nickname.
 */
import { z } from 'zod';
import { StapctlError } from '../errors.js';
import type { LocatedValue } from '../fleet/targets/inventory.js';
import { emptySpec, type ServerSpec } from '../service/server-spec.js';
import { isPortableNickname, isPortableValue } from './managed-config.js';

export const STAP_SERVERS = 'stap_servers';

const VALUE_HINT = 'write a bare word: letters, digits and _ . , : / = + @ % - (no blanks, quotes or $)';

const QUOTE = 'must be text (quote it: YAML reads yes, no, n, 1.10 as booleans and numbers)';
const text = (missing = QUOTE) => z.string({ error: (issue) => (issue.input === undefined ? missing : QUOTE) });

const value = text().refine(isPortableValue, { message: `must be a bare word (${VALUE_HINT})` });
const path = value.refine((text) => text.startsWith('/'), { message: 'must be an absolute path' });
const list = z.array(value, { error: 'must be a list' });
const count = z
  .union([z.number(), z.string()])
  .refine((given) => /^\d+$/.test(String(given)) && Number.isSafeInteger(Number(given)), {
    message: 'must be a whole number (0 or more)',
  })
  .transform((given) => String(Number(given)));
const port = z
  .union([z.number(), z.string()])
  .refine((given) => /^\d+$/.test(String(given)) && Number(given) >= 1 && Number(given) <= 65535, {
    message: 'must be a port number from 1 to 65535',
  })
  .transform(String);

const entrySchema = z.strictObject({
  nickname: text('is required').refine(isPortableNickname, {
    message: 'must start with a letter, digit or _ and hold only letters, digits, _ . - (it names the conf.d file)',
  }),
  arch: value.optional(),
  releases: list.optional(),
  includes: list.optional(),
  builds: list.optional(),
  defines: list.optional(),
  runtime: value.optional(),
  user: text().regex(/^[a-z_][a-z0-9_-]*\$?$/i, { message: 'must be a user name' }).optional(),
  log: path.optional(),
  port: port.optional(),
  ssl: path.optional(),
  max_threads: count.optional(),
  max_request_size: count.optional(),
  max_compressed_request: count.optional(),
});

const definitionSchema = z.array(entrySchema, { error: 'must be a list of servers, each with at least a nickname' });

type Entry = z.output<typeof entrySchema>;

function toSpec(entry: Entry): ServerSpec {
  return {
    ...emptySpec(),
    nickname: entry.nickname,
    arch: entry.arch ?? '',
    releases: entry.releases ?? [],
    includes: entry.includes ?? [],
    builds: entry.builds ?? [],
    defines: entry.defines ?? [],
    runtime: entry.runtime ?? '',
    user: entry.user ?? '',
    log: entry.log ?? '',
    port: entry.port ?? '',
    ssl: entry.ssl ?? '',
    maxThreads: entry.max_threads ?? '',
    maxRequestSize: entry.max_request_size ?? '',
    maxCompressedRequest: entry.max_compressed_request ?? '',
  };
}

/** The place of `path`, or of the nearest part that holds it (a missing key: its mapping). */
function positionOf(definition: LocatedValue, path: readonly PropertyKey[], preferKey: boolean) {
  for (let length = path.length; length >= 0; length -= 1) {
    const at = path.slice(0, length).map(String).join('.');
    const found = (preferKey ? definition.positions[`${at}:key`] : undefined) ?? definition.positions[at];
    if (found !== undefined) return found;
    preferKey = false;
  }
  return undefined;
}

function invalid(definition: LocatedValue, path: readonly PropertyKey[], message: string, preferKey = false): StapctlError {
  return new StapctlError('INVENTORY_INVALID', message, {
    file: definition.file,
    ...positionOf(definition, path, preferKey),
    hint: 'stap_servers is a list of servers: - { nickname: NAME, releases: [...], arch: ..., port: ... }',
  });
}

function describeIssue(definition: LocatedValue, issue: z.core.$ZodIssue): StapctlError {
  const [index, key] = issue.path;
  const where = index === undefined ? STAP_SERVERS : `${STAP_SERVERS}[${String(index)}]`;
  if (issue.code === 'unrecognized_keys') {
    const name = issue.keys[0] ?? '';
    return invalid(definition, [...issue.path, name], `${where} has an unknown key "${name}"`, true);
  }
  const subject = key === undefined ? where : `${where}.${String(key)}`;
  const item = issue.path.length > 2 ? ` item ${String(issue.path[2])}` : '';
  return invalid(definition, issue.path, `${subject}${item} ${issue.message}`);
}

/** One definition, checked: its servers with nicknames unique within it. */
function checkDefinition(definition: LocatedValue): ServerSpec[] {
  const parsed = definitionSchema.safeParse(definition.value ?? []);
  if (!parsed.success) throw describeIssue(definition, parsed.error.issues[0] as z.core.$ZodIssue);
  const seen = new Map<string, number>();
  return parsed.data.map((entry, index) => {
    const first = seen.get(entry.nickname);
    if (first !== undefined) {
      const line = definition.positions[String(first)]?.line;
      throw invalid(definition, [index, 'nickname'], `nickname "${entry.nickname}" is declared twice in ${STAP_SERVERS}${line === undefined ? '' : ` (first at line ${line})`}`);
    }
    seen.set(entry.nickname, index);
    return toSpec(entry);
  });
}

/**
 * The servers declared for a host, from its definitions lowest precedence first. An entry keeps
 * the place of the first definition that declared its nickname; a later one replaces its content.
 */
export function declaredServers(definitions: readonly LocatedValue[]): ServerSpec[] {
  const merged = new Map<string, ServerSpec>();
  for (const definition of definitions) {
    for (const spec of checkDefinition(definition)) merged.set(spec.nickname, spec);
  }
  return [...merged.values()];
}
