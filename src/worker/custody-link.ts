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
//
// A turn whose commit fits one datagram goes out in one native call (native/turn.c), which enforces that
// order where it happens: it splices nothing unless its sendmsg queued the commit whole. The flush runs as
// soon as the turn's handlers have run (process.nextTick), so a wake-up's requests go in one commit and the
// replies are the last thing the turn does before the worker sleeps again.
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import type { Logger } from 'pino';
import { ControlChannel } from '../shared/custody/channel';
import { COMMIT_CODEC_VERSION, encodeCommit } from '../shared/custody/commit-codec';
import type { CustodyRecord } from '../shared/custody/records/custody-record';
import type { CommitEntry, CustodyOp, FaultRequest, ReplyOrder, SupervisorMessage, WorkerMessage } from '../shared/custody/messages';
import { REPLY_BATCH_HEADER_BYTES, encodeBatchHeader, writeBatchHeader } from '../shared/custody/reply-batch';
import { COMMIT_FDS_MAX } from '../shared/platform/fd-budget';
import * as native from '../shared/platform/native';
import type { SyscallError } from '../shared/platform/native';
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

/** Counts the worker's turns: each flush that committed, and how many requests it answered. */
export interface TurnCounter {
  turn(requests: number): void;
}

interface Pending {
  seq: number;
  changes: readonly Change[];
  fdCount: number;
  reply: ReplyOrder | null;
  /** The reply bytes when they go through the pipe. */
  piped: Buffer | null;
  fd: number;
  ack: boolean;
  /** Settles the caller: reply delivered (or, without one, commit in the supervisor's queue). */
  done: () => void;
}

const nothing = (): void => {};
const { EAGAIN } = constants.errno;

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
  #turns: TurnCounter | null = null;
  // Reused by every turn (the worker is single-threaded and a flush is synchronous up to the native call).
  readonly #fds: number[] = [];
  readonly #entries: CommitEntry[] = [];
  readonly #batchPieces: Buffer[] = [];
  readonly #header = Buffer.allocUnsafe(REPLY_BATCH_HEADER_BYTES);
  #targets = new Int32Array(64);
  #outcomes = new Int32Array(32);
  readonly #flushNow = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

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

  /** Counts every committed turn into `counter` from now on. */
  countTurnsIn(counter: TurnCounter): void {
    this.#turns = counter;
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

  /**
   * As `commit`, without a Promise: calls `done` (if given) once the reply has reached the client's socket
   * (or, without a reply, once the changes are in custody).
   */
  submit(changes: readonly Change[], reply: Buffer | null, target: ReplyTarget | null, done?: () => void): void {
    this.#add(changes, reply, target, false, done ?? nothing);
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
      // Right after the handlers of this wake-up have run (every frame its readiness delivered), not a loop
      // turn later: the replies then end the turn, and the worker sleeps as its clients wake.
      if (this.#commitEveryMs > 0) setTimeout(this.#flushNow, this.#commitEveryMs);
      else process.nextTick(this.#flushNow);
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
    let requests = 0;
    let committed = false;
    while (!this.#flushing && this.#pending.length > 0) {
      const count = this.#batchSize();
      const pending = this.#pending.splice(0, count);
      this.#sending = pending;
      for (const p of pending) testFaultInCommit(p.changes);
      const fds = this.#fds;
      const entries = this.#entries;
      fds.length = 0;
      entries.length = 0;
      let pipedCount = 0;
      let pipedBytes = 0;
      let answered = 0;
      for (const p of pending) {
        entries.push({
          seq: p.seq,
          ops: p.changes.map((c): CustodyOp => (c.op !== 'put' ? c : { op: 'put', record: c.record, fdIndex: c.fd === null ? null : fds.push(c.fd) - 1 })),
          reply: p.reply,
          ack: p.ack,
        });
        if (p.piped !== null) {
          pipedCount++;
          pipedBytes += p.piped.length;
        }
        if (p.reply !== null) answered++;
      }
      const batch = pipedCount > 0 ? this.#nextBatch++ : null;
      const frame = (this.#binary ? encodeCommit({ batch, entries }) : null) ?? Buffer.from(JSON.stringify({ type: 'commit', batch, entries } satisfies WorkerMessage));
      entries.length = 0;
      let pipeFilled = false;
      if (this.channel.sendsWhole(frame.length, fds.length)) {
        if (this.#commitTurn(pending, batch, pipedCount, pipedBytes, frame)) {
          requests += answered;
          committed = true;
          continue;
        }
        pipeFilled = true;
      }
      // The slow path: a commit in fragments, a channel with messages queued, or one that did not take it.
      const piped = pending.filter((p) => p.piped !== null);
      if (batch !== null && !pipeFilled) this.#fillPipe(batch, piped);
      const inKernel = this.channel.sendFrame(frame, fds);
      this.#sending = null;
      if (inKernel) {
        this.#spliceRepliesAndSettle(pending, piped, batch);
        requests += answered;
        committed = true;
        continue;
      }
      // The supervisor is not reading (it may be re-executing): replies wait until the commit is queued.
      this.#flushing = true;
      void this.channel.flushed().then(() => {
        this.#flushing = false;
        if (this.channel.closed) return;
        this.#spliceRepliesAndSettle(pending, piped, batch);
        this.#turns?.turn(answered);
        this.#flush();
      });
    }
    if (committed) this.#turns?.turn(requests);
  }

  // One native call: the batch into the pipe, the commit, and — only once the commit is queued — every
  // reply to its client. False when the commit would block or failed to send: the pipe then holds the
  // whole batch and the slow path sends the commit (the channel queues it, or reports a dead peer).
  #commitTurn(pending: Pending[], batch: number | null, pipedCount: number, pipedBytes: number, frame: Buffer): boolean {
    const pipe = this.#pipe;
    const pieces = this.#batchPieces;
    pieces.length = 0;
    if (this.#targets.length < 2 * pipedCount) this.#targets = new Int32Array(4 * pipedCount);
    if (this.#outcomes.length < pipedCount) this.#outcomes = new Int32Array(2 * pipedCount);
    const targets = this.#targets;
    if (batch !== null) {
      pieces.push(writeBatchHeader(this.#header, batch, pipedBytes, pipedCount));
      let t = 0;
      for (const p of pending) {
        if (p.piped === null) continue;
        pieces.push(p.piped);
        targets[t++] = p.fd;
        targets[t++] = p.piped.length;
      }
    }
    let sent: true | null;
    try {
      sent = native.commitTurn(pipe?.write ?? -1, pipe?.read ?? -1, this.channel.fd, pieces, batch === null ? 0 : REPLY_BATCH_HEADER_BYTES, frame, this.#fds, targets, pipedCount, this.#outcomes);
    } catch (err) {
      // The pipe or a splice failed: as fatal as it was before. A failed sendmsg the channel handles.
      if ((err as SyscallError).syscall !== 'sendmsg') {
        if ((err as SyscallError).syscall !== 'writev') this.#sending = null;
        throw err;
      }
      sent = null;
    } finally {
      pieces.length = 0;
    }
    if (sent === null) return false;
    this.#sending = null;
    if (batch !== null) {
      let i = 0;
      for (const p of pending) if (p.piped !== null) this.#reportUndelivered(p.fd, p.piped.length, this.#outcomes[i++]!);
    }
    this.#settle(pending);
    return true;
  }

  #reportUndelivered(fd: number, length: number, errno: number): void {
    if (errno === 0) return;
    // Cannot happen while unread output is bounded; if it does, this client loses its reply.
    if (errno === EAGAIN) this.#log.error({ fd, left: length }, 'client socket full while sending a reply; dropping the rest of it');
    // The client is gone (EPIPE, ECONNRESET): its reply went nowhere, and has left the pipe.
    else this.#log.debug({ code: getSystemErrorName(-errno) }, 'reply not delivered: client gone');
  }

  #settle(pending: Pending[]): void {
    for (const p of pending) {
      if (p.ack) this.#waitingAck.set(p.seq, p.done);
      else p.done();
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
    this.#settle(pending);
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
