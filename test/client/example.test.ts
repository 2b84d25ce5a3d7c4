// examples/lock-a-disk.ts, the README's "Using the client library", run as a user would run it (importing the
// package by its name) against a real holdfastd; and the README shows that file as it is.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startHoldfast } from '../fixtures/holdfast-daemon';

const REPO = join(__dirname, '..', '..', '..');
const EXAMPLE = join(REPO, 'examples', 'lock-a-disk.ts');

test('the client library example registers, acquires, is refused, asks who, releases: exit 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-example-'));
  const daemon = await startHoldfast({ dir });
  try {
    const disk = join(dir, 'guest-1.qcow2');
    writeFileSync(disk, '');
    // `require('holdfast')` finds this checkout, as it would find the installed package.
    symlinkSync(REPO, join(dir, 'holdfast'));
    const run = spawnSync(process.execPath, [join(REPO, 'dist', 'examples', 'lock-a-disk.js'), daemon.socket, daemon.adminSocket!, disk], {
      encoding: 'utf8',
      env: { ...process.env, NODE_PATH: dir },
      timeout: 60_000,
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}\n${daemon.logs()}`);
    assert.deepEqual(run.stdout.trim().split('\n'), [
      `guest-2 refused: resource busy: Lockspace resource '${disk}' is locked`,
      `${disk} is held exclusive by guest-1 (pid ${run.pid})`,
      'after release: free',
    ]);
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('README.md shows examples/lock-a-disk.ts as it is', () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const shown = /<!-- examples\/lock-a-disk\.ts -->\n```ts\n([\s\S]*?)```\n/.exec(readme);
  assert.ok(shown, 'README.md has no block marked <!-- examples/lock-a-disk.ts -->');
  assert.equal(shown[1], readFileSync(EXAMPLE, 'utf8'));
});
