// The cluster host lease beside the fd-store journal: when systemd's fd store hands the lock fds back to a
// restarted holdfastd, this says which etcd lease their cluster holds are on and when etcd last acknowledged
// it, so the new process resumes the lease, or fences the owners if its safe deadline has passed. A file of
// its own, rewritten at each renewal: a few dozen bytes, whatever the number of locks (the lock journal is
// rewritten only when locks change).
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { writePrivateFile } from './private-file';
import type { CarriedLease } from '../upgrade/state-document';

const DECIMAL = /^[0-9]{1,20}$/;

/** Where the lease is kept, beside the lock journal. */
export function leaseJournalPath(journalFile: string): string {
  return `${journalFile}.lease`;
}

/** Writes (or, with null, removes) the lease file atomically, mode 0600. Throws on failure. */
export function writeLeaseJournal(file: string, lease: CarriedLease | null): void {
  if (lease === null) {
    fs.rmSync(file, { force: true });
    return;
  }
  writePrivateFile(file, JSON.stringify({ id: lease.id, lastAckSentNs: lease.lastAckSentNs }));
}

/** The lease a previous process kept, or null (with a log line if the file is there but not one of ours). */
export function readLeaseJournal(file: string, log: Logger): CarriedLease | null {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      if (!fs.fstatSync(fd).isFile()) throw new Error('not a regular file');
      text = fs.readFileSync(fd, 'utf8').slice(0, 4096);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err }, 'cannot read the cluster lease file; not resuming the lease');
    return null;
  }
  try {
    const value = JSON.parse(text) as Partial<CarriedLease>;
    if (typeof value.id === 'string' && DECIMAL.test(value.id) && typeof value.lastAckSentNs === 'string' && DECIMAL.test(value.lastAckSentNs)) {
      return { id: value.id, lastAckSentNs: value.lastAckSentNs };
    }
  } catch {
    // reported below
  }
  log.warn({ file }, 'the cluster lease file is not one of ours; not resuming the lease');
  return null;
}
