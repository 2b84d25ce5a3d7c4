// `npm test` as a user other than root refuses at once, in one line saying why, instead of failing part-way
// and hanging; as root its first step passes silently.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(__dirname, '..', '..', '..');
const CHECK = join(ROOT, 'scripts', 'tests-need-root.cjs');
const NOBODY = 65534;
const REFUSAL = /^npm test: the tests must run as root \(uid 0; you are uid 65534\): .*; run: sudo npm test$/;

test('npm test as nobody: one line, exit 1, within seconds', () => {
  const home = mkdtempSync(join(tmpdir(), 'holdfast-npm-home-'));
  chownSync(home, NOBODY, NOBODY);
  try {
    const env = { PATH: process.env.PATH, HOME: home, npm_config_update_notifier: 'false' };
    const run = spawnSync('setpriv', [`--reuid=${NOBODY}`, '--regid=nogroup', '--clear-groups', '--', 'npm', 'test'], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 1, run.stderr);
    const ours = run.stderr.split('\n').filter((l) => l.startsWith('npm test:'));
    assert.equal(ours.length, 1, run.stderr);
    assert.match(ours[0]!, REFUSAL);
    assert.doesNotMatch(run.stdout, /^# tests/m, 'no test ran');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('the check as root: silent, exit 0', () => {
  const run = spawnSync(process.execPath, [CHECK], { encoding: 'utf8' });
  assert.equal(run.status, 0);
  assert.equal(run.stderr, '');
});
