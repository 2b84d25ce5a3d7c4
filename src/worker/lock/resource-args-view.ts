// The args of CREATE/DELETE/ACQUIRE/RELEASE_RESOURCE located where they lie in a call's frame: the daemon
// reads them in place instead of decoding them into copies and an object per call (decodeResourceArgs in
// lock-program.ts stays the reference form, for clients and tests; a property test holds the two equal).
import { LOCK_STRING_MAX } from '../../shared/protocol/lock-program';
import { XdrDecodeError, xdrPadding } from '../../shared/protocol/xdr';

const EMPTY = Buffer.alloc(0);

/**
 * One resource call's args as offsets into its frame. A view is re-pointed at each call (`locate`), so it
 * is valid only until the next one: a handler reads it synchronously and keeps strings, never the view.
 */
export class ResourceArgsView {
  frame: Buffer = EMPTY;
  /** The lockspace path's bytes: frame[pathStart, pathEnd). */
  pathStart = 0;
  pathEnd = 0;
  /** The resource name's bytes: frame[nameStart, nameEnd). */
  nameStart = 0;
  nameEnd = 0;
  flags = 0;

  /**
   * Points the view at the args starting at `offset` of `frame`. Accepts and refuses exactly what
   * decodeResourceArgs(frame.subarray(offset)) does: trailing bytes are fine, truncation or a string over
   * LOCK_STRING_MAX throws XdrDecodeError.
   */
  locate(frame: Buffer, offset: number): this {
    const end = frame.length;
    const pathStart = stringStart(frame, offset, end);
    const pathEnd = pathStart + frame.readUInt32BE(offset);
    const nameAt = pathEnd + xdrPadding(pathEnd - pathStart);
    const nameStart = stringStart(frame, nameAt, end);
    const nameEnd = nameStart + frame.readUInt32BE(nameAt);
    const flagsAt = nameEnd + xdrPadding(nameEnd - nameStart);
    if (end - flagsAt < 4) throw new XdrDecodeError('truncated flags', flagsAt);
    this.frame = frame;
    this.pathStart = pathStart;
    this.pathEnd = pathEnd;
    this.nameStart = nameStart;
    this.nameEnd = nameEnd;
    this.flags = frame.readUInt32BE(flagsAt);
    return this;
  }

  /** The lockspace path exactly as sent (a view, for error messages and the reference checks). */
  pathBytes(): Buffer {
    return this.frame.subarray(this.pathStart, this.pathEnd);
  }

  /** The resource name exactly as sent (a view). */
  nameBytes(): Buffer {
    return this.frame.subarray(this.nameStart, this.nameEnd);
  }
}

// Checks the XDR string whose length word is at `at` (within LOCK_STRING_MAX, data and padding present)
// and returns where its bytes start.
function stringStart(frame: Buffer, at: number, end: number): number {
  if (end - at < 4) throw new XdrDecodeError('truncated string length', at);
  const length = frame.readUInt32BE(at);
  if (length > LOCK_STRING_MAX) throw new XdrDecodeError(`XDR string of ${length} bytes exceeds max ${LOCK_STRING_MAX}`, at);
  if (end - at - 4 < length + xdrPadding(length)) throw new XdrDecodeError('truncated string data', at);
  return at + 4;
}
