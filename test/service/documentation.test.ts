// The man pages and the bash completion, as built (npm run build) from the command lines' own definitions:
// both pages render with `man -l` without a warning, name every flag and command of the command line they
// document (read from commander, not from the pages' generator), every config key, request signal and
// environment variable the daemon reads; package.json installs them; the completion completes in bash.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandDefinition } from '../../scripts/docs/cli-definitions';
import { REQUEST_SIGNALS } from '../../src/shared/platform/signal-intake';
import { SETTINGS_SCHEMA } from '../../src/supervisor/config/schema';

const REPO = join(__dirname, '..', '..', '..');
const DAEMON_PAGE = join(REPO, 'dist', 'man', 'man8', 'holdfastd.8');
const CLIENT_PAGE = join(REPO, 'dist', 'man', 'man1', 'holdfast.1');
const COMPLETION = join(REPO, 'dist', 'completion', 'holdfast.bash');

/** The command lines as commander defines them, from a process of their own (loading the daemon's CLI installs its signal intake). */
function commandLines(): { holdfastd: CommandDefinition; holdfast: CommandDefinition } {
  const run = spawnSync(process.execPath, [join(REPO, 'dist', 'scripts', 'docs', 'cli-definitions.js')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { holdfastd: CommandDefinition; holdfast: CommandDefinition };
}

/** The page as `man -l` renders it: wide, unhyphenated, so every word stays whole. Fails on any warning. */
function render(page: string): string {
  const run = spawnSync('man', ['--warnings', '-l', page], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '250', MANROFFOPT: '-rHY=0', MAN_KEEP_FORMATTING: '', PAGER: 'cat' },
  });
  if (run.error) assert.fail(`man: ${run.error.message} (install Debian's man-db)`);
  assert.equal(run.stderr, '', `man -l ${page} warned`);
  assert.equal(run.status, 0);
  return run.stdout;
}

/** Whether `word` stands whole in `text` (not as part of a longer flag or name). */
function names(text: string, word: string): boolean {
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w-])${escaped}(?![\\w-])`, 'm').test(text);
}

function missing(text: string, words: string[]): string[] {
  return words.filter((w) => !names(text, w));
}

test('holdfastd(8) renders without warnings and names every flag, config key, request signal and environment variable', () => {
  const page = render(DAEMON_PAGE);
  const cli = commandLines().holdfastd;
  assert.ok(cli.options.length > 10);
  assert.deepEqual(missing(page, cli.options.flatMap((o) => o.names)), [], 'flags of holdfastd missing from holdfastd(8)');
  assert.deepEqual(missing(page, Object.keys(SETTINGS_SCHEMA.properties)), [], 'config keys missing from holdfastd(8)');
  assert.deepEqual(missing(page, [...REQUEST_SIGNALS]), [], 'signals missing from holdfastd(8)');
  for (const heading of ['SYNOPSIS', 'OPTIONS', 'CONFIGURATION', 'SIGNALS', 'FILES', 'ENVIRONMENT', 'EXIT STATUS', 'SEE ALSO']) {
    assert.match(page, new RegExp(`^${heading}$`, 'm'));
  }
  // Every environment variable the daemon's code reads.
  const read = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const file = join(dir, entry);
      if (statSync(file).isDirectory()) walk(file);
      else if (file.endsWith('.ts')) for (const m of readFileSync(file, 'utf8').matchAll(/\benv\.([A-Z][A-Z0-9_]+)/g)) read.add(m[1]!);
    }
  };
  walk(join(REPO, 'src'));
  assert.ok(read.has('LISTEN_FDS'));
  assert.deepEqual(missing(page, [...read].sort()), [], 'environment variables missing from holdfastd(8)');
  for (const code of ['0', '1', '2']) assert.match(page, new RegExp(`^\\s+${code}\\s`, 'm'), `exit status ${code}`);
});

test('holdfast(1) renders without warnings and names every command and every flag', () => {
  const page = render(CLIENT_PAGE);
  const cli = commandLines().holdfast;
  assert.ok(cli.commands.length >= 8);
  assert.deepEqual(missing(page, cli.options.flatMap((o) => o.names)), [], 'global flags missing from holdfast(1)');
  for (const command of cli.commands) {
    assert.ok(names(page, command.name), `command ${command.name} missing from holdfast(1)`);
    const flags = command.options.flatMap((o) => o.names).filter((n) => n !== '-h' && n !== '--help');
    assert.deepEqual(missing(page, flags), [], `flags of holdfast ${command.name} missing from holdfast(1)`);
  }
});

test('the names check fails for a flag a page does not have', () => {
  const page = render(CLIENT_PAGE);
  assert.deepEqual(missing(page, ['--no-such-flag', '--json']), ['--no-such-flag']);
  assert.equal(names('--run-dir-x <dir>', '--run-dir'), false, 'a longer flag does not count');
});

test('package.json installs both man pages and ships the completion', () => {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { man: string[]; files: string[] };
  assert.deepEqual(pkg.man, ['dist/man/man8/holdfastd.8', 'dist/man/man1/holdfast.1']);
  for (const page of pkg.man) assert.ok(existsSync(join(REPO, page)), `${page} was not built`);
  assert.ok(pkg.files.includes('dist/man/') && pkg.files.includes('dist/completion/'));
});

/** Runs bash's completion for `holdfast <words…>` (the last word being completed); returns the candidates. */
function complete(words: string[], cwd: string): string[] {
  const script = [
    `source ${JSON.stringify(COMPLETION)}`,
    'complete -p holdfast >/dev/null || exit 3',
    `COMP_WORDS=(holdfast ${words.map((w) => JSON.stringify(w)).join(' ')})`,
    'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
    '_holdfast',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { cwd, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.split('\n').filter((l) => l !== '').sort();
}

test('bash completion for holdfast: commands, global and per-command flags, file names for who', () => {
  const cli = commandLines().holdfast;
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-completion-'));
  try {
    writeFileSync(join(dir, 'disk.qcow2'), '');
    assert.deepEqual(complete([''], dir).filter((w) => !w.startsWith('-')), cli.commands.map((c) => c.name).sort());
    assert.deepEqual(complete(['--'], dir), cli.options.flatMap((o) => o.names).filter((n) => n.startsWith('--')).sort());
    assert.deepEqual(complete(['lo'], dir), ['locks', 'lockspaces', 'log-level']);
    assert.ok(complete(['--json', 'locks', '--'], dir).includes('--owner'), 'locks\' own flags');
    assert.deepEqual(complete(['--run-dir', './run', 'who', 'di'], dir), ['disk.qcow2']);
    assert.deepEqual(complete(['--admin-socket', 'di'], dir), ['disk.qcow2'], 'a flag\'s value is a file name');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
