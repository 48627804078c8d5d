/**
 * The inventory variable `stap_servers`: the compile servers a host should run, declared per
 * group or per host. Each definition (a group's or the host's) is checked on its own, so an error
 * names the place in the file where it was written; then the definitions are merged by nickname,
 * the higher precedence one (a child group over its parent, the host over its groups) replacing
 * the whole entry of the same nickname.
 */
import * as z from 'zod/mini';
import { StapctlError } from '../errors.js';
import type { LocatedValue } from '../fleet/targets/inventory.js';
import { emptySpec, type ServerSpec } from '../service/server-spec.js';
import { isPortableNickname, isPortableValue } from './managed-config.js';

// zod/mini: the agent bundle checks stap_servers too (as an Ansible module), and full zod would
// make it ten times larger.

export const STAP_SERVERS = 'stap_servers';

const VALUE_HINT = 'write a bare word: letters, digits and _ . , : / = + @ % - (no blanks, quotes or $)';

const QUOTE = 'must be text (quote it: YAML reads yes, no, n, 1.10 as booleans and numbers)';
const text = (missing = QUOTE) => z.string({ error: (issue) => (issue.input === undefined ? missing : QUOTE) });

const value = text().check(z.refine(isPortableValue, { message: `must be a bare word (${VALUE_HINT})` }));
const path = value.check(z.refine((given: string) => given.startsWith('/'), { message: 'must be an absolute path' }));
const list = z.array(value, { error: 'must be a list' });
const numberLike = (test: (given: string) => boolean, message: string) =>
  z.pipe(
    z.union([z.number(), z.string()]).check(z.refine((given: number | string) => /^\d+$/.test(String(given)) && test(String(given)), { message })),
    z.transform((given: number | string) => String(Number(given))),
  );
const count = numberLike((given) => Number.isSafeInteger(Number(given)), 'must be a whole number (0 or more)');
const port = numberLike((given) => Number(given) >= 1 && Number(given) <= 65535, 'must be a port number from 1 to 65535');

const entrySchema = z.strictObject({
  nickname: text('is required').check(
    z.refine(isPortableNickname, { message: 'must start with a letter, digit or _ and hold only letters, digits, _ . - (it names the conf.d file)' }),
  ),
  arch: z.optional(value),
  releases: z.optional(list),
  includes: z.optional(list),
  builds: z.optional(list),
  defines: z.optional(list),
  runtime: z.optional(value),
  user: z.optional(text().check(z.regex(/^[a-z_][a-z0-9_-]*\$?$/i, { message: 'must be a user name' }))),
  log: z.optional(path),
  port: z.optional(port),
  ssl: z.optional(path),
  max_threads: z.optional(count),
  max_request_size: z.optional(count),
  max_compressed_request: z.optional(count),
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
