// Checks settings against SETTINGS_SCHEMA with ajv and turns ajv's errors into messages that name
// the file and line of the offending key ("holdfastd.conf:3: max_clients must be an integer >= 1").
// Never reads files; load-config.ts feeds it layers of settings.

import type { ErrorObject } from 'ajv';
import { compiledValidator } from '../../shared/platform/compiled-validator';
import { ConfigError, type ConfigProblem, type SettingOrigin } from './config-error';
import { LogSpecError, parseLogFilters, parseLogOutputs, type LogOutputSpec } from '../../shared/platform/log-spec';
import {
  ABSOLUTE_PATH_PATTERN,
  ENDPOINT_PATTERN,
  HOST_ID_PATTERN,
  KEY_PREFIX_PATTERN,
  SETTINGS_SCHEMA,
  SETTING_KEYS,
  USERNAME_PATTERN,
  VIRTLOGD_ONLY_KEYS,
  type HoldfastConfig,
  type SettingKey,
} from './schema';
import { clusterProblems } from './cluster-rules';

/** One source of settings; later layers win over earlier ones. */
export interface SettingLayer {
  /** Config file path as given, or a label such as 'command line' or 'built-in default'. */
  source: string;
  entries: ReadonlyArray<{ key: string; value: unknown; line?: number }>;
}

// A unix socket path must fit sockaddr_un.sun_path (108 bytes with the terminating NUL).
const SUN_PATH_MAX = 107;

const validate = compiledValidator('settings', SETTINGS_SCHEMA, { strict: true, allErrors: true, useDefaults: true });

type PropSchema = {
  type: string;
  minimum?: number;
  maximum?: number;
  multipleOf?: number;
  enum?: readonly string[];
  pattern?: string;
  minItems?: number;
  items?: { pattern?: string };
};
const props = SETTINGS_SCHEMA.properties as unknown as Record<SettingKey, PropSchema>;

// What a string of each pattern is, in words (a list says it of each item).
const PATTERN_WORDS: Record<string, { one: string; many: string }> = {
  [ABSOLUTE_PATH_PATTERN]: { one: 'an absolute path', many: 'absolute paths' },
  [ENDPOINT_PATTERN]: { one: 'an http:// or https:// URL', many: 'http:// or https:// URLs' },
  [HOST_ID_PATTERN]: { one: 'a name of 1 to 64 letters, digits, ".", "_" or "-"', many: 'names' },
  [KEY_PREFIX_PATTERN]: { one: 'a string of printable characters without spaces that starts and ends with "/"', many: 'prefixes' },
  [USERNAME_PATTERN]: { one: 'a string of 1 to 128 printable characters without spaces', many: 'names' },
};

/** Plain-words rule for one key, specialised to the ajv keyword that failed. */
function describeRule(key: SettingKey, keyword: string): string {
  const p = props[key];
  if (p.type === 'integer') {
    const min = p.minimum ?? Number.MIN_SAFE_INTEGER;
    const max = p.maximum ?? Number.MAX_SAFE_INTEGER;
    if (p.multipleOf !== undefined) return `must be an integer from ${min} to ${max}, a multiple of ${p.multipleOf}`;
    if (max - min <= 100) return `must be an integer from ${min} to ${max}`;
    if (keyword === 'maximum') return `must be an integer <= ${max}`;
    return `must be an integer >= ${min}`;
  }
  if (p.enum) return `must be one of ${p.enum.map((v) => `'${v}'`).join(', ')}`;
  if (p.type === 'array') {
    const items = (p.items?.pattern !== undefined ? PATTERN_WORDS[p.items.pattern]?.many : undefined) ?? 'strings';
    const many = p.minItems ? `one or more ${items}` : items;
    return keyword === 'uniqueItems' ? `must not name the same entry twice` : `must be a list of ${many}`;
  }
  if (p.pattern !== undefined) return `must be ${PATTERN_WORDS[p.pattern]?.one ?? 'a string'}`;
  return 'must be a string';
}

function showValue(value: unknown): string {
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return String(value);
}

/** "(got …)": the offending item of a list when ajv names one, else the whole value. */
function showGot(value: unknown, err: ErrorObject): string {
  if (!Array.isArray(value)) return `got ${showValue(value)}`;
  if (err.keyword === 'uniqueItems') return `got ${showValue(value[(err.params as { j: number }).j])} twice`;
  const item = err.instancePath.split('/')[2];
  return item !== undefined ? `got ${showValue(value[Number(item)])} in the list` : `got ${showValue(value)}`;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The known key closest to `unknown`, if it is close enough to be a likely typo. */
export function suggestKey(unknown: string): SettingKey | undefined {
  let best: SettingKey | undefined;
  let bestDistance = Infinity;
  for (const key of SETTING_KEYS) {
    const d = editDistance(unknown.toLowerCase(), key);
    if (d < bestDistance) {
      best = key;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(unknown.length / 3)) ? best : undefined;
}

function unknownKeyMessage(key: string): string {
  if ((VIRTLOGD_ONLY_KEYS as readonly string[]).includes(key)) {
    return `unknown setting '${key}' (it is a virtlogd.conf setting; virtlockd and holdfastd do not read it)`;
  }
  const hint = suggestKey(key);
  return hint ? `unknown setting '${key}' (did you mean '${hint}'?)` : `unknown setting '${key}'`;
}

/** Sorts problems into reading order: file lines first, by line; then the rest in the order found. */
function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((x, y) => (x.p.line ?? Infinity) - (y.p.line ?? Infinity) || x.i - y.i)
    .map(({ p }) => p);
}

/**
 * Merges layers (later wins), validates the result with ajv and applies schema defaults.
 * Path keys have no schema default: the caller passes them as the first layer.
 * @throws ConfigError listing every problem: duplicate keys in one file, unknown keys, bad values
 *   (each "<file>:<line>: …"), and cross-key rules.
 */
export function resolveSettings(layers: readonly SettingLayer[]): HoldfastConfig {
  const problems: ConfigProblem[] = [];
  const settings: Record<string, unknown> = {};
  const origins = new Map<string, SettingOrigin>();

  for (const layer of layers) {
    const seen = new Map<string, number | undefined>();
    for (const { key, value, line } of layer.entries) {
      const origin: SettingOrigin = line === undefined ? { file: layer.source } : { file: layer.source, line };
      if (seen.has(key)) {
        // virtlockd silently uses the first; holdfast says so instead of guessing.
        const first = seen.get(key);
        problems.push({ ...origin, what: `duplicate setting '${key}'${first === undefined ? '' : ` (first set at line ${first})`}` });
        continue;
      }
      seen.set(key, line);
      settings[key] = value;
      origins.set(key, origin);
    }
  }

  const where = (key: string): SettingOrigin => origins.get(key) ?? { file: 'settings' };

  if (!validate(settings)) {
    const reported = new Set<string>();
    for (const err of validate.errors as ErrorObject[]) {
      if (err.keyword === 'additionalProperties') {
        const key = String((err.params as { additionalProperty: string }).additionalProperty);
        problems.push({ ...where(key), what: unknownKeyMessage(key) });
        continue;
      }
      const key = err.instancePath.split('/')[1] as SettingKey;
      if (reported.has(key)) continue; // one message per key, even when several keywords fail
      reported.add(key);
      problems.push({ ...where(key), what: `${key} ${describeRule(key, err.keyword)} (${showGot(settings[key], err)})` });
    }
  }

  if (problems.length === 0) {
    const cfg = settings as unknown as HoldfastConfig;
    if (cfg.owner_kill_give_up_ms < cfg.owner_kill_term_grace_ms) {
      const key = origins.has('owner_kill_give_up_ms') ? 'owner_kill_give_up_ms' : 'owner_kill_term_grace_ms';
      problems.push({
        ...where(key),
        what:
          `owner_kill_give_up_ms (${cfg.owner_kill_give_up_ms}) must be >= ` +
          `owner_kill_term_grace_ms (${cfg.owner_kill_term_grace_ms})`,
      });
    }
    if (cfg.max_frame_bytes_total < cfg.max_frame_bytes_per_client) {
      const key = origins.has('max_frame_bytes_total') ? 'max_frame_bytes_total' : 'max_frame_bytes_per_client';
      problems.push({
        ...where(key),
        what: `max_frame_bytes_total (${cfg.max_frame_bytes_total}) must be >= max_frame_bytes_per_client (${cfg.max_frame_bytes_per_client})`,
      });
    }
    // virtlockd refuses a malformed log_outputs/log_filters at start; so does holdfast, with the line.
    for (const [key, parse] of [['log_outputs', parseLogOutputs], ['log_filters', parseLogFilters]] as const) {
      try {
        const parsed = parse(cfg[key]);
        if (key === 'log_outputs') for (const what of unimplementedOutputs(parsed as LogOutputSpec[])) problems.push({ ...where(key), what });
      } catch (err) {
        if (!(err instanceof LogSpecError)) throw err;
        problems.push({ ...where(key), what: `${key}: ${err.message}` });
      }
    }
    for (const key of ['socket_path', 'admin_socket_path'] as const) {
      const bytes = Buffer.byteLength(cfg[key]);
      if (bytes > SUN_PATH_MAX) {
        problems.push({ ...where(key), what: `${key} is ${bytes} bytes long; a unix socket path can have at most ${SUN_PATH_MAX}` });
      }
    }
    problems.push(...clusterProblems(cfg, (key) => origins.has(key), where));
  }

  if (problems.length > 0) throw new ConfigError(sortProblems(problems));
  // Schema order, so a logged config reads like the schema; keys without a default that nothing set stay absent.
  return Object.fromEntries(SETTING_KEYS.filter((k) => settings[k] !== undefined).map((k) => [k, settings[k]])) as unknown as HoldfastConfig;
}

// syslog and journald outputs are parsed (virtlockd accepts them) but holdfast has no client for either:
// refused rather than quietly sent elsewhere. Under systemd, stderr already reaches the journal.
function unimplementedOutputs(outputs: readonly LogOutputSpec[]): string[] {
  return outputs
    .filter((o) => o.destination === 'syslog' || o.destination === 'journald')
    .map(
      (o) =>
        `log_outputs: holdfast does not implement the ${o.destination} destination ('${o.priority}:${o.destination}${o.destination === 'syslog' ? `:${o.ident}` : ''}'); ` +
        `use '${o.priority}:stderr' (under systemd stderr goes to the journal) or '${o.priority}:file:PATH'`,
    );
}
