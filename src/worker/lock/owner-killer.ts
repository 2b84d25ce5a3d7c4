// Kills an owner whose connection dropped while it held locks (virtlockd's rule: SIGTERM, SIGKILL after a
// grace period, give up after a bound). Unlike virtlockd it never blocks the event loop: other clients keep
// being served. Every signal goes through a pidfd taken from the owner's own socket (SO_PEERPIDFD), never
// through its pid number: the owner may be gone and its pid reused by the time we act (a worker that
// replaces a crashed one acts on a disconnect long after it happened), and the pidfd then refuses (ESRCH)
// instead of hitting the newcomer. Only on a kernel without SO_PEERPIDFD is the pidfd opened by pid.
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';

export interface OwnerKillTimings {
  /** SIGKILL this long after SIGTERM if the owner is still alive (virtlockd: 8 × 200 ms). */
  termGraceMs: number;
  /** Stop trying after this long (virtlockd: 15 × 200 ms). */
  giveUpMs: number;
}

export type OwnerKillResult = 'exited' | 'killed' | 'gone' | 'survived';

export class OwnerKiller {
  readonly #pending = new Map<number, Promise<OwnerKillResult>>();
  /** Told when a kill starts and how each ends (metrics). */
  onOutcome: ((result: OwnerKillResult | 'started') => void) | null = null;

  constructor(
    private readonly timings: OwnerKillTimings,
    private readonly log: Logger,
  ) {}

  /** Number of kills in progress. */
  get inProgress(): number {
    return this.#pending.size;
  }

  /**
   * Starts killing `pid`, the peer of the connected `socketFd` (read at once: the caller may close it next),
   * unless a kill of it is already running; resolves with how it ended.
   */
  kill(pid: number, socketFd: number): Promise<OwnerKillResult> {
    const running = this.#pending.get(pid);
    if (running) return running;
    this.onOutcome?.('started');
    const pidfd = this.#peerPidfd(pid, socketFd);
    const done = this.#run(pid, pidfd).finally(() => this.#pending.delete(pid));
    void done.then((result) => this.onOutcome?.(result));
    this.#pending.set(pid, done);
    return done;
  }

  // The owner's pidfd, 'gone' when the socket says its peer no longer exists, or 'unknown'.
  #peerPidfd(pid: number, socketFd: number): number | 'gone' | 'unknown' {
    try {
      return native.peerPidfd(socketFd);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ESRCH' || code === 'ENODATA') return 'gone';
      if (code !== 'ENOPROTOOPT' && code !== 'EINVAL') {
        this.log.warn({ ownerPid: pid, err }, 'cannot take a pidfd from the owner\'s socket; not signalling a pid that may be reused');
        return 'unknown';
      }
    }
    // Before Linux 6.5: the best there is, the pid as it is now.
    try {
      return native.pidfdOpen(pid);
    } catch (err) {
      if ((err as { code?: string }).code === 'ESRCH') return 'gone';
      this.log.warn({ ownerPid: pid, err }, 'cannot open a pidfd for the owner; not signalling a pid that may be reused');
      return 'unknown';
    }
  }

  async #run(pid: number, pidfd: number | 'gone' | 'unknown'): Promise<OwnerKillResult> {
    if (pidfd === 'gone') return 'gone';
    if (pidfd === 'unknown') return 'survived';
    const exited = waitReadable(pidfd);
    try {
      if (!signal(pidfd, 'SIGTERM')) return 'gone';
      this.log.info({ ownerPid: pid }, 'owner disconnected holding locks: sent SIGTERM');
      if (await exited.within(this.timings.termGraceMs)) return 'exited';
      if (!signal(pidfd, 'SIGKILL')) return 'exited';
      this.log.warn({ ownerPid: pid, afterMs: this.timings.termGraceMs }, 'owner ignored SIGTERM: sent SIGKILL');
      if (await exited.within(this.timings.giveUpMs - this.timings.termGraceMs)) return 'killed';
      this.log.error({ ownerPid: pid, afterMs: this.timings.giveUpMs }, 'owner survived SIGKILL; giving up');
      return 'survived';
    } finally {
      exited.cancel();
      native.close(pidfd);
    }
  }
}

function signal(pidfd: number, sig: NodeJS.Signals): boolean {
  try {
    native.pidfdSendSignal(pidfd, sig);
    return true;
  } catch {
    return false;
  }
}

interface ExitWatch {
  within(ms: number): Promise<boolean>;
  cancel(): void;
}

// A pidfd becomes readable when its process exits.
function waitReadable(pidfd: number): ExitWatch {
  let exited = false;
  const waiters = new Set<() => void>();
  const poller = new native.Poller(pidfd, () => {
    exited = true;
    poller.stop();
    for (const wake of waiters) wake();
  });
  poller.start(native.Poller.READABLE);
  return {
    within(ms: number): Promise<boolean> {
      if (exited) return Promise.resolve(true);
      return new Promise((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(exited);
        };
        const timer = setTimeout(wake, Math.max(0, ms));
        waiters.add(wake);
      });
    },
    cancel(): void {
      poller.close();
    },
  };
}
