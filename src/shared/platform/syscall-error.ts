// The error every failed system call of the native addon throws (the addon builds it through the factory
// addon.ts installs), shaped like Node's own errors.

/** A failed system call, shaped like Node's own errors: `code` is the errno name. */
export class SyscallError extends Error {
  /** errno name, e.g. `'EAGAIN'`. */
  readonly code: string;
  /** errno number (positive), e.g. 11. */
  readonly errno: number;
  /** The failed call, e.g. `'fcntl(F_OFD_SETLK)'`, `'sendmsg'`. */
  readonly syscall: string;

  constructor(code: string, errno: number, syscall: string, message = `${code}, ${syscall}`) {
    super(message);
    this.name = 'SyscallError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}
