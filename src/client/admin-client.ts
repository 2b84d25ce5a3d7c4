// Typed client for holdfast's own admin program (0x484F4C44) on the admin socket: status, locks, clients,
// lockspaces, who-holds-a-path, the cluster, metrics, log level, and upgrade / worker-swap requests that wait for their
// outcome. Framing and call queueing are the lock client's; replies are schema-checked on decode.
import { LockClient, type LockClientOptions } from './lock-client';
import {
  HOLDFAST_PROGRAM,
  HOLDFAST_PROGRAM_VERSION,
  HoldfastProcedure,
  OPERATIONS_PROCEDURES,
  type OperationsProcedureArgs,
  type OperationsProcedureEntry,
  type OperationsProcedureReplies,
  type ActionOutcome,
  type ActionReply,
  type ClientInfo,
  type ClusterReply,
  type LockInfo,
  type LockspaceInfo,
  type SetLogLevelReply,
  type StatusReply,
  type WhoReply,
} from '../shared/protocol/operations-program';
import { ConnectionClosedError, ProtocolError, okPayload } from './lock-client';
import { DaemonError } from './daemon-error';

/** An admin call was answered with an ERROR reply: code, domain and message as {@link DaemonError}. */
export class AdminError extends DaemonError {
  override readonly name: string = 'AdminError';
}

/** Filters of {@link AdminClient.locks}. */
export interface LocksFilter {
  /** Only resources whose file is this path (made absolute against the caller's cwd). */
  path?: string;
  /** Only resources with an owner of this name, UUID or pid. */
  owner?: string;
}

/** Options of {@link AdminClient.upgrade} and {@link AdminClient.swapWorker}. */
export interface WaitOptions {
  /** Give up waiting for the outcome after this long (default 120 s); the request itself stands. */
  timeoutMs?: number;
  /** How often to ask for the status meanwhile (default 100 ms). */
  pollMs?: number;
}

/** How an upgrade or worker swap requested with {@link AdminClient.upgrade} / {@link AdminClient.swapWorker} ended. */
export interface ActionResult {
  /** The supervisor took the request. */
  accepted: boolean;
  /** It completed (false: refused or failed; see `reason`). */
  ok: boolean;
  reason: string | null;
  /** The supervisor's record of the outcome, when there is one. */
  outcome: ActionOutcome | null;
  /** The status once the outcome was known (null when refused outright). */
  status: StatusReply | null;
  /** True when the connection was lost while waiting and a new one was made (it should survive). */
  reconnected: boolean;
}

/** The outcome did not show up within the wait. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * A connection to holdfastd's admin socket speaking holdfast's admin program.
 *
 * Calls go out one at a time in call order. Typed methods resolve with schema-checked replies and reject with
 * {@link AdminError} on an ERROR reply, {@link ConnectionClosedError} once the connection is gone (for a peer
 * the daemon refuses, e.g. a wrong uid, that is the first call), or `HoldfastReplyError` for a malformed reply.
 */
export class AdminClient {
  #client: LockClient;
  readonly #socketPath: string;

  private constructor(client: LockClient, socketPath: string) {
    this.#client = client;
    this.#socketPath = socketPath;
  }

  /**
   * Connects to the admin socket.
   * @throws the socket error (`ENOENT`, `ECONNREFUSED`, `EACCES`, ...) if connecting fails
   */
  static async connect(socketPath: string, opts: LockClientOptions = {}): Promise<AdminClient> {
    return new AdminClient(await LockClient.connect(socketPath, opts), socketPath);
  }

  /** Resolves once the connection is closed, by either side. */
  get closed(): Promise<void> {
    return this.#client.closed;
  }

  /** Closes the connection once everything written is flushed. */
  close(): Promise<void> {
    return this.#client.close();
  }

  /** STATUS: versions, pids, uptime, counts and the last upgrade/swap outcomes. */
  async status(): Promise<StatusReply> {
    return this.#call(HoldfastProcedure.STATUS, { flags: 0 });
  }

  /** LOCKS: every held resource (all pages), optionally filtered. */
  async locks(filter: LocksFilter = {}): Promise<LockInfo[]> {
    return this.#allPages(
      HoldfastProcedure.LOCKS,
      (after) => ({ path: filter.path ?? null, owner: filter.owner ?? null, after, flags: 0 }),
      (page) => ({ items: page.locks, next: page.next }),
    );
  }

  /** CLIENTS: every connection of the lock and admin servers (all pages). */
  async clients(): Promise<ClientInfo[]> {
    return this.#allPages(HoldfastProcedure.CLIENTS, (after) => ({ after, flags: 0 }), (page) => ({ items: page.clients, next: page.next }));
  }

  // Follows the pages' cursors to the end. A cursor that does not move on is the daemon's error, not a
  // reason to ask forever.
  async #allPages<T, P extends HoldfastProcedure.LOCKS | HoldfastProcedure.CLIENTS>(
    proc: P,
    args: (after: string | null) => OperationsProcedureArgs[P],
    items: (reply: OperationsProcedureReplies[P]) => { items: T[]; next: string | null },
  ): Promise<T[]> {
    const all: T[] = [];
    let after: string | null = null;
    do {
      const page = items(await this.#call(proc, args(after)));
      all.push(...page.items);
      if (page.next !== null && after !== null && page.next <= after) throw new ProtocolError(`holdfastd's ${HoldfastProcedure[proc]} pages do not advance (cursor ${JSON.stringify(page.next)})`);
      after = page.next;
    } while (after !== null);
    return all;
  }

  /** LOCKSPACES: the default lockspace ("") and every directory lockspace. */
  async lockspaces(): Promise<LockspaceInfo[]> {
    return (await this.#call(HoldfastProcedure.LOCKSPACES, { flags: 0 })).lockspaces;
  }

  /** WHO: who holds the file at `path` (an absolute path), in any lockspace. */
  async who(path: string): Promise<WhoReply> {
    return this.#call(HoldfastProcedure.WHO, { path, flags: 0 });
  }

  /**
   * CLUSTER: the host's part of the cluster (endpoints asked each on its own, host lease, holds, fences), or
   * `{ configured: false }`. Takes up to about a second while an endpoint does not answer.
   */
  async cluster(): Promise<ClusterReply> {
    return this.#call(HoldfastProcedure.CLUSTER, { flags: 0 });
  }

  /** METRICS: the OpenMetrics text exposition. */
  async metrics(): Promise<string> {
    return this.#call(HoldfastProcedure.METRICS, { flags: 0 });
  }

  /** SET_LOG_LEVEL: a libvirt priority "1".."4" or its name (debug, info, warning or warn, error). */
  async setLogLevel(level: string): Promise<SetLogLevelReply> {
    return this.#call(HoldfastProcedure.SET_LOG_LEVEL, { level, flags: 0 });
  }

  /** UPGRADE without waiting: whether the supervisor took the request (the SIGUSR1 path). */
  async requestUpgrade(): Promise<ActionReply> {
    return this.#call(HoldfastProcedure.UPGRADE, { flags: 0 });
  }

  /** SWAP_WORKER without waiting. */
  async requestSwap(): Promise<ActionReply> {
    return this.#call(HoldfastProcedure.SWAP_WORKER, { flags: 0 });
  }

  /** Upgrades the daemon in place (re-exec from the code on disk) and waits until it completed or was refused. */
  async upgrade(opts: WaitOptions = {}): Promise<ActionResult> {
    return this.#waitFor('upgrade', await this.requestUpgrade(), opts);
  }

  /** Replaces the serving worker live and waits until that completed or failed. */
  async swapWorker(opts: WaitOptions = {}): Promise<ActionResult> {
    return this.#waitFor('swap', await this.requestSwap(), opts);
  }

  // Polls STATUS until one of the supervisor's counters for this action moves past the reply's.
  async #waitFor(action: 'upgrade' | 'swap', before: ActionReply, opts: WaitOptions): Promise<ActionResult> {
    if (!before.accepted) return { accepted: false, ok: false, reason: before.reason, outcome: null, status: null, reconnected: false };
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const deadline = Date.now() + timeoutMs;
    const pollMs = opts.pollMs ?? 100;
    let reconnected = false;
    for (;;) {
      let status: StatusReply;
      try {
        status = await this.status();
      } catch (err) {
        if (!(err instanceof ConnectionClosedError) || Date.now() > deadline) throw err;
        // Admin connections are kept through swaps and upgrades; if this one went anyway, ask on a new one.
        this.#client = await LockClient.connect(this.#socketPath);
        reconnected = true;
        continue;
      }
      const s = status.supervisor;
      if (s) {
        // An upgrade is done once the new image has a worker of the new code serving (lastUpgrade is set then).
        const done = action === 'upgrade' ? s.upgrades > before.upgrades && s.lastUpgrade !== null : s.workerSwaps > before.workerSwaps;
        const failed = action === 'upgrade' ? s.upgradeRefusals > before.upgradeRefusals : s.swapFailures > before.swapFailures;
        const outcome = action === 'upgrade' ? s.lastUpgrade : s.lastSwap;
        if (done || failed) return { accepted: true, ok: done, reason: outcome?.reason ?? (done ? null : 'unknown'), outcome, status, reconnected };
      }
      if (Date.now() > deadline) throw new WaitTimeoutError(`no outcome of the ${action} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  // Args encoded and the reply decoded (and schema-checked) as the program's table says.
  async #call<P extends HoldfastProcedure>(proc: P, args: OperationsProcedureArgs[P]): Promise<OperationsProcedureReplies[P]> {
    const spec = OPERATIONS_PROCEDURES[proc] as OperationsProcedureEntry<P>;
    const reply = await this.#client.call(proc, spec.encode(args), { prog: HOLDFAST_PROGRAM, vers: HOLDFAST_PROGRAM_VERSION });
    return spec.decodeReply(okPayload(reply, proc, AdminError));
  }
}
