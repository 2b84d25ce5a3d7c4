// The path a listening unix socket is bound to, for sockets the daemon did not bind itself (systemd's):
// the kernel lists every unix socket with its inode and path in /proc/net/unix; nothing here needs a syscall
// of its own. Read once at start, for the log line that names every socket.
import * as fs from 'node:fs';

/** The bound path of the unix socket `fd`, or null when it has none or cannot be found. */
export function boundPathOf(fd: number): string | null {
  try {
    const inode = String(fs.fstatSync(fd).ino);
    // Num RefCount Protocol Flags Type St Inode Path
    for (const line of fs.readFileSync('/proc/self/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] === inode && fields[7] !== undefined) return fields[7];
    }
  } catch {
    // Not Linux's procfs, or the fd is gone: the caller says "activated" instead.
  }
  return null;
}
