// `holdfast log-level` takes back every name it prints (debug, info, warning, error), pino's `warn` and
// the numbers 1..4; anything else (silent, trace, a typo) is refused in one line, exit 2, and changes nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startHoldfast, type HoldfastHandle } from '../fixtures/holdfast-daemon';

const CLI = join(__dirname, '..', '..', 'src', 'cli', 'holdfast.js');

let dir: string;
let daemon: HoldfastHandle;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'holdfast-log-level-'));
  daemon = await startHoldfast({ dir });
});

after(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, '--run-dir', dir, ...args], (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
  });
}

test('every name the CLI prints is accepted back, and printed as it was given', async () => {
  for (const [given, shown] of [['debug', '1 (debug)'], ['info', '2 (info)'], ['warning', '3 (warning)'], ['error', '4 (error)'], ['warn', '3 (warning)'], ['WARNING', '3 (warning)'], ['2', '2 (info)']]) {
    const run = await cli('log-level', given!);
    assert.equal(run.code, 0, `${given}: ${run.stderr}`);
    assert.match(run.stdout, new RegExp(`^log level: \\d \\(\\w+\\) -> ${shown!.replace(/[()]/g, '\\$&')}\\n$`), given);
    const status = await cli('status');
    assert.match(status.stdout, new RegExp(`^log level: +${shown!.replace(/[()]/g, '\\$&')}$`, 'm'), `status after ${given}`);
  }
});

test('silent, trace and typos are refused once, in one line, and change nothing', async () => {
  await cli('log-level', 'info');
  for (const bad of ['silent', 'trace', 'fatal', 'loud', '5']) {
    const run = await cli('log-level', bad);
    assert.equal(run.code, 2, bad);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.equal(run.stderr.split(`'${bad}'`).length, 2, `the refusal names '${bad}' once: ${run.stderr}`);
    assert.match(lines[0]!, /debug, info, warning/);
    assert.match((await cli('status')).stdout, /^log level: +2 \(info\)$/m, `unchanged after ${bad}`);
  }
});

test('status names the daemon behind the libvirt version virt-admin sees', async () => {
  const status = await cli('status');
  assert.match(status.stdout, /^daemon: +holdfastd \(holdfast\) \d+\.\d+\.\d+, serving virtlockd's lock protocol of libvirt \d+\.\d+\.\d+$/m);
});
