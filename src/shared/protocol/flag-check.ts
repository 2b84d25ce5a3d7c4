// libvirt's virCheckFlags, once for every program: each program's procedure table says which flag bits a
// procedure accepts and which function its refusal names; this is the one place that turns that into the
// error a daemon sends.
import { VirError, VirErrorDomain } from './vir-error';

/** What a procedure table row says about the procedure's flags. */
export interface FlagRule {
  /** The server-side function named in flag errors, e.g. `virLockSpaceProtocolDispatchAcquireResource`. */
  readonly functionName: string;
  /** Flag bits the daemon accepts (`virCheckFlags`), or null when the args have no flags checked. */
  readonly allowedFlags: number | null;
  /** The error domain of a refusal (libvirt's lock daemon reports RPC, its admin functions ADMIN). */
  readonly flagErrorDomain: VirErrorDomain;
}

/**
 * `virCheckFlags` for a procedure: throws the exact INVALID_ARG VirError libvirt sends when `flags` has bits
 * outside `rule.allowedFlags` (naming only the offending bits). Does nothing when there is nothing to check.
 */
export function checkFlags(rule: FlagRule, flags: number): void {
  if (rule.allowedFlags === null) return;
  const unsupported = (flags & ~rule.allowedFlags) >>> 0;
  if (unsupported !== 0) throw VirError.unsupportedFlags(unsupported, rule.functionName, rule.flagErrorDomain);
}
