// The supervisor's status as the worker reports it (holdfast STATUS and METRICS): its counters, which an
// upgrade carries into the next image, and how the last upgrade and the last worker swap ended.
import type { ActionOutcome, SupervisorStatus } from '../shared/custody/supervisor-status';
import { HOLDFAST_VERSION } from '../shared/platform/version';
import type { CarriedCounters } from './upgrade/state-document';

/** The counters of a supervisor, as its status reports them. */
export interface SupervisorCounters {
  workerRestarts: number;
  upgrades: number;
  upgradeRefusals: number;
  workerSwaps: number;
  swapFailures: number;
}

export class StatusKeeper {
  readonly counters: SupervisorCounters = { workerRestarts: 0, upgrades: 0, upgradeRefusals: 0, workerSwaps: 0, swapFailures: 0 };
  #lastUpgrade: ActionOutcome | null = null;
  #lastSwap: ActionOutcome | null = null;

  /** Starts from the counters the image before the last exec carried over (none at a first start). */
  constructor(carried: { upgrades?: number; workerRestarts?: number; counters?: CarriedCounters }) {
    this.counters.upgrades = carried.upgrades ?? 0;
    this.counters.workerRestarts = carried.workerRestarts ?? 0;
    Object.assign(this.counters, carried.counters ?? {});
  }

  status(): SupervisorStatus {
    return { version: HOLDFAST_VERSION, pid: process.pid, ...this.counters, lastUpgrade: this.#lastUpgrade, lastSwap: this.#lastSwap };
  }

  upgradeRefused(reason: string): void {
    this.counters.upgradeRefusals++;
    this.#lastUpgrade = { at: Date.now(), ok: false, reason };
  }

  /** The upgrade that started this image is complete: a worker of the new code serves (or `note` says why not). */
  upgradeSettled(note: string | null): void {
    this.#lastUpgrade = { at: Date.now(), ok: true, reason: note };
  }

  swapEnded(ok: boolean, reason: string | undefined): void {
    if (ok) this.counters.workerSwaps++;
    else this.counters.swapFailures++;
    this.#lastSwap = { at: Date.now(), ok, reason: ok ? null : reason ?? 'unknown' };
  }

  workerRestarted(): void {
    this.counters.workerRestarts++;
  }
}
