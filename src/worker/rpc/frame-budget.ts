// The worker's memory bounds for incoming frames: the largest frame one client may send, the most bytes
// held across all clients for frames too big to peek, and how long a started frame may take to complete.
// One budget per worker, shared by the lock and admin servers.

/** Memory bounds for incoming frames (config: max_frame_bytes_per_client, max_frame_bytes_total, frame_deadline_ms). */
export interface FrameLimits {
  /** Largest acceptable length word; longer ones close the connection at once. */
  maxBytesPerClient: number;
  /** Most bytes held at once for frames being read the consuming way, across every connection. */
  maxBytesTotal: number;
  /** A frame must be complete this long after the worker first saw its bytes. */
  deadlineMs: number;
}

/** Counts the bytes held for big frames; a connection asks before it reads more of one. */
export class FrameBudget {
  #held = 0;

  constructor(readonly limits: FrameLimits) {}

  /** Bytes held now for incomplete big frames. */
  get held(): number {
    return this.#held;
  }

  /** How many more bytes may be held now (0: the total limit is reached). */
  get room(): number {
    return Math.max(0, this.limits.maxBytesTotal - this.#held);
  }

  /** Takes `n` bytes of the budget; false (and nothing taken) if they do not fit. */
  take(n: number): boolean {
    if (n > this.room) return false;
    this.#held += n;
    return true;
  }

  /** Gives back `n` bytes taken earlier. */
  give(n: number): void {
    this.#held = Math.max(0, this.#held - n);
  }
}
