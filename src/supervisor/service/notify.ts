// sd_notify: tells the service manager (systemd, or anything listening on $NOTIFY_SOCKET — a path or an
// abstract "@name") that the daemon is ready, reloading or stopping, what it holds (STATUS=), and that its
// event loop is alive (WATCHDOG=1). A no-op when not started under one.
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import { carryAcrossExec } from '../upgrade/reexec';

/** How often, at most, a changed STATUS= goes out: a burst of acquires must not become a burst of datagrams. */
const STATUS_CHECK_MS = 1000;
// setInterval's ceiling (about 24.8 days); a longer watchdog is pinged more often than needed, harmlessly.
const MAX_TIMER_MS = 0x7fffffff;

export class ServiceNotifier {
  readonly #address: string | null;
  /** Half the service manager's watchdog timeout, or null when it watches nothing of ours. */
  readonly #watchdogMs: number | null;
  #watchdogTimer: NodeJS.Timeout | null = null;
  #statusTimer: NodeJS.Timeout | null = null;
  #lastStatus: string | null = null;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly log: Logger,
  ) {
    // Kept in our environment (it must survive our own exec) but never passed to workers.
    this.#address = env.NOTIFY_SOCKET || null;
    this.#watchdogMs = takeWatchdog(env, log);
  }

  /**
   * Starts the WATCHDOG=1 pings (one now, then every half timeout) when the service manager asked for them.
   * They come from this event loop: a wedged supervisor stops pinging, and is restarted.
   */
  startWatchdog(): void {
    if (this.#watchdogMs === null || this.#watchdogTimer || !this.#address) return;
    this.#send('WATCHDOG=1');
    this.#watchdogTimer = setInterval(() => this.#send('WATCHDOG=1'), this.#watchdogMs);
    // The pings are not a reason to live: the listeners and custody fds keep the process up.
    this.#watchdogTimer.unref();
    this.log.debug({ intervalMs: this.#watchdogMs }, 'pinging the service manager\'s watchdog');
  }

  ready(status: string): void {
    this.#lastStatus = status;
    this.#send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
  }

  /** Sends STATUS= if it differs from the last one sent. */
  status(status: string): void {
    if (status === this.#lastStatus) return;
    this.#lastStatus = status;
    this.#send(`STATUS=${status}`);
  }

  /** Re-describes the daemon every second and sends the description when it changed. */
  followStatus(describe: () => string): void {
    if (this.#statusTimer || !this.#address) return;
    this.#statusTimer = setInterval(() => this.status(describe()), STATUS_CHECK_MS);
    this.#statusTimer.unref();
  }

  /** Before re-executing: systemd holds off other jobs until READY=1 comes again. */
  reloading(): void {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    this.#lastStatus = 'upgrading';
    this.#send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}\nSTATUS=upgrading`);
  }

  stopping(): void {
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    this.#statusTimer = null;
    this.#lastStatus = 'stopping';
    this.#send('STOPPING=1\nSTATUS=stopping');
  }

  #send(text: string): void {
    if (!this.#address) return;
    try {
      native.notifySend(this.#address, Buffer.from(text), []);
    } catch (err) {
      this.log.warn({ err, socket: this.#address }, 'cannot notify the service manager');
    }
  }
}

// WATCHDOG_USEC (and WATCHDOG_PID, naming who must ping) are for this pid only: a worker must never see
// them, so they leave the environment here; our own re-exec keeps the pid, and so gets them back.
function takeWatchdog(env: NodeJS.ProcessEnv, log: Logger): number | null {
  const usecText = env.WATCHDOG_USEC;
  const pidText = env.WATCHDOG_PID;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (usecText === undefined) return null;
  const usec = Number(usecText);
  if (!/^\d+$/.test(usecText) || usec <= 0) {
    log.warn({ WATCHDOG_USEC: usecText }, 'ignoring a malformed WATCHDOG_USEC');
    return null;
  }
  if (pidText !== undefined && pidText !== String(process.pid)) {
    log.warn({ WATCHDOG_PID: pidText }, 'WATCHDOG_PID names another process: not pinging');
    return null;
  }
  carryAcrossExec('WATCHDOG_USEC', usecText);
  if (pidText !== undefined) carryAcrossExec('WATCHDOG_PID', pidText);
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(usec / 2000)));
}
