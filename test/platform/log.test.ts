// Logging: virtlockd log_outputs / log_filters syntax, pino outputs on real files, component levels,
// and stderr output (JSON and pretty) captured from a child process that is SIGKILLed right after logging.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  filterMatches,
  formatLogOutputs,
  LogSpecError,
  parseLogFilters,
  parseLogOutputs,
} from '../../src/shared/platform/log-spec';
import {
  childLogger,
  createLogger,
  getLogSettings,
  pinoLevelFromPriority,
  setFilters,
  setLevel,
  toPinoLevel,
} from '../../src/shared/platform/log';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-log-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const newLogFile = (): string => path.join(dir, `out${++counter}.log`);

interface Line {
  level: number;
  msg: string;
  name: string;
  component?: string;
  [k: string]: unknown;
}

/** Every JSON line written to a log file so far (outputs are synchronous: no waiting needed). */
function readLines(file: string): Line[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}
const msgs = (file: string): string[] => readLines(file).map((l) => l.msg);

// ---- log_outputs / log_filters syntax ----

test('log_outputs: every destination, several outputs, relative file paths made absolute', () => {
  assert.deepEqual(parseLogOutputs('3:stderr  1:file:/var/log/x.log 2:syslog:virtlockd 4:journald 2:file:rel.log'), [
    { priority: 3, destination: 'stderr' },
    { priority: 1, destination: 'file', path: '/var/log/x.log' },
    { priority: 2, destination: 'syslog', ident: 'virtlockd' },
    { priority: 4, destination: 'journald' },
    { priority: 2, destination: 'file', path: path.resolve('rel.log') },
  ]);
  assert.deepEqual(parseLogOutputs(''), []);
  assert.deepEqual(parseLogOutputs('   '), []);
});

test('log_outputs: a repeated destination replaces the earlier one and moves to the end, as in virtlockd', () => {
  const outs = parseLogOutputs('1:stderr 1:file:/a 3:stderr 2:file:/b 4:file:/a');
  assert.equal(formatLogOutputs(outs), '3:stderr 2:file:/b 4:file:/a');
});

test('log_outputs: malformed entries are refused with the entry named', () => {
  const bad: Array<[string, RegExp]> = [
    ['stderr', /malformed output 'stderr'/],
    ['0:stderr', /invalid priority '0' in '0:stderr'/],
    ['x:stderr', /invalid priority 'x'/],
    ['3:nowhere', /unknown destination 'nowhere'/],
    ['3:stderr:extra', /stderr takes no argument/],
    ['3:journald:x', /journald takes no argument/],
    ['3:file', /file needs exactly one argument/],
    ['3:file:', /file needs exactly one argument/],
    ['3:file:/a:b', /file needs exactly one argument/],
    ['3:syslog', /syslog needs exactly one argument/],
    ['3:stderr\t4:journald', /stderr takes no argument|unknown destination/], // a tab is not a separator
  ];
  for (const [spec, re] of bad) assert.throws(() => parseLogOutputs(spec), (e: unknown) => e instanceof LogSpecError && re.test(e.message), spec);
});

test('log_filters: priorities, leading "+" dropped, extra fields ignored; bad ones refused', () => {
  assert.deepEqual(parseLogFilters('1:locking 4:+object  3:util:extra'), [
    { priority: 1, match: 'locking' },
    { priority: 4, match: 'object' },
    { priority: 3, match: 'util' },
  ]);
  assert.throws(() => parseLogFilters('rpc'), /malformed filter 'rpc'/);
  assert.throws(() => parseLogFilters('5:rpc'), /invalid priority '5'/);
  assert.throws(() => parseLogFilters('1:+'), /empty match/);
});

test('log_filters: match is a glob with an implicit * on both sides', () => {
  const f = (match: string) => ({ priority: 1 as const, match });
  assert.ok(filterMatches(f('rpc'), 'rpc'));
  assert.ok(filterMatches(f('lock'), 'lockspace'));
  assert.ok(filterMatches(f('space'), 'lockspace'));
  assert.ok(filterMatches(f('l*e'), 'lockspace'));
  assert.ok(filterMatches(f('r?c'), 'rpc'));
  assert.ok(!filterMatches(f('rpcx'), 'rpc'));
  assert.ok(!filterMatches(f('r.c'), 'rpc'), '"." is literal');
});

test('levels: libvirt 1..4 map to debug, info, warn, error', () => {
  assert.deepEqual([1, 2, 3, 4].map((p) => pinoLevelFromPriority(p as 1 | 2 | 3 | 4)), ['debug', 'info', 'warn', 'error']);
  assert.equal(toPinoLevel('2'), 'info');
  assert.equal(toPinoLevel(4), 'error');
  assert.equal(toPinoLevel('trace'), 'trace');
  assert.throws(() => toPinoLevel('5'), /invalid log level '5'/);
  assert.throws(() => toPinoLevel('verbose'), /invalid log level/);
});

// ---- outputs on real files ----

test('a file output gets JSON lines at and above its own level', () => {
  const file = newLogFile();
  const log = createLogger({ level: 'debug', format: 'json', name: 'hf-test', outputs: `2:file:${file}` });
  log.debug('dropped by the output level');
  log.info('kept info');
  log.error({ detail: 42 }, 'kept error');
  const lines = readLines(file);
  assert.deepEqual(lines.map((l) => l.msg), ['kept info', 'kept error']);
  assert.equal(lines[0]!.name, 'hf-test');
  assert.equal(lines[0]!.level, 30);
  assert.equal(lines[1]!.detail, 42);
  assert.equal(typeof lines[1]!.time, 'number');
  assert.equal(lines[1]!.pid, process.pid);
});

test('several file outputs, each with its level; files stay JSON when the format is pretty; dirs are created', () => {
  const all = newLogFile();
  const errorsOnly = path.join(dir, 'nested', 'deeper', 'errors.log');
  const log = createLogger({ level: 1, format: 'pretty', name: 'hf-test', outputs: `1:file:${all} 4:file:${errorsOnly}` });
  log.debug('d');
  log.warn('w');
  log.error('e');
  assert.deepEqual(msgs(all), ['d', 'w', 'e']);
  assert.deepEqual(msgs(errorsOnly), ['e']);
});

test('root level (log_level) cuts before the outputs do', () => {
  const file = newLogFile();
  const log = createLogger({ level: '3', format: 'json', name: 'hf-test', outputs: `1:file:${file}` });
  log.info('below log_level');
  log.warn('at log_level');
  assert.deepEqual(msgs(file), ['at log_level']);
});

test('childLogger: component binding; log_filters set a component level either way of log_level', () => {
  const file = newLogFile();
  const root = createLogger({ level: 'warn', format: 'json', name: 'hf-test', outputs: `1:file:${file}`, filters: '1:rpc 4:lock*' });
  const rpc = childLogger(root, 'rpc');
  const lockspace = childLogger(root, 'lockspace');
  const supervisor = childLogger(root, 'supervisor');
  assert.equal(childLogger(root, 'rpc'), rpc, 'one logger per component');
  rpc.debug('rpc debug');
  lockspace.warn('lockspace warn');
  lockspace.error('lockspace error');
  supervisor.info('supervisor info');
  supervisor.warn('supervisor warn');
  const lines = readLines(file);
  assert.deepEqual(
    lines.map((l) => [l.component, l.msg]),
    [
      ['rpc', 'rpc debug'],
      ['lockspace', 'lockspace error'],
      ['supervisor', 'supervisor warn'],
    ],
  );
});

test('setLevel: root, unfiltered components and their children follow; filtered components keep their level', () => {
  const file = newLogFile();
  const root = createLogger({ level: 'warn', format: 'json', name: 'hf-test', outputs: `1:file:${file}`, filters: '4:custody' });
  const worker = childLogger(root, 'worker');
  const custody = childLogger(root, 'custody');
  const perClient = worker.child({ client: 7 });
  worker.info('before');
  setLevel(root, 'info');
  root.info('root info');
  worker.info('worker info');
  perClient.info('client info');
  custody.warn('custody warn (filtered to error)');
  setLevel(worker, 2); // any logger of the tree works, and libvirt priorities too
  assert.deepEqual(msgs(file), ['root info', 'worker info', 'client info']);
  assert.equal(readLines(file)[2]!.client, 7);
  assert.deepEqual(getLogSettings(root), { level: 2, filters: '4:custody', outputs: `1:file:${file}` });
});

test('setFilters: replaces the filters and re-levels the components', () => {
  const file = newLogFile();
  const root = createLogger({ level: 'info', format: 'json', name: 'hf-test', outputs: `1:file:${file}` });
  const rpc = childLogger(root, 'rpc');
  rpc.debug('not yet');
  setFilters(root, '1:rpc');
  rpc.debug('now');
  assert.throws(() => setFilters(root, 'bogus'), LogSpecError);
  rpc.debug('still filtered after a refused change');
  setFilters(root, '');
  rpc.debug('not any more');
  assert.deepEqual(msgs(file), ['now', 'still filtered after a refused change']);
  assert.deepEqual(getLogSettings(root), { level: 2, filters: '', outputs: `1:file:${file}` });
});

test('createLogger refuses malformed outputs, filters and levels', () => {
  assert.throws(() => createLogger({ level: 'info', format: 'json', name: 'x', outputs: '3:nowhere' }), LogSpecError);
  assert.throws(() => createLogger({ level: 'info', format: 'json', name: 'x', filters: '7:rpc' }), LogSpecError);
  assert.throws(() => createLogger({ level: 'loud', format: 'json', name: 'x' }), /invalid log level/);
});

// ---- stderr, in a child process killed right after logging ----

const LOG_MODULE = path.join(__dirname, '..', '..', 'src', 'shared', 'platform', 'log.js');

/** Runs `body` in a child with `log` and `childLogger` in scope, SIGKILLs it, returns its stderr. */
function stderrOf(loggerOptions: object, body: string): string {
  const code = [
    `const { createLogger, childLogger } = require(${JSON.stringify(LOG_MODULE)});`,
    `const log = createLogger(${JSON.stringify(loggerOptions)});`,
    body,
    // No exit handlers, no flush: only what was written synchronously survives.
    `process.kill(process.pid, 'SIGKILL');`,
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.signal, 'SIGKILL', `child should die by SIGKILL; stderr: ${r.stderr}`);
  return r.stderr;
}

test('stderr JSON: one JSON object per line, nothing lost when the process is killed', () => {
  const err = stderrOf({ level: 'info', format: 'json', name: 'hf-child' }, "log.info('json hello'); childLogger(log, 'rpc').warn({ n: 1 }, 'from rpc');");
  const lines = err.trim().split('\n').map((l) => JSON.parse(l) as Line);
  assert.deepEqual(lines.map((l) => [l.name, l.component, l.msg]), [['hf-child', undefined, 'json hello'], ['hf-child', 'rpc', 'from rpc']]);
});

test('stderr pretty: human-readable lines containing the message, nothing lost when killed', () => {
  const err = stderrOf(
    { level: 'info', format: 'pretty', name: 'hf-child' },
    "log.info('pretty hello'); childLogger(log, 'custody').error('custody trouble'); log.debug('hidden');",
  );
  assert.match(err, /INFO.*pretty hello/);
  assert.match(err, /ERROR.*custody trouble/);
  assert.match(err, /component: "custody"/);
  assert.doesNotMatch(err, /hidden/);
  assert.doesNotMatch(err, /^\{/m, 'no raw JSON');
  // The same through a multistream (explicit outputs): journald goes to stderr, pretty too.
  const viaOutputs = stderrOf({ level: 'debug', format: 'pretty', name: 'hf-child', outputs: '2:journald' }, "log.debug('hidden'); log.warn('warned');");
  assert.match(viaOutputs, /WARN.*warned/);
  assert.doesNotMatch(viaOutputs, /hidden/);
});

test('syslog and journald outputs write to stderr, once, at the lowest of their levels', () => {
  const err = stderrOf(
    { level: 'debug', format: 'json', name: 'hf-child', outputs: '3:syslog:virtlockd 2:journald 4:stderr' },
    "log.debug('debug dropped'); log.info('info kept'); log.error('error kept');",
  );
  assert.deepEqual(err.trim().split('\n').map((l) => (JSON.parse(l) as Line).msg), ['info kept', 'error kept']);
});

test('many lines in a burst all reach stderr before a SIGKILL', () => {
  const err = stderrOf({ level: 'info', format: 'pretty', name: 'hf-child' }, "for (let i = 0; i < 2000; i++) log.info('line ' + i);");
  const lines = err.trim().split('\n');
  assert.equal(lines.length, 2000);
  assert.match(lines[1999]!, /line 1999$/);
});
