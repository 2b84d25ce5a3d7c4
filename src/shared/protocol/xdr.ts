// XDR (RFC 4506) primitives as used by libvirt's RPC: a growable writer and a bounds-checked reader.
// Knows nothing about messages or programs; decoding follows glibc/libtirpc xdrmem semantics.

import { isUtf8 } from 'node:buffer';

const U32_LIMIT = 0x1_0000_0000;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** Bytes of zero padding needed after `n` bytes of opaque data to reach a 4-byte boundary. */
export function xdrPadding(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Encoded size of a variable-length opaque/string of `n` bytes (length word + data + padding). */
export function xdrOpaqueSize(n: number): number {
  return 4 + n + xdrPadding(n);
}

/**
 * Thrown by {@link XdrReader} when the input cannot be decoded: truncated data, a string or opaque
 * longer than its declared maximum, or a boolean that is neither 0 nor 1. `offset` is the byte
 * position (relative to the reader's buffer) where the failing item started.
 */
export class XdrDecodeError extends Error {
  override readonly name = 'XdrDecodeError';
  /** Byte offset in the reader's buffer at which decoding failed. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** A string to put on the wire: a JS string is encoded as UTF-8, a Buffer is sent byte for byte. */
export type XdrString = string | Buffer;

/**
 * Growable XDR encoder. Every value is written big-endian and padded to 4 bytes.
 * Call {@link XdrWriter.finish} once; the writer cannot be used afterwards.
 * Encoding errors (out-of-range integers, wrong opaque sizes) throw `RangeError`/`TypeError`:
 * they are programming errors, not wire errors.
 */
export class XdrWriter {
  #buf: Buffer;
  #pos = 0;
  #finished = false;

  /** @param initialCapacity bytes to allocate up front; the buffer doubles as needed. */
  constructor(initialCapacity = 256) {
    this.#buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /**
   * Makes room for `n` bytes and returns where they go. Callers must take the offset *before*
   * touching `this.#buf`: growing replaces the buffer.
   */
  #reserve(n: number): number {
    if (this.#finished) throw new Error('XdrWriter used after finish()');
    const at = this.#pos;
    const need = at + n;
    if (need > this.#buf.length) {
      let cap = this.#buf.length * 2;
      while (cap < need) cap *= 2;
      const next = Buffer.allocUnsafe(cap);
      this.#buf.copy(next, 0, 0, at);
      this.#buf = next;
    }
    this.#pos = need;
    return at;
  }

  #zeroPad(at: number, n: number): void {
    for (let i = 0; i < n; i++) this.#buf[at + i] = 0;
  }

  /** Unsigned 32-bit integer (`unsigned int`). */
  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value >= U32_LIMIT) {
      throw new RangeError(`XDR u32 out of range: ${value}`);
    }
    const at = this.#reserve(4);
    this.#buf.writeUInt32BE(value, at);
    return this;
  }

  /** Signed 32-bit integer (`int`, also used for XDR enums). */
  i32(value: number): this {
    if (!Number.isInteger(value) || value < -0x8000_0000 || value > 0x7fff_ffff) {
      throw new RangeError(`XDR i32 out of range: ${value}`);
    }
    const at = this.#reserve(4);
    this.#buf.writeInt32BE(value, at);
    return this;
  }

  /** Unsigned 64-bit integer (`unsigned hyper`). */
  u64(value: bigint | number): this {
    const v = BigInt(value);
    if (v < 0n || v > U64_MAX) throw new RangeError(`XDR u64 out of range: ${value}`);
    const at = this.#reserve(8);
    this.#buf.writeBigUInt64BE(v, at);
    return this;
  }

  /** Signed 64-bit integer (`hyper`). */
  i64(value: bigint | number): this {
    const v = BigInt(value);
    if (v < I64_MIN || v > I64_MAX) throw new RangeError(`XDR i64 out of range: ${value}`);
    const at = this.#reserve(8);
    this.#buf.writeBigInt64BE(v, at);
    return this;
  }

  /** Boolean as a 32-bit 0 or 1. */
  bool(value: boolean): this {
    const at = this.#reserve(4);
    this.#buf.writeUInt32BE(value ? 1 : 0, at);
    return this;
  }

  /** Fixed-length opaque (`opaque x[n]`): exactly `length` bytes plus padding, no length word. */
  fixedOpaque(bytes: Uint8Array, length: number = bytes.length): this {
    if (bytes.length !== length) {
      throw new RangeError(`XDR fixed opaque needs ${length} bytes, got ${bytes.length}`);
    }
    const pad = xdrPadding(length);
    const at = this.#reserve(length + pad);
    this.#buf.set(bytes, at);
    this.#zeroPad(at + length, pad);
    return this;
  }

  /** Variable-length opaque (`opaque x<max>`): u32 length, bytes, zero padding. */
  opaque(bytes: Uint8Array, max = U32_LIMIT - 1): this {
    if (bytes.length > max) throw new RangeError(`XDR opaque of ${bytes.length} bytes exceeds max ${max}`);
    const n = bytes.length;
    const pad = xdrPadding(n);
    const at = this.#reserve(4 + n + pad);
    this.#buf.writeUInt32BE(n, at);
    this.#buf.set(bytes, at + 4);
    this.#zeroPad(at + 4 + n, pad);
    return this;
  }

  /**
   * String (`string x<max>`): u32 byte length, bytes, zero padding. A JS string is written as UTF-8
   * without an intermediate Buffer; pass a Buffer to send arbitrary (e.g. non-UTF-8) bytes.
   * `max` is only checked when given, so tests can deliberately send over-long strings.
   */
  string(value: XdrString, max = U32_LIMIT - 1): this {
    if (typeof value !== 'string') return this.opaque(value, max);
    const n = Buffer.byteLength(value, 'utf8');
    if (n > max) throw new RangeError(`XDR string of ${n} bytes exceeds max ${max}`);
    const pad = xdrPadding(n);
    const at = this.#reserve(4 + n + pad);
    this.#buf.writeUInt32BE(n, at);
    this.#buf.write(value, at + 4, n, 'utf8');
    this.#zeroPad(at + 4 + n, pad);
    return this;
  }

  /**
   * Optional value (`T *x`): u32 0 when `value` is null/undefined, else u32 1 followed by the value
   * written with `write`.
   */
  optional<T>(value: T | null | undefined, write: (w: XdrWriter, v: T) => void): this {
    if (value === null || value === undefined) return this.u32(0);
    this.u32(1);
    write(this, value);
    return this;
  }

  /** Appends already-encoded XDR bytes verbatim (the caller guarantees alignment). */
  raw(bytes: Uint8Array): this {
    const at = this.#reserve(bytes.length);
    this.#buf.set(bytes, at);
    return this;
  }

  /**
   * Returns the encoded bytes. The result is a view of the writer's internal buffer (no copy),
   * so the writer is closed: any further write throws.
   */
  finish(): Buffer {
    this.#finished = true;
    return this.#buf.subarray(0, this.#pos);
  }
}

/**
 * Bounds-checked XDR decoder over a Buffer. Every read either returns a value or throws
 * {@link XdrDecodeError}; it never reads past `end`.
 *
 * libvirt-compatible leniency (glibc/libtirpc `xdr_opaque`): padding bytes are skipped without
 * checking that they are zero, and trailing bytes are not an error unless {@link assertConsumed}
 * is called. Strictness: booleans (and optional markers) must be 0 or 1 — glibc would accept any
 * non-zero value, but nothing holdfast decodes with it comes from an untrusted peer.
 * Returned Buffers (opaque, stringBytes) are views into the input, not copies.
 */
export class XdrReader {
  readonly #buf: Buffer;
  readonly #end: number;
  #pos: number;

  /**
   * @param buf    input bytes
   * @param offset where decoding starts (default 0)
   * @param end    exclusive end of the region to decode (default `buf.length`)
   */
  constructor(buf: Buffer, offset = 0, end: number = buf.length) {
    if (offset < 0 || end > buf.length || offset > end) {
      throw new RangeError(`XdrReader region [${offset}, ${end}) outside buffer of ${buf.length}`);
    }
    this.#buf = buf;
    this.#pos = offset;
    this.#end = end;
  }

  /** Current read position in the underlying buffer. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes left between the current position and the end of the region. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  #take(n: number, what: string): number {
    const at = this.#pos;
    if (n > this.#end - at) {
      throw new XdrDecodeError(`truncated ${what}: need ${n} bytes, ${this.#end - at} left`, at);
    }
    this.#pos = at + n;
    return at;
  }

  /** Unsigned 32-bit integer. */
  u32(): number {
    return this.#buf.readUInt32BE(this.#take(4, 'u32'));
  }

  /** Signed 32-bit integer (also XDR enums: libvirt does not range-check them on decode). */
  i32(): number {
    return this.#buf.readInt32BE(this.#take(4, 'i32'));
  }

  /** Unsigned 64-bit integer. */
  u64(): bigint {
    return this.#buf.readBigUInt64BE(this.#take(8, 'u64'));
  }

  /** Signed 64-bit integer. */
  i64(): bigint {
    return this.#buf.readBigInt64BE(this.#take(8, 'i64'));
  }

  /** Boolean; throws unless the word is exactly 0 or 1. */
  bool(): boolean {
    const at = this.#pos;
    const v = this.u32();
    if (v > 1) throw new XdrDecodeError(`invalid XDR bool ${v}`, at);
    return v === 1;
  }

  /** Fixed-length opaque of `length` bytes (padding skipped). Returns a view. */
  fixedOpaque(length: number): Buffer {
    const at = this.#take(length + xdrPadding(length), 'fixed opaque');
    return this.#buf.subarray(at, at + length);
  }

  /** Variable-length opaque with at most `max` bytes. Returns a view. */
  opaque(max: number): Buffer {
    return this.#variable(max, 'opaque');
  }

  /**
   * Raw bytes of a string with at most `max` bytes, exactly as sent (may contain NUL or invalid
   * UTF-8). Returns a view. Use this where byte-exactness matters (hostile names, file paths).
   */
  stringBytes(max: number): Buffer {
    return this.#variable(max, 'string');
  }

  /** A string with at most `max` bytes, decoded as UTF-8 (invalid sequences become U+FFFD). */
  string(max: number): string {
    return this.#variable(max, 'string').toString('utf8');
  }

  /** Optional value: a 0/1 marker, then the value read by `read` when the marker is 1. */
  optional<T>(read: (r: XdrReader) => T): T | null {
    return this.bool() ? read(this) : null;
  }

  /** Advances over `n` bytes without interpreting them. */
  skip(n: number): void {
    this.#take(n, 'skipped data');
  }

  /** Throws if any bytes are left in the region (for callers that reject trailing garbage). */
  assertConsumed(): void {
    if (this.#pos !== this.#end) {
      throw new XdrDecodeError(`${this.#end - this.#pos} trailing bytes after XDR data`, this.#pos);
    }
  }

  #length(max: number, what: string): number {
    const at = this.#pos;
    const len = this.u32();
    // glibc checks the declared size against the maximum before touching the data.
    if (len > max) {
      this.#pos = at;
      throw new XdrDecodeError(`XDR ${what} of ${len} bytes exceeds max ${max}`, at);
    }
    return len;
  }

  #variable(max: number, what: string): Buffer {
    const start = this.#pos;
    const len = this.#length(max, what);
    try {
      this.#take(len + xdrPadding(len), `${what} data`);
    } catch (err) {
      this.#pos = start;
      throw err;
    }
    return this.#buf.subarray(start + 4, start + 4 + len);
  }
}

/** True when `bytes` is valid UTF-8, i.e. decoding it to a JS string is lossless. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
