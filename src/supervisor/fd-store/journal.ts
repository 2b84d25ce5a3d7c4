// The fd-store journal: for each lock fd stored with systemd (by its FDNAME), what the resource is — enough
// to rebuild its custody record when systemd hands the fds back to a restarted holdfastd. One JSON file,
// written atomically (temp file, rename) with mode 0600, checked by its schema on read. No fsync: the
// journal only has to outlive a crash of the process, which the page cache does; after a crash of the
// machine there is no fd store and no lock left to describe (and /run is a tmpfs anyway).
//
// The journal may lag the store (it is written coalesced, the datagrams go out at once): a stored fd whose
// name is missing from it is rebuilt from the fd itself (see adopt-stored-fds.ts), never dropped.
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { writePrivateFile } from './private-file';
import { compiledValidator } from '../../shared/platform/compiled-validator';
import { type ResourceJournalRow, resourceJournalRowSchema } from '../../shared/custody/records/resource-record';

export const FD_STORE_JOURNAL_VERSION = 1;
// A journal is small (a few hundred bytes per lock); anything bigger than this is not ours.
const MAX_JOURNAL_BYTES = 256 * 1024 * 1024;

export interface FdStoreJournal {
  version: number;
  supervisorPid: number;
  writtenAt: string;
  /** One row per stored lock fd (its form is defined beside the resource record). */
  locks: ResourceJournalRow[];
}

const pid = { type: 'integer', minimum: 0, maximum: 0xffffffff } as const;

const journalSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'supervisorPid', 'writtenAt', 'locks'],
  properties: {
    version: { const: FD_STORE_JOURNAL_VERSION },
    supervisorPid: pid,
    writtenAt: { type: 'string', maxLength: 64 },
    locks: {
      type: 'array',
      maxItems: 1000000,
      items: resourceJournalRowSchema,
    },
  },
};

/** Whether a parsed value is a journal this code reads (exported for the record-forms test). */
export const isFdStoreJournal = compiledValidator<FdStoreJournal>('fd-store-journal', journalSchema, { strict: false, allErrors: false });

/** Writes the journal atomically, mode 0600. Throws on failure (the caller logs). */
export function writeJournal(file: string, journal: FdStoreJournal): void {
  writePrivateFile(file, JSON.stringify(journal));
}

/** Reads the journal; null (with a log line) when it is missing, unreadable or fails its schema. */
export function readJournal(file: string, log: Logger): FdStoreJournal | null {
  let text: string;
  let fd: number | null = null;
  try {
    // O_NOFOLLOW|O_NONBLOCK: a symlink or FIFO planted there is not ours to read.
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const stat = fs.fstatSync(fd);
    if (!stat.isFile() || stat.size > MAX_JOURNAL_BYTES) {
      log.warn({ file }, 'ignoring an fd-store journal that is not a regular file of sane size');
      return null;
    }
    text = fs.readFileSync(fd, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ file, err }, 'cannot read the fd-store journal');
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    log.warn({ file, err }, 'the fd-store journal is not JSON; stored fds will be identified from the fds themselves');
    return null;
  }
  if (!isFdStoreJournal(value)) {
    log.warn({ file, errors: isFdStoreJournal.errors }, 'the fd-store journal fails its schema; stored fds will be identified from the fds themselves');
    return null;
  }
  return value;
}
