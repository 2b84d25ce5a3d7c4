// The custody snapshot a worker starts from, sent in chunks over its control channel: every record with a
// dup of its fd. What a worker was sent is remembered, and custody tells us every key it changes after the
// first pass, so a second pass (start() after a swap's stage()) looks at and sends only what changed since:
// its cost follows the changes, not the number of records.
import type { ControlChannel } from '../../shared/custody/channel';
import type { RecordWithFd, SupervisorMessage, WorkerMessage } from '../../shared/custody/messages';
import { SNAPSHOT_FDS_MAX } from '../../shared/platform/fd-budget';
import type { Custody, CustodyEntry } from '../custody';

// Keep each snapshot datagram well under the channel's size limit.
const SNAPSHOT_CHUNK_BYTES = 96 * 1024;

export class SnapshotSender {
  /** What this worker has been sent of custody, by key: custody's entry objects as they were. */
  readonly #sent = new Map<string, CustodyEntry>();
  /** Keys custody changed since the first pass began (null before it, and once closed). */
  #changed: Set<string> | null = null;
  #closed = false;
  /** One more than the highest client id ever sent: above every client the worker adopts. */
  #nextClientId = 1;

  constructor(
    private readonly custody: Custody,
    private readonly channel: ControlChannel<WorkerMessage, SupervisorMessage>,
  ) {}

  // One chunk in the kernel at a time: a queued chunk holds dups of its fds, and a snapshot of every lock
  // queued at once would double the supervisor's fd use.
  /**
   * Sends every custody record that differs from what this worker was sent before (by entry object: custody
   * replaces the entry on every change), after the keys of those gone since: the worker closes their fds
   * before it receives new ones (see fd-budget.ts). `whileServing`: another worker still changes custody.
   */
  async send(whileServing: boolean): Promise<void> {
    if (this.#closed) throw new Error('the snapshot sender is closed');
    const sent = this.#sent;
    const drops: string[] = [];
    // The first pass looks at every record; later ones at the keys custody changed since the pass before.
    let keys: Iterable<string>;
    // Kept here: close() (the worker exited) may come while we wait for the channel.
    let changed = this.#changed;
    if (changed === null) {
      changed = this.#changed = this.custody.trackChanges();
      keys = [...this.custody.entries()].map(([key]) => key);
    } else {
      keys = [...changed];
      changed.clear();
      for (const key of keys) {
        if (this.custody.has(key) || !sent.has(key)) continue;
        sent.delete(key);
        drops.push(key);
      }
    }
    let chunk: RecordWithFd[] = [];
    let fds: number[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (chunk.length === 0 && drops.length === 0) return;
      // While the old worker serves, custody may close an fd before a queued message leaves: send dups
      // then. Once it has stopped nothing changes custody, and the fds stay open until flushed.
      this.channel.send({ type: 'adopt', records: chunk, drops: drops.splice(0) }, fds, { dup: whileServing });
      chunk = [];
      fds = [];
      bytes = 0;
      await this.channel.flushed();
    };
    // In a message of their own: the worker has closed those fds before any new one arrives.
    await flush();
    for (const key of keys) {
      // Custody may have changed while we waited for the channel: send only what it holds now (a
      // dropped entry's fd is closed, or even reused). What changed later goes out in the next pass.
      const entry = this.custody.get(key);
      if (entry === undefined) continue;
      // Custody replaces the entry object on every change (an owner joining changes its record in place).
      if (sent.get(key) === entry) continue;
      if (entry.record.kind === 'client') this.#nextClientId = Math.max(this.#nextClientId, entry.record.id + 1);
      const size = JSON.stringify(entry.record).length + 32;
      if (bytes + size > SNAPSHOT_CHUNK_BYTES || (entry.fd !== null && fds.length >= SNAPSHOT_FDS_MAX)) await flush();
      chunk.push({ record: entry.record, fdIndex: entry.fd === null ? null : fds.push(entry.fd) - 1 });
      sent.set(key, entry);
      bytes += size;
    }
    // Entries custody dropped while we sent: their records went out before (or never), so drop them too.
    for (const key of changed) {
      if (this.custody.has(key) || !sent.has(key)) continue;
      sent.delete(key);
      drops.push(key);
    }
    await flush();
  }

  /** One more than the highest client id sent: the worker numbers new connections from there. */
  get nextClientId(): number {
    return this.#nextClientId;
  }

  /** No more passes (the worker serves, or is gone): custody stops telling us its changes. */
  close(): void {
    this.#closed = true;
    if (this.#changed) this.custody.untrackChanges(this.#changed);
    this.#changed = null;
  }
}
