// An upgrade may go back to an image older than the binary commit form (an operator rolling back). The
// worker serves on through the exec, and whatever it commits meanwhile waits in the channel for the next
// image: had it still committed in binary, an image that cannot read that form would refuse those commits,
// and with them the requests' custody. So before a carry the worker switches to JSON and says so.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sleep, waitForLog } from '../fixtures/deadline';
import { underLoad } from '../custody/custody-harness';

const ROOT = join(__dirname, '..', '..', '..');

/** A copy of this build (code, addon, package.json) that a test may change on disk. */
function copyOfBuild(dir: string): string {
  const copy = join(dir, 'build-copy');
  mkdirSync(join(copy, 'build', 'Release'), { recursive: true });
  cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  for (const lib of ['holdfast.node', 'signal_guard.so']) cpSync(join(ROOT, 'build', 'Release', lib), join(copy, 'build', 'Release', lib));
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

function rewrite(file: string, from: RegExp, to: string): void {
  const text = readFileSync(file, 'utf8');
  assert.match(text, from, `${file} no longer has what the test replaces`);
  writeFileSync(file, text.replace(from, to));
}

/** Makes the copy's code an image from before binary commits: it neither asks for them nor reads them. */
function makeOlder(copy: string): void {
  const dist = join(copy, 'dist', 'src');
  rewrite(join(dist, 'shared', 'custody', 'commit-codec.js'), /function decodeCommit\(data\) \{/, "function decodeCommit(data) { throw new CommitCodecError('this image reads no binary commits');");
  rewrite(join(dist, 'supervisor', 'workers', 'worker-process.js'), /commit: binary \? \[commit_codec_1\.COMMIT_CODEC_VERSION\] : \[\]/, 'commit: []');
}

test('an upgrade to an image that reads no binary commits loses no request and no lock', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-older-image-'));
  try {
    const copy = copyOfBuild(dir);
    await underLoad(
      'older-image',
      async ({ daemon }) => {
        // Let the load run in binary for a while first (the worker is told binary before it serves).
        await sleep(500);
        makeOlder(copy);
        process.kill(daemon.pid, 'SIGUSR1');
        await waitForLog(daemon.logs, /upgraded: restored every lock and client/, 1);
        assert.doesNotMatch(daemon.logs(), /refusing an unreadable control message/, 'the new image refused commits');
      },
      (s) => t.diagnostic(s),
      join(copy, 'dist', 'src', 'cli', 'holdfastd.js'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
