// Case 4, the supervisor's side: a request that kills every worker that takes it up (here a test hook
// makes its commit throw, as an oversized commit did) is answered with a libvirt error after it has
// crashed two workers in a row, and logged; everyone else is served throughout and every held lock stays
// held. No endless restarts: exactly two workers die.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendBadRequest } from './bad-request';

test('a request that crashes two workers in a row is answered with an error; everyone else is served', { timeout: 30_000 }, async () => {
  const { logs } = await sendBadRequest({
    name: 'poison',
    daemon: (bad) => ({ extraArgs: ['-v'], env: { HOLDFASTD_TEST_POISON_RESOURCE: bad } }),
    answerWithinMs: 5_000,
    ownerBase: 0x7ff30000,
  });
  assert.equal((logs.match(/"worker died/g) ?? []).length, 2, 'workers died other than the two the poison took');
  assert.match(logs, /"procedure":"AcquireResource"[^\n]*"error":"Error: test fault[^\n]*crashed or wedged two workers in a row/);
});
