// A worker's commits as the supervisor takes them in: applied to custody in order, acknowledged (in one
// datagram per turn of the event loop) where the worker waits for our word, and the reply pipe beside them,
// whose leftovers after the worker's death are exactly the replies it never sent. Commits come as JSON or,
// from a worker told we read it, in the binary form; acknowledgements go back in the form the worker used.
import type { Logger } from 'pino';
import type { ControlChannel } from '../../shared/custody/channel';
import type { CommitEntry, CommitMessage, SupervisorMessage, WorkerMessage } from '../../shared/custody/messages';
import { decodeCommit, encodeCommitted } from '../../shared/custody/commit-codec';
import { type PipedReply, type ReplyBatch, unsentReplies } from '../../shared/custody/reply-batch';
import * as native from '../../shared/platform/native';
import type { Custody } from '../custody';

/** The reply pipe we share with a worker (we keep both ends), and its capacity in bytes. */
export interface ReplyPipe {
  read: number;
  write: number;
  capacity: number;
}

const noop = (): void => undefined;

/** The piped replies of a commit's entries, in pipe order. */
function pipedReplies(entries: readonly CommitEntry[]): PipedReply[] {
  const replies: PipedReply[] = [];
  for (const entry of entries) if (entry.reply && entry.reply.piped > 0) replies.push({ client: entry.reply.client, length: entry.reply.piped });
  return replies;
}

export class CommitIntake {
  #acks: number[] = [];
  #ackScheduled = false;
  #replyPipe: ReplyPipe | null;
  /**
   * The last batch of piped replies the worker committed (what its pipe may still hold): carried over, or
   * the entries of its commit, read only if the worker dies or is carried (not once per commit).
   */
  #lastBatch: ReplyBatch | { batch: number; entries: readonly CommitEntry[] } | null;
  /** Fds of the datagram being applied that custody took; reused from commit to commit. */
  readonly #used = new Set<number>();
  /** The worker commits in binary, so it reads binary acknowledgements too. */
  #binaryPeer = false;
  /** Told of every client whose request a commit answers (set while some request is under suspicion). */
  answered: ((client: string) => void) | null = null;

  constructor(
    private readonly custody: Custody,
    private readonly channel: ControlChannel<WorkerMessage, SupervisorMessage>,
    private readonly log: Logger,
    private readonly generation: () => number,
    carried: { replyPipe: ReplyPipe; lastBatch: ReplyBatch | null } | null,
  ) {
    this.#replyPipe = carried ? { ...carried.replyPipe } : null;
    this.#lastBatch = carried?.lastBatch ?? null;
  }

  /** The reply pipe, once the worker has one (and until its replies were settled after its death). */
  get replyPipe(): ReplyPipe | null {
    return this.#replyPipe;
  }

  get lastBatch(): ReplyBatch | null {
    const last = this.#lastBatch;
    if (last === null || !('entries' in last)) return last;
    const batch: ReplyBatch = { batch: last.batch, replies: pipedReplies(last.entries) };
    this.#lastBatch = batch;
    return batch;
  }

  /** The pipe handed to the worker with `init`. */
  usePipe(pipe: ReplyPipe): void {
    this.#replyPipe = pipe;
  }

  /** Decodes a binary commit (commit-codec.ts; throws on anything malformed): the channel's decodeBinary. */
  decode(data: Buffer): CommitMessage {
    const message = decodeCommit(data);
    this.#binaryPeer = true;
    return message;
  }

  /** Applies one commit datagram's entries; `fds` it does not use are closed. */
  take(message: CommitMessage, fds: number[]): void {
    if (message.batch !== null) this.#lastBatch = { batch: message.batch, entries: message.entries };
    const used = this.#used; // empty: cleared after every commit
    try {
      for (const entry of message.entries) {
        this.custody.apply(entry, fds, used, entry.ack ? () => this.#ack(entry.seq) : noop);
        if (this.answered && entry.reply) this.answered(entry.reply.client);
      }
    } catch (err) {
      // A worker that names fds it did not send is broken; refuse the rest rather than guess.
      this.log.error({ err, generation: this.generation() }, 'refusing a malformed commit from the worker');
    } finally {
      if (used.size < fds.length) for (const fd of fds) if (!used.has(fd)) native.close(fd);
      used.clear();
    }
  }

  /** Sends the acknowledgements owed now rather than at the end of this turn. */
  flushAcks(): void {
    this.#ackScheduled = false;
    const seqs = this.#acks;
    this.#acks = [];
    if (seqs.length === 0 || this.channel.closed) return;
    if (this.#binaryPeer) this.channel.sendFrame(encodeCommitted(seqs));
    else this.channel.send({ type: 'committed', seqs });
  }

  /**
   * Once the worker is gone and its last commits are applied: sends the replies its pipe shows it never
   * sent, and closes the pipe. Idempotent.
   */
  resendUnsentReplies(): void {
    const pipe = this.#replyPipe;
    if (!pipe) return;
    this.#replyPipe = null;
    const left = readAll(pipe.read);
    const { unsent, discarded } = unsentReplies(left, this.lastBatch);
    let delivered = 0;
    for (const reply of unsent) if (this.custody.writeUnsentReply(reply.client, reply.bytes)) delivered++;
    if (unsent.length > 0 || discarded > 0) {
      this.log.info({ generation: this.generation(), delivered, discardedBytes: discarded }, 'sent the replies a dead worker left in its pipe');
    }
    native.close(pipe.read);
    native.close(pipe.write);
  }

  // Acknowledgements go back in batches: one datagram per turn of the event loop.
  #ack(seq: number): void {
    this.#acks.push(seq);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => this.flushAcks());
  }
}

function readAll(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const chunk = Buffer.allocUnsafe(64 * 1024);
  for (;;) {
    const n = native.read(fd, chunk, 0, chunk.length);
    if (n === null || n === 0) return Buffer.concat(chunks);
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
}
