// What the supervisor reports about itself to the worker (its status message and action answers on the control channel),
// which the worker passes on in the operations program's STATUS reply.

/** How the last upgrade or worker swap ended. */
export interface ActionOutcome {
  /** When it ended, ms since the epoch. */
  at: number;
  ok: boolean;
  /** Why it failed; null when it succeeded (an upgrade may succeed with a note). */
  reason: string | null;
}

/** What the supervisor knows and tells the worker (STATUS `supervisor`). */
export interface SupervisorStatus {
  version: string;
  pid: number;
  /** Upgrades (supervisor re-execs) completed since the daemon started; survives upgrades. */
  upgrades: number;
  /** Upgrades refused since this supervisor image started. */
  upgradeRefusals: number;
  /** Worker swaps completed since this supervisor image started. */
  workerSwaps: number;
  /** Worker swaps that failed (the old worker served on) since this supervisor image started. */
  swapFailures: number;
  /** Workers replaced after a crash since the daemon started; survives upgrades. */
  workerRestarts: number;
  /** Set in a new image only once a worker of the new code serves (or could not be started). */
  lastUpgrade: ActionOutcome | null;
  lastSwap: ActionOutcome | null;
}
