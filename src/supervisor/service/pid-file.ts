// The pid file: an exclusive flock on it proves this daemon is the only one for its socket. The fd stays open
// (and locked) for the daemon's life, across re-execs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { flockExclusive } from '../../shared/platform/native';
import { ensurePrivateDir } from './private-dir';

export class PidFile {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /**
   * Locks and writes the pid file; throws a readable error if another daemon holds it, if its directory is
   * not the daemon's own, or if the path is a symlink or not a regular file (never written through).
   */
  static acquire(file: string, pid = process.pid): PidFile {
    ensurePrivateDir(path.dirname(file), { create: true, what: 'pid file' });
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO planted there must not hang the start.
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw new Error(`pid file '${file}' is a symbolic link; refusing to write through it`);
      throw err;
    }
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw new Error(`pid file '${file}' is not a regular file; refusing to write to it`);
    }
    let locked: boolean;
    try {
      locked = flockExclusive(fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    if (!locked) {
      fs.closeSync(fd);
      const holder = readPid(file);
      throw new Error(`Failed to acquire pid file '${file}': held by ${holder ? `pid ${holder}` : 'another process'}`);
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${pid}\n`, 0);
    return new PidFile(file, fd);
  }

  /** Takes over the pid file whose locked fd this process inherited across an exec. */
  static adopt(file: string, fd: number): PidFile {
    // Ours already: succeeds, and proves the fd is the locked one.
    if (!flockExclusive(fd)) throw new Error(`pid file '${file}': the inherited fd does not hold its lock`);
    return new PidFile(file, fd);
  }

  /** Unlinks and releases the pid file on a clean stop. */
  release(): void {
    try {
      fs.unlinkSync(this.path);
    } catch {
      // Already gone: nothing to clean.
    }
    fs.closeSync(this.fd);
  }
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}
