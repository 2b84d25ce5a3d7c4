// The worker's side of custody, and its reply path. Everything a turn of the event loop produced goes out
// as one batch: the replies into the reply pipe (behind a header), then one commit datagram with the
// custody changes and fds, then — once that datagram is in the supervisor's queue — each reply is spliced
// from the pipe into its client's socket. The supervisor consumes the requests when it applies the commit.
//
// Why this order survives a crash at any instant: a commit in the supervisor's socket queue is custody
// (the kernel holds its fds even if we die now), so no reply ever reports what custody lacks; a request is
// consumed only by the supervisor, only once its effect is filed, so an unfiled one is still queued for the
// next worker; and splice moves reply bytes out of the pipe exactly as it sends them, so after our death
// the pipe shows the supervisor which replies (or tails of replies) never left.
import type { Logger } from 'pino';
import { ControlChannel } from '../shared/custody/channel';
import { COMMIT_CODEC_VERSION, encodeCommit } from '../shared/custody/commit-codec';
import type { CustodyRecord } from '../shared/custody/records/custody-record';
import type { CommitEntry, CustodyOp, FaultRequest, ReplyOrder, SupervisorMessage, WorkerMessage } from '../shared/custody/messages';
import { REPLY_BATCH_HEADER_BYTES, encodeBatchHeader } from '../shared/custody/reply-batch';
import { COMMIT_FDS_MAX } from '../shared/platform/fd-budget';
import * as native from '../shared/platform/native';
import { testFaultInCommit } from './test-faults';

/** A custody change as the worker states it: fds are the worker's own (the kernel copies them). */
export type Change =
  | { op: 'put'; record: CustodyRecord; fd: number | null }
  | { op: 'drop'; key: string }
  | { op: 'join' | 'leave'; key: string; pid: number };

/** Where a reply goes: the client's custody key and socket, and how many peeked bytes the request took. */
export interface ReplyTarget {
  client: string;
  fd: number;
  consume: number;
  /** Per-connection tally that spaces out the unread-output checks (see #pipeable). */
  output: { outputSinceCheck: number };
}

/** The reply pipe the supervisor handed us (it keeps both ends too), and its capacity in bytes. */
export interface ReplyPipe {
  read: number;
  write: number;
  capacity: number;
}

// Replies up to this size go through the pipe; bigger ones (long error messages) are written by the
// supervisor, as are replies to a client that leaves its replies unread.
const PIPE_REPLY_MAX = 16 * 1024;
// A client with this much unread output (kernel memory, not bytes) could make a splice block; the
// supervisor queues for it instead. Asking costs a syscall, so we ask only after this much more output
// since the last answer (an estimate that counts a page per reply): the socket's default 208 KiB buffer
// then never fills up between two checks.
const UNREAD_OUTPUT_MAX = 64 * 1024;
const OUTPUT_CHECK_EVERY = 48 * 1024;
const OUTPUT_ESTIMATE_OVERHEAD = 4096 + 1024;
// Batch entries into commits of about one datagram (one entry alone may be far bigger: the channel sends
// it in fragments), and a batch inside the pipe.
const COMMIT_BYTES_MAX = 128 * 1024;

interface Pending {
  seq: number;
  changes: readonly Change[];
  fdCount: number;
  reply: ReplyOrder | null;
  /** The reply bytes when they go through the pipe. */
  piped: Buffer | null;
  fd: number;
  ack: boolean;
  /** Resolves the caller: reply delivered (or, without one, commit in the supervisor's queue). */
  done: () => void;
}

const discard = Buffer.allocUnsafe(64 * 1024);

export class CustodyLink {
  #nextSeq = 1;
  #nextBatch = 1;
  #pending: Pending[] = [];
  #scheduled = false;
  #flushing = false;
  readonly #waitingAck = new Map<number, () => void>();
  #pipe: ReplyPipe | null = null;
  #commitEveryMs = 0;
  /** Commit in the binary form (commit-codec.ts): only once the supervisor said it reads it. */
  #binary = false;
  /** The batch being put together and sent right now: the culprits if we die in the middle of it. */
  #sending: Pending[] | null = null;
  /** Clients whose next request goes in a batch of its own (it was in progress when a worker crashed). */
  readonly #isolated = new Set<string>();
  #log: Logger;

  constructor(
    private readonly channel: ControlChannel<SupervisorMessage, WorkerMessage>,
    log: Logger,
  ) {
    this.#log = log;
  }

  /** Logs through `log` from now on (the worker's configured logger replaces its bootstrap one at `init`). */
  logTo(log: Logger): void {
    this.#log = log;
  }

  /** Takes the reply pipe from `init` (nothing is committed before it). */
  usePipe(pipe: ReplyPipe): void {
    this.#pipe = pipe;
  }

  /** Each of these clients' next request is committed alone, so a crash there names it alone. */
  isolate(clients: Iterable<string>): void {
    for (const client of clients) this.#isolated.add(client);
  }

  /** Tells the supervisor a suspect request is about to run (see RunningMessage). */
  announce(request: FaultRequest): void {
    this.channel.send({ type: 'running', request });
  }

  /** Clients whose requests are in the batch being sent right now (empty between batches). */
  get sendingClients(): string[] {
    return (this.#sending ?? []).flatMap((p) => (p.reply ? [p.reply.client] : []));
  }

  /**
   * The binary commit versions the supervisor reads (CodecsMessage): commits go in binary from now on if
   * ours is among them, else as JSON.
   */
  useCodecs(versions: readonly number[]): void {
    this.#binary = versions.includes(COMMIT_CODEC_VERSION);
  }

  /** Whether commits go in the binary form. */
  get committingBinary(): boolean {
    return this.#binary;
  }

  /** Commits at most every `ms` (0: every turn); see PaceMessage for why. */
  pace(ms: number): void {
    this.#commitEveryMs = ms;
  }

  /** Commits not yet in the supervisor's queue, or waiting for its acknowledgement. */
  get inFlight(): number {
    return this.#pending.length + this.#waitingAck.size + (this.#flushing ? 1 : 0);
  }

  /**
   * Files `changes` and, if `target` is given, the reply to the request it names. Resolves once the reply
   * has reached the client's socket (or, without a reply, once the changes are in custody).
   */
  commit(changes: readonly Change[], reply: Buffer | null, target: ReplyTarget | null): Promise<void> {
    return new Promise<void>((done) => this.#add(changes, reply, target, false, done));
  }

  /** Resolves once the supervisor has applied everything committed so far. */
  barrier(): Promise<void> {
    return new Promise<void>((done) => this.#add([], null, null, true, done));
  }

  /** The supervisor applied these entries. */
  acknowledge(seqs: readonly number[]): void {
    for (const seq of seqs) {
      const resolve = this.#waitingAck.get(seq);
      if (!resolve) {
        this.#log.warn({ seq }, 'acknowledgement for an unknown commit');
        continue;
      }
      this.#waitingAck.delete(seq);
      resolve();
    }
  }

  #add(changes: readonly Change[], reply: Buffer | null, target: ReplyTarget | null, ack: boolean, done: () => void): void {
    const piped = reply !== null && target !== null && this.#pipeable(reply, target) ? reply : null;
    const data = reply && !piped ? reply.toString('base64') : '';
    this.#pending.push({
      seq: this.#nextSeq++,
      changes,
      fdCount: changes.reduce((n, c) => n + (c.op === 'put' && c.fd !== null ? 1 : 0), 0),
      reply: target ? { client: target.client, consume: target.consume, piped: piped?.length ?? 0, data } : null,
      piped,
      fd: target?.fd ?? -1,
      ack: ack || data.length > 0,
      done,
    });
    if (!this.#scheduled) {
      this.#scheduled = true;
      const flush = (): void => {
        this.#scheduled = false;
        this.#flush();
      };
      if (this.#commitEveryMs > 0) setTimeout(flush, this.#commitEveryMs);
      else setImmediate(flush);
    }
  }

  #pipeable(reply: Buffer, target: ReplyTarget): boolean {
    if (!this.#pipe || reply.length === 0 || reply.length > PIPE_REPLY_MAX) return false;
    const tally = target.output;
    tally.outputSinceCheck += reply.length + OUTPUT_ESTIMATE_OVERHEAD;
    if (tally.outputSinceCheck < OUTPUT_CHECK_EVERY) return true;
    try {
      if (native.queuedOut(target.fd) > UNREAD_OUTPUT_MAX) return false;
    } catch {
      return false; // the client is gone: the supervisor will find out
    }
    tally.outputSinceCheck = 0;
    return true;
  }

  // Sends what is pending as batches that each fit one datagram and the pipe.
  #flush(): void {
    while (!this.#flushing && this.#pending.length > 0) {
      const count = this.#batchSize();
      const pending = this.#pending.splice(0, count);
      this.#sending = pending;
      for (const p of pending) testFaultInCommit(p.changes);
      const fds: number[] = [];
      const entries: CommitEntry[] = pending.map((p) => ({
        seq: p.seq,
        ops: p.changes.map((c): CustodyOp => (c.op !== 'put' ? c : { op: 'put', record: c.record, fdIndex: c.fd === null ? null : fds.push(c.fd) - 1 })),
        reply: p.reply,
        ack: p.ack,
      }));
      const piped = pending.filter((p) => p.piped !== null);
      const batch = piped.length > 0 ? this.#nextBatch++ : null;
      if (batch !== null) this.#fillPipe(batch, piped);
      const frame = this.#binary ? encodeCommit({ batch, entries }) : null;
      const inKernel = frame ? this.channel.sendFrame(frame, fds) : this.channel.send({ type: 'commit', batch, entries }, fds);
      this.#sending = null;
      if (inKernel) {
        this.#spliceRepliesAndSettle(pending, piped, batch);
        continue;
      }
      // The supervisor is not reading (it may be re-executing): replies wait until the commit is queued.
      this.#flushing = true;
      void this.channel.flushed().then(() => {
        this.#flushing = false;
        if (this.channel.closed) return;
        this.#spliceRepliesAndSettle(pending, piped, batch);
        this.#flush();
      });
    }
  }

  #batchSize(): number {
    const pipeRoom = (this.#pipe?.capacity ?? 0) - REPLY_BATCH_HEADER_BYTES;
    let fds = 0;
    let pipeBytes = 0;
    let commitBytes = 0;
    for (let i = 0; i < this.#pending.length; i++) {
      const p = this.#pending[i]!;
      if (this.#isolated.size > 0 && p.reply && this.#isolated.has(p.reply.client)) {
        if (i > 0) return i;
        this.#isolated.delete(p.reply.client);
        return 1;
      }
      fds += p.fdCount;
      pipeBytes += p.piped?.length ?? 0;
      commitBytes += (p.reply?.data.length ?? 0) + 256 * p.changes.length + 96;
      // The fd bound is the supervisor's: see fd-budget.ts.
      if (i > 0 && (fds > COMMIT_FDS_MAX || pipeBytes > pipeRoom || commitBytes > COMMIT_BYTES_MAX)) return i;
    }
    return this.#pending.length;
  }

  #fillPipe(batch: number, piped: Pending[]): void {
    const total = piped.reduce((n, p) => n + p.piped!.length, 0);
    const bytes = Buffer.concat([encodeBatchHeader(batch, total, piped.length), ...piped.map((p) => p.piped!)], REPLY_BATCH_HEADER_BYTES + total);
    // The pipe is empty between batches and a batch fits in it, so this write is whole or something is
    // badly wrong; dying is then the safe move (the supervisor discards an uncommitted batch).
    const written = native.write(this.#pipe!.write, bytes, 0, bytes.length);
    if (written !== bytes.length) throw new Error(`reply pipe took ${written ?? 0} of ${bytes.length} bytes`);
  }

  // The batch's commit is in the supervisor's queue: splice its replies from the pipe into their clients,
  // then settle each entry's caller (at once, or on the supervisor's acknowledgement where it asked for one).
  #spliceRepliesAndSettle(pending: Pending[], piped: Pending[], batch: number | null): void {
    if (batch !== null) {
      skip(this.#pipe!.read, REPLY_BATCH_HEADER_BYTES);
      for (const p of piped) this.#splice(p.fd, p.piped!.length);
    }
    for (const p of pending) {
      if (p.ack) this.#waitingAck.set(p.seq, p.done);
      else p.done();
    }
  }

  #splice(fd: number, length: number): void {
    let left = length;
    while (left > 0) {
      let n: number | null;
      try {
        n = native.splice(this.#pipe!.read, fd, left);
      } catch (err) {
        // The client is gone (EPIPE, ECONNRESET): its reply goes nowhere, but must leave the pipe.
        this.#log.debug({ code: (err as { code?: string }).code }, 'reply not delivered: client gone');
        return skip(this.#pipe!.read, left);
      }
      if (n === null) {
        // Cannot happen while unread output is bounded; if it does, this client loses its reply.
        this.#log.error({ fd, left }, 'client socket full while sending a reply; dropping the rest of it');
        return skip(this.#pipe!.read, left);
      }
      left -= n;
    }
  }
}

function skip(fd: number, length: number): void {
  let left = length;
  while (left > 0) {
    const n = native.read(fd, discard, 0, Math.min(left, discard.length));
    if (n === null || n === 0) throw new Error(`reply pipe ran dry with ${left} bytes to skip`);
    left -= n;
  }
}
