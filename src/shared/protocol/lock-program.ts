// The virtlockd wire contract (src/locking/lock_protocol.x): program number, procedures, flags,
// argument types with their XDR encoders/decoders, and a table for table-driven dispatch.
// Pure data and codecs: no sockets, no lockspace semantics.

import type { FlagRule } from './flag-check';
import { VirErrorDomain } from './vir-error';
import { XdrReader, XdrWriter, type XdrString } from './xdr';

/** `VIR_LOCK_SPACE_PROTOCOL_PROGRAM`. */
export const LOCK_PROGRAM = 0x0ea7beef;
/** `VIR_LOCK_SPACE_PROTOCOL_PROGRAM_VERSION`. */
export const LOCK_PROGRAM_VERSION = 1;
/** `VIR_LOCK_SPACE_PROTOCOL_STRING_MAX`: longest path/name in bytes; one more is undecodable. */
export const LOCK_STRING_MAX = 65536;
/** `VIR_UUID_BUFLEN`: owner uuid is 16 raw bytes (fixed opaque, no length word). */
export const UUID_LENGTH = 16;

/** `virLockSpaceProtocolProcedure`. */
export enum LockProcedure {
  REGISTER = 1,
  RESTRICT = 2,
  NEW = 3,
  CREATE_RESOURCE = 4,
  DELETE_RESOURCE = 5,
  ACQUIRE_RESOURCE = 6,
  RELEASE_RESOURCE = 7,
  CREATE_LOCKSPACE = 8,
}

/** `virLockSpaceProtocolAcquireResourceFlags`: the only flags any procedure accepts. */
export enum AcquireFlags {
  SHARED = 1,
  AUTOCREATE = 2,
}

/** `virLockSpaceProtocolOwner`. */
export interface LockOwner {
  /** 16 raw bytes. */
  uuid: Buffer;
  name: string;
  /** u32; 0 means "not registered" to the daemon. */
  id: number;
  /** u32; the pid that owns the leases. */
  pid: number;
}

/** REGISTER args. */
export interface RegisterArgs {
  owner: LockOwner;
  flags: number;
}

/** RESTRICT args. */
export interface RestrictArgs {
  flags: number;
}

/** NEW args: create a directory lockspace. */
export interface NewArgs {
  path: string;
  flags: number;
}

/** CREATE_RESOURCE, DELETE_RESOURCE, ACQUIRE_RESOURCE and RELEASE_RESOURCE args. */
export interface ResourceArgs {
  /** Lockspace directory; `""` is the default lockspace where `name` is the file path. */
  path: string;
  name: string;
  flags: number;
}

/** CREATE_LOCKSPACE args (this procedure has no flags field). */
export interface CreateLockspaceArgs {
  path: string;
}

/** Encoder input for an owner: strings may be Buffers to send raw (e.g. non-UTF-8) bytes. */
export interface LockOwnerInput {
  uuid: Uint8Array;
  name: XdrString;
  id: number;
  pid: number;
}

/** Encoder input for REGISTER. */
export interface RegisterArgsInput {
  owner: LockOwnerInput;
  flags: number;
}

/** Encoder input for NEW. */
export interface NewArgsInput {
  path: XdrString;
  flags: number;
}

/** Encoder input for the four resource procedures. */
export interface ResourceArgsInput {
  path: XdrString;
  name: XdrString;
  flags: number;
}

/** Encoder input for CREATE_LOCKSPACE. */
export interface CreateLockspaceArgsInput {
  path: XdrString;
}

/*
 * The `*Bytes` fields are the strings exactly as sent, embedded NULs included (virtlockd would use them
 * only up to the first NUL). The string forms are a lossy UTF-8 decoding (U+FFFD for bad sequences) and
 * must not name a file: the daemon takes a name only through its bytes (worker/lock/exact-name.ts).
 */

/** Decoded owner. */
export interface DecodedLockOwner extends LockOwner {
  nameBytes: Buffer;
}

/** Decoded REGISTER args. */
export interface DecodedRegisterArgs extends RegisterArgs {
  owner: DecodedLockOwner;
}

/** Decoded NEW args. */
export interface DecodedNewArgs extends NewArgs {
  pathBytes: Buffer;
}

/** Decoded resource args. */
export interface DecodedResourceArgs extends ResourceArgs {
  pathBytes: Buffer;
  nameBytes: Buffer;
}

/** Decoded CREATE_LOCKSPACE args. */
export interface DecodedCreateLockspaceArgs extends CreateLockspaceArgs {
  pathBytes: Buffer;
}

// --- codecs -------------------------------------------------------------------------------
// Decoders throw XdrDecodeError on truncation or over-long strings. Trailing bytes after the
// args are accepted: virNetMessageDecodePayload never checks that the payload was consumed
// [observed]. Encoders do not enforce LOCK_STRING_MAX so tests can send over-long strings.

/** Reads a lock-protocol string's bytes exactly, copied. */
function readStringBytes(r: XdrReader): Buffer {
  // Copy so a decoded name never pins the (possibly large) frame it came from.
  return Buffer.from(r.stringBytes(LOCK_STRING_MAX));
}

function stringSize(s: XdrString): number {
  return typeof s === 'string' ? Buffer.byteLength(s) : s.length;
}

/** Encodes REGISTER args. Throws `RangeError` if the uuid is not 16 bytes. */
export function encodeRegisterArgs(args: RegisterArgsInput): Buffer {
  const { owner } = args;
  return new XdrWriter(48 + stringSize(owner.name))
    .fixedOpaque(owner.uuid, UUID_LENGTH)
    .string(owner.name)
    .u32(owner.id)
    .u32(owner.pid)
    .u32(args.flags)
    .finish();
}

/** Decodes REGISTER args. @throws XdrDecodeError */
export function decodeRegisterArgs(payload: Buffer): DecodedRegisterArgs {
  const r = new XdrReader(payload);
  const uuid = Buffer.from(r.fixedOpaque(UUID_LENGTH));
  const nameBytes = readStringBytes(r);
  const id = r.u32();
  const pid = r.u32();
  const flags = r.u32();
  return { owner: { uuid, name: nameBytes.toString('utf8'), nameBytes, id, pid }, flags };
}

/** Encodes RESTRICT args. */
export function encodeRestrictArgs(args: RestrictArgs): Buffer {
  return new XdrWriter(4).u32(args.flags).finish();
}

/** Decodes RESTRICT args. @throws XdrDecodeError */
export function decodeRestrictArgs(payload: Buffer): RestrictArgs {
  return { flags: new XdrReader(payload).u32() };
}

/** Encodes NEW args. */
export function encodeNewArgs(args: NewArgsInput): Buffer {
  return new XdrWriter(16 + stringSize(args.path)).string(args.path).u32(args.flags).finish();
}

/** Decodes NEW args. @throws XdrDecodeError */
export function decodeNewArgs(payload: Buffer): DecodedNewArgs {
  const r = new XdrReader(payload);
  const pathBytes = readStringBytes(r);
  const flags = r.u32();
  return { path: pathBytes.toString('utf8'), pathBytes, flags };
}

/** Encodes CREATE/DELETE/ACQUIRE/RELEASE_RESOURCE args. */
export function encodeResourceArgs(args: ResourceArgsInput): Buffer {
  return new XdrWriter(24 + stringSize(args.path) + stringSize(args.name))
    .string(args.path)
    .string(args.name)
    .u32(args.flags)
    .finish();
}

/** Decodes CREATE/DELETE/ACQUIRE/RELEASE_RESOURCE args. @throws XdrDecodeError */
export function decodeResourceArgs(payload: Buffer): DecodedResourceArgs {
  const r = new XdrReader(payload);
  const pathBytes = readStringBytes(r);
  const nameBytes = readStringBytes(r);
  const flags = r.u32();
  return { path: pathBytes.toString('utf8'), pathBytes, name: nameBytes.toString('utf8'), nameBytes, flags };
}

/** Encodes CREATE_LOCKSPACE args. */
export function encodeCreateLockspaceArgs(args: CreateLockspaceArgsInput): Buffer {
  return new XdrWriter(12 + stringSize(args.path)).string(args.path).finish();
}

/** Decodes CREATE_LOCKSPACE args. @throws XdrDecodeError */
export function decodeCreateLockspaceArgs(payload: Buffer): DecodedCreateLockspaceArgs {
  const pathBytes = readStringBytes(new XdrReader(payload));
  return { path: pathBytes.toString('utf8'), pathBytes };
}

// --- procedure table ----------------------------------------------------------------------

/** Decoded args type of each procedure. */
export interface LockProcedureArgs {
  [LockProcedure.REGISTER]: DecodedRegisterArgs;
  [LockProcedure.RESTRICT]: RestrictArgs;
  [LockProcedure.NEW]: DecodedNewArgs;
  [LockProcedure.CREATE_RESOURCE]: DecodedResourceArgs;
  [LockProcedure.DELETE_RESOURCE]: DecodedResourceArgs;
  [LockProcedure.ACQUIRE_RESOURCE]: DecodedResourceArgs;
  [LockProcedure.RELEASE_RESOURCE]: DecodedResourceArgs;
  [LockProcedure.CREATE_LOCKSPACE]: DecodedCreateLockspaceArgs;
}

/** Encoder input type of each procedure. */
export interface LockProcedureInputs {
  [LockProcedure.REGISTER]: RegisterArgsInput;
  [LockProcedure.RESTRICT]: RestrictArgs;
  [LockProcedure.NEW]: NewArgsInput;
  [LockProcedure.CREATE_RESOURCE]: ResourceArgsInput;
  [LockProcedure.DELETE_RESOURCE]: ResourceArgsInput;
  [LockProcedure.ACQUIRE_RESOURCE]: ResourceArgsInput;
  [LockProcedure.RELEASE_RESOURCE]: ResourceArgsInput;
  [LockProcedure.CREATE_LOCKSPACE]: CreateLockspaceArgsInput;
}

/** One row of the procedure table. */
export interface ProcedureEntry<P extends LockProcedure = LockProcedure> extends FlagRule {
  readonly proc: P;
  /** libvirt's CamelCase procedure name, e.g. `AcquireResource`. */
  readonly name: string;
  /** Decodes the call payload. @throws XdrDecodeError */
  decode(payload: Buffer): LockProcedureArgs[P];
  /** Encodes call args. */
  encode(args: LockProcedureInputs[P]): Buffer;
}

/** Procedure number -> entry, for every procedure of the lock program. */
export type ProcedureTable = { readonly [P in LockProcedure]: ProcedureEntry<P> };

function entry<P extends LockProcedure>(
  proc: P,
  name: string,
  allowedFlags: number | null,
  decode: (payload: Buffer) => LockProcedureArgs[P],
  encode: (args: LockProcedureInputs[P]) => Buffer,
): ProcedureEntry<P> {
  // virtlockd's dispatch functions report bad flags in the RPC domain.
  const flagErrorDomain = VirErrorDomain.RPC;
  return Object.freeze({ proc, name, functionName: `virLockSpaceProtocolDispatch${name}`, allowedFlags, flagErrorDomain, decode, encode });
}

/**
 * The lock program's procedures. Allowed flags are those of lock_daemon_dispatch.c (libvirt 9.0):
 * ACQUIRE_RESOURCE takes SHARED|AUTOCREATE, every other procedure with a flags field only 0
 * (RELEASE_RESOURCE included — libvirt's client masks the acquire flags off before sending).
 */
export const LOCK_PROCEDURES: ProcedureTable = Object.freeze({
  [LockProcedure.REGISTER]: entry(LockProcedure.REGISTER, 'Register', 0, decodeRegisterArgs, encodeRegisterArgs),
  [LockProcedure.RESTRICT]: entry(LockProcedure.RESTRICT, 'Restrict', 0, decodeRestrictArgs, encodeRestrictArgs),
  [LockProcedure.NEW]: entry(LockProcedure.NEW, 'New', 0, decodeNewArgs, encodeNewArgs),
  [LockProcedure.CREATE_RESOURCE]: entry(
    LockProcedure.CREATE_RESOURCE, 'CreateResource', 0, decodeResourceArgs, encodeResourceArgs),
  [LockProcedure.DELETE_RESOURCE]: entry(
    LockProcedure.DELETE_RESOURCE, 'DeleteResource', 0, decodeResourceArgs, encodeResourceArgs),
  [LockProcedure.ACQUIRE_RESOURCE]: entry(
    LockProcedure.ACQUIRE_RESOURCE, 'AcquireResource', AcquireFlags.SHARED | AcquireFlags.AUTOCREATE,
    decodeResourceArgs, encodeResourceArgs),
  [LockProcedure.RELEASE_RESOURCE]: entry(
    LockProcedure.RELEASE_RESOURCE, 'ReleaseResource', 0, decodeResourceArgs, encodeResourceArgs),
  [LockProcedure.CREATE_LOCKSPACE]: entry(
    LockProcedure.CREATE_LOCKSPACE, 'CreateLockSpace', null, decodeCreateLockspaceArgs, encodeCreateLockspaceArgs),
});

/** The table entry for a procedure number, or undefined if the lock program has no such procedure. */
export function lookupProcedure(proc: number): ProcedureEntry | undefined {
  return Object.prototype.hasOwnProperty.call(LOCK_PROCEDURES, proc)
    ? (LOCK_PROCEDURES as unknown as Record<number, ProcedureEntry>)[proc]
    : undefined;
}

/** `virCheckFlags` for a procedure of any program, lock procedures included. */
export { checkFlags } from './flag-check';
