// libvirt RPC message framing (virnetprotocol.x / virnetmessage.c): length word, 24-byte header,
// size limits and the type/status enums. Never interprets a payload: that is the program's job.

import { XdrDecodeError } from './xdr';

/** `virNetMessageType`: what a message is. Decoding never range-checks it (neither does libvirt). */
export enum MessageType {
  /** client -> server: procedure call with its args. */
  CALL = 0,
  /** server -> client: reply (status OK: return value; status ERROR: virNetMessageError). */
  REPLY = 1,
  /** either direction: asynchronous event, serial 0. */
  MESSAGE = 2,
  /** either direction: stream data. */
  STREAM = 3,
  /** client -> server: call that also passes file descriptors. */
  CALL_WITH_FDS = 4,
  /** server -> client: reply that also passes file descriptors. */
  REPLY_WITH_FDS = 5,
  /** either direction: stream hole. */
  STREAM_HOLE = 6,
}

/** `virNetMessageStatus`. Calls always carry OK. */
export enum MessageStatus {
  OK = 0,
  ERROR = 1,
  CONTINUE = 2,
}

/** `virNetMessageHeader`: six XDR words after the length word. */
export interface MessageHeader {
  /** Program number (u32), e.g. 0x0EA7BEEF for the lock protocol. */
  prog: number;
  /** Program version (u32). */
  vers: number;
  /** Procedure number (i32). */
  proc: number;
  /** Message type (i32); see {@link MessageType}. */
  type: MessageType;
  /** Serial (u32) chosen by the caller and echoed in the reply. */
  serial: number;
  /** Status (i32); see {@link MessageStatus}. */
  status: MessageStatus;
}

/** A decoded frame: header plus payload (a view into the frame). */
export interface Message {
  header: MessageHeader;
  payload: Buffer;
}

/** Size of the length word (`VIR_NET_MESSAGE_LEN_MAX`). It counts itself. */
export const LENGTH_WORD_SIZE = 4;
/** Size of the encoded header (`VIR_NET_MESSAGE_HEADER_MAX`). */
export const HEADER_SIZE = 24;
/** Smallest frame that can be decoded: length word + header, empty payload. */
export const MIN_FRAME_SIZE = LENGTH_WORD_SIZE + HEADER_SIZE;
/** Offset of the payload in a frame (same value as {@link MIN_FRAME_SIZE}: 28). */
export const HEADER_END = MIN_FRAME_SIZE;
/**
 * `VIR_NET_MESSAGE_MAX` (libvirt >= 4.1, so also 9.0): 32 MiB for header + payload, *excluding*
 * the length word. (Older libvirt used 16 MiB.)
 */
export const MESSAGE_MAX = 33554432;
/** Largest acceptable value of the length word: `MESSAGE_MAX + LENGTH_WORD_SIZE` = 33554436. */
export const MAX_FRAME_SIZE = MESSAGE_MAX + LENGTH_WORD_SIZE;
/** `VIR_NET_MESSAGE_PAYLOAD_MAX`: largest payload after the header. */
export const PAYLOAD_MAX = MESSAGE_MAX - HEADER_SIZE;
/** `VIR_NET_MESSAGE_INITIAL`: libvirt's first receive/encode buffer size (a hint, not a limit). */
export const MESSAGE_INITIAL = 65536;
/** `VIR_NET_MESSAGE_STRING_MAX`: max length of strings in virNetMessageError. */
export const MESSAGE_STRING_MAX = 4194304;
/** `VIR_NET_MESSAGE_NUM_FDS_MAX`: max fds per *_WITH_FDS message. */
export const NUM_FDS_MAX = 32;

/**
 * Reads the length word at `offset`: the total frame size in bytes, length word included.
 * The caller must have at least 4 bytes available.
 */
export function readLength(buf: Buffer, offset = 0): number {
  return buf.readUInt32BE(offset);
}

/**
 * Why a length word is unacceptable, or null if it is fine.
 *
 * libvirt (9.0) closes the connection without replying in all of these cases — observed with the
 * real virtlockd, source in virNetMessageDecodeLength / virNetServerClientDispatchRead:
 * - `< 4`: rejected as "too small" as soon as the word is read;
 * - `== 4`: the read of a zero-length body fails ("unexpected zero/negative length request");
 * - `5..27`: libvirt first waits for the remaining `length - 4` bytes, then fails to decode the
 *   header (holdfast may drop at once; the peer cannot tell, as no reply is sent either way);
 * - `> MAX_FRAME_SIZE`: rejected as "too large" as soon as the word is read.
 */
export function frameLengthProblem(length: number): string | null {
  if (length < MIN_FRAME_SIZE) {
    return `message length ${length} is smaller than the ${MIN_FRAME_SIZE}-byte minimum`;
  }
  if (length > MAX_FRAME_SIZE) {
    return `message length ${length} exceeds the ${MAX_FRAME_SIZE}-byte maximum`;
  }
  return null;
}

/** Writes the 24-byte header at `offset` (no length word). Values are range-checked. */
export function writeHeader(buf: Buffer, offset: number, header: MessageHeader): void {
  buf.writeUInt32BE(header.prog, offset);
  buf.writeUInt32BE(header.vers, offset + 4);
  buf.writeInt32BE(header.proc, offset + 8);
  buf.writeInt32BE(header.type, offset + 12);
  buf.writeUInt32BE(header.serial, offset + 16);
  buf.writeInt32BE(header.status, offset + 20);
}

/**
 * Encodes a complete frame (length word, header, payload) in a single allocation.
 * Throws `RangeError` if the frame would exceed {@link MAX_FRAME_SIZE} (libvirt refuses to encode
 * it too) or a header field is out of range. Use raw bytes to send deliberately broken frames.
 */
export function encodeMessage(header: MessageHeader, payload: Uint8Array = EMPTY): Buffer {
  const total = MIN_FRAME_SIZE + payload.length;
  if (total > MAX_FRAME_SIZE) {
    throw new RangeError(`message of ${total} bytes exceeds the ${MAX_FRAME_SIZE}-byte maximum`);
  }
  const frame = Buffer.allocUnsafe(total);
  frame.writeUInt32BE(total, 0);
  writeHeader(frame, LENGTH_WORD_SIZE, header);
  frame.set(payload, MIN_FRAME_SIZE);
  return frame;
}

/**
 * Encodes the reply to `call` (its prog, vers, proc and serial; type REPLY; `status`) around `payload`,
 * straight into one buffer of exact size: what encodeMessage(replyHeader(call, status), payload) gives,
 * without the header object. Small replies come from Node's shared buffer pool, not an allocation each.
 */
export function encodeReply(call: MessageHeader, status: MessageStatus, payload: Uint8Array): Buffer {
  const total = MIN_FRAME_SIZE + payload.length;
  if (total > MAX_FRAME_SIZE) {
    throw new RangeError(`message of ${total} bytes exceeds the ${MAX_FRAME_SIZE}-byte maximum`);
  }
  const frame = Buffer.allocUnsafe(total);
  frame.writeUInt32BE(total, 0);
  frame.writeUInt32BE(call.prog, 4);
  frame.writeUInt32BE(call.vers, 8);
  frame.writeInt32BE(call.proc, 12);
  frame.writeInt32BE(MessageType.REPLY, 16);
  frame.writeUInt32BE(call.serial, 20);
  frame.writeInt32BE(status, 24);
  if (payload.length > 0) frame.set(payload, MIN_FRAME_SIZE);
  return frame;
}

/**
 * Decodes the header of `frame` (a whole message starting with its length word). Like libvirt's
 * virNetMessageDecodeHeader it validates nothing but size: any type/status/proc value is returned.
 * The length word itself is not re-checked (the frame reader already did).
 * @throws XdrDecodeError if the frame is shorter than {@link MIN_FRAME_SIZE}.
 */
export function decodeHeader(frame: Buffer): MessageHeader {
  if (frame.length < MIN_FRAME_SIZE) {
    throw new XdrDecodeError(`frame of ${frame.length} bytes is too short for a message header`, 0);
  }
  return {
    prog: frame.readUInt32BE(4),
    vers: frame.readUInt32BE(8),
    proc: frame.readInt32BE(12),
    type: frame.readInt32BE(16),
    serial: frame.readUInt32BE(20),
    status: frame.readInt32BE(24),
  };
}

/** The payload of `frame` (everything after the header), as a view. */
export function framePayload(frame: Buffer): Buffer {
  return frame.subarray(HEADER_END);
}

/** Decodes header and payload of a whole frame. @throws XdrDecodeError if too short. */
export function decodeMessage(frame: Buffer): Message {
  return { header: decodeHeader(frame), payload: framePayload(frame) };
}

/**
 * Header of the reply to `call`: same prog/vers/proc/serial, type REPLY, the given status.
 * (libvirt echoes the *call's* prog and vers even when it does not know that program.)
 */
export function replyHeader(call: MessageHeader, status: MessageStatus): MessageHeader {
  return {
    prog: call.prog,
    vers: call.vers,
    proc: call.proc,
    type: MessageType.REPLY,
    serial: call.serial,
    status,
  };
}

const EMPTY = Buffer.alloc(0);
