// Incremental framing: bytes from a stream in, whole libvirt RPC frames out. Used by the client
// library; knows the length-word rules from message.ts and nothing about headers or payloads.

import { LENGTH_WORD_SIZE, frameLengthProblem } from '../shared/protocol/message';

/**
 * The stream carried a length word libvirt would refuse (see `frameLengthProblem`). libvirt drops
 * the connection in that case; after this error the reader is unusable (every `next()` rethrows).
 */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  /** The offending length word. */
  readonly length: number;

  constructor(length: number, message: string) {
    super(message);
    this.length = length;
  }
}

/**
 * Splits a byte stream into frames. Feed chunks with {@link push}; pull frames with {@link next}.
 * A frame is the whole message including its length word. When a frame lies inside one chunk it
 * is returned as a view of that chunk (no copy); otherwise it is assembled into one new Buffer.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  /** Read position inside `#chunks[0]`. */
  #head = 0;
  /** Unconsumed bytes across all chunks. */
  #buffered = 0;
  #error: FrameError | null = null;

  /** Bytes received but not yet returned as part of a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Appends received bytes. Empty chunks are ignored. The chunk must not be modified later. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /**
   * The next complete frame, or null if more bytes are needed.
   * @throws FrameError if the next length word is out of bounds (sticky).
   */
  next(): Buffer | null {
    if (this.#error) throw this.#error;
    if (this.#buffered < LENGTH_WORD_SIZE) return null;
    const length = this.#peekLength();
    const problem = frameLengthProblem(length);
    if (problem !== null) {
      this.#error = new FrameError(length, problem);
      throw this.#error;
    }
    if (this.#buffered < length) return null;
    return this.#take(length);
  }

  #peekLength(): number {
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= LENGTH_WORD_SIZE) return first.readUInt32BE(this.#head);
    // The length word straddles chunks: gather its 4 bytes.
    let value = 0;
    let got = 0;
    for (let c = 0, at = this.#head; got < LENGTH_WORD_SIZE; c++, at = 0) {
      const chunk = this.#chunks[c]!;
      for (; at < chunk.length && got < LENGTH_WORD_SIZE; at++, got++) {
        value = value * 256 + chunk[at]!;
      }
    }
    return value;
  }

  #take(length: number): Buffer {
    this.#buffered -= length;
    const first = this.#chunks[0]!;
    const available = first.length - this.#head;
    if (available >= length) {
      const frame = first.subarray(this.#head, this.#head + length);
      this.#advanceFirst(length);
      return frame;
    }
    const frame = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0]!;
      const n = Math.min(chunk.length - this.#head, length - filled);
      chunk.copy(frame, filled, this.#head, this.#head + n);
      filled += n;
      this.#advanceFirst(n);
    }
    return frame;
  }

  #advanceFirst(n: number): void {
    this.#head += n;
    if (this.#head === this.#chunks[0]!.length) {
      this.#chunks.shift();
      this.#head = 0;
    }
  }
}
