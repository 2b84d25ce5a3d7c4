// The worker's side of custody: files changes (records, fds) and reply orders with the supervisor and
// resolves each once the supervisor has applied it. Everything committed in one turn of the event loop
// travels in one datagram, so many clients cost few messages.
import type { Logger } from 'pino';
import { CONTROL_FDS_MAX, ControlChannel } from '../shared/control/channel';
import type { CustodyRecord } from '../shared/control/custody-records';
import type { CommitEntry, CustodyOp, SupervisorMessage, WorkerMessage } from '../shared/control/messages';

/** A custody change as the worker states it: fds are the worker's own (the link sends dups). */
export type Change = { op: 'put'; record: CustodyRecord; fd: number | null } | { op: 'drop'; key: string };

/** Where a reply goes: the client's custody key and how many peeked bytes the request took. */
export interface ReplyTarget {
  client: string;
  consume: number;
}

// Keep a batch comfortably inside one datagram.
const BATCH_BYTES = 128 * 1024;

export class CustodyLink {
  #nextSeq = 1;
  #entries: CommitEntry[] = [];
  #fds: number[] = [];
  #bytes = 0;
  #scheduled = false;
  readonly #waiting = new Map<number, () => void>();

  constructor(
    private readonly channel: ControlChannel<SupervisorMessage, WorkerMessage>,
    private readonly log: Logger,
  ) {}

  /** Commits still waiting for the supervisor. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /** Files `changes` and then the reply; resolves once the supervisor has applied both. */
  commit(changes: readonly Change[], reply: Buffer | null, target: ReplyTarget | null): Promise<void> {
    const fdCount = changes.reduce((n, c) => n + (c.op === 'put' && c.fd !== null ? 1 : 0), 0);
    if (this.#fds.length + fdCount > CONTROL_FDS_MAX) this.#flush();
    const ops: CustodyOp[] = changes.map((c) => (c.op === 'drop' ? c : { op: 'put', record: c.record, fdIndex: c.fd === null ? null : this.#fds.push(c.fd) - 1 }));
    const data = reply ? reply.toString('base64') : '';
    const entry: CommitEntry = { seq: this.#nextSeq++, ops, reply: target ? { client: target.client, consume: target.consume, data } : null };
    this.#entries.push(entry);
    this.#bytes += data.length + 256 * ops.length + 64;
    const applied = new Promise<void>((resolve) => this.#waiting.set(entry.seq, resolve));
    if (this.#bytes >= BATCH_BYTES) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return applied;
  }

  /** The supervisor applied these entries. */
  acknowledge(seqs: readonly number[]): void {
    for (const seq of seqs) {
      const resolve = this.#waiting.get(seq);
      if (!resolve) {
        this.log.warn({ seq }, 'acknowledgement for an unknown commit');
        continue;
      }
      this.#waiting.delete(seq);
      resolve();
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#entries.length === 0) return;
    const entries = this.#entries;
    const fds = this.#fds;
    this.#entries = [];
    this.#fds = [];
    this.#bytes = 0;
    this.channel.send({ type: 'commit', entries }, fds);
  }
}
