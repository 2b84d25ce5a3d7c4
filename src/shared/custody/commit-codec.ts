// A compact binary form of the two per-request control messages: the worker's `commit` and the
// supervisor's `committed`. Everything else, and these two when the peer does not know the binary form,
// stays JSON checked by its schema (messages.ts).
//
// Why: the supervisor spent most of its time per request parsing the commit's JSON, checking it with ajv
// and recomputing each record's custody key. Here the envelope is read field by field with a bounds check
// on every length, count and tag, and each put carries its key, which we check against its record without
// rebuilding it. The common record (a resource as ACQUIRE files it) is read field by field against the
// bounds of its schema; any other record stays JSON inside the frame and passes the record schema: custody
// never stores a record that schema would refuse.
//
// A frame starts with BINARY_FRAME_MAGIC, a byte no JSON text starts with (nor a fragment mark), then the
// version and the message kind. Unsigned integers are LEB128 varints up to 2^53 - 1; strings are a varint
// byte length and UTF-8. Any fault — truncation, a count past what remains, an unknown tag, a value out of
// its range, bytes left over — is a CommitCodecError, and the channel refuses the message as it refuses one
// that fails its schema.
import type { CommitEntry, CommitMessage, CommittedMessage, CustodyOp, ReplyOrder } from './messages';
import { isCustodyRecord } from './messages';
import { type CustodyRecord, custodyKey } from './records/custody-record';
import { NEEDS_KEY_ESCAPE, RESOURCE_KEY_PREFIX, type ResourceRecord, resourceKey } from './records/resource-record';

/** First byte of every binary frame: never the first byte of JSON text, nor the channel's fragment mark. */
export const BINARY_FRAME_MAGIC = 0xfb;
/** The version this code writes and reads. The supervisor announces the versions it reads (`codecs`). */
export const COMMIT_CODEC_VERSION = 1;

const KIND_COMMIT = 1;
const KIND_COMMITTED = 2;

const OP_PUT = 0;
const OP_DROP = 1;
const OP_JOIN = 2;
const OP_LEAVE = 3;

const ENTRY_ACK = 0x01;
const ENTRY_REPLY = 0x02;

// The same bounds the JSON Schema sets on a commit (messages.ts), in characters.
const KEY_MAX = 200_000;
const CLIENT_MAX = 64;
const CONSUME_MAX = 262_144;
const PIPED_MAX = 1_048_576;
const DATA_MAX = 400_000;
const FD_INDEX_MAX = 0xffffffff;
const PID_MAX = 0xffffffff;
// A record's JSON text: far beyond the largest record (a resource with MAX_OWNERS_PER_RESOURCE owners).
const RECORD_TEXT_MAX = 64 * 1024 * 1024;

/** A binary frame that is truncated, out of range or otherwise not a message this version writes. */
export class CommitCodecError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'CommitCodecError';
  }
}

/** True if `data` is a binary frame (whatever its version), not JSON. */
export function isBinaryFrame(data: Buffer): boolean {
  return data.length > 0 && data[0] === BINARY_FRAME_MAGIC;
}

// ---- encoding ---------------------------------------------------------------------------------

interface WellFormed {
  isWellFormed(): boolean;
}

/** A value the binary form cannot carry exactly; the message goes as JSON instead. */
class NotEncodable extends Error {}

class Writer {
  #buffer: Buffer;
  #at = 0;

  constructor(size: number) {
    this.#buffer = Buffer.allocUnsafe(size);
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#at + bytes));
    this.#buffer.copy(grown, 0, 0, this.#at);
    this.#buffer = grown;
  }

  byte(value: number): void {
    this.#room(1);
    this.#buffer[this.#at++] = value;
  }

  uint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new NotEncodable();
    this.#room(8);
    while (value >= 0x80) {
      this.#buffer[this.#at++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.#buffer[this.#at++] = value;
  }

  double(value: number): void {
    this.#room(8);
    this.#at = this.#buffer.writeDoubleLE(value, this.#at);
  }

  string(value: string): void {
    // UTF-8 cannot carry a lone surrogate (it would arrive as U+FFFD, another string): such a commit goes as
    // JSON, which escapes it.
    if (!(value as unknown as WellFormed).isWellFormed()) throw new NotEncodable();
    const bytes = Buffer.byteLength(value);
    this.uint(bytes);
    this.#room(bytes);
    this.#at += this.#buffer.write(value, this.#at, bytes, 'utf8');
  }

  done(): Buffer {
    return this.#buffer.subarray(0, this.#at);
  }
}

function header(writer: Writer, kind: number): void {
  writer.byte(BINARY_FRAME_MAGIC);
  writer.byte(COMMIT_CODEC_VERSION);
  writer.byte(kind);
}

/**
 * The binary frame of a commit, or null if it holds a string UTF-8 cannot carry exactly (send it as JSON).
 * Each put's key is its `key` if given, else derived from its record.
 */
export function encodeCommit(message: { batch: number | null; entries: CommitEntry[] }): Buffer | null {
  try {
    return writeCommit(message);
  } catch (err) {
    if (err instanceof NotEncodable) return null;
    throw err;
  }
}

function writeCommit(message: { batch: number | null; entries: CommitEntry[] }): Buffer {
  const writer = new Writer(256 + 160 * message.entries.length);
  header(writer, KIND_COMMIT);
  writer.uint(message.batch === null ? 0 : message.batch + 1);
  writer.uint(message.entries.length);
  for (const entry of message.entries) {
    writer.uint(entry.seq);
    writer.byte((entry.ack ? ENTRY_ACK : 0) | (entry.reply ? ENTRY_REPLY : 0));
    writer.uint(entry.ops.length);
    for (const op of entry.ops) {
      if (op.op === 'put') {
        writer.byte(OP_PUT);
        writer.string(op.key ?? custodyKey(op.record));
        writer.uint(op.fdIndex === null ? 0 : op.fdIndex + 1);
        writeRecord(writer, op.record);
      } else if (op.op === 'drop') {
        writer.byte(OP_DROP);
        writer.string(op.key);
      } else {
        writer.byte(op.op === 'join' ? OP_JOIN : OP_LEAVE);
        writer.string(op.key);
        writer.uint(op.pid);
      }
    }
    if (entry.reply) {
      writer.string(entry.reply.client);
      writer.uint(entry.reply.consume);
      writer.uint(entry.reply.piped);
      writer.string(entry.reply.data);
    }
  }
  return writer.done();
}

/** The binary frame of an acknowledgement. */
export function encodeCommitted(seqs: readonly number[]): Buffer {
  const writer = new Writer(8 + 4 * seqs.length);
  header(writer, KIND_COMMITTED);
  writer.uint(seqs.length);
  for (const seq of seqs) writer.uint(seq);
  return writer.done();
}

// ---- decoding ---------------------------------------------------------------------------------

class Reader {
  #at = 0;

  constructor(private readonly data: Buffer) {}

  get at(): number {
    return this.#at;
  }

  get left(): number {
    return this.data.length - this.#at;
  }

  fail(what: string): never {
    throw new CommitCodecError(what, this.#at);
  }

  byte(what: string): number {
    if (this.#at >= this.data.length) this.fail(`truncated: ${what}`);
    return this.data[this.#at++]!;
  }

  /** An unsigned varint no greater than `max` (at most 2^53 - 1), in its shortest form. */
  uint(what: string, max: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (i >= 8) this.fail(`${what}: varint too long`);
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${what}: varint not in its shortest form`);
        break;
      }
      scale *= 0x80;
    }
    if (value > max) this.fail(`${what} ${value} out of range (most ${max})`);
    return value;
  }

  /** A finite float64 (JSON has no NaN or infinities). */
  double(what: string): number {
    if (this.left < 8) this.fail(`truncated: ${what}`);
    const value = this.data.readDoubleLE(this.#at);
    if (!Number.isFinite(value)) this.fail(`${what} is not a finite number`);
    this.#at += 8;
    return value;
  }

  /** A count of items that each take at least `minBytes`: never more than what is left could hold. */
  count(what: string, minBytes: number): number {
    const n = this.uint(what, Number.MAX_SAFE_INTEGER);
    if (n * minBytes > this.left) this.fail(`${what} ${n} exceeds the ${this.left} bytes left`);
    return n;
  }

  /** A UTF-8 string of at most `maxChars` characters (code points, as JSON Schema counts them). */
  string(what: string, maxChars: number): string {
    const bytes = this.uint(`${what} length`, maxChars * 4);
    if (bytes > this.left) this.fail(`truncated: ${what} of ${bytes} bytes, ${this.left} left`);
    const value = this.data.toString('utf8', this.#at, this.#at + bytes);
    this.#at += bytes;
    if (value.length > maxChars && codePoints(value) > maxChars) this.fail(`${what} longer than ${maxChars} characters`);
    return value;
  }

  end(): void {
    if (this.left !== 0) this.fail(`${this.left} bytes after the message`);
  }
}

function codePoints(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

function readHeader(reader: Reader, kind: number): void {
  if (reader.byte('magic') !== BINARY_FRAME_MAGIC) reader.fail('not a binary frame');
  const version = reader.byte('version');
  if (version !== COMMIT_CODEC_VERSION) reader.fail(`unknown binary frame version ${version}`);
  const found = reader.byte('kind');
  if (found !== kind) reader.fail(`unexpected message kind ${found}`);
}

/** Decodes a binary commit, records checked by their schema and keys against their records. */
export function decodeCommit(data: Buffer): CommitMessage {
  const reader = new Reader(data);
  readHeader(reader, KIND_COMMIT);
  const batchPlusOne = reader.uint('batch', Number.MAX_SAFE_INTEGER);
  // seq, flags, op count: three bytes at least.
  const entryCount = reader.count('entry count', 3);
  const entries: CommitEntry[] = [];
  for (let e = 0; e < entryCount; e++) {
    const seq = reader.uint('seq', Number.MAX_SAFE_INTEGER);
    const flags = reader.byte('entry flags');
    if ((flags & ~(ENTRY_ACK | ENTRY_REPLY)) !== 0) reader.fail(`unknown entry flags ${flags}`);
    // tag and a key length: two bytes at least.
    const opCount = reader.count('op count', 2);
    const ops: CustodyOp[] = [];
    for (let o = 0; o < opCount; o++) ops.push(readOp(reader));
    let reply: ReplyOrder | null = null;
    if ((flags & ENTRY_REPLY) !== 0) {
      const client = reader.string('reply client', CLIENT_MAX);
      const consume = reader.uint('reply consume', CONSUME_MAX);
      const piped = reader.uint('reply piped', PIPED_MAX);
      const data = reader.string('reply data', DATA_MAX);
      reply = { client, consume, piped, data };
    }
    entries.push({ seq, ops, reply, ack: (flags & ENTRY_ACK) !== 0 });
  }
  reader.end();
  return { type: 'commit', batch: batchPlusOne === 0 ? null : batchPlusOne - 1, entries };
}

function readOp(reader: Reader): CustodyOp {
  const tag = reader.byte('op');
  const key = reader.string('key', KEY_MAX);
  switch (tag) {
    case OP_PUT: {
      const fdPlusOne = reader.uint('fd index', FD_INDEX_MAX + 1);
      const at = reader.at;
      const record = readRecord(reader);
      if (!keyMatches(key, record)) throw new CommitCodecError('key does not match its record', at);
      return { op: 'put', record, fdIndex: fdPlusOne === 0 ? null : fdPlusOne - 1, key };
    }
    case OP_DROP:
      return { op: 'drop', key };
    case OP_JOIN:
    case OP_LEAVE:
      return { op: tag === OP_JOIN ? 'join' : 'leave', key, pid: reader.uint('pid', PID_MAX) };
    default:
      return reader.fail(`unknown op ${tag}`);
  }
}

// ---- records ----------------------------------------------------------------------------------
//
// The record of a put, in one of two forms. The common one, a resource as ACQUIRE files it, goes field by
// field and is checked here against exactly resourceRecordSchema's bounds; any other record (a client, a
// lockspace, a resource with detached owners) goes as JSON text checked by custodyRecordSchema.

const RECORD_JSON = 0;
const RECORD_RESOURCE = 1;

// resourceRecordSchema's bounds.
const RESOURCE_LOCKSPACE_MAX = 65_536;
const RESOURCE_NAME_MAX = 65_536;
const RESOURCE_PATH_MAX = 140_000;
const RESOURCE_FLAGS_MAX = 3;
const RESOURCE_OWNERS_MAX = 100_000;
const LOCK_KINDS = ['ofd', 'posix'] as const;

function isPlainResource(record: CustodyRecord): record is ResourceRecord {
  return (
    record.kind === 'resource' &&
    record.detachedOwners === undefined &&
    record.detachedOwnerDetails === undefined &&
    record.cluster === undefined &&
    record.owners.every((pid) => Number.isSafeInteger(pid) && pid >= 0) &&
    Number.isFinite(record.acquiredAt)
  );
}

function writeRecord(writer: Writer, record: CustodyRecord): void {
  if (!isPlainResource(record)) {
    writer.byte(RECORD_JSON);
    writer.string(JSON.stringify(record));
    return;
  }
  writer.byte(RECORD_RESOURCE);
  writer.string(record.lockspace);
  writer.string(record.name);
  writer.string(record.path);
  writer.uint(record.flags);
  writer.uint(record.owners.length);
  for (const pid of record.owners) writer.uint(pid);
  writer.double(record.acquiredAt);
  writer.byte(LOCK_KINDS.indexOf(record.lockKind));
}

function readRecord(reader: Reader): CustodyRecord {
  const form = reader.byte('record form');
  if (form === RECORD_RESOURCE) {
    const lockspace = reader.string('resource lockspace', RESOURCE_LOCKSPACE_MAX);
    const name = reader.string('resource name', RESOURCE_NAME_MAX);
    const path = reader.string('resource path', RESOURCE_PATH_MAX);
    const flags = reader.uint('resource flags', RESOURCE_FLAGS_MAX);
    const count = reader.count('owner count', 1);
    if (count > RESOURCE_OWNERS_MAX) reader.fail(`${count} owners, more than ${RESOURCE_OWNERS_MAX}`);
    const owners: number[] = [];
    for (let i = 0; i < count; i++) owners.push(reader.uint('owner', Number.MAX_SAFE_INTEGER));
    const acquiredAt = reader.double('acquiredAt');
    const kind = reader.byte('lock kind');
    const lockKind = LOCK_KINDS[kind] ?? reader.fail(`unknown lock kind ${kind}`);
    return { kind: 'resource', lockspace, name, path, flags, owners, acquiredAt, lockKind };
  }
  if (form !== RECORD_JSON) reader.fail(`unknown record form ${form}`);
  const at = reader.at;
  const text = reader.string('record', RECORD_TEXT_MAX);
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    throw new CommitCodecError('record is not JSON', at);
  }
  if (!isCustodyRecord(record)) throw new CommitCodecError('record fails its schema', at);
  return record;
}

/** Decodes a binary acknowledgement. */
export function decodeCommitted(data: Buffer): CommittedMessage {
  const reader = new Reader(data);
  readHeader(reader, KIND_COMMITTED);
  const count = reader.count('seq count', 1);
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) seqs.push(reader.uint('seq', Number.MAX_SAFE_INTEGER));
  reader.end();
  return { type: 'committed', seqs };
}

// ---- keys -------------------------------------------------------------------------------------

/**
 * Whether `key` is the custody key of `record` (custodyKey), checked without building the key where that
 * costs: a resource key is JSON of its lockspace and name, which for names without escapes is compared in
 * place.
 */
export function keyMatches(key: string, record: CustodyRecord): boolean {
  if (record.kind !== 'resource') return key === custodyKey(record);
  const { lockspace, name } = record;
  if (NEEDS_KEY_ESCAPE.test(lockspace) || NEEDS_KEY_ESCAPE.test(name)) return key === resourceKey(lockspace, name);
  const nameAt = RESOURCE_KEY_PREFIX.length + lockspace.length + 3;
  return (
    key.length === nameAt + name.length + 2 &&
    key.startsWith(RESOURCE_KEY_PREFIX) &&
    key.startsWith(lockspace, RESOURCE_KEY_PREFIX.length) &&
    key.startsWith('","', nameAt - 3) &&
    key.startsWith(name, nameAt) &&
    key.endsWith('"]')
  );
}
