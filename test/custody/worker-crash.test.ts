// kill -9 of the serving worker at random moments under load, 100 times: every request is answered once,
// every connection stays open and every lock stays held.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sleep } from '../fixtures/deadline';
import { nextWorkerPid, workerPid } from '../fixtures/process-info';
import { underLoad } from './custody-harness';

const KILLS = Number(process.env.HOLDFAST_KILLS ?? 100);

test(`${KILLS} SIGKILLs of the worker under a 16-client load lose nothing`, { timeout: 300_000 }, async (t) => {
  await underLoad('crash', async ({ daemon }) => {
    for (let i = 0; i < KILLS; i++) {
      const victim = await workerPid(daemon.pid, 15_000);
      // A random moment of the victim's serving life.
      await sleep(100 + Math.random() * 200);
      process.kill(victim, 'SIGKILL');
      const next = await nextWorkerPid(daemon.pid, victim);
      assert.notEqual(next, victim, `no new worker after kill ${i + 1}`);
    }
    assert.doesNotMatch(daemon.logs(), /crash-looping/);
  }, (s) => t.diagnostic(s));
});
