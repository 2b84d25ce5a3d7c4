// An upgrade in place (SIGUSR1, `holdfast upgrade`): the supervisor re-executes its own argv from the code
// now on disk, same pid, with every lock and connection. The serving worker either serves on through the
// exec (carried) or stops at a message boundary first; if anything fails before the exec, nothing has
// changed and the daemon serves on with the running code.
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { redeliver } from '../../shared/platform/signal-intake';
import type { Custody } from '../custody';
import { DRAIN_TIMEOUT_MS } from '../workers/live-swap';
import { checkWithBinaryOnDisk, reexec } from './reexec';
import type { CarriedWorkerState, StateDocument } from './state-document';
import type { WorkerProcess } from '../workers/worker-process';

export const STOPPING_REFUSAL = 'the daemon is stopping';

/** What an upgrade needs of the supervisor. */
export interface UpgradeHost {
  readonly custody: Custody;
  readonly log: Logger;
  readonly stateFile: string;
  /** Called right before the exec (service-manager notification). */
  readonly beforeExec?: () => void;
  stopping(): boolean;
  /** The swap in progress, if any: an upgrade waits for it. */
  swapping(): Promise<unknown> | null;
  serving(): WorkerProcess | null;
  /** Every fd the next image must inherit besides a carried worker's: listeners, custody, pid file. */
  keptFds(): number[];
  /** The state document the next image restores from (with the carried worker, if one serves on). */
  document(carried?: CarriedWorkerState): StateDocument;
  /** The upgrade was refused, with why: recorded for status. */
  refused(reason: string): void;
}

export class InPlaceUpgrade {
  #running: Promise<string> | null = null;
  #queued = false;

  constructor(private readonly host: UpgradeHost) {}

  get inProgress(): boolean {
    return this.#running !== null;
  }

  /**
   * Re-execs this process from the code on disk. Resolves only if the upgrade was refused (with why); the
   * daemon then serves on, unchanged. A request while one is in progress queues at most one more.
   */
  run(): Promise<string> {
    if (this.#running) {
      this.#queued = true;
      return this.#running;
    }
    this.#running = this.#upgrade()
      .then((reason) => {
        // Resolving means refused: record it for status.
        this.host.refused(reason);
        return reason;
      })
      .finally(() => {
        this.#running = null;
        if (this.#queued && !this.host.stopping()) {
          this.#queued = false;
          void this.run();
        }
      });
    return this.#running;
  }

  async #upgrade(): Promise<string> {
    const { host } = this;
    const swapping = host.swapping();
    if (swapping) await swapping;
    if (host.stopping()) return STOPPING_REFUSAL;
    // The new code must accept our document before anything stops: check a copy while the worker serves.
    const refusal = await checkWithBinaryOnDisk(host.stateFile, host.document());
    if (refusal) {
      host.log.error({ reason: refusal }, 'upgrade refused; serving on with the running code');
      return refusal;
    }
    // A stop that began while the check ran wins: an exec now would bring back what is being shut down.
    if (host.stopping()) return STOPPING_REFUSAL;
    const current = host.serving();
    // Best case: the worker serves on through our exec (its commits wait in the channel for the next
    // image), so clients see no pause at all until the next image swaps in a worker of the new code.
    // Otherwise (a reply we write ourselves still waits for its client) it stops at a message boundary.
    // The next image may be older than our binary commits: the worker switches to JSON first, while we
    // still read (and apply) whatever it sent before.
    const json = current !== null && !host.custody.hasQueuedReplies() && (await current.commitAsJson(DRAIN_TIMEOUT_MS));
    if (host.stopping()) return STOPPING_REFUSAL;
    const carried = json && !host.custody.hasQueuedReplies() ? current.carry() : null;
    if (!carried && current) {
      try {
        await current.drain(DRAIN_TIMEOUT_MS);
        if (host.stopping()) return STOPPING_REFUSAL;
      } catch (err) {
        if (current.alive) {
          current.resume();
          host.log.error({ err }, 'upgrade refused: the worker did not drain');
          return `the worker did not drain: ${(err as Error).message}`;
        }
      }
    }
    // From here to the exec no JS handler can run: a signal is latched by the addon instead of being lost
    // with libuv's signal pipe; a stop cancels the exec, any other crosses it (see execLatch).
    native.execLatch.arm();
    try {
      // A signal libuv caught before the latch was armed reaches its handler now.
      await new Promise((resolve) => setImmediate(resolve));
      if (host.stopping()) return STOPPING_REFUSAL;
      return this.#reexec(current, carried);
    } finally {
      // Still here: the exec did not happen. What the latch caught goes its usual way.
      redeliver(native.execLatch.disarm());
    }
  }

  /** The synchronous tail of an upgrade: nothing may run between its last check and the exec. */
  #reexec(current: WorkerProcess | null, carried: ReturnType<WorkerProcess['carry']> | null): string {
    const { host } = this;
    // The next image's worker reads every client socket from its head.
    host.custody.consumeAll();
    const document = host.document(carried?.state);
    const keepFds = [...host.keptFds(), ...(carried?.fds ?? [])];
    host.log.info(
      { records: host.custody.size, fds: keepFds.length, workerPid: carried?.state.pid },
      carried ? 'upgrading: re-executing from the code on disk; the worker serves on meanwhile' : 'upgrading: re-executing from the code on disk',
    );
    host.beforeExec?.();
    const reason = reexec({ stateFile: host.stateFile, document, keepFds });
    // Still here: nothing changed. Serve on with the old code.
    host.log.error({ reason }, 'upgrade refused; serving on with the running code');
    if (!carried) current?.resume();
    else current?.keep();
    return reason;
  }
}
