// The fd store's files (the lock journal, the lease beside it) are written whole or not at all: a temp file
// beside the target, mode 0600, renamed over it. No fsync: they only have to outlive a crash of the process.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';

/** Replaces `file` with `text` atomically, mode 0600. Throws on failure (the temp file is removed). */
export function writePrivateFile(file: string, text: string): void {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  // O_EXCL|O_NOFOLLOW: never write through a file or symlink someone planted under the temp name.
  const fd = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    try {
      fs.writeFileSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw err;
  }
}
