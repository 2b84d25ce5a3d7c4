// `holdfast locks | head -1`: a reader that goes away early ends the output, as for any Unix tool. The
// CLI exits 0 with nothing on stderr, with a real pipe whose read end is closed before the CLI writes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';
import { startOwnerProcess, type OwnerProcess } from '../fixtures/owner-process';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js');

let dir: string;
let daemon: HoldfastHandle;
let owner: OwnerProcess;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-pipe-'));
  daemon = await startHoldfast({ dir });
  const disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  owner = await startOwnerProcess({ socket: daemon.socket, acquire: [{ lockspace: '', name: disk }] });
});

after(async () => {
  await owner?.dispose();
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI with stdout on a pipe whose read end this process closes at once. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, '--run-dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // Our end goes before the CLI has even connected: its first write meets EPIPE.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
}

for (const args of [['locks'], ['--json', 'locks'], ['status'], ['--json', 'clients']]) {
  test(`holdfast ${args.join(' ')} into a closed pipe: end of output, exit 0, no stack`, async () => {
    const run = await withClosedStdout(args);
    assert.equal(run.stderr, '');
    assert.equal(run.code, 0);
  });
}

test('a shell pipeline whose reader closes its end at once: the CLI exits 0, silently', async () => {
  // The reader closes stdin before the CLI (a Node start and a connection away) writes; it lingers a moment
  // so that the pipe, not a missing process, is what the CLI meets.
  for (const args of ['locks', '--json locks']) {
    const script = `( "$0" "$1" --run-dir "$2" ${args}; echo "exit=$?" >&2 ) | { exec 0<&-; sleep 1; }`;
    const child = spawn('/bin/sh', ['-c', script, process.execPath, CLI, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise((resolve) => child.once('close', resolve));
    assert.equal(stderr, 'exit=0\n', args);
  }
});
