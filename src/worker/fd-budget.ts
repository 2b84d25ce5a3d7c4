// The worker's side of the fd budget (see shared/platform/fd-budget.ts): its soft RLIMIT_NOFILE sits below the
// supervisor's, and it takes a new client or file only with the headroom still free. Checking is cheap: an
// estimate (fds besides clients and files, as last counted, plus the clients and files held now), with an
// exact count of /proc/self/fd once the estimate comes near the ceiling, and now and then anyway.
import type { Logger } from 'pino';
import { CLIENT_SPARE_FDS, FdUse, WORKER_FD_HEADROOM, WORKER_FD_RESERVE } from '../shared/platform/fd-budget';
import * as native from '../shared/platform/native';

// Count exactly once the estimate is within this many fds of the ceiling (covers what the estimate cannot
// see appearing between two counts: pidfds of owner kills, a log file reopened, dups of queued commits).
const RECOUNT_WITHIN = 64;
// And every this many checks, so the estimate's base never drifts far.
const RECOUNT_EVERY = 1024;

/**
 * At start, before anything else opens fds: the soft limit becomes the inherited one (the supervisor's,
 * raised to its hard limit) minus the reserve the supervisor keeps for itself.
 */
export function lowerWorkerFdLimit(log: Logger): void {
  const { soft, hard } = native.nofileLimit();
  const target = Math.max(0, soft - WORKER_FD_RESERVE);
  try {
    native.setNofileLimit(target, hard);
  } catch (err) {
    // Lowering the soft limit never needs a privilege; if it fails anyway, the supervisor may overflow.
    log.error({ err, soft, target }, 'cannot lower the worker\'s fd limit below the supervisor\'s');
  }
}

export class FdBudget {
  readonly limit: number;
  /** Fds other than clients and files, as of the last exact count (none yet: the first check counts). */
  #base = Number.POSITIVE_INFINITY;
  #checks = 0;

  /** `held`: the clients and files this worker holds now (one fd each). */
  constructor(private readonly held: () => number) {
    this.limit = native.nofileLimit().soft;
  }

  /** Whether one more fd of this kind fits: files leave CLIENT_SPARE_FDS for clients that come to release. */
  roomFor(kind: 'client' | 'file'): boolean {
    const ceiling = this.limit - WORKER_FD_HEADROOM - (kind === 'file' ? CLIENT_SPARE_FDS : 0);
    if (this.#base + this.held() + 1 <= ceiling - RECOUNT_WITHIN && ++this.#checks % RECOUNT_EVERY !== 0) return true;
    const used = this.#recount();
    return used !== null && used + 1 <= ceiling;
  }

  /** Open fds against the limit, counted now. */
  use(): FdUse {
    return { used: this.#recount() ?? this.limit, limit: this.limit };
  }

  // Null when even the count fails (it needs an fd: we are at the limit).
  #recount(): number | null {
    let used: number;
    try {
      used = native.countOpenFds();
    } catch {
      return null;
    }
    this.#base = used - this.held();
    return used;
  }
}
