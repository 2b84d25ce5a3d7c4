// Custody: the supervisor's copy of everything that must outlive a worker.
//
// THE INVARIANT. A lock or a client connection is never held only by a process that might go away.
// The worker files a record (and a dup of the fd) for every client it serves, every resource it locks
// and every lockspace it creates; the supervisor applies those changes and only then consumes the
// request bytes and writes the reply that reports them. So a request is answered iff its effect is in
// custody, exactly once, whatever happens to the worker: a request the worker peeked but never committed
// is still queued in the socket for the next worker.
//
// Why the supervisor, not the worker, writes replies: "consume the request" and "send the reply" are two
// syscalls. If the worker did both, a crash between them would either lose the reply (consumed, unsent) or
// answer twice (sent, not consumed, then replayed by the next worker); no ordering closes both windows.
// The supervisor does not crash between them, so it is the one place where both can happen together. The
// price is a third process in every request's path.
//
// The supervisor never parses the lock protocol: records are opaque data beside fds, replies opaque bytes.
import type { Logger } from 'pino';
import type { CustodyRecord } from '../shared/control/custody-records';
import { custodyKey } from '../shared/control/custody-records';
import type { CommitEntry } from '../shared/control/messages';
import * as native from '../shared/native';

export interface CustodyEntry {
  record: CustodyRecord;
  /** Our own fd (close-on-exec), or null for records without one. */
  fd: number | null;
}

// Scratch space for consuming request bytes we never look at.
const discard = Buffer.allocUnsafe(256 * 1024);

export class Custody {
  readonly #entries = new Map<string, CustodyEntry>();
  readonly #writers = new Map<string, ReplyWriter>();

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.#entries.size;
  }

  entries(): IterableIterator<[string, CustodyEntry]> {
    return this.#entries.entries();
  }

  count(kind: CustodyRecord['kind']): number {
    let n = 0;
    for (const entry of this.#entries.values()) if (entry.record.kind === kind) n++;
    return n;
  }

  /**
   * Applies one commit entry: its custody ops, then its reply. Calls `done` once the reply is fully
   * written (at once, unless the client is not reading). `fds` are the datagram's fds; used ones become
   * ours, the caller closes the rest.
   */
  apply(entry: CommitEntry, fds: number[], used: Set<number>, done: () => void): void {
    for (const op of entry.ops) {
      if (op.op === 'drop') {
        this.#drop(op.key);
        continue;
      }
      const key = custodyKey(op.record);
      const previous = this.#entries.get(key);
      let fd = previous?.fd ?? null;
      if (op.fdIndex !== null) {
        const given = fds[op.fdIndex];
        if (given === undefined || used.has(given)) throw new Error(`commit ${entry.seq} names fd index ${op.fdIndex} it does not carry`);
        used.add(given);
        if (fd !== null) native.close(fd);
        fd = given;
      }
      this.#entries.set(key, { record: op.record, fd });
    }
    if (!entry.reply) return done();
    const client = this.#entries.get(entry.reply.client);
    if (!client || client.fd === null) {
      // The client is gone (dropped in this very commit, or never filed): nothing to answer.
      return done();
    }
    this.#writerFor(entry.reply.client, client.fd).write(entry.reply.consume, Buffer.from(entry.reply.data, 'base64'), done);
  }

  /** Takes entries rebuilt from a state document (their fds are ours now). */
  adopt(entries: Iterable<[string, CustodyEntry]>): void {
    for (const [key, entry] of entries) this.#entries.set(key, entry);
  }

  /** Closes every fd we hold (clean stop only: the locks and connections end with them). */
  closeAll(): void {
    for (const key of [...this.#entries.keys()]) this.#drop(key);
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#writers.get(key)?.close();
    this.#writers.delete(key);
    if (entry.fd !== null) native.close(entry.fd);
  }

  #writerFor(key: string, fd: number): ReplyWriter {
    let writer = this.#writers.get(key);
    if (!writer || writer.fd !== fd) {
      writer?.close();
      writer = new ReplyWriter(fd, this.log);
      this.#writers.set(key, writer);
    }
    return writer;
  }
}

/** Consumes answered requests and writes replies on one client socket, in order, with backpressure. */
class ReplyWriter {
  readonly #queue: Array<{ consume: number; bytes: Buffer; done: () => void }> = [];
  #poller: native.Poller | null = null;

  constructor(
    readonly fd: number,
    private readonly log: Logger,
  ) {}

  write(consume: number, bytes: Buffer, done: () => void): void {
    this.#queue.push({ consume, bytes, done });
    if (this.#queue.length === 1) this.#flush();
  }

  close(): void {
    this.#poller?.close();
    this.#poller = null;
    // Whoever waits for these replies learns nothing more: the client is gone.
    for (const item of this.#queue.splice(0)) item.done();
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      try {
        while (head.consume > 0) {
          const n = native.recv(this.fd, discard, 0, Math.min(head.consume, discard.length), false);
          if (n === null || n === 0) throw new Error('request bytes vanished before they were consumed');
          head.consume -= n;
        }
        if (head.bytes.length > 0) {
          const sent = native.send(this.fd, head.bytes, 0, head.bytes.length);
          if (sent !== head.bytes.length) {
            if (sent !== null) head.bytes = head.bytes.subarray(sent);
            this.#waitWritable();
            return;
          }
        }
      } catch (err) {
        // A peer that vanished cannot be answered; the worker sees the hang-up and drops the record.
        this.log.debug({ fd: this.fd, code: (err as { code?: string }).code }, 'reply not delivered');
      }
      this.#queue.shift();
      head.done();
    }
    this.#poller?.stop();
  }

  #waitWritable(): void {
    this.#poller ??= new native.Poller(this.fd, () => this.#flush());
    this.#poller.start(native.Poller.WRITABLE);
  }
}
