// Until when a host may act on its etcd lease. etcd starts a lease's TTL when its leader handles a keepalive,
// which is after the host sent it; so counting the TTL from the send time errs on the safe side. Two things
// shorten that window further: the host's clock may run slower than the leader's (so the host's TTL would end
// after etcd's), and the host needs time to fence its owners before etcd expires the lease.
// All times are CLOCK_MONOTONIC in nanoseconds (process.hrtime.bigint()): no wall-clock step moves them, and
// they carry across an exec within one boot, so a re-executed supervisor can resume a lease.

/** How much faster etcd's leader's clock may run than ours: 1%, far beyond any quartz's drift. */
export const CLOCK_RATE_ERROR = 0.01;
/** The time kept back for fencing, at most: 1 s ... */
export const SAFETY_MARGIN_MAX_MS = 1_000;
/** ... and at most this fraction of the TTL, so a short TTL keeps most of its window. */
export const SAFETY_MARGIN_TTL_FRACTION = 1 / 5;

/** The fencing margin for a lease of `ttlMs`: min(1 s, TTL/5). */
export function safetyMarginMs(ttlMs: number): number {
  return Math.min(SAFETY_MARGIN_MAX_MS, ttlMs * SAFETY_MARGIN_TTL_FRACTION);
}

/**
 * The monotonic instant (ns) after which a lease of `ttlMs`, last renewed by a keepalive sent at `sentNs` and
 * acknowledged, may no longer be relied on: sent + TTL / (1 + rate error) - margin, rounded down.
 */
export function safeDeadlineNs(sentNs: bigint, ttlMs: number): bigint {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`a lease TTL must be a positive number of ms, not ${ttlMs}`);
  const windowMs = ttlMs / (1 + CLOCK_RATE_ERROR) - safetyMarginMs(ttlMs);
  return sentNs + BigInt(Math.floor(windowMs * 1e6));
}
