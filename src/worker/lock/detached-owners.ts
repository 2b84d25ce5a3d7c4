// Watches the owners that hold locks without a connection — their locks came back from systemd's fd store
// after the supervisor crashed or restarted, their connections did not — and reports each one's exit, so
// its locks are released as its own disconnect would have released them. A pidfd per owner: a recycled pid
// is never mistaken for the owner once it is gone.
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';

export class DetachedOwners {
  readonly #watched = new Map<number, { pidfd: number; poller: native.Poller }>();
  #paused = false;
  readonly #exitedWhilePaused = new Map<number, boolean>();

  /** `onExit(pid, alreadyGone)`: `alreadyGone` when the pid was gone before it could be watched. */
  constructor(
    private readonly onExit: (pid: number, alreadyGone: boolean) => void,
    private readonly log: Logger,
  ) {}

  /** Starts watching `pid` (no-op if already watched). A pid already gone is reported on the next turn. */
  watch(pid: number): void {
    if (pid <= 0 || this.#watched.has(pid)) return;
    let pidfd: number;
    try {
      pidfd = native.pidfdOpen(pid);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ESRCH') this.log.warn({ ownerPid: pid, err }, 'cannot watch a detached owner; releasing its locks now');
      setImmediate(() => this.#exited(pid, true));
      return;
    }
    // A pidfd turns readable when its process exits.
    const poller = new native.Poller(pidfd, () => {
      this.#forget(pid);
      this.#exited(pid, false);
    });
    poller.start(native.Poller.READABLE);
    this.#watched.set(pid, { pidfd, poller });
  }

  /** Drained: exits wait until `resume` (nothing may be committed meanwhile). */
  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    const exits = [...this.#exitedWhilePaused];
    this.#exitedWhilePaused.clear();
    for (const [pid, alreadyGone] of exits) this.onExit(pid, alreadyGone);
  }

  #exited(pid: number, alreadyGone: boolean): void {
    if (this.#paused) this.#exitedWhilePaused.set(pid, alreadyGone);
    else this.onExit(pid, alreadyGone);
  }

  #forget(pid: number): void {
    const watch = this.#watched.get(pid);
    if (!watch) return;
    this.#watched.delete(pid);
    watch.poller.close();
    native.close(watch.pidfd);
  }
}
