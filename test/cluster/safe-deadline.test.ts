// The safe deadline's arithmetic: TTL shortened by the clock-rate error and the fencing margin, from the send
// time, never rounded up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOCK_RATE_ERROR, SAFETY_MARGIN_MAX_MS, SAFETY_MARGIN_TTL_FRACTION, safeDeadlineNs, safetyMarginMs } from '../../src/supervisor/cluster/safe-deadline';

const MS = 1_000_000n;

test('the constants: 1% rate error, a margin of at most 1 s and at most a fifth of the TTL', () => {
  assert.equal(CLOCK_RATE_ERROR, 0.01);
  assert.equal(SAFETY_MARGIN_MAX_MS, 1_000);
  assert.equal(SAFETY_MARGIN_TTL_FRACTION, 0.2);
  assert.equal(safetyMarginMs(10_000), 1_000);
  assert.equal(safetyMarginMs(5_000), 1_000);
  assert.equal(safetyMarginMs(2_000), 400);
});

test('10 s TTL: 10000/1.01 - 1000 ms after the send time', () => {
  const sent = 123_456_789_000n;
  // 10000 / 1.01 = 9900.990099... ms; less 1000 ms = 8900.990099 ms = 8900990099 ns (floored).
  assert.equal(safeDeadlineNs(sent, 10_000), sent + 8_900_990_099n);
});

test('2 s TTL: the margin is a fifth of the TTL', () => {
  // 2000 / 1.01 = 1980.19801980... ms; less 400 ms = 1580198019 ns (floored).
  assert.equal(safeDeadlineNs(0n, 2_000), 1_580_198_019n);
});

test('never later than the TTL from the send time, always later than the send time; monotonic in the TTL', () => {
  let previous = -1n;
  for (const ttl of [1_000, 1_500, 2_000, 3_000, 5_000, 10_000, 60_000, 3_600_000]) {
    const d = safeDeadlineNs(1_000n * MS, ttl);
    assert.ok(d > 1_000n * MS, `${ttl}`);
    assert.ok(d <= 1_000n * MS + BigInt(ttl) * MS - BigInt(Math.min(1_000, ttl / 5)) * MS, `${ttl}`);
    assert.ok(d > previous);
    previous = d;
  }
});

test('a TTL that is not a positive number is refused', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => safeDeadlineNs(0n, bad), RangeError);
});
