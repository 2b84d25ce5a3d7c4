// Shared pieces of the lock-model tests: a fresh real directory per test, VirError matchers, and what
// another process sees of a file's lock.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirError, VirErrorCode, VirErrorDomain } from '../../src/shared/protocol/vir-error';
import { probeLock } from '../fixtures/lock-prober';

/** A fresh directory under the system temp dir (mode 0700, ours), removed by `cleanup`. */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `holdfast-model-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A matcher for assert.throws: a VirError with this code (and domain, when given). */
export function virError(code: VirErrorCode, domain?: VirErrorDomain, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof VirError, `expected a VirError, got ${String(err)}`);
    assert.equal(err.code, code, `code of: ${err.message}`);
    if (domain !== undefined) assert.equal(err.domain, domain, `domain of: ${err.message}`);
    if (message) assert.match(err.message, message);
    return true;
  };
}

/** How another process sees byte 0 of `path`: 'free', 'shared' (it could read-lock only) or 'exclusive'. */
export async function seenFromOutside(path: string): Promise<'free' | 'shared' | 'exclusive'> {
  const { ofd, posix } = await probeLock(path);
  // OFD and POSIX locks conflict with each other: both APIs must agree.
  assert.equal(ofd.canWrite, posix.canWrite, 'OFD and POSIX views agree on write');
  assert.equal(ofd.canRead, posix.canRead, 'OFD and POSIX views agree on read');
  if (ofd.canWrite) return 'free';
  return ofd.canRead ? 'shared' : 'exclusive';
}

/** This process's open fds (to show a failed acquire leaves nothing open). */
export function ownFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}
