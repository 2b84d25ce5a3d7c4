// When the supervisor starts the next worker: at once while deaths are few or the worker lived long, with
// a doubling wait once five in a row died young (or of their own fault within a minute), up to 30 s.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RespawnPolicy, diedOfItsOwnFault } from '../../src/supervisor/workers/respawn-policy';

test('five quick deaths are tolerated; after that the wait doubles from 100 ms up to 30 s', () => {
  const policy = new RespawnPolicy();
  const delays = Array.from({ length: 16 }, () => policy.delayAfter(10, false));
  assert.deepEqual(delays.slice(0, 5), [0, 0, 0, 0, 0]);
  assert.deepEqual(delays.slice(5, 10), [100, 200, 400, 800, 1600]);
  assert.equal(delays[15], 30_000);
  assert.equal(policy.failures, 16);
});

test('a worker that lived past the window resets the count, unless it died of its own fault within a minute', () => {
  const policy = new RespawnPolicy();
  for (let i = 0; i < 5; i++) policy.delayAfter(0, false);
  assert.equal(policy.delayAfter(30_000, true), 100, 'a fault after 30 s still counts');
  assert.equal(policy.delayAfter(30_000, false), 0, 'a death after 30 s not of its own fault does not');
  assert.equal(policy.failures, 0);
  assert.equal(policy.delayAfter(120_000, true), 0, 'a fault after two minutes does not count');
});

test('a crash is a non-zero exit or a signal nobody outside sends to end a process', () => {
  assert.equal(diedOfItsOwnFault({ code: 70, signal: null }), true);
  assert.equal(diedOfItsOwnFault({ code: 0, signal: null }), false);
  assert.equal(diedOfItsOwnFault({ code: null, signal: 'SIGABRT' }), true);
  assert.equal(diedOfItsOwnFault({ code: null, signal: 'SIGKILL' }), false);
  assert.equal(diedOfItsOwnFault({ code: null, signal: 'SIGTERM' }), false);
});
