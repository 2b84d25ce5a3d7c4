// Case 10 with a cause: a request that sends the worker into an endless loop (a test hook) wedges every
// worker that runs it. The stall watchdog replaces the wedged worker; the next one announces the waiting
// clients' requests before running them, so the second stall names the culprit, and the third worker
// answers it with an error instead of running it. Everyone else is answered exactly once, the held lock
// stays held, and exactly two workers are killed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendBadRequest } from './bad-request';

const STALL_MS = 600;

test('a request that wedges two workers in a row is answered with an error; everyone else is served', { timeout: 30_000 }, async () => {
  const { logs } = await sendBadRequest({
    name: 'wedge',
    daemon: (bad) => ({ config: `worker_stall_timeout_ms = ${STALL_MS}\n`, env: { HOLDFASTD_TEST_WEDGE_RESOURCE: bad } }),
    answerWithinMs: 3 * STALL_MS + 4_000,
    ownerBase: 0x7ff50000,
  });
  assert.equal((logs.match(/worker stalled/g) ?? []).length, 2, 'stalls other than the two the wedge caused');
  assert.equal((logs.match(/"worker died/g) ?? []).length, 2);
});
