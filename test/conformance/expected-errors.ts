// PROTOCOL.md §5's error table as data: the exact reply each row demands. Only the expected values live
// here; which call provokes them is the checks' business.

/** The virNetMessageError fields a check compares (unset fields are not compared). */
export interface ExpectedError {
  code: number;
  domain: number;
  message: string;
  str1?: string | null;
  str2?: string | null;
  int1?: number;
  int2?: number;
  level?: number;
}

// virErrorNumber / virErrorDomain values (libvirt's virerror.h), as they appear on the wire.
export const ERR = {
  INTERNAL_ERROR: 1,
  INVALID_ARG: 8,
  OPERATION_DENIED: 29,
  SYSTEM_ERROR: 38,
  RPC: 39,
  OPERATION_INVALID: 55,
  RESOURCE_BUSY: 87,
} as const;

export const DOMAIN = { NONE: 0, RPC: 7, LOCKSPACE: 51 } as const;

/** virErrorLevel VIR_ERR_ERROR: every error reply observed carries it. */
const LEVEL_ERROR = 2;

const ENOENT = 2;
const EISDIR = 21;

/** Procedures that carry a flags word, with the name of their dispatcher (it appears in the flags message). */
export const DISPATCHER = {
  REGISTER: 'virLockSpaceProtocolDispatchRegister',
  RESTRICT: 'virLockSpaceProtocolDispatchRestrict',
  NEW: 'virLockSpaceProtocolDispatchNew',
  CREATE_RESOURCE: 'virLockSpaceProtocolDispatchCreateResource',
  DELETE_RESOURCE: 'virLockSpaceProtocolDispatchDeleteResource',
  ACQUIRE_RESOURCE: 'virLockSpaceProtocolDispatchAcquireResource',
  RELEASE_RESOURCE: 'virLockSpaceProtocolDispatchReleaseResource',
} as const;
export type FlaggedProc = keyof typeof DISPATCHER;

/**
 * How libvirt fills str1/str2/int1/int2 (observed on every row): virReportError with a prefixed message
 * sends str1 = "<prefix>: %s" and str2 = the detail, int1 = int2 = -1; a system error sends str1 = "%s",
 * str2 = the whole message, int1 = errno; a flags check sends str1 = the dispatcher, str2 = "flags", 0, 0.
 */
function prefixed(code: number, domain: number, prefix: string, detail: string): ExpectedError {
  return { code, domain, message: `${prefix}: ${detail}`, str1: `${prefix}: %s`, str2: detail, int1: -1, int2: -1, level: LEVEL_ERROR };
}

function plain(code: number, domain: number, message: string, errno = -1): ExpectedError {
  return { code, domain, message, str1: '%s', str2: message, int1: errno, int2: -1, level: LEVEL_ERROR };
}

/** `unsupported flags (0x%x) in function …`: %x is the offending bits only. */
export function unsupportedFlags(proc: FlaggedProc, badBits: number): ExpectedError {
  return {
    code: ERR.INVALID_ARG,
    domain: DOMAIN.RPC,
    message: `unsupported flags (0x${badBits.toString(16)}) in function ${DISPATCHER[proc]}`,
    str1: DISPATCHER[proc],
    str2: 'flags',
    int1: 0,
    int2: 0,
    level: LEVEL_ERROR,
  };
}

export const restricted = prefixed(ERR.OPERATION_DENIED, DOMAIN.RPC, 'operation forbidden',
  'lock manager connection has been restricted');

export const notRegistered = prefixed(ERR.OPERATION_INVALID, DOMAIN.RPC, 'Requested operation is not valid',
  'lock owner details have not been registered');

export function noLockspace(path: string): ExpectedError {
  return prefixed(ERR.INTERNAL_ERROR, DOMAIN.RPC, 'internal error', `Lockspace for path ${path} does not exist`);
}

/** %s is the resource *name* as sent, not its path. */
export function isLocked(name: string): ExpectedError {
  return prefixed(ERR.RESOURCE_BUSY, DOMAIN.LOCKSPACE, 'resource busy', `Lockspace resource '${name}' is locked`);
}

export function notLocked(name: string): ExpectedError {
  return prefixed(ERR.RESOURCE_BUSY, DOMAIN.LOCKSPACE, 'resource busy', `Lockspace resource '${name}' is not locked`);
}

export function notOwner(pid: number): ExpectedError {
  return prefixed(ERR.INTERNAL_ERROR, DOMAIN.LOCKSPACE, 'internal error', `owner ${pid} does not hold the resource lock`);
}

/** %s is the full resource path. */
export function cannotOpen(path: string): ExpectedError {
  return plain(ERR.SYSTEM_ERROR, DOMAIN.LOCKSPACE, `Unable to open resource ${path}: No such file or directory`, ENOENT);
}

export function cannotOpenCreate(path: string): ExpectedError {
  return plain(ERR.SYSTEM_ERROR, DOMAIN.LOCKSPACE, `Unable to open/create resource ${path}: No such file or directory`, ENOENT);
}

/** Reported by virFileTouch, hence domain 0 (NONE) instead of LOCKSPACE. */
export function cannotCreateFile(path: string): ExpectedError {
  return plain(ERR.SYSTEM_ERROR, DOMAIN.NONE, `cannot create file '${path}': No such file or directory`, ENOENT);
}

export function cannotDeleteDirectory(path: string): ExpectedError {
  return plain(ERR.SYSTEM_ERROR, DOMAIN.LOCKSPACE, `Unable to delete lockspace resource ${path}: Is a directory`, EISDIR);
}

export const defaultLockspaceExists = prefixed(ERR.OPERATION_INVALID, DOMAIN.RPC, 'Requested operation is not valid',
  'the default lockspace already exists');

export function lockspaceExists(path: string): ExpectedError {
  return prefixed(ERR.INTERNAL_ERROR, DOMAIN.RPC, 'internal error', `Lockspace for path ${path} already exists`);
}

export function notADirectory(path: string): ExpectedError {
  return prefixed(ERR.INTERNAL_ERROR, DOMAIN.LOCKSPACE, 'internal error', `Lockspace location ${path} exists, but is not a directory`);
}

export function unknownProcedure(proc: number): ExpectedError {
  return plain(ERR.RPC, DOMAIN.RPC, `unknown procedure: ${proc}`);
}

/** P and V in decimal. */
export function unknownProgram(prog: number, vers: number): ExpectedError {
  return plain(ERR.RPC, DOMAIN.RPC, `Cannot find program ${prog} version ${vers}`);
}

export const undecodable = plain(ERR.RPC, DOMAIN.RPC, 'Unable to decode message payload');
