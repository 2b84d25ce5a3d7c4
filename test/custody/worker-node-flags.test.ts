// HOLDFAST_WORKER_NODE_FLAGS puts node flags on the worker's command line only (for profiling a worker:
// --perf-basic-prof, --trace-gc, which NODE_OPTIONS refuses or would apply to the supervisor too).
// --perf-basic-prof is the witness: node writes /tmp/perf-<pid>.map for the process that has it.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startHoldfast } from '../fixtures/holdfast-daemon';
import { workerPid } from '../fixtures/process-info';

const perfMap = (pid: number): string => `/tmp/perf-${pid}.map`;

async function pidsWith(env: NodeJS.ProcessEnv): Promise<{ supervisor: number; worker: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-worker-flags-'));
  const daemon = await startHoldfast({ dir, env });
  try {
    return { supervisor: daemon.pid, worker: await workerPid(daemon.pid) };
  } finally {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the worker gets HOLDFAST_WORKER_NODE_FLAGS, the supervisor does not', async () => {
  const { supervisor, worker } = await pidsWith({ HOLDFAST_WORKER_NODE_FLAGS: '--perf-basic-prof' });
  try {
    assert.ok(existsSync(perfMap(worker)), 'the worker was started with the flag');
    assert.ok(!existsSync(perfMap(supervisor)), 'the supervisor was not');
  } finally {
    rmSync(perfMap(worker), { force: true });
  }
});

test('without HOLDFAST_WORKER_NODE_FLAGS the worker gets no extra flag', async () => {
  const { worker } = await pidsWith({ HOLDFAST_WORKER_NODE_FLAGS: '' });
  assert.ok(!existsSync(perfMap(worker)));
});
