// The reply pipe's format. A worker answers a turn's requests as one batch: it writes a header and the
// replies into a pipe it shares with the supervisor, files the batch's commit, consumes the header and
// splices each reply into its client's socket. splice takes bytes out of the pipe exactly as they are sent,
// so after a worker dies the pipe tells the supervisor precisely which replies never left.

/** Marks a batch header; as a frame length word it would be invalid, so no reply can look like one. */
export const REPLY_BATCH_MAGIC = 0xf00dface;
export const REPLY_BATCH_HEADER_BYTES = 16;

/** One piped reply of a committed batch: which client, how many bytes. */
export interface PipedReply {
  client: string;
  length: number;
}

/** The batch a commit announced: its number and its replies, in pipe order. */
export interface ReplyBatch {
  batch: number;
  replies: PipedReply[];
}

export function encodeBatchHeader(batch: number, totalBytes: number, count: number): Buffer {
  return writeBatchHeader(Buffer.allocUnsafe(REPLY_BATCH_HEADER_BYTES), batch, totalBytes, count);
}

/** Writes a batch header into the first REPLY_BATCH_HEADER_BYTES of `into` (a buffer reused across batches). */
export function writeBatchHeader(into: Buffer, batch: number, totalBytes: number, count: number): Buffer {
  into.writeUInt32BE(REPLY_BATCH_MAGIC, 0);
  into.writeUInt32BE(batch >>> 0, 4);
  into.writeUInt32BE(totalBytes, 8);
  into.writeUInt32BE(count, 12);
  return into;
}

/** A reply, or the unsent tail of one, that must still reach its client. */
export interface UnsentReply {
  client: string;
  bytes: Buffer;
}

/**
 * Works out, from what a dead worker left in the pipe and the last batch it committed, which reply bytes
 * were never sent. A whole batch whose commit never came is dropped: its requests are still unconsumed in
 * their sockets and will be answered by the next worker.
 */
export function unsentReplies(left: Buffer, committed: ReplyBatch | null): { unsent: UnsentReply[]; discarded: number } {
  if (left.length === 0) return { unsent: [], discarded: 0 };
  let tail = left;
  if (left.length >= REPLY_BATCH_HEADER_BYTES && left.readUInt32BE(0) === REPLY_BATCH_MAGIC) {
    // The header is still there: the worker died before it started sending this batch.
    if (!committed || left.readUInt32BE(4) !== committed.batch >>> 0) return { unsent: [], discarded: left.length };
    tail = left.subarray(REPLY_BATCH_HEADER_BYTES);
  }
  if (!committed) return { unsent: [], discarded: left.length };
  const total = committed.replies.reduce((n, r) => n + r.length, 0);
  if (tail.length > total) return { unsent: [], discarded: left.length };
  // The pipe holds the last `tail.length` bytes of the batch: map them back onto the replies.
  const unsent: UnsentReply[] = [];
  let start = 0;
  const firstUnsent = total - tail.length;
  for (const reply of committed.replies) {
    const end = start + reply.length;
    if (end > firstUnsent) {
      const from = Math.max(start, firstUnsent) - firstUnsent;
      unsent.push({ client: reply.client, bytes: tail.subarray(from, end - firstUnsent) });
    }
    start = end;
  }
  return { unsent, discarded: 0 };
}
