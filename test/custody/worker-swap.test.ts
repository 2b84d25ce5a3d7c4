// A live worker swap under load, 100 times in a row: no connection lost, no error, no lock dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settleWithin } from '../fixtures/deadline';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';
import { underLoad } from './custody-harness';

const SWAPS = Number(process.env.HOLDFAST_SWAPS ?? 100);

test(`${SWAPS} worker swaps (SIGUSR2) under a 16-client load lose nothing`, { timeout: 300_000 }, async (t) => {
  await underLoad('swap', async ({ daemon }) => {
    for (let i = 0; i < SWAPS; i++) {
      const before = await workerPid(daemon.pid);
      process.kill(daemon.pid, 'SIGUSR2');
      const after = await nextWorkerPid(daemon.pid, before);
      assert.notEqual(after, before, `swap ${i + 1} did not happen`);
    }
    // The new worker shows as serving a moment before the supervisor logs the swap: wait for the last line.
    const logged = (): number => (daemon.logs().match(/"worker swapped"/g) ?? []).length;
    await settleWithin(() => logged() >= SWAPS, 5_000);
    assert.equal(logged(), SWAPS);
  }, (s) => t.diagnostic(s));
});
