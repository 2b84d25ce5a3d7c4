// The error a daemon call rejects with when holdfastd (or virtlockd) answered with an ERROR reply: the
// libvirt error's code, domain and message, whatever the program.
import type { VirError } from '../shared/protocol/vir-error';

/**
 * The daemon answered a call with an ERROR reply. `code`, `domain` and `message` are those of the
 * libvirt error; the complete decoded error is in `virError`.
 */
export class DaemonError extends Error {
  override readonly name: string = 'DaemonError';
  /** libvirt error code (`VirErrorCode`). */
  readonly code: number;
  /** libvirt error domain (`VirErrorDomain`). */
  readonly domain: number;
  /** The full `virNetMessageError`. */
  readonly virError: VirError;
  /** The procedure that failed. */
  readonly proc: number;

  constructor(virError: VirError, proc: number) {
    super(virError.message);
    this.code = virError.code;
    this.domain = virError.domain;
    this.virError = virError;
    this.proc = proc;
  }
}
