// When to start the next worker after one died: at once, unless workers keep dying young (or of their own
// fault), in which case the wait doubles with each death past the tolerance, up to a bound.

// A worker that dies within this long of its start died young; several in a row is a crash loop.
const CRASH_LOOP_WINDOW_MS = 100;
// A worker that dies of its own fault (an uncaught exception, a fatal signal, a stall) this soon after its
// start counts too, however long it served first: a request that kills every worker taking it up is a
// crash loop even when each worker serves a while before reaching it.
const FAULT_LOOP_WINDOW_MS = 60_000;
const CRASH_LOOP_TOLERANCE = 5;
const BACKOFF_MAX_MS = 30_000;

export class RespawnPolicy {
  #quickDeaths = 0;

  /** How many quick deaths in a row so far. */
  get failures(): number {
    return this.#quickDeaths;
  }

  /** Counts a death (or a failed start: livedMs 0) and says how long to wait before the next start. */
  delayAfter(livedMs: number, ownFault: boolean): number {
    const counts = livedMs < CRASH_LOOP_WINDOW_MS || (ownFault && livedMs < FAULT_LOOP_WINDOW_MS);
    this.#quickDeaths = counts ? this.#quickDeaths + 1 : 0;
    const excess = this.#quickDeaths - CRASH_LOOP_TOLERANCE;
    return excess <= 0 ? 0 : Math.min(BACKOFF_MAX_MS, 100 * 2 ** (excess - 1));
  }
}

// Exiting non-zero, or killed by a signal nobody outside sends to end a process (SIGSEGV, SIGABRT, ...):
// a crash. SIGKILL and SIGTERM come from someone else (an operator, a test, the OOM killer).
export function diedOfItsOwnFault(exit: { code: number | null; signal: string | null }): boolean {
  if (exit.signal !== null) return exit.signal !== 'SIGKILL' && exit.signal !== 'SIGTERM';
  return exit.code !== null && exit.code !== 0;
}
