// sd_notify: tells the service manager (systemd, or anything listening on $NOTIFY_SOCKET — a path or an
// abstract "@name") that the daemon is ready or reloading. A no-op when not started under one.
import type { Logger } from 'pino';
import * as native from '../shared/native';

export class ServiceNotifier {
  readonly #address: string | null;

  constructor(
    env: NodeJS.ProcessEnv,
    private readonly log: Logger,
  ) {
    // Kept in our environment (it must survive our own exec) but never passed to workers.
    this.#address = env.NOTIFY_SOCKET || null;
  }

  ready(status: string): void {
    this.#send(`READY=1\nMAINPID=${process.pid}\nSTATUS=${status}`);
  }

  /** Before re-executing: systemd holds off other jobs until READY=1 comes again. */
  reloading(): void {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    this.#send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}\nSTATUS=upgrading`);
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
