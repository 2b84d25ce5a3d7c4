// The pid file: an exclusive flock on it proves this daemon is the only one for its socket. fs-ext's flock
// does this job; the fd stays open (and locked) for the daemon's life, across re-execs.
import * as fs from 'node:fs';
import * as path from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsExt = require('fs-ext') as { flockSync(fd: number, flags: 'exnb' | 'un'): void };

export class PidFile {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /** Locks and writes the pid file; throws a readable error if another daemon holds it. */
  static acquire(file: string, pid = process.pid): PidFile {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      fsExt.flockSync(fd, 'exnb');
    } catch (err) {
      fs.closeSync(fd);
      const holder = readPid(file);
      throw new Error(`Failed to acquire pid file '${file}': held by ${holder ? `pid ${holder}` : 'another process'} (${(err as Error).message})`);
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${pid}\n`, 0);
    return new PidFile(file, fd);
  }

  /** Takes over the pid file whose locked fd this process inherited across an exec. */
  static adopt(file: string, fd: number): PidFile {
    fsExt.flockSync(fd, 'exnb'); // ours already: succeeds, and proves the fd is the locked one
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
