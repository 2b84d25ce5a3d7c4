// Writing and reading the restart-exec state document on disk: validate, then write atomically (temp file,
// fsync, rename, fsync the directory); read bounded, parse, validate, check the magic, and take the file
// out of the way. Never logs and never acts on the document's fds; callers decide what a failure means.
//
// Removal rule (virLockDaemonPostExecRestart unlinks the file right after reading it, even when it then
// fails to use it, so a bad document is never read twice): with `remove`, a document that was read and
// accepted is unlinked; one that was rejected for any reason is renamed aside to
// `<path>.rejected-<timestamp>` for forensics instead of being deleted (unlinked only if the rename fails).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type StateDocument } from './state-document';
import { validateStateDocument } from './state-schema';

/** Largest state file read or written. */
export const MAX_STATE_FILE_BYTES = 64 * 1024 * 1024;
/**
 * Largest state file virtlockd 9.0 reads (virFileReadAll limit in virLockDaemonPostExecRestart). A document
 * meant for virtlockd (a downgrade) must stay below it; holdfast's own limit is {@link MAX_STATE_FILE_BYTES}.
 */
export const VIRTLOCKD_MAX_STATE_FILE_BYTES = 10 * 1024 * 1024;

/**
 * Why a state file could not be used. 'missing': no file (not a restart). 'unreadable': not a regular file,
 * or open/read failed. 'too-large': over the size limit. 'not-json': not UTF-8 JSON (a truncated file lands
 * here). 'invalid': fails the schema or a cross-field rule. 'wrong-version': written by a holdfast with
 * another `holdfast.schemaVersion`. 'foreign-magic': meant for another pid. 'unwritable': writing failed.
 */
export type StateDocumentErrorReason =
  | 'missing'
  | 'unreadable'
  | 'too-large'
  | 'not-json'
  | 'invalid'
  | 'wrong-version'
  | 'foreign-magic'
  | 'unwritable';

/** A state file that could not be read, used or written. `message` is one readable line. */
export class StateDocumentError extends Error {
  override readonly name = 'StateDocumentError';
  /** Where a rejected file was moved by readStateFile with `remove` (absent: not moved, or unlinked). */
  renamedTo?: string;

  constructor(
    readonly reason: StateDocumentErrorReason,
    /** The state file concerned. */
    readonly file: string,
    message: string,
    /** Every problem found ("JSON pointer: problem" for 'invalid'); at least the message. */
    readonly problems: readonly string[] = [message],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Options of {@link readStateFile}. */
export interface ReadStateFileOptions {
  /** The pid the document must be meant for, in decimal (`magic`); unchecked when absent. */
  expectedMagic?: string;
  /** Take the file out of the way once read: unlink it if accepted, rename it aside if rejected. */
  remove: boolean;
  /** Size limit in bytes; defaults to {@link MAX_STATE_FILE_BYTES}. */
  maxBytes?: number;
  /** Told when an accepted document could not be unlinked (the document is still returned). */
  onRemoveFailed?: (err: NodeJS.ErrnoException) => void;
}

/**
 * Validates `doc` and writes it to `file` atomically: a temp file in the same directory (O_CREAT|O_EXCL,
 * mode 0600), written, fsynced, renamed over `file`, then the directory fsynced. A reader sees the old
 * file or the whole new one, never part of one. Pretty-printed like virtlockd's unless that exceeds the
 * size limit, then compact. Throws StateDocumentError: 'invalid' / 'wrong-version' (nothing written),
 * 'too-large', 'unwritable' (no temp file is left behind; if only the final directory fsync failed, the new
 * file is already in place).
 *
 * `trial`: a copy only for the binary on disk to check, removed right after. That check validates it (the
 * same schema and cross-field rules, as the new code has them), so it is not validated here too, and it is
 * written compact and without the fsyncs: at 10,000 locks these cost the supervisor ~0.3 s of CPU while
 * clients wait on it, and nothing reads the copy after a crash.
 */
export function writeStateFile(file: string, doc: StateDocument, options: { trial?: boolean } = {}): void {
  const trial = options.trial === true;
  if (!trial) {
    const result = validateStateDocument(doc);
    if (!result.ok) {
      throw new StateDocumentError(result.reason, file, `refusing to write an invalid state document to ${file}: ${result.errors[0]}`, result.errors);
    }
  }
  const bytes = trial ? serializeCompact(doc, file) : serialize(doc, file);
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let fd: number | null = null;
  try {
    // O_EXCL: never write through a file or symlink someone planted under the temp name.
    fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    fs.fchmodSync(fd, 0o600); // the umask may have narrowed it; never widened, but be exact
    let offset = 0;
    while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
    if (!trial) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(temp, file);
  } catch (err) {
    if (fd !== null) closeQuietly(fd);
    unlinkQuietly(temp);
    throw new StateDocumentError('unwritable', file, `cannot write state document ${file}: ${describeFsError(err)}`, undefined, { cause: err });
  }
  if (trial) return;
  try {
    fsyncDirectory(dir);
  } catch (err) {
    throw new StateDocumentError('unwritable', file, `state document ${file} written, but syncing directory ${dir} failed: ${describeFsError(err)}`, undefined, { cause: err });
  }
}

/**
 * Reads, parses and validates the state document at `file`, checks its magic when `expectedMagic` is given,
 * and with `remove` takes the file out of the way (see the file header). Returns the document; throws
 * StateDocumentError (reason 'missing' when there is no file: a normal start, nothing is moved).
 */
export function readStateFile(file: string, options: ReadStateFileOptions): StateDocument {
  let doc: StateDocument;
  try {
    doc = parseStateDocument(readBounded(file, options.maxBytes ?? MAX_STATE_FILE_BYTES), file);
    if (options.expectedMagic !== undefined && doc.magic !== options.expectedMagic) {
      throw new StateDocumentError('foreign-magic', file, `state document ${file} belongs to pid ${doc.magic}, not ${options.expectedMagic}`);
    }
  } catch (err) {
    if (options.remove && err instanceof StateDocumentError && err.reason !== 'missing') moveAside(err);
    throw err;
  }
  if (options.remove) {
    try {
      fs.unlinkSync(file);
    } catch (err) {
      options.onRemoveFailed?.(err as NodeJS.ErrnoException);
    }
  }
  return doc;
}

/** Parses and validates document bytes; `file` only names the source in messages. Throws StateDocumentError. */
export function parseStateDocument(bytes: Uint8Array, file: string): StateDocument {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StateDocumentError('not-json', file, `state document ${file} is not valid UTF-8 text`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = text.trim() === '' ? 'it is empty' : (err as Error).message;
    throw new StateDocumentError('not-json', file, `state document ${file} is not valid JSON (truncated?): ${detail}`);
  }
  const result = validateStateDocument(value);
  if (!result.ok) {
    const message = result.reason === 'wrong-version' ? `${file}: ${result.errors[0]}` : `state document ${file} is invalid: ${result.errors[0]}`;
    throw new StateDocumentError(result.reason, file, message, result.errors);
  }
  return result.document;
}

/** Where readStateFile moves a rejected document: `<file>.rejected-<UTC time>`. */
export function rejectedPathFor(file: string, when: Date = new Date()): string {
  return `${file}.rejected-${when.toISOString().replace(/:/g, '-')}`;
}

function serialize(doc: StateDocument, file: string): Buffer {
  const pretty = Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
  if (pretty.length <= MAX_STATE_FILE_BYTES) return pretty;
  return serializeCompact(doc, file);
}

function serializeCompact(doc: StateDocument, file: string): Buffer {
  const compact = Buffer.from(`${JSON.stringify(doc)}\n`, 'utf8');
  if (compact.length <= MAX_STATE_FILE_BYTES) return compact;
  throw new StateDocumentError('too-large', file, `state document for ${file} is ${compact.length} bytes, over the ${MAX_STATE_FILE_BYTES}-byte limit`);
}

// Reads at most maxBytes; O_NOFOLLOW refuses a symlink, O_NONBLOCK keeps a planted FIFO from hanging us.
function readBounded(file: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StateDocumentError('missing', file, `no state document at ${file}`);
    throw new StateDocumentError('unreadable', file, `cannot open state document ${file}: ${describeFsError(err)}`, undefined, { cause: err });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new StateDocumentError('unreadable', file, `state document ${file} is not a regular file`);
    if (stat.size > maxBytes) throw tooLarge(file, stat.size, maxBytes);
    // The size may change under us: read until EOF, but never past the limit.
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.allocUnsafe(Math.min(Math.max(stat.size, 4096), maxBytes + 1));
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, maxBytes + 1 - total), null);
      if (n === 0) break;
      chunks.push(Buffer.from(chunk.subarray(0, n)));
      total += n;
      if (total > maxBytes) throw tooLarge(file, total, maxBytes);
    }
    return Buffer.concat(chunks, total);
  } catch (err) {
    if (err instanceof StateDocumentError) throw err;
    throw new StateDocumentError('unreadable', file, `cannot read state document ${file}: ${describeFsError(err)}`, undefined, { cause: err });
  } finally {
    closeQuietly(fd);
  }
}

function tooLarge(file: string, size: number, maxBytes: number): StateDocumentError {
  return new StateDocumentError('too-large', file, `state document ${file} is larger than the ${maxBytes}-byte limit (at least ${size} bytes)`);
}

// Best effort: a rejected document must not be read again, so unlink it if it cannot be renamed.
function moveAside(err: StateDocumentError): void {
  const aside = rejectedPathFor(err.file);
  try {
    fs.renameSync(err.file, aside);
    err.renamedTo = aside;
    err.message += ` (moved aside to ${aside})`;
  } catch {
    unlinkQuietly(err.file);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(fd);
  } finally {
    closeQuietly(fd);
  }
}

function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code} (${e.syscall ?? 'fs'})` : String(err);
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed or never valid; nothing to do
  }
}

function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // gone already, or not ours to remove
  }
}
