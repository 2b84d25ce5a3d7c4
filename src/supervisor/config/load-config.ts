// loadConfig: reads a virtlockd.conf-syntax file, layers defaults, the file and command-line overrides,
// and returns the validated HoldfastConfig. The only config code that touches the filesystem.
//
// Precedence, lowest first: built-in defaults (schema defaults; virtlockd's paths for this uid)
// < the file < paths from --run-dir < explicit command-line overrides (flags win). A key the file sets
// that a flag then replaces with another value is reported through `onConflict`, never dropped silently.
// A file named with -f that is missing is an error, as in virtlockd (virLockDaemonConfigLoadFile with
// allow_missing=false); only the implicit default file may be missing (`allowMissing`).

import fs from 'node:fs';
import path from 'node:path';
import { defaultPaths } from '../../shared/platform/paths';
import { ConfigError } from './config-error';
import { parseConf } from './conf-parser';
import { PATH_KEYS, type HoldfastConfig, type HoldfastSettings } from './schema';
import { resolveSettings, type SettingLayer } from './validate-config';

// virconf refuses files above 10 MiB (virConfReadFile); same limit here.
const MAX_CONFIG_FILE_SIZE = 10 * 1024 * 1024;

/** Settings given on the command line; `undefined` values are ignored. */
export type ConfigOverrides = { [K in keyof HoldfastSettings]?: HoldfastSettings[K] | undefined };

/** How to compute path defaults, and how to treat a missing file. */
export interface LoadConfigOptions {
  /** Effective uid for the default paths; default `process.geteuid()`. */
  uid?: number;
  /** Environment for the default paths; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** --run-dir: put every path under this directory (see paths.ts). */
  runDir?: string;
  /** True for an implicit default config file: a missing file then means "no settings". */
  allowMissing?: boolean;
  /** Told, one line each, of every key the file sets that a command-line flag overrides with another value. */
  onConflict?: (message: string) => void;
}

/** "ENOENT: no such file or directory" from Node's "ENOENT: no such file or directory, open '/x'". */
function errnoText(e: NodeJS.ErrnoException): string {
  return e.code && e.message.startsWith(`${e.code}: `) ? e.message.split(', ')[0]! : (e.code ?? e.message);
}

function readConfigFile(file: string, allowMissing: boolean): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (allowMissing && e.code === 'ENOENT') return undefined;
    throw new ConfigError({ file, what: `cannot read config file (${errnoText(e)})` });
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new ConfigError({ file, what: 'cannot read config file (EISDIR: it is a directory)' });
    if (st.size > MAX_CONFIG_FILE_SIZE) throw new ConfigError({ file, what: 'config file is larger than 10 MiB' });
    return fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError({ file, what: `cannot read config file (${errnoText(e)})` });
  } finally {
    fs.closeSync(fd);
  }
}

function pathLayer(source: string, p: ReturnType<typeof defaultPaths>): SettingLayer {
  return {
    source,
    entries: [
      { key: 'socket_path', value: p.socket },
      { key: 'admin_socket_path', value: p.adminSocket },
      { key: 'state_file', value: p.stateFile },
      { key: 'pid_file', value: p.pidFile },
    ],
  };
}

/**
 * Loads the configuration.
 * @param file config file to read (virtlockd.conf syntax), or undefined for none
 * @param overrides command-line settings; they win over everything else. Relative path values are
 *   resolved against the current directory.
 * @param opts path-default inputs and missing-file behaviour
 * @returns every setting resolved, defaults applied
 * @throws ConfigError with "<file>:<line>: <what>" lines for syntax errors, unknown keys and bad
 *   values; "<file>: cannot read config file (ENOENT: no such file or directory)" for a named file that does not exist
 */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, opts: LoadConfigOptions = {}): HoldfastConfig {
  const uid = opts.uid ?? process.geteuid?.() ?? 0;
  const env = opts.env ?? process.env;
  const layers: SettingLayer[] = [pathLayer('built-in default', defaultPaths({ uid, env }))];

  if (file !== undefined) {
    const text = readConfigFile(file, opts.allowMissing ?? false);
    if (text !== undefined) layers.push({ source: file, entries: parseConf(text, file) });
  }

  if (opts.runDir !== undefined) layers.push(pathLayer('command line (--run-dir)', defaultPaths({ uid, env, runDir: opts.runDir })));

  const cli: SettingLayer['entries'][number][] = [];
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const isPath = (PATH_KEYS as readonly string[]).includes(key) && typeof value === 'string' && value !== '';
    cli.push({ key, value: isPath ? path.resolve(value) : value });
  }
  if (cli.length > 0) layers.push({ source: 'command line', entries: cli });

  if (opts.onConflict && file !== undefined) for (const message of fileConflicts(layers, file)) opts.onConflict(message);
  return resolveSettings(layers);
}

// Keys set by the file (layer `file`) and set again, to another value, by a later command-line layer.
function fileConflicts(layers: readonly SettingLayer[], file: string): string[] {
  const fileIndex = layers.findIndex((l) => l.source === file);
  if (fileIndex < 0) return [];
  const messages: string[] = [];
  for (const entry of layers[fileIndex]!.entries) {
    for (const later of layers.slice(fileIndex + 1)) {
      const winner = later.entries.find((e) => e.key === entry.key);
      if (!winner || winner.value === entry.value) continue;
      const at = entry.line !== undefined ? `${file}:${entry.line}` : file;
      messages.push(`${entry.key} = ${JSON.stringify(entry.value)} (${at}) is overridden by the ${later.source}: ${JSON.stringify(winner.value)}`);
    }
  }
  return messages;
}
