// The request in progress on one connection. There is at most one (libvirt's nrequests_client_max = 1),
// so each connection keeps one slot and every request fills it in again: the reply target custody needs,
// the dispatch outcome and the callbacks that finish the request, none of them allocated per request.
import type { Connection } from './connection';
import type { DispatchOutcome } from './program';

export class RequestSlot implements DispatchOutcome {
  /** Peeked bytes of the request still queued in the socket: the supervisor consumes them. */
  consume = 0;
  /** When the request arrived (process.hrtime ns) for the few that are timed, else 0n. */
  started = 0n;
  /** Hang up once the reply is out (the admin program's CONNECT_CLOSE). */
  hangUp = false;
  reply: Buffer | null = null;
  procedure = '';
  ok = false;
  readonly fd: number;
  /** Where custody tallies the reply memory sent to this client. */
  readonly output: Connection;
  /** Once the reply is out: bound once, so that it can be handed to custody as is. */
  readonly settle: () => void;
  /** If filing or replying failed: the connection is dropped. */
  readonly fail: (err: unknown) => void;

  constructor(
    readonly connection: Connection,
    /** The client's custody key. */
    readonly client: string,
    finish: (slot: RequestSlot) => void,
  ) {
    this.fd = connection.fd;
    this.output = connection;
    this.settle = () => finish(this);
    this.fail = (err) => connection.failed(err);
  }
}
