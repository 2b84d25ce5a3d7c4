// This host's one etcd lease, which every cluster lock of the host hangs on. The supervisor keeps it alive; the
// moment it can no longer be sure etcd still holds it, it says so ('deadline-passed') so that the supervisor
// fences every owner of a cluster lock before etcd can expire the lease and hand a lock to another host.
//
// "Sure" is the safe deadline (supervisor/cluster/safe-deadline.ts): from the send time of the last keepalive etcd
// acknowledged, the TTL less the clock-rate error and a fencing margin. Every decision reads the monotonic
// clock, so a late timer or a blocked event loop shortens nothing: an ack handled after the deadline renews
// nothing, and the deadline fires as soon as the process runs again. A lease whose deadline passed is
// abandoned for good, even if etcd later answers for it; the host starts over with a new lease.
//
// Each keepalive is its own LeaseKeepAlive stream on etcd3's lower-level client: one request, one answer,
// then a half-close, with a deadline on the stream. A member that hangs fails that one keepalive and nothing
// else, the next goes to another member, and no keepalive waits behind another. (Cancelling a stream would
// make etcd3 count a failure against the member; half-closing ends it cleanly.)
import { EventEmitter } from 'node:events';
import { isBrokenCircuitError } from 'cockatiel';
import { EtcdInvalidAuthTokenError, castGrpcError, type Etcd3, type IDuplexStream, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterLeaseStatus } from '../../shared/custody/supervisor-status';
import { ETCD_REQUEST_TIMEOUT_MS } from '../../shared/cluster/etcd-client-options';
import { safeDeadlineNs } from './safe-deadline';

/** What a successor process needs to go on with this host's lease (an in-place upgrade carries it). */
export interface CarriedLease {
  id: string;
  /** CLOCK_MONOTONIC ns of the send of the last keepalive (or grant) etcd acknowledged. */
  lastAckSentNs: bigint;
}

export interface HostLeaseOptions {
  client: Etcd3;
  /** The lease's TTL; etcd counts whole seconds, so it grants ceil(ttlMs / 1000) s, and we count ttlMs. */
  ttlMs: number;
  log: Logger;
  /** A lease handed over by the process before this one, to adopt instead of granting a new one. */
  resume?: CarriedLease | null;
  /** Says why an etcd call failed, for the log (default: the error's message). */
  describeFailure?: (err: unknown) => string;
}

export type HostLeaseState = ClusterLeaseStatus['state'];

/** The lease as `holdfast cluster` shows it (the supervisor's status carries it to the worker). */
export type HostLeaseStatus = ClusterLeaseStatus;

/**
 * Events: 'granted' (id: string) when a new lease is granted; 'renewed' (deadlineNs: bigint) when an
 * acknowledged keepalive moves the safe deadline; 'lost' (id: string) when etcd answers that the lease is gone
 * (then 'deadline-passed' follows at once); 'deadline-passed' (id: string), emitted synchronously at the safe
 * deadline: its listeners must fence before they return, for the lease is never used again.
 */
export interface HostLeaseEvents {
  granted: [id: string];
  renewed: [deadlineNs: bigint];
  lost: [id: string];
  'deadline-passed': [id: string];
}

const NS_PER_MS = 1_000_000n;
/** Retries of a failed grant or keepalive start here and double up to the cap. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 1_000;
/** Keepalives in flight at once, at most: each ends by its deadline, so more would only pile onto a hung etcd. */
const MAX_KEEPALIVES_IN_FLIGHT = 3;
/** A grant failing the same way again is logged at most this often (a retry a second would flood the log). */
const SAME_FAILURE_LOG_MS = 30_000;

const nowNs = (): bigint => process.hrtime.bigint();

export class HostLease extends EventEmitter<HostLeaseEvents> {
  readonly #client: Etcd3;
  readonly #ttlMs: number;
  readonly #log: Logger;
  readonly #resume: CarriedLease | null;
  readonly #describeFailure: (err: unknown) => string;

  #state: HostLeaseState = 'granting';
  #id: string | null = null;
  #deadlineNs: bigint | null = null;
  #lastAckSentNs: bigint | null = null;
  #lastRenewedAt: number | null = null;
  /** Leases whose deadline passed: never renewed again, whatever etcd answers. */
  readonly #abandoned = new Set<string>();

  #started = false;
  #stopped = false;
  #granting = false;
  #deadlineTimer: NodeJS.Timeout | null = null;
  #keepaliveTimer: NodeJS.Timeout | null = null;
  #retryMs = RETRY_FIRST_MS;
  readonly #streams = new Set<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>>();
  #inFlight = 0;
  #failing = false;

  #keepalivesSent = 0;
  #keepalivesAcked = 0;
  #deadlinesPassed = 0;

  constructor(options: HostLeaseOptions) {
    super();
    if (!Number.isFinite(options.ttlMs) || options.ttlMs <= 0) throw new RangeError(`a lease TTL must be a positive number of ms, not ${options.ttlMs}`);
    this.#client = options.client;
    this.#ttlMs = options.ttlMs;
    this.#log = options.log;
    this.#resume = options.resume ?? null;
    this.#describeFailure = options.describeFailure ?? ((err) => (err as Error)?.message ?? String(err));
  }

  /** The lease while it is within its safe deadline, else null. */
  get id(): string | null {
    return this.#id;
  }

  /** The safe deadline (CLOCK_MONOTONIC ns) of the lease, or null without one. */
  get deadlineNs(): bigint | null {
    return this.#deadlineNs;
  }

  /** Send time (CLOCK_MONOTONIC ns) of the last acknowledged keepalive or grant of the lease, or null without one. */
  get lastAckSentNs(): bigint | null {
    return this.#lastAckSentNs;
  }

  status(): HostLeaseStatus {
    const left = this.#deadlineNs === null ? null : this.#deadlineNs - nowNs();
    return {
      state: this.#state,
      id: this.#id,
      ttlMs: this.#ttlMs,
      msLeft: left === null ? null : Math.max(0, Number(left / NS_PER_MS)),
      lastRenewedAt: this.#lastRenewedAt,
      keepalivesSent: this.#keepalivesSent,
      keepalivesAcked: this.#keepalivesAcked,
      deadlinesPassed: this.#deadlinesPassed,
    };
  }

  /**
   * Grants the lease (retrying until etcd answers) or adopts the resumed one. A resumed lease already past its
   * safe deadline gets 'deadline-passed' within this call, so attach listeners first. Never throws.
   */
  start(): void {
    if (this.#started) throw new Error('HostLease.start() called twice');
    this.#started = true;
    const resume = this.#resume;
    if (resume === null) {
      this.#grant();
      return;
    }
    this.#id = resume.id;
    this.#lastAckSentNs = resume.lastAckSentNs;
    this.#deadlineNs = safeDeadlineNs(resume.lastAckSentNs, this.#ttlMs);
    this.#state = 'held';
    this.#log.info({ lease: resume.id, msLeft: this.status().msLeft }, 'resuming the host lease');
    if (this.#checkDeadline()) return;
    this.#armDeadline();
    this.#sendKeepalive();
  }

  /** What a successor needs to resume this lease, or null without a valid lease. */
  carry(): CarriedLease | null {
    if (this.#id === null || this.#lastAckSentNs === null) return null;
    return { id: this.#id, lastAckSentNs: this.#lastAckSentNs };
  }

  /** Stops renewing; with `revoke`, revokes the lease in etcd (one call, bounded by its deadline). */
  async stop({ revoke }: { revoke: boolean }): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#clearTimers();
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
    const id = this.#id;
    if (revoke && id !== null) {
      this.#id = null;
      this.#deadlineNs = null;
      this.#lastAckSentNs = null;
      await this.#revoke(id);
    }
  }

  // --- granting -------------------------------------------------------------------------------------------

  /** Grants a new lease, retrying with backoff while etcd does not answer; one grant loop at a time. */
  #grant(): void {
    if (this.#granting || this.#stopped) return;
    this.#granting = true;
    void this.#grantLoop().finally(() => {
      this.#granting = false;
    });
  }

  async #grantLoop(): Promise<void> {
    let retryMs = RETRY_FIRST_MS;
    let logged: { why: string; at: number } | null = null;
    while (!this.#stopped) {
      const sentNs = nowNs();
      try {
        const granted = await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(this.#ttlMs / 1000) });
        if (this.#stopped) {
          await this.#revoke(granted.ID);
          return;
        }
        const deadline = safeDeadlineNs(sentNs, this.#effectiveTtlMs(granted.TTL));
        if (nowNs() >= deadline) {
          // The grant took longer than the lease's safe window: useless, and a later keepalive cannot mend that.
          this.#log.warn({ lease: granted.ID }, 'the granted lease was past its safe deadline on arrival; granting another');
          this.#abandoned.add(granted.ID);
          void this.#revoke(granted.ID);
          continue;
        }
        this.#id = granted.ID;
        this.#lastAckSentNs = sentNs;
        this.#deadlineNs = deadline;
        this.#lastRenewedAt = Date.now();
        this.#state = 'held';
        this.#retryMs = RETRY_FIRST_MS;
        this.#failing = false;
        this.#armDeadline();
        this.#scheduleKeepalive(this.#intervalMs());
        this.#log.info({ lease: granted.ID, ttlMs: this.#ttlMs }, 'host lease granted');
        this.emit('granted', granted.ID);
        return;
      } catch (err) {
        // An open breaker only says that etcd failed just before, which was said then.
        const why = isBrokenCircuitError(err) ? null : this.#describeFailure(err);
        if (why !== null && (logged === null || logged.why !== why || Date.now() - logged.at >= SAME_FAILURE_LOG_MS)) {
          this.#log.warn({ err: why, retryMs }, `cannot grant the host lease: ${why}; retrying`);
          logged = { why, at: Date.now() };
        } else {
          this.#log.debug({ err: (err as Error).message, retryMs }, 'cannot grant the host lease; retrying');
        }
        await new Promise((resolve) => setTimeout(resolve, retryMs));
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
      }
    }
  }

  /** The TTL to count: ours, or etcd's if it answered with a shorter one (it never should). */
  #effectiveTtlMs(etcdTtlSeconds: string): number {
    return Math.min(this.#ttlMs, Number(etcdTtlSeconds) * 1000);
  }

  #intervalMs(): number {
    return this.#ttlMs / 3;
  }

  // --- keeping alive --------------------------------------------------------------------------------------

  #scheduleKeepalive(delayMs: number): void {
    if (this.#keepaliveTimer !== null) clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = setTimeout(() => {
      this.#keepaliveTimer = null;
      if (this.#stopped || this.#id === null || this.#checkDeadline()) return;
      this.#sendKeepalive();
    }, delayMs);
  }

  /** Sends one keepalive for the current lease and schedules the next: TTL/3 while etcd answers, else sooner. */
  #sendKeepalive(): void {
    const id = this.#id;
    if (id === null) return;
    this.#scheduleKeepalive(this.#failing ? this.#retryMs : this.#intervalMs());
    if (this.#inFlight >= MAX_KEEPALIVES_IN_FLIGHT) return;
    // The send time is taken before anything is sent: etcd renews at or after it, never before.
    const sentNs = nowNs();
    this.#keepalivesSent++;
    this.#inFlight++;
    void this.#keepaliveOnce(id).then(
      (ttl) => this.#onAck(id, sentNs, ttl),
      (err: unknown) => this.#onKeepaliveFailed(id, err),
    ).finally(() => {
      this.#inFlight--;
    });
  }

  /** One LeaseKeepAlive exchange: resolves with the TTL etcd answered (seconds as a string), rejects on failure. */
  async #keepaliveOnce(id: string): Promise<string> {
    const stream = await this.#client.leaseClient.leaseKeepAlive({ deadline: Date.now() + ETCD_REQUEST_TIMEOUT_MS });
    if (this.#stopped) {
      stream.end();
      throw new Error('stopped');
    }
    this.#streams.add(stream);
    try {
      return await new Promise<string>((resolve, reject) => {
        stream.on('data', (res) => {
          if (res.ID !== id) reject(new Error(`keepalive answered for lease ${res.ID}, not ${id}`));
          else resolve(res.TTL);
        });
        stream.on('error', (err) => reject(castGrpcError(err)));
        stream.on('end', () => reject(new Error('the keepalive stream ended without an answer')));
        stream.write({ ID: id });
      });
    } finally {
      // The server ends its side when it reads our end; an error after that is nobody's concern.
      stream.on('error', () => undefined);
      stream.end();
      this.#streams.delete(stream);
    }
  }

  #onAck(id: string, sentNs: bigint, ttlSeconds: string): void {
    if (this.#abandoned.has(id)) {
      this.#log.debug({ lease: id }, 'keepalive answered for an abandoned lease: ignored');
      return;
    }
    if (this.#stopped || this.#id !== id) return;
    this.#keepalivesAcked++;
    // The clock decides, not the order callbacks ran in: an ack handled after the deadline renews nothing.
    if (this.#checkDeadline()) return;
    this.#failing = false;
    this.#retryMs = RETRY_FIRST_MS;
    if (Number(ttlSeconds) <= 0) {
      this.#log.error({ lease: id }, 'etcd no longer knows the host lease');
      this.emit('lost', id);
      this.#lapse(id);
      return;
    }
    const deadline = safeDeadlineNs(sentNs, this.#effectiveTtlMs(ttlSeconds));
    if (this.#deadlineNs !== null && deadline <= this.#deadlineNs) return; // a slower, older keepalive
    this.#deadlineNs = deadline;
    this.#lastAckSentNs = sentNs;
    this.#lastRenewedAt = Date.now();
    this.#armDeadline();
    this.emit('renewed', deadline);
  }

  #onKeepaliveFailed(id: string, err: unknown): void {
    if (this.#stopped || this.#id !== id) return;
    if (!this.#failing) this.#log.warn({ lease: id, err: this.#describeFailure(err) }, 'host lease keepalive failed; retrying');
    if (err instanceof EtcdInvalidAuthTokenError) {
      // etcd3 fetches a new token only for unary calls; a harmless one gets it for the next stream.
      void this.#client.leaseClient.leaseTimeToLive({ ID: id }).catch(() => undefined);
    }
    this.#failing = true;
    this.#scheduleKeepalive(this.#retryMs);
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
  }

  // --- the deadline ---------------------------------------------------------------------------------------

  #armDeadline(): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    if (this.#deadlineNs === null) return;
    const ms = Number((this.#deadlineNs - nowNs()) / NS_PER_MS) + 1;
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = null;
      // A timer may fire a little early; then wait again for the rest.
      if (!this.#checkDeadline()) this.#armDeadline();
    }, Math.max(0, ms));
  }

  /** True (after lapsing the lease) when the monotonic clock has reached the current safe deadline. */
  #checkDeadline(): boolean {
    if (this.#stopped || this.#id === null || this.#deadlineNs === null) return false;
    if (nowNs() < this.#deadlineNs) return false;
    this.#lapse(this.#id);
    return true;
  }

  /** The lease can no longer be relied on: abandon it, say so (listeners fence now), then start over. */
  #lapse(id: string): void {
    this.#abandoned.add(id);
    this.#id = null;
    this.#deadlineNs = null;
    this.#lastAckSentNs = null;
    this.#state = 'lapsed';
    this.#deadlinesPassed++;
    this.#failing = false;
    this.#retryMs = RETRY_FIRST_MS;
    this.#clearTimers();
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
    this.#log.error({ lease: id }, 'host lease past its safe deadline: fencing, then granting a new lease');
    try {
      this.emit('deadline-passed', id);
    } finally {
      // Its holds are fenced by now; the old lease goes (if etcd answers) and a new one is sought.
      void this.#revoke(id);
      this.#grant();
    }
  }

  async #revoke(id: string): Promise<void> {
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: id });
      this.#log.info({ lease: id }, 'host lease revoked');
    } catch (err) {
      this.#log.warn({ lease: id, err: (err as Error).message }, 'cannot revoke the host lease (it expires in etcd by itself)');
    }
  }

  #clearTimers(): void {
    if (this.#deadlineTimer !== null) clearTimeout(this.#deadlineTimer);
    if (this.#keepaliveTimer !== null) clearTimeout(this.#keepaliveTimer);
    this.#deadlineTimer = null;
    this.#keepaliveTimer = null;
  }
}
