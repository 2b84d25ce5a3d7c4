// Custody: the supervisor's copy of everything that must outlive a worker.
//
// THE INVARIANT. A lock or a client connection is never held only by a process that might go away.
// The worker files a record (and the fd) for every client it serves, every resource it locks and every
// lockspace it creates, and answers a request only once that commit sits in our socket queue (where the
// kernel keeps its fds even if the worker dies). We apply commits in order and consume each request's
// bytes only after applying it, so a request is consumed only if its effect is in custody: one the worker
// peeked but never committed is still queued for the next worker. The worker peeks at a moving offset, so
// consuming can wait: we do it in bulk (a syscall per many requests), and completely before any worker
// starts reading a socket from its head again (consumeAll).
//
// Replies: the worker splices them from a pipe we also hold (see reply-batch.ts), so after its death we
// send exactly the ones that never left. Replies too big for the pipe, and those to a client that does not
// read its replies, come inline in the commit and are written here. We never crash between consuming and
// replying, and the worker never does either for a request it did not file.
//
// The supervisor never parses the lock protocol: records are opaque data beside fds, replies opaque bytes.
import type { Logger } from 'pino';
import { type CustodyRecord, custodyKey } from '../shared/custody/records/custody-record';
import type { ResourceRecord } from '../shared/custody/records/resource-record';
import type { CommitEntry } from '../shared/custody/messages';
import * as native from '../shared/platform/native';

/** Told of every resource record put or dropped by a worker (systemd's fd store follows custody). */
export interface ResourceObserver {
  /**
   * `fdChanged`: the record came with a new fd (now `entry.fd`); else only its data changed. `joined`: the
   * only change is this owner pid added (else null: anything may have changed).
   */
  put(key: string, entry: CustodyEntry, fdChanged: boolean, joined?: number | null): void;
  dropped(key: string): void;
}

export interface CustodyEntry {
  record: CustodyRecord;
  /** Our own fd (close-on-exec), or null for records without one. */
  fd: number | null;
}

// Scratch space for consuming request bytes we never look at.
const discard = Buffer.allocUnsafe(256 * 1024);
const noop = (): void => undefined;
// Consume a client's answered requests once this many (or this many bytes) are waiting. Each unconsumed
// request holds a little of the client's send buffer, so the bound keeps it from filling up.
const CONSUME_EVERY_REQUESTS = 32;
const CONSUME_EVERY_BYTES = 16 * 1024;

export class Custody {
  readonly #entries = new Map<string, CustodyEntry>();
  readonly #writers = new Map<string, ReplyWriter>();
  /** Answered requests not consumed yet, per client key. */
  readonly #unconsumed = new Map<string, { fd: number; bytes: number; requests: number }>();
  /** Null unless systemd's fd store is in use: the common path pays one test per op. */
  #observer: ResourceObserver | null = null;

  /** Sets of keys that see every put or drop from now on (a staged snapshot's delta is read from one). */
  readonly #changeTrackers = new Set<Set<string>>();

  constructor(private readonly log: Logger) {}

  /** A set that receives the key of every record put, changed or dropped from now on, until untracked. */
  trackChanges(): Set<string> {
    const changed = new Set<string>();
    this.#changeTrackers.add(changed);
    return changed;
  }

  untrackChanges(changed: Set<string>): void {
    this.#changeTrackers.delete(changed);
  }

  #changed(key: string): void {
    for (const changed of this.#changeTrackers) changed.add(key);
  }

  /** Told of every cluster resource put (the cluster keeper fences holds on a stale lease). */
  onClusterResource: ((record: ResourceRecord) => void) | null = null;

  observeResources(observer: ResourceObserver): void {
    this.#observer = observer;
  }

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
   * Applies one commit entry: its custody ops, then consumes its request. Calls `done` once an inline reply
   * is fully written (at once if there is none, or the client is not reading). `fds` are the datagram's
   * fds; used ones become ours, the caller closes the rest.
   */
  apply(entry: CommitEntry, fds: number[], used: Set<number>, done: () => void): void {
    for (const op of entry.ops) {
      if (op.op === 'drop') {
        this.#observer?.dropped(op.key);
        this.#drop(op.key);
        continue;
      }
      if (op.op !== 'put') {
        this.#changeOwners(entry.seq, op.key, op.pid, op.op === 'join');
        continue;
      }
      // A binary commit carries the key, already checked against the record (commit-codec.ts).
      const key = op.key ?? custodyKey(op.record);
      const previous = this.#entries.get(key);
      let fd = previous?.fd ?? null;
      if (op.fdIndex !== null) {
        const given = fds[op.fdIndex];
        if (given === undefined || used.has(given)) throw new Error(`commit ${entry.seq} names fd index ${op.fdIndex} it does not carry`);
        used.add(given);
        if (fd !== null) native.close(fd);
        fd = given;
      }
      const stored = { record: op.record, fd };
      this.#entries.set(key, stored);
      if (this.#changeTrackers.size !== 0) this.#changed(key);
      if (this.#observer && op.record.kind === 'resource') this.#observer.put(key, stored, op.fdIndex !== null);
      if (op.record.kind === 'resource' && op.record.cluster !== undefined) this.onClusterResource?.(op.record);
    }
    const reply = entry.reply;
    // The client is gone if it was dropped in this very commit, or never filed: nothing to consume or answer.
    const client = reply ? this.#entries.get(reply.client) : undefined;
    if (reply && client?.fd != null && reply.consume > 0) this.#owe(reply.client, client.fd, reply.consume);
    // A worker waiting for our word may be about to read a socket from its head: settle every debt first.
    if (entry.ack) this.consumeAll();
    if (!reply || !client || client.fd === null) return done();
    if (reply.data.length > 0) this.#writerFor(reply.client, client.fd).write(Buffer.from(reply.data, 'base64'), done);
    else done();
  }

  // One ownership more or less in a held resource: the record's owner list changes in place (copying it
  // would make each of N shared acquires cost N), under a new entry object so snapshot deltas see it.
  #changeOwners(seq: number, key: string, pid: number, join: boolean): void {
    const held = this.#entries.get(key);
    if (!held || held.record.kind !== 'resource') throw new Error(`commit ${seq} changes the owners of ${key}, which custody holds no resource for`);
    const owners = held.record.owners;
    if (join) owners.push(pid);
    else {
      const at = owners.indexOf(pid);
      if (at < 0) throw new Error(`commit ${seq} removes owner ${pid} of ${key}, which it does not hold`);
      owners.splice(at, 1);
    }
    const stored = { record: held.record, fd: held.fd };
    this.#entries.set(key, stored);
    if (this.#changeTrackers.size !== 0) this.#changed(key);
    this.#observer?.put(key, stored, false, join ? pid : null);
  }

  /**
   * True if some client socket holds bytes no commit has answered yet: a request waits for a worker (or a
   * partial one is arriving). One ioctl per client; asked only when a worker has been quiet for a while.
   */
  hasUnansweredInput(): boolean {
    return this.clientsWithUnansweredInput(1).length > 0;
  }

  /** The clients (custody keys, at most `limit`) whose sockets hold bytes no commit has answered. */
  clientsWithUnansweredInput(limit = Number.POSITIVE_INFINITY): string[] {
    const waiting: string[] = [];
    for (const [key, entry] of this.#entries) {
      if (waiting.length >= limit) break;
      if (entry.record.kind !== 'client' || entry.fd === null) continue;
      let queued: number;
      try {
        queued = native.queuedIn(entry.fd);
      } catch {
        continue; // gone: the worker drops it when it sees the hang-up
      }
      if (queued > (this.#unconsumed.get(key)?.bytes ?? 0)) waiting.push(key);
    }
    return waiting;
  }

  /** True while some reply we write ourselves waits for its client to read (an exec would lose it). */
  hasQueuedReplies(): boolean {
    for (const writer of this.#writers.values()) if (writer.busy) return true;
    return false;
  }

  /** Consumes every answered request still queued; must run before a worker starts (or resumes) reading. */
  consumeAll(): void {
    for (const debt of this.#unconsumed.values()) this.#consume(debt.fd, debt.bytes);
    this.#unconsumed.clear();
  }

  #owe(key: string, fd: number, bytes: number): void {
    let debt = this.#unconsumed.get(key);
    if (!debt || debt.fd !== fd) {
      if (debt) this.#consume(debt.fd, debt.bytes);
      debt = { fd, bytes: 0, requests: 0 };
      this.#unconsumed.set(key, debt);
    }
    debt.bytes += bytes;
    debt.requests++;
    if (debt.requests >= CONSUME_EVERY_REQUESTS || debt.bytes >= CONSUME_EVERY_BYTES) {
      this.#consume(fd, debt.bytes);
      this.#unconsumed.delete(key);
    }
  }

  /** Writes reply bytes a dead worker left unsent to their client, after anything already queued for it. */
  writeUnsentReply(clientKey: string, bytes: Buffer): boolean {
    const client = this.#entries.get(clientKey);
    if (!client || client.fd === null) return false;
    this.#writerFor(clientKey, client.fd).write(bytes, noop);
    return true;
  }

  #consume(fd: number, length: number): void {
    let left = length;
    try {
      while (left > 0) {
        const n = native.recv(fd, discard, 0, Math.min(left, discard.length), false);
        if (n === null || n === 0) throw new Error(`${left} request bytes vanished before they were consumed`);
        left -= n;
      }
    } catch (err) {
      // A peer that vanished has nothing left to consume; the worker sees the hang-up and drops the record.
      this.log.debug({ fd, left, err }, 'request not consumed');
    }
  }

  /** Takes entries rebuilt from a state document (their fds are ours now). */
  adopt(entries: Iterable<[string, CustodyEntry]>): void {
    for (const [key, entry] of entries) {
      this.#entries.set(key, entry);
      if (this.#changeTrackers.size !== 0) this.#changed(key);
    }
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get(key: string): CustodyEntry | undefined {
    return this.#entries.get(key);
  }

  /** Closes every fd we hold (clean stop only: the locks and connections end with them). */
  closeAll(): void {
    for (const key of [...this.#entries.keys()]) this.#drop(key);
  }

  #drop(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    if (this.#changeTrackers.size !== 0) this.#changed(key);
    this.#unconsumed.delete(key);
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

/** Writes replies on one client socket, in order, with backpressure. */
class ReplyWriter {
  readonly #queue: Array<{ bytes: Buffer; done: () => void }> = [];
  #poller: native.Poller | null = null;

  constructor(
    readonly fd: number,
    private readonly log: Logger,
  ) {}

  get busy(): boolean {
    return this.#queue.length > 0;
  }

  write(bytes: Buffer, done: () => void): void {
    this.#queue.push({ bytes, done });
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
