// The pino logger factory: one root logger per process, one child per component (supervisor, worker,
// rpc, lockspace, custody, …). Every destination is synchronous: the daemon may execve() or be killed at
// any moment and must not lose a line; no worker-thread transport either, since exec would kill the thread.
//
// virtlockd settings honoured:
// - log_level (1 debug, 2 info, 3 warning, 4 error) is the root level (`level`);
// - log_filters: the first filter whose glob (*match*) fits a component name sets that component's
//   level, whatever log_level says (libvirt's rule); filters never apply to the root logger itself;
// - log_outputs: each output gets its own minimum level (pino multistream), as in libvirt:
//     stderr          -> fd 2, JSON or pretty per `format`
//     file:PATH       -> PATH, appended, always JSON lines (pretty is for humans at a terminal)
//     syslog:IDENT, journald -> fd 2 as well (the daemon's config refuses them; see validate-config.ts):
//                        under systemd stderr is connected to the journal, so
//                        it lands in the same place without a syslog/journald client in the daemon.
//                        The ident is not used. All outputs that end on fd 2 are merged into one
//                        stream at the lowest of their levels, so no line is printed twice.
//   With no log_outputs, one stderr output without its own threshold: what passes the component's
//   level is printed (libvirt would cap the default output at log_level; holdfast lets a filter lower it).
// Files are opened close-on-exec (Node's default): after a re-exec the new image opens them again.

import pino, { type DestinationStream, type Level, type Logger, type StreamEntry } from 'pino';
import {
  filterMatches,
  formatLogFilters,
  formatLogOutputs,
  parseLogFilters,
  parseLogOutputs,
  type LibvirtPriority,
  type LogFilterSpec,
  type LogOutputSpec,
} from './log-spec';

/** Output format of stderr: one JSON object per line, or human-readable lines. */
export type LogFormat = 'json' | 'pretty';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Root level: a pino level name (trace, debug, info, warn, error, fatal, silent) or a libvirt priority '1'..'4'. */
  level: string | LibvirtPriority;
  format: LogFormat;
  /** Goes into every line as `name` (e.g. "holdfastd"). */
  name: string;
  /** virtlockd log_outputs syntax, or already parsed outputs; empty or absent: stderr only. */
  outputs?: string | readonly LogOutputSpec[];
  /** virtlockd log_filters syntax, or already parsed filters. */
  filters?: string | readonly LogFilterSpec[];
}

/** What the root logger remembers so components and later admin commands can be re-levelled. */
interface LogState {
  root: Logger;
  level: Level | 'silent';
  filters: LogFilterSpec[];
  outputs: LogOutputSpec[];
  components: Map<string, Logger>;
}

const states = new WeakMap<Logger, LogState>();

const PRIORITY_LEVELS: Record<LibvirtPriority, Level> = { 1: 'debug', 2: 'info', 3: 'warn', 4: 'error' };

/** Maps a libvirt priority to a pino level: 1 debug, 2 info, 3 warn, 4 error. */
export function pinoLevelFromPriority(priority: LibvirtPriority): Level {
  return PRIORITY_LEVELS[priority];
}

/** Maps a pino level to the nearest libvirt priority (trace -> 1, fatal -> 4). */
export function priorityFromPinoLevel(level: string): LibvirtPriority {
  switch (level) {
    case 'trace':
    case 'debug':
      return 1;
    case 'info':
      return 2;
    case 'warn':
      return 3;
    default:
      return 4;
  }
}

/**
 * Normalises a level given as a pino name or a libvirt priority (number or '1'..'4').
 * @throws Error for anything else
 */
export function toPinoLevel(level: string | number): Level | 'silent' {
  if (typeof level === 'number' || /^[1-4]$/.test(level)) {
    const n = Number(level);
    if (n === 1 || n === 2 || n === 3 || n === 4) return pinoLevelFromPriority(n);
  } else if (['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) {
    return level as Level | 'silent';
  }
  throw new Error(`invalid log level '${level}' (expected 1-4 or trace, debug, info, warn, error, fatal, silent)`);
}

function stderrStream(format: LogFormat): DestinationStream {
  if (format === 'pretty') {
    // pino-pretty as a plain stream over a sync SonicBoom on fd 2: formatted in this thread, written before log.x() returns.
    // Loaded only here: JSON logging processes (every worker, a re-executing daemon) skip its load time.
    const pinoPretty = require('pino-pretty') as typeof import('pino-pretty');
    return pinoPretty({ sync: true, destination: 2, colorize: Boolean(process.stderr.isTTY), ignore: 'hostname' });
  }
  return pino.destination({ fd: 2, sync: true });
}

// Every log file this process writes, for SIGHUP (logrotate moves a file away and asks for a new one).
const logFiles = new Set<{ reopen(): void }>();

/** Reopens every log file by its path: after a rotation, logging goes to the new file. */
export function reopenLogFiles(): void {
  for (const file of logFiles) file.reopen();
}

function buildStream(format: LogFormat, outputs: readonly LogOutputSpec[]): DestinationStream {
  if (outputs.length === 0) return stderrStream(format);
  const entries: StreamEntry<Level>[] = [];
  let stderrPriority: LibvirtPriority | undefined;
  for (const o of outputs) {
    if (o.destination === 'file') {
      const file = pino.destination({ dest: o.path, sync: true, append: true, mkdir: true });
      logFiles.add(file);
      entries.push({ level: pinoLevelFromPriority(o.priority), stream: file });
    } else {
      stderrPriority = stderrPriority === undefined ? o.priority : (Math.min(stderrPriority, o.priority) as LibvirtPriority);
    }
  }
  if (stderrPriority !== undefined) entries.push({ level: pinoLevelFromPriority(stderrPriority), stream: stderrStream(format) });
  return pino.multistream(entries);
}

function parseFilters(filters: LoggerOptions['filters']): LogFilterSpec[] {
  return typeof filters === 'string' ? parseLogFilters(filters) : [...(filters ?? [])];
}

/** The level a component gets: its first matching filter, else the root level. */
function componentLevel(state: LogState, component: string): Level | 'silent' {
  const filter = state.filters.find((f) => filterMatches(f, component));
  return filter ? pinoLevelFromPriority(filter.priority) : state.level;
}

/** Finds the state of the root a logger descends from (pino children have their parent as prototype). */
function stateOf(logger: Logger): LogState | undefined {
  for (let l: object | null = logger; l !== null; l = Object.getPrototypeOf(l) as object | null) {
    const state = states.get(l as Logger);
    if (state) return state;
  }
  return undefined;
}

// Keys pino writes into every line itself. pino does not merge a logged object's keys with them: the line
// would carry the key twice (and parsers keep the last). Call sites use their own names (peerPid,
// priority, …); any that slips through is kept under `<key>Field` rather than written twice.
const CORE_KEYS = ['level', 'time', 'pid', 'hostname', 'name', 'msg'] as const;

function withoutCoreKeys(object: Record<string, unknown>): Record<string, unknown> {
  let clash = false;
  for (const key of CORE_KEYS) if (key in object) clash = true;
  if (!clash) return object;
  const renamed: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) renamed[(CORE_KEYS as readonly string[]).includes(key) ? `${key}Field` : key] = value;
  return renamed;
}

/**
 * Creates the process's root logger. All streams are synchronous (see the file header).
 * @throws LogSpecError for malformed outputs or filters, Error for a bad level
 */
export function createLogger(opts: LoggerOptions): Logger {
  const outputs = typeof opts.outputs === 'string' ? parseLogOutputs(opts.outputs) : [...(opts.outputs ?? [])];
  const filters = parseFilters(opts.filters);
  const level = toPinoLevel(opts.level);
  const root = pino({ name: opts.name, level, formatters: { log: withoutCoreKeys } }, buildStream(opts.format, outputs));
  states.set(root, { root, level, filters, outputs, components: new Map() });
  return root;
}

/**
 * The logger of one component: a child with a `component` binding and the level log_filters give it.
 * Returns the same logger for the same component. Loggers made with `.child()` from it follow its level.
 * @param root a logger from {@link createLogger} (or any descendant of one)
 */
export function childLogger(root: Logger, component: string): Logger {
  const state = stateOf(root);
  if (!state) return root.child({ component });
  let child = state.components.get(component);
  if (!child) {
    child = state.root.child({ component });
    state.components.set(component, child);
  }
  child.level = componentLevel(state, component);
  return child;
}

function relevel(state: LogState): void {
  state.root.level = state.level;
  for (const [component, child] of state.components) child.level = componentLevel(state, component);
}

/**
 * Changes the root level at run time (admin command). Components without a matching filter follow;
 * components with one keep the filter's level, and per-output thresholds stay as configured.
 */
export function setLevel(logger: Logger, level: string | LibvirtPriority): void {
  const state = stateOf(logger);
  const pinoLevel = toPinoLevel(level);
  if (!state) {
    logger.level = pinoLevel;
    return;
  }
  state.level = pinoLevel;
  relevel(state);
}

/**
 * Replaces the filters at run time (admin connectSetLoggingFilters) and re-levels every component.
 * @throws LogSpecError for a malformed filter string (nothing is changed then)
 */
export function setFilters(logger: Logger, filters: string | readonly LogFilterSpec[]): void {
  const state = stateOf(logger);
  if (!state) throw new Error('setFilters needs a logger made by createLogger');
  state.filters = parseFilters(filters);
  relevel(state);
}

/** Current settings in virtlockd's terms, for admin answers (connectGetLoggingOutputs/Filters). */
export function getLogSettings(logger: Logger): { level: LibvirtPriority; filters: string; outputs: string } {
  const state = stateOf(logger);
  const level = state?.level ?? logger.level;
  return {
    level: priorityFromPinoLevel(level),
    filters: state ? formatLogFilters(state.filters) : '',
    outputs: state && state.outputs.length > 0 ? formatLogOutputs(state.outputs) : `${priorityFromPinoLevel(level)}:stderr`,
  };
}
