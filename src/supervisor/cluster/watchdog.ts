// The host's watchdog device (cluster_watchdog_device), petted only while the host lease is renewed: a
// supervisor that stops running (wedged event loop, SIGSTOP, a crash) or a lease that lapses stops the pets,
// and the device resets the host when its own timeout runs out, as sanlock's wdmd does.
//
// The Linux watchdog API: opening the device starts its timer, every write restarts it, and writing the
// magic character 'V' just before close stops it ("magic close"; a driver built with nowayout ignores it).
// Closing without it leaves the timer running. So an upgrade (exec) keeps the fd open and hands its number to
// the next image in the state document, which goes on petting the same open device; only a clean stop
// disarms it. The device's timeout is its own (the addon has no WDIOC_* ioctl): it must exceed the TTL.
import type { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import * as native from '../../shared/platform/native';
import type { CarriedWatchdog } from '../upgrade/state-document';
import type { HostLeaseEvents } from './host-lease';

export type { CarriedWatchdog };

export interface WatchdogStatus {
  device: string;
  /** The device is open (its timer runs) and not disarmed. */
  armed: boolean;
  /** Writes that restarted the device's timer, since the daemon started. */
  pets: number;
  /** Writes the device refused (each is logged). */
  petFailures: number;
  /** Wall-clock ms of the last pet by this image, or null. */
  lastPetAt: number | null;
}

/** The lease as the watchdog reads it: its safe deadline, and the events that move it. */
export type PettingLease = EventEmitter<HostLeaseEvents> & { readonly deadlineNs: bigint | null };

/** One byte restarts the timer; anything but 'V', which would let the next close stop it. */
const PET = Buffer.from('.');
const MAGIC_CLOSE = Buffer.from('V');

const nowNs = (): bigint => process.hrtime.bigint();

export class Watchdog {
  #fd: number | null;
  #pets: number;
  #petFailures = 0;
  #lastPetAt: number | null = null;
  #lease: PettingLease | null = null;
  #intervalMs = 0;
  /** The device's timeout: a pet is a promise that the host is reset within it unless petted again. */
  #timeoutNs = 0n;
  #timer: NodeJS.Timeout | null = null;
  readonly #onRenewal = (): void => this.#petIfLeased();
  readonly #onLapse = (): void => this.#clearTimer();

  private constructor(
    readonly device: string,
    fd: number,
    pets: number,
    private readonly log: Logger,
  ) {
    this.#fd = fd;
    this.#pets = pets;
  }

  /**
   * Opens (and so arms) the device. Nothing pets it until follow() sees a renewed lease.
   * @throws Error with a one-line message naming the device and the cause.
   */
  static open(device: string, log: Logger): Watchdog {
    let fd: number;
    try {
      // libuv opens close-on-exec; an upgrade clears that for this fd alone.
      fd = fs.openSync(device, fs.constants.O_WRONLY);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new Error(`cannot open the cluster watchdog device ${device}: ${e.code ?? e.message}${e.code === 'EBUSY' ? ' (another process, wdmd or a watchdog daemon, has it open)' : ''}`, { cause: err });
    }
    if (!fs.fstatSync(fd).isCharacterDevice()) log.warn({ device }, 'the cluster watchdog device is not a character device: it can reset nothing');
    log.info({ device }, 'cluster watchdog device opened: armed, petted only while the host lease is renewed');
    return new Watchdog(device, fd, 0, log);
  }

  /** Takes over the device an upgraded image left open (the fd is close-on-exec again from here on). */
  static adopt(carried: CarriedWatchdog, log: Logger): Watchdog {
    native.setCloexec(carried.fd, true);
    log.info({ device: carried.device, fd: carried.fd }, 'cluster watchdog device kept across the upgrade');
    return new Watchdog(carried.device, carried.fd, carried.pets, log);
  }

  get fd(): number | null {
    return this.#fd;
  }

  /**
   * Pets on each grant and renewal of `lease`, and between them at most every `intervalMs`, each time only if
   * the device, petted no more, would reset the host by the lease's safe deadline (`timeoutMs`: the device's
   * timeout): never without a lease, never so late that the reset could come after etcd lets the lease go.
   */
  follow(lease: PettingLease, intervalMs: number, timeoutMs: number): void {
    if (this.#lease !== null) throw new Error('Watchdog.follow() called twice');
    this.#lease = lease;
    this.#intervalMs = intervalMs;
    this.#timeoutNs = BigInt(Math.round(timeoutMs * 1e6));
    lease.on('granted', this.#onRenewal);
    lease.on('renewed', this.#onRenewal);
    lease.on('deadline-passed', this.#onLapse);
    // A lease resumed after an upgrade is held before any event says so.
    this.#petIfLeased();
  }

  /** What the next image needs to go on petting the open device, or null once disarmed. */
  carry(): CarriedWatchdog | null {
    return this.#fd === null ? null : { device: this.device, fd: this.#fd, pets: this.#pets };
  }

  /** A clean stop: no more pets, the magic character, close. The timer then stops (unless nowayout). */
  disarm(): void {
    this.#unfollow();
    const fd = this.#fd;
    if (fd === null) return;
    this.#fd = null;
    try {
      native.write(fd, MAGIC_CLOSE, 0, MAGIC_CLOSE.length);
    } catch (err) {
      this.log.error({ err, device: this.device }, 'cannot write the magic close to the cluster watchdog device: its timer keeps running');
    }
    native.close(fd);
    this.log.info({ device: this.device, pets: this.#pets }, 'cluster watchdog device disarmed');
  }

  status(): WatchdogStatus {
    return { device: this.device, armed: this.#fd !== null, pets: this.#pets, petFailures: this.#petFailures, lastPetAt: this.#lastPetAt };
  }

  #unfollow(): void {
    this.#clearTimer();
    const lease = this.#lease;
    if (lease === null) return;
    lease.off('granted', this.#onRenewal);
    lease.off('renewed', this.#onRenewal);
    lease.off('deadline-passed', this.#onLapse);
  }

  // The clock decides, not the events: a timer or an event handled after the deadline pets nothing.
  #petIfLeased(): void {
    this.#clearTimer();
    const deadline = this.#lease?.deadlineNs ?? null;
    if (this.#fd === null || deadline === null || nowNs() + this.#timeoutNs > deadline) return;
    this.#pet(this.#fd);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#petIfLeased();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  #pet(fd: number): void {
    try {
      if (native.write(fd, PET, 0, PET.length) !== PET.length) throw new Error('the device took no byte');
      this.#pets++;
      this.#lastPetAt = Date.now();
    } catch (err) {
      this.#petFailures++;
      this.log.error({ err, device: this.device }, 'cannot pet the cluster watchdog device');
    }
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/**
 * The watchdog this image pets: the device an upgrade carried when it is still the configured one, else the
 * configured device opened now (a carried device no longer configured is disarmed first), or null.
 * @throws Error (one line) when the configured device cannot be opened.
 */
export function takeWatchdog(device: string | null, carried: CarriedWatchdog | null, log: Logger): Watchdog | null {
  if (carried !== null) {
    const kept = Watchdog.adopt(carried, log);
    if (kept.device === device) return kept;
    log.warn({ carried: carried.device, configured: device }, 'the cluster watchdog device is no longer configured: disarming it');
    kept.disarm();
  }
  return device === null ? null : Watchdog.open(device, log);
}
