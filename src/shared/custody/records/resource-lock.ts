// The one re-check of a resource's lock fd, by the range and flags resource-record.ts defines. Apart from
// the record because it loads the addon, and the record's schemas are loaded where the addon is not (the
// build step that precompiles validators).
import * as native from '../../platform/native';
import { LOCK_LENGTH, LOCK_START, lockTypeOf } from './resource-record';

/**
 * Takes the OFD lock `flags` describe (shared or exclusive) on `fd`; false when someone else holds the range.
 * Also the re-check of an fd that should still carry it: on the fd's own open file description taking it
 * again is a no-op success. Throws a SyscallError when the fd cannot be locked at all.
 */
export function tryTakeLock(fd: number, flags: number): boolean {
  return native.ofdTryLock(fd, lockTypeOf(flags), LOCK_START, LOCK_LENGTH);
}
