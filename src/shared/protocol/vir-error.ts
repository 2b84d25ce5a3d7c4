// libvirt errors as values: code/domain/level numbers (virterror.h), the VirError class with the
// virNetMessageError wire codec, and constructors that fill fields exactly as libvirt 9.0 does.

import { constants as osConstants } from 'node:os';
import { MESSAGE_STRING_MAX } from './message';
import { XdrReader, XdrWriter } from './xdr';

/** `virErrorNumber` values (include/libvirt/virterror.h); a subset, numbers are ABI-stable. */
export enum VirErrorCode {
  OK = 0,
  INTERNAL_ERROR = 1,
  NO_MEMORY = 2,
  NO_SUPPORT = 3,
  INVALID_ARG = 8,
  OPERATION_FAILED = 9,
  OPERATION_DENIED = 29,
  OPEN_FAILED = 30,
  READ_FAILED = 31,
  PARSE_FAILED = 32,
  CONF_SYNTAX = 33,
  WRITE_FAILED = 34,
  SYSTEM_ERROR = 38,
  RPC = 39,
  AUTH_FAILED = 45,
  OPERATION_INVALID = 55,
  CONFIG_UNSUPPORTED = 67,
  OPERATION_TIMEOUT = 68,
  ARGUMENT_UNSUPPORTED = 74,
  OPERATION_ABORTED = 78,
  OVERFLOW = 82,
  OPERATION_UNSUPPORTED = 84,
  RESOURCE_BUSY = 87,
  ACCESS_DENIED = 88,
  NO_SERVER = 95,
  NO_CLIENT = 96,
}

/** `virErrorDomain` values (where an error was raised); a subset. */
export enum VirErrorDomain {
  NONE = 0,
  RPC = 7,
  CONF = 9,
  REMOTE = 13,
  EVENT = 40,
  LOCKING = 42,
  LOCKSPACE = 51,
  IDENTITY = 53,
  ACCESS = 55,
  SYSTEMD = 56,
  THREAD = 61,
  ADMIN = 62,
  LOGGING = 63,
}

/** `virErrorLevel`. Every error libvirt reports over RPC uses ERROR. */
export enum VirErrorLevel {
  NONE = 0,
  WARNING = 1,
  ERROR = 2,
}

/**
 * libvirt's message templates (`virErrorMsgStrings[].msginfo`) for the codes holdfast reports:
 * the full message is the template with `%s` replaced by the detail, and the template itself is
 * sent as `str1`. libvirt 9.0 still uses plain `%s` (positional `%1$s` came in 9.2) [observed].
 */
const MESSAGE_TEMPLATES: Readonly<Partial<Record<VirErrorCode, string>>> = {
  [VirErrorCode.INTERNAL_ERROR]: 'internal error: %s',
  [VirErrorCode.NO_MEMORY]: 'out of memory: %s',
  [VirErrorCode.NO_SUPPORT]: 'this function is not supported by the connection driver: %s',
  [VirErrorCode.INVALID_ARG]: 'invalid argument: %s',
  [VirErrorCode.OPERATION_FAILED]: 'operation failed: %s',
  [VirErrorCode.OPERATION_DENIED]: 'operation forbidden: %s',
  [VirErrorCode.CONF_SYNTAX]: 'configuration file syntax error: %s',
  [VirErrorCode.SYSTEM_ERROR]: '%s',
  [VirErrorCode.RPC]: '%s',
  [VirErrorCode.AUTH_FAILED]: 'authentication failed: %s',
  [VirErrorCode.OPERATION_INVALID]: 'Requested operation is not valid: %s',
  [VirErrorCode.CONFIG_UNSUPPORTED]: 'unsupported configuration: %s',
  [VirErrorCode.OPERATION_TIMEOUT]: 'Timed out during operation: %s',
  [VirErrorCode.ARGUMENT_UNSUPPORTED]: 'argument unsupported: %s',
  [VirErrorCode.OPERATION_ABORTED]: 'operation aborted: %s',
  [VirErrorCode.OVERFLOW]: 'numerical overflow: %s',
  [VirErrorCode.OPERATION_UNSUPPORTED]: 'Operation not supported: %s',
  [VirErrorCode.RESOURCE_BUSY]: 'resource busy: %s',
  [VirErrorCode.ACCESS_DENIED]: 'access denied: %s',
  [VirErrorCode.NO_SERVER]: 'Server not found: %s',
  [VirErrorCode.NO_CLIENT]: 'Client not found: %s',
};

/** glibc `strerror` texts (C locale) for the errnos holdfast can meet; others: "Unknown error N". */
const STRERROR_TEXT: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  ECHILD: 'No child processes',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  EXDEV: 'Invalid cross-device link',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  ESPIPE: 'Illegal seek',
  EROFS: 'Read-only file system',
  EMLINK: 'Too many links',
  EPIPE: 'Broken pipe',
  ERANGE: 'Numerical result out of range',
  EDEADLK: 'Resource deadlock avoided',
  ENAMETOOLONG: 'File name too long',
  ENOLCK: 'No locks available',
  ENOSYS: 'Function not implemented',
  ENOTEMPTY: 'Directory not empty',
  ELOOP: 'Too many levels of symbolic links',
  EOVERFLOW: 'Value too large for defined data type',
  ENOTSOCK: 'Socket operation on non-socket',
  EOPNOTSUPP: 'Operation not supported',
  EADDRINUSE: 'Address already in use',
  ENOBUFS: 'No buffer space available',
  ECONNRESET: 'Connection reset by peer',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  ESTALE: 'Stale file handle',
  EDQUOT: 'Disk quota exceeded',
};

const ERRNO_BY_NAME: Readonly<Record<string, number>> = osConstants.errno;

/** errno number -> glibc strerror text (index built once; aliases such as EWOULDBLOCK share one). */
const STRERROR_BY_NUMBER: ReadonlyMap<number, string> = new Map(
  Object.entries(STRERROR_TEXT).flatMap(([name, text]) => {
    const n = ERRNO_BY_NAME[name];
    return n === undefined ? [] : [[n, text] as const];
  }),
);

/**
 * Resolves an errno given as a number (Node's negative libuv errnos are accepted) or a name
 * such as `'ENOENT'` to its positive Linux number. Unknown names throw `TypeError`.
 */
export function errnoNumber(errno: number | string): number {
  if (typeof errno === 'number') return Math.abs(errno);
  const n = ERRNO_BY_NAME[errno];
  if (n === undefined) throw new TypeError(`unknown errno name ${errno}`);
  return n;
}

/**
 * glibc's `strerror(errno)` text, as libvirt puts it into system-error messages (`g_strerror`).
 * @param errno number or errno name
 */
export function strerror(errno: number | string): string {
  const n = errnoNumber(errno);
  return STRERROR_BY_NUMBER.get(n) ?? `Unknown error ${n}`;
}

/** The fields of `virNetMessageError` that holdfast carries (dom and net are always absent). */
export interface VirErrorFields {
  code: number;
  domain: number;
  message: string;
  /** Defaults to {@link VirErrorLevel.ERROR}. */
  level?: number;
  str1?: string | null;
  str2?: string | null;
  str3?: string | null;
  /** Defaults to -1, libvirt's value for "unused". */
  int1?: number;
  /** Defaults to -1. */
  int2?: number;
}

/**
 * A libvirt error: the in-process form of `virNetMessageError` (virnetprotocol.x). The daemon
 * throws these from model and dispatch code; the program layer encodes the first one it catches
 * as the ERROR reply payload; the client decodes them from replies.
 */
export class VirError extends Error {
  override readonly name = 'VirError';
  /** `virErrorNumber`, see {@link VirErrorCode}. */
  readonly code: number;
  /** `virErrorDomain`, see {@link VirErrorDomain}. */
  readonly domain: number;
  /** `virErrorLevel`, always ERROR in practice. */
  readonly level: number;
  /** Extra string 1: libvirt puts the message template (e.g. `"resource busy: %s"`) here. */
  readonly str1: string | null;
  /** Extra string 2: usually the detail that was substituted into the template. */
  readonly str2: string | null;
  /** Extra string 3: unused by virtlockd. */
  readonly str3: string | null;
  /** Extra int 1: errno for system errors, else -1 (0 for flag errors). */
  readonly int1: number;
  /** Extra int 2: -1 (0 for flag errors). */
  readonly int2: number;

  constructor(fields: VirErrorFields) {
    super(fields.message);
    this.code = fields.code;
    this.domain = fields.domain;
    this.level = fields.level ?? VirErrorLevel.ERROR;
    this.str1 = fields.str1 ?? null;
    this.str2 = fields.str2 ?? null;
    this.str3 = fields.str3 ?? null;
    this.int1 = fields.int1 ?? -1;
    this.int2 = fields.int2 ?? -1;
  }

  /**
   * Like `virReportError(code, fmt, ...)` in a file whose `VIR_FROM_THIS` is `domain`: the message
   * is the code's template applied to `detail`, str1 = template, str2 = detail, int1 = int2 = -1.
   * Throws `RangeError` for codes without a known template.
   */
  static report(code: VirErrorCode, domain: number, detail: string): VirError {
    const template = MESSAGE_TEMPLATES[code];
    if (template === undefined) throw new RangeError(`no libvirt message template for error code ${code}`);
    return new VirError({
      code,
      domain,
      // A replacer function: a detail containing "$&" must not be expanded by String.replace.
      message: template.replace('%s', () => detail),
      str1: template,
      str2: detail,
    });
  }

  /**
   * `virCheckFlags` failure: INVALID_ARG, message `unsupported flags (0x<hex>) in function <fn>`,
   * str1 = function name, str2 = "flags", int1 = int2 = 0 (virReportInvalidArg) [observed].
   * @param flags        only the *unsupported* bits, `flags & ~allowed` (virtlockd prints 0x4 for
   *                     flags 7 on ACQUIRE) [observed]; printed as unsigned hex
   * @param functionName e.g. `virLockSpaceProtocolDispatchAcquireResource`
   * @param domain       VIR_FROM_THIS of the caller (RPC for lock_daemon_dispatch.c)
   */
  static unsupportedFlags(flags: number, functionName: string, domain: number = VirErrorDomain.RPC): VirError {
    return new VirError({
      code: VirErrorCode.INVALID_ARG,
      domain,
      message: `unsupported flags (0x${(flags >>> 0).toString(16)}) in function ${functionName}`,
      str1: functionName,
      str2: 'flags',
      int1: 0,
      int2: 0,
    });
  }

  /** INVALID_ARG via virReportError: `invalid argument: <detail>`. */
  static invalidArg(detail: string, domain: number = VirErrorDomain.RPC): VirError {
    return VirError.report(VirErrorCode.INVALID_ARG, domain, detail);
  }

  /** OPERATION_DENIED: `operation forbidden: <detail>`. */
  static operationDenied(detail: string, domain: number = VirErrorDomain.RPC): VirError {
    return VirError.report(VirErrorCode.OPERATION_DENIED, domain, detail);
  }

  /** OPERATION_INVALID: `Requested operation is not valid: <detail>`. */
  static operationInvalid(detail: string, domain: number = VirErrorDomain.RPC): VirError {
    return VirError.report(VirErrorCode.OPERATION_INVALID, domain, detail);
  }

  /** INTERNAL_ERROR: `internal error: <detail>`. */
  static internalError(detail: string, domain: number = VirErrorDomain.RPC): VirError {
    return VirError.report(VirErrorCode.INTERNAL_ERROR, domain, detail);
  }

  /** RESOURCE_BUSY: `resource busy: <detail>`; raised by virlockspace.c, hence LOCKSPACE. */
  static resourceBusy(detail: string, domain: number = VirErrorDomain.LOCKSPACE): VirError {
    return VirError.report(VirErrorCode.RESOURCE_BUSY, domain, detail);
  }

  /** RPC error with a bare detail (template `%s`): `unknown procedure: 9`, etc. */
  static rpcError(detail: string, domain: number = VirErrorDomain.RPC): VirError {
    return VirError.report(VirErrorCode.RPC, domain, detail);
  }

  /**
   * `virReportSystemError(errno, fmt, ...)`: SYSTEM_ERROR, message `<text>: <strerror(errno)>`,
   * str1 = "%s", str2 = the message, int1 = errno, int2 = -1 [observed].
   * @param domain VIR_FROM_THIS of the reporting file (LOCKSPACE for virlockspace.c, NONE for virfile.c)
   * @param errno  number (negative libuv values accepted) or name such as `'ENOENT'`
   * @param text   the already formatted prefix, e.g. `Unable to open resource /x`
   */
  static systemError(domain: number, errno: number | string, text: string): VirError {
    const n = errnoNumber(errno);
    const detail = `${text}: ${strerror(n)}`;
    return new VirError({
      code: VirErrorCode.SYSTEM_ERROR,
      domain,
      message: detail,
      str1: '%s',
      str2: detail,
      int1: n,
      int2: -1,
    });
  }

  /** Writes this error as a `virNetMessageError` into `w` (dom and net absent, message present). */
  encodeTo(w: XdrWriter): void {
    w.i32(this.code)
      .i32(this.domain)
      .optional(this.message, writeString)
      .i32(this.level)
      .u32(0) // dom: absent
      .optional(this.str1, writeString)
      .optional(this.str2, writeString)
      .optional(this.str3, writeString)
      .i32(this.int1)
      .i32(this.int2)
      .u32(0); // net: absent
  }

  /** The XDR payload of an ERROR reply carrying this error. */
  encode(): Buffer {
    const w = new XdrWriter(64 + 2 * Buffer.byteLength(this.message));
    this.encodeTo(w);
    return w.finish();
  }

  /**
   * Decodes a `virNetMessageError`. `dom` and `net` are parsed and dropped; an absent message
   * becomes `''`. Trailing bytes are ignored (as libvirt does) when a Buffer is given.
   * @throws XdrDecodeError on malformed input
   */
  static decode(src: Buffer | XdrReader): VirError {
    const r = src instanceof XdrReader ? src : new XdrReader(src);
    const code = r.i32();
    const domain = r.i32();
    const message = r.optional(readString);
    const level = r.i32();
    r.optional(skipDomain);
    const str1 = r.optional(readString);
    const str2 = r.optional(readString);
    const str3 = r.optional(readString);
    const int1 = r.i32();
    const int2 = r.i32();
    r.optional(skipNetwork);
    return new VirError({ code, domain, message: message ?? '', level, str1, str2, str3, int1, int2 });
  }

  /** Plain-object form for logs and JSON. */
  toJSON(): Required<VirErrorFields> {
    return {
      code: this.code,
      domain: this.domain,
      message: this.message,
      level: this.level,
      str1: this.str1,
      str2: this.str2,
      str3: this.str3,
      int1: this.int1,
      int2: this.int2,
    };
  }
}

function writeString(w: XdrWriter, s: string): void {
  w.string(s);
}

function readString(r: XdrReader): string {
  return r.string(MESSAGE_STRING_MAX);
}

/** `virNetMessageNonnullDomain`: name, uuid[16], id. */
function skipDomain(r: XdrReader): void {
  r.stringBytes(MESSAGE_STRING_MAX);
  r.fixedOpaque(16);
  r.i32();
}

/** `virNetMessageNonnullNetwork`: name, uuid[16]. */
function skipNetwork(r: XdrReader): void {
  r.stringBytes(MESSAGE_STRING_MAX);
  r.fixedOpaque(16);
}
